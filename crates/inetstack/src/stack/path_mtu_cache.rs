//! What the stack learned of the path MTU to each destination (RFC 1191 §6.3, as Linux keeps it in its route
//! exceptions): a new connection to a destination starts with segments that fit, instead of losing its first
//! flight to the router again. An entry lasts [`PATH_MTU_LIFETIME`] and is then ignored and dropped, with no
//! timer of its own (each connection forgets its own copy as lazily, `tcp/path_mtu.rs`).
//!
//! Only MTUs a connection accepted are learned (their errors quoted a sequence number in flight, RFC 5927 §4.1),
//! so a blind forged error cannot shrink the segments of connections to come. A connection that found an MTU
//! black hole by its timeouts (`tcp/black_hole.rs`) leaves the size that passes too, marked as such: connections
//! to come start with it and probe for more themselves, instead of each losing three timeouts to the hole. Bounded: at most [`CAPACITY`]
//! destinations, the entry nearest its end evicted first.

use std::net::Ipv4Addr;

use crate::tcp::{Nanos, PATH_MTU_LIFETIME};

/// Destinations remembered at most.
pub(super) const CAPACITY: usize = 64;

#[derive(Debug, Default)]
pub(super) struct PathMtuCache {
    entries: Vec<(Ipv4Addr, PathMtu)>,
}

/// What is known of one destination's path MTU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PathMtu {
    pub(super) mtu: u16,
    /// When it is forgotten.
    pub(super) expires: Nanos,
    /// Found by a black hole's timeouts (and probes), not named by an ICMP error: a lower bound to probe from.
    pub(super) black_hole: bool,
}

impl PathMtuCache {
    /// What is known of `destination`'s path MTU, if it is not yet forgotten at `now`.
    pub(super) fn get(&self, destination: Ipv4Addr, now: Nanos) -> Option<PathMtu> {
        self.entries.iter().find(|e| e.0 == destination && e.1.expires > now).map(|e| e.1)
    }

    /// Remembers `mtu` for `destination` from `now`, from an ICMP error or (`black_hole`) a black hole. A smaller
    /// one replaces a larger one still known; a larger one is ignored, but for a black hole's size that passes,
    /// which replaces the smaller one its own connection left before (its probes raised it).
    pub(super) fn learn(&mut self, destination: Ipv4Addr, mtu: u16, now: Nanos, black_hole: bool) {
        self.entries.retain(|e| e.1.expires > now);
        let learned = PathMtu { mtu, expires: now.saturating_add(PATH_MTU_LIFETIME), black_hole };
        if let Some(entry) = self.entries.iter_mut().find(|e| e.0 == destination) {
            if mtu < entry.1.mtu || (black_hole && entry.1.black_hole) {
                entry.1 = learned;
            }
            return;
        }
        if self.entries.len() == CAPACITY
            && let Some(soonest) = (0..self.entries.len()).min_by_key(|&i| self.entries[i].1.expires)
        {
            self.entries.swap_remove(soonest);
        }
        self.entries.push((destination, learned));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 2);

    fn icmp(mtu: u16, at: Nanos) -> Option<PathMtu> {
        Some(PathMtu { mtu, expires: at.saturating_add(PATH_MTU_LIFETIME), black_hole: false })
    }

    #[test]
    fn learns_the_smallest_forgets_it_in_time_and_stays_bounded() {
        let now = Nanos::from_millis(5);
        let second = Nanos::from_millis(1000);
        let mut cache = PathMtuCache::default();
        cache.learn(D, 1280, now, false);
        cache.learn(D, 1400, now, false);
        assert_eq!(cache.get(D, now), icmp(1280, now), "never up");
        cache.learn(D, 1006, second, false);
        let expires = second.saturating_add(PATH_MTU_LIFETIME);
        assert_eq!(cache.get(D, expires.saturating_sub(Nanos::from_millis(1))), icmp(1006, second));
        assert_eq!(cache.get(D, expires), None, "forgotten");
        cache.learn(D, 1400, expires, false);
        assert_eq!(cache.get(D, expires), icmp(1400, expires), "learned anew");
        let mut cache = PathMtuCache::default();
        for i in 0..CAPACITY as u32 + 10 {
            let at = now.saturating_add(Nanos::from_millis(u64::from(i)));
            cache.learn(Ipv4Addr::from(0x0a00_0000 + i), 1280, at, false);
        }
        assert_eq!(cache.entries.len(), CAPACITY);
        assert_eq!(cache.get(Ipv4Addr::from(0x0a00_0000), now), None, "the first to go is the one nearest its end");
    }

    #[test]
    fn a_black_holes_size_rises_with_its_probes_but_never_over_an_icmp_one() {
        let now = Nanos::from_millis(5);
        let mut cache = PathMtuCache::default();
        cache.learn(D, 1024, now, true);
        cache.learn(D, 1262, now, true);
        assert_eq!(cache.get(D, now).map(|p| (p.mtu, p.black_hole)), Some((1262, true)), "probed up");
        cache.learn(D, 1006, now, false);
        cache.learn(D, 1262, now, true);
        assert_eq!(cache.get(D, now), icmp(1006, now), "an error's MTU holds");
    }
}
