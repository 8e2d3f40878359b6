//! The receive side: accepting segment text into the in-order queue or the reassembly queue (RFC 9293
//! §3.10.7.4 seventh step), the peer's FIN (eighth step), when to acknowledge (delayed ACKs, RFC 1122 §4.2.3.2
//! and RFC 5681 §4.2: at least every second full-sized segment, at once for out-of-order data or a filled
//! gap), and the window we advertise (never moving its right edge left, RFC 9293 §3.8.6.2.2; receiver-side
//! silly window avoidance, RFC 1122 §4.2.3.3; scaled per RFC 7323 §2.3).

use runtime::DemiBuffer;

use super::memory_limit::RECEIVE_FLOOR;
use super::reassembly::InsertOutcome;
use super::{Nanos, TcpConnection, TcpState};
use crate::wire::SeqNumber;

/// Most duplicate ACKs sent in one transmit for a batch of out-of-order segments (enough for DupThresh).
const MAX_DUPLICATE_ACKS_PER_POLL: u32 = 8;

impl TcpConnection {
    /// Takes the data (starting at `seq`) and FIN of an acceptable segment.
    pub(super) fn receive_text(&mut self, now: Nanos, seq: SeqNumber, mut payload: DemiBuffer, mut fin: bool) {
        if !self.state.can_receive() || self.eof {
            // The peer's FIN already arrived: nothing more can follow it.
            return;
        }
        let mut seq = seq;
        if seq < self.rcv_nxt {
            let duplicate = self.rcv_nxt.distance_from(seq) as usize;
            if duplicate > payload.len() {
                return;
            }
            self.note_duplicate(seq, self.rcv_nxt);
            // In range: `duplicate <= payload.len()`.
            if payload.adjust(duplicate).is_err() {
                return;
            }
            seq = self.rcv_nxt;
        }
        let room = self.rcv_adv.distance_from(seq).max(0) as usize;
        if payload.len() > room {
            let excess = payload.len() - room;
            if payload.trim(excess).is_err() {
                return;
            }
            fin = false;
        }
        if !payload.is_empty() && !self.admits(seq, payload.len()) {
            // No memory for it under the stack's limit (`memory_limit.rs`): dropped with its FIN, and
            // acknowledged, as Linux drops what it has no memory for; the sender sends it again.
            self.counters.drops.receive_memory += 1;
            self.ack.now = true;
            return;
        }
        if fin {
            self.peer_fin = Some(seq + payload.len() as u32);
        }
        if !payload.is_empty() {
            if seq == self.rcv_nxt {
                self.deliver_in_order(now, payload);
            } else {
                self.counters.out_of_order += 1;
                let end = seq + payload.len() as u32;
                match self.reassembly.insert(seq, payload) {
                    InsertOutcome::Full => self.counters.drops.reassembly_full += 1,
                    InsertOutcome::Duplicate => self.note_duplicate(seq, end),
                    InsertOutcome::Stored => self.charge_received(),
                }
                // A duplicate ACK at once tells the sender about the gap (RFC 5681 §4.2).
                self.ack.now = true;
                self.ack.duplicates_owed = (self.ack.duplicates_owed + 1).min(MAX_DUPLICATE_ACKS_PER_POLL);
            }
        }
        if self.peer_fin == Some(self.rcv_nxt) && !self.eof {
            self.rcv_nxt += 1;
            self.eof = true;
            self.ack.now = true;
            match self.state {
                TcpState::SynReceived | TcpState::Established => self.state = TcpState::CloseWait,
                TcpState::FinWait1 if self.fin_acked() => self.enter_time_wait(now),
                TcpState::FinWait1 => self.state = TcpState::Closing,
                TcpState::FinWait2 => self.enter_time_wait(now),
                _ => {}
            }
        }
    }

    /// Data `[start, end)` arrived again: with SACK, an ACK that goes out at once reports it first (D-SACK, RFC
    /// 2883 §4). Each duplicate of a batch gets its own ACK, as each would have had one arriving alone: a sender
    /// that undoes a spurious recovery needs a D-SACK for every range it resent.
    pub(super) fn note_duplicate(&mut self, start: SeqNumber, end: SeqNumber) {
        if self.sack_enabled && start < end {
            self.ack.dsacks.push(start, end);
            self.ack.now = true;
        }
    }

    /// Whether the stack's limit on received data lets `len` bytes at `seq` in (`memory_limit.rs`).
    #[inline]
    pub(super) fn admits(&self, seq: SeqNumber, len: usize) -> bool {
        if seq == self.rcv_nxt {
            self.receive_memory.admits(len, self.receive_queue.len(), RECEIVE_FLOOR)
        } else {
            self.receive_memory.admits(len, 0, 0)
        }
    }

    /// Charges what the receive and reassembly queues now hold to the stack's limit.
    #[inline]
    pub(super) fn charge_received(&mut self) {
        self.receive_memory.set(self.receive_queue.len() + self.reassembly.bytes());
    }

