//! [`OutgoingSegment`]: one segment the state machine wants sent, header fields plus a zero-copy payload.
//!
//! The stack turns it into bytes with [`crate::wire::TcpRepr::emit_header`] (see [`OutgoingSegment::repr`]) and
//! appends the payload views; nothing here touches IP or the device.

use runtime::Sga;

use crate::wire::{SeqNumber, TcpFlags, TcpOptions, TcpRepr};

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
