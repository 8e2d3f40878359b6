//! Probing for a larger path MTU (RFC 4821 §7), after a black hole (`black_hole.rs`) made the segments smaller.
//! The size that cleared the black hole is safe but usually smaller than the path's: a search between it
//! (`low`, known to pass) and the largest size still possible (`high`: at first the peer's MSS, as the timeouts
//! may have been congestion's rather than the path's) sends now and then one segment of new data of the middle
//! size (the top once the middle is near it), a probe. Acknowledged, it raises `low` and the connection's
//! segments with it; lost, it lowers `high`. The search ends when the two are [`SEARCH_DONE_WITHIN`] bytes
//! apart, and starts again [`RESEARCH_INTERVAL`] later from the largest size (the path may have changed), as
//! RFC 4821 §7.7 and Linux (`tcp_probe_interval`) do.
//!
//! A probe goes only when it can tell something (§7.4-7.5): in ESTABLISHED or CLOSE-WAIT, nothing being resent
//! or lost, outside recovery, with the windows' room for it and new data for it and a full segment after it
//! (whose arrival shows the probe lost, by SACK or RACK, without a timeout). Until then the search looks again a
//! round trip later, or a timeout later when the application has too little data queued: between its looks the
//! connection's segments take the output fast path (the search's next look is its one path-MTU deadline).
//!
//! A lost probe is not congestion (§7.6.2; Linux's `tcp_mtup_probe_failed` likewise): when a loss detector would
//! start fast recovery while the probe is the oldest unacknowledged data and not SACKed, or the retransmission
//! timer expires then, the flight goes again from SND.UNA at the current size without a window cut or backoff,
//! as after an ICMP fragmentation-needed error (`path_mtu.rs`). A probe whose data was resent for another reason
//! tells nothing and is forgotten.

use super::path_mtu::HEADERS_LEN;
use super::{Nanos, TcpConnection, TcpState};
use crate::wire::SeqNumber;

/// The search stops when the largest size still possible is within this many bytes of the largest known to pass.
pub const SEARCH_DONE_WITHIN: usize = 16;
/// How long a finished search holds before the next one (RFC 4821 §7.7; Linux's `tcp_probe_interval`).
pub const RESEARCH_INTERVAL: Nanos = Nanos::from_millis(600_000);

/// A search for the path MTU between two sizes (IP datagram lengths).
#[derive(Clone, Copy, Debug)]
pub(super) struct MtuSearch {
    /// The largest size known to pass.
    low: usize,
    /// The largest size that may still pass: the peer's MSS allows no more, or a probe of `high + 1` was lost.
    high: usize,
    /// The probe in flight: its sequence range and size.
    probe: Option<(SeqNumber, SeqNumber, usize)>,
}

impl TcpConnection {
    /// A black hole made the segments fit `low`: search between it and the largest size the peer takes from now
    /// on, the size that timed out included (the timeouts may have been congestion's).
    pub(super) fn start_mtu_search(&mut self, now: Nanos, low: usize) {
        self.mtu_search = Some(MtuSearch { low, high: self.negotiated_mss + HEADERS_LEN, probe: None });
        self.path_mtu_due = now;
    }

    /// The search's next step at a transmit with `unsent` bytes of new data (see the module docs): a probe of
    /// `Ok(size)` now, or `Err(at)`: the next look at `at`. Done, a search looks again in [`RESEARCH_INTERVAL`].
    /// A flight in a state where a probe could tell nothing (a resend, a recovery, full windows) is looked at
    /// again a round trip later; too little data for a probe, a timeout later: an application sending small
    /// messages is not probed for, and its segments keep the output fast path meanwhile.
    fn next_probe(&mut self, now: Nanos, unsent: usize) -> Result<usize, Nanos> {
        let Some(mut search) = self.mtu_search else { return Err(Nanos::NEVER) };
        // Not above what the peer takes (a search started before the handshake did not know it).
        let largest = self.negotiated_mss + HEADERS_LEN;
        search.high = search.high.min(largest);
        if search.high.saturating_sub(search.low) < SEARCH_DONE_WITHIN {
            // Done: search again later, from the largest size the peer takes.
            self.mtu_search = Some(MtuSearch { high: largest, ..search });
            return Err(now.saturating_add(RESEARCH_INTERVAL));
        }
        // The middle; or the full size itself once the middle is near it and it is still untested, so that a
        // search may end there (after it failed, `high` is below it and the halving goes on).
        let middle = (search.low + search.high).div_ceil(2);
        let top = search.high == largest && search.high - middle < SEARCH_DONE_WITHIN;
        let size = if top { search.high } else { middle };
        let payload = self.probe_payload(size);
        if unsent < payload + self.send_mss {
            return Err(now.saturating_add(self.rtt.rto()));
        }
        let window_room = (self.snd_una + self.snd_wnd).distance_from(self.snd_nxt).max(0) as usize;
        let may = matches!(self.state, TcpState::Established | TcpState::CloseWait)
            && self.snd_nxt == self.snd_max
            && !self.recovery.in_recovery
            && self.sent_segments.lost_bytes() == 0
            && self.timeout_undo.is_none()
            && window_room >= payload
            && self.congestion_allowance() >= payload;
        if !may {
            return Err(now.saturating_add(self.rtt.srtt().unwrap_or(self.rtt.rto())));
        }
        Ok(size)
    }

