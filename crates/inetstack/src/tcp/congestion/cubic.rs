//! [`Cubic`]: CUBIC congestion control (RFC 9438). After a loss, the window follows the cubic
//! `W(t) = C (t - K)^3 + W_max` in segments: fast towards the window where loss happened, flat around it, then
//! probing beyond; never slower than standard TCP would grow (the Reno-friendly region, §4.3).
//!
//! Implemented: slow start (shared with NewReno; the first one ended by HyStart++, RFC 9406, when the round trip
//! grows, after which the curve starts from that window, §4.10), the concave and convex regions (§4.2,
//! §4.4-4.5), the Reno-friendly estimate (§4.3), multiplicative decrease with beta = 0.7 (§4.6), fast
//! convergence (§4.7), the timeout response (§4.8), the epoch excluding idle time (§5.8) and the shared restart
//! after idle (RFC 5681 §4.1, decided by the connection). Undoing a spurious reduction (§4.9) is the
//! connection's: it keeps a copy of the controller from before the cut (`undo.rs` for a fast recovery,
//! `spurious_timeout.rs` for a timeout).

use super::{CongestionControl, rescale, slow_start_increase};
use crate::tcp::Nanos;

/// The cubic scaling constant C (segments / s^3).
const C: f64 = 0.4;
/// Multiplicative decrease factor.
const BETA: f64 = 0.7;

/// The state of one CUBIC congestion-avoidance epoch (the time since the last window reduction).
#[derive(Clone, Copy, Debug)]
struct Epoch {
    start: Nanos,
    /// Time for the cubic to climb back to `w_max`, in seconds.
    k: f64,
    /// The Reno-friendly window estimate, in segments.
    w_est: f64,
}

/// The CUBIC controller; windows are kept in segments internally and reported in bytes.
#[derive(Clone, Debug)]
pub struct Cubic {
    mss: usize,
    /// `mss` as a float, kept: every ACK needs it, and converting a `usize` to `f64` takes several instructions.
    mss_f64: f64,
    /// cwnd in segments (fractional, so that small per-ACK increases accumulate). Written only through
    /// [`Cubic::set_cwnd`].
    cwnd: f64,
    /// `cwnd` in bytes, as [`CongestionControl::window`] reports it: kept, since every transmit asks and the
    /// float-to-integer conversion is a dozen instructions.
    window: usize,
    /// The last slow-start increase, in bytes, and the same in segments. The quotient is the same for the same
    /// bytes, and most ACKs of a connection acknowledge as much as the one before (one request, one full
    /// segment): reusing it spares the floating-point division, whose latency held up every ACK.
    slow_start_step: (usize, f64),
    ssthresh: usize,
    /// The window just before the last reduction, in segments.
    w_max: f64,
    epoch: Option<Epoch>,
}

impl Cubic {
    pub fn new(mss: usize, initial_window: usize) -> Self {
        let mss = mss.max(1);
        let cwnd = (initial_window.max(mss) / mss) as f64;
        let mut cubic = Self {
            mss,
            mss_f64: mss as f64,
            cwnd,
            window: 0,
            slow_start_step: (0, 0.0),
            ssthresh: usize::MAX,
            w_max: 0.0,
            epoch: None,
        };
        cubic.set_cwnd(cwnd);
        cubic
    }

    /// Sets cwnd (in segments) and the window in bytes that follows from it.
    #[inline]
    fn set_cwnd(&mut self, cwnd: f64) {
        self.cwnd = cwnd;
        self.window = (cwnd * self.mss_f64) as usize;
    }

    /// W_max, in bytes: the window at the last congestion event.
    pub fn w_max(&self) -> usize {
        (self.w_max * self.mss_f64) as usize
    }

    /// K of the current epoch in seconds (when in congestion avoidance).
    pub fn k(&self) -> Option<f64> {
        self.epoch.map(|epoch| epoch.k)
    }

    /// W_cubic(t) in segments (RFC 9438 eq. 1).
    fn w_cubic(&self, seconds: f64, k: f64) -> f64 {
        C * (seconds - k).powi(3) + self.w_max
    }

