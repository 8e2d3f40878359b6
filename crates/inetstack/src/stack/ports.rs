//! `PortAllocator`: hands out ephemeral ports round-robin from a range, skipping ports in use.

use std::ops::RangeInclusive;

#[derive(Debug)]
pub(crate) struct PortAllocator {
    range: RangeInclusive<u16>,
    next: u16,
}

impl PortAllocator {
    pub(crate) fn new(range: RangeInclusive<u16>) -> Self {
        let next = *range.start();
        Self { range, next }
    }

    /// A port for which `in_use` is false, or `None` if the whole range is taken.
    pub(crate) fn allocate(&mut self, in_use: impl Fn(u16) -> bool) -> Option<u16> {
        let (start, end) = (*self.range.start(), *self.range.end());
        let span = u32::from(end - start) + 1;
        for _ in 0..span {
            let port = self.next;
            self.next = if port == end { start } else { port + 1 };
            if !in_use(port) {
                return Some(port);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_skipping_used_ports_until_exhausted() {
        let mut ports = PortAllocator::new(10..=12);
        assert_eq!(ports.allocate(|p| p == 11), Some(10));
        assert_eq!(ports.allocate(|p| p == 11), Some(12));
        assert_eq!(ports.allocate(|_| false), Some(10));
        assert_eq!(ports.allocate(|_| true), None);
    }
}
