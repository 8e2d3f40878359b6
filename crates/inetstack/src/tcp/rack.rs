//! RACK-TLP (RFC 8985): time-based loss detection for a sender with SACK, replacing RFC 6675's DupThresh and
//! `IsLost` when [`super::TcpConfig::rack_tlp`] is on and the peer agreed to SACK.
//!
//! - RACK: every segment carries its last transmit time ([`super::sent_segments`]). The most recently sent
//!   segment the peer has delivered (RACK.xmit_ts, RACK.end_seq) and its RTT (RACK.rtt) say that any segment
//!   sent before it and still undelivered RACK.rtt + reo_wnd after its own transmission is lost — original
//!   transmissions and retransmissions alike. The reordering window reo_wnd is min_RTT / 4 times a multiplier
//!   (at most SRTT), and zero while no reordering has been seen and either recovery is under way or DupThresh
//!   segments are SACKed (RFC 8985 §6.2 step 4). The multiplier starts at 1 and grows by one per round trip in
//!   which a D-SACK arrives (a retransmission was spurious: the segment was late, not lost); 16 recoveries
//!   later it falls back to 1. A segment not yet past its deadline arms the reordering timer.
//! - TLP: while data is outstanding outside recovery, a probe timeout (PTO = 2·SRTT, plus a worst-case
//!   delayed ACK of 200 ms when one segment is in flight, never later than the RTO) sends one probe: a new
//!   segment if the peer's window allows, else the highest segment again. Its ACK (or SACK) gives RACK what it
//!   needs to detect a tail loss without the RTO. A probe that repaired a loss (its ACK covers more than the
//!   probe and no D-SACK said the original arrived) gets the congestion response of a fast recovery.
//!
//! Segments RACK marks lost leave the pipe ([`super::recovery`]) and are resent lowest first, within the
//! congestion window, before new data (RFC 6675 `NextSeg` rules 1 and 2, by [`super::output`]).
//!
//! min_RTT is the least RTT of the last 5 minutes ([`super::min_rtt`]), as Linux's.
//!
//! Not implemented: RACK's loss marking on RTO (§6.3: a timeout here still goes back N).

use super::congestion::CongestionControl as _;
use super::min_rtt::{MIN_RTT_WINDOW, WindowedMinRtt};
use super::scoreboard::DUP_THRESH;
use super::sent_segments::{SegmentState, SentSegment};
use super::{Nanos, TcpConnection};
use crate::wire::{SackBlock, SeqNumber, TcpRepr};

/// WCDelAckT of RFC 8985 §7.2: the longest a receiver may delay the ACK of a lone segment.
const WORST_CASE_DELAYED_ACK: Nanos = Nanos::from_millis(200);

/// RFC 8985 §6.2 step 4: loss recoveries a grown reordering window lasts before it falls back to min_RTT / 4.
const REO_WND_PERSIST: u32 = 16;

/// RACK and TLP state of one connection.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rack {
    /// Transmit time and end of the most recently sent segment known delivered.
    xmit_ts: Option<Nanos>,
    end_seq: SeqNumber,
    /// RTT of the most recently delivered segment (RACK.rtt).
    rtt: Nanos,
    /// RACK.min_RTT: the least RTT of the last [`MIN_RTT_WINDOW`].
    min_rtt: WindowedMinRtt,
    /// The highest sequence number delivered (RACK.fack), once anything was. (A `SeqNumber(0)` to start from
    /// compared as above every sequence number in the half of the space below it, so a connection whose ISS
    /// fell there took its first delivery for reordering and opened its reordering window at once, while
    /// the others waited for the first real reordering: the same run went two ways depending on the ISS.)
    fack: Option<SeqNumber>,
    /// A never-retransmitted segment was delivered below `fack`.
    reordering_seen: bool,
    /// RACK.reo_wnd_mult - 1: how many quarters of min_RTT the reordering window has grown by (D-SACKs).
    reo_wnd_growth: u32,
    /// RACK.dsack_round: SND.NXT when the window last grew; it grows again only once SND.UNA has passed it.
    dsack_round: Option<SeqNumber>,
    /// RACK.reo_wnd_persist: recoveries left before the growth is forgotten.
    reo_wnd_persist: u32,
    /// The end of the flight when the outstanding loss probe was sent (TLP.end_seq), and whether the probe
    /// was a retransmission (TLP.is_retrans).
    tlp_end_seq: Option<SeqNumber>,
    tlp_is_retrans: bool,
    /// The probe timer fired: send a probe at the next transmit.
    pub(crate) probe_due: bool,
    /// Resend the first lost segment regardless of the congestion window (the fast retransmit of RFC 6675).
    pub(crate) force_retransmit: bool,
    /// Newly SACKed ranges of the ACK being processed (kept to reuse the allocation).
    newly_sacked: Vec<(SeqNumber, SeqNumber)>,
}

