//! Segment arrival (RFC 9293 §3.10.7): the SYN-SENT rules, then for synchronized states the checks in their
//! RFC order — PAWS (RFC 7323 §5), sequence acceptability, RST and SYN with the RFC 5961 defences (exact-match
//! RST, challenge ACKs), the ACK field ([`super::ack`]), and the text and FIN ([`super::receive`]).
//!
//! Every branch drops and counts rather than panics: nothing a peer sends can reach an `unwrap` or an index.

use runtime::{DemiBuffer, Fail};

use super::{Nanos, TcpConnection, TcpState};
use crate::wire::{SeqNumber, TcpFlags, TcpRepr};

impl TcpConnection {
    /// An incoming segment for this 4-tuple; `payload` is the zero-copy view of its data (may be empty) and
    /// must hold the same bytes as `segment.payload`.
    ///
    /// The common segment of an established connection takes the header-prediction path ([`super::predict`]);
    /// every other one the general path below, which is out of line so the hot code stays small.
    #[inline]
    pub fn on_segment(&mut self, now: Nanos, segment: &TcpRepr<'_>, payload: DemiBuffer) {
        self.counters.segments_in += 1;
        let data = !payload.is_empty();
        self.handle_segment(now, segment, payload);
        // Receive-buffer auto-tuning looks at about one data segment per round trip (`autotune.rs`).
        if data
            && let Some(tuning) = &self.tuning
            && tuning.receive.as_ref().is_some_and(|tune| tune.due(now, self.rcv_nxt, self.timestamps.is_none()))
        {
            self.autotune_on_data(now, segment);
        }
    }

    /// The prediction path or the general one (`segments_in` already counted).
    #[inline(always)]
    fn handle_segment(&mut self, now: Nanos, segment: &TcpRepr<'_>, payload: DemiBuffer) {
        if self.config.fast_paths
            && let Some(ack) = self.predict(segment, payload.len())
        {
            self.on_predicted_segment(now, segment, ack, payload);
            return;
        }
        self.on_unpredicted_segment(now, segment, payload);
    }

    /// The general path: RFC 9293 §3.10.7 for any segment (`segments_in` already counted).
    #[inline(never)]
    fn on_unpredicted_segment(&mut self, now: Nanos, segment: &TcpRepr<'_>, payload: DemiBuffer) {
        if payload.len() != segment.payload.len() {
            self.counters.drops.malformed += 1;
            return;
        }
        match self.state {
            TcpState::Closed | TcpState::Listen => self.counters.drops.closed += 1,
            TcpState::SynSent => self.on_segment_in_syn_sent(now, segment, payload),
            _ => self.on_segment_synchronized(now, segment, payload),
        }
    }

    /// RFC 9293 §3.10.7.3.
    fn on_segment_in_syn_sent(&mut self, now: Nanos, segment: &TcpRepr<'_>, payload: DemiBuffer) {
        let flags = segment.flags;
        if let Some(ack) = segment.ack_number
            && (ack <= self.iss || ack > self.snd_max)
        {
            self.counters.drops.bad_ack += 1;
            if !flags.rst() {
                let reset = self.reset_segment(ack, None);
                self.control.push(reset);
            }
            return;
        }
        if flags.rst() {
            if segment.ack_number.is_some() {
                self.fail(Fail::new(libc::ECONNREFUSED, "connection refused (RST in reply to SYN)"));
            } else {
                self.counters.drops.bad_rst += 1;
            }
            return;
        }
        if !flags.syn() {
            self.counters.drops.malformed += 1;
            return;
        }
        self.on_peer_syn(now, segment);
        match segment.ack_number {
            Some(ack) => {
                self.snd_una = ack;
                self.snd_wl2 = ack;
                self.sample_rtt(now, segment, ack);
                self.timers.retransmit = Nanos::NEVER;
                self.establish();
                self.ack.now = true;
                self.receive_text(now, segment.seq_number + 1, payload, flags.fin());
            }
            None => {
                // Simultaneous open (RFC 9293 Figure 8): answer with SYN-ACK, resending our SYN.
                self.state = TcpState::SynReceived;
                self.snd_nxt = self.iss;
                self.timers.retransmit = Nanos::NEVER;
            }
        }
    }

