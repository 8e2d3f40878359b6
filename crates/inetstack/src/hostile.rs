//! A host under hostile input: the whole receive path of one stack with open sockets, driven by an arbitrary
//! byte string. The `host` fuzz target (`crates/inetstack/fuzz`) feeds it libFuzzer's inputs; this crate's tests
//! feed it seeded random ones, so the same checks run in every `cargo test`.
//!
//! The host (B, 10.0.0.2) has a TCP listener on port 80, one established connection from A (10.0.0.1) with
//! data of its own unacknowledged, and a UDP socket on port 53. The input is a list of actions: raw Ethernet
//! frames, raw IPv4 datagrams in a valid Ethernet header, TCP segments for the connection or the listener and
//! UDP datagrams built from fuzzed fields with correct checksums (so the state machine, not only the parsers,
//! sees them), IPv4 fragments, ICMP errors about the connection's segments (fragmentation needed with fuzzed
//! MTUs and sequence numbers, the other unreachables, time exceeded), time steps, and application calls. One of
//! those opens a connection from B to A, which the input then answers from SYN-SENT on (segments whose ACK is
//! near B's ISS, so that a SYN-ACK may be taken, and whose sequence number follows B's ACKs). Checks, besides
//! "no panic":
//!
//! - the outbox drains into a device that takes everything;
//! - every byte either connection delivers is the byte injected at that sequence number (injected payloads are a
//!   function of their sequence number, so any reassembly or window bug shows as a wrong byte);
//! - once every socket is closed and time runs on, the host goes quiet: no timer stays armed, no frame waits,
//!   and nothing stays charged to the stack's limits on received data and data to send. Those limits are small
//!   (the floors of `tcp/memory_limit.rs` and a little more), so that the input reaches the refusals.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use runtime::{DemiBuffer, Sga};

use crate::device::flatten;
use crate::phy::FaultConfig;
use crate::sim::{Capture, Simulation};
use crate::stack::{SocketId, Stack, StackConfig};
use crate::tcp::{CongestionAlgorithm, TcpState};
use crate::wire::dissect::{Frame, FrameContents, Transport};
use crate::wire::{
    ChecksumCapabilities, DstUnreachable, EtherType, EthernetRepr, Icmpv4Repr, IpProtocol, Ipv4Repr, MacAddress,
    SeqNumber, TCP_MIN_HEADER_LEN, TcpRepr, TimeExceeded, UdpRepr, checksum_from_sum, combine, ipv4_pseudo_header_sum,
    ones_complement_sum,
};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const MAC_A: MacAddress = MacAddress([2, 0, 0, 0, 0, 1]);
const MAC_B: MacAddress = MacAddress([2, 0, 0, 0, 0, 2]);
const TCP_PORT: u16 = 80;
const UDP_PORT: u16 = 53;
/// Bytes B has sent and A has not acknowledged when the input starts.
const UNACKED: usize = 3000;
/// Actions taken from one input at most (a long input cannot make one run slow).
const MAX_ACTIONS: usize = 512;
/// The hosts' limit on received data: four floors, so that the input's data past it is refused.
const RECEIVE_MEMORY: usize = 4 * crate::tcp::memory_limit::RECEIVE_FLOOR;

/// The byte every injected TCP payload carries at sequence number `seq`.
fn pattern(seq: SeqNumber) -> u8 {
    (seq.0 ^ (seq.0 >> 8)).wrapping_mul(31) as u8
}

/// Reads the input front to back; past its end every read gives zeros.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn u8(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(b, rest)| (*b, rest));
        self.0 = rest;
        first
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    /// Up to 40 bytes of TCP options, padded with zeros (EOL) to a multiple of 4.
    fn tcp_options(&mut self) -> Vec<u8> {
        let len = usize::from(self.u8() % 11) * 4;
        let mut options = self.bytes(len).to_vec();
        options.resize(len, 0);
        options
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }
}

