//! `ArpCache`: IPv4 → MAC resolution state (RFC 826). Learned entries expire; static entries (from the
//! configuration) never do. Frames for an unresolved address wait in a bounded queue while requests are
//! retried with exponential backoff; when retries run out, the waiting frames are dropped and counted.
//!
//! An entry still in use when it expires is not dropped from under its traffic: it turns stale, stays usable,
//! and is polled with requests sent to its own MAC address (RFC 1122 §2.3.2.1, "unicast poll"; Linux's
//! STALE and PROBE states): the first at once, then on the retry schedule of unresolved addresses, up to
//! `max_requests`; the reply refreshes it, silence removes it at the end of its grace period
//! ([`ArpCache::stale_grace`]). Only entries looked up while stale are polled; unused ones just go at the
//! end of their grace. Removing an entry in use made every connection through it queue its frames
//! behind a broadcast request each TTL, and a bulk sender's window overflowed the queue (117 frames dropped
//! at one expiry in a simulated transfer).
//!
//! A learned entry can be wrong before it expires (a corrupted reply, an address moved to another machine
//! without a gratuitous announcement). RFC 1122 §2.3.2.1's "higher-layer advice" covers that: when TCP times
//! out towards a next hop, the stack asks [`ArpCache::revalidation_due`] and, at most once per
//! [`REVALIDATION_INTERVAL`] per entry, broadcasts a request for it; the entry stays in use meanwhile, and the
//! reply, if the owner answers from another address, replaces it.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use runtime::Sga;

use super::flow_hash::FlowHash;
use crate::wire::MacAddress;

#[derive(Clone, Debug, PartialEq)]
pub struct ArpConfig {
    /// How long a learned entry stays valid.
    pub entry_ttl: Duration,
    /// Wait before the first retry; doubled on each further retry.
    pub retry_interval: Duration,
    /// Requests sent before giving up on an address.
    pub max_requests: u32,
    /// Frames that may wait for one address (older ones are dropped first).
    pub max_pending: usize,
    /// Entries that never expire and are never overwritten by what the network says.
    pub static_entries: Vec<(Ipv4Addr, MacAddress)>,
    /// ARP announcements of our own address when the stack starts (RFC 5227 §2.3: ANNOUNCE_NUM, 2), so that
    /// hosts holding an older MAC address for it (a restart on another NIC, an address moved) update their
    /// caches at once; 0 sends none.
    pub announcements: u32,
    /// Time between two announcements (RFC 5227's ANNOUNCE_INTERVAL, 2 s).
    pub announce_interval: Duration,
}

impl Default for ArpConfig {
    fn default() -> Self {
        Self {
            entry_ttl: Duration::from_secs(60),
            retry_interval: Duration::from_millis(250),
            max_requests: 5,
            max_pending: 64,
            static_entries: Vec::new(),
            announcements: 2,
            announce_interval: Duration::from_secs(2),
        }
    }
}

#[derive(Debug)]
struct Entry {
    mac: MacAddress,
    /// `None` for static entries.
    expires: Option<Instant>,
    /// When a request last asked about this entry on a transport's advice (see the module docs).
    revalidated: Option<Instant>,
    /// When the next poll is due, once a lookup found the entry stale (set by the lookup, which takes `&self`).
    next_poll: Cell<Option<Instant>>,
    /// Polls sent since it expired.
    polls: u32,
}

impl Entry {
    fn new(mac: MacAddress, expires: Option<Instant>) -> Self {
        Self { mac, expires, revalidated: None, next_poll: Cell::new(None), polls: 0 }
    }
}

#[derive(Debug)]
struct Pending {
    frames: VecDeque<Sga>,
    requests_sent: u32,
    next_request: Instant,
}

/// What `poll` asks of the stack.
#[derive(Debug, Default)]
pub struct ArpWork {
    /// Addresses to send (another) request for.
    pub requests: Vec<Ipv4Addr>,
    /// Frames given up on.
    pub dropped: usize,
    /// Stale entries in use to poll: a request to each address at its MAC address.
    pub polls: Vec<(Ipv4Addr, MacAddress)>,
    /// An announcement of our own address is due.
    pub announce: bool,
}