    /// Multiplicative decrease with fast convergence (§4.6-4.7).
    fn reduce(&mut self) {
        let cwnd = self.cwnd;
        self.w_max = if cwnd < self.w_max { cwnd * (1.0 + BETA) / 2.0 } else { cwnd };
        let reduced = (cwnd * BETA).max(2.0);
        self.ssthresh = (reduced * self.mss_f64) as usize;
        self.epoch = None;
    }

    /// Growth along the cubic (out of line: slow start, the other half of [`Self::on_ack`], is a few
    /// instructions).
    #[inline(never)]
    fn congestion_avoidance(&mut self, now: Nanos, acked: usize, rtt: Option<Nanos>) {
        let cwnd = self.cwnd;
        let epoch = *self.epoch.get_or_insert_with(|| {
            let k = if cwnd < self.w_max { ((self.w_max - cwnd) / C).cbrt() } else { 0.0 };
            Epoch { start: now, k, w_est: cwnd }
        });
        if epoch.k == 0.0 && self.w_max < cwnd {
            self.w_max = cwnd;
        }
        let acked_segments = acked as f64 / self.mss_f64;
        let elapsed = now.saturating_sub(epoch.start).as_secs_f64();
        let rtt = rtt.map_or(0.1, |rtt| rtt.as_secs_f64());
        let target = self.w_cubic(elapsed + rtt, epoch.k).clamp(cwnd, 1.5 * cwnd);
        // Reno-friendly estimate: alpha = 3 (1 - beta) / (1 + beta) until W_max is reached, then 1 (§4.3).
        let alpha = if epoch.w_est < self.w_max { 3.0 * (1.0 - BETA) / (1.0 + BETA) } else { 1.0 };
        let w_est = epoch.w_est + alpha * acked_segments / cwnd;
        if let Some(current) = self.epoch.as_mut() {
            current.w_est = w_est;
        }
        if self.w_cubic(elapsed, epoch.k) < w_est {
            self.set_cwnd(w_est.max(cwnd));
        } else {
            self.set_cwnd(cwnd + (target - cwnd) / cwnd * acked_segments);
        }
    }
}

impl CongestionControl for Cubic {
    #[inline]
    fn window(&self) -> usize {
        self.window
    }

    fn slow_start_threshold(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, now: Nanos, acked: usize, _flight: usize, rtt: Option<Nanos>) {
        if self.window() < self.ssthresh {
            let increase = slow_start_increase(acked, self.mss);
            if increase != self.slow_start_step.0 {
                self.slow_start_step = (increase, increase as f64 / self.mss_f64);
            }
            self.set_cwnd(self.cwnd + self.slow_start_step.1);
            return;
        }
        self.congestion_avoidance(now, acked, rtt);
    }

    fn on_loss(&mut self, _now: Nanos, _flight: usize) {
        self.reduce();
        self.set_cwnd((self.ssthresh / self.mss) as f64);
    }

    fn on_recovery_end(&mut self, _now: Nanos) {
        self.set_cwnd(self.cwnd.max(2.0));
    }

    fn on_timeout(&mut self, _now: Nanos, _flight: usize, first: bool) {
        if first {
            self.reduce();
        }
        self.epoch = None;
        self.set_cwnd(1.0);
    }

    /// RFC 9438 §5.8: t in W_cubic(t) must not include the time the flow spent application-limited, or the
    /// window would leap towards (or far beyond) W_max on the first ACKs after it. The epoch starts `idle` later
    /// (never after `now`), as Linux's `bictcp_cwnd_event(CA_EVENT_TX_START)` shifts `epoch_start`; the curve
    /// resumes where it stood when sending stopped.
    #[inline]
    fn on_send_resumed(&mut self, now: Nanos, idle: Nanos) {
        if let Some(epoch) = self.epoch.as_mut() {
            epoch.start = epoch.start.saturating_add(idle).min(now);
        }
    }

    /// The window restarts (RFC 5681 §4.1), and with it the epoch: the next congestion avoidance starts a new
    /// curve from the window it then has towards the same W_max (as after a timeout, §4.8), rather than
    /// resuming one drawn for a window no longer in use.
    fn on_idle_restart(&mut self, window: usize) {
        let restart = window.max(self.mss) as f64 / self.mss_f64;
        if restart < self.cwnd {
            self.set_cwnd(restart);
            self.epoch = None;
        }
    }

