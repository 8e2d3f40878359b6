//! ICMPv4 (RFC 792): answer echo requests, record echo replies (for `ping`), deliver destination-unreachable
//! and time-exceeded errors to the socket they concern, and send port/protocol-unreachable errors and
//! time-exceeded errors for datagrams whose fragments did not all arrive.

use std::net::Ipv4Addr;
use std::time::Instant;

use runtime::{DemiBuffer, Fail};

use super::{Socket, Stack};
use crate::wire::{
    DstUnreachable, ICMPV4_ERROR_QUOTE_LEN, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Repr, TimeExceeded, WireError,
    is_icmp_error_type,
};

/// Echo replies kept for `take_echo_reply` before the oldest is dropped.
const MAX_ECHO_REPLIES: usize = 64;

/// An echo reply received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EchoReply {
    pub from: Ipv4Addr,
    pub ident: u16,
    pub seq_no: u16,
    pub data: Vec<u8>,
    pub at: Instant,
}

impl Stack {
    pub(super) fn receive_icmp(&mut self, ip: &Ipv4Repr, bytes: &[u8]) -> Result<(), WireError> {
        let packet = Icmpv4Packet::new_checked(bytes)?;
        match Icmpv4Repr::parse(&packet, &self.config.checksums)? {
            Icmpv4Repr::EchoRequest { ident, seq_no, data } if self.is_own(ip.dst_addr) => {
                let reply = Icmpv4Repr::EchoReply { ident, seq_no, data };
                if self.send_icmp(ip.dst_addr, ip.src_addr, &reply).is_ok() {
                    self.counters.icmp_echo_replies_out += 1;
                }
            }
            Icmpv4Repr::EchoRequest { .. } => {} // broadcast pings are not answered
            Icmpv4Repr::EchoReply { ident, seq_no, data } => {
                if self.echo_replies.len() == MAX_ECHO_REPLIES {
                    self.echo_replies.pop_front();
                }
                let reply = EchoReply { from: ip.src_addr, ident, seq_no, data: data.to_vec(), at: self.now };
                self.echo_replies.push_back(reply);
            }
            Icmpv4Repr::DstUnreachable { reason: DstUnreachable::FragmentationNeeded, next_hop_mtu, header, data } => {
                self.deliver_fragmentation_needed(next_hop_mtu, &header, data)
            }
            Icmpv4Repr::DstUnreachable { reason, header, data, .. } => self.deliver_unreachable(reason, &header, data),
            Icmpv4Repr::TimeExceeded { reason, header, data } => self.deliver_time_exceeded(reason, &header, data),
        }
        Ok(())
    }

    /// Sends an echo request (the stack's `ping`).
    pub fn ping(&mut self, now: Instant, dst: Ipv4Addr, ident: u16, seq_no: u16, data: &[u8]) -> Result<(), Fail> {
        self.advance(now);
        self.send_icmp(self.source_for(dst), dst, &Icmpv4Repr::EchoRequest { ident, seq_no, data })
    }

    /// The oldest echo reply not yet taken.
    pub fn take_echo_reply(&mut self) -> Option<EchoReply> {
        self.echo_replies.pop_front()
    }

    /// Tells the sender of `datagram` (whose header was `ip`) that we cannot deliver it.
    pub(super) fn send_unreachable(&mut self, ip: &Ipv4Repr, datagram: &DemiBuffer, reason: DstUnreachable) {
        if !self.icmp_errors.allow(self.tcp_now) {
            self.counters.icmp_errors_suppressed += 1;
            return;
        }
        let quoted = &datagram[..datagram.len().min(ICMPV4_ERROR_QUOTE_LEN)];
        let error = Icmpv4Repr::DstUnreachable { reason, next_hop_mtu: 0, header: *ip, data: quoted };
        // From the address the datagram was sent to, when it was one of ours (not a broadcast).
        let src = if self.is_own(ip.dst_addr) { ip.dst_addr } else { self.source_for(ip.src_addr) };
        if self.send_icmp(src, ip.src_addr, &error).is_ok() {
            self.counters.icmp_unreachable_out += 1;
        }
    }

