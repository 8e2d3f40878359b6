//! UDP sockets (RFC 768): bind (port 0 picks an ephemeral port), optional default peer, sendto, and a
//! bounded receive queue of datagrams with their senders. Datagrams to a closed port get an ICMP
//! port-unreachable; an ICMP error about one of our datagrams is reported by the next receive.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use runtime::{DemiBuffer, Fail, Sga};

use super::{Socket, SocketId, Stack};
use crate::device::flatten;
use crate::wire::{
    DstUnreachable, IPV4_MIN_HEADER_LEN, IpProtocol, Ipv4Repr, UDP_HEADER_LEN, UdpPacket, UdpRepr, WireError,
};

#[derive(Debug, Default)]
pub(super) struct UdpSocket {
    pub(super) local: Option<SocketAddrV4>,
    pub(super) remote: Option<SocketAddrV4>,
    pub(super) queue: VecDeque<(DemiBuffer, SocketAddrV4)>,
    pub(super) error: Option<Fail>,
}

impl Stack {
    pub fn udp_open(&mut self) -> SocketId {
        self.insert_socket(Socket::Udp(UdpSocket::default()))
    }

    fn udp(&mut self, id: SocketId) -> Result<&mut UdpSocket, Fail> {
        match self.socket_mut(id)? {
            Socket::Udp(udp) => Ok(udp),
            Socket::Tcp(_) => Err(Fail::with_context(libc::EPROTOTYPE, format!("{id:?} is not a UDP socket"))),
        }
    }

    /// Binds to `local` (our address or 0.0.0.0; port 0 for an ephemeral port). EADDRINUSE if taken.
    pub fn udp_bind(&mut self, id: SocketId, local: SocketAddrV4) -> Result<SocketAddrV4, Fail> {
        if !self.our_addr(*local.ip()) {
            return Err(Fail::with_context(libc::EADDRNOTAVAIL, format!("{} is not our address", local.ip())));
        }
        if self.udp(id)?.local.is_some() {
            return Err(Fail::new(libc::EINVAL, "socket is already bound"));
        }
        let port = match local.port() {
            0 => {
                let ports = &self.udp_ports;
                self.udp_ephemeral
                    .allocate(|p| ports.contains_key(&p))
                    .ok_or_else(|| Fail::new(libc::EADDRINUSE, "no ephemeral UDP port left"))?
            }
            port if self.udp_ports.contains_key(&port) => {
                return Err(Fail::with_context(libc::EADDRINUSE, format!("UDP port {port} is in use")));
            }
            port => port,
        };
        let bound = SocketAddrV4::new(*local.ip(), port);
        self.udp(id)?.local = Some(bound);
        self.udp_ports.insert(port, id);
        Ok(bound)
    }

    /// Sets the default peer (binding to an ephemeral port first if needed); only its datagrams are received.
    pub fn udp_connect(&mut self, id: SocketId, remote: SocketAddrV4) -> Result<(), Fail> {
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(Fail::with_context(libc::EINVAL, format!("cannot connect to {remote}")));
        }
        if self.udp(id)?.local.is_none() {
            self.udp_bind(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
        }
        self.udp(id)?.remote = Some(remote);
        Ok(())
    }

    /// The default peer set by `udp_connect`.
    pub fn udp_peer(&mut self, id: SocketId) -> Result<Option<SocketAddrV4>, Fail> {
        Ok(self.udp(id)?.remote)
    }

