//! Header prediction (Van Jacobson's, as in BSD's `tcp_input` and Linux's fast path): in ESTABLISHED nearly
//! every segment is the next one in order, carries only ACK (and maybe PSH), changes no window and reports no
//! SACK block. For such a segment most of [`super::input`]'s checks have known answers, so this path asks them
//! once, together, and then does only what the segment needs: either (a) an ACK that moves SND.UNA (with or
//! without data), (b) in-order data whose ACK field is SND.UNA, or (c) a bare ACK of SND.UNA with nothing in
//! flight (a window update: with nothing in flight it cannot be a duplicate ACK).
//!
//! Unlike BSD's, the prediction does not require an unchanged window: this stack's receivers advertise what
//! remains of their last window until it can grow by an MSS, so the window field of a bulk transfer's ACKs
//! changes on most of them (in a simulated transfer, 208 of 215 segments that missed the prediction missed it
//! only for that). None of the three cases is a duplicate ACK, so the window only feeds the SND.WL1/WL2 update,
//! which this path makes as the general one does.
//!
//! The general path stays the reference: the updates here are those it makes for the same segment, through the
//! same functions (RTT sample, congestion control, RACK, delayed-ACK rules, counters) and in the same order,
//! with only the checks whose outcome the prediction settles left out. Any other segment, or any doubt, goes to
//! the general path. `TcpConfig::fast_paths` turns this off, and tests compare both ways segment for
//! segment.

use runtime::DemiBuffer;

use super::{Nanos, TcpConnection, TcpState};
use crate::wire::{SeqNumber, TcpFlags, TcpRepr};

impl TcpConnection {
    /// The segment's ACK number if header prediction takes it: ESTABLISHED; exactly at RCV.NXT; flags ACK and
    /// maybe PSH; not stale under PAWS (and carrying timestamps if they were agreed); no SACK blocks; no loss
    /// recovery and nothing RACK marked lost; nothing waiting for reassembly and no FIN seen; a payload that fits
    /// the window and the stack's limit on received data; and an ACK that advances SND.UNA (within SND.MAX), or
    /// equals it on a segment with data or with nothing in flight (otherwise a duplicate ACK or the answer to
    /// a window probe). `payload_len` is the length of the zero-copy payload, which must agree with the header's.
    #[inline]
    pub(super) fn predict(&self, segment: &TcpRepr<'_>, payload_len: usize) -> Option<SeqNumber> {
        let ack = segment.ack_number?;
        let predictable = self.state == TcpState::Established
            && segment.seq_number == self.rcv_nxt
            && segment.flags.without(TcpFlags::PSH) == self.ecn.expected_flags
            && payload_len == segment.payload.len()
            && segment.options.sack_blocks.is_empty()
            && !self.recovery.in_recovery
            && self.sent_segments.lost_bytes() == 0
            && self.reassembly.is_empty()
            && self.peer_fin.is_none()
            && payload_len <= self.rcv_adv.distance_from(self.rcv_nxt).max(0) as usize
            && (payload_len == 0 || self.admits(segment.seq_number, payload_len));
        if !predictable {
            return None;
        }
        match (&self.timestamps, segment.options.timestamps) {
            (Some(timestamps), Some(theirs)) if timestamps.is_older_than_recent(theirs.value) => return None,
            (Some(_), None) => return None,
            _ => {}
        }
        let advances = ack > self.snd_una && ack <= self.snd_max;
        let not_duplicate = payload_len > 0 || self.snd_una == self.snd_max;
        (advances || (ack == self.snd_una && not_duplicate)).then_some(ack)
    }

    /// Processes a segment [`Self::predict`] took (`segments_in` already counted): what
    /// `on_segment_synchronized`, `process_ack` and `receive_text` do for it, in their order.
    #[inline]
    pub(super) fn on_predicted_segment(
        &mut self,
        now: Nanos,
        segment: &TcpRepr<'_>,
        ack: SeqNumber,
        payload: DemiBuffer,
    ) {
        self.counters.predicted += 1;
        let seq = segment.seq_number;
        self.note_peer_alive(now);
        if let (Some(timestamps), Some(theirs)) = (self.timestamps.as_mut(), segment.options.timestamps)
            && seq <= self.ack.last_ack_sent
        {
            // `predict` found the TSval not stale, and nothing has changed TS.Recent since.
            timestamps.set_recent(theirs.value, now);
        }
        // `process_ack` for an acceptable ACK with no SACK blocks outside recovery: no duplicate ACK (an ACK
        // that does not advance comes with data or with nothing in flight), the send window update, no FIN of ours to settle
        // (ESTABLISHED).
        self.timers.persist_unanswered = 0;
        let advanced = ack > self.snd_una;
        if advanced {
            self.on_new_ack(now, segment, ack);
        }
        if self.rack_active() {
            self.rack_on_ack(now, segment, ack, advanced);
        } else if advanced {
            self.detect_lost_retransmissions();
        }
        if self.snd_wl1 < seq || (self.snd_wl1 == seq && self.snd_wl2 <= ack) {
            let window = u32::from(segment.window_len) << self.snd_shift;
            self.snd_wnd = window;
            self.snd_wl1 = seq;
            self.snd_wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
        }
        // `receive_text` for data exactly at RCV.NXT that fits the window, without FIN.
        if !payload.is_empty() {
            self.deliver_in_order(now, payload);
        }
    }
}
