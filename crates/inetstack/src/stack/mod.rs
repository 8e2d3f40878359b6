//! `Stack`: one host's TCP/IP stack. Sans-I/O: it is handed received frames and the current time, and it
//! queues frames for a device; it never blocks, sleeps, spawns or reads a clock.
//!
//! Driving it: `receive(now, frame)` for each received frame, `poll(now)` when `next_deadline()` passes (ARP
//! retries, TCP timers), `transmit(device)` to hand queued frames to the device. Socket calls (`udp_*`,
//! `tcp_*`) queue work the same way. Sockets whose readiness may have changed are listed by
//! `take_touched()`, so a libOS wakes only the coroutines that care.
//!
//! The layers, in files: the receive fast path (`fast_receive.rs`), ARP (`arp.rs`, `arp_cache.rs`), IPv4 output and routing (`output.rs`), ICMP
//! (`icmp.rs`), UDP (`udp.rs`), the TCP demultiplexer (`tcp.rs`; the connection state machine is `crate::tcp`).

mod arp;
pub mod arp_cache;
mod config;
mod counters;
mod fast_receive;
mod flow_hash;
mod frame_writer;
mod header_template;
mod icmp;
mod icmp_budget;
mod ip_reassembly;
mod output;
mod path_mtu_cache;
mod ports;
mod syn_cookies;
mod tcp;
mod udp;

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

pub use arp_cache::ArpConfig;
pub use config::StackConfig;
pub use counters::StackCounters;
pub use icmp::EchoReply;
use runtime::{BufferPool, DemiBuffer, Fail, Sga};

use crate::device::Device;
use crate::tcp::Nanos;
use crate::wire::{EtherType, EthernetFrame, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr, WireError};
use arp_cache::ArpCache;
use flow_hash::FlowHash;
use icmp_budget::IcmpErrorBudget;
use ports::PortAllocator;
pub use tcp::TcpSocketOptions;
use tcp::{TcpSocket, TcpTables};
use udp::UdpSocket;

/// Names a socket of one stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(u32);

#[derive(Debug)]
enum Socket {
    Udp(UdpSocket),
    Tcp(TcpSocket),
}

/// On a device that gathers ([`StackConfig::gather`]), payloads up to this size still travel in the frame's
/// header buffer, copied behind the headers, rather than as a second segment referring to the application's
/// buffer: for a payload this small the copy costs less than the reference (taken, handed to the device,
/// dropped), and the frame is one buffer, which the device sends as it is.
const INLINE_PAYLOAD: usize = 128;

/// Headroom-free buffers for headers: Ethernet + IPv4 + the largest transport header, and an inlined payload.
/// On a device that does not gather, whole frames (Ethernet header and MTU) instead.
const HEADER_BUFFER: usize = 14 + 20 + 60 + INLINE_PAYLOAD;

/// The size of the stack's frame buffers: headers and a small payload, or whole frames if the device does not
/// gather (see [`INLINE_PAYLOAD`]).
fn frame_buffer_size(config: &StackConfig) -> usize {
    if config.gather { HEADER_BUFFER } else { HEADER_BUFFER.max(crate::wire::ETHERNET_HEADER_LEN + config.mtu) }
}

#[derive(Debug)]
pub struct Stack {
    config: StackConfig,
    now: Instant,
    /// When the stack started (the origin of the ISN clock and of TCP's time).
    epoch: Instant,
    /// `now` as TCP counts time: nanoseconds since `epoch`.
    tcp_now: Nanos,
    arp: ArpCache,
    /// Buffers frames are written into (see [`frame_buffer_size`]).
    frame_pool: BufferPool,
    /// Frames ready for the device, oldest first.
    outbox: VecDeque<Sga>,
    /// Frames addressed to ourselves, processed on the next poll.
    loopback: VecDeque<DemiBuffer>,
    sockets: Vec<Option<Socket>>,
    free_sockets: Vec<u32>,
    udp_ports: HashMap<u16, SocketId, FlowHash>,
    udp_ephemeral: PortAllocator,
    tcp: TcpTables,
    tcp_ephemeral: PortAllocator,
    touched: Vec<SocketId>,
    echo_replies: VecDeque<EchoReply>,
    /// Bounds the ICMP errors sent per second (`StackConfig::icmp_errors_per_second`).
    icmp_errors: IcmpErrorBudget,
    ip_ident: u16,
    /// IPv4 datagrams arriving in fragments (`ip_reassembly.rs`).
    reassembly: ip_reassembly::IpReassembly,
    /// The path MTUs TCP connections learned, per destination (`path_mtu_cache.rs`).
    path_mtus: path_mtu_cache::PathMtuCache,
    counters: StackCounters,
}