    /// Tells the sender of a datagram that arrived in fragments, not all in time, that it was given up (RFC 1122
    /// §3.3.2: only if its first fragment, whose header is `first` and whose payload starts with `quote`,
    /// arrived). Not for a datagram to a broadcast address, from an address that is not one host's, or that is
    /// itself an ICMP error (§3.2.2).
    pub(super) fn send_reassembly_time_exceeded(&mut self, first: &Ipv4Repr, quote: &[u8]) {
        let broadcast = first.dst_addr.is_broadcast() || first.dst_addr == self.config.subnet_broadcast();
        let source = first.src_addr;
        let not_one_host = source.is_unspecified()
            || source.is_broadcast()
            || source.is_multicast()
            || source.is_loopback()
            || source == self.config.subnet_broadcast();
        let about_an_error =
            first.protocol == IpProtocol::Icmp && quote.first().is_some_and(|&t| is_icmp_error_type(t));
        if broadcast || not_one_host || about_an_error || !self.is_own(first.dst_addr) {
            return;
        }
        if !self.icmp_errors.allow(self.tcp_now) {
            self.counters.icmp_errors_suppressed += 1;
            return;
        }
        let quoted = &quote[..quote.len().min(ICMPV4_ERROR_QUOTE_LEN)];
        let error = Icmpv4Repr::TimeExceeded { reason: TimeExceeded::FragmentReassembly, header: *first, data: quoted };
        if self.send_icmp(first.dst_addr, source, &error).is_ok() {
            self.counters.icmp_time_exceeded_out += 1;
        }
    }

    fn send_icmp(&mut self, src: Ipv4Addr, dst: Ipv4Addr, icmp: &Icmpv4Repr<'_>) -> Result<(), Fail> {
        // ICMP messages are small (echo data is bounded by the MTU check): copy them into one buffer.
        let mut body = DemiBuffer::new(icmp.buffer_len())?;
        icmp.emit(body.as_mut_slice().expect("fresh buffer"), &self.config.checksums)?;
        self.send_ipv4(src, dst, IpProtocol::Icmp, 0, Some(body), |_, _, _| Ok(()))
    }

    /// An ICMP error about a datagram we sent (its IP header and first bytes quoted): a UDP socket reports it
    /// on its next receive; a TCP connection in SYN-SENT aborts (see `TcpConnection::on_icmp_unreachable`).
    fn deliver_unreachable(&mut self, reason: DstUnreachable, header: &Ipv4Repr, data: &[u8]) {
        let Some((src_port, dst_port)) = self.quoted_ports(header, data) else { return };
        let errno = match reason {
            DstUnreachable::PortUnreachable | DstUnreachable::ProtocolUnreachable => libc::ECONNREFUSED,
            DstUnreachable::NetUnreachable => libc::ENETUNREACH,
            _ => libc::EHOSTUNREACH,
        };
        let error = Fail::with_context(errno, format!("{}:{dst_port} is unreachable ({reason:?})", header.dst_addr));
        match header.protocol {
            IpProtocol::Udp => {
                let Some(&id) = self.udp_ports.get(&src_port) else { return };
                if let Ok(Socket::Udp(udp)) = self.socket_mut(id) {
                    udp.error = Some(error);
                    self.touched.push(id);
                }
            }
            IpProtocol::Tcp => {
                let local = std::net::SocketAddrV4::new(header.src_addr, src_port);
                let remote = std::net::SocketAddrV4::new(header.dst_addr, dst_port);
                self.tcp_unreachable(local, remote, error);
            }
            _ => {}
        }
    }

    /// An ICMP time-exceeded error about a datagram we sent: a soft error for a TCP connection (RFC 1122
    /// §4.2.3.9: reported only if the connection then times out, even in SYN-SENT), and nothing for a UDP
    /// socket (as Linux, which reports it only to sockets that asked for IP_RECVERR). Counted either way.
    fn deliver_time_exceeded(&mut self, reason: TimeExceeded, header: &Ipv4Repr, data: &[u8]) {
        self.counters.icmp_time_exceeded_in += 1;
        let Some((src_port, dst_port)) = self.quoted_ports(header, data) else { return };
        if header.protocol == IpProtocol::Tcp {
            let error = Fail::with_context(
                libc::EHOSTUNREACH,
                format!("time exceeded to {}:{dst_port} ({reason:?})", header.dst_addr),
            );
            let local = std::net::SocketAddrV4::new(header.src_addr, src_port);
            let remote = std::net::SocketAddrV4::new(header.dst_addr, dst_port);
            self.tcp_soft_error(local, remote, error);
        }
    }

