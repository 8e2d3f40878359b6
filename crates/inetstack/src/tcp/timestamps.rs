//! [`Timestamps`]: the RFC 7323 timestamps option once both ends agreed on it: our millisecond clock (TSval),
//! `TS.Recent` (what we echo), the PAWS test (§5, with §5.5's invalidation of `TS.Recent` after 24 days
//! without an update) and RTT measurement from echoed values (§4).

use std::cell::Cell;

use super::Nanos;
use crate::wire::TcpTimestamps;

/// Echoed timestamps older than this are not trusted as RTT samples.
const MAX_RTT_SAMPLE_MS: u32 = 10 * 60 * 1000;

/// One millisecond of the timestamp clock.
const TICK: u64 = 1_000_000;

/// After this long without an update, `TS.Recent` is no longer trusted by PAWS (RFC 7323 §5.5: a peer's
/// millisecond clock may have wrapped its sign bit, at the earliest after 24.8 days).
const RECENT_LIFETIME: Nanos = Nanos::from_secs(24 * 24 * 60 * 60);

/// The millisecond of the timestamp clock that `value` read last: instants in `[start, end)` read `millis`.
#[derive(Clone, Copy, Debug)]
struct Tick {
    start: Nanos,
    end: Nanos,
    millis: u32,
}

/// The timestamp clock and echo state of one connection.
#[derive(Clone, Debug)]
pub(crate) struct Timestamps {
    /// Every segment sent and every echo sampled reads the clock, mostly within the same millisecond: two
    /// comparisons then answer instead of a subtraction and a division.
    tick: Cell<Tick>,
    /// What the clock reads at time zero: a value per pair of addresses, so that TSval does not reveal uptime
    /// (RFC 7323 §7.1) and runs on across connections with one peer (see `TcpConnection::connect`).
    offset: u32,
    /// TS.Recent: the TSval to echo; `None` until the peer sent one.
    recent: Option<u32>,
    /// When `recent` was last set.
    recent_at: Nanos,
    /// Our TSval when the retransmission timer last fired. Echoes older than this come from ACKs of
    /// transmissions before the timeout (often answers to duplicates, echoing a stale TS.Recent) and would
    /// inflate the RTT by the whole outage; they are not sampled (the idea of RFC 3522's Eifel detection).
    timed_out_at: Option<u32>,
}

impl Timestamps {
    /// A clock that reads `offset` at time zero and ticks every millisecond.
    pub(crate) fn new(offset: u32) -> Self {
        // An empty first tick: the first reading computes.
        let tick = Cell::new(Tick { start: Nanos::ZERO, end: Nanos::ZERO, millis: 0 });
        Self { tick, offset, recent: None, recent_at: Nanos::ZERO, timed_out_at: None }
    }

    /// TS.Recent: the last TSval of the peer's that was accepted, if any.
    pub(crate) fn recent(&self) -> Option<u32> {
        self.recent
    }

    /// Our TSval now (one tick per millisecond).
    #[inline]
    pub(crate) fn value(&self, now: Nanos) -> u32 {
        let tick = self.tick.get();
        let millis = if tick.start <= now && now < tick.end { tick.millis } else { self.read_clock(now) };
        self.offset.wrapping_add(millis)
    }

    /// Milliseconds since time zero, remembering the millisecond `now` falls in.
    #[inline(never)]
    fn read_clock(&self, now: Nanos) -> u32 {
        let elapsed = now.as_nanos();
        // The clock wraps: the low 32 bits of the milliseconds.
        let millis = (elapsed / TICK) as u32;
        let start = now.saturating_sub(Nanos::from_nanos(elapsed % TICK));
        self.tick.set(Tick { start, end: start.saturating_add(Nanos::from_nanos(TICK)), millis });
        millis
    }

    /// The option to put on a segment sent now.
    pub(crate) fn option(&self, now: Nanos) -> TcpTimestamps {
        TcpTimestamps { value: self.value(now), echo_reply: self.recent.unwrap_or(0) }
    }

    /// Whether `tsval` is older than TS.Recent: header prediction leaves such a segment to the general path,
    /// whose PAWS test is [`Self::is_stale`].
    #[inline]
    pub(crate) fn is_older_than_recent(&self, tsval: u32) -> bool {
        self.recent.is_some_and(|recent| (tsval.wrapping_sub(recent) as i32) < 0)
    }

    /// Whether `tsval` is at most `ticks` older than TS.Recent.
    pub(crate) fn within_of_recent(&self, tsval: u32, ticks: u32) -> bool {
        self.recent.is_some_and(|recent| recent.wrapping_sub(tsval) <= ticks)
    }