#[derive(Debug)]
pub struct ArpCache {
    config: ArpConfig,
    entries: HashMap<Ipv4Addr, Entry, FlowHash>,
    pending: HashMap<Ipv4Addr, Pending, FlowHash>,
    /// When `poll` next sweeps expired entries out (`lookup` ignores them meanwhile).
    next_sweep: Option<Instant>,
    /// Bumped whenever an entry is added, removed or its MAC address changes, so a MAC address remembered from
    /// `lookup_entry` (a connection's next hop) is known to be still what the table says. A refresh only moves
    /// the expiry later, which leaves what was remembered (with the earlier expiry) true.
    generation: u64,
    /// Some entry has a poll scheduled (`Entry::next_poll`), or an announcement is: the one flag the idle
    /// checks read.
    scheduled: Cell<bool>,
    /// Some entry has a poll scheduled (the table is walked only then).
    polling: Cell<bool>,
    /// Announcements of our own address still to send, and when the next is due ([`ArpConfig::announcements`]).
    announce: Option<(u32, Instant)>,
    /// When our address was last defended against another host's claim ([`ArpCache::may_defend`]).
    last_defence: Option<Instant>,
}

/// The least time between two defences of our address (RFC 5227's DEFEND_INTERVAL).
pub const DEFEND_INTERVAL: Duration = Duration::from_secs(10);

/// How often `poll` sweeps expired entries: often enough to bound the table, rarely enough that a stack
/// polled every few microseconds does not walk every entry each time.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The least time between two requests that revalidate one entry on a transport's advice: a busy next hop
/// (a gateway every connection goes through) is asked at most this often however many connections time out.
pub const REVALIDATION_INTERVAL: Duration = Duration::from_secs(1);

impl ArpCache {
    pub fn new(config: ArpConfig) -> Self {
        let entries = config
            .static_entries
            .iter()
            .map(|&(ip, mac)| (ip, Entry::new(mac, None)))
            .collect::<HashMap<_, _, FlowHash>>();
        Self {
            config,
            entries,
            pending: HashMap::default(),
            next_sweep: None,
            generation: 0,
            scheduled: Cell::new(false),
            polling: Cell::new(false),
            announce: None,
            last_defence: None,
        }
    }

    /// Whether a claim on our address at `now` may be answered with an announcement: at most once per
    /// [`DEFEND_INTERVAL`] (RFC 5227 §2.4 (b)). Records the defence.
    pub fn may_defend(&mut self, now: Instant) -> bool {
        let may = self.last_defence.is_none_or(|last| now >= last + DEFEND_INTERVAL);
        if may {
            self.last_defence = Some(now);
        }
        may
    }

    /// Schedules the announcements of our own address ([`ArpConfig::announcements`]), the first at `now`.
    pub fn start_announcing(&mut self, now: Instant) {
        if self.config.announcements > 0 {
            self.announce = Some((self.config.announcements, now));
            self.scheduled.set(true);
        }
    }

    /// How long an expired entry stays usable (stale): time for `max_requests` polls on the retry schedule
    /// (the interval doubling after each) and the wait for the last one's answer.
    pub fn stale_grace(&self) -> Duration {
        self.config.retry_interval * 2u32.saturating_pow(self.config.max_requests.max(1))
    }

    pub fn lookup(&self, now: Instant, ip: Ipv4Addr) -> Option<MacAddress> {
        self.lookup_entry(now, ip).map(|(mac, _)| mac)
    }

    /// The usable entry for `ip`: its MAC address and until when it may be used (`None`: static, always). The
    /// answer stays true until that time, as long as [`Self::generation`] does not change. A stale entry (see
    /// the module docs) is usable to the end of its grace period, and marked for polling.
    pub fn lookup_entry(&self, now: Instant, ip: Ipv4Addr) -> Option<(MacAddress, Option<Instant>)> {
        let entry = self.entries.get(&ip)?;
        match entry.expires {
            None => Some((entry.mac, None)),
            Some(expires) if now < expires => Some((entry.mac, Some(expires))),
            Some(expires) if now < expires + self.stale_grace() => {
                if entry.polls == 0 && entry.next_poll.get().is_none() {
                    entry.next_poll.set(Some(now));
                    self.polling.set(true);
                    self.scheduled.set(true);
                }
                Some((entry.mac, Some(expires + self.stale_grace())))
            }
            Some(_) => None,
        }
    }

