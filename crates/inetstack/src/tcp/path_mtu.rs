//! Path MTU discovery (RFC 1191 §6.3, as RFC 1122 and Linux do it for TCP): our segments carry Don't Fragment,
//! so a router whose next hop cannot take one drops it and answers with an ICMP fragmentation-needed error
//! naming that hop's MTU. [`TcpConnection::on_path_mtu`] takes such an error: the segments that follow are cut
//! to fit, and what was in flight (dropped at that router) is sent again at once at the new size, as Linux's
//! `tcp_simple_retransmit` does, instead of waiting for the retransmission timeout to find every piece lost.
//! A smaller MTU is not congestion: the window is not cut.
//!
//! Checked first (RFC 5927 §4.1, against forged errors): the quoted segment's sequence number must be one we
//! sent and that is not acknowledged yet. The stack works out the MTU itself (`Stack::deliver_fragmentation_needed`):
//! RFC 1191 §5's plateaus for a router that does not name one, never below [`MIN_PATH_MTU`], never up.
//!
//! A learned MTU lasts [`PATH_MTU_LIFETIME`] (RFC 1191 §6.3: it may have grown since): the first transmit
//! after that sends full-size segments again, and a path that still cannot take them says so once more.
//! Checked lazily, at transmit, as Linux checks its route's MTU: no timer (the output fast path leaves the
//! transmit to the general path once the time is up). The stack remembers what its
//! connections learn per destination for as long (`stack/path_mtu_cache.rs`), so new connections start with
//! segments that fit ([`TcpConnection::start_with_path_mtu`]).
//!
//! Paths that send no such error (black holes) are found by their timeouts instead (`black_hole.rs`).

use super::congestion::CongestionControl as _;
use super::connection::TIMESTAMPS_OPTION_LEN;
use super::{Nanos, TcpConnection, TcpState};
use crate::wire::SeqNumber;

/// IPv4 and TCP headers without options: what a segment adds to its payload.
pub(super) const HEADERS_LEN: usize = 40;
/// How long a learned path MTU holds (Linux's `mtu_expires`, RFC 1191 §6.3's suggestion of 10 minutes).
pub const PATH_MTU_LIFETIME: Nanos = Nanos::from_millis(600_000);
/// The smallest path MTU taken from an ICMP error (Linux's `min_pmtu`): a forged error cannot shrink segments
/// to a handful of bytes (RFC 5927 §7.2).
pub const MIN_PATH_MTU: u16 = 552;

impl TcpConnection {
    /// An ICMP fragmentation-needed error quoting our segment `quoted_seq` says the path takes datagrams of at
    /// most `mtu` bytes (the stack's estimate; below [`MIN_PATH_MTU`] taken as that). Returns whether it lowered
    /// the path's limit.
    pub fn on_path_mtu(&mut self, now: Nanos, mtu: u16, quoted_seq: SeqNumber) -> bool {
        let ours = match self.state {
            TcpState::SynSent | TcpState::SynReceived => quoted_seq == self.iss,
            TcpState::Closed | TcpState::Listen | TcpState::TimeWait => false,
            _ => self.snd_una <= quoted_seq && quoted_seq < self.snd_max,
        };
        let path_mss = usize::from(mtu.max(MIN_PATH_MTU)) - HEADERS_LEN;
        if !ours || path_mss >= self.path_mss {
            return false;
        }
        self.end_mtu_search();
        self.path_mss = path_mss;
        self.path_mtu_due = now.saturating_add(PATH_MTU_LIFETIME);
        self.counters.path_mtu_reductions += 1;
        // Before the peer's SYN, `negotiate` settles it again with the same limit.
        let send_mss = self.segment_payload_limit();
        if send_mss < self.send_mss {
            self.set_send_mss(send_mss);
            if self.state.is_synchronized() && self.snd_max > self.snd_una {
                self.resend_flight_at_new_size(now);
            }
        }
        true
    }

    /// A new connection to a destination whose path MTU the stack learned (`stack/path_mtu_cache.rs`), which
    /// holds until `expires`: its segments fit from the start. Not counted as a reduction.
    pub fn start_with_path_mtu(&mut self, mtu: u16, expires: Nanos) {
        self.path_mss = usize::from(mtu.max(MIN_PATH_MTU)) - HEADERS_LEN;
        self.path_mtu_due = expires;
        self.set_send_mss(self.send_mss.min(self.segment_payload_limit()));
    }

    /// Before a transmit on the general path (the fast path does not apply once the time is up): a learned path
    /// MTU whose time is up is forgotten (full-size segments again, until the path says otherwise).
    /// (While an MTU search runs, `path_mtu_due` is its probe's time instead: no MTU from ICMP to forget.)
    #[inline(always)]
    pub(super) fn expire_path_mtu(&mut self, now: Nanos) {
        if self.path_mtu_due <= now && self.mtu_search.is_none() {
            self.forget_path_mtu();
        }
    }

    #[cold]
    #[inline(never)]
    fn forget_path_mtu(&mut self) {
        self.path_mss = usize::MAX;
        self.path_mtu_due = Nanos::NEVER;
        self.set_send_mss(self.segment_payload_limit());
    }

    /// Segments of `mss` bytes of payload from now on; the congestion controller counts in them too.
    pub(super) fn set_send_mss(&mut self, mss: usize) {
        if mss != self.send_mss {
            self.send_mss = mss;
            self.congestion.set_mss(mss);
        }
    }

    /// The payload of a full-size segment: the agreed MSS within the path's limit, less the timestamps option.
    pub(super) fn segment_payload_limit(&self) -> usize {
        self.negotiated_mss.min(self.path_mss) - self.data_options_len()
    }

    /// The options every data segment carries: the timestamps option, if agreed.
    pub(super) fn data_options_len(&self) -> usize {
        if self.timestamps.is_some() { TIMESTAMPS_OPTION_LEN } else { 0 }
    }

    /// Go-back-N from SND.UNA without the timeout's congestion response or backoff: what was in flight was
    /// dropped for its size, not for congestion.
    pub(super) fn resend_flight_at_new_size(&mut self, now: Nanos) {
        self.timeout_undo = None;
        self.reset_recovery_on_timeout();
        self.rack_on_timeout();
        self.snd_nxt = self.snd_una;
        self.void_timing();
        self.timers.retransmit = now.saturating_add(self.rtt.rto());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::harness::{Harness, ISS_A, LinkFaults};
    use super::*;
    use crate::tcp::TcpConfig;

    #[test]
    fn an_error_before_the_handshake_limits_the_mss_it_settles() {
        let config = TcpConfig::default();
        let mut harness = Harness::new(&config, &config, LinkFaults::default(), 1);
        assert!(!harness.a.on_path_mtu(Nanos::ZERO, 1000, ISS_A + 1), "not the SYN's sequence number");
        assert!(harness.a.on_path_mtu(Nanos::ZERO, 1000, ISS_A));
        assert!(
            harness.run_until(Duration::from_secs(1), |h| h.states()
                == (TcpState::Established, Some(TcpState::Established)))
        );
        assert_eq!(harness.a.send_mss(), 1000 - 40 - TIMESTAMPS_OPTION_LEN);
        assert_eq!(harness.b().send_mss(), 1460 - TIMESTAMPS_OPTION_LEN, "the other way is not limited");
        assert_eq!(harness.a.counters().path_mtu_reductions, 1);
    }
}
