//! [`RttEstimator`]: the smoothed round-trip time and retransmission timeout of RFC 6298, with exponential
//! backoff (§5.5) and the bounds of [`super::TcpConfig`].
//!
//! Not for choosing which samples are valid (Karn's rule, RFC 6298 §3): the connection only feeds samples from
//! timestamps (RFC 7323 §4) or from segments that were never retransmitted.

use std::time::Duration;

use super::Nanos;

/// Clock granularity G of RFC 6298 §2 (the timestamp clock ticks in milliseconds).
const CLOCK_GRANULARITY: Nanos = Nanos::from_millis(1);

/// The largest sample for which SRTT·7 + R' cannot saturate, so that an SRTT equal to the sample is a fixed
/// point of RFC 6298's averages (half a year; samples are at most minutes).
const MAX_STEADY_RTT: Nanos = Nanos::from_nanos(u64::MAX / 8);

/// SRTT, RTTVAR and the RTO.
///
/// The arithmetic runs on integer nanoseconds and saturates (where `Duration` would go on, only for samples of
/// decades). The results are those of RFC 6298's formulas in `Duration`s, to the nanosecond: the divisions are
/// by 2, 4 and 8, which divide 10^9, so `Duration`'s split division rounds exactly as the integer one.
#[derive(Clone, Debug)]
pub(crate) struct RttEstimator {
    srtt: Option<Nanos>,
    rttvar: Nanos,
    /// The RTO before backoff.
    base_rto: Nanos,
    /// How many times the RTO has been doubled since the last valid sample.
    backoff: u32,
    /// The current timeout, backoff included: `base_rto · 2^backoff`, at most `max_rto` (kept, as every ACK
    /// that leaves data outstanding restarts the retransmission timer with it).
    rto: Nanos,
    min_rto: Nanos,
    max_rto: Nanos,
}

