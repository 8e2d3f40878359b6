//! [`RttEstimator`]: the smoothed round-trip time and retransmission timeout of RFC 6298, with exponential
//! backoff (§5.5) and the bounds of [`super::TcpConfig`].
//!
//! Not for choosing which samples are valid (Karn's rule, RFC 6298 §3): the connection only feeds samples from
//! timestamps (RFC 7323 §4) or from segments that were never retransmitted.

use std::time::Duration;

/// Clock granularity G of RFC 6298 §2 (the timestamp clock ticks in milliseconds).
const CLOCK_GRANULARITY: Duration = Duration::from_millis(1);

/// SRTT, RTTVAR and the RTO.
#[derive(Clone, Debug)]
pub(crate) struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    /// The RTO before backoff.
    base_rto: Duration,
    /// How many times the RTO has been doubled since the last valid sample.
    backoff: u32,
    min_rto: Duration,
    max_rto: Duration,
}

impl RttEstimator {
    pub(crate) fn new(initial_rto: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        let max_rto = max_rto.max(min_rto);
        Self {
            srtt: None,
            rttvar: Duration::ZERO,
            base_rto: initial_rto.clamp(min_rto, max_rto),
            backoff: 0,
            min_rto,
            max_rto,
        }
    }

    /// The smoothed RTT, once measured.
    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The current timeout, backoff included.
    pub(crate) fn rto(&self) -> Duration {
        let factor = 1u32.checked_shl(self.backoff.min(31)).unwrap_or(u32::MAX);
        self.base_rto.saturating_mul(factor).min(self.max_rto)
    }

    /// Takes a measurement (RFC 6298 §2.2-2.3) and clears the backoff (§5.7's "new RTT sample").
    pub(crate) fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let deviation = srtt.abs_diff(rtt);
                // RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT = 7/8 SRTT + 1/8 R'.
                self.rttvar = (self.rttvar * 3 + deviation) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        let rto = srtt + (self.rttvar * 4).max(CLOCK_GRANULARITY);
        self.base_rto = rto.clamp(self.min_rto, self.max_rto);
        self.backoff = 0;
    }

    /// Doubles the timeout after an expiry (RFC 6298 §5.5), up to the maximum.
    pub(crate) fn back_off(&mut self) {
        if self.rto() < self.max_rto {
            self.backoff += 1;
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
