//! [`RateLimiter`]: at most N events per second, for challenge ACKs (RFC 5961 §7) and ACKs answering
//! out-of-window segments, so that neither can be turned into an ACK storm.

use super::Nanos;

/// A fixed one-second window counter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RateLimiter {
    per_second: u32,
    window_start: Option<Nanos>,
    used: u32,
}

impl RateLimiter {
    pub(crate) fn new(per_second: u32) -> Self {
        Self { per_second, window_start: None, used: 0 }
    }

    /// Whether one more event is allowed now (and counts it if so).
    pub(crate) fn allow(&mut self, now: Nanos) -> bool {
        let fresh = self.window_start.is_none_or(|start| now.saturating_sub(start) >= Nanos::from_secs(1));
        if fresh {
            self.window_start = Some(now);
            self.used = 0;
        }
        if self.used < self.per_second {
            self.used += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_n_per_second() {
        let start = Nanos::from_secs(7);
        let mut limiter = RateLimiter::new(2);
        assert!(limiter.allow(start) && limiter.allow(start));
        assert!(!limiter.allow(start.saturating_add(Nanos::from_millis(999))));
        assert!(limiter.allow(start.saturating_add(Nanos::from_secs(1))));
    }
}
