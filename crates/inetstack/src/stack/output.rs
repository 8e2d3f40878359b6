//! IPv4 output: routing to a next hop, building the Ethernet + IPv4 (+ transport) header in a pooled buffer
//! with the payload behind it (copied, or as a zero-copy segment: see `frame_writer::assemble`), and resolving
//! the next hop's MAC address (frames wait in the ARP cache while it is unknown). A datagram larger than the
//! MTU is EMSGSIZE, unless it is sent in fragments (`send_ipv4_fragments`: UDP; TCP segments always fit).

use std::net::Ipv4Addr;
use std::time::Instant;

use runtime::{DemiBuffer, Fail, Sga};

use super::Stack;
use super::arp_cache::ArpCache;
use super::frame_writer::{FrameWriter, assemble, exceeds_mtu, split};
use super::header_template::HeaderTemplate;
use crate::device::flatten;
use crate::tcp::OutgoingSegment;
use crate::wire::{
    ETHERNET_HEADER_LEN, EtherType, EthernetRepr, IPV4_MIN_HEADER_LEN, IpProtocol, Ipv4Repr, MacAddress,
};

/// Where a datagram goes on the local link.
#[derive(Clone, Copy)]
pub(super) enum NextHop {
    Broadcast,
    Host(Ipv4Addr),
    Ourselves,
}

/// A sender's resolved next hop (a TCP connection's, whose destination never changes), so that each segment
/// skips routing and the ARP table. It is used only while the ARP table is unchanged since (its generation)
/// and the entry it came from has not expired, so it always agrees with what `route` + `ArpCache::lookup`
/// would say; anything else (our own address, broadcast, an unresolved address) is never remembered.
#[derive(Clone, Copy, Debug)]
pub(super) struct CachedHop {
    hop: Ipv4Addr,
    mac: MacAddress,
    generation: u64,
    expires: Option<Instant>,
}

impl CachedHop {
    /// The MAC address of the cached next hop in `cache`, if it is still valid: the ARP table unchanged since,
    /// and the entry it came from not expired at `now`.
    #[inline]
    pub(super) fn valid_mac(cache: &Option<Self>, arp: &ArpCache, now: Instant) -> Option<MacAddress> {
        let c = cache.as_ref()?;
        (c.generation == arp.generation() && c.expires.is_none_or(|t| now < t)).then_some(c.mac)
    }
}

impl Stack {
    pub(super) fn route(&self, dst: Ipv4Addr) -> Result<NextHop, Fail> {
        if dst == self.config.ipv4 || dst.is_loopback() {
            return Ok(NextHop::Ourselves);
        }
        if dst.is_broadcast() || dst == self.config.subnet_broadcast() {
            return Ok(NextHop::Broadcast);
        }
        if dst.is_unspecified() || dst.is_multicast() {
            return Err(Fail::with_context(libc::EINVAL, format!("cannot send to {dst}")));
        }
        if self.config.is_local(dst) {
            return Ok(NextHop::Host(dst));
        }
        match self.config.gateway {
            Some(gateway) => Ok(NextHop::Host(gateway)),
            None => Err(Fail::with_context(libc::ENETUNREACH, format!("no route to {dst} (no gateway configured)"))),
        }
    }

    /// The source address for a datagram to `dst` from a socket not bound to one address: 127.0.0.1 towards
    /// the loopback network (as Linux picks it), our address otherwise.
    pub(super) fn source_for(&self, dst: Ipv4Addr) -> Ipv4Addr {
        if dst.is_loopback() { Ipv4Addr::LOCALHOST } else { self.config.ipv4 }
    }

    /// Builds and queues one datagram from `src` (one of ours, see [`Stack::is_own`]) to `dst`.
    /// `write_transport` fills the transport header (of `transport_len` bytes) given the source address and the
    /// payload bytes (for checksums); `payload` follows it unchanged.
    pub(super) fn send_ipv4(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        transport_len: usize,
        payload: Option<DemiBuffer>,
        write_transport: impl FnOnce(&mut [u8], Ipv4Addr, &[u8]) -> Result<(), crate::wire::WireError>,
    ) -> Result<(), Fail> {
        self.send_ipv4_via(src, dst, protocol, 0, transport_len, payload, &mut None, write_transport)
    }

