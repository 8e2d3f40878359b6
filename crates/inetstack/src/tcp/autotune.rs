//! Buffer auto-tuning: buffers that grow to what the path needs, so that neither limits a connection over a
//! path with a large bandwidth-delay product, while connections that do not need them keep small ones.
//!
//! Send buffer (as Linux's `tcp_sndbuf_expand`), up to `TcpConfig::send_buffer_max`: when an application's push
//! found the buffer full, the next ACK outside loss recovery raises it to twice the congestion window (a
//! window in flight and one queued behind it). A flow held back by the buffer grows its window up to twice its
//! flight (`window_growth`), so each round trip that fills the buffer may double it, as long as the network
//! lets the window grow; it never shrinks.
//!
//! Receive buffer (dynamic right-sizing, as Linux's `tcp_rcv_space_adjust`): a connection whose
//! application reads as fast as the data comes grows its receive buffer, and so the window it offers, until the
//! window no longer limits the sender, up to `TcpConfig::recv_buffer_max`.
//!
//! - **Round trip, seen by the receiver**, with timestamps: the TSecr of a data segment echoes one of our
//!   TSvals, so the time since that TSval is a round trip (smoothed, 1/8 per sample; at least 1 ms, the
//!   timestamp clock's tick). One data segment per round trip is looked at (the first after the round's end), so
//!   the rest cost one comparison each.
//! - Without timestamps (a peer that does not offer them), as Linux's `tcp_rcv_rtt_measure`: the time a
//!   window's worth of data takes to arrive. The bytes past the edge we last advertised cannot come before the
//!   peer has our ACK, so a window beyond RCV.NXT takes at least a round trip, and about one when the window
//!   limits the sender (the case tuning is for). Each sample is an upper bound, so the estimate is the least of
//!   them (Linux's; at least 1 ms, as with timestamps). A window under an MSS (a closed one) is not timed: the
//!   next segment to arrive would complete it in no time. Early windows, timed while the sender was still
//!   ramping up or the reader behind, take longer: the first rounds may be long and grow the buffer more than
//!   needed (as Linux's may), until a window the sender filled brings the estimate down. The segment that
//!   completes a window is looked at, and the first after the round's end; the rest cost two comparisons each.
//! - **Each round trip** in which the application read more than in any round before (the sender's rate grew),
//!   the buffer wants, as Linux's rule: twice what was read plus 16 segments (a window in flight and one behind
//!   it, and a cushion for losses), and on top of that twice that much again per step by which the round's
//!   reading outgrew the last record, relative to it (a sender in slow start doubles each round: the buffer
//!   then keeps a round ahead of it instead of a round behind). The record starts at 10 segments, the initial
//!   window. The buffer grows to what the round wants if that is more, at most `recv_buffer_max`. It never
//!   shrinks: the window's right edge never moves back, and a buffer that was needed once is likely needed
//!   again.
//! - Only with window scaling (the shift offered covers `recv_buffer_max`): without it the window stops at 64 KiB.
//!
//! Memory: what the connection may queue grows with the buffers, and stays within `send_buffer_max` and
//! `recv_buffer_max` per connection; only a connection whose application fills the send buffer, or keeps up
//! with the receive buffer, gets there.

use super::congestion::CongestionControl as _;
use super::tuning_budget::{Grant, TuningBudget};
use super::{Nanos, TcpConfig, TcpConnection};
use crate::wire::{SeqNumber, TcpRepr};

/// The smallest round trip a sample gives (one tick of the timestamp clock).
const MIN_RTT: Nanos = Nanos::from_millis(1);

/// The reading a round must beat before the buffer grows at all, in segments: the initial window.
const FIRST_RECORD_SEGMENTS: usize = 10;

/// Segments of cushion a grown buffer holds beyond twice a round's reading, for losses (Linux's).
const CUSHION_SEGMENTS: usize = 16;

/// The buffer a round that read `copied` bytes wants when the most any round read before was `record` (more
/// than zero; `copied` is more): twice `copied` and a cushion, and twice that again per `record` by which
/// `copied` outgrew it.
fn wanted_buffer(copied: usize, record: usize, mss: usize) -> usize {
    let steady = copied.saturating_mul(2).saturating_add(mss.saturating_mul(CUSHION_SEGMENTS));
    let growth = (steady as u128 * (copied - record) as u128 / record as u128).saturating_mul(2);
    steady.saturating_add(usize::try_from(growth).unwrap_or(usize::MAX))
}

/// A tuning connection's state.
#[derive(Debug)]
pub(crate) struct Tuning {
    /// Receive-buffer tuning's measurements; `None` without `recv_buffer_max`, or once the handshake did not
    /// agree window scaling.
    pub(crate) receive: Option<Autotune>,
    /// What tuning took from the budget it shares (`tuning_budget.rs`), given back when dropped.
    pub(crate) grant: Grant,
}

