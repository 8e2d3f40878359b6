//! Congestion control behind one trait, [`CongestionControl`]: the connection reports acknowledgments, loss
//! and timeouts; the controller answers with a congestion window and slow-start threshold.
//!
//! Three controllers: [`Cubic`] (RFC 9438, the default), [`NewReno`] (RFC 5681) and [`Dctcp`] (RFC 8257: NewReno
//! whose ECN response scales with the fraction of marked bytes). They share slow start with
//! byte counting (RFC 3465) without the L = 2 SMSS cap per ACK: a polled stack handles received segments in
//! batches and acknowledges a batch with one stretch ACK, so (as Linux does) every acknowledged byte counts. For
//! both, HyStart++ (RFC 9406, `hystart.rs`) may end the first slow start before a loss does. Fast recovery itself (which
//! segment to resend, window inflation, the SACK pipe) is the connection's job (see [`super::recovery`]); a
//! controller only decides window sizes.

mod cubic;
mod dctcp;
mod hystart;
mod newreno;

use std::fmt;

pub use cubic::Cubic;
pub use dctcp::Dctcp;
pub(crate) use hystart::{Growth, HyStart};
pub use newreno::NewReno;

use super::{CongestionAlgorithm, Nanos};

/// A congestion controller. Windows are in bytes, counted in segments of `mss` (set at construction, changed by
/// [`CongestionControl::set_mss`]).
pub trait CongestionControl: fmt::Debug {
    /// The congestion window, cwnd.
    fn window(&self) -> usize;
    /// The slow-start threshold, ssthresh.
    fn slow_start_threshold(&self) -> usize;
    /// `acked` bytes of new data were acknowledged outside loss recovery. `flight` is what was outstanding
    /// before this ACK; `rtt` the smoothed round-trip time (if measured).
    fn on_ack(&mut self, now: Nanos, acked: usize, flight: usize, rtt: Option<Nanos>);
    /// Loss was detected by duplicate ACKs or SACK (entry into fast recovery): reduce ssthresh and cwnd once.
    fn on_loss(&mut self, now: Nanos, flight: usize);
    /// Fast recovery ended (a full ACK, RFC 6582 §3.2 step 3).
    fn on_recovery_end(&mut self, now: Nanos);
    /// The retransmission timer expired. `first` is false for further expiries of the same segment, which must
    /// not lower ssthresh again (RFC 5681 §3.1 eq. 4).
    fn on_timeout(&mut self, now: Nanos, flight: usize, first: bool);
    /// Sending resumes with nothing in flight after `idle` without sending: the application had nothing to
    /// send, so no ACK could update the window. A controller whose window is a function of time must not count
    /// that time (RFC 9438 §5.8).
    fn on_send_resumed(&mut self, now: Nanos, idle: Nanos);
    /// The connection restarts after an idle period longer than the retransmission timeout: cwnd falls to at
    /// most `window`, the restart window (RFC 5681 §4.1); ssthresh stays.
    fn on_idle_restart(&mut self, window: usize);
    /// The first slow start ended without a loss (HyStart++, RFC 9406): ssthresh becomes cwnd and congestion
    /// avoidance begins from this window.
    fn end_slow_start(&mut self, now: Nanos);
    /// An ECN-Echo asks for a cut (at most once per window of data, RFC 3168 §6.1.2): by default the response to
    /// a loss, without the recovery.
    fn on_ecn_echo(&mut self, now: Nanos, flight: usize) {
        self.on_loss(now, flight);
        self.on_recovery_end(now);
    }
    /// The segment size changed to `mss` (path MTU discovery, a black hole, an MTU probe). The windows keep
    /// their segments where it shrank and their bytes where it grew: a change never puts more bytes in flight
    /// (Linux counts its windows in packets, and scales them down to keep the bytes after a successful MTU
    /// probe). A window of one segment before is one segment after (RFC 5681's loss window is one SMSS).
    fn set_mss(&mut self, mss: usize);
    /// An observation window of DCTCP (RFC 8257 §3.3, about one round trip) ended: `acked` bytes were
    /// acknowledged in it, `marked` of them by ACKs with ECE. Only DCTCP keeps this.
    fn on_ecn_window(&mut self, _acked: usize, _marked: usize) {}
}

