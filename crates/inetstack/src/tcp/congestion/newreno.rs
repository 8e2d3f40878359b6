//! [`NewReno`]: slow start and congestion avoidance of RFC 5681 §3.1 with byte counting; the window halves on
//! loss and falls to one segment on a timeout. Recovery mechanics (RFC 6582) are in the connection.

use super::{CongestionControl, rescale, slow_start_increase};
use crate::tcp::Nanos;

/// The standard TCP congestion controller.
#[derive(Clone, Debug)]
pub struct NewReno {
    mss: usize,
    cwnd: usize,
    ssthresh: usize,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew (RFC 5681 §3.1, RFC 3465).
    bytes_acked: usize,
}

impl NewReno {
    pub fn new(mss: usize, initial_window: usize) -> Self {
        let mss = mss.max(1);
        Self { mss, cwnd: initial_window.max(mss), ssthresh: usize::MAX, bytes_acked: 0 }
    }

    fn reduced_threshold(&self, flight: usize) -> usize {
        (flight / 2).max(2 * self.mss)
    }

    /// Sets cwnd and ssthresh to `window` (at least two segments): a reduction decided elsewhere (DCTCP's).
    pub(super) fn reduce_to(&mut self, window: usize) {
        self.ssthresh = window.max(2 * self.mss);
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
    }
}

impl CongestionControl for NewReno {
    #[inline]
    fn window(&self) -> usize {
        self.cwnd
    }

    fn slow_start_threshold(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, _now: Nanos, acked: usize, _flight: usize, _rtt: Option<Nanos>) {
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(slow_start_increase(acked, self.mss));
            return;
        }
        // Congestion avoidance: one MSS per window of acknowledged bytes.
        self.bytes_acked += acked;
        if self.bytes_acked >= self.cwnd {
            self.bytes_acked -= self.cwnd;
            self.cwnd = self.cwnd.saturating_add(self.mss);
        }
    }

    fn on_loss(&mut self, _now: Nanos, flight: usize) {
        self.ssthresh = self.reduced_threshold(flight);
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
    }

    fn on_recovery_end(&mut self, _now: Nanos) {
        self.cwnd = self.ssthresh;
    }

    fn on_timeout(&mut self, _now: Nanos, flight: usize, first: bool) {
        if first {
            self.ssthresh = self.reduced_threshold(flight);
        }
        self.cwnd = self.mss;
        self.bytes_acked = 0;
    }

    /// Nothing to do: NewReno's window is not a function of time, only of what is acknowledged, and an idle
    /// connection receives no ACKs.
    #[inline]
    fn on_send_resumed(&mut self, _now: Nanos, _idle: Nanos) {}

    fn on_idle_restart(&mut self, window: usize) {
        if window < self.cwnd {
            self.cwnd = window.max(self.mss);
            self.bytes_acked = 0;
        }
    }

    fn end_slow_start(&mut self, _now: Nanos) {
        self.ssthresh = self.cwnd;
        self.bytes_acked = 0;
    }

    fn set_mss(&mut self, mss: usize) {
        let (from, to) = (self.mss, mss.max(1));
        self.cwnd = rescale(self.cwnd, from, to).max(to);
        self.ssthresh = rescale(self.ssthresh, from, to);
        self.bytes_acked = rescale(self.bytes_acked, from, to);
        self.mss = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_linear_growth_then_halving() {
        let now = Nanos::from_secs(1);
        let mut reno = NewReno::new(1000, 10_000);
        reno.on_ack(now, 1000, 10_000, None);
        assert_eq!(reno.window(), 11_000);
        reno.on_ack(now, 2000, 10_000, None);
        assert_eq!(reno.window(), 13_000, "byte counting: a stretch ACK counts every byte");
        reno.on_loss(now, 13_000);
        assert_eq!((reno.window(), reno.slow_start_threshold()), (6500, 6500));
        for _ in 0..6 {
            reno.on_ack(now, 1000, 6500, None);
        }
        assert_eq!(reno.window(), 6500);
        reno.on_ack(now, 1000, 6500, None);
        assert_eq!(reno.window(), 7500, "one MSS per cwnd of acknowledged bytes");
        reno.on_timeout(now, 7500, true);
        assert_eq!((reno.window(), reno.slow_start_threshold()), (1000, 3750));
        reno.on_timeout(now, 1000, false);
        assert_eq!(reno.slow_start_threshold(), 3750, "a repeated timeout keeps ssthresh");
        reno.on_loss(now, 1000);
        assert_eq!(reno.slow_start_threshold(), 2000, "never under two segments");
    }

    #[test]
    fn idle_restart_cuts_to_the_restart_window_only() {
        let now = Nanos::from_secs(1);
        let mut reno = NewReno::new(1000, 10_000);
        for _ in 0..3 {
            reno.on_ack(now, 10_000, 40_000, None);
        }
        assert_eq!(reno.window(), 40_000);
        reno.on_send_resumed(now, Nanos::from_secs(10));
        assert_eq!(reno.window(), 40_000, "idle time alone changes nothing");
        reno.on_idle_restart(10_000);
        assert_eq!((reno.window(), reno.slow_start_threshold()), (10_000, usize::MAX));
        reno.on_idle_restart(20_000);
        assert_eq!(reno.window(), 10_000, "never raised");
    }
}
