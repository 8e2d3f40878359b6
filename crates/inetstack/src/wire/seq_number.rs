//! [`SeqNumber`], a TCP sequence number: 32-bit arithmetic that wraps, and comparison that works across the wrap
//! (serial number arithmetic, RFC 793 §3.3 / RFC 9293 §3.4, RFC 1982).
//!
//! Not for windows or lengths: those are plain integers; only positions in the sequence space are `SeqNumber`.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A position in TCP's 32-bit sequence space.
///
/// `a < b` when `b` is less than 2^31 ahead of `a`, going forward with wrap-around. Exactly 2^31 apart, neither
/// is before the other and [`PartialOrd::partial_cmp`] returns `None`. The order is meaningful only for numbers
/// within 2^31 of each other, which is all TCP ever compares; hence `PartialOrd` and no `Ord`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// How far `self` is ahead of `earlier` (negative when behind), as a signed distance.
    pub fn distance_from(self, earlier: SeqNumber) -> i32 {
        self.0.wrapping_sub(earlier.0) as i32
    }

    /// The later of two sequence numbers (either, if they are 2^31 apart).
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if other > self { other } else { self }
    }

    /// The earlier of two sequence numbers (either, if they are 2^31 apart).
    pub fn min(self, other: SeqNumber) -> SeqNumber {
        if other < self { other } else { self }
    }

    /// Whether `self` lies in the half-open range `[start, end)`, across the wrap.
    pub fn is_in_range(self, start: SeqNumber, end: SeqNumber) -> bool {
        self.0.wrapping_sub(start.0) < end.0.wrapping_sub(start.0)
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match other.distance_from(*self) {
            0 => Some(Ordering::Equal),
            i32::MIN => None,
            ahead if ahead > 0 => Some(Ordering::Less),
            _ => Some(Ordering::Greater),
        }
    }

    // The four comparisons straight from the signed distance (what `partial_cmp` decides, without building
    // an `Ordering` first): TCP compares sequence numbers many times per segment. 2^31 apart, the distance is
    // `i32::MIN` either way round, which none of them accepts.

    #[inline]
    fn lt(&self, other: &Self) -> bool {
        other.distance_from(*self) > 0
    }

    #[inline]
    fn le(&self, other: &Self) -> bool {
        other.distance_from(*self) >= 0
    }

    #[inline]
    fn gt(&self, other: &Self) -> bool {
        self.distance_from(*other) > 0
    }

    #[inline]
    fn ge(&self, other: &Self) -> bool {
        self.distance_from(*other) >= 0
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;

    fn add(self, length: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(length))
    }
}

impl AddAssign<u32> for SeqNumber {
    fn add_assign(&mut self, length: u32) {
        self.0 = self.0.wrapping_add(length);
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;

    fn sub(self, length: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(length))
    }
}

impl From<u32> for SeqNumber {
    fn from(value: u32) -> Self {
        SeqNumber(value)
    }
}

impl From<SeqNumber> for u32 {
    fn from(value: SeqNumber) -> Self {
        value.0
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNumber({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_across_the_wrap() {
        let before_wrap = SeqNumber(u32::MAX - 10);
        let after_wrap = before_wrap + 20;
        assert_eq!(after_wrap, SeqNumber(9));
        assert!(before_wrap < after_wrap);
        assert!(after_wrap > before_wrap);
        assert!(SeqNumber(u32::MAX) < SeqNumber(0));
        assert!(SeqNumber(0) > SeqNumber(u32::MAX));
        assert_eq!(after_wrap.distance_from(before_wrap), 20);
        assert_eq!(before_wrap.distance_from(after_wrap), -20);
        assert_eq!(after_wrap - 20, before_wrap);
        assert_eq!(before_wrap.max(after_wrap), after_wrap);
        assert_eq!(after_wrap.min(before_wrap), before_wrap);
    }

    #[test]
    fn ordering_edges() {
        let a = SeqNumber(5);
        assert_eq!(a.partial_cmp(&a), Some(Ordering::Equal));
        // Just under half the space ahead is still "after"; exactly half is unordered; just over is "before".
        assert!(a < a + (1 << 31) - 1);
        assert_eq!(a.partial_cmp(&(a + (1 << 31))), None);
        let (before_half, after_half) = (a < a + (1 << 31), a > a + (1 << 31));
        assert!(!before_half && !after_half);
        assert!(a > a + (1 << 31) + 1);
    }

    #[test]
    fn range_membership_across_the_wrap() {
        let start = SeqNumber(u32::MAX - 1);
        let end = start + 4;
        assert!(start.is_in_range(start, end));
        assert!(SeqNumber(0).is_in_range(start, end));
        assert!(SeqNumber(1).is_in_range(start, end));
        assert!(!end.is_in_range(start, end));
        assert!(!SeqNumber(u32::MAX - 2).is_in_range(start, end));
        assert!(!start.is_in_range(start, start), "an empty range holds nothing");
        let mut moving = SeqNumber(u32::MAX);
        moving += 2;
        assert_eq!(moving, SeqNumber(1));
    }

    #[test]
    fn comparisons_agree_with_partial_cmp() {
        let edges = [0, 1, 2, (1 << 31) - 1, 1 << 31, (1 << 31) + 1, u32::MAX - 1, u32::MAX];
        for a in edges.into_iter().chain([7, 1 << 30, 3 << 30]) {
            for distance in edges {
                let (a, b) = (SeqNumber(a), SeqNumber(a) + distance);
                let order = a.partial_cmp(&b);
                let expected = [
                    order == Some(Ordering::Less),
                    matches!(order, Some(Ordering::Less | Ordering::Equal)),
                    order == Some(Ordering::Greater),
                    matches!(order, Some(Ordering::Greater | Ordering::Equal)),
                ];
                assert_eq!([a < b, a <= b, a > b, a >= b], expected, "{a:?} against {b:?}");
            }
        }
    }
}
