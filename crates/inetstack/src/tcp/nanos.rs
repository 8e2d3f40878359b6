//! [`Nanos`]: time as the TCP layer counts it, in whole nanoseconds in one `u64`: an instant is the time since
//! the stack's epoch, a span the time between two instants, and a deadline that is not set is
//! [`Nanos::NEVER`].
//!
//! Not `Instant` and `Duration`: on the per-segment paths their arithmetic (an out-of-line subtraction of
//! seconds and nanoseconds, normalisation, two-field comparisons of `Option<Instant>`) costs several times the
//! single instructions of `u64`s, and the earliest of several deadlines becomes a branch-free minimum. The stack
//! converts its `Instant`s once, where they come in ([`Nanos::since`]) and go out ([`Nanos::to_instant`]).
//! The arithmetic saturates instead of panicking; `u64` nanoseconds last 584 years.

use std::time::{Duration, Instant};

/// Nanoseconds: an instant since the stack's epoch, or a span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nanos(u64);

impl Nanos {
    pub const ZERO: Self = Self(0);
    /// The deadline of a timer that is not running: later than every instant the clock reads (which stop one
    /// nanosecond short of it), so it is never due and never the earliest of a set that has a real deadline.
    pub const NEVER: Self = Self(u64::MAX);
    /// The latest instant [`Nanos::since`] reads.
    const LATEST: u64 = u64::MAX - 1;

    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    pub const fn from_millis(millis: u64) -> Self {
        Self(millis.saturating_mul(1_000_000))
    }

    pub const fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1_000_000_000))
    }

    /// `duration` in nanoseconds (saturated at [`Nanos::NEVER`]).
    pub const fn from_duration(duration: Duration) -> Self {
        Self(duration.as_secs().saturating_mul(1_000_000_000).saturating_add(duration.subsec_nanos() as u64))
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    pub const fn as_duration(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// Seconds, as `Duration::as_secs_f64` computes them (to the same bit).
    pub const fn as_secs_f64(self) -> f64 {
        self.as_duration().as_secs_f64()
    }

    /// The instant `at` on the clock that started at `epoch`: 0 for any time before the epoch, and at most one
    /// nanosecond before [`Nanos::NEVER`].
    pub fn since(epoch: Instant, at: Instant) -> Self {
        Self(Self::from_duration(at.saturating_duration_since(epoch)).0.min(Self::LATEST))
    }

    /// The `Instant` of this instant on the clock that started at `epoch`; `None` for [`Nanos::NEVER`] (and
    /// for instants `Instant` cannot represent).
    pub fn to_instant(self, epoch: Instant) -> Option<Instant> {
        if self.is_never() { None } else { epoch.checked_add(self.as_duration()) }
    }

    /// Whether this is [`Nanos::NEVER`]: the timer is not running.
    #[inline]
    pub const fn is_never(self) -> bool {
        self.0 == u64::MAX
    }

    /// The sum, at most [`Nanos::NEVER`] (a deadline beyond the clock's range never comes).
    #[inline]
    #[must_use]
    pub const fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }

    /// The difference, 0 if `other` is later (the span from `other` to `self`).
    #[inline]
    #[must_use]
    pub const fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }

    /// The difference, `None` if `other` is later.
    #[inline]
    pub const fn checked_sub(self, other: Self) -> Option<Self> {
        match self.0.checked_sub(other.0) {
            Some(difference) => Some(Self(difference)),
            None => None,
        }
    }

    #[inline]
    #[must_use]
    pub const fn saturating_mul(self, factor: u64) -> Self {
        Self(self.0.saturating_mul(factor))
    }

    /// The quotient, rounded down. (`Duration`'s division rounds the same way whenever `divisor` divides
    /// 10^9, as the divisors of RFC 6298 and RFC 8985 do.)
    #[inline]
    #[must_use]
    pub const fn div(self, divisor: u64) -> Self {
        match self.0.checked_div(divisor) {
            Some(quotient) => Self(quotient),
            None => Self::NEVER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_instants_and_durations_exactly() {
        let epoch = Instant::now();
        for duration in
            [Duration::ZERO, Duration::from_nanos(1), Duration::new(3, 999_999_999), Duration::new(86_400, 7)]
        {
            let at = Nanos::since(epoch, epoch + duration);
            assert_eq!(at, Nanos::from_duration(duration));
            assert_eq!(at.as_duration(), duration);
            assert_eq!(at.to_instant(epoch), Some(epoch + duration));
            assert_eq!(at.as_secs_f64(), duration.as_secs_f64());
        }
        assert_eq!(Nanos::from_millis(1500), Nanos::from_duration(Duration::from_millis(1500)));
        assert_eq!(Nanos::from_secs(2), Nanos::from_nanos(2_000_000_000));
    }

    #[test]
    fn times_before_the_epoch_read_zero() {
        let epoch = Instant::now() + Duration::from_secs(1);
        assert_eq!(Nanos::since(epoch, epoch - Duration::from_millis(1)), Nanos::ZERO);
    }

    #[test]
    fn never_is_later_than_every_reading_and_has_no_instant() {
        assert_eq!(Nanos::from_duration(Duration::MAX), Nanos::NEVER, "saturates");
        let epoch = Instant::now();
        let far = epoch.checked_add(Duration::from_secs(600 * 365 * 86_400));
        if let Some(far) = far {
            assert!(Nanos::since(epoch, far) < Nanos::NEVER, "the clock stops one short of NEVER");
        }
        assert_eq!(Nanos::NEVER.to_instant(epoch), None);
        assert!(Nanos::NEVER.is_never() && !Nanos::ZERO.is_never());
        assert_eq!(Nanos::from_nanos(5).min(Nanos::NEVER), Nanos::from_nanos(5));
    }

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        let (small, big) = (Nanos::from_nanos(3), Nanos::from_nanos(u64::MAX - 1));
        assert_eq!(big.saturating_add(small), Nanos::NEVER);
        assert_eq!(small.saturating_sub(big), Nanos::ZERO);
        assert_eq!(big.saturating_sub(small), Nanos::from_nanos(u64::MAX - 4));
        assert_eq!(small.checked_sub(big), None);
        assert_eq!(big.checked_sub(small), Some(Nanos::from_nanos(u64::MAX - 4)));
        assert_eq!(big.saturating_mul(2), Nanos::NEVER);
        assert_eq!(Nanos::from_millis(u64::MAX), Nanos::NEVER);
        assert_eq!(Nanos::from_secs(u64::MAX), Nanos::NEVER);
        assert_eq!(small.div(0), Nanos::NEVER);
    }

    /// Division by 2, 4 and 8 (RFC 6298's averages, RFC 8985's min_RTT / 4) rounds as `Duration`'s does.
    #[test]
    fn division_rounds_as_duration_does() {
        for nanos in [0, 1, 3, 999_999_999, 1_000_000_001, 7_123_456_789, u64::MAX / 3] {
            for divisor in [2u32, 4, 8] {
                let expected = Duration::from_nanos(nanos) / divisor;
                assert_eq!(Nanos::from_nanos(nanos).div(u64::from(divisor)).as_duration(), expected);
            }
        }
    }
}