impl Stack {
    pub fn new(config: StackConfig, now: Instant) -> Result<Self, Fail> {
        config.validate()?;
        let icmp_errors = IcmpErrorBudget::new(config.icmp_errors_per_second, config.isn_secret);
        let frame_pool = BufferPool::new(0, frame_buffer_size(&config), 1024)?;
        Ok(Self {
            arp: {
                let mut arp = ArpCache::new(config.arp.clone());
                arp.start_announcing(now);
                arp
            },
            udp_ephemeral: PortAllocator::new(config.ephemeral_ports.clone()),
            tcp_ephemeral: PortAllocator::new(config.ephemeral_ports.clone()),
            tcp: TcpTables::new(config.isn_secret, &config.tcp),
            config,
            now,
            epoch: now,
            tcp_now: Nanos::ZERO,
            frame_pool,
            outbox: VecDeque::new(),
            loopback: VecDeque::new(),
            sockets: Vec::new(),
            free_sockets: Vec::new(),
            udp_ports: HashMap::default(),
            touched: Vec::new(),
            echo_replies: VecDeque::new(),
            icmp_errors,
            ip_ident: 0,
            reassembly: ip_reassembly::IpReassembly::default(),
            path_mtus: path_mtu_cache::PathMtuCache::default(),
            counters: StackCounters::default(),
        })
    }

    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    pub fn counters(&self) -> &StackCounters {
        &self.counters
    }

    /// Frames waiting for the device.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Sockets whose readiness may have changed since the last call, appended to `out`. A libOS calls it on
    /// every round with the list it emptied after the last: then the two lists trade places (no copy).
    pub fn take_touched(&mut self, out: &mut Vec<SocketId>) {
        if out.is_empty() {
            std::mem::swap(out, &mut self.touched);
        } else {
            out.append(&mut self.touched);
        }
    }