/// The host under test and what the harness knows about its connection.
struct Host {
    stack: Stack,
    now: Instant,
    listener: SocketId,
    connection: SocketId,
    udp: SocketId,
    /// A's end of the connection.
    peer: SocketAddrV4,
    /// Highest sequence number B has sent on the connection (its SND.NXT, as seen on the wire).
    snd_nxt: SeqNumber,
    /// Next byte B will deliver to the application, and whether delivered bytes can be checked against
    /// [`pattern`] (not once a raw frame happened to be a valid segment of the connection).
    rcv_next: SeqNumber,
    check_payload: bool,
    eof: bool,
    /// The application closed the connection (it reads no more; the stack finishes the close, and the
    /// connection may wait in FIN-WAIT-2 or TIME-WAIT as a record that the input's segments wake).
    released: bool,
    delivered: usize,
    accepted: Vec<SocketId>,
    /// A connection B opens to A when the input asks (an application call), which the input then answers.
    active: Option<Active>,
}

/// B's connection to A: the input plays A, from SYN-SENT on.
struct Active {
    id: SocketId,
    /// B's end (its address and ephemeral port) and A's.
    local: SocketAddrV4,
    remote: SocketAddrV4,
    /// B's ISS, from its SYN on the wire.
    iss: Option<SeqNumber>,
    /// The latest ACK B sent (its RCV.NXT), and the first (A's ISS + 1): where delivered bytes start.
    ack: Option<SeqNumber>,
    first_ack: Option<SeqNumber>,
    /// Bytes delivered so far, and whether they can be checked against [`pattern`] (not once a raw frame
    /// happened to be a segment of the connection).
    read: u32,
    check_payload: bool,
    done: bool,
    released: bool,
}

/// What one run did, for tests that want to see an action take effect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes the connection delivered to the application (each checked against the injected pattern).
    pub delivered: usize,
    /// The same for the connection B opened, if any.
    pub active_delivered: usize,
}

/// Runs one input against a fresh host; panics (a fuzzer finding) when a check fails.
pub fn run(input: &[u8]) -> Outcome {
    // The last byte's high bit picks Accurate ECN for both ends (a peek: every input still means what it did).
    let mut host = Host::new(input.last().is_some_and(|byte| byte & 0x80 != 0));
    let mut input = Reader(input);
    for _ in 0..MAX_ACTIONS {
        if input.is_empty() {
            break;
        }
        host.act(&mut input);
        host.pump();
    }
    host.finish()
}