/// Whether an ACK's SACK blocks start with a D-SACK (RFC 2883 §4): a first block below the cumulative ACK, or
/// inside the second block.
pub(super) fn reports_duplicate(ack: SeqNumber, blocks: &[SackBlock]) -> bool {
    let Some(first) = blocks.first() else { return false };
    first.left < ack || blocks.get(1).is_some_and(|second| second.left <= first.left && first.right <= second.right)
}

/// RACK_sent_after: was (t1, seq1) sent after (t2, seq2)?
fn sent_after(t1: Nanos, seq1: SeqNumber, t2: Nanos, seq2: SeqNumber) -> bool {
    t1 > t2 || (t1 == t2 && seq1 > seq2)
}

impl Rack {
    /// Gives back the spare capacity of the ACK-processing scratch space.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.newly_sacked.shrink_to_fit();
    }

    /// [`Self::on_delivered`] for each segment a cumulative ACK delivered as one run
    /// (`SentSegments::on_cumulative_ack`): `last` alone, or from `first` to `last`, in sequence order, never
    /// retransmitted and each sent no earlier than the one before. Then the last has the latest transmit time
    /// and the highest end, so the RTT, the minimum RTT, the most recent transmission and RACK.fack come out of
    /// it alone; only the reordering test asks the first (if it ends below RACK.fack, so do all before RACK.fack
    /// moves). One call per ACK instead of one per segment.
    #[inline]
    fn on_delivered_run(&mut self, last: &SentSegment, first: Option<&SentSegment>, now: Nanos) {
        if let Some(first) = first
            && self.fack.is_some_and(|fack| first.end < fack)
        {
            self.reordering_seen = true;
        }
        self.on_delivered(last, now);
    }

    /// RFC 8985 §6.2 steps 2-3 for one newly delivered segment. Inline: once per ACK.
    #[inline]
    fn on_delivered(&mut self, segment: &SentSegment, now: Nanos) {
        match self.fack {
            Some(fack) if segment.end < fack => self.reordering_seen |= !segment.retransmitted,
            _ => self.fack = Some(segment.end),
        }
        let rtt = now.saturating_sub(segment.xmit_ts);
        // Ambiguous: the ACK may answer an earlier transmission if this one is younger than any round trip.
        // (RFC 8985 also allows a TSecr test, but the ACK that SACKs an out-of-order segment echoes the
        // timestamp of an earlier in-order one, RFC 7323 §4.3, so it would discard most valid samples.)
        if segment.retransmitted && self.min_rtt.get().is_some_and(|min| rtt < min) {
            return;
        }
        self.rtt = rtt;
        self.min_rtt.update(rtt, now, MIN_RTT_WINDOW);
        let newer = self.xmit_ts.is_none_or(|at| sent_after(segment.xmit_ts, segment.end, at, self.end_seq));
        if newer {
            self.xmit_ts = Some(segment.xmit_ts);
            self.end_seq = segment.end;
        }
    }
}

impl TcpConnection {
    /// RACK-TLP runs on this connection (configured, and SACK negotiated).
    #[inline]
    pub(super) fn rack_active(&self) -> bool {
        self.rack_enabled
    }

