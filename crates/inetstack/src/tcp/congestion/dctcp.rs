//! [`Dctcp`]: Data Center TCP (RFC 8257). The sender measures the fraction of its bytes the network marked
//! Congestion Experienced, once per observation window (about one round trip), and keeps a moving average of
//! it, alpha; an ECN-Echo then cuts the window by alpha / 2 instead of half. With switches that mark at a
//! shallow queue threshold, the window settles where the queue stays near that threshold: full throughput with
//! a short queue. Growth, loss and timeouts are NewReno's (§3.3-3.4).
//!
//! The connection does the rest: the receiver's exact echo of each mark (`tcp/ecn.rs`), the observation
//! window's bookkeeping, and the one cut per window of data. DCTCP asks for ECN in the handshake whatever
//! `TcpConfig::ecn` says (as Linux's DCTCP does); without ECN agreed it is NewReno.

use super::{CongestionControl, NewReno};
use crate::tcp::Nanos;

/// The gain of alpha's moving average, g (RFC 8257 §4.2: 1/16).
const GAIN: f64 = 1.0 / 16.0;

/// The DCTCP controller.
#[derive(Clone, Debug)]
pub struct Dctcp {
    reno: NewReno,
    /// The moving average of the marked fraction, in [0, 1]; 1 at first (§3.3: cut by half until measured).
    alpha: f64,
}

impl Dctcp {
    pub fn new(mss: usize, initial_window: usize) -> Self {
        Self { reno: NewReno::new(mss, initial_window), alpha: 1.0 }
    }

    /// The moving average of the fraction of bytes marked CE.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
}

impl CongestionControl for Dctcp {
    #[inline]
    fn window(&self) -> usize {
        self.reno.window()
    }

    fn slow_start_threshold(&self) -> usize {
        self.reno.slow_start_threshold()
    }

    #[inline]
    fn on_ack(&mut self, now: Nanos, acked: usize, flight: usize, rtt: Option<Nanos>) {
        self.reno.on_ack(now, acked, flight, rtt);
    }

    fn on_loss(&mut self, now: Nanos, flight: usize) {
        self.reno.on_loss(now, flight);
    }

    fn on_recovery_end(&mut self, now: Nanos) {
        self.reno.on_recovery_end(now);
    }

    fn on_timeout(&mut self, now: Nanos, flight: usize, first: bool) {
        self.reno.on_timeout(now, flight, first);
    }

    #[inline]
    fn on_send_resumed(&mut self, now: Nanos, idle: Nanos) {
        self.reno.on_send_resumed(now, idle);
    }

    fn on_idle_restart(&mut self, window: usize) {
        self.reno.on_idle_restart(window);
    }

    fn end_slow_start(&mut self, now: Nanos) {
        self.reno.end_slow_start(now);
    }

    fn set_mss(&mut self, mss: usize) {
        self.reno.set_mss(mss);
    }

    /// §3.3: cwnd = cwnd × (1 − alpha / 2), and ssthresh with it.
    fn on_ecn_echo(&mut self, _now: Nanos, _flight: usize) {
        let window = self.reno.window() as f64 * (1.0 - self.alpha / 2.0);
        self.reno.reduce_to(window as usize);
    }

    /// §3.3: alpha = (1 − g) × alpha + g × M, M the fraction of the window's bytes acknowledged with ECE.
    fn on_ecn_window(&mut self, acked: usize, marked: usize) {
        if acked > 0 {
            let fraction = (marked.min(acked) as f64) / (acked as f64);
            self.alpha = (1.0 - GAIN) * self.alpha + GAIN * fraction;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_follows_the_marked_fraction_and_scales_the_cut() {
        let now = Nanos::from_secs(1);
        let mut dctcp = Dctcp::new(1000, 100_000);
        dctcp.on_ecn_echo(now, 100_000);
        assert_eq!((dctcp.window(), dctcp.slow_start_threshold()), (50_000, 50_000), "alpha starts at 1: half");
        for _ in 0..200 {
            dctcp.on_ecn_window(100_000, 10_000);
        }
        assert!((dctcp.alpha() - 0.1).abs() < 1e-3, "{}", dctcp.alpha());
        dctcp.on_ecn_echo(now, 50_000);
        let window = dctcp.window();
        assert!((47_450..=47_550).contains(&window), "a tenth marked: a twentieth cut, not {window}");
        dctcp.on_ecn_window(100_000, 0);
        assert!((dctcp.alpha() - 0.1 * 15.0 / 16.0).abs() < 1e-3, "one unmarked window: g = 1/16");
        dctcp.on_ecn_window(0, 0);
        assert!((dctcp.alpha() - 0.1 * 15.0 / 16.0).abs() < 1e-3, "an empty window changes nothing");
        for _ in 0..400 {
            dctcp.on_ecn_window(1000, 0);
        }
        dctcp.on_ecn_echo(now, window);
        assert!(dctcp.window() + 10 >= window, "alpha near 0: next to no cut ({window} to {})", dctcp.window());
        let mut small = Dctcp::new(1000, 2000);
        small.on_ecn_echo(now, 2000);
        assert_eq!(small.window(), 2000, "never under two segments");
    }
}