    /// RFC 9293 §3.10.7.4, for SYN-RECEIVED and every synchronized state.
    fn on_segment_synchronized(&mut self, now: Nanos, segment: &TcpRepr<'_>, payload: DemiBuffer) {
        let mut flags = segment.flags;
        let mut seq = segment.seq_number;
        let mut segment_len = segment.segment_len();
        if self.state == TcpState::SynReceived && flags.syn() && segment.ack_number.is_some() && seq == self.irs {
            // Simultaneous open, step 5 of RFC 9293 Figure 8: the peer's SYN-ACK repeats the SYN we already
            // took; only its ACK is new.
            flags = flags.without(TcpFlags::SYN);
            seq += 1;
            segment_len -= 1;
        }
        if self.state == TcpState::TimeWait && flags.fin() && !flags.rst() && !flags.syn() {
            // The peer did not get our last ACK: acknowledge again and restart the 2 MSL timer.
            self.timers.close = now.saturating_add(Nanos::from_duration(self.config.time_wait));
            self.ack.now = true;
            return;
        }
        if !flags.rst()
            && let (Some(timestamps), Some(theirs)) = (&self.timestamps, segment.options.timestamps)
            && timestamps.is_stale(theirs.value, now)
            && !self.is_disordered_ack(segment, seq, flags, theirs.value)
        {
            self.counters.drops.paws += 1;
            self.ack_out_of_window(now);
            return;
        }
        if !self.is_acceptable(seq, segment_len, flags.fin() && segment.payload.is_empty()) {
            self.counters.drops.out_of_window += 1;
            let end = seq + segment.payload.len() as u32;
            if !segment.payload.is_empty() && end <= self.rcv_nxt {
                // Wholly received before: a spurious retransmission or a duplicate the network made.
                self.note_duplicate(seq, end);
            }
            if !flags.rst() {
                self.ack_out_of_window(now);
            }
            return;
        }
        if flags.rst() {
            if seq == self.rcv_nxt {
                self.on_reset();
            } else {
                // In the window but not exact: maybe blind injection (RFC 5961 §3.2).
                self.counters.drops.bad_rst += 1;
                self.challenge_ack(now);
            }
            return;
        }
        if flags.syn() {
            // RFC 5961 §4.2: any SYN in a synchronized state gets a challenge ACK.
            self.counters.drops.unexpected_syn += 1;
            self.challenge_ack(now);
            return;
        }
        let Some(ack) = segment.ack_number else {
            self.counters.drops.malformed += 1;
            return;
        };
        self.note_peer_alive(now);
        if let (Some(timestamps), Some(theirs)) = (self.timestamps.as_mut(), segment.options.timestamps)
            && seq <= self.ack.last_ack_sent
        {
            timestamps.update_recent(theirs.value, now);
        }
        if self.state == TcpState::SynReceived {
            if ack > self.snd_una && ack <= self.snd_max {
                self.establish();
            } else {
                self.counters.drops.bad_ack += 1;
                let reset = self.reset_segment(ack, None);
                self.control.push(reset);
                return;
            }
        }
        if self.ecn.enabled || self.ecn.accurate {
            self.on_ecn_flags(now, flags, ack);
        }
        if !self.process_ack(now, segment, ack) || self.state == TcpState::Closed {
            return;
        }
        self.receive_text(now, seq, payload, flags.fin());
    }