impl Tuning {
    /// The state for a connection with `config`, if it tunes anything.
    pub(crate) fn for_config(config: &TcpConfig) -> Option<Self> {
        let receive = config
            .recv_buffer_max
            .filter(|&max| max > config.recv_buffer && config.window_scale)
            .map(|_| Autotune::default());
        let send = config.send_buffer_max.is_some_and(|max| max > config.send_buffer);
        (receive.is_some() || send)
            .then(|| Self { receive, grant: Grant::new(TuningBudget::new(config.autotune_budget)) })
    }
}

/// Receive-buffer tuning's measurements.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Autotune {
    /// The receiver's round trip: smoothed from TSecr samples, or the least window time (zero until the first
    /// sample).
    rtt: Nanos,
    /// When the current measurement began.
    since: Nanos,
    /// Bytes the application read since then.
    pub(crate) copied: usize,
    /// The most a round read (zero until the first round ends: then [`FIRST_RECORD_SEGMENTS`]).
    record: usize,
    /// When the next data segment is looked at: the round's end (zero before the first look; measuring by
    /// windows, [`Nanos::NEVER`] from then until the first sample).
    pub(crate) next: Nanos,
    /// Measuring by windows: the sequence number whose arrival completes the window being timed (before the
    /// first, `next` is zero: the first data segment starts one).
    window_end: SeqNumber,
    /// Measuring by windows: when the window being timed began; [`Nanos::NEVER`] when none is.
    window_start: Nanos,
}

impl Default for Autotune {
    fn default() -> Self {
        Self {
            rtt: Nanos::ZERO,
            since: Nanos::ZERO,
            copied: 0,
            record: 0,
            next: Nanos::ZERO,
            window_end: SeqNumber(0),
            window_start: Nanos::NEVER,
        }
    }
}

impl Autotune {
    /// The receiver's round-trip estimate (zero until the first sample).
    #[cfg(test)]
    pub(crate) fn round_trip(&self) -> Nanos {
        self.rtt
    }

    /// Whether the data segment that just took RCV.NXT to `rcv_nxt` is one to look at: the first after the
    /// round's end, or, measuring `by_window` (the connection has no timestamps), one at or past the timed
    /// window's end.
    #[inline(always)]
    pub(crate) fn due(&self, now: Nanos, rcv_nxt: SeqNumber, by_window: bool) -> bool {
        now >= self.next || (by_window && rcv_nxt >= self.window_end)
    }

    /// Measuring by windows: ends the window being timed if RCV.NXT reached its end (the time it took, at least
    /// 1 ms as with timestamps, is the sample returned) and starts timing the next: the `window` we last
    /// advertised, beyond RCV.NXT. A window under `least` (an MSS) is not timed: a closed one would be
    /// "completed" by the next segment to arrive, a duplicate say, in no time, and the least sample would hold
    /// the estimate there for good. The next data segment past it tries again.
    fn time_window(&mut self, now: Nanos, rcv_nxt: SeqNumber, window: u32, least: u32) -> Option<Nanos> {
        let timing = !self.window_start.is_never();
        if timing && rcv_nxt < self.window_end {
            return None;
        }
        let sample = timing.then(|| now.saturating_sub(self.window_start).max(MIN_RTT));
        self.window_end = rcv_nxt + window;
        self.window_start = if window >= least { now } else { Nanos::NEVER };
        sample
    }
}

impl TcpConnection {
    /// The handshake did not agree window scaling, which receive-buffer tuning needs.
    pub(super) fn stop_receive_tuning(&mut self) {
        if let Some(tuning) = self.tuning.as_mut() {
            tuning.receive = None;
        }
    }

    /// An ACK arrived after a push found the send buffer full, on a connection with `send_buffer_max`: outside
    /// loss recovery, the buffer grows to twice the congestion window, at most the maximum. Out of line: only a
    /// sender that fills its buffer comes here, once per push that found it full.
    #[cold]
    #[inline(never)]
    pub(super) fn autotune_send_buffer(&mut self) {
        self.send_buffer.take_filled();
        let (Some(most), Some(tuning)) = (self.config.send_buffer_max, self.tuning.as_mut()) else { return };
        if self.recovery.in_recovery {
            return;
        }
        let capacity = self.send_buffer.capacity();
        let wanted = self.congestion.window().saturating_mul(2).min(most);
        let granted = tuning.grant.take(wanted.saturating_sub(capacity));
        if granted > 0 {
            self.send_buffer.grow_to(capacity + granted);
            self.counters.send_buffer_grown += 1;
        }
    }