impl RttEstimator {
    pub(crate) fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        let min_rto = Nanos::from_duration(min_rto);
        let max_rto = Nanos::from_duration(max_rto).max(min_rto);
        let base_rto = Nanos::from_duration(initial_rto).clamp(min_rto, max_rto);
        Self { srtt: None, rttvar: Nanos::ZERO, base_rto, backoff: 0, rto: base_rto, min_rto, max_rto }
    }

    /// The smoothed RTT, once measured.
    #[inline]
    pub(crate) fn srtt(&self) -> Option<Nanos> {
        self.srtt
    }

    /// The current timeout, backoff included.
    #[inline]
    pub(crate) fn rto(&self) -> Nanos {
        self.rto
    }

    /// The bounds of the timeout (the configured ones; the maximum at least the minimum).
    pub(crate) fn min_rto(&self) -> Nanos {
        self.min_rto
    }

    pub(crate) fn max_rto(&self) -> Nanos {
        self.max_rto
    }

    /// Takes a measurement (RFC 6298 §2.2-2.3) and clears the backoff (§5.7's "new RTT sample").
    pub(crate) fn sample(&mut self, rtt: Nanos) {
        if self.srtt == Some(rtt) && self.rttvar == Nanos::ZERO && rtt <= MAX_STEADY_RTT {
            // The steady state of a path whose samples do not vary (a sub-millisecond path measured by
            // millisecond timestamps reads 0 every time): the formulas below give back SRTT, RTTVAR 0 and the
            // same base RTO, so only the backoff needs clearing.
            self.backoff = 0;
            self.rto = self.base_rto;
            return;
        }
        let srtt = match self.srtt {
            None => {
                self.rttvar = rtt.div(2);
                rtt
            }
            Some(srtt) => {
                // RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT = 7/8 SRTT + 1/8 R'.
                let difference = srtt.saturating_sub(rtt).max(rtt.saturating_sub(srtt));
                self.rttvar = self.rttvar.saturating_mul(3).saturating_add(difference).div(4);
                srtt.saturating_mul(7).saturating_add(rtt).div(8)
            }
        };
        self.srtt = Some(srtt);
        let rto = srtt.saturating_add(self.rttvar.saturating_mul(4).max(CLOCK_GRANULARITY));
        self.base_rto = rto.clamp(self.min_rto, self.max_rto);
        self.backoff = 0;
        self.rto = self.base_rto;
    }

    /// Forgets the backoff: the expiries that built it are explained otherwise (an MTU black hole's).
    pub(crate) fn clear_backoff(&mut self) {
        self.backoff = 0;
        self.rto = self.base_rto;
    }

    /// Doubles the timeout after an expiry (RFC 6298 §5.5), up to the maximum.
    pub(crate) fn back_off(&mut self) {
        if self.rto < self.max_rto {
            self.backoff += 1;
            let factor = 1u64.checked_shl(self.backoff.min(31)).unwrap_or(u64::MAX);
            self.rto = self.base_rto.saturating_mul(factor).min(self.max_rto);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn follows_rfc_6298() {
        let mut rtt = RttEstimator::new(Duration::from_secs(1), ms(200), Duration::from_secs(60));
        assert_eq!(rtt.rto().as_duration(), Duration::from_secs(1));
        rtt.sample(Nanos::from_duration(ms(100)));
        // SRTT 100, RTTVAR 50: RTO = 100 + 200 = 300 ms.
        assert_eq!((rtt.srtt().map(Nanos::as_duration), rtt.rto().as_duration()), (Some(ms(100)), ms(300)));
        rtt.sample(Nanos::from_duration(ms(100)));
        // RTTVAR = 3/4 * 50 = 37.5: RTO = 100 + 150.
        assert_eq!(rtt.rto().as_duration(), ms(250));
        for _ in 0..50 {
            rtt.sample(Nanos::from_duration(ms(10)));
        }
        assert_eq!(rtt.rto().as_duration(), ms(200), "clamped to the minimum");
    }

    /// The integer arithmetic gives what RFC 6298's formulas give in `Duration`s, to the nanosecond.
    #[test]
    fn integer_arithmetic_matches_duration_arithmetic() {
        let (min, max) = (Duration::from_nanos(1), Duration::from_secs(60));
        let mut rtt = RttEstimator::new(Duration::from_secs(1), min, max);
        let (mut srtt, mut rttvar) = (None::<Duration>, Duration::ZERO);
        let mut sample = 987_654_321u64;
        for _ in 0..1000 {
            sample = sample.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let r = Duration::from_nanos(sample % 3_000_000_007);
            rtt.sample(Nanos::from_duration(r));
            match srtt {
                None => (srtt, rttvar) = (Some(r), r / 2),
                Some(s) => {
                    rttvar = (rttvar * 3 + s.abs_diff(r)) / 4;
                    srtt = Some((s * 7 + r) / 8);
                }
            }
            let rto = (srtt.unwrap() + (rttvar * 4).max(ms(1))).clamp(min, max);
            assert_eq!((rtt.srtt().map(Nanos::as_duration), rtt.rto().as_duration()), (srtt, rto));
        }
    }

    /// Repeated equal samples reach the fixed point that [`RttEstimator::sample`] skips to, with the same
    /// results as the formulas, and a sample there still clears the backoff.
    #[test]
    fn steady_samples_match_duration_arithmetic() {
        for (first, steady) in [(ms(7), Duration::ZERO), (ms(3), ms(1)), (ms(400), ms(250))] {
            let (min, max) = (Duration::from_nanos(1), Duration::from_secs(60));
            let mut rtt = RttEstimator::new(Duration::from_secs(1), min, max);
            rtt.sample(Nanos::from_duration(first));
            let (mut srtt, mut rttvar) = (first, first / 2);
            for _ in 0..300 {
                rtt.sample(Nanos::from_duration(steady));
                rttvar = (rttvar * 3 + srtt.abs_diff(steady)) / 4;
                srtt = (srtt * 7 + steady) / 8;
                let rto = (srtt + (rttvar * 4).max(ms(1))).clamp(min, max);
                assert_eq!((rtt.srtt().map(Nanos::as_duration), rtt.rto().as_duration()), (Some(srtt), rto));
            }
            assert_eq!((srtt, rttvar), (steady, Duration::ZERO), "the fixed point was reached");
            rtt.back_off();
            rtt.sample(Nanos::from_duration(steady));
            assert_eq!(rtt.rto().as_duration(), (steady + ms(1)).clamp(min, max), "the backoff is cleared");
        }
    }

    #[test]
    fn backs_off_to_the_maximum_and_resets_on_a_sample() {
        let mut rtt = RttEstimator::new(Duration::from_secs(1), ms(200), Duration::from_secs(60));
        let mut seen = Vec::new();
        for _ in 0..10 {
            rtt.back_off();
            seen.push(rtt.rto().as_duration().as_secs());
        }
        assert_eq!(seen, [2, 4, 8, 16, 32, 60, 60, 60, 60, 60]);
        rtt.sample(Nanos::from_duration(ms(50)));
        assert_eq!(rtt.rto().as_duration(), ms(200));
    }
}