impl Host {
    fn new(accurate_ecn: bool) -> Self {
        let t0 = Instant::now();
        // Both ask for ECN, so that the connection's ECN paths (CE marks, ECE, CWR) are open to the input too; B,
        // the host under test, runs DCTCP (the exact echo, the observation windows, the scaled cut). With
        // `accurate_ecn`, both ask for Accurate ECN instead (the ACE counters, the handshake encodings).
        let config = |mac, ip, congestion| {
            let mut config = StackConfig::new(mac, ip, 24);
            config.tcp.ecn = true;
            config.tcp.accurate_ecn = accurate_ecn;
            config.tcp.congestion = congestion;
            config.tcp.receive_memory = RECEIVE_MEMORY;
            config.tcp.send_memory = crate::tcp::memory_limit::SEND_FLOOR;
            config
        };
        let a = Stack::new(config(MAC_A, A, CongestionAlgorithm::Cubic), t0).expect("valid config");
        let b = Stack::new(config(MAC_B, B, CongestionAlgorithm::Dctcp), t0).expect("valid config");
        let mut sim = Simulation::new(vec![a, b], t0, Duration::from_micros(10), FaultConfig::default(), 1);
        let listener = sim.hosts[1].tcp_open();
        sim.hosts[1].tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, TCP_PORT)).expect("free port");
        sim.hosts[1].tcp_listen(listener, 4).expect("listen");
        let udp = sim.hosts[1].udp_open();
        sim.hosts[1].udp_bind(udp, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, UDP_PORT)).expect("free port");
        let client = sim.hosts[0].tcp_open();
        let now = sim.now();
        sim.hosts[0].tcp_connect(now, client, SocketAddrV4::new(B, TCP_PORT)).expect("connect");
        let mut accepted = None;
        let established = sim.run_until(Duration::from_secs(5), |s| {
            if accepted.is_none() {
                accepted = s.hosts[1].tcp_accept(listener).expect("listener");
            }
            accepted.is_some() && s.hosts[0].tcp_state(client).expect("client") == TcpState::Established
        });
        assert!(established, "the setup connection must establish");
        let (connection, peer) = accepted.expect("accepted");
        // A's first bytes reach B and are read, so B's receive side has history; then B sends data A never
        // acknowledges: A is taken off the wire and the input speaks for it from here on.
        let now = sim.now();
        sim.hosts[0].tcp_send(now, client, &Sga::from_slice(b"hello").expect("alloc")).expect("send");
        assert!(sim.run_until(Duration::from_secs(5), |s| s.hosts[1].readiness(connection).expect("socket").0));
        let hello = sim.hosts[1].tcp_recv(connection, 64).expect("socket").expect("data");
        assert_eq!(hello.to_vec(), b"hello");
        let now = sim.now();
        let data: Vec<u8> = (0..UNACKED).map(|i| i as u8).collect();
        let sent = sim.hosts[1].tcp_send(now, connection, &Sga::from_slice(&data).expect("alloc")).expect("send");
        assert_eq!(sent, UNACKED);
        let mut stack = sim.hosts.pop().expect("B");
        let mut host = Self {
            stack: {
                let mut sink = Capture::default();
                stack.transmit(&mut sink);
                stack
            },
            now,
            listener,
            connection,
            udp,
            peer,
            snd_nxt: SeqNumber(0),
            rcv_next: SeqNumber(0),
            check_payload: true,
            eof: false,
            released: false,
            delivered: 0,
            accepted: Vec::new(),
            active: None,
        };
        // B's next segment tells where both directions stand: its SEQ + length and its ACK.
        host.stack.poll(host.now + Duration::from_secs(5));
        host.now += Duration::from_secs(5);
        let mut sink = Capture::default();
        host.stack.transmit(&mut sink);
        let (seq, ack) = host.connection_segments(&sink).last().copied().expect("B retransmits its data");
        host.snd_nxt = seq;
        host.rcv_next = ack.expect("an established connection acknowledges");
        host
    }

    /// (SEQ + length, ACK) of each segment B sent on the connection.
    fn connection_segments(&self, sink: &Capture) -> Vec<(SeqNumber, Option<SeqNumber>)> {
        let mut out = Vec::new();
        for_each_segment(sink, |dst, tcp| {
            if dst == *self.peer.ip() && tcp.dst_port == self.peer.port() {
                out.push((tcp.seq_number + tcp.segment_len() as u32, tcp.ack_number));
            }
        });
        out
    }

    /// Transmits what B has queued into a sink that takes everything, and follows B's SND.NXT.
    fn pump(&mut self) {
        if self.stack.next_deadline().is_some_and(|t| t <= self.now) {
            self.stack.poll(self.now);
        }
        let mut sink = Capture::default();
        self.stack.transmit(&mut sink);
        assert_eq!(self.stack.outbox_len(), 0, "a device that takes every frame leaves nothing queued");
        for (end, _) in self.connection_segments(&sink) {
            self.snd_nxt = self.snd_nxt.max(end);
        }
        self.follow_active(&sink);
    }

    /// Learns B's ISS and ACKs on the active connection from what it sent.
    fn follow_active(&mut self, sink: &Capture) {
        let Some(active) = self.active.as_mut() else { return };
        for_each_segment(sink, |_, tcp| {
            if tcp.src_port != active.local.port() || tcp.dst_port != active.remote.port() {
                return;
            }
            if tcp.flags.syn() && active.iss.is_none() {
                active.iss = Some(tcp.seq_number);
            }
            if let Some(ack) = tcp.ack_number {
                active.first_ack = active.first_ack.or(Some(ack));
                active.ack = Some(ack);
            }
        });
    }

    fn act(&mut self, input: &mut Reader<'_>) {
        self.now += Duration::from_micros(10);
        match input.u8() % 11 {
            0 => {
                let len = usize::from(input.u16()) % 1600;
                let frame = input.bytes(len).to_vec();
                self.deliver_raw(frame);
            }
            1 => {
                let len = usize::from(input.u16()) % 1600;
                let datagram = input.bytes(len).to_vec();
                let frame = ethernet(MAC_A, EtherType::Ipv4, &datagram);
                self.deliver_raw(frame);
            }
            2 => self.connection_segment(input),
            3 => self.listener_segment(input),
            4 => self.udp_datagram(input),
            5 => {
                self.now += Duration::from_millis(u64::from(input.u8()) * 4);
            }
            6 => self.read(),
            7 => self.udp_fragment(input),
            8 => self.icmp_error(input),
            9 => self.app_call(input),
            _ => self.active_segment(input),
        }
    }

    /// An IPv4 fragment of a UDP datagram from A: a few identifications, so that pieces meet (or overlap,
    /// repeat, contradict one another), at fuzzed offsets, lengths and More Fragments; the datagrams rebuilt
    /// mostly fail their UDP checksum.
    fn udp_fragment(&mut self, input: &mut Reader<'_>) {
        let ident = u16::from(input.u8() % 4);
        let flags = input.u8();
        let offset = usize::from(input.u16()) % 1024 * 8;
        let len = usize::from(input.u16()) % 1481;
        let payload = input.bytes(len).to_vec();
        let ip = Ipv4Repr {
            src_addr: A,
            dst_addr: B,
            protocol: IpProtocol::Udp,
            payload_len: payload.len(),
            ttl: 64,
            tos: 0,
            ident,
            dont_fragment: false,
        };
        let mut datagram = vec![0u8; ip.total_len()];
        let more = flags & 1 != 0;
        if ip.emit_fragment(&mut datagram, offset, more, &ChecksumCapabilities::software()).is_err() {
            return;
        }
        datagram[ip.buffer_len()..].copy_from_slice(&payload);
        self.receive(ethernet(MAC_A, EtherType::Ipv4, &datagram));
    }

    /// An ICMP error from a router about a segment B sent on the connection: fragmentation needed (with a fuzzed
    /// next-hop MTU), another unreachable or time exceeded, quoting a sequence number near B's SND.NXT and a
    /// fuzzed datagram length.
    fn icmp_error(&mut self, input: &mut Reader<'_>) {
        let kind = input.u8();
        let mtu = input.u16();
        let seq = self.snd_nxt + (i32::from(input.u16() as i16)) as u32;
        let header = Ipv4Repr {
            src_addr: B,
            dst_addr: *self.peer.ip(),
            protocol: IpProtocol::Tcp,
            payload_len: usize::from(input.u16()),
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_fragment: true,
        };
        let mut quote = [0u8; 8];
        quote[..2].copy_from_slice(&TCP_PORT.to_be_bytes());
        quote[2..4].copy_from_slice(&self.peer.port().to_be_bytes());
        quote[4..].copy_from_slice(&seq.0.to_be_bytes());
        let error = match kind % 3 {
            0 => Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::FragmentationNeeded,
                next_hop_mtu: mtu,
                header,
                data: &quote,
            },
            1 => Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::from(kind / 3 % 16),
                next_hop_mtu: 0,
                header,
                data: &quote,
            },
            _ => Icmpv4Repr::TimeExceeded { reason: TimeExceeded::from(kind / 3 % 2), header, data: &quote },
        };
        let mut icmp = vec![0u8; error.buffer_len()];
        if error.emit(&mut icmp, &ChecksumCapabilities::software()).is_ok() {
            self.receive(ipv4_frame(Ipv4Addr::new(192, 0, 2, 1), IpProtocol::Icmp, 0, &icmp));
        }
    }

    /// A raw frame: if it happens to be a valid segment of the connection, its payload is not [`pattern`].
    fn deliver_raw(&mut self, frame: Vec<u8>) {
        if let Ok(parsed) = Frame::parse(&frame, &ChecksumCapabilities::software())
            && let FrameContents::Ipv4(datagram) = parsed.contents
            && let Transport::Tcp(tcp) = datagram.transport
            && tcp.src_port == self.peer.port()
            && tcp.dst_port == TCP_PORT
        {
            self.check_payload = false;
        }
        if let Some(active) = self.active.as_mut() {
            active.check_payload = false;
        }
        self.receive(frame);
    }

    fn receive(&mut self, frame: Vec<u8>) {
        let buffer = DemiBuffer::from_slice(&frame).expect("alloc");
        self.stack.receive(self.now, buffer);
    }

    /// A segment from A on the connection, its fields fuzzed near where the connection stands.
    fn connection_segment(&mut self, input: &mut Reader<'_>) {
        let flags = input.u8();
        let offset = i32::from(input.u16() as i16);
        // The low two bits scale the offset; the next two are the IP header's ECN field (CE: a router's mark); the
        // next is the AE flag (Accurate ECN's third counter bit).
        let scale_and_ecn = input.u8();
        let seq = self.rcv_next + (offset * i32::from(scale_and_ecn % 4 + 1)) as u32;
        let ack = self.snd_nxt + (i32::from(input.u16() as i16)) as u32;
        let window = input.u16();
        let options = input.tcp_options();
        let payload_len = usize::from(input.u16()) % 1461;
        let payload: Vec<u8> = (0..payload_len).map(|i| pattern(seq + i as u32)).collect();
        let flags = (flags, scale_and_ecn & 0x10 != 0);
        let segment = tcp_segment(self.peer.port(), TCP_PORT, seq, ack, flags, window, &options, &payload);
        self.receive(ipv4_frame(A, IpProtocol::Tcp, (scale_and_ecn >> 2) & 0b11, &segment));
    }

    /// A segment to the listener from any address and port (handshakes, SYN floods, stray ACKs and RSTs).
    fn listener_segment(&mut self, input: &mut Reader<'_>) {
        let src = Ipv4Addr::new(10, 0, 0, input.u8());
        let port = input.u16();
        let flags = input.u8();
        let seq = SeqNumber(u32::from(input.u16()) << 16);
        let ack = SeqNumber(u32::from(input.u16()) << 16);
        let options = input.tcp_options();
        // The port's low bit is the AE flag (a SYN with AE, CWR and ECE asks for Accurate ECN).
        let segment = tcp_segment(port, TCP_PORT, seq, ack, (flags, port & 1 != 0), 65535, &options, &[]);
        self.receive(ipv4_frame(src, IpProtocol::Tcp, 0, &segment));
    }

    /// A segment from A on B's active connection, if B opened one: its sequence number near B's last ACK (or
    /// anywhere before one), its ACK near B's ISS + 1 (so that a SYN-ACK may be acceptable), fuzzed flags and
    /// options (a SYN-ACK's MSS, window scale, SACK-permitted, timestamps), and [`pattern`] payload.
    fn active_segment(&mut self, input: &mut Reader<'_>) {
        let Some(active) = self.active.as_ref() else { return };
        let flags = input.u8();
        let delta = i32::from(input.u16() as i16);
        let seq = match active.ack {
            Some(ack) => ack + delta as u32,
            None => SeqNumber(u32::from(input.u16()) << 16),
        };
        let ack = active.iss.unwrap_or_default() + 1 + (i32::from(input.u8() as i8)) as u32;
        let window = input.u16();
        let options = input.tcp_options();
        let payload_len = usize::from(input.u16()) % 1461;
        let payload: Vec<u8> = (0..payload_len).map(|i| pattern(seq + i as u32)).collect();
        let (from, to) = (active.remote, active.local);
        let segment = tcp_segment(from.port(), to.port(), seq, ack, (flags, false), window, &options, &payload);
        self.receive(ipv4_frame(*from.ip(), IpProtocol::Tcp, 0, &segment));
    }

    fn udp_datagram(&mut self, input: &mut Reader<'_>) {
        let dst_port = if input.u8() % 2 == 0 { UDP_PORT } else { input.u16() };
        let len = usize::from(input.u16()) % 1473;
        let payload = input.bytes(len).to_vec();
        let repr = UdpRepr { src_port: 5353, dst_port, payload: &payload };
        let mut datagram = vec![0u8; repr.buffer_len()];
        repr.emit(&mut datagram, A, B, &ChecksumCapabilities::software()).expect("sized buffer");
        self.receive(ipv4_frame(A, IpProtocol::Udp, 0, &datagram));
    }

    /// The application reads what the connection delivers and checks each byte against [`pattern`].
    fn read(&mut self) {
        if !self.eof && !self.released {
            if let Ok(Some(data)) = self.stack.tcp_recv(self.connection, usize::MAX) {
                if data.is_empty() {
                    self.eof = true; // end of stream: nothing more will come
                }
                for byte in data.to_vec() {
                    if self.check_payload {
                        assert_eq!(byte, pattern(self.rcv_next), "byte at {:?} corrupted", self.rcv_next);
                    }
                    self.rcv_next += 1;
                    self.delivered += 1;
                }
            }
        }
        self.read_active();
        while let Ok(Some(_)) = self.stack.udp_recv(self.udp, 65536) {}
    }

    /// The application reads what the active connection delivers and checks each byte against [`pattern`]
    /// from A's ISS + 1 on.
    fn read_active(&mut self) {
        let Some(active) = self.active.as_mut() else { return };
        if active.done || active.released {
            return;
        }
        match self.stack.tcp_recv(active.id, usize::MAX) {
            Ok(Some(data)) if data.is_empty() => active.done = true,
            Ok(Some(data)) => {
                let start = active.first_ack.expect("data only after B acknowledged a SYN");
                for byte in data.to_vec() {
                    let seq = start + active.read;
                    if active.check_payload {
                        assert_eq!(byte, pattern(seq), "active connection: byte at {seq:?} corrupted");
                    }
                    active.read += 1;
                }
            }
            Ok(None) => {}
            Err(_) => active.done = true,
        }
    }

    fn app_call(&mut self, input: &mut Reader<'_>) {
        let now = self.now;
        match input.u8() % 7 {
            0 => {
                if let Ok(Some((id, _))) = self.stack.tcp_accept(self.listener) {
                    self.accepted.push(id);
                }
            }
            // Once closed, its socket id may name another socket: no more calls on it.
            1 | 2 if self.released => {}
            1 => {
                let len = usize::from(input.u16()) % 4096;
                let _ =
                    self.stack.tcp_send(now, self.connection, &Sga::from_slice(&vec![7u8; len.max(1)]).expect("alloc"));
            }
            2 => {
                let _ = self.stack.tcp_shutdown_write(now, self.connection);
            }
            3 => {
                self.read();
                if !self.released {
                    let _ = self.stack.close(self.connection);
                    self.released = true;
                }
            }
            5 => self.connect(input.u8()),
            6 => {
                self.read_active();
                if let Some(active) = self.active.as_mut().filter(|a| !a.released) {
                    let _ = self.stack.close(active.id);
                    active.released = true;
                }
            }
            _ => {
                let to = SocketAddrV4::new(A, input.u16().max(1));
                let _ = self.stack.udp_send(now, self.udp, &Sga::from_slice(b"reply").expect("alloc"), Some(to));
            }
        }
    }

    /// B opens a connection to A (once per run), to a port `port` picks: the input then plays A from SYN-SENT on.
    fn connect(&mut self, port: u8) {
        if self.active.is_some() {
            return;
        }
        let id = self.stack.tcp_open();
        let remote = SocketAddrV4::new(A, 7000 + u16::from(port % 4));
        self.stack.tcp_connect(self.now, id, remote).expect("B connects to A");
        let local = self.stack.local_addr(id).expect("socket").expect("a connecting socket is bound");
        self.active = Some(Active {
            id,
            local,
            remote,
            iss: None,
            ack: None,
            first_ack: None,
            read: 0,
            check_payload: true,
            done: false,
            released: false,
        });
    }

    /// Closes every socket and runs time on: the host must go quiet (no timer armed, nothing queued).
    fn finish(mut self) -> Outcome {
        self.read();
        let active_delivered = self.active.as_ref().map_or(0, |a| a.read as usize);
        let outcome = Outcome { delivered: self.delivered, active_delivered };
        let connection = (!self.released).then_some(self.connection);
        let active = self.active.as_ref().filter(|a| !a.released).map(|a| a.id);
        let sockets = [self.listener, self.udp].into_iter().chain(connection).chain(active);
        for id in sockets.chain(std::mem::take(&mut self.accepted)) {
            let _ = self.stack.close(id);
        }
        let end = self.now + Duration::from_secs(3600);
        for _ in 0..100_000 {
            let Some(deadline) = self.stack.next_deadline() else {
                let held = (self.stack.tcp_receive_memory_held(), self.stack.tcp_send_memory_held());
                assert_eq!(held, (0, 0), "received data and data to send still charged after every socket closed");
                let slots = (self.stack.tcp_time_wait_count(), self.stack.tcp_orphan_count());
                assert_eq!(slots, (0, 0), "TIME-WAIT or orphan slots still taken after every socket closed");
                return outcome;
            };
            assert!(deadline <= end, "a timer is armed an hour after every socket closed");
            self.now = self.now.max(deadline);
            self.pump();
        }
        panic!("the host still has work after every socket closed and 100 000 timer rounds");
    }
}