    /// RFC 9438 §4.10: with no loss there is no W_max yet; the curve starts from this window, with W_max = cwnd
    /// and K = 0 (its plateau now, then growth beyond).
    fn end_slow_start(&mut self, _now: Nanos) {
        self.ssthresh = self.window;
        self.w_max = self.cwnd;
        self.epoch = None;
    }

    /// The windows are kept in segments: where the segments shrink they stay as they are; where they grow,
    /// cwnd and W_max shrink by the ratio, so that the bytes stay, and the curve starts again from them (its K
    /// was drawn for the old ones).
    fn set_mss(&mut self, mss: usize) {
        let (from, to) = (self.mss, mss.max(1));
        if to > from {
            let ratio = from as f64 / to as f64;
            self.w_max *= ratio;
            self.epoch = None;
            self.cwnd = (self.cwnd * ratio).max(1.0);
        }
        self.ssthresh = rescale(self.ssthresh, from, to);
        self.mss = to;
        self.mss_f64 = to as f64;
        self.slow_start_step = (0, 0.0);
        self.set_cwnd(self.cwnd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_cubic_curve_after_a_loss() {
        let start = Nanos::from_secs(1);
        let mss = 1000;
        let mut cubic = Cubic::new(mss, 100 * mss);
        cubic.on_loss(start, 100 * mss);
        assert_eq!(cubic.window(), 70 * mss, "beta = 0.7");
        assert_eq!(cubic.w_max(), 100 * mss);
        let rtt = Some(Nanos::from_millis(100));
        // One window of ACKs per RTT for 10 s; record the window each second.
        let mut per_second = Vec::new();
        let mut now = start;
        for step in 1..=100 {
            now = start.saturating_add(Nanos::from_millis(100 * step));
            let segments = cubic.window() / mss;
            for _ in 0..segments {
                cubic.on_ack(now, mss, cubic.window(), rtt);
            }
            if step % 10 == 0 {
                per_second.push(cubic.window() / mss);
            }
        }
        // K = cbrt(30 / 0.4) ~ 4.2 s: concave growth up to W_max, a plateau, then convex growth beyond it.
        let k = cubic.k().expect("in congestion avoidance");
        assert!((k - 4.217).abs() < 0.01, "K = {k}");
        assert!(per_second[0] > 70 && per_second[0] < 100, "{per_second:?}");
        let near_k = per_second[3..6].iter().all(|&w| (95..=106).contains(&w));
        assert!(near_k, "plateau around W_max: {per_second:?}");
        let early_growth = per_second[1] - per_second[0];
        let late_growth = per_second[9] - per_second[8];
        assert!(late_growth > early_growth, "convex beyond W_max: {per_second:?}");
        assert!(per_second[9] > 140, "{per_second:?}");
        let _ = now;
    }

    /// Slow start with the remembered step grows cwnd exactly as dividing on every ACK does, bit for bit,
    /// through runs of equal and changing increases (and increases capped at L segments).
    #[test]
    fn slow_start_step_matches_division_on_every_ack() {
        let now = Nanos::from_secs(1);
        for mss in [536, 1000, 1448, 1460, 8960] {
            let mut cubic = Cubic::new(mss, 10 * mss);
            let mut expected = 10.0f64;
            let mut state = u64::from(mss as u32);
            for ack in 0..5000u64 {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let acked = match ack % 7 {
                    0..=2 => 64,
                    3 => mss,
                    4 => (state >> 33) as usize % (12 * mss) + 1,
                    _ => (state >> 33) as usize % 3 + 63,
                };
                cubic.on_ack(now, acked, 0, None);
                expected += acked.min(super::super::SLOW_START_LIMIT * mss) as f64 / mss as f64;
                assert_eq!(cubic.cwnd.to_bits(), expected.to_bits(), "mss {mss}, ACK {ack} of {acked} bytes");
                assert_eq!(cubic.window(), (expected * mss as f64) as usize);
            }
        }
    }

    /// Runs `cubic` for `rtts` round trips of 100 ms from `from`, one window of one-segment ACKs per round
    /// trip; the window (in segments) after each.
    fn round_trips(cubic: &mut Cubic, from: Nanos, rtts: u64) -> Vec<usize> {
        let mss = cubic.mss;
        let rtt = Some(Nanos::from_millis(100));
        (1..=rtts)
            .map(|step| {
                let now = from.saturating_add(Nanos::from_millis(100 * step));
                for _ in 0..cubic.window() / mss {
                    cubic.on_ack(now, mss, cubic.window(), rtt);
                }
                cubic.window() / mss
            })
            .collect()
    }

    /// RFC 9438 §5.8: after 20 s with nothing to send, the flow resumes on its curve where it left it: its
    /// windows round trip by round trip are those of a twin that never paused, bit for bit. (Counting the
    /// pause, t would be far beyond K and the window would leap at once towards W_max and past it.)
    #[test]
    fn idle_time_does_not_count_in_the_epoch() {
        let start = Nanos::from_secs(1);
        let mss = 1000;
        let mut paused = Cubic::new(mss, 100 * mss);
        paused.on_loss(start, 100 * mss);
        round_trips(&mut paused, start, 10);
        let mut twin = paused.clone();
        let stopped = start.saturating_add(Nanos::from_secs(1));
        let idle = Nanos::from_secs(20);
        let resumed = stopped.saturating_add(idle);
        paused.on_send_resumed(resumed, idle);
        let after_pause = round_trips(&mut paused, resumed, 10);
        let without_pause = round_trips(&mut twin, stopped, 10);
        assert_eq!(after_pause, without_pause);
        assert_eq!(paused.cwnd.to_bits(), twin.cwnd.to_bits());
        // Still in the concave region, short of W_max = 100 (K ~ 4.2 s; 2 s of the epoch have run).
        assert!(after_pause[9] < 100, "{after_pause:?}");
    }

    /// The epoch never starts in the future, however long the idle time reported; without an epoch (slow
    /// start) there is nothing to shift.
    #[test]
    fn resuming_never_moves_the_epoch_past_now() {
        let start = Nanos::from_secs(1);
        let mut cubic = Cubic::new(1000, 10_000);
        cubic.on_send_resumed(start, Nanos::from_secs(5));
        assert!(cubic.epoch.is_none(), "slow start has no epoch");
        cubic.on_loss(start, 10_000);
        cubic.on_ack(start, 1000, 7000, None);
        let now = start.saturating_add(Nanos::from_secs(1));
        cubic.on_send_resumed(now, Nanos::from_secs(3));
        assert_eq!(cubic.epoch.map(|epoch| epoch.start), Some(now));
    }

    /// The restart after idle cuts cwnd to the restart window and starts the next epoch afresh (towards the
    /// same W_max); a window already below it is left alone.
    #[test]
    fn idle_restart_cuts_the_window_and_the_epoch() {
        let start = Nanos::from_secs(1);
        let mss = 1000;
        let mut cubic = Cubic::new(mss, 100 * mss);
        cubic.on_loss(start, 100 * mss);
        round_trips(&mut cubic, start, 5);
        let threshold = cubic.slow_start_threshold();
        cubic.on_idle_restart(10 * mss);
        assert_eq!(cubic.window(), 10 * mss);
        assert!(cubic.epoch.is_none());
        assert_eq!((cubic.slow_start_threshold(), cubic.w_max()), (threshold, 100 * mss), "ssthresh and W_max stay");
        cubic.on_idle_restart(20 * mss);
        assert_eq!(cubic.window(), 10 * mss, "never raised");
    }

    #[test]
    fn fast_convergence_and_timeout() {
        let now = Nanos::from_secs(1);
        let mut cubic = Cubic::new(1000, 50_000);
        cubic.on_loss(now, 50_000);
        assert_eq!(cubic.w_max(), 50_000);
        cubic.on_loss(now, 35_000);
        // A loss below the previous W_max releases bandwidth: W_max = 35 * (1 + 0.7) / 2.
        assert_eq!(cubic.w_max(), 29_750);
        cubic.on_timeout(now, 24_000, true);
        assert_eq!(cubic.window(), 1000);
        let threshold = cubic.slow_start_threshold();
        cubic.on_timeout(now, 1000, false);
        assert_eq!(cubic.slow_start_threshold(), threshold);
        cubic.on_ack(now, 1000, 1000, None);
        assert_eq!(cubic.window(), 2000, "slow start after a timeout");
    }
}