    /// A duplicate ACK the network reordered behind a newer segment, which PAWS lets through (as Linux does,
    /// `tcp_disordered_ack`): a pure ACK at RCV.NXT whose ACK is SND.UNA and whose window would update
    /// nothing, with a TSval less than one RTO older than TS.Recent. Its timestamp is old only because it was
    /// overtaken; dropping it lost its SACK blocks and drew an ACK in reply (seen in a simulated transfer
    /// with reordering, where each millisecond tick of the peer's clock could put a late ACK behind a newer
    /// one).
    fn is_disordered_ack(&self, segment: &TcpRepr<'_>, seq: SeqNumber, flags: TcpFlags, tsval: u32) -> bool {
        let window = u32::from(segment.window_len) << self.snd_shift;
        let updates_window = seq > self.snd_wl1 || (seq == self.snd_wl1 && window > self.snd_wnd);
        let rto_ticks = u32::try_from(self.rtt.rto().as_duration().as_millis()).unwrap_or(u32::MAX);
        flags == TcpFlags::empty()
            && segment.payload.is_empty()
            && seq == self.rcv_nxt
            && segment.ack_number == Some(self.snd_una)
            && !updates_window
            && self.timestamps.as_ref().is_some_and(|ts| ts.within_of_recent(tsval, rto_ticks))
    }

    /// The acceptability test of RFC 9293 §3.10.7.4 against the window we advertised. A bare FIN exactly at
    /// RCV.NXT is accepted even when the window is zero.
    ///
    /// A segment without data is accepted up to the right edge included: RCV.NXT <= SEG.SEQ <= RCV.NXT + RCV.WND
    /// (with a zero window, the RFC's SEG.SEQ = RCV.NXT). The RFC's table excludes the edge, but a peer that
    /// filled our window sends its ACKs with SEQ = its SND.NXT, which is the edge while that data is lost (and
    /// stays so while the little we read does not move the edge, RFC 1122 §4.2.3.3). Refused, those ACKs
    /// carried nothing, and two ends that had each filled the other's window, losing all but the first segment,
    /// resent once per RTO the segment the other already held (a duplicate, whose ACK field is not looked at)
    /// until ETIMEDOUT (stack duplex draw 1070726). Linux (`tcp_sequence`) and BSD (`tcp_input`, which trims
    /// only what lies beyond the edge) accept the edge.
    fn is_acceptable(&self, seq: SeqNumber, len: usize, bare_fin: bool) -> bool {
        let window = self.rcv_adv.distance_from(self.rcv_nxt).max(0) as u32;
        let window_end = self.rcv_nxt + window;
        if len == 0 || (bare_fin && seq == self.rcv_nxt) {
            return seq.is_in_range(self.rcv_nxt, window_end + 1);
        }
        let last = seq + (len as u32 - 1);
        window > 0 && (seq.is_in_range(self.rcv_nxt, window_end) || last.is_in_range(self.rcv_nxt, window_end))
    }

    /// A RST with exactly the expected sequence number.
    fn on_reset(&mut self) {
        match self.state {
            TcpState::SynReceived if !self.passive => {
                self.fail(Fail::new(libc::ECONNREFUSED, "connection refused (RST during simultaneous open)"));
            }
            TcpState::Closing | TcpState::LastAck | TcpState::TimeWait => self.enter_closed(),
            _ => self.fail(Fail::new(libc::ECONNRESET, "connection reset by peer")),
        }
    }

    /// An ACK answering an unacceptable segment (rate-limited, so two confused ends cannot loop).
    pub(super) fn ack_out_of_window(&mut self, now: Nanos) {
        if self.out_of_window_limiter.allow(now) {
            self.ack.now = true;
        }
    }

    /// A challenge ACK (RFC 5961 §3.2, §4.2, §5.2), rate-limited (§7).
    pub(super) fn challenge_ack(&mut self, now: Nanos) {
        if self.challenge_limiter.allow(now) {
            self.counters.challenge_acks += 1;
            let challenge = self.ack_segment(now, self.snd_max);
            self.control.push(challenge);
        }
    }
}
