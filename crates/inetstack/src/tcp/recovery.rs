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

use std::time::Instant;

use super::TcpConnection;
use super::scoreboard::DUP_THRESH;
use crate::wire::SeqNumber;

/// Loss recovery state of one connection.
#[derive(Clone, Debug)]
pub(crate) struct LossRecovery {
    /// Consecutive duplicate ACKs (RFC 5681 §2).
    pub(crate) dupacks: u32,
    /// RFC 6582 `recover`: SND.MAX when the last recovery (or timeout) began; duplicate ACKs below it do not
    /// start another recovery.
    pub(crate) recover: SeqNumber,
    pub(crate) in_recovery: bool,
    /// NewReno window inflation (bytes, may go negative after partial ACKs).
    pub(crate) inflation: i64,
    /// Resend the segment at SND.UNA at the next transmit, regardless of windows (fast retransmit, partial ACK,
    /// timeout).
    pub(crate) retransmit_head: bool,
    /// RFC 6675 HighRxt: the end of the highest range retransmitted in this recovery.
    pub(crate) high_rxt: SeqNumber,
}

impl LossRecovery {
    pub(crate) fn new(iss: SeqNumber) -> Self {
        Self { dupacks: 0, recover: iss, in_recovery: false, inflation: 0, retransmit_head: false, high_rxt: iss }
    }
}

impl TcpConnection {
    /// Bytes sent and neither acknowledged nor, with SACK, known to have left the network (RFC 6675 `pipe`).
    pub(super) fn pipe(&self) -> usize {
        let outstanding = self.snd_max.distance_from(self.snd_una).max(0) as usize;
        if !self.sack_enabled {
            return self.snd_nxt.distance_from(self.snd_una).max(0) as usize;
        }
        let sacked = self.scoreboard.sacked_bytes();
        let lost_not_resent = match self.scoreboard.loss_boundary(self.send_mss) {
            Some(boundary) => self.scoreboard.unsacked_bytes_in(self.recovery.high_rxt.max(self.snd_una), boundary),
            None => 0,
        };
        outstanding.saturating_sub(sacked).saturating_sub(lost_not_resent)
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
    pub(super) fn on_duplicate_ack(&mut self, now: Instant, new_sack: bool) {
        self.recovery.dupacks += 1;
        self.counters.dup_acks_in += 1;
        if self.recovery.in_recovery {
            if !self.sack_enabled {
                self.recovery.inflation += self.send_mss as i64;
            }
            return;
        }
        // RFC 6582 §3.2 step 1: not for duplicates of data sent before the last recovery or timeout.
        if self.recovery.dupacks as usize >= DUP_THRESH && self.snd_una >= self.recovery.recover {
            self.enter_recovery(now);
        } else if new_sack {
            self.check_sack_loss(now);
        }
    }

    /// RFC 6675 §5 `IsLost(HighACK + 1)`: after any ACK with new SACK information, enough data SACKed above
    /// SND.UNA means the segment there is lost, duplicate ACKs or not (a cumulative stretch ACK can carry it).
    pub(super) fn check_sack_loss(&mut self, now: Instant) {
        if self.recovery.in_recovery || !self.sack_enabled || self.snd_una < self.recovery.recover {
            return;
        }
        if self.scoreboard.loss_boundary(self.send_mss).is_some_and(|boundary| boundary > self.snd_una) {
            self.enter_recovery(now);
        }
    }

    fn enter_recovery(&mut self, now: Instant) {
        self.counters.fast_retransmits += 1;
        let flight = self.snd_max.distance_from(self.snd_una).max(0) as usize;
        self.congestion.on_loss(now, flight);
        self.recovery.in_recovery = true;
        self.recovery.recover = self.snd_max;
        self.recovery.inflation = if self.sack_enabled { 0 } else { (DUP_THRESH * self.send_mss) as i64 };
        self.recovery.retransmit_head = true;
        self.recovery.high_rxt = self.snd_una;
        self.timed_segment = None;
    }

    /// New data was acknowledged (`acked` bytes of sequence space, `flight` outstanding before the ACK).
    pub(super) fn on_ack_advance(&mut self, now: Instant, acked: usize, flight: usize) {
        self.recovery.dupacks = 0;
        if !self.recovery.in_recovery {
            self.congestion.on_ack(now, acked, flight, self.rtt.srtt());
            return;
        }
        if self.snd_una >= self.recovery.recover {
            // Full ACK (RFC 6582 §3.2 step 3).
            self.recovery.in_recovery = false;
            self.recovery.inflation = 0;
            self.congestion.on_recovery_end(now);
            return;
        }
        // Partial ACK (RFC 6582 §3.2 step 5): resend the next hole unless already resent (with SACK, the
        // scoreboard usually has); deflate by what was acknowledged.
        if self.recovery.high_rxt <= self.snd_una {
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

    /// The retransmission timer expired: leave recovery; later duplicate ACKs of this flight start none.
    pub(super) fn reset_recovery_on_timeout(&mut self) {
        self.recovery.in_recovery = false;
        self.recovery.inflation = 0;
        self.recovery.dupacks = 0;
        self.recovery.recover = self.snd_max;
        self.recovery.high_rxt = self.snd_una;
        self.recovery.retransmit_head = true;
    }
}