    /// A data segment [`Autotune::due`] picked arrived (after it was handled): takes the round trip its TSecr
    /// tells, or the time the window it completes took, and at the end of each round trip grows the buffer if
    /// the application read more than half of it. Out of line: about once per round trip, on connections with
    /// `recv_buffer_max`.
    #[cold]
    #[inline(never)]
    pub(super) fn autotune_on_data(&mut self, now: Nanos, segment: &TcpRepr<'_>) {
        let by_window = self.timestamps.is_none();
        let Some(Tuning { receive: Some(tune), grant }) = self.tuning.as_deref_mut() else { return };
        let sample = if by_window {
            let window = self.rcv_adv.distance_from(self.ack.last_ack_sent).max(0) as u32;
            tune.time_window(now, self.rcv_nxt, window, u32::from(self.config.mss))
        } else {
            match (self.timestamps.as_ref(), segment.options.timestamps) {
                (Some(timestamps), Some(theirs)) if theirs.echo_reply != 0 => {
                    timestamps.rtt(now, theirs.echo_reply).map(|sample| sample.max(MIN_RTT))
                }
                _ => None,
            }
        };
        if let Some(sample) = sample {
            tune.rtt = if tune.rtt == Nanos::ZERO {
                // The first round begins: what was read before it does not count in it.
                (tune.since, tune.copied) = (now, 0);
                sample
            } else if by_window {
                tune.rtt.min(sample)
            } else {
                Nanos::from_nanos((tune.rtt.as_nanos() * 7 + sample.as_nanos()) / 8)
            };
        }
        if tune.rtt == Nanos::ZERO {
            if by_window {
                tune.next = Nanos::NEVER;
            }
            return;
        }
        if now.saturating_sub(tune.since) >= tune.rtt {
            let mss = usize::from(self.config.effective_mss());
            let record = if tune.record == 0 { mss * FIRST_RECORD_SEGMENTS } else { tune.record };
            if tune.copied > record {
                let most = self.config.recv_buffer_max.unwrap_or(self.rcv_buffer);
                let wanted = wanted_buffer(tune.copied, record, mss).min(most);
                let granted = grant.take(wanted.saturating_sub(self.rcv_buffer));
                if granted > 0 {
                    self.rcv_buffer += granted;
                    self.counters.recv_buffer_grown += 1;
                }
            }
            tune.record = record.max(tune.copied);
            (tune.since, tune.copied) = (now, 0);
        }
        tune.next = tune.since.saturating_add(tune.rtt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1460;

    fn ms(n: u64) -> Nanos {
        Nanos::from_millis(n)
    }

    #[test]
    fn the_buffer_wanted_is_twice_the_round_and_a_cushion_and_more_for_a_round_that_outgrew_the_record() {
        let cushion = 16 * 1460;
        // A round that read just over the record: about twice it, and the cushion.
        assert_eq!(wanted_buffer(100_001, 100_000, 1460), 200_002 + cushion + 2 * (200_002 + cushion) / 100_000);
        // Twice the record (a sender in slow start): the steady size three times over.
        assert_eq!(wanted_buffer(200_000, 100_000, 1460), 3 * (400_000 + cushion));
        // Huge values saturate instead of overflowing.
        assert_eq!(wanted_buffer(usize::MAX, 1, 1460), usize::MAX);
    }

    #[test]
    fn a_window_is_timed_from_the_segment_that_starts_it_to_the_one_that_reaches_its_end() {
        let mut tune = Autotune::default();
        let start = SeqNumber(1000);
        assert_eq!(tune.time_window(ms(10), start, 10 * MSS, MSS), None, "the first only starts one");
        assert_eq!(tune.time_window(ms(25), start + 9 * MSS, 10 * MSS, MSS), None);
        tune.next = Nanos::NEVER;
        assert!(!tune.due(ms(29), start + 10 * MSS - 1, true), "short of the end");
        assert!(tune.due(ms(30), start + 10 * MSS, true), "at the end");
        assert_eq!(tune.time_window(ms(30), start + 10 * MSS, 10 * MSS, MSS), Some(ms(20)));
        // The next one began with that segment; a quick one reads at least 1 ms.
        assert_eq!(tune.time_window(Nanos::from_nanos(30_000_100), start + 20 * MSS, 10 * MSS, MSS), Some(ms(1)));
    }

    #[test]
    fn a_closed_window_is_not_timed_and_the_next_segment_tries_again() {
        let mut tune = Autotune::default();
        let edge = SeqNumber(5000);
        assert_eq!(tune.time_window(ms(10), edge, 0, MSS), None);
        // A duplicate 1 us later would have "completed" a window of nothing: no sample, and still none timed.
        tune.next = Nanos::NEVER;
        assert!(tune.due(Nanos::from_nanos(10_001_000), edge, true), "any data segment tries again");
        assert_eq!(tune.time_window(Nanos::from_nanos(10_001_000), edge, 0, MSS), None);
        // The window opens: timed from the segment that finds it open.
        assert_eq!(tune.time_window(ms(200), edge, 4 * MSS, MSS), None);
        assert_eq!(tune.time_window(ms(230), edge + 4 * MSS, 4 * MSS, MSS), Some(ms(30)));
    }
}