    /// The next hop towards `dst` and its MAC address if known, from `cache` when it is still valid; a
    /// resolved unicast hop is remembered there.
    fn resolve(&self, dst: Ipv4Addr, cache: &mut Option<CachedHop>) -> Result<(NextHop, Option<MacAddress>), Fail> {
        if let (Some(c), Some(mac)) = (*cache, self.cached_hop_mac(cache)) {
            return Ok((NextHop::Host(c.hop), Some(mac)));
        }
        let generation = self.arp.generation();
        *cache = None;
        let next_hop = self.route(dst)?;
        let mac = match next_hop {
            NextHop::Broadcast => Some(MacAddress::BROADCAST),
            NextHop::Ourselves => Some(self.config.mac),
            NextHop::Host(hop) => self.arp.lookup_entry(self.now, hop).map(|(mac, expires)| {
                *cache = Some(CachedHop { hop, mac, generation, expires });
                mac
            }),
        };
        Ok((next_hop, mac))
    }

    /// The MAC address of the sender's cached next hop, if the cache is still valid (see [`CachedHop`]).
    #[inline]
    pub(super) fn cached_hop_mac(&self, cache: &Option<CachedHop>) -> Option<MacAddress> {
        CachedHop::valid_mac(cache, &self.arp, self.now)
    }

    /// Queues a TCP segment of a connection whose next hop is resolved, its headers written from `template`.
    pub(super) fn send_templated(
        &mut self,
        template: &HeaderTemplate,
        segment: &OutgoingSegment,
        payload: Option<DemiBuffer>,
    ) -> Result<(), Fail> {
        let options_len = segment.options.encoded_len()?;
        self.frame_writer().queue(options_len, payload, |bytes, payload, ident, caps| {
            template.write(bytes, segment, payload, ident, caps)
        })
    }