    /// `[start, end)` was sent (or resent) now. (The probe timer is restarted once per transmit, by
    /// [`Self::rack_after_transmit`], not per segment.)
    pub(super) fn rack_on_send(&mut self, start: SeqNumber, end: SeqNumber, now: Nanos) {
        self.sent_segments.on_send(start, end, now);
    }

    /// [`Self::rack_on_send`] for new data, `start` at SND.MAX (the output fast path).
    #[inline]
    pub(super) fn rack_on_send_new(&mut self, start: SeqNumber, end: SeqNumber, now: Nanos) {
        self.sent_segments.on_send_new(start, end, now);
    }

    /// A transmit sent new data (SND.MAX moved from `old_snd_max`): restart the probe timer.
    pub(super) fn rack_after_transmit(&mut self, now: Nanos, old_snd_max: SeqNumber) {
        if self.snd_max > old_snd_max && self.rack_active() {
            self.arm_loss_probe(now);
        }
    }

    /// The blocks of an ACK that SACK new data, recorded before the scoreboard takes them.
    #[inline(never)]
    pub(super) fn rack_note_sack_blocks(&mut self, blocks: &[SackBlock]) {
        let mut newly = std::mem::take(&mut self.rack.newly_sacked);
        newly.clear();
        self.scoreboard.newly_sacked(self.snd_una, self.snd_max, blocks, &mut newly);
        self.rack.newly_sacked = newly;
    }

    /// An acceptable ACK was processed (SND.UNA already moved to `ack`): marks what it delivered, detects
    /// losses, and settles the loss probe. Inline, with the SACK, probe and loss work out of line: an ACK of
    /// the whole flight with nothing SACKed, probed or lost (the common case) only delivers its segments.
    #[inline]
    pub(super) fn rack_on_ack(&mut self, now: Nanos, segment: &TcpRepr<'_>, ack: SeqNumber, advanced: bool) {
        let rack = &mut self.rack;
        self.sent_segments.on_cumulative_ack(ack, |last, first| rack.on_delivered_run(last, first, now));
        if !self.rack.newly_sacked.is_empty() {
            self.rack_on_newly_sacked(now, ack);
        }
        if self.rack.tlp_end_seq.is_some() {
            self.tlp_on_ack(now, ack, segment.options.sack_blocks.as_slice());
        }
        if self.rack.dsack_round.is_some() || !segment.options.sack_blocks.is_empty() {
            self.rack_adapt_reordering_window(ack, segment.options.sack_blocks.as_slice());
        }
        if self.rack_detect_loss(now) {
            self.on_rack_loss(now);
        }
        if advanced {
            self.arm_loss_probe(now);
        }
    }

    /// Marks delivered the segments of the ranges this ACK newly SACKed (noted by
    /// [`Self::rack_note_sack_blocks`]), lowest first.
    #[inline(never)]
    fn rack_on_newly_sacked(&mut self, now: Nanos, ack: SeqNumber) {
        let rack = &mut self.rack;
        let mut newly = std::mem::take(&mut rack.newly_sacked);
        newly.sort_unstable_by_key(|&(start, _)| start.distance_from(ack));
        let scoreboard = &self.scoreboard;
        for &(start, end) in &newly {
            self.sent_segments.on_sacked(
                start,
                end,
                |partial| scoreboard.sacked_until(partial.start).is_some_and(|right| right >= partial.end),
                |delivered| rack.on_delivered(delivered, now),
            );
        }
        newly.clear();
        self.rack.newly_sacked = newly;
    }

    /// RFC 8985 §6.2 step 4.
    fn reordering_window(&self) -> Nanos {
        let recovering = self.recovery.in_recovery || self.snd_una < self.recovery.recover;
        if !self.rack.reordering_seen && (recovering || self.sent_segments.sacked_segments() >= DUP_THRESH) {
            return Nanos::ZERO;
        }
        let multiplier = u64::from(self.rack.reo_wnd_growth) + 1;
        let window = self.rack.min_rtt.get().unwrap_or_default().div(4).saturating_mul(multiplier);
        self.rtt.srtt().map_or(window, |srtt| window.min(srtt))
    }