    /// An ICMP fragmentation-needed error (RFC 1191) about a datagram we sent with Don't Fragment: for a TCP
    /// segment, its connection learns the path MTU (`TcpConnection::on_path_mtu`). A UDP socket is not told
    /// (we do not set DF on UDP; Linux reports it only with IP_RECVERR). Counted either way.
    fn deliver_fragmentation_needed(&mut self, next_hop_mtu: u16, header: &Ipv4Repr, data: &[u8]) {
        self.counters.icmp_frag_needed_in += 1;
        let Some((src_port, dst_port)) = self.quoted_ports(header, data) else { return };
        let Some(seq) = data.get(4..8) else { return };
        if header.protocol != IpProtocol::Tcp {
            return;
        }
        let quoted_seq = crate::wire::SeqNumber(u32::from_be_bytes([seq[0], seq[1], seq[2], seq[3]]));
        let Some(mtu) = path_mtu_estimate(next_hop_mtu, header.total_len()) else { return };
        let local = std::net::SocketAddrV4::new(header.src_addr, src_port);
        let remote = std::net::SocketAddrV4::new(header.dst_addr, dst_port);
        self.tcp_path_mtu(local, remote, mtu, quoted_seq);
    }

    /// The source and destination ports of a UDP or TCP datagram we sent, quoted by an ICMP error (its header
    /// `header`, its payload's first bytes `data`); `None` if it was not from us or too little is quoted.
    fn quoted_ports(&self, header: &Ipv4Repr, data: &[u8]) -> Option<(u16, u16)> {
        if !self.is_own(header.src_addr) || data.len() < 4 {
            return None;
        }
        Some((u16::from_be_bytes([data[0], data[1]]), u16::from_be_bytes([data[2], data[3]])))
    }
}

/// RFC 1191 §7's plateaus: the MTUs common on the Internet, largest first.
const MTU_PLATEAUS: [u16; 10] = [32_000, 17_914, 8_166, 4_352, 2_002, 1_492, 1_006, 508, 296, 68];

/// The path MTU a fragmentation-needed error about a datagram of `dropped_len` bytes says: the next-hop MTU
/// it names, or, from a router that names none (RFC 1191 §5: 0) or one below IPv4's minimum of 68, the
/// largest plateau below that length. `None` for an error naming an MTU the datagram fit in: no router drops
/// such a datagram, so the error is bogus.
fn path_mtu_estimate(next_hop_mtu: u16, dropped_len: usize) -> Option<u16> {
    if usize::from(next_hop_mtu) >= dropped_len {
        return None;
    }
    if next_hop_mtu >= 68 {
        return Some(next_hop_mtu);
    }
    Some(MTU_PLATEAUS.into_iter().find(|&plateau| usize::from(plateau) < dropped_len).unwrap_or(68))
}

#[cfg(test)]
mod tests {
    use super::path_mtu_estimate;

    #[test]
    fn the_path_mtu_is_the_named_one_else_the_plateau_below_the_dropped_datagram_and_never_one_it_fit() {
        assert_eq!(path_mtu_estimate(1280, 1500), Some(1280));
        assert_eq!(path_mtu_estimate(0, 1500), Some(1492), "an old router names none");
        assert_eq!(path_mtu_estimate(1500, 1500), None, "it fit: bogus");
        assert_eq!(path_mtu_estimate(9000, 1500), None);
        assert_eq!(path_mtu_estimate(0, 1492), Some(1006));
        assert_eq!(path_mtu_estimate(0, 9000), Some(8166));
        assert_eq!(path_mtu_estimate(0, 60), Some(68), "nothing below: the minimum");
        assert_eq!(path_mtu_estimate(40, 1500), Some(1492), "below IPv4's minimum: not an MTU");
    }
}