    /// The payload of a probe of `size` bytes of IP datagram.
    fn probe_payload(&self, size: usize) -> usize {
        size - HEADERS_LEN - self.data_options_len()
    }

    /// On the general path's new-data loop, once `path_mtu_due` has come, before a segment of `unsent` bytes of
    /// new data: sends a probe if one may go; returns whether it did.
    pub(super) fn send_mtu_probe(&mut self, now: Nanos, out: &mut Vec<super::OutgoingSegment>, unsent: usize) -> bool {
        let size = match self.next_probe(now, unsent) {
            Ok(size) => size,
            Err(at) => {
                self.path_mtu_due = at;
                return false;
            }
        };
        let start = self.snd_nxt;
        let end = self.send_range(now, out, start, self.probe_payload(size), false);
        if let Some(search) = self.mtu_search.as_mut() {
            search.probe = Some((start, end, size));
        }
        self.path_mtu_due = Nanos::NEVER;
        self.counters.mtu_probes += 1;
        true
    }

    /// An ACK moved SND.UNA to `ack` while a search runs: the probe passed if it is all acknowledged.
    #[cold]
    #[inline(never)]
    pub(super) fn mtu_search_on_ack(&mut self, now: Nanos, ack: SeqNumber) {
        let Some(search) = self.mtu_search.as_mut() else { return };
        let Some((_, _, size)) = search.probe.filter(|&(_, end, _)| ack >= end) else { return };
        search.probe = None;
        search.low = size;
        self.path_mss = size - HEADERS_LEN;
        self.set_send_mss(self.segment_payload_limit());
        self.path_mtu_due = now;
    }

    /// The size a black hole's search (if one runs) found to pass so far, for connections to come
    /// (`stack/path_mtu_cache.rs`).
    pub fn black_hole_mtu(&self) -> Option<u16> {
        self.mtu_search.and_then(|search| u16::try_from(search.low).ok())
    }

    /// A new connection to a destination behind a black hole another connection found: its segments fit `mtu`
    /// (which passed) from the start, and it probes for more itself. Not counted as a reduction.
    pub fn start_after_black_hole(&mut self, now: Nanos, mtu: u16) {
        self.path_mss = usize::from(mtu.max(super::MIN_PATH_MTU)) - HEADERS_LEN;
        self.set_send_mss(self.send_mss.min(self.segment_payload_limit()));
        self.start_mtu_search(now, self.path_mss + HEADERS_LEN);
    }

    /// An ICMP error named the path MTU: the search is over.
    pub(super) fn end_mtu_search(&mut self) {
        self.mtu_search = None;
        self.path_mtu_due = Nanos::NEVER;
    }

    /// Whether the loss just found (or the timeout just expired) is the probe's: it is the oldest unacknowledged
    /// data and not SACKed. If so, the search takes it (see the module docs) and the caller does nothing more.
    pub(super) fn mtu_probe_lost(&mut self, now: Nanos) -> bool {
        let Some(search) = self.mtu_search.as_mut() else { return false };
        let Some((start, _, size)) = search.probe else { return false };
        if self.snd_una != start || self.scoreboard.sacked_until(start).is_some() {
            return false;
        }
        search.probe = None;
        search.high = size - 1;
        // The next goes once the flight resent now is acknowledged (`next_probe`'s conditions).
        self.path_mtu_due = now;
        self.counters.mtu_probes_lost += 1;
        self.resend_flight_at_new_size(now);
        true
    }

    /// Data from `start` to `end` is being resent: a probe it overlaps tells nothing any more.
    pub(super) fn mtu_probe_on_resend(&mut self, now: Nanos, start: SeqNumber, end: SeqNumber) {
        if let Some(search) = self.mtu_search.as_mut()
            && search.probe.is_some_and(|(probe_start, probe_end, _)| start < probe_end && probe_start < end)
        {
            search.probe = None;
            self.path_mtu_due = now;
        }
    }
}