    /// When `poll` must next run, if any timer is armed (or frames wait on the internal loopback: now).
    #[inline]
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.loopback.is_empty() {
            return Some(self.now);
        }
        let tcp = self.tcp_next_deadline();
        // The common case, nothing waiting for ARP or reassembly, returns TCP's deadline as it is.
        let deadline = match self.arp.next_deadline() {
            None => tcp,
            Some(arp) => Some(tcp.map_or(arp, |tcp| tcp.min(arp))),
        };
        if self.reassembly.is_empty() {
            return deadline;
        }
        [deadline, self.reassembly.next_deadline()].into_iter().flatten().min()
    }

    /// Processes one received Ethernet frame: a segment of a known connection in the common layout by the fast
    /// path (`fast_receive.rs`), anything else layer by layer.
    pub fn receive(&mut self, now: Instant, frame: DemiBuffer) {
        self.advance(now);
        self.counters.frames_in += 1;
        if let Some(frame) = self.receive_fast(frame) {
            self.receive_layered(frame);
        }
    }

    /// The general receive path, out of line so that the fast path's code stays small.
    #[inline(never)]
    fn receive_layered(&mut self, frame: DemiBuffer) {
        if let Err(reason) = self.dispatch(frame, false) {
            self.count_drop(reason);
        }
    }

    /// Runs due timers and frames looped back to ourselves.
    pub fn poll(&mut self, now: Instant) {
        self.advance(now);
        while let Some(frame) = self.loopback.pop_front() {
            if let Err(reason) = self.dispatch(frame, true) {
                self.count_drop(reason);
            }
        }
        if !self.arp.is_idle(self.now) {
            let work = self.arp.poll(self.now);
            self.counters.drop_arp_unresolved += work.dropped as u64;
            for ip in work.requests {
                self.send_arp_request(ip);
            }
            for (ip, mac) in work.polls {
                self.send_arp_poll(ip, mac);
            }
            if work.announce {
                self.send_arp_announcement();
            }
        }
        if !self.reassembly.is_empty() {
            self.expire_fragments();
        }
        self.poll_tcp();
    }

    /// Gives up the datagrams whose fragments did not all arrive in time, telling their senders (RFC 1122
    /// §3.3.2) where the first fragment came.
    #[cold]
    fn expire_fragments(&mut self) {
        let mut given_up = Vec::new();
        self.counters.drop_fragment += self.reassembly.expire(self.now, &mut given_up) as u64;
        for datagram in given_up {
            self.send_reassembly_time_exceeded(&datagram.first, &datagram.quote);
        }
    }

    /// Hands queued frames to `device` until it is full or nothing is left. Returns how many went out.
    pub fn transmit(&mut self, device: &mut dyn Device) -> usize {
        let mut sent = 0;
        while let Some(frame) = self.outbox.pop_front() {
            match device.transmit(frame) {
                Ok(()) => sent += 1,
                Err(frame) => {
                    self.counters.tx_retries += 1;
                    self.outbox.push_front(frame);
                    break;
                }
            }
        }
        device.flush();
        self.counters.frames_out += sent as u64;
        sent
    }

    #[inline]
    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.move_clock(now);
        }
    }

    /// Sets the clock to `now`, a later instant. Out of line: inlined, the conversion's spills of `now` (two
    /// stores, one 16-byte reload) stalled store-to-load forwarding in its callers (found with `perf annotate`).
    #[inline(never)]
    fn move_clock(&mut self, now: Instant) {
        self.now = now;
        self.tcp_now = Nanos::since(self.epoch, now);
    }

    fn count_drop(&mut self, reason: WireError) {
        let c = &mut self.counters;
        match reason {
            WireError::Checksum => c.drop_checksum += 1,
            WireError::Fragmented => c.drop_fragment += 1,
            WireError::Unsupported => c.drop_unsupported += 1,
            WireError::Truncated | WireError::Malformed | WireError::BufferTooSmall | WireError::TooLarge => {
                c.drop_malformed += 1
            }
        }
    }

    /// Handles one frame: from the device, or `looped` back by ourselves (the only way a datagram to or from
    /// the loopback network 127.0.0.0/8 may arrive; from the wire such a datagram is martian and dropped).
    fn dispatch(&mut self, frame: DemiBuffer, looped: bool) -> Result<(), WireError> {
        let ethernet = EthernetRepr::parse(&EthernetFrame::new_checked(&frame[..])?)?;
        if ethernet.dst_addr != self.config.mac && !ethernet.dst_addr.is_broadcast() {
            self.counters.drop_not_for_us += 1;
            return Ok(());
        }
        match ethernet.ethertype {
            EtherType::Arp => self.receive_arp(EthernetFrame::new_checked(&frame[..])?.payload()),
            EtherType::Ipv4 => {
                // The frame itself becomes the datagram's view: no second reference.
                let mut payload = frame;
                payload.adjust(crate::wire::ETHERNET_HEADER_LEN).map_err(|_| WireError::Truncated)?;
                self.receive_ipv4(payload, looped)
            }
            _ => Err(WireError::Unsupported),
        }
    }

    fn receive_ipv4(&mut self, mut datagram: DemiBuffer, looped: bool) -> Result<(), WireError> {
        let (ip, header_len) = {
            let view = Ipv4Packet::new_checked(&datagram[..])?;
            if view.is_fragment() {
                return self.receive_fragment(&view, looped);
            }
            (Ipv4Repr::parse(&view, &self.config.checksums)?, view.header_len())
        };
        let martian = !looped && (ip.dst_addr.is_loopback() || ip.src_addr.is_loopback());
        let for_us =
            self.is_own(ip.dst_addr) || ip.dst_addr.is_broadcast() || ip.dst_addr == self.config.subnet_broadcast();
        if martian || !for_us {
            self.counters.drop_not_for_us += 1;
            return Ok(());
        }
        // Keep exactly the IP payload (Ethernet padding and IP options cut off), as a view of the frame.
        datagram.adjust(header_len).map_err(|_| WireError::Truncated)?;
        let extra = datagram.len().checked_sub(ip.payload_len).ok_or(WireError::Truncated)?;
        datagram.trim(extra).map_err(|_| WireError::Truncated)?;
        match ip.protocol {
            IpProtocol::Icmp => self.receive_icmp(&ip, &datagram),
            IpProtocol::Udp => self.receive_udp(&ip, datagram),
            IpProtocol::Tcp => self.receive_tcp(&ip, datagram),
            _ => {
                if !ip.dst_addr.is_broadcast() {
                    self.send_unreachable(&ip, &datagram, crate::wire::DstUnreachable::ProtocolUnreachable);
                }
                Err(WireError::Unsupported)
            }
        }
    }

    /// A fragment of a datagram: kept for reassembly if it is addressed to us or broadcast, as a whole datagram
    /// would be taken (`ip_reassembly.rs`); the datagram
    /// it completes goes on as if it had arrived whole.
    #[cold]
    #[inline(never)]
    fn receive_fragment(&mut self, view: &Ipv4Packet<&[u8]>, looped: bool) -> Result<(), WireError> {
        if view.version() != 4 {
            return Err(WireError::Malformed);
        }
        if self.config.checksums.ipv4.verify_on_rx() && !view.verify_checksum() {
            return Err(WireError::Checksum);
        }
        let (src, dst) = (view.src_addr(), view.dst_addr());
        let martian = !looped && (dst.is_loopback() || src.is_loopback());
        let for_us = self.is_own(dst) || dst.is_broadcast() || dst == self.config.subnet_broadcast();
        if martian || !for_us {
            self.counters.drop_not_for_us += 1;
            return Ok(());
        }
        match self.reassembly.add(self.now, view) {
            ip_reassembly::Fragment::Kept => Ok(()),
            ip_reassembly::Fragment::Completed(datagram) => {
                self.counters.ip_reassembled += 1;
                // A device that verifies checksums saw only fragments: the transport's is checked here.
                transport_checksum_valid(&datagram)?;
                self.receive_ipv4(datagram, looped)
            }
            ip_reassembly::Fragment::Dropped(earlier) => {
                self.counters.drop_fragment += 1 + earlier as u64;
                Ok(())
            }
        }
    }

    fn insert_socket(&mut self, socket: Socket) -> SocketId {
        match self.free_sockets.pop() {
            Some(index) => {
                self.sockets[index as usize] = Some(socket);
                SocketId(index)
            }
            None => {
                self.sockets.push(Some(socket));
                SocketId((self.sockets.len() - 1) as u32)
            }
        }
    }

    #[inline]
    fn socket_mut(&mut self, id: SocketId) -> Result<&mut Socket, Fail> {
        self.sockets.get_mut(id.0 as usize).and_then(Option::as_mut).ok_or_else(|| no_socket(id))
    }

    #[inline]
    fn socket(&self, id: SocketId) -> Result<&Socket, Fail> {
        self.sockets.get(id.0 as usize).and_then(Option::as_ref).ok_or_else(|| no_socket(id))
    }

    /// Closes a socket: a UDP socket at once; a TCP connection in order (it lives on in the stack until its
    /// FIN handshake is over); a listener resets the connections nobody accepted.
    pub fn close(&mut self, id: SocketId) -> Result<(), Fail> {
        match self.socket(id)? {
            Socket::Udp(udp) => {
                if let Some(local) = udp.local {
                    self.udp_ports.remove(&local.port());
                }
                self.remove_socket(id);
                Ok(())
            }
            Socket::Tcp(_) => self.tcp_release(id),
        }
    }

    fn remove_socket(&mut self, id: SocketId) {
        if let Some(slot) = self.sockets.get_mut(id.0 as usize)
            && slot.take().is_some()
        {
            self.free_sockets.push(id.0);
        }
    }

    /// Whether a socket has something to read (data, a connection, end of stream or an error) and room to
    /// write.
    pub fn readiness(&self, id: SocketId) -> Result<(bool, bool), Fail> {
        match self.socket(id)? {
            Socket::Udp(udp) => Ok((!udp.queue.is_empty() || udp.error.is_some(), true)),
            Socket::Tcp(tcp) => Ok(self.tcp_readiness(tcp)),
        }
    }

    /// The local address of a bound socket.
    pub fn local_addr(&self, id: SocketId) -> Result<Option<SocketAddrV4>, Fail> {
        match self.socket(id)? {
            Socket::Udp(udp) => Ok(udp.local),
            Socket::Tcp(tcp) => Ok(self.tcp_local(tcp)),
        }
    }

    /// Whether a socket may bind to `ip`: every address (0.0.0.0) or one of ours.
    fn our_addr(&self, ip: Ipv4Addr) -> bool {
        ip.is_unspecified() || self.is_own(ip)
    }

    /// Whether `ip` is one of this host's unicast addresses: its configured address, or any of the loopback
    /// network 127.0.0.0/8 (reached only through the stack's internal loopback, as Linux's `lo`).
    pub fn is_own(&self, ip: Ipv4Addr) -> bool {
        ip == self.config.ipv4 || ip.is_loopback()
    }
}

