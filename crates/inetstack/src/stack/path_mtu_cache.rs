//! What the stack learned of the path MTU to each destination (RFC 1191 §6.3, as Linux keeps it in its route
//! exceptions): a new connection to a destination starts with segments that fit, instead of losing its first
//! flight to the router again. An entry lasts [`PATH_MTU_LIFETIME`] and is then ignored and dropped, with no
//! timer of its own (each connection forgets its own copy as lazily, `tcp/path_mtu.rs`).
//!
//! Only MTUs a connection accepted are learned (their errors quoted a sequence number in flight, RFC 5927 §4.1),
//! so a blind forged error cannot shrink the segments of connections to come. Bounded: at most [`CAPACITY`]
//! destinations, the entry nearest its end evicted first.

use std::net::Ipv4Addr;

use crate::tcp::{Nanos, PATH_MTU_LIFETIME};

/// Destinations remembered at most.
pub(super) const CAPACITY: usize = 64;

#[derive(Debug, Default)]
pub(super) struct PathMtuCache {
    /// (destination, MTU, forgotten at).
    entries: Vec<(Ipv4Addr, u16, Nanos)>,
}

impl PathMtuCache {
    /// The MTU learned for `destination` and when it is forgotten, if it is not yet at `now`.
    pub(super) fn get(&self, destination: Ipv4Addr, now: Nanos) -> Option<(u16, Nanos)> {
        self.entries.iter().find(|e| e.0 == destination && e.2 > now).map(|e| (e.1, e.2))
    }

    /// Remembers `mtu` for `destination` from `now` (a smaller one replaces a larger one still known; a larger
    /// one is ignored).
    pub(super) fn learn(&mut self, destination: Ipv4Addr, mtu: u16, now: Nanos) {
        self.entries.retain(|e| e.2 > now);
        let expires = now.saturating_add(PATH_MTU_LIFETIME);
        if let Some(entry) = self.entries.iter_mut().find(|e| e.0 == destination) {
            if mtu < entry.1 {
                *entry = (destination, mtu, expires);
            }
            return;
        }
        if self.entries.len() == CAPACITY
            && let Some(soonest) = (0..self.entries.len()).min_by_key(|&i| self.entries[i].2)
        {
            self.entries.swap_remove(soonest);
        }
        self.entries.push((destination, mtu, expires));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 2);

    #[test]
    fn learns_the_smallest_forgets_it_in_time_and_stays_bounded() {
        let now = Nanos::from_millis(5);
        let second = Nanos::from_millis(1000);
        let mut cache = PathMtuCache::default();
        cache.learn(D, 1280, now);
        cache.learn(D, 1400, now);
        assert_eq!(cache.get(D, now), Some((1280, now.saturating_add(PATH_MTU_LIFETIME))), "never up");
        cache.learn(D, 1006, second);
        let expires = second.saturating_add(PATH_MTU_LIFETIME);
        assert_eq!(cache.get(D, expires.saturating_sub(Nanos::from_millis(1))), Some((1006, expires)));
        assert_eq!(cache.get(D, expires), None, "forgotten");
        cache.learn(D, 1400, expires);
        assert_eq!(cache.get(D, expires), Some((1400, expires.saturating_add(PATH_MTU_LIFETIME))), "learned anew");
        let mut cache = PathMtuCache::default();
        for i in 0..CAPACITY as u32 + 10 {
            cache.learn(Ipv4Addr::from(0x0a00_0000 + i), 1280, now.saturating_add(Nanos::from_millis(u64::from(i))));
        }
        assert_eq!(cache.entries.len(), CAPACITY);
        assert_eq!(cache.get(Ipv4Addr::from(0x0a00_0000), now), None, "the first to go is the one nearest its end");
    }
}