/// Calls `f` with the destination address and the segment of each TCP segment B sent into `sink`.
fn for_each_segment(sink: &Capture, mut f: impl FnMut(Ipv4Addr, &TcpRepr<'_>)) {
    for frame in &sink.0 {
        let Ok(bytes) = flatten(frame) else { continue };
        let Ok(parsed) = Frame::parse(&bytes, &ChecksumCapabilities::software()) else { continue };
        let FrameContents::Ipv4(datagram) = parsed.contents else { continue };
        if let Transport::Tcp(tcp) = datagram.transport {
            f(datagram.header.dst_addr, &tcp);
        }
    }
}

/// A TCP segment with a correct checksum from A's side (`options` must be a multiple of 4 bytes long).
#[allow(clippy::too_many_arguments)]
fn tcp_segment(
    src_port: u16,
    dst_port: u16,
    seq: SeqNumber,
    ack: SeqNumber,
    (flags, ae): (u8, bool),
    window: u16,
    options: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let header_len = TCP_MIN_HEADER_LEN + options.len();
    let mut segment = Vec::with_capacity(header_len + payload.len());
    segment.extend_from_slice(&src_port.to_be_bytes());
    segment.extend_from_slice(&dst_port.to_be_bytes());
    segment.extend_from_slice(&seq.0.to_be_bytes());
    segment.extend_from_slice(&ack.0.to_be_bytes());
    segment.push(((header_len / 4) as u8) << 4 | u8::from(ae));
    segment.push(flags);
    segment.extend_from_slice(&window.to_be_bytes());
    segment.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    segment.extend_from_slice(options);
    segment.extend_from_slice(payload);
    let length = u16::try_from(segment.len()).expect("under 64 KiB");
    let pseudo = ipv4_pseudo_header_sum(A, B, IpProtocol::Tcp, length);
    let checksum = checksum_from_sum(combine(&[pseudo, ones_complement_sum(&segment)]));
    segment[16..18].copy_from_slice(&checksum.to_be_bytes());
    segment
}

/// `payload` in an IPv4 header from `src` to B with TOS `tos`, in an Ethernet frame from A's MAC.
fn ipv4_frame(src: Ipv4Addr, protocol: IpProtocol, tos: u8, payload: &[u8]) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: B,
        protocol,
        payload_len: payload.len(),
        ttl: 64,
        tos,
        ident: 1,
        dont_fragment: true,
    };
    let mut datagram = vec![0u8; ip.total_len()];
    ip.emit(&mut datagram, &ChecksumCapabilities::software()).expect("sized buffer");
    datagram[ip.buffer_len()..].copy_from_slice(payload);
    ethernet(MAC_A, EtherType::Ipv4, &datagram)
}

