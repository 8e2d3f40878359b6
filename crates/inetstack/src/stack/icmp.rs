//! ICMPv4 (RFC 792): answer echo requests, record echo replies (for `ping`), deliver destination-unreachable
//! errors to the UDP socket they concern, and send port/protocol-unreachable errors.

use std::net::Ipv4Addr;
use std::time::Instant;

use runtime::{DemiBuffer, Fail};

use super::{Socket, Stack};
use crate::wire::{DstUnreachable, ICMPV4_ERROR_QUOTE_LEN, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Repr, WireError};

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
            Icmpv4Repr::DstUnreachable { reason, header, data } => self.deliver_unreachable(reason, &header, data),
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
        let error = Icmpv4Repr::DstUnreachable { reason, header: *ip, data: quoted };
        // From the address the datagram was sent to, when it was one of ours (not a broadcast).
        let src = if self.is_own(ip.dst_addr) { ip.dst_addr } else { self.source_for(ip.src_addr) };
        if self.send_icmp(src, ip.src_addr, &error).is_ok() {
            self.counters.icmp_unreachable_out += 1;
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
        if !self.is_own(header.src_addr) || data.len() < 4 {
            return;
        }
        let src_port = u16::from_be_bytes([data[0], data[1]]);
        let dst_port = u16::from_be_bytes([data[2], data[3]]);
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
}
