//! [`LossRecovery`]: duplicate-ACK counting and fast retransmit / fast recovery, in two flavours:
//!
//! - without SACK, NewReno (RFC 6582): three duplicate ACKs resend the first unacknowledged segment and inflate
//!   the window by one segment per further duplicate; each partial ACK resends the next hole; a full ACK (one
//!   covering `recover`) ends recovery;
//! - with SACK, the conservative recovery of RFC 6675: the pipe estimate replaces inflation, and holes the
//!   scoreboard marks lost are resent in order (`NextSeg` rule 1) before new data (rule 2).
//!
//! Limited transmit (RFC 3042) lets a new segment out on each of the first two duplicate ACKs. Also holds what
//! a retransmission timeout resets (`recover` = SND.MAX, RFC 6582 §4). Which bytes to put in
//! a segment is [`super::output`]'s job; this file keeps the bookkeeping and the window arithmetic.
//!
//! Lost retransmissions (with SACK): RFC 6675 resends a hole once per recovery, so a lost retransmission used to
//! wait for the retransmission timeout (`min_rto`, 200 ms: a thousand round trips on a LAN), during which
//! recovery went on SACKing new data until the peer's reassembly queue filled. Each retransmission is remembered
//! with SND.MAX at the time it was sent (its `mark`, as Linux's `tcp_mark_lost_retrans` did before RACK): once
//! more than (DupThresh − 1) × MSS of data above the mark — data sent after the retransmission — is SACKed while
//! the retransmitted range is still neither acknowledged nor SACKed, the retransmission is deemed lost and the
//! range is resent at once (the same `IsLost` test RFC 6675 applies to original transmissions, and the time
//! ordering RFC 8985 RACK generalizes). No further window reduction: it is the same loss episode.
//!
//! With RACK-TLP on ([`super::rack`]), RACK replaces DupThresh, `IsLost` and the lost-retransmission check:
//! it enters recovery here ([`TcpConnection::enter_recovery`]) and the pipe counts its lost segments out.

use super::congestion::{CongestionControl as _, Growth, initial_window};
use super::scoreboard::{DUP_THRESH, MAX_SCOREBOARD_RANGES};
use super::sent_segments::SegmentState;
use super::{Nanos, TcpConnection};
use crate::wire::SeqNumber;

/// Loss recovery state of one connection.
#[derive(Clone, Debug)]
pub(crate) struct LossRecovery {
    /// Consecutive duplicate ACKs (RFC 5681 §2).
    pub(crate) dupacks: u32,
    /// RFC 6582 `recover`: SND.MAX when the last recovery (or timeout) began; duplicate ACKs below it do not
    /// start another recovery.
    pub(crate) recover: SeqNumber,
    /// What the last ACK that moved SND.UNA acknowledged (RFC 6582 §4.2: highest_ack - prev_highest_ack).
    pub(crate) last_advance: usize,
    pub(crate) in_recovery: bool,
    /// NewReno window inflation (bytes, may go negative after partial ACKs).
    pub(crate) inflation: i64,
    /// Partial ACKs in this recovery: without SACK only the first restarts the retransmission timer.
    pub(crate) partial_acks: u32,
    /// Resend the segment at SND.UNA at the next transmit, regardless of windows (fast retransmit, partial ACK,
    /// timeout).
    pub(crate) retransmit_head: bool,
    /// RFC 6675 HighRxt: the end of the highest range retransmitted in this recovery.
    pub(crate) high_rxt: SeqNumber,
    /// Retransmissions not yet known to have arrived (with SACK), oldest first, at most
    /// [`MAX_SCOREBOARD_RANGES`]; beyond that the oldest are forgotten (their loss then waits for the RTO).
    pub(crate) retransmissions: Vec<Retransmission>,
    /// Retransmitted ranges found lost again, to resend at the next transmit.
    pub(crate) lost_retransmissions: Vec<(SeqNumber, SeqNumber)>,
}

/// One retransmitted range `[start, end)` and SND.MAX when it was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retransmission {
    pub(crate) start: SeqNumber,
    pub(crate) end: SeqNumber,
    pub(crate) mark: SeqNumber,
}

impl LossRecovery {
    pub(crate) fn new(iss: SeqNumber) -> Self {
        Self {
            dupacks: 0,
            recover: iss,
            last_advance: 0,
            in_recovery: false,
            inflation: 0,
            partial_acks: 0,
            retransmit_head: false,
            high_rxt: iss,
            retransmissions: Vec::new(),
            lost_retransmissions: Vec::new(),
        }
    }
}

