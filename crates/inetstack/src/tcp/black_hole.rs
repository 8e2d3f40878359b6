//! MTU black holes (RFC 2923 §2.1): a path that drops segments too big for one of its links without the
//! ICMP error that path MTU discovery (`path_mtu.rs`) waits for: a router that sends none, a firewall that drops
//! them, a link whose far end takes less than its near end. Every full-size segment is lost, the same segment is
//! sent again at each retransmission timeout, and the connection times out while small segments would pass.
//!
//! Detection by timeouts, as RFC 4821 §7.7 (a full stop: several successive timeouts) and Linux
//! (`tcp_mtu_probing` = 1) do it: at the [`BLACK_HOLE_TIMEOUTS`]th retransmission timeout in a row the segments
//! get smaller: first to [`BLACK_HOLE_BASE_MTU`] (RFC 4821 §7.2's initial `search_low`, "probably safe
//! enough"), then by half at each further timeout in a row, never below [`MIN_PATH_MTU`]; and at once as far as
//! it takes to make the first segment resent smaller than it was (a 900-byte request lost on a 576-byte path
//! goes to the minimum). Not if that segment is already the minimum's size: a small request that times out
//! tells of a dead peer or path, not of its MTU.
//!
//! The retransmission of that timeout already goes at the new size, and at the usual timeout, not eight times
//! it: the cut clears the backoff those timeouts built (they were the path MTU's, not congestion's). From then
//! on a search (`mtu_probe.rs`) probes for the largest size the path takes, up to the peer's MSS; it also
//! undoes the cut where the timeouts were congestion's, not the path's.
//!
//! The stack shares the size that passes with connections to come to the destination (`stack/path_mtu_cache.rs`):
//! they start with it and search for themselves, instead of each losing three timeouts to the hole (Linux's
//! sockets each find it again).

use super::path_mtu::HEADERS_LEN;
use super::{MIN_PATH_MTU, Nanos, TcpConnection};

/// Retransmission timeouts in a row that make the segments smaller (Linux's `tcp_retries1`).
pub const BLACK_HOLE_TIMEOUTS: u32 = 3;
/// The path MTU a suspected black hole first lowers segments to.
pub const BLACK_HOLE_BASE_MTU: u16 = 1024;

impl TcpConnection {
    /// At a retransmission timeout of a synchronized connection (`retries` counted, before the resend): lowers
    /// the segment size if this timeout makes it a suspected black hole. Returns whether it did.
    pub(super) fn suspect_black_hole(&mut self, now: Nanos) -> bool {
        if !self.config.black_hole_detection || self.retries < BLACK_HOLE_TIMEOUTS {
            return false;
        }
        let mtu = self.negotiated_mss.min(self.path_mss) + HEADERS_LEN;
        // The datagram the timeout resends first (go-back-N from SND.UNA): a cut must make it smaller.
        let flight = self.snd_max.distance_from(self.snd_una).max(0) as usize;
        let head = flight.min(self.send_mss) + HEADERS_LEN + self.data_options_len();
        let min = usize::from(MIN_PATH_MTU);
        let mut smaller = if mtu > usize::from(BLACK_HOLE_BASE_MTU) { BLACK_HOLE_BASE_MTU.into() } else { mtu / 2 };
        smaller = smaller.max(min);
        while smaller >= head && smaller > min {
            smaller = (smaller / 2).max(min);
        }
        if smaller >= mtu || smaller >= head {
            // Already as small as it gets, or what is lost would not be any smaller: not the path's MTU.
            return false;
        }
        self.path_mss = smaller - HEADERS_LEN;
        self.set_send_mss(self.send_mss.min(self.segment_payload_limit()));
        self.counters.black_hole_reductions += 1;
        self.start_mtu_search(now, smaller);
        true
    }
}
