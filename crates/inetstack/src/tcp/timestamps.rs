//! [`Timestamps`]: the RFC 7323 timestamps option once both ends agreed on it: our millisecond clock (TSval),
//! `TS.Recent` (what we echo), the PAWS test (§5) and RTT measurement from echoed values (§4).
//!
//! Not implemented: the 24-day idle invalidation of `TS.Recent` (§5.5); connections idle that long are rare and
//! the effect is only a dropped segment answered by an ACK.

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::wire::TcpTimestamps;

/// Echoed timestamps older than this are not trusted as RTT samples.
const MAX_RTT_SAMPLE_MS: u32 = 10 * 60 * 1000;

/// The millisecond of the timestamp clock that `value` read last: instants in `[start, end)` read `millis`.
#[derive(Clone, Copy, Debug)]
struct Tick {
    start: Instant,
    end: Instant,
    millis: u32,
}

/// The timestamp clock and echo state of one connection.
#[derive(Clone, Debug)]
pub(crate) struct Timestamps {
    /// When the clock read `offset`.
    base: Instant,
    /// Every segment sent and every echo sampled reads the clock, mostly within the same millisecond: two
    /// comparisons then answer instead of an `Instant` subtraction (an out-of-line call) and a division.
    tick: Cell<Tick>,
    /// A per-connection starting value, so that TSval does not reveal uptime (RFC 7323 §7.1).
    offset: u32,
    /// TS.Recent: the TSval to echo; `None` until the peer sent one.
    recent: Option<u32>,
    /// Our TSval when the retransmission timer last fired. Echoes older than this come from ACKs of
    /// transmissions before the timeout (often answers to duplicates, echoing a stale TS.Recent) and would
    /// inflate the RTT by the whole outage; they are not sampled (the idea of RFC 3522's Eifel detection).
    timed_out_at: Option<u32>,
}

impl Timestamps {
    pub(crate) fn new(now: Instant, offset: u32) -> Self {
        // An empty first tick: the first reading computes.
        let tick = Cell::new(Tick { start: now, end: now, millis: 0 });
        Self { base: now, tick, offset, recent: None, timed_out_at: None }
    }

    /// Our TSval now (one tick per millisecond).
    #[inline]
    pub(crate) fn value(&self, now: Instant) -> u32 {
        let tick = self.tick.get();
        let millis = if tick.start <= now && now < tick.end { tick.millis } else { self.read_clock(now) };
        self.offset.wrapping_add(millis)
    }

    /// Milliseconds since `base` (0 before it), remembering the millisecond `now` falls in.
    #[inline(never)]
    fn read_clock(&self, now: Instant) -> u32 {
        let Some(elapsed) = now.checked_duration_since(self.base) else { return 0 };
        // `as_millis() as u32` without its 128-bit arithmetic: the low 32 bits of secs·1000 + ms are the same
        // computed modulo 2^64.
        let millis = elapsed.as_secs().wrapping_mul(1000).wrapping_add(u64::from(elapsed.subsec_millis())) as u32;
        let start = now - Duration::from_nanos(u64::from(elapsed.subsec_nanos() % 1_000_000));
        if let Some(end) = start.checked_add(Duration::from_millis(1)) {
            self.tick.set(Tick { start, end, millis });
        }
        millis
    }

    /// The option to put on a segment sent now.
    pub(crate) fn option(&self, now: Instant) -> TcpTimestamps {
        TcpTimestamps { value: self.value(now), echo_reply: self.recent.unwrap_or(0) }
    }

    /// PAWS (RFC 7323 §5.3 R1): whether `tsval` is older than TS.Recent, so the segment is a stale duplicate.
    pub(crate) fn is_stale(&self, tsval: u32) -> bool {
        self.recent.is_some_and(|recent| (tsval.wrapping_sub(recent) as i32) < 0)
    }

    /// Records a TSval to echo (RFC 7323 §4.3: the caller checks the segment covers `Last.ACK.sent`).
    pub(crate) fn update_recent(&mut self, tsval: u32) {
        if !self.is_stale(tsval) {
            self.recent = Some(tsval);
        }
    }

    /// Notes a retransmission timeout (see `timed_out_at`).
    pub(crate) fn on_timeout(&mut self, now: Instant) {
        self.timed_out_at = Some(self.value(now));
    }

    /// The round trip implied by an echoed value of ours, if plausible.
    pub(crate) fn rtt(&self, now: Instant, echo_reply: u32) -> Option<Duration> {
        if self.timed_out_at.is_some_and(|at| (echo_reply.wrapping_sub(at) as i32) < 0) {
            return None;
        }
        let elapsed = self.value(now).wrapping_sub(echo_reply);
        (elapsed <= MAX_RTT_SAMPLE_MS).then(|| Duration::from_millis(u64::from(elapsed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_paws_and_rtt() {
        let start = Instant::now();
        let mut ts = Timestamps::new(start, u32::MAX - 5);
        assert_eq!(ts.value(start + Duration::from_millis(10)), 4, "wraps");
        // Within one millisecond and across its edges, before and after other readings.
        for micros in [10_999, 10_000, 11_000, 10_500, 9_999, 0, 10_001, 11_999, 12_000] {
            let expected = (u32::MAX - 5).wrapping_add(micros / 1000);
            assert_eq!(ts.value(start + Duration::from_micros(u64::from(micros))), expected, "{micros} us");
        }
        // The same low 32 bits as `as_millis() as u32`, also once secs * 1000 passes 2^32.
        for elapsed in [Duration::new(4_294_968, 999_999_999), Duration::new(1 << 40, 123_456_789)] {
            let expected = (u32::MAX - 5).wrapping_add(elapsed.as_millis() as u32);
            assert_eq!(ts.value(start + elapsed), expected);
        }
        assert!(!ts.is_stale(0), "nothing recorded yet");
        ts.update_recent(1000);
        assert!(ts.is_stale(999));
        assert!(!ts.is_stale(1000) && !ts.is_stale(u32::MAX / 2));
        ts.update_recent(999);
        assert_eq!(ts.option(start).echo_reply, 1000, "older values never replace TS.Recent");
        let sent = ts.value(start + Duration::from_millis(20));
        assert_eq!(ts.rtt(start + Duration::from_millis(55), sent), Some(Duration::from_millis(35)));
        assert_eq!(ts.rtt(start, sent), None, "an echo from the future");
        ts.on_timeout(start + Duration::from_millis(40));
        assert_eq!(ts.rtt(start + Duration::from_millis(55), sent), None, "sent before the timeout");
        let resent = ts.value(start + Duration::from_millis(40));
        assert_eq!(ts.rtt(start + Duration::from_millis(55), resent), Some(Duration::from_millis(15)));
    }
}