/// The initial window (RFC 6928 with `segments` = 10; never under 2 segments).
pub(crate) fn initial_window(mss: usize, segments: u32) -> usize {
    mss.saturating_mul(segments.max(2) as usize)
}

/// A controller of the given kind for a connection with this MSS and initial window.
pub(crate) fn new_controller(algorithm: CongestionAlgorithm, mss: usize, initial_window_segments: u32) -> Controller {
    let initial = initial_window(mss, initial_window_segments);
    match algorithm {
        CongestionAlgorithm::Cubic => Controller::Cubic(Cubic::new(mss, initial)),
        CongestionAlgorithm::NewReno => Controller::NewReno(NewReno::new(mss, initial)),
        CongestionAlgorithm::Dctcp => Controller::Dctcp(Dctcp::new(mss, initial)),
    }
}

/// The connection's controller: one of the three, held inline and dispatched by a `match` that inlines (a
/// `Box<dyn CongestionControl>` cost an allocation per connection and an indirect call per window query, several
/// per segment).
#[derive(Clone, Debug)]
pub(crate) enum Controller {
    Cubic(Cubic),
    NewReno(NewReno),
    Dctcp(Dctcp),
}

impl CongestionControl for Controller {
    #[inline]
    fn window(&self) -> usize {
        match self {
            Self::Cubic(c) => c.window(),
            Self::NewReno(c) => c.window(),
            Self::Dctcp(c) => c.window(),
        }
    }

    #[inline]
    fn slow_start_threshold(&self) -> usize {
        match self {
            Self::Cubic(c) => c.slow_start_threshold(),
            Self::NewReno(c) => c.slow_start_threshold(),
            Self::Dctcp(c) => c.slow_start_threshold(),
        }
    }

    #[inline]
    fn on_ack(&mut self, now: Nanos, acked: usize, flight: usize, rtt: Option<Nanos>) {
        match self {
            Self::Cubic(c) => c.on_ack(now, acked, flight, rtt),
            Self::NewReno(c) => c.on_ack(now, acked, flight, rtt),
            Self::Dctcp(c) => c.on_ack(now, acked, flight, rtt),
        }
    }

    fn on_loss(&mut self, now: Nanos, flight: usize) {
        match self {
            Self::Cubic(c) => c.on_loss(now, flight),
            Self::NewReno(c) => c.on_loss(now, flight),
            Self::Dctcp(c) => c.on_loss(now, flight),
        }
    }

    fn on_recovery_end(&mut self, now: Nanos) {
        match self {
            Self::Cubic(c) => c.on_recovery_end(now),
            Self::NewReno(c) => c.on_recovery_end(now),
            Self::Dctcp(c) => c.on_recovery_end(now),
        }
    }

    fn on_timeout(&mut self, now: Nanos, flight: usize, first: bool) {
        match self {
            Self::Cubic(c) => c.on_timeout(now, flight, first),
            Self::NewReno(c) => c.on_timeout(now, flight, first),
            Self::Dctcp(c) => c.on_timeout(now, flight, first),
        }
    }

    #[inline]
    fn on_send_resumed(&mut self, now: Nanos, idle: Nanos) {
        match self {
            Self::Cubic(c) => c.on_send_resumed(now, idle),
            Self::NewReno(c) => c.on_send_resumed(now, idle),
            Self::Dctcp(c) => c.on_send_resumed(now, idle),
        }
    }

    fn on_idle_restart(&mut self, window: usize) {
        match self {
            Self::Cubic(c) => c.on_idle_restart(window),
            Self::NewReno(c) => c.on_idle_restart(window),
            Self::Dctcp(c) => c.on_idle_restart(window),
        }
    }