#[cold]
fn no_socket(id: SocketId) -> Fail {
    Fail::with_context(libc::EBADF, format!("no socket {id:?}"))
}

/// Checks, in software, the UDP or TCP checksum of a datagram rebuilt from fragments (whatever the device
/// offloads: it could only see the pieces); `Err(Checksum)` if it is wrong.
fn transport_checksum_valid(datagram: &[u8]) -> Result<(), WireError> {
    let view = Ipv4Packet::new_checked(datagram)?;
    let (src, dst, payload) = (view.src_addr(), view.dst_addr(), view.payload());
    let software = crate::wire::ChecksumCapabilities::software();
    match view.protocol() {
        IpProtocol::Udp => {
            crate::wire::UdpRepr::parse(&crate::wire::UdpPacket::new_checked(payload)?, src, dst, &software)?;
        }
        IpProtocol::Tcp => {
            crate::wire::TcpRepr::parse(&crate::wire::TcpPacket::new_checked(payload)?, src, dst, &software)?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod bottleneck_tests;
#[cfg(test)]
mod call_sequence_tests;
#[cfg(test)]
mod connection_mix_tests;
#[cfg(test)]
mod duplex_close_tests;
#[cfg(test)]
mod fast_path_tests;
#[cfg(test)]
mod memory_bound_tests;
#[cfg(test)]
mod path_mtu_tests;
#[cfg(test)]
mod syn_cookie_tests;
#[cfg(test)]
mod tests;