    /// PAWS (RFC 7323 §5.3 R1): whether `tsval` is older than TS.Recent, so the segment is a stale duplicate;
    /// never once TS.Recent has gone 24 days without an update (§5.5).
    pub(crate) fn is_stale(&self, tsval: u32, now: Nanos) -> bool {
        self.is_older_than_recent(tsval) && now.saturating_sub(self.recent_at) < RECENT_LIFETIME
    }

    /// Records a TSval to echo (RFC 7323 §4.3: the caller checks the segment covers `Last.ACK.sent`).
    pub(crate) fn update_recent(&mut self, tsval: u32, now: Nanos) {
        if !self.is_stale(tsval, now) {
            self.set_recent(tsval, now);
        }
    }

    /// [`Self::update_recent`] for a TSval already found not stale (not older than TS.Recent, as header
    /// prediction asks), with TS.Recent unchanged since.
    #[inline]
    pub(crate) fn set_recent(&mut self, tsval: u32, now: Nanos) {
        debug_assert!(!self.is_stale(tsval, now), "PAWS was checked");
        self.recent = Some(tsval);
        self.recent_at = now;
    }

    /// Notes a retransmission timeout (see `timed_out_at`).
    pub(crate) fn on_timeout(&mut self, now: Nanos) {
        self.timed_out_at = Some(self.value(now));
    }

    /// The round trip implied by an echoed value of ours, if plausible.
    pub(crate) fn rtt(&self, now: Nanos, echo_reply: u32) -> Option<Nanos> {
        if self.timed_out_at.is_some_and(|at| (echo_reply.wrapping_sub(at) as i32) < 0) {
            return None;
        }
        let elapsed = self.value(now).wrapping_sub(echo_reply);
        (elapsed <= MAX_RTT_SAMPLE_MS).then(|| Nanos::from_millis(u64::from(elapsed)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn clock_paws_and_rtt() {
        let start = Nanos::ZERO;
        let at = |elapsed: Duration| start.saturating_add(Nanos::from_duration(elapsed));
        let mut ts = Timestamps::new(u32::MAX - 5);
        assert_eq!(ts.value(at(Duration::from_millis(10))), 4, "wraps");
        // Within one millisecond and across its edges, before and after other readings.
        for micros in [10_999, 10_000, 11_000, 10_500, 9_999, 0, 10_001, 11_999, 12_000] {
            let expected = (u32::MAX - 5).wrapping_add(micros / 1000);
            assert_eq!(ts.value(at(Duration::from_micros(u64::from(micros)))), expected, "{micros} us");
        }
        // The same low 32 bits as `as_millis() as u32`, also once secs * 1000 passes 2^32.
        for elapsed in [Duration::new(4_294_968, 999_999_999), Duration::new(1 << 34, 123_456_789)] {
            let expected = (u32::MAX - 5).wrapping_add(elapsed.as_millis() as u32);
            assert_eq!(ts.value(at(elapsed)), expected);
        }
        assert!(!ts.is_stale(0, start), "nothing recorded yet");
        ts.update_recent(1000, start);
        assert!(ts.is_stale(999, start));
        assert!(!ts.is_stale(1000, start) && !ts.is_stale(u32::MAX / 2, start));
        ts.update_recent(999, start);
        assert_eq!(ts.option(start).echo_reply, 1000, "older values never replace TS.Recent");
        // RFC 7323 §5.5: 24 days after its last update, TS.Recent no longer makes a segment stale.
        let days = |d: u64| start.saturating_add(Nanos::from_secs(d * 24 * 60 * 60));
        assert!(ts.is_stale(999, days(23)));
        assert!(!ts.is_stale(999, days(24)));
        ts.update_recent(5, days(24));
        assert_eq!(ts.option(days(24)).echo_reply, 5, "and the next TSval replaces it");
        assert!(ts.is_stale(4, days(24)));
        ts.update_recent(1000, start);
        let sent = ts.value(at(Duration::from_millis(20)));
        assert_eq!(ts.rtt(at(Duration::from_millis(55)), sent), Some(Nanos::from_millis(35)));
        assert_eq!(ts.rtt(start, sent), None, "an echo from the future");
        ts.on_timeout(at(Duration::from_millis(40)));
        assert_eq!(ts.rtt(at(Duration::from_millis(55)), sent), None, "sent before the timeout");
        let resent = ts.value(at(Duration::from_millis(40)));
        assert_eq!(ts.rtt(at(Duration::from_millis(55)), resent), Some(Nanos::from_millis(15)));
    }
}
