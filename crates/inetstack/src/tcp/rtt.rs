//! [`RttEstimator`]: the smoothed round-trip time and retransmission timeout of RFC 6298, with exponential
//! backoff (§5.5) and the bounds of [`super::TcpConfig`].
//!
//! Not for choosing which samples are valid (Karn's rule, RFC 6298 §3): the connection only feeds samples from
//! timestamps (RFC 7323 §4) or from segments that were never retransmitted.

use std::time::Duration;

/// Clock granularity G of RFC 6298 §2 (the timestamp clock ticks in milliseconds), in nanoseconds.
const CLOCK_GRANULARITY_NS: u64 = 1_000_000;

/// The largest sample for which SRTT·7 + R' cannot saturate, so that an SRTT equal to the sample is a fixed
/// point of RFC 6298's averages (half a year; samples are at most minutes).
const MAX_STEADY_RTT: Duration = Duration::from_nanos(u64::MAX / 8);

/// SRTT, RTTVAR and the RTO.
///
/// The per-sample arithmetic runs on integer nanoseconds: `Duration`'s multiplications and divisions check
/// and normalise seconds and nanoseconds separately, several times the instructions of a `u64` shift or
/// multiply, and this runs on every ACK. The results are the same to the nanosecond: the divisions are by 2, 4
/// and 8, which divide 10^9, so `Duration`'s split division rounds exactly as the integer one.
#[derive(Clone, Debug)]
pub(crate) struct RttEstimator {
    srtt: Option<Duration>,
    /// RTTVAR, in nanoseconds.
    rttvar_ns: u64,
    /// The RTO before backoff.
    base_rto: Duration,
    /// How many times the RTO has been doubled since the last valid sample.
    backoff: u32,
    /// The current timeout, backoff included: `base_rto · 2^backoff`, at most `max_rto` (kept, as every ACK
    /// that leaves data outstanding restarts the retransmission timer with it).
    rto: Duration,
    min_rto: Duration,
    max_rto: Duration,
    /// `min_rto` and `max_rto` in nanoseconds (saturated), to bound an RTO computed in nanoseconds.
    min_rto_ns: u64,
    max_rto_ns: u64,
}

/// `duration` in nanoseconds, saturating (at 584 years; the arithmetic below saturates too, where `Duration`
/// would go on, only for samples of decades).
fn nanos(duration: Duration) -> u64 {
    duration.as_secs().saturating_mul(1_000_000_000).saturating_add(u64::from(duration.subsec_nanos()))
}