    /// Changes whenever the table does (see `generation`).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Learns (or refreshes) a mapping; returns the frames that were waiting for it.
    pub fn insert(&mut self, now: Instant, ip: Ipv4Addr, mac: MacAddress) -> VecDeque<Sga> {
        match self.entries.get_mut(&ip) {
            Some(Entry { expires: None, .. }) => {} // static: the configuration wins
            Some(entry) => {
                entry.expires = Some(now + self.config.entry_ttl);
                entry.next_poll.set(None);
                entry.polls = 0;
                if entry.mac != mac {
                    entry.mac = mac;
                    self.generation += 1;
                }
            }
            None => {
                self.entries.insert(ip, Entry::new(mac, Some(now + self.config.entry_ttl)));
                self.generation += 1;
            }
        }
        self.pending.remove(&ip).map(|p| p.frames).unwrap_or_default()
    }

    /// A transport's advice that delivery through `ip` failed (RFC 1122 §2.3.2.1, method 4): whether to
    /// broadcast a request about it now. Only for a valid learned entry (static ones are the configuration's;
    /// an unresolved address is being asked about already), at most once per [`REVALIDATION_INTERVAL`].
    pub fn revalidation_due(&mut self, now: Instant, ip: Ipv4Addr) -> bool {
        let Some(entry) = self.entries.get_mut(&ip) else { return false };
        let learned_and_valid = entry.expires.is_some_and(|t| now < t);
        if !learned_and_valid || entry.revalidated.is_some_and(|t| now < t + REVALIDATION_INTERVAL) {
            return false;
        }
        entry.revalidated = Some(now);
        true
    }

    /// Whether `ip` is already in the cache (valid or not), so a request about it may refresh it.
    pub fn knows(&self, ip: Ipv4Addr) -> bool {
        self.entries.contains_key(&ip)
    }

    /// Queues a frame for `ip`. Returns `(request_now, dropped)`: whether to send the first request, and
    /// whether an older frame was dropped to stay within `max_pending`.
    pub fn enqueue(&mut self, now: Instant, ip: Ipv4Addr, frame: Sga) -> (bool, bool) {
        let first = !self.pending.contains_key(&ip);
        let pending = self.pending.entry(ip).or_insert_with(|| Pending {
            frames: VecDeque::new(),
            requests_sent: 1,
            next_request: now + self.config.retry_interval,
        });
        pending.frames.push_back(frame);
        let dropped = pending.frames.len() > self.config.max_pending.max(1);
        if dropped {
            pending.frames.pop_front();
        }
        (first, dropped)
    }

    /// Retries due requests, drops what waited too long, polls stale entries in use and forgets those past
    /// their grace period (at most once per `SWEEP_INTERVAL`).
    pub fn poll(&mut self, now: Instant) -> ArpWork {
        if self.is_idle(now) {
            return ArpWork::default();
        }
        self.poll_pending(now)
    }

    /// Whether `poll` has nothing to do: nothing waits for an address, no entry is being polled and no sweep
    /// (nor an announcement, which the sweep waits for) is due. The common case on every poll of a busy stack, checked inline so that the stack skips the call.
    #[inline]
    pub fn is_idle(&self, now: Instant) -> bool {
        self.pending.is_empty() && !self.scheduled.get() && self.next_sweep.is_some_and(|t| now < t)
    }

