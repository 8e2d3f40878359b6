//! The ACK field of an arriving segment (RFC 9293 §3.10.7.4 fifth step): validation against blind injection
//! (RFC 5961 §5), dropping acknowledged data, RTT samples (RFC 7323 §4, or Karn's timed segment of RFC 6298),
//! duplicate-ACK detection (RFC 5681 §2; answers to zero-window probes are not duplicates) and recovery (via
//! [`super::recovery`], or [`super::rack`] with RACK-TLP), the send window update (SND.WL1/WL2), and
//! the close states that an acknowledged FIN advances.

use super::{Nanos, TcpConnection, TcpState};
use crate::wire::{SeqNumber, TcpRepr};

impl TcpConnection {
    /// Processes the ACK of `segment`; `false` if the segment must be dropped.
    pub(super) fn process_ack(&mut self, now: Nanos, segment: &TcpRepr<'_>, ack: SeqNumber) -> bool {
        if ack > self.snd_max {
            // Acknowledges something never sent: answer with an ACK and drop (RFC 9293, RFC 5961 §5.2).
            self.counters.drops.bad_ack += 1;
            self.ack_out_of_window(now);
            return false;
        }
        if ack < self.snd_una && self.snd_una.distance_from(ack) as u32 > self.max_snd_wnd.max(1) {
            self.counters.drops.bad_ack += 1;
            self.challenge_ack(now);
            return false;
        }
        self.timers.persist_unanswered = 0;
        let window = u32::from(segment.window_len) << self.snd_shift;
        let blocks = segment.options.sack_blocks;
        let rack = self.rack_active();
        if rack && !blocks.is_empty() {
            self.rack_note_sack_blocks(blocks.as_slice());
        }
        let new_sack = self.sack_enabled
            && !blocks.is_empty()
            && self.scoreboard.update(self.snd_una, self.snd_max, blocks.as_slice());
        let advanced = ack > self.snd_una;
        if advanced {
            self.on_new_ack(now, segment, ack);
            if new_sack && !rack {
                self.check_sack_loss(now);
            }
        } else if ack == self.snd_una
            && self.snd_max > self.snd_una
            && window > 0
            && segment.payload.is_empty()
            && !segment.flags.fin()
            && (window == self.snd_wnd || new_sack)
        {
            self.on_duplicate_ack(now, new_sack);
        }
        if rack {
            self.rack_on_ack(now, segment, ack, advanced);
        } else if new_sack || advanced {
            self.detect_lost_retransmissions();
        }
        if self.undo.is_some() && !blocks.is_empty() {
            self.undo_on_sack_blocks(ack, blocks.as_slice());
        }
        if self.snd_wl1 < segment.seq_number || (self.snd_wl1 == segment.seq_number && self.snd_wl2 <= ack) {
            self.snd_wnd = window;
            self.snd_wl1 = segment.seq_number;
            self.snd_wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
        }
        if self.fin_acked() {
            match self.state {
                TcpState::FinWait1 => {
                    self.state = TcpState::FinWait2;
                    if self.released {
                        self.timers.close = now.saturating_add(Nanos::from_duration(self.config.fin_wait2_timeout));
                    }
                }
                TcpState::Closing => self.enter_time_wait(now),
                TcpState::LastAck => self.enter_closed(),
                _ => {}
            }
        }
        true
    }

    pub(super) fn on_new_ack(&mut self, now: Nanos, segment: &TcpRepr<'_>, ack: SeqNumber) {
        if self.timeout_undo.is_some() {
            self.timeout_undo_check(segment, ack);
        }
        if self.ecn.dctcp {
            self.dctcp_observe(ack, segment.flags.contains(crate::wire::TcpFlags::ECE));
        }
        let flight = self.snd_max.distance_from(self.snd_una).max(0) as usize;
        let base = self.send_base();
        let data_acked = if ack > base { (ack.distance_from(base) as usize).min(self.send_buffer.len()) } else { 0 };
        self.send_buffer.discard_front(data_acked);
        self.snd_una = ack;
        if self.snd_nxt < ack {
            self.snd_nxt = ack;
        }
        self.scoreboard.advance(ack);
        self.retries = 0;
        if data_acked > 0 {
            self.soft_error = None;
        }
        self.sample_rtt(now, segment, ack);
        if self.mtu_search.is_some() {
            self.mtu_search_on_ack(now, ack);
        }
        self.on_ack_advance(now, data_acked, flight);
        // A connection without send-buffer tuning leaves the note of a full buffer set: a bulk sender would
        // otherwise call out on every ACK.
        if self.send_buffer.filled() && self.config.send_buffer_max.is_some() {
            self.autotune_send_buffer();
        }
        // RFC 6298 §5.2-5.3: stop the timer when everything is acknowledged, else restart it. Except in NewReno's
        // recovery (no SACK), where only the first partial ACK restarts it (RFC 6582 §3.2 step 5, NewReno's
        // "Impatient" variant): NewReno resends one hole per round trip, so a window that lost a
        // thousand segments would take a thousand round trips; the timeout ends that with a slow start.
        let impatient = self.recovery.in_recovery && !self.sack_enabled && self.recovery.partial_acks > 1;
        if self.snd_una == self.snd_max {
            self.timers.retransmit = Nanos::NEVER;
            self.note_flight_acknowledged(now);
        } else if !impatient || self.timers.retransmit.is_never() {
            self.timers.retransmit = now.saturating_add(self.rtt.rto());
        }
    }

