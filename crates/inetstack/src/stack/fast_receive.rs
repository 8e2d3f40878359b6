//! The receive fast path: a frame that is a TCP segment of one of our connections, in the common layout, is
//! parsed in one pass ([`TcpFrame`]), its connection found with one lookup, and handed over; the connection's
//! own header prediction (`crate::tcp`) then takes it if it is the expected segment.
//!
//! Not for anything else (ARP, ICMP, UDP, IPv4 options or fragments, unusual TCP options, segments for
//! listeners or for nobody, a SYN without ACK, bad checksums, frames not addressed to us): those go back,
//! untouched and uncounted, to the layered path (`Stack::dispatch`), which stays the reference and does exactly
//! what it would have done for them. For the frames taken here it would have reached the same connection with
//! the same segment and payload view; tests run the same traffic both ways (`TcpConfig::fast_paths`) and
//! compare.

use std::net::SocketAddrV4;

use runtime::DemiBuffer;

use super::Stack;
use crate::wire::TcpFrame;

impl Stack {
    /// Takes `frame` if it is a TCP segment in the common layout, sent to our MAC and address from off the
    /// loopback network, for a known connection; otherwise gives it back for the layered path.
    #[inline]
    pub(super) fn receive_fast(&mut self, frame: DemiBuffer) -> Option<DemiBuffer> {
        if !self.config.tcp.fast_paths {
            return Some(frame);
        }
        let Some(parsed) = TcpFrame::parse(&frame, &self.config.checksums) else { return Some(frame) };
        let ours = parsed.dst_mac == self.config.mac
            && parsed.dst_addr == self.config.ipv4
            && !parsed.dst_addr.is_loopback()
            && !parsed.src_addr.is_loopback();
        if !ours {
            return Some(frame);
        }
        let local = SocketAddrV4::new(parsed.dst_addr, parsed.tcp.dst_port);
        let remote = SocketAddrV4::new(parsed.src_addr, parsed.tcp.src_port);
        let Some(id) = self.tcp_connection_for(local, remote) else { return Some(frame) };
        // The payload as a view of the frame, without the headers and any Ethernet padding.
        let Some(payload) = frame.subview(parsed.payload_offset, parsed.tcp.payload.len()) else {
            return Some(frame);
        };
        self.counters.tcp_in += 1;
        self.counters.tcp_in_fast += 1;
        self.segment_for_connection(id, &parsed.tcp, payload, parsed.ecn);
        None
    }
}