    /// RFC 8985 §6.2 step 4's adaptation, for an ACK with SACK blocks or while a D-SACK round is open: a
    /// D-SACK (RFC 2883: the first block below the cumulative ACK, or inside the second block) says a
    /// retransmission was spurious, the segment late rather than lost, so the reordering window grows by a
    /// quarter of min_RTT, at most once per round trip. Without it, a path that delays some segments by more
    /// than min_RTT / 4 had every late segment resent (117 spurious retransmissions in 2 MiB in a simulated
    /// run with 30% of the frames up to 300 us late on a 200 us round trip).
    #[inline(never)]
    fn rack_adapt_reordering_window(&mut self, ack: SeqNumber, blocks: &[SackBlock]) {
        let rack = &mut self.rack;
        if rack.dsack_round.is_some_and(|round| self.snd_una >= round) {
            rack.dsack_round = None;
        }
        if rack.dsack_round.is_none() && reports_duplicate(ack, blocks) {
            rack.dsack_round = Some(self.snd_nxt);
            rack.reo_wnd_growth = rack.reo_wnd_growth.saturating_add(1);
            rack.reo_wnd_persist = REO_WND_PERSIST;
        }
    }

    /// A loss recovery ended (RFC 8985 §6.2 step 4): after `REO_WND_PERSIST` of them without a D-SACK, the
    /// reordering window is back to a quarter of min_RTT.
    pub(super) fn rack_on_recovery_end(&mut self) {
        let rack = &mut self.rack;
        rack.reo_wnd_persist = rack.reo_wnd_persist.saturating_sub(1);
        if rack.reo_wnd_persist == 0 {
            rack.reo_wnd_growth = 0;
        }
    }

    /// RFC 8985 §6.2 step 5: marks lost every in-flight segment sent before the most recently delivered one
    /// and overdue by RACK.rtt + reo_wnd; arms the reordering timer for the rest. Whether any was marked.
    #[inline]
    pub(super) fn rack_detect_loss(&mut self, now: Nanos) -> bool {
        let Some(rack_ts) = self.rack.xmit_ts else { return false };
        if !self.sent_segments.any_in_flight() {
            // Nothing left to judge (the common case: the ACK covered the whole flight): what the walk
            // would conclude, without the reordering window's arithmetic.
            self.timers.reorder = Nanos::NEVER;
            return false;
        }
        self.rack_mark_overdue(now, rack_ts)
    }

    /// The walk of [`Self::rack_detect_loss`] over the in-flight segments sent before `rack_ts`.
    #[inline(never)]
    fn rack_mark_overdue(&mut self, now: Nanos, rack_ts: Nanos) -> bool {
        let (rack_end, wait) = (self.rack.end_seq, self.rack.rtt.saturating_add(self.reordering_window()));
        let mut timeout = Nanos::ZERO;
        let (marked, retransmissions) = self.sent_segments.mark_lost_while(
            |candidate| sent_after(rack_ts, rack_end, candidate.xmit_ts, candidate.end),
            |candidate| {
                let deadline = candidate.xmit_ts.saturating_add(wait);
                if deadline <= now {
                    return true;
                }
                timeout = timeout.max(deadline.saturating_sub(now));
                false
            },
        );
        self.timers.reorder = if timeout == Nanos::ZERO { Nanos::NEVER } else { now.saturating_add(timeout) };
        self.counters.rack_lost_segments += marked;
        self.counters.lost_retransmits += retransmissions;
        marked > 0
    }

    /// Segments were marked lost: start fast recovery (once per window, RFC 6582's `recover` guard) and
    /// resend the first at once. After a timeout the go-back-N resend is already under way; lost segments
    /// below SND.NXT are resent as they are found.
    #[cold]
    pub(super) fn on_rack_loss(&mut self, now: Nanos) {
        if !self.recovery.in_recovery && self.snd_una >= self.recovery.recover {
            self.enter_recovery(now);
            self.rack.force_retransmit = true;
            // The recovery's window reduction answers whatever loss a probe revealed: the episode ends.
            self.rack.tlp_end_seq = None;
        }
        self.timers.probe = Nanos::NEVER;
    }