    /// Takes an RTT sample if this ACK allows one: for the timed segment, on the stack's nanosecond clock; or,
    /// while a retransmission has voided the timing, from the echoed timestamp. Timestamps tick in
    /// milliseconds, so on a path faster than that they read 0 and are not the first source: an SRTT of 0
    /// would make the loss probe fire in the instant its flight leaves (RFC 8985 §7.2: PTO = 2 SRTT) and
    /// shrink RACK's reordering window to nothing (§6.2: at most SRTT). Linux likewise measures with its own
    /// clock and falls back on the timestamps for ACKs of retransmitted data.
    /// Always inline: as a function of its own (the compiler's choice once `on_new_ack` grew) it made every ACK
    /// dearer (docs/benchmarks.md, round 20).
    #[inline(always)]
    pub(super) fn sample_rtt(&mut self, now: Nanos, segment: &TcpRepr<'_>, ack: SeqNumber) {
        if let Some((end, sent_at)) = self.timed_segment
            && ack >= end
        {
            self.rtt.sample(now.saturating_sub(sent_at));
            self.counters.rtt_samples += 1;
            self.timed_segment = None;
            self.timing_voided = false;
            return;
        }
        if self.timing_voided
            && let Some(timestamps) = &self.timestamps
            && let Some(theirs) = segment.options.timestamps
            && let Some(rtt) = timestamps.rtt(now, theirs.echo_reply)
        {
            self.rtt.sample(rtt);
            self.counters.rtt_samples += 1;
        }
    }

    /// A retransmission makes the timed segment's ACK ambiguous (Karn's rule): stop timing it.
    pub(super) fn void_timing(&mut self) {
        self.timed_segment = None;
        self.timing_voided = true;
    }

    /// TIME-WAIT for 2 MSL (RFC 9293 §3.6.1), in one of the stack's slots for it; with none left, closed at
    /// once (`slots.rs`).
    pub(super) fn enter_time_wait(&mut self, now: Nanos) {
        if !self.time_wait_slot.take() {
            // Closed at once, as Linux closes when its table of TIME-WAIT connections is full; the ACK of the
            // peer's FIN, if owed, still goes out first.
            self.counters.time_wait_skipped += 1;
            if self.ack.now {
                let ack = self.ack_segment(now, self.snd_max);
                self.control.push(ack);
            }
            self.enter_closed();
            return;
        }
        self.state = TcpState::TimeWait;
        self.orphan_slot.release();
        self.timers.retransmit = Nanos::NEVER;
        self.timers.persist = Nanos::NEVER;
        self.timers.close = now.saturating_add(Nanos::from_duration(self.config.time_wait));
        self.release_spare_memory();
    }

    /// A connection the application let go of with only its FIN left to be acknowledged (FIN-WAIT-1, CLOSING,
    /// LAST-ACK: all its data acknowledged, nothing received waiting) gives back what it no longer needs, as in
    /// TIME-WAIT: a peer that never acknowledges the FIN keeps it resending for minutes, and a server whose
    /// clients vanished holds many (`tests/connection_memory.rs` measures them). Called at each of its polls.
    pub(crate) fn release_if_only_fin_left(&mut self) {
        let closing = matches!(self.state, TcpState::FinWait1 | TcpState::Closing | TcpState::LastAck);
        if self.released && closing && self.send_buffer.len() == 0 && self.receive_queue.is_empty() {
            self.release_spare_memory();
        }
    }

    /// What a connection that only waits for its end no longer needs, given back: in TIME-WAIT it waits there 2
    /// MSL, and a server that closes first holds many such connections. All its data is acknowledged (its FIN at
    /// most is not) and nothing more will be delivered, so its queues and records keep no spare capacity, its
    /// undo records go (no recovery of data can be found spurious any more), and buffer tuning's grant goes back
    /// to the stack's budget. Data the application has not read stays.
    #[cold]
    #[inline(never)]
    fn release_spare_memory(&mut self) {
        self.shrink_queues();
        self.timers.trim = Nanos::NEVER;
        self.undo = None;
        self.timeout_undo = None;
        self.tuning = None;
    }
}
