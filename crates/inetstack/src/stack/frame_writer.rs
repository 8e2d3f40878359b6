//! [`FrameWriter`]: a TCP segment of a connection with a header template, written into one frame and queued
//! for the device: the headers into a fresh pooled buffer, a small payload copied behind them (see
//! [`INLINE_PAYLOAD`]), a larger one appended as a view of the send buffer. Both the general output path
//! (`send_templated`) and the fast path's [`FrameSink`] write their frames here.

use std::collections::VecDeque;

use runtime::{BufferPool, DemiBuffer, Fail, Sga};

use super::INLINE_PAYLOAD;
use super::header_template::{self, HeaderTemplate};
use crate::tcp::{BatchHeader, SegmentSink};
use crate::wire::{ChecksumCapabilities, IPV4_MIN_HEADER_LEN, SeqNumber, TCP_MIN_HEADER_LEN, TcpFlags, WireError};

/// The parts of the stack a frame is written with (borrowed apart from its socket table, so that a
/// connection can write its segments while it decides them).
pub(super) struct FrameWriter<'a> {
    pub(super) headers: &'a BufferPool,
    pub(super) outbox: &'a mut VecDeque<Sga>,
    pub(super) ip_ident: &'a mut u16,
    pub(super) checksums: &'a ChecksumCapabilities,
    pub(super) mtu: usize,
}

#[cold]
pub(super) fn exceeds_mtu(len: usize, mtu: usize) -> Fail {
    Fail::with_context(libc::EMSGSIZE, format!("{len} bytes exceed the {mtu}-byte MTU (no fragmentation)"))
}

impl FrameWriter<'_> {
    /// Checks the datagram against the MTU, takes the next IPv4 identification, writes the headers
    /// (`options_len` bytes of TCP options) with `write(header bytes, payload bytes, ident, checksums)` and
    /// queues the frame.
    #[inline(always)]
    pub(super) fn queue(
        &mut self,
        options_len: usize,
        payload: Option<DemiBuffer>,
        write: impl FnOnce(&mut [u8], &[u8], u16, &ChecksumCapabilities) -> Result<(), WireError>,
    ) -> Result<(), Fail> {
        let payload = payload.filter(|p| !p.is_empty());
        let payload_len = payload.as_ref().map_or(0, DemiBuffer::len);
        let ip_len = IPV4_MIN_HEADER_LEN + TCP_MIN_HEADER_LEN + options_len + payload_len;
        if ip_len > self.mtu {
            return Err(exceeds_mtu(ip_len, self.mtu));
        }
        *self.ip_ident = self.ip_ident.wrapping_add(1);
        let header_len = header_template::FIXED_LEN + options_len;
        let inline = if payload_len <= INLINE_PAYLOAD { payload_len } else { 0 };
        // The frame is assembled before its headers are written: its stores have then left the store buffer
        // when it is moved into the outbox (moved right after, its 8-byte stores were reloaded 16 bytes at a
        // time, a store-to-load forwarding stall per frame).
        let mut frame = Sga::from_buffer(self.headers.alloc(header_len + inline)?);
        match payload {
            Some(payload) if inline > 0 => {
                let buffer = frame.segments_mut()[0].as_mut_slice().expect("a fresh header buffer is unique");
                buffer[header_len..].copy_from_slice(&payload);
            }
            Some(payload) => frame.push_segment(payload),
            None => {}
        }
        let (first, rest) = frame.segments_mut().split_first_mut().expect("a frame starts with its header");
        let bytes = first.as_mut_slice().expect("a fresh header buffer is unique");
        let (header, payload) = match bytes.split_at_mut(header_len) {
            (header, copied) if inline > 0 => (header, &*copied),
            (header, _) => (header, rest.first().map_or(&[][..], |p| &p[..])),
        };
        write(header, payload, *self.ip_ident, self.checksums)?;
        self.outbox.push_back(frame);
        Ok(())
    }
}

/// The fast path's [`SegmentSink`] for a connection whose next hop is resolved: each segment is written into
/// a frame from the connection's header template as soon as it is decided.
pub(super) struct FrameSink<'a> {
    pub(super) writer: FrameWriter<'a>,
    pub(super) template: &'a HeaderTemplate,
    /// The stack's count of TCP segments sent.
    pub(super) sent: &'a mut u64,
    pub(super) header: BatchHeader,
}

impl SegmentSink for FrameSink<'_> {
    #[inline]
    fn start(&mut self, header: BatchHeader) {
        self.header = header;
    }

    #[inline]
    fn push(&mut self, seq_number: SeqNumber, flags: TcpFlags, payload: Option<DemiBuffer>) {
        let options_len = if self.header.timestamps.is_some() { header_template::TIMESTAMPS_ONLY_LEN } else { 0 };
        let (template, header) = (self.template, &self.header);
        let queued = self.writer.queue(options_len, payload, |bytes, payload, ident, caps| {
            template.write_batched(bytes, header, seq_number, flags, payload, ident, caps)
        });
        // As in `poll_tcp`: a segment that cannot go out is lost like any other.
        if queued.is_ok() {
            *self.sent += 1;
        }
    }
}