    /// Sends one datagram to `to`, or to the default peer.
    pub fn udp_send(&mut self, now: Instant, id: SocketId, sga: &Sga, to: Option<SocketAddrV4>) -> Result<(), Fail> {
        self.advance(now);
        let udp = self.udp(id)?;
        let remote = to.or(udp.remote).ok_or_else(|| Fail::new(libc::EDESTADDRREQ, "no destination"))?;
        if remote.port() == 0 {
            return Err(Fail::with_context(libc::EINVAL, format!("cannot send to port 0 ({remote})")));
        }
        if udp.local.is_none() {
            self.udp_bind(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
        }
        let local = self.udp(id)?.local.expect("bound above");
        let src = if local.ip().is_unspecified() { self.source_for(*remote.ip()) } else { *local.ip() };
        let payload = flatten(sga)?;
        let (src_port, dst_port) = (local.port(), remote.port());
        if IPV4_MIN_HEADER_LEN + UDP_HEADER_LEN + payload.len() > self.config.mtu {
            self.udp_send_fragmented(src, remote, src_port, &payload)?;
        } else {
            let checksums = self.config.checksums;
            self.send_ipv4(
                src,
                *remote.ip(),
                IpProtocol::Udp,
                UDP_HEADER_LEN,
                Some(payload),
                |header, src, payload| {
                    UdpRepr { src_port, dst_port, payload }.emit_header(header, src, *remote.ip(), &checksums)
                },
            )?;
        }
        self.counters.udp_out += 1;
        Ok(())
    }

    /// A datagram too large for one frame, in IPv4 fragments (as Linux fragments a UDP datagram larger than the
    /// path's MTU). Its checksum covers every fragment, so software computes it whatever the device offloads.
    #[cold]
    fn udp_send_fragmented(
        &mut self,
        src: Ipv4Addr,
        remote: SocketAddrV4,
        src_port: u16,
        payload: &[u8],
    ) -> Result<(), Fail> {
        const MAX_PAYLOAD: usize = 65_535 - IPV4_MIN_HEADER_LEN - UDP_HEADER_LEN;
        if payload.len() > MAX_PAYLOAD {
            let len = payload.len();
            return Err(Fail::with_context(
                libc::EMSGSIZE,
                format!("{len} bytes exceed a UDP datagram's {MAX_PAYLOAD}"),
            ));
        }
        let repr = UdpRepr { src_port, dst_port: remote.port(), payload };
        let mut datagram = vec![0u8; UDP_HEADER_LEN + payload.len()];
        repr.emit_header(
            &mut datagram[..UDP_HEADER_LEN],
            src,
            *remote.ip(),
            &crate::wire::ChecksumCapabilities::software(),
        )?;
        datagram[UDP_HEADER_LEN..].copy_from_slice(payload);
        let datagram = DemiBuffer::from_slice(&datagram)?;
        self.send_ipv4_fragments(src, *remote.ip(), IpProtocol::Udp, &datagram)
    }

    /// The next datagram (at most `max_len` bytes of it; the rest is discarded, as POSIX does), or the error
    /// an ICMP message reported. `Ok(None)` when nothing is waiting.
    pub fn udp_recv(&mut self, id: SocketId, max_len: usize) -> Result<Option<(Sga, SocketAddrV4)>, Fail> {
        let udp = self.udp(id)?;
        if let Some(error) = udp.error.take() {
            return Err(error);
        }
        Ok(udp.queue.pop_front().map(|(mut data, from)| {
            let _ = data.trim(data.len().saturating_sub(max_len));
            (Sga::from_buffer(data), from)
        }))
    }

    pub(super) fn receive_udp(&mut self, ip: &Ipv4Repr, datagram: DemiBuffer) -> Result<(), WireError> {
        let (src_port, dst_port, len) = {
            let packet = UdpPacket::new_checked(&datagram[..])?;
            let repr = UdpRepr::parse(&packet, ip.src_addr, ip.dst_addr, &self.config.checksums)?;
            (repr.src_port, repr.dst_port, repr.payload.len())
        };
        self.counters.udp_in += 1;
        let from = SocketAddrV4::new(ip.src_addr, src_port);
        // A socket bound to one address gets only datagrams sent to it.
        let bound = self.udp_ports.get(&dst_port).copied().filter(|&id| match self.socket(id) {
            Ok(Socket::Udp(udp)) => udp.local.is_none_or(|l| l.ip().is_unspecified() || *l.ip() == ip.dst_addr),
            _ => false,
        });
        let Some(id) = bound else {
            if self.is_own(ip.dst_addr) {
                self.send_unreachable(ip, &datagram, DstUnreachable::PortUnreachable);
            }
            return Ok(());
        };
        let limit = self.config.udp_queue_len;
        let udp = self.udp(id).map_err(|_| WireError::Unsupported)?;
        if udp.remote.is_some_and(|r| r != from) {
            return Ok(());
        }
        if udp.queue.len() >= limit {
            self.counters.drop_udp_queue_full += 1;
            return Ok(());
        }
        let mut payload = datagram;
        payload.adjust(UDP_HEADER_LEN).map_err(|_| WireError::Truncated)?;
        payload.trim(payload.len() - len).map_err(|_| WireError::Truncated)?;
        udp.queue.push_back((payload, from));
        self.touched.push(id);
        Ok(())
    }
}