    fn end_slow_start(&mut self, now: Nanos) {
        match self {
            Self::Cubic(c) => c.end_slow_start(now),
            Self::NewReno(c) => c.end_slow_start(now),
            Self::Dctcp(c) => c.end_slow_start(now),
        }
    }

    fn on_ecn_echo(&mut self, now: Nanos, flight: usize) {
        match self {
            Self::Cubic(c) => c.on_ecn_echo(now, flight),
            Self::NewReno(c) => c.on_ecn_echo(now, flight),
            Self::Dctcp(c) => c.on_ecn_echo(now, flight),
        }
    }

    fn set_mss(&mut self, mss: usize) {
        match self {
            Self::Cubic(c) => c.set_mss(mss),
            Self::NewReno(c) => c.set_mss(mss),
            Self::Dctcp(c) => c.set_mss(mss),
        }
    }

    fn on_ecn_window(&mut self, acked: usize, marked: usize) {
        if let Self::Dctcp(c) = self {
            c.on_ecn_window(acked, marked);
        }
    }
}

/// `bytes` counted in segments of `from` bytes, in segments of `to`: the same segments where `to` is smaller, the
/// same bytes where it is larger (see [`CongestionControl::set_mss`]). `usize::MAX` (no threshold) stays.
pub(crate) fn rescale(bytes: usize, from: usize, to: usize) -> usize {
    if bytes == usize::MAX || to >= from {
        bytes
    } else {
        (bytes / from).saturating_mul(to) + (bytes % from) * to / from
    }
}

/// Slow start growth with byte counting (RFC 3465 §2.1): how much cwnd grows for an ACK of `acked` bytes.
/// Capped at L segments per ACK, so a single huge stretch ACK cannot release a burst.
pub(crate) fn slow_start_increase(acked: usize, mss: usize) -> usize {
    acked.min(SLOW_START_LIMIT * mss)
}

/// L, the most segments one ACK may grow the window by in slow start: one initial window. RFC 3465's L = 2
/// would starve a receiver that acknowledges each batch with one stretch ACK, and RFC 9406 asks 8 of a sender
/// that does not pace; with 8, such a receiver's ACKs (13 in the first 120 ms of a 10 ms path in
/// `window_scaling_allows_more_than_64k_in_flight`) opened the window a fifth less.
pub(crate) const SLOW_START_LIMIT: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_segment_size_keeps_the_segments_when_smaller_and_the_bytes_when_larger() {
        let now = Nanos::from_secs(1);
        for algorithm in [CongestionAlgorithm::Cubic, CongestionAlgorithm::NewReno, CongestionAlgorithm::Dctcp] {
            let mut controller = new_controller(algorithm, 1460, 10);
            assert_eq!(controller.window(), 14_600);
            controller.set_mss(512);
            assert_eq!(controller.window(), 5120, "{algorithm:?}: ten segments of 512");
            assert_eq!(controller.slow_start_threshold(), usize::MAX, "{algorithm:?}: no threshold yet");
            controller.on_loss(now, 5120);
            let threshold = controller.slow_start_threshold();
            controller.set_mss(1024);
            assert!(controller.window() <= 5120 / 2 + 1024, "{algorithm:?}: never more bytes");
            assert_eq!(controller.slow_start_threshold(), threshold, "{algorithm:?}: the same bytes");
            controller.on_timeout(now, 1024, true);
            assert_eq!(controller.window(), 1024, "{algorithm:?}: a loss window of one new segment");
            controller.set_mss(256);
            assert_eq!(controller.window(), 256, "{algorithm:?}: one segment stays one segment");
        }
    }

    #[test]
    fn rescaling_keeps_segments_down_and_bytes_up() {
        assert_eq!(rescale(14_600, 1460, 512), 5120);
        assert_eq!(rescale(14_601, 1460, 512), 5120);
        assert_eq!(rescale(5120, 512, 1460), 5120);
        assert_eq!(rescale(usize::MAX, 1460, 512), usize::MAX);
    }
}
