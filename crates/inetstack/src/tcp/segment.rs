//! [`OutgoingSegment`]: one segment the state machine wants sent, header fields plus a zero-copy payload; and
//! [`SegmentBatch`]: the segments of the common case (new data or one ACK of an established connection, no
//! option but timestamps), which share every header field but the sequence number, the flags and the payload.
//!
//! The stack turns them into bytes with [`crate::wire::TcpRepr::emit_header`] (see [`OutgoingSegment::repr`]),
//! or, for the common case, straight from its per-connection header template as the fast path decides each
//! segment (a [`SegmentSink`]); nothing here touches IP or the device.

use runtime::{DemiBuffer, Sga};

use crate::wire::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, TcpTimestamps};

/// Where the output fast path puts the segments it decides to send, as it decides them: a [`SegmentBatch`]
/// keeps them; the stack writes each into a frame at once, from the connection's header template.
pub trait SegmentSink {
    /// The fields every following segment shares; called once, before the first segment.
    fn start(&mut self, header: BatchHeader);
    /// One segment: new data (flags empty or PSH; `payload` a view of the send buffer) or a pure ACK (no
    /// payload).
    fn push(&mut self, seq_number: SeqNumber, flags: TcpFlags, payload: Option<DemiBuffer>);
}

/// A segment to transmit. `flags` never contains ACK: the ACK bit is `ack_number.is_some()`, as in
/// [`TcpRepr`]. `payload` holds views of the send buffer (reference counts, no copies).
#[derive(Clone, Debug)]
pub struct OutgoingSegment {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq_number: SeqNumber,
    pub ack_number: Option<SeqNumber>,
    pub flags: TcpFlags,
    pub window_len: u16,
    pub options: TcpOptions,
    pub payload: Sga,
    /// Send the datagram ECN-capable (ECT(0) in its IP header, RFC 3168): new data of an ECN connection.
    pub ect: bool,
}

impl OutgoingSegment {
    /// The header as a [`TcpRepr`] whose payload is `payload` (the caller passes the bytes it will transmit:
    /// for a single-segment payload, `self.payload.segments()[0]`; otherwise a copy).
    pub fn repr<'a>(&self, payload: &'a [u8]) -> TcpRepr<'a> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq_number: self.seq_number,
            ack_number: self.ack_number,
            flags: self.flags,
            window_len: self.window_len,
            urgent_pointer: 0,
            options: self.options,
            payload,
        }
    }

    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }
}

/// Segments of one `poll_transmit` that took the fast path (see `TcpConnection::poll_transmit_batched`), all
/// with the same [`BatchHeader`]. Kept by the caller between polls so that batching allocates nothing.
#[derive(Debug, Default)]
pub struct SegmentBatch {
    pub header: BatchHeader,
    pub segments: Vec<BatchSegment>,
}

/// The header fields every segment of a [`SegmentBatch`] shares: each acknowledges `ack_number`, advertises
/// `window_len`, carries `timestamps` (its only option) and the ECN feedback flags `ecn_flags` (Accurate ECN's
/// ACE field, or none); with `ect`, those with data go out ECN-capable. A copy apart from the segments, so that
/// they can be drained while it is read.
#[derive(Clone, Copy, Debug, Default)]
pub struct BatchHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub ack_number: SeqNumber,
    pub window_len: u16,
    pub timestamps: Option<TcpTimestamps>,
    pub ecn_flags: TcpFlags,
    pub ect: bool,
}

/// One segment of a [`SegmentBatch`]: a data segment (flags empty or PSH) or a pure ACK (no payload).
#[derive(Debug)]
pub struct BatchSegment {
    pub seq_number: SeqNumber,
    pub flags: TcpFlags,
    pub payload: Option<DemiBuffer>,
}

impl SegmentSink for SegmentBatch {
    fn start(&mut self, header: BatchHeader) {
        debug_assert!(self.segments.is_empty(), "a batch holds one connection's segments");
        self.header = header;
    }

    fn push(&mut self, seq_number: SeqNumber, flags: TcpFlags, payload: Option<DemiBuffer>) {
        self.segments.push(BatchSegment { seq_number, flags, payload });
    }
}

impl SegmentBatch {
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Moves every segment to `out` as [`OutgoingSegment`]s, in order.
    pub fn drain_into(&mut self, out: &mut Vec<OutgoingSegment>) {
        let header = self.header;
        out.extend(self.segments.drain(..).map(|segment| header.to_outgoing(segment)));
    }
}

impl BatchHeader {
    /// Options every segment of the batch carries.
    pub fn options(&self) -> TcpOptions {
        TcpOptions { timestamps: self.timestamps, ..TcpOptions::default() }
    }

    /// `segment` (of a batch with this header) as a general [`OutgoingSegment`], for a path that has no header template.
    pub fn to_outgoing(&self, segment: BatchSegment) -> OutgoingSegment {
        OutgoingSegment {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq_number: segment.seq_number,
            ack_number: Some(self.ack_number),
            flags: segment.flags | self.ecn_flags,
            window_len: self.window_len,
            options: self.options(),
            ect: self.ect && segment.payload.is_some(),
            payload: segment.payload.map(Sga::from_buffer).unwrap_or_default(),
        }
    }
}