fn ethernet(src: MacAddress, ethertype: EtherType, payload: &[u8]) -> Vec<u8> {
    let header = EthernetRepr { src_addr: src, dst_addr: MAC_B, ethertype };
    let mut frame = vec![0u8; header.buffer_len() + payload.len()];
    header.emit(&mut frame).expect("sized buffer");
    frame[header.buffer_len()..].copy_from_slice(payload);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phy::Rng;

    /// Seeded random inputs, biased towards the structured actions (the fuzz target explores further).
    #[test]
    fn random_inputs_neither_panic_nor_corrupt_nor_leak() {
        let mut rng = Rng::new(0x5eed);
        for _ in 0..300 {
            let len = rng.below(2048);
            let input: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            run(&input);
        }
    }

    #[test]
    fn empty_input_goes_quiet() {
        run(&[]);
    }

    /// In-order data from A at the connection's RCV.NXT is delivered and checked.
    #[test]
    fn in_order_data_is_delivered_and_checked() {
        // action 2 (connection segment): flags ACK|PSH, seq delta 0 (x1), ack delta 0, window 65535, no
        // options, 100 bytes; then action 6 (read).
        let input = [2, 0x18, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 100, 6];
        assert_eq!(run(&input), Outcome { delivered: 100, active_delivered: 0 });
    }

    /// The application closes the connection; A acknowledges everything B sent, its FIN included, and sends its
    /// own FIN: B waits in TIME-WAIT as a record (`stack/tcp/orphan.rs`), which A's FIN sent again wakes, and
    /// the host still goes quiet.
    #[test]
    fn a_closed_connection_waits_in_time_wait_as_a_record_that_segments_wake() {
        // action 9 (application call) 3 (close); then twice action 2 (connection segment): flags ACK|FIN, seq and
        // ack deltas 0, window 65535, no options, no payload.
        let fin = [2, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0];
        let input: Vec<u8> = [9, 3].into_iter().chain(fin).chain(fin).collect();
        let mut host = Host::new(false);
        let mut reader = Reader(&input);
        while !reader.is_empty() {
            host.act(&mut reader);
            host.pump();
        }
        let counters = host.stack.counters();
        assert_eq!((counters.tcp_orphan_records, counters.tcp_orphan_wakes), (2, 1), "{counters:?}");
        host.finish();
    }

    /// B opens a connection; the input answers its SYN with a SYN-ACK, then sends data, which B delivers and the
    /// harness checks from A's ISS + 1 on.
    #[test]
    fn a_connection_b_opens_is_answered_by_the_input() {
        // action 9 (application call) 5 (connect, port 7000); action 10 (active segment): SYN|ACK, delta 0, seq
        // 0x1000 << 16, ack delta 0, window 65535, no options, no payload; then action 10 again: PSH|ACK at B's
        // ACK, 100 bytes; then action 6 (read).
        let syn_ack = [10, 0x12, 0, 0, 0x10, 0x00, 0, 0xff, 0xff, 0, 0, 0];
        let data = [10, 0x18, 0, 0, 0, 0xff, 0xff, 0, 0, 100];
        let input: Vec<u8> = [9, 5, 0].into_iter().chain(syn_ack).chain(data).chain([6]).collect();
        assert_eq!(run(&input), Outcome { delivered: 0, active_delivered: 100 });
    }

    /// The same data one byte ahead of RCV.NXT is out of order: held, never delivered (A never fills the gap).
    #[test]
    fn data_past_a_gap_is_not_delivered() {
        let input = [2, 0x18, 0, 1, 0, 0, 0, 0xff, 0xff, 0, 0, 100, 6];
        assert_eq!(run(&input), Outcome { delivered: 0, active_delivered: 0 });
    }
}
