//! What the stack learned of the path MTU to each destination (RFC 1191 §6.3, as Linux keeps it in its route
//! exceptions): a new connection to a destination starts with segments that fit, instead of losing its first
//! flight to the router again, and after [`LIFETIME`] the entry is forgotten, so that connections try full-size
//! segments again (RFC 1191 §6.3's periodic increase: a path that still cannot take them says so once more).
//!
//! Only MTUs a connection accepted are learned (their errors quoted a sequence number in flight, RFC 5927 §4.1),
//! so a blind forged error cannot shrink the segments of connections to come. Bounded: at most [`CAPACITY`]
//! destinations, the entry nearest its end evicted first.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// How long a learned MTU is kept (Linux's `ip_rt_mtu_expires`, RFC 1191 §6.3's suggestion).
pub(super) const LIFETIME: Duration = Duration::from_secs(600);
/// Destinations remembered at most.
pub(super) const CAPACITY: usize = 64;

#[derive(Debug, Default)]
pub(super) struct PathMtuCache {
    /// (destination, MTU, forgotten at).
    entries: Vec<(Ipv4Addr, u16, Instant)>,
}

impl PathMtuCache {
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The MTU learned for `destination`, if any.
    pub(super) fn get(&self, destination: Ipv4Addr) -> Option<u16> {
        self.entries.iter().find(|e| e.0 == destination).map(|e| e.1)
    }

    /// Remembers `mtu` for `destination` from `now` (a smaller one replaces a larger; a larger is ignored).
    pub(super) fn learn(&mut self, destination: Ipv4Addr, mtu: u16, now: Instant) {
        let expires = now + LIFETIME;
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

    /// When the next entry is forgotten.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.entries.iter().map(|e| e.2).min()
    }

    /// Forgets the entries whose time is up; appends their destinations to `forgotten`.
    pub(super) fn expire(&mut self, now: Instant, forgotten: &mut Vec<Ipv4Addr>) {
        self.entries.retain(|&(destination, _, expires)| {
            let keep = expires > now;
            if !keep {
                forgotten.push(destination);
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Ipv4Addr = Ipv4Addr::new(10, 98, 0, 2);

    #[test]
    fn learns_the_smallest_forgets_it_in_time_and_stays_bounded() {
        let now = Instant::now();
        let mut cache = PathMtuCache::default();
        cache.learn(D, 1280, now);
        cache.learn(D, 1400, now);
        assert_eq!(cache.get(D), Some(1280), "never up");
        cache.learn(D, 1006, now + Duration::from_secs(1));
        assert_eq!(cache.get(D), Some(1006));
        assert_eq!(cache.next_deadline(), Some(now + Duration::from_secs(1) + LIFETIME));
        let mut forgotten = Vec::new();
        cache.expire(now + LIFETIME, &mut forgotten);
        assert!(forgotten.is_empty());
        cache.expire(now + Duration::from_secs(1) + LIFETIME, &mut forgotten);
        assert_eq!((forgotten, cache.get(D)), (vec![D], None));
        for i in 0..CAPACITY as u32 + 10 {
            cache.learn(Ipv4Addr::from(0x0a00_0000 + i), 1280, now + Duration::from_millis(u64::from(i)));
        }
        assert_eq!(cache.entries.len(), CAPACITY);
        assert_eq!(cache.get(Ipv4Addr::from(0x0a00_0000)), None, "the first to go is the one nearest its end");
    }
}