impl TcpConnection {
    /// Bytes sent and neither acknowledged nor, with SACK, known to have left the network (RFC 6675 `pipe`).
    pub(super) fn pipe(&self) -> usize {
        let outstanding = self.snd_max.distance_from(self.snd_una).max(0) as usize;
        if !self.sack_enabled {
            return self.snd_nxt.distance_from(self.snd_una).max(0) as usize;
        }
        if self.rack_active() {
            let left = self.sent_segments.sacked_bytes() + self.sent_segments.lost_bytes();
            return outstanding.saturating_sub(left);
        }
        let sacked = self.scoreboard.sacked_bytes();
        let lost_not_resent = match self.scoreboard.loss_boundary(self.send_mss) {
            Some(boundary) => self.scoreboard.unsacked_bytes_in(self.recovery.high_rxt.max(self.snd_una), boundary),
            None => 0,
        };
        outstanding.saturating_sub(sacked).saturating_sub(lost_not_resent)
    }

    /// How many of the `acked` bytes may grow the congestion window, given `flight`, what was outstanding
    /// before this ACK. The window grows only while it limits the flow (RFC 9438 §5.8, RFC 7661; Linux's
    /// `tcp_is_cwnd_limited`): a flow held back by its application or by the peer's receive window would
    /// otherwise grow it without bound (a request-response connection's by every exchange) and one day send
    /// all of it at once. Slow start may take the window up to twice the flight (so a flow that fills it
    /// keeps doubling), and no further even when one ACK covers a whole window; congestion avoidance grows it
    /// only while the flight filled it to within a segment.
    #[inline]
    fn window_growth(&self, acked: usize, flight: usize) -> usize {
        let cwnd = self.congestion.window();
        if cwnd < self.congestion.slow_start_threshold() {
            acked.min(flight.saturating_mul(2).saturating_sub(cwnd))
        } else if flight + self.send_mss > cwnd {
            acked
        } else {
            0
        }
    }

    /// New data is about to go out with nothing in flight (SND.UNA = SND.MAX): the connection has been idle
    /// since [`TcpConnection::last_send`], its application having had nothing to send, and no ACK has clocked
    /// the window since. Two things follow, for either controller:
    ///
    /// - the controller learns how long (CUBIC's epoch must not count that time, RFC 9438 §5.8);
    /// - after more than a retransmission timeout, the window restarts (RFC 5681 §4.1): cwnd falls to the
    ///   restart window RW = min(IW, cwnd), so the connection does not blast a window the network may no longer
    ///   hold; ssthresh stays, so slow start regains the old window within a few round trips.
    ///
    /// The idle time runs from the last send, as RFC 5681 §4.1 and Linux (`lsndtime`) measure it; it is
    /// accounted once (`last_send` moves to now, should nothing be sent after all). Inline: a request-response
    /// connection comes here for every request, with idle times far below the timeout.
    #[inline]
    pub(super) fn resume_after_idle(&mut self, now: Nanos) {
        let idle = now.saturating_sub(self.last_send);
        self.last_send = now;
        self.congestion.on_send_resumed(now, idle);
        if idle > self.rtt.rto() {
            self.restart_after_idle();
        }
    }

    /// [`Self::resume_after_idle`] after more than a retransmission timeout.
    #[cold]
    #[inline(never)]
    fn restart_after_idle(&mut self) {
        let restart_window = initial_window(self.send_mss, self.config.initial_window_segments);
        if restart_window < self.congestion.window() {
            self.congestion.on_idle_restart(restart_window);
            self.counters.idle_restarts += 1;
        }
    }

    /// How many more bytes congestion control lets us put in flight now.
    pub(super) fn congestion_allowance(&self) -> usize {
        let cwnd = self.congestion.window();
        if self.recovery.in_recovery && self.sack_enabled {
            return cwnd.saturating_sub(self.pipe());
        }
        // Limited transmit (RFC 3042): each of the first two duplicate ACKs lets one new segment out, so that a
        // small window still produces the duplicates fast retransmit needs.
        let limited_transmit = if self.recovery.in_recovery { 0 } else { self.recovery.dupacks.min(2) as i64 };
        let inflated = (cwnd as i64 + self.recovery.inflation + limited_transmit * self.send_mss as i64)
            .max(self.send_mss as i64) as usize;
        let flight = if self.recovery.in_recovery {
            self.snd_max.distance_from(self.snd_una).max(0) as usize
        } else {
            self.snd_nxt.distance_from(self.snd_una).max(0) as usize
        };
        inflated.saturating_sub(flight)
    }