    /// What writes frames: the frame pool, the outbox, the IPv4 identification, the checksum settings, MTU and
    /// whether the device gathers.
    #[inline]
    pub(super) fn frame_writer(&mut self) -> FrameWriter<'_> {
        FrameWriter {
            frame_pool: &self.frame_pool,
            outbox: &mut self.outbox,
            ip_ident: &mut self.ip_ident,
            checksums: &self.config.checksums,
            mtu: self.config.mtu,
            gather: self.config.gather,
        }
    }

    /// [`Self::send_ipv4`] with the sender's [`CachedHop`] and the IP header's TOS byte.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_ipv4_via(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        tos: u8,
        transport_len: usize,
        payload: Option<DemiBuffer>,
        hop_cache: &mut Option<CachedHop>,
        write_transport: impl FnOnce(&mut [u8], Ipv4Addr, &[u8]) -> Result<(), crate::wire::WireError>,
    ) -> Result<(), Fail> {
        let (next_hop, dst_mac) = self.resolve(dst, hop_cache)?;
        let payload_len = transport_len + payload.as_ref().map_or(0, DemiBuffer::len);
        if IPV4_MIN_HEADER_LEN + payload_len > self.config.mtu {
            return Err(exceeds_mtu(IPV4_MIN_HEADER_LEN + payload_len, self.config.mtu));
        }
        self.ip_ident = self.ip_ident.wrapping_add(1);
        let ip = Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            protocol,
            payload_len,
            ttl: self.config.ttl,
            tos,
            ident: self.ip_ident,
            dont_fragment: true,
        };
        let header_len = ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN + transport_len;
        let mut frame = assemble(&self.frame_pool, self.config.gather, header_len, payload)?;
        {
            let (bytes, payload_bytes) = split(&mut frame, header_len);
            let ethernet = EthernetRepr {
                src_addr: self.config.mac,
                dst_addr: dst_mac.unwrap_or(MacAddress::ZERO),
                ethertype: EtherType::Ipv4,
            };
            ethernet.emit(bytes)?;
            ip.emit(&mut bytes[ETHERNET_HEADER_LEN..], &self.config.checksums)?;
            write_transport(&mut bytes[ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN..], src, payload_bytes)?;
        }
        self.queue_frame(next_hop, dst_mac, frame)
    }

    /// Sends `datagram` (a transport header and its payload, too large for one frame) in IPv4 fragments of as
    /// many multiples of 8 bytes as the MTU allows, under one identification (RFC 791 §3.2). EMSGSIZE past the
    /// largest datagram (65 535 bytes with its header).
    pub(super) fn send_ipv4_fragments(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        datagram: &DemiBuffer,
    ) -> Result<(), Fail> {
        const MAX_DATAGRAM: usize = 65_535;
        if IPV4_MIN_HEADER_LEN + datagram.len() > MAX_DATAGRAM {
            return Err(exceeds_mtu(IPV4_MIN_HEADER_LEN + datagram.len(), MAX_DATAGRAM));
        }
        let (next_hop, dst_mac) = self.resolve(dst, &mut None)?;
        self.ip_ident = self.ip_ident.wrapping_add(1);
        let step = (self.config.mtu - IPV4_MIN_HEADER_LEN) & !7;
        let header_len = ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN;
        let ethernet = EthernetRepr {
            src_addr: self.config.mac,
            dst_addr: dst_mac.unwrap_or(MacAddress::ZERO),
            ethertype: EtherType::Ipv4,
        };
        let mut offset = 0;
        while offset < datagram.len() {
            let len = step.min(datagram.len() - offset);
            let more = offset + len < datagram.len();
            let piece = datagram.subview(offset, len).ok_or_else(|| Fail::new(libc::EINVAL, "fragment bounds"))?;
            let mut frame = assemble(&self.frame_pool, self.config.gather, header_len, Some(piece))?;
            let (bytes, _) = split(&mut frame, header_len);
            ethernet.emit(bytes)?;
            let ip = Ipv4Repr {
                src_addr: src,
                dst_addr: dst,
                protocol,
                payload_len: len,
                ttl: self.config.ttl,
                tos: 0,
                ident: self.ip_ident,
                dont_fragment: false,
            };
            ip.emit_fragment(&mut bytes[ETHERNET_HEADER_LEN..], offset, more, &self.config.checksums)?;
            self.queue_frame(next_hop, dst_mac, frame)?;
            self.counters.ip_fragments_out += 1;
            offset += len;
        }
        Ok(())
    }

    /// Queues a frame for `next_hop`: for the device if its MAC address `dst_mac` is known, on the internal
    /// loopback if it is us, else behind the ARP request for it.
    fn queue_frame(&mut self, next_hop: NextHop, dst_mac: Option<MacAddress>, frame: Sga) -> Result<(), Fail> {
        match (next_hop, dst_mac) {
            (NextHop::Ourselves, _) => self.loopback.push_back(flatten(&frame)?),
            (_, Some(_)) => self.outbox.push_back(frame),
            (NextHop::Host(hop), None) => {
                let (request, dropped) = self.arp.enqueue(self.now, hop, frame);
                if dropped {
                    self.counters.drop_arp_unresolved += 1;
                }
                if request {
                    self.send_arp_request(hop);
                }
            }
            (NextHop::Broadcast, None) => unreachable!("broadcast always has a MAC"),
        }
        Ok(())
    }

    /// Frames that waited for `mac`: fill in the destination and queue them.
    pub(super) fn release_pending(&mut self, mac: MacAddress, frames: impl IntoIterator<Item = Sga>) {
        for mut frame in frames {
            if let Some(header) = frame.segments_mut().first_mut().and_then(DemiBuffer::as_mut_slice) {
                header[..6].copy_from_slice(&mac.octets());
                self.outbox.push_back(frame);
            }
        }
    }
}
