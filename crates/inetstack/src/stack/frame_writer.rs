//! [`FrameWriter`]: a TCP segment of a connection with a header template, written into one frame and queued
//! for the device: the headers into a fresh pooled buffer, the payload copied behind them (see [`assemble`])
//! or appended as a view of the send buffer. Both the general output path (`send_templated`) and the fast
//! path's [`FrameSink`] write their frames here; the layered path (`send_ipv4_via`) assembles its frames
//! with the same [`assemble`].

use std::collections::VecDeque;

use runtime::{BufferPool, DemiBuffer, Fail, Sga};

use super::INLINE_PAYLOAD;
use super::header_template::{self, HeaderTemplate};
use crate::tcp::{BatchHeader, SegmentSink};
use crate::wire::{ChecksumCapabilities, IPV4_MIN_HEADER_LEN, SeqNumber, TCP_MIN_HEADER_LEN, TcpFlags, WireError};

/// The parts of the stack a frame is written with (borrowed apart from its socket table, so that a
/// connection can write its segments while it decides them).
pub(super) struct FrameWriter<'a> {
    pub(super) frame_pool: &'a BufferPool,
    pub(super) outbox: &'a mut VecDeque<Sga>,
    pub(super) ip_ident: &'a mut u16,
    pub(super) checksums: &'a ChecksumCapabilities,
    pub(super) mtu: usize,
    /// [`StackConfig::gather`](super::StackConfig::gather).
    pub(super) gather: bool,
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
        let payload_len = payload.as_ref().map_or(0, DemiBuffer::len);
        let ip_len = IPV4_MIN_HEADER_LEN + TCP_MIN_HEADER_LEN + options_len + payload_len;
        if ip_len > self.mtu {
            return Err(exceeds_mtu(ip_len, self.mtu));
        }
        *self.ip_ident = self.ip_ident.wrapping_add(1);
        let header_len = header_template::FIXED_LEN + options_len;
        // The frame is assembled before its headers are written: its stores have then left the store buffer
        // when it is moved into the outbox (moved right after, its 8-byte stores were reloaded 16 bytes at a
        // time, a store-to-load forwarding stall per frame).
        let mut frame = assemble(self.frame_pool, self.gather, header_len, payload)?;
        let (header, payload) = split(&mut frame, header_len);
        write(header, payload, *self.ip_ident, self.checksums)?;
        self.outbox.push_back(frame);
        Ok(())
    }
}

/// A frame of `header_len` header bytes, still to be written, and `payload`: one buffer from `pool` with the
/// payload copied behind the headers if it is at most [`INLINE_PAYLOAD`] bytes or the device does not
/// `gather` (see [`StackConfig::gather`](super::StackConfig::gather)); else the headers' buffer and the
/// payload as a second segment.
#[inline(always)]
pub(super) fn assemble(
    pool: &BufferPool,
    gather: bool,
    header_len: usize,
    payload: Option<DemiBuffer>,
) -> Result<Sga, Fail> {
    let Some(payload) = payload.filter(|p| !p.is_empty()) else { return Ok(Sga::from_buffer(pool.alloc(header_len)?)) };
    if gather && payload.len() > INLINE_PAYLOAD {
        let mut frame = Sga::from_buffer(pool.alloc(header_len)?);
        frame.push_segment(payload);
        return Ok(frame);
    }
    let mut buffer = pool.alloc(header_len + payload.len())?;
    buffer.as_mut_slice().expect("a fresh pool buffer is unique")[header_len..].copy_from_slice(&payload);
    Ok(Sga::from_buffer(buffer))
}

/// The header bytes (the first `header_len`, to write) and the payload bytes of a frame from [`assemble`].
#[inline(always)]
pub(super) fn split(frame: &mut Sga, header_len: usize) -> (&mut [u8], &[u8]) {
    let (first, rest) = frame.segments_mut().split_first_mut().expect("a frame starts with its header");
    let bytes = first.as_mut_slice().expect("a fresh pool buffer is unique");
    let (header, copied) = bytes.split_at_mut(header_len);
    match rest.first() {
        Some(payload) => (header, &payload[..]),
        None => (header, &*copied),
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