    /// A duplicate ACK arrived (`new_sack`: it SACKed new data).
    pub(super) fn on_duplicate_ack(&mut self, now: Nanos, new_sack: bool) {
        self.recovery.dupacks += 1;
        self.counters.dup_acks_in += 1;
        if self.timeout_undo.is_some() {
            self.frto_on_duplicate_ack();
        }
        if self.recovery.in_recovery {
            if !self.sack_enabled {
                self.recovery.inflation += self.send_mss as i64;
            }
            return;
        }
        if self.rack_active() {
            // RACK decides by time (its reordering window is zero once DupThresh segments are SACKed).
            return;
        }
        // RFC 6582 §3.2 step 1: not for duplicates of data sent before the last recovery or timeout, unless they
        // show a loss (§4.2's ACK heuristic, below).
        if self.recovery.dupacks as usize >= DUP_THRESH
            && (self.snd_una >= self.recovery.recover || self.duplicates_show_a_loss())
        {
            self.enter_recovery(now);
        } else if new_sack {
            self.check_sack_loss(now);
        }
    }

    /// RFC 6582 §4.2's ACK heuristic, for duplicate ACKs of data sent before the last timeout (or recovery):
    /// they show a lost segment, not resent data the peer already had, if the ACKs before them moved SND.UNA by
    /// little (at most 4 segments) and the window is past one segment. After a timeout, go-back-N resends what
    /// the peer may hold already, whose ACKs then jump. Without it every loss among the data a timeout resends
    /// waited for the next timeout: at the end of a transfer, when everything was sent before the timeout, a
    /// draw of the property tests (seed 126407: MSS 64, no SACK, 30% reordering against a peer that keeps 4
    /// out-of-order segments) resent one window per 60 s timeout, backed off for good by Karn's rule, for over
    /// 12 hours.
    fn duplicates_show_a_loss(&self) -> bool {
        self.congestion.window() > self.send_mss && self.recovery.last_advance <= 4 * self.send_mss
    }

    /// RFC 6675 §5 `IsLost(HighACK + 1)`: after any ACK with new SACK information, enough data SACKed above
    /// SND.UNA means the segment there is lost, duplicate ACKs or not (a cumulative stretch ACK can carry it).
    pub(super) fn check_sack_loss(&mut self, now: Nanos) {
        if self.recovery.in_recovery || !self.sack_enabled || self.snd_una < self.recovery.recover {
            return;
        }
        if self.scoreboard.loss_boundary(self.send_mss).is_some_and(|boundary| boundary > self.snd_una) {
            self.enter_recovery(now);
        }
    }

    pub(super) fn enter_recovery(&mut self, now: Nanos) {
        if self.mtu_probe_lost(now) {
            // The path did not take an MTU probe's size: not congestion (`tcp/mtu_probe.rs`).
            return;
        }
        self.counters.fast_retransmits += 1;
        let flight = self.snd_max.distance_from(self.snd_una).max(0) as usize;
        self.undo_start();
        self.congestion.on_loss(now, flight);
        self.recovery.in_recovery = true;
        self.recovery.recover = self.snd_max;
        self.recovery.inflation = if self.sack_enabled { 0 } else { (DUP_THRESH * self.send_mss) as i64 };
        self.recovery.partial_acks = 0;
        self.recovery.retransmit_head = !self.rack_active();
        self.recovery.high_rxt = self.snd_una;
        self.void_timing();
    }

    /// New data was acknowledged (`acked` bytes of sequence space, `flight` outstanding before the ACK).
    pub(super) fn on_ack_advance(&mut self, now: Nanos, acked: usize, flight: usize) {
        self.recovery.dupacks = 0;
        self.recovery.last_advance = acked;
        if !self.recovery.in_recovery {
            let mut growth = self.window_growth(acked, flight);
            if growth > 0 && self.hystart.running() {
                growth = self.hystart_growth(now, growth);
            }
            if growth > 0 {
                self.congestion.on_ack(now, growth, flight, self.rtt.srtt());
            }
            return;
        }
        if self.snd_una >= self.recovery.recover {
            // Full ACK (RFC 6582 §3.2 step 3).
            self.recovery.in_recovery = false;
            self.recovery.inflation = 0;
            self.congestion.on_recovery_end(now);
            self.undo_on_recovery_end();
            self.rack_on_recovery_end();
            return;
        }
        // Partial ACK (RFC 6582 §3.2 step 5): resend the next hole unless already resent (with SACK, the
        // scoreboard usually has); deflate by what was acknowledged.
        self.recovery.partial_acks = self.recovery.partial_acks.saturating_add(1);
        if self.recovery.high_rxt <= self.snd_una && !self.rack_active() {
            self.recovery.retransmit_head = true;
        }
        self.recovery.high_rxt = self.recovery.high_rxt.max(self.snd_una);
        if !self.sack_enabled {
            self.recovery.inflation -= acked as i64;
            if acked >= self.send_mss {
                self.recovery.inflation += self.send_mss as i64;
            }
        }
    }