    /// Starts (or restarts) the probe timer if a probe may be sent: data outstanding, not in fast or RTO
    /// recovery, no probe outstanding, and an RTT measured.
    #[inline]
    pub(super) fn arm_loss_probe(&mut self, now: Nanos) {
        self.timers.probe = Nanos::NEVER;
        if self.snd_max != self.snd_una {
            self.arm_loss_probe_for_flight(now);
        }
    }

    /// [`Self::arm_loss_probe`] with data outstanding.
    #[inline(never)]
    fn arm_loss_probe_for_flight(&mut self, now: Nanos) {
        let outstanding = self.snd_max.distance_from(self.snd_una).max(0) as usize;
        let recovering = self.recovery.in_recovery || self.snd_una < self.recovery.recover;
        if outstanding == 0 || recovering || self.rack.tlp_end_seq.is_some() || self.snd_nxt < self.snd_max {
            return;
        }
        let Some(srtt) = self.rtt.srtt() else { return };
        let mut pto = srtt.saturating_mul(2);
        if outstanding <= self.send_mss {
            pto = pto.saturating_add(WORST_CASE_DELAYED_ACK);
        }
        self.timers.probe = now.saturating_add(pto).min(self.timers.retransmit);
    }

    /// The probe timer fired.
    pub(super) fn on_probe_timeout(&mut self) {
        self.timers.probe = Nanos::NEVER;
        self.rack.probe_due = true;
    }

    /// Sends the loss probe if one is due (RFC 8985 §7.3): new data if the peer's window allows, else the
    /// highest segment again; then restarts the RTO.
    #[inline]
    pub(super) fn send_loss_probe(&mut self, now: Nanos, out: &mut Vec<super::OutgoingSegment>) {
        if std::mem::take(&mut self.rack.probe_due) {
            self.send_due_loss_probe(now, out);
        }
    }

    /// [`Self::send_loss_probe`] once the probe timer has fired.
    #[cold]
    fn send_due_loss_probe(&mut self, now: Nanos, out: &mut Vec<super::OutgoingSegment>) {
        if self.snd_max == self.snd_una || self.recovery.in_recovery {
            return;
        }
        let unsent = self.data_end().distance_from(self.snd_nxt).max(0) as usize;
        let window_room = (self.snd_una + self.snd_wnd).distance_from(self.snd_nxt).max(0) as usize;
        let sent_before = out.len();
        if self.snd_nxt == self.snd_max && unsent > 0 && window_room >= unsent.min(self.send_mss) {
            self.send_range(now, out, self.snd_nxt, unsent.min(self.send_mss), false);
            self.rack.tlp_is_retrans = false;
        } else if let Some(last) = self.sent_segments.last().copied()
            && last.state != SegmentState::Sacked
        {
            let start = last.start.max(self.snd_una);
            let len = (last.end.distance_from(start).max(0) as usize).min(self.send_mss);
            self.send_range(now, out, start, len, false);
            self.rack.tlp_is_retrans = true;
        }
        if out.len() == sent_before {
            return;
        }
        self.counters.tlp_probes += 1;
        self.rack.tlp_end_seq = Some(self.snd_max);
        self.timers.probe = Nanos::NEVER;
        self.timers.retransmit = now.saturating_add(self.rtt.rto());
    }

    /// RFC 8985 §7.4: ends the probe episode once the ACK tells what the probe found, and answers a loss
    /// the probe repaired with a window reduction.
    #[inline(never)]
    fn tlp_on_ack(&mut self, now: Nanos, ack: SeqNumber, blocks: &[SackBlock]) {
        let Some(end) = self.rack.tlp_end_seq else { return };
        if ack < end {
            return;
        }
        if !self.rack.tlp_is_retrans {
            self.rack.tlp_end_seq = None;
        } else if blocks.iter().any(|block| block.right == end && block.right <= ack) {
            // D-SACK: the original and the probe both arrived; nothing was lost.
            self.rack.tlp_end_seq = None;
        } else if ack > end {
            self.rack.tlp_end_seq = None;
            if !self.recovery.in_recovery {
                self.counters.tlp_repaired_losses += 1;
                self.undo_forget();
                let flight = self.snd_max.distance_from(self.snd_una).max(0) as usize;
                self.congestion.on_loss(now, flight);
                self.congestion.on_recovery_end(now);
            }
        } else if blocks.is_empty() {
            self.rack.tlp_end_seq = None;
        }
    }