    /// Queues data that starts at RCV.NXT, which [`Self::admits`], for the application. Inline (one per
    /// received data segment), with the rare reassembly work out of line.
    #[inline]
    pub(super) fn deliver_in_order(&mut self, now: Nanos, payload: DemiBuffer) {
        let len = payload.len();
        self.rcv_nxt += len as u32;
        self.counters.bytes_in += len as u64;
        self.receive_queue.push(payload);
        self.charge_received();
        if !self.reassembly.is_empty() {
            self.deliver_reassembled();
            return;
        }
        // ACK at once when more than a full-sized segment's worth is unacknowledged (RFC 5681 §4.2's "at least
        // every second full-sized segment", counted in bytes as Linux counts it): two full segments, but also a
        // full one and a partial one. Counting whole full segments held the ACK of a message of one full and
        // one partial segment for the delayed-ACK timer, and the sender's loss probe (PTO = 2 SRTT, RFC 8985
        // §7.2, which assumes such an ACK) resent the partial segment first: 18 spurious retransmissions in 20
        // simulated 2000-byte requests read 5 ms after they arrived.
        self.ack.largest_segment = self.ack.largest_segment.max(len);
        if self.rcv_nxt.distance_from(self.ack.last_ack_sent) > self.ack.largest_segment as i32 {
            self.counters.delayed_acks_coalesced += 1;
            self.ack.now = true;
        } else if self.config.delayed_ack.is_zero() {
            self.ack.now = true;
        } else if self.timers.delayed_ack.is_never() {
            self.timers.delayed_ack = now.saturating_add(Nanos::from_duration(self.config.delayed_ack));
        }
    }

    /// The data just delivered reached the reassembly queue: moves what is now in order to the receive queue.
    #[inline(never)]
    fn deliver_reassembled(&mut self) {
        for ready in self.reassembly.pop_ready(self.rcv_nxt) {
            self.rcv_nxt += ready.len() as u32;
            self.counters.bytes_in += ready.len() as u64;
            self.receive_queue.push(ready);
        }
        self.charge_received();
        // Filling a gap is acknowledged at once (RFC 5681 §4.2).
        self.ack.now = true;
    }

    /// The window we could offer now, before the never-shrink rule, if it is at least `wanted`: the buffer's
    /// free space, or less if the stack's limit on received data leaves less (`memory_limit.rs`, asked only
    /// when the buffer alone would offer `wanted`, which is rare on the path of small messages). `None` if less.
    #[inline]
    fn free_receive_space(&self, wanted: usize) -> Option<usize> {
        let queued = self.receive_queue.len();
        let free = self.rcv_buffer.saturating_sub(queued);
        if free < wanted {
            return None;
        }
        let free = free.min(self.receive_memory.room(queued, RECEIVE_FLOOR));
        (free >= wanted).then_some(free)
    }

    /// What remains of the window last advertised.
    fn advertised_remaining(&self) -> usize {
        self.rcv_adv.distance_from(self.rcv_nxt).max(0) as usize
    }

    /// The window field for a segment sent now (not a SYN), moving RCV.ADV forward if the window grows.
    pub(super) fn advertised_window(&mut self) -> u16 {
        let current = self.advertised_remaining();
        // Move the right edge only by a useful amount (RFC 1122 §4.2.3.3), and never back.
        let threshold = (self.rcv_buffer / 2).min(usize::from(self.config.effective_mss()));
        let (window, free) = match self.free_receive_space(current + threshold) {
            Some(free) => (free, free),
            // The edge stays: `current` is what it offers, and rounding checks against the room that is left.
            None => (current, self.rcv_buffer.saturating_sub(self.receive_queue.len())),
        };
        // In units of the window scale: rounded up, so that the right edge does not move left (the edge so far
        // need not fall on a unit), unless that would offer more than the buffer has free. Then rounded down:
        // what was offered before stays acceptable (RCV.ADV never moves back), nothing more is offered, and
        // what the connection holds never passes its buffer. Rounding up every time let each segment shorter
        // than the window move the edge up to a unit further.
        let unit = 1usize << self.rcv_shift;
        let mut value = window.div_ceil(unit);
        if value * unit > free {
            value = window / unit;
        }
        let value = value.min(usize::from(u16::MAX));
        let edge = self.rcv_nxt + (value << self.rcv_shift) as u32;
        if edge > self.rcv_adv {
            self.rcv_adv = edge;
        }
        value as u16
    }

    /// The application read data: send a window update if the window grew usefully (or reopened).
    pub(super) fn on_application_read(&mut self) {
        if !self.state.can_receive() {
            return;
        }
        let threshold = (self.rcv_buffer / 2).min(2 * usize::from(self.config.effective_mss()));
        if self.free_receive_space(self.advertised_remaining() + threshold).is_some() {
            self.ack.now = true;
        }
    }
}