    /// HyStart++ (RFC 9406) for an ACK that lets the window grow by `growth` in the first slow start (ssthresh
    /// still unset): what the window may grow by now, 0 if HyStart++ ended slow start. The RTT is the newest
    /// acknowledged segment's, unless it was resent (Karn's rule). Out of line: only a growing window comes here.
    #[inline(never)]
    fn hystart_growth(&mut self, now: Nanos, growth: usize) -> usize {
        if self.congestion.slow_start_threshold() != usize::MAX {
            // A loss set ssthresh: slow start from here on is RFC 5681's, up to it.
            self.hystart.stop();
            return growth;
        }
        let rtt = self
            .sent_segments
            .newest_acknowledged(self.snd_una)
            .filter(|segment| !segment.retransmitted && segment.state != SegmentState::Sacked)
            .map(|segment| now.saturating_sub(segment.xmit_ts));
        match self.hystart.on_ack(self.snd_una, self.snd_nxt, rtt, growth, self.send_mss) {
            Growth::By(bytes) => bytes,
            Growth::EndSlowStart => {
                self.counters.hystart_exits += 1;
                self.congestion.end_slow_start(now);
                0
            }
        }
    }

    /// The retransmission timer expired: leave recovery; later duplicate ACKs of this flight start none.
    pub(super) fn reset_recovery_on_timeout(&mut self) {
        self.undo_forget();
        self.rack_on_recovery_end();
        self.recovery.in_recovery = false;
        self.recovery.inflation = 0;
        self.recovery.dupacks = 0;
        self.recovery.recover = self.snd_max;
        self.recovery.high_rxt = self.snd_una;
        self.recovery.retransmit_head = true;
        // Go-back-N resends everything not SACKed (and remembers those retransmissions afresh).
        self.recovery.retransmissions.clear();
        self.recovery.lost_retransmissions.clear();
    }

    /// Remembers a retransmission of `[start, end)` sent now (SND.MAX not yet moved by it), for
    /// [`Self::detect_lost_retransmissions`].
    pub(super) fn note_retransmission(&mut self, start: SeqNumber, end: SeqNumber) {
        if !self.sack_enabled || self.rack_active() {
            return;
        }
        let list = &mut self.recovery.retransmissions;
        list.retain(|r| r.start != start);
        if list.len() >= MAX_SCOREBOARD_RANGES {
            list.remove(0);
        }
        list.push(Retransmission { start, end, mark: self.snd_max });
    }

    /// After an ACK: forgets retransmissions that arrived (acknowledged or SACKed) and moves those that data
    /// sent after them overtook by more than (DupThresh − 1) × MSS of SACKed bytes to the resend list.
    pub(super) fn detect_lost_retransmissions(&mut self) {
        if self.recovery.retransmissions.is_empty() {
            return;
        }
        let (snd_una, snd_max, mss) = (self.snd_una, self.snd_max, self.send_mss);
        let threshold = (DUP_THRESH - 1) * mss;
        let mut lost = 0u64;
        let scoreboard = &self.scoreboard;
        let resend = &mut self.recovery.lost_retransmissions;
        self.recovery.retransmissions.retain(|r| {
            if r.end <= snd_una || scoreboard.sacked_until(r.start.max(snd_una)).is_some_and(|end| end >= r.end) {
                return false;
            }
            if r.mark < snd_max && scoreboard.sacked_bytes_in(r.mark, snd_max) > threshold {
                lost += 1;
                if resend.len() < MAX_SCOREBOARD_RANGES {
                    resend.push((r.start.max(snd_una), r.end));
                }
                return false;
            }
            true
        });
        self.counters.lost_retransmits += lost;
    }
}