    /// A retransmission timeout ends any probe episode and the reordering timer.
    pub(super) fn rack_on_timeout(&mut self) {
        self.rack.tlp_end_seq = None;
        self.rack.probe_due = false;
        self.rack.force_retransmit = false;
        self.timers.probe = Nanos::NEVER;
        self.timers.reorder = Nanos::NEVER;
    }
}

#[cfg(test)]
mod tests {
    use super::super::sent_segments::SentSegments;
    use super::*;

    /// Segments `[i * 100, i * 100 + 100)` for `i` in `ids`, sent at the given milliseconds.
    fn sent(segments: &[(u32, u64)]) -> SentSegments {
        let mut sent = SentSegments::default();
        for &(i, ms) in segments {
            sent.on_send_new(SeqNumber(i * 100), SeqNumber(i * 100 + 100), Nanos::from_millis(ms));
        }
        sent
    }

    /// A RACK state that has seen the delivery of segment `i`, sent at `ms` (resent if `resent`).
    fn after_delivery(i: u32, ms: u64, resent: bool) -> Rack {
        let mut other = sent(&[(i, 0)]);
        if resent {
            other.on_send(SeqNumber(i * 100), SeqNumber(i * 100 + 100), Nanos::from_millis(ms));
        }
        let mut rack = Rack::default();
        let segment = *other.last().expect("sent");
        rack.on_delivered(&segment, Nanos::from_millis(ms + 1));
        rack
    }

    fn state(rack: &Rack) -> (Option<Nanos>, SeqNumber, Nanos, Option<Nanos>, Option<SeqNumber>, bool) {
        (rack.xmit_ts, rack.end_seq, rack.rtt, rack.min_rtt.get(), rack.fack, rack.reordering_seen)
    }

    #[test]
    fn a_first_delivery_is_not_reordering_wherever_the_sequence_space_starts() {
        for start in [0u32, 0x7fff_ff00, 0x8000_0000, 0xffff_ff00] {
            let mut sent = SentSegments::default();
            sent.on_send_new(SeqNumber(start), SeqNumber(start.wrapping_add(100)), Nanos::from_millis(1));
            let mut rack = Rack::default();
            sent.on_cumulative_ack(SeqNumber(start.wrapping_add(100)), |last, first| {
                rack.on_delivered_run(last, first, Nanos::from_millis(2));
            });
            assert!(!rack.reordering_seen, "sequence space from {start:#x}");
            assert_eq!(rack.fack, Some(SeqNumber(start.wrapping_add(100))));
        }
    }

    #[test]
    fn a_run_delivers_as_its_segments_one_by_one() {
        let now = Nanos::from_millis(40);
        let flight = [(0, 5), (1, 5), (2, 6), (3, 9), (4, 30)];
        let starts = [
            Rack::default(),
            after_delivery(9, 3, false), // RACK.fack above the run, sent before it
            after_delivery(9, 35, true), // RACK.fack above, resent after the whole run
            after_delivery(2, 20, true), // sent within the run's transmit times
            after_delivery(0, 1, false), // below the run
        ];
        for start in starts {
            let (mut by_run, mut one_by_one) = (start.clone(), start.clone());
            let mut runs = 0;
            sent(&flight).on_cumulative_ack(SeqNumber(500), |last, first| {
                runs += 1;
                by_run.on_delivered_run(last, first, now);
            });
            let mut each = sent(&flight);
            for i in 1..=5 {
                each.on_cumulative_ack(SeqNumber(i * 100), |segment, first| {
                    assert!(first.is_none(), "one at a time");
                    one_by_one.on_delivered(segment, now);
                });
            }
            assert_eq!(runs, 1);
            assert_eq!(state(&by_run), state(&one_by_one), "from {start:?}");
        }
    }
}