    fn poll_pending(&mut self, now: Instant) -> ArpWork {
        let mut work = ArpWork::default();
        let max = self.config.max_requests.max(1);
        let base = self.config.retry_interval;
        self.pending.retain(|&ip, p| {
            if now < p.next_request {
                return true;
            }
            if p.requests_sent >= max {
                work.dropped += p.frames.len();
                return false;
            }
            p.requests_sent += 1;
            p.next_request = now + base * 2u32.saturating_pow(p.requests_sent - 1);
            work.requests.push(ip);
            true
        });
        if self.polling.get() {
            self.poll_stale(now, &mut work);
        }
        if let Some((left, due)) = self.announce
            && now >= due
        {
            work.announce = true;
            self.announce = (left > 1).then(|| (left - 1, now + self.config.announce_interval));
        }
        self.scheduled.set(self.polling.get() || self.announce.is_some());
        if self.next_sweep.is_none_or(|t| now >= t) {
            let grace = self.stale_grace();
            let before = self.entries.len();
            self.entries.retain(|_, e| e.expires.is_none_or(|t| now < t + grace));
            if self.entries.len() != before {
                self.generation += 1;
            }
            self.next_sweep = Some(now + SWEEP_INTERVAL);
        }
        work
    }

    /// Sends the due polls of stale entries in use, scheduling each next one as retries are (the interval
    /// doubling), up to `max_requests`. Walks the table, but only while some entry is being polled.
    #[inline(never)]
    fn poll_stale(&mut self, now: Instant, work: &mut ArpWork) {
        let (base, max) = (self.config.retry_interval, self.config.max_requests.max(1));
        let mut polling = false;
        for (&ip, entry) in &mut self.entries {
            let Some(due) = entry.next_poll.get() else { continue };
            if now >= due {
                entry.polls += 1;
                work.polls.push((ip, entry.mac));
                let next = (entry.polls < max).then(|| now + base * 2u32.saturating_pow(entry.polls - 1));
                entry.next_poll.set(next);
            }
            polling |= entry.next_poll.get().is_some();
        }
        self.polling.set(polling);
    }