impl RttEstimator {
    pub(crate) fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        let max_rto = max_rto.max(min_rto);
        let base_rto = initial_rto.clamp(min_rto, max_rto);
        Self {
            srtt: None,
            rttvar_ns: 0,
            base_rto,
            backoff: 0,
            rto: base_rto,
            min_rto,
            max_rto,
            min_rto_ns: nanos(min_rto),
            max_rto_ns: nanos(max_rto),
        }
    }

    /// The smoothed RTT, once measured.
    #[inline]
    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The current timeout, backoff included.
    #[inline]
    pub(crate) fn rto(&self) -> Duration {
        self.rto
    }

    /// Takes a measurement (RFC 6298 §2.2-2.3) and clears the backoff (§5.7's "new RTT sample").
    pub(crate) fn sample(&mut self, rtt: Duration) {
        if self.srtt == Some(rtt) && self.rttvar_ns == 0 && rtt <= MAX_STEADY_RTT {
            // The steady state of a path whose samples do not vary (a sub-millisecond path measured by
            // millisecond timestamps reads 0 every time): the formulas below give back SRTT, RTTVAR 0 and the
            // same base RTO, so only the backoff needs clearing.
            self.backoff = 0;
            self.rto = self.base_rto;
            return;
        }
        let rtt_ns = nanos(rtt);
        let srtt_ns = match self.srtt {
            None => {
                self.rttvar_ns = rtt_ns / 2;
                rtt_ns
            }
            Some(srtt) => {
                let srtt_ns = nanos(srtt);
                // RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT = 7/8 SRTT + 1/8 R'.
                self.rttvar_ns = self.rttvar_ns.saturating_mul(3).saturating_add(srtt_ns.abs_diff(rtt_ns)) / 4;
                srtt_ns.saturating_mul(7).saturating_add(rtt_ns) / 8
            }
        };
        self.srtt = Some(Duration::from_nanos(srtt_ns));
        let rto_ns = srtt_ns.saturating_add(self.rttvar_ns.saturating_mul(4).max(CLOCK_GRANULARITY_NS));
        self.base_rto = if rto_ns <= self.min_rto_ns {
            self.min_rto
        } else if rto_ns >= self.max_rto_ns {
            self.max_rto
        } else {
            Duration::from_nanos(rto_ns)
        };
        self.backoff = 0;
        self.rto = self.base_rto;
    }

    /// Doubles the timeout after an expiry (RFC 6298 §5.5), up to the maximum.
    pub(crate) fn back_off(&mut self) {
        if self.rto < self.max_rto {
            self.backoff += 1;
            let factor = 1u32.checked_shl(self.backoff.min(31)).unwrap_or(u32::MAX);
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
        assert_eq!(rtt.rto(), Duration::from_secs(1));
        rtt.sample(ms(100));
        // SRTT 100, RTTVAR 50: RTO = 100 + 200 = 300 ms.
        assert_eq!((rtt.srtt(), rtt.rto()), (Some(ms(100)), ms(300)));
        rtt.sample(ms(100));
        // RTTVAR = 3/4 * 50 = 37.5: RTO = 100 + 150.
        assert_eq!(rtt.rto(), ms(250));
        for _ in 0..50 {
            rtt.sample(ms(10));
        }
        assert_eq!(rtt.rto(), ms(200), "clamped to the minimum");
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
            rtt.sample(r);
            match srtt {
                None => (srtt, rttvar) = (Some(r), r / 2),
                Some(s) => {
                    rttvar = (rttvar * 3 + s.abs_diff(r)) / 4;
                    srtt = Some((s * 7 + r) / 8);
                }
            }
            let rto = (srtt.unwrap() + (rttvar * 4).max(ms(1))).clamp(min, max);
            assert_eq!((rtt.srtt(), rtt.rto()), (srtt, rto));
        }
    }

    /// Repeated equal samples reach the fixed point that [`RttEstimator::sample`] skips to, with the same
    /// results as the formulas, and a sample there still clears the backoff.
    #[test]
    fn steady_samples_match_duration_arithmetic() {
        for (first, steady) in [(ms(7), Duration::ZERO), (ms(3), ms(1)), (ms(400), ms(250))] {
            let (min, max) = (Duration::from_nanos(1), Duration::from_secs(60));
            let mut rtt = RttEstimator::new(Duration::from_secs(1), min, max);
            rtt.sample(first);
            let (mut srtt, mut rttvar) = (first, first / 2);
            for _ in 0..300 {
                rtt.sample(steady);
                rttvar = (rttvar * 3 + srtt.abs_diff(steady)) / 4;
                srtt = (srtt * 7 + steady) / 8;
                let rto = (srtt + (rttvar * 4).max(ms(1))).clamp(min, max);
                assert_eq!((rtt.srtt(), rtt.rto()), (Some(srtt), rto));
            }
            assert_eq!((srtt, rttvar), (steady, Duration::ZERO), "the fixed point was reached");
            rtt.back_off();
            rtt.sample(steady);
            assert_eq!(rtt.rto(), (steady + ms(1)).clamp(min, max), "the backoff is cleared");
        }
    }

    #[test]
    fn backs_off_to_the_maximum_and_resets_on_a_sample() {
        let mut rtt = RttEstimator::new(Duration::from_secs(1), ms(200), Duration::from_secs(60));
        let mut seen = Vec::new();
        for _ in 0..10 {
            rtt.back_off();
            seen.push(rtt.rto().as_secs());
        }
        assert_eq!(seen, [2, 4, 8, 16, 32, 60, 60, 60, 60, 60]);
        rtt.sample(ms(50));
        assert_eq!(rtt.rto(), ms(200));
    }
}