    /// When `poll` must next run: for a retry, a poll or an announcement of our own (the sweep is not a
    /// deadline). Inline: the stack asks on every round, and none waits in the common case.
    #[inline]
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.pending.is_empty() && !self.scheduled.get() {
            return None;
        }
        self.earliest_work()
    }

    #[inline(never)]
    fn earliest_work(&self) -> Option<Instant> {
        if self.pending.is_empty() && !self.polling.get() {
            // Only an announcement (the first seconds of a stack): no table to walk.
            return self.announce.map(|(_, due)| due);
        }
        let retries = self.pending.values().map(|p| p.next_request).min();
        // The table is walked only while some entry is being polled.
        let polls = self.polling.get().then(|| self.entries.values().filter_map(|e| e.next_poll.get()).min());
        let announcement = self.announce.map(|(_, due)| due);
        retries.into_iter().chain(polls.flatten()).chain(announcement).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const MAC: MacAddress = MacAddress([2, 0, 0, 0, 0, 2]);

    #[test]
    fn unused_stale_entries_are_swept_after_their_grace_at_most_once_per_interval() {
        let t0 = Instant::now();
        let mut cache = ArpCache::new(ArpConfig::default());
        let gone = ArpConfig::default().entry_ttl + cache.stale_grace();
        cache.poll(t0);
        cache.insert(t0, IP, MAC);
        let work = cache.poll(t0 + ArpConfig::default().entry_ttl + Duration::from_millis(1));
        assert!(cache.knows(IP) && work.polls.is_empty(), "stale, unused: kept for its grace, not polled");
        cache.poll(t0 + gone);
        assert!(!cache.knows(IP), "the first sweep after the grace forgets it");
        let t1 = t0 + gone;
        cache.insert(t1, IP, MAC);
        cache.poll(t1 + gone - Duration::from_millis(1));
        cache.poll(t1 + gone);
        assert_eq!(cache.lookup(t1 + gone, IP), None, "past its grace an entry is never used");
        assert!(cache.knows(IP), "but stays until the next sweep");
        cache.poll(t1 + gone + SWEEP_INTERVAL);
        assert!(!cache.knows(IP));
        assert!(cache.poll(t1 + gone + 2 * SWEEP_INTERVAL).polls.is_empty(), "nothing was ever polled");
    }

    #[test]
    fn a_stale_entry_in_use_stays_usable_and_is_polled_until_it_answers() {
        let t0 = Instant::now();
        let mut cache = ArpCache::new(ArpConfig::default());
        cache.poll(t0);
        cache.insert(t0, IP, MAC);
        let g = cache.generation();
        assert_eq!(cache.next_deadline(), None);
        let stale = t0 + ArpConfig::default().entry_ttl;
        let grace_end = stale + cache.stale_grace();
        assert_eq!(cache.lookup_entry(stale, IP), Some((MAC, Some(grace_end))), "usable while stale");
        assert_eq!(cache.next_deadline(), Some(stale), "the first poll is due at once");
        assert_eq!(cache.poll(stale).polls, [(IP, MAC)], "a request to its own MAC address");
        let retry = ArpConfig::default().retry_interval;
        assert_eq!(cache.next_deadline(), Some(stale + retry), "the next on the retry schedule");
        assert!(cache.poll(stale + retry / 2).polls.is_empty());
        assert_eq!(cache.poll(stale + retry).polls, [(IP, MAC)]);
        assert_eq!(cache.next_deadline(), Some(stale + 3 * retry), "the interval doubles");
        assert!(cache.insert(stale + retry, IP, MAC).is_empty(), "the reply refreshes it");
        assert_eq!(cache.generation(), g, "same address: what connections remember still holds");
        assert!(cache.poll(stale + 3 * retry).polls.is_empty(), "fresh again: no more polls");
        assert_eq!(cache.next_deadline(), None);
        assert_eq!(cache.lookup(grace_end, IP), Some(MAC));
    }

    #[test]
    fn a_stale_entry_that_never_answers_is_polled_max_requests_times_then_forgotten() {
        let t0 = Instant::now();
        let mut cache = ArpCache::new(ArpConfig::default());
        cache.poll(t0);
        cache.insert(t0, IP, MAC);
        let stale = t0 + ArpConfig::default().entry_ttl;
        assert!(cache.lookup(stale, IP).is_some());
        let g = cache.generation();
        let mut polls = 0;
        while let Some(t) = cache.next_deadline() {
            polls += cache.poll(t).polls.len();
            assert!(cache.lookup(t, IP).is_some(), "usable while polled");
        }
        assert_eq!(polls, 5, "max_requests polls");
        let gone = stale + cache.stale_grace();
        assert_eq!(cache.lookup(gone, IP), None, "unusable after its grace");
        cache.poll(gone);
        assert!(!cache.knows(IP) && cache.generation() != g, "and forgotten");
    }

    #[test]
    fn generation_changes_with_the_table() {
        let t0 = Instant::now();
        let mut cache = ArpCache::new(ArpConfig::default());
        cache.poll(t0);
        let g0 = cache.generation();
        cache.insert(t0, IP, MAC);
        let g1 = cache.generation();
        assert_ne!(g0, g1, "an entry was added");
        assert_eq!(cache.lookup_entry(t0, IP), Some((MAC, Some(t0 + ArpConfig::default().entry_ttl))));
        cache.poll(t0 + Duration::from_millis(1));
        assert_eq!(cache.generation(), g1, "nothing changed");
        cache.insert(t0, IP, MacAddress([2, 0, 0, 0, 0, 3]));
        let g2 = cache.generation();
        assert_ne!(g1, g2, "the entry changed");
        cache.poll(t0 + Duration::from_secs(120));
        assert_ne!(cache.generation(), g2, "the sweep removed it");
    }

    #[test]
    fn learned_entries_expire_static_ones_do_not() {
        let t0 = Instant::now();
        let stat = (Ipv4Addr::new(10, 0, 0, 9), MacAddress([2, 0, 0, 0, 0, 9]));
        let mut cache = ArpCache::new(ArpConfig { static_entries: vec![stat], ..ArpConfig::default() });
        cache.insert(t0, IP, MAC);
        assert_eq!(cache.lookup(t0, IP), Some(MAC));
        let later = t0 + Duration::from_secs(61) + cache.stale_grace();
        assert_eq!(cache.lookup(later, IP), None);
        assert_eq!(cache.lookup(later, stat.0), Some(stat.1));
        cache.insert(later, stat.0, MAC);
        assert_eq!(cache.lookup(later, stat.0), Some(stat.1), "the network cannot override a static entry");
        cache.poll(later);
        assert!(!cache.knows(IP));
    }

    #[test]
    fn revalidation_is_for_valid_learned_entries_at_most_once_per_interval() {
        let t0 = Instant::now();
        let stat = (Ipv4Addr::new(10, 0, 0, 9), MacAddress([2, 0, 0, 0, 0, 9]));
        let mut cache = ArpCache::new(ArpConfig { static_entries: vec![stat], ..ArpConfig::default() });
        assert!(!cache.revalidation_due(t0, IP), "an unknown address is resolved, not revalidated");
        assert!(!cache.revalidation_due(t0, stat.0), "a static entry is the configuration's");
        cache.insert(t0, IP, MAC);
        assert!(cache.revalidation_due(t0, IP));
        assert!(!cache.revalidation_due(t0 + REVALIDATION_INTERVAL - Duration::from_millis(1), IP));
        assert!(cache.revalidation_due(t0 + REVALIDATION_INTERVAL, IP));
        assert_eq!(cache.lookup(t0 + REVALIDATION_INTERVAL, IP), Some(MAC), "the entry stays in use meanwhile");
        let expired = t0 + ArpConfig::default().entry_ttl;
        assert!(!cache.revalidation_due(expired, IP), "an expired entry is resolved again, not revalidated");
    }

    #[test]
    fn a_refresh_keeps_the_generation_a_new_address_changes_it() {
        let t0 = Instant::now();
        let mut cache = ArpCache::new(ArpConfig::default());
        cache.insert(t0, IP, MAC);
        let g = cache.generation();
        cache.insert(t0 + Duration::from_secs(1), IP, MAC);
        assert_eq!(cache.generation(), g, "what a connection remembered (with the earlier expiry) is still true");
        assert_eq!(cache.lookup_entry(t0, IP).unwrap().1, Some(t0 + Duration::from_secs(61)), "refreshed");
        cache.insert(t0 + Duration::from_secs(2), IP, MacAddress([2, 0, 0, 0, 0, 3]));
        assert_ne!(cache.generation(), g);
    }

    #[test]
    fn pending_frames_are_bounded_retried_with_backoff_and_released() {
        let t0 = Instant::now();
        let mut cache = ArpCache::new(ArpConfig { max_pending: 2, ..ArpConfig::default() });
        assert_eq!(cache.enqueue(t0, IP, Sga::from_slice(b"1").unwrap()), (true, false));
        assert_eq!(cache.enqueue(t0, IP, Sga::from_slice(b"2").unwrap()), (false, false));
        assert_eq!(cache.enqueue(t0, IP, Sga::from_slice(b"3").unwrap()), (false, true));
        assert!(cache.poll(t0).requests.is_empty());
        let first_retry = cache.next_deadline().unwrap();
        assert_eq!(first_retry - t0, Duration::from_millis(250));
        assert_eq!(cache.poll(first_retry).requests, [IP]);
        assert_eq!(cache.next_deadline().unwrap() - first_retry, Duration::from_millis(500), "backoff doubles");
        let frames = cache.insert(first_retry, IP, MAC);
        assert_eq!(frames.iter().map(Sga::to_vec).collect::<Vec<_>>(), [b"2".to_vec(), b"3".to_vec()]);
        assert_eq!(cache.next_deadline(), None);
    }

    #[test]
    fn unanswered_addresses_are_given_up() {
        let mut now = Instant::now();
        let mut cache = ArpCache::new(ArpConfig::default());
        cache.enqueue(now, IP, Sga::from_slice(b"x").unwrap());
        let mut requests = 1;
        let mut dropped = 0;
        while let Some(t) = cache.next_deadline() {
            now = t;
            let work = cache.poll(now);
            requests += work.requests.len();
            dropped += work.dropped;
        }
        assert_eq!(requests, 5);
        assert_eq!(dropped, 1);
    }
}
