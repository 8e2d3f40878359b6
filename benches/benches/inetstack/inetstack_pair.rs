//! Two inetstack `Stack`s on an in-memory Ethernet link (see `pair.rs` for the rules).
//!
//! The link does not gather (`DeviceCapabilities::gather` is false and the stacks are configured to match), so
//! each stack writes every frame as one buffer, its payload copied behind the headers, as smoltcp copies its
//! payload into the link's frame; the link queues that buffer for the other stack as it is. A frame of several
//! segments (which the stacks do not send here) it would copy into one buffer from a `BufferPool`. The
//! application side sends views of one 64 KiB buffer and drops what it receives without reading it.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use inetstack::device::{Device, DeviceCapabilities};
use inetstack::stack::{SocketId, Stack, StackConfig, TcpSocketOptions};
use inetstack::tcp::{RecvOutcome, TcpState};
use inetstack::wire::MacAddress;
use runtime::{BufferPool, DemiBuffer, Sga};

use crate::pair::TcpPair;

pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const SERVER_PORT: u16 = 80;
const FRAME: usize = 1514;

/// One direction of the link: frames waiting for the receiving stack.
struct LinkEnd<'a> {
    queue: &'a mut VecDeque<DemiBuffer>,
    pool: &'a BufferPool,
}

impl Device for LinkEnd<'_> {
    fn capabilities(&self) -> DeviceCapabilities {
        DeviceCapabilities::default()
    }

    fn receive(&mut self) -> Option<DemiBuffer> {
        None
    }

    fn transmit(&mut self, frame: Sga) -> Result<(), Sga> {
        // One buffer goes over as it is: a NIC sends a buffer it can reach without a copy, and smoltcp's
        // frames, written in place into the link's buffers, are not copied either.
        let frame = match frame.into_single() {
            Ok(buffer) => {
                self.queue.push_back(buffer);
                return Ok(());
            }
            Err(frame) => frame,
        };
        let Ok(mut buffer) = self.pool.alloc(frame.len()) else { return Err(frame) };
        let Some(bytes) = buffer.as_mut_slice() else { return Err(frame) };
        let mut at = 0;
        for segment in frame.segments() {
            bytes[at..at + segment.len()].copy_from_slice(segment);
            at += segment.len();
        }
        self.queue.push_back(buffer);
        Ok(())
    }
}

/// The two stacks, the link between them and the virtual clock.
pub struct Link {
    pub client: Stack,
    pub server: Stack,
    to_client: VecDeque<DemiBuffer>,
    to_server: VecDeque<DemiBuffer>,
    pool: BufferPool,
    epoch: Instant,
    /// The virtual clock: whole microseconds after `epoch`. Kept as an `Instant` that each round moves on (as
    /// a libOS reads its clock once per loop), not computed again for every call that takes the time.
    now: Instant,
    stalls: u64,
    frames: u64,
    /// Where each round collects the sockets the stacks touched (kept, as a libOS keeps it).
    touched: Vec<SocketId>,
}

/// Which TCP options the stacks use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Features {
    /// inetstack's defaults: SACK and timestamps on.
    Full,
    /// SACK and timestamps off, as the smoltcp pair runs (congestion control stays on: it cannot be turned off).
    LikeSmoltcp,
}

/// A stack with the bench's settings: `buffer` bytes of send and receive buffer, everything else default
/// (CUBIC, SACK, timestamps, window scaling, delayed ACKs of 40 ms) unless `features` turns options off.
fn stack(mac: u8, ip: Ipv4Addr, buffer: usize, epoch: Instant, features: Features) -> Stack {
    let mut config = StackConfig::new(MacAddress([2, 0, 0, 0, 0, mac]), ip, 24);
    config.tcp.recv_buffer = buffer;
    config.tcp.send_buffer = buffer;
    // The link copies frames (see the module docs): the stack writes each as one buffer.
    config.gather = false;
    // No ARP announcements at start: the runs last well under their 2 s, and while one is pending every round
    // asks for its deadline (about 230 instructions per exchange; a cost of a stack's first 2 s, not a
    // per-segment one; smoltcp announces nothing).
    config.arp.announcements = 0;
    if features == Features::LikeSmoltcp {
        config.tcp.sack = false;
        config.tcp.timestamps = false;
    }
    config.isn_secret = 0x5eed;
    Stack::new(config, epoch).expect("stack")
}

impl Link {
    /// Two stacks and a listener (TCP_NODELAY, inherited by what it accepts) on the server's port.
    pub fn new(buffer: usize, features: Features) -> (Self, SocketId) {
        let epoch = Instant::now();
        let mut link = Self {
            client: stack(1, CLIENT_IP, buffer, epoch, features),
            server: stack(2, SERVER_IP, buffer, epoch, features),
            to_client: VecDeque::new(),
            to_server: VecDeque::new(),
            pool: BufferPool::new(0, FRAME, 4096).expect("pool"),
            epoch,
            now: epoch,
            stalls: 0,
            frames: 0,
            touched: Vec::new(),
        };
        let listener = link.server.tcp_open();
        link.server.tcp_set_options(listener, NODELAY).expect("options");
        link.server.tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, SERVER_PORT)).expect("bind");
        link.server.tcp_listen(listener, 64).expect("listen");
        (link, listener)
    }

    /// Opens one more connection (TCP_NODELAY) to the server's `listener`; returns (client, server) sockets.
    pub fn connect(&mut self, listener: SocketId) -> (SocketId, SocketId) {
        let client = self.client.tcp_open();
        self.client.tcp_set_options(client, NODELAY).expect("options");
        let now = self.now();
        self.client.tcp_connect(now, client, SocketAddrV4::new(SERVER_IP, SERVER_PORT)).expect("connect");
        for _ in 0..1000 {
            if self.round() == 0 {
                self.skip_to_deadline();
            }
            if let Some((server, _)) = self.server.tcp_accept(listener).expect("accept")
                && self.client.tcp_state(client).expect("state") == TcpState::Established
            {
                return (client, server);
            }
        }
        panic!("the handshake did not complete");
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// One round (see `pair.rs`): the clock moves 1 us, then the client and the server each take in their
    /// frames, run due timers and transmit. Returns the frames taken in and sent.
    pub fn round(&mut self) -> usize {
        self.now += Duration::from_micros(1);
        let now = self.now;
        let mut to_server = LinkEnd { queue: &mut self.to_server, pool: &self.pool };
        let mut moved = run(&mut self.client, now, &mut self.to_client, &mut to_server, &mut self.touched);
        let mut to_client = LinkEnd { queue: &mut self.to_client, pool: &self.pool };
        moved += run(&mut self.server, now, &mut self.to_server, &mut to_client, &mut self.touched);
        self.frames += moved as u64;
        moved
    }

    /// The client's half of a round only, leaving what it sends queued for the server.
    pub fn client_half(&mut self) {
        let now = self.now();
        let mut to_server = LinkEnd { queue: &mut self.to_server, pool: &self.pool };
        run(&mut self.client, now, &mut self.to_client, &mut to_server, &mut self.touched);
    }

    /// The server's half of a round only (frames in, timers, frames out).
    pub fn server_half(&mut self) {
        let now = self.now();
        let mut to_client = LinkEnd { queue: &mut self.to_client, pool: &self.pool };
        run(&mut self.server, now, &mut self.to_server, &mut to_client, &mut self.touched);
    }

    /// Times the clock jumped to a deadline.
    pub fn stalls(&self) -> u64 {
        self.stalls
    }

    pub fn skip_to_deadline(&mut self) {
        let now = self.now();
        let next = [self.client.next_deadline(), self.server.next_deadline()].into_iter().flatten().min();
        if let Some(next) = next.filter(|&t| t > now) {
            let micros = next.duration_since(self.epoch).as_nanos().div_ceil(1000) as u64;
            self.now = self.epoch + Duration::from_micros(micros);
        }
        self.stalls += 1;
    }
}

const NODELAY: TcpSocketOptions = TcpSocketOptions { nodelay: true, keepalive: None, linger: None, reuse_addr: false };

/// Runs one stack's half of a round: frames in, timers, frames out. Returns the frames taken in and sent.
fn run(
    stack: &mut Stack,
    now: Instant,
    inbox: &mut VecDeque<DemiBuffer>,
    link: &mut LinkEnd<'_>,
    touched: &mut Vec<SocketId>,
) -> usize {
    let mut moved = 0;
    while let Some(frame) = inbox.pop_front() {
        stack.receive(now, frame);
        moved += 1;
    }
    if stack.next_deadline().is_some_and(|t| t <= now) {
        stack.poll(now);
    }
    let sent = stack.transmit(link);
    // What a libOS does each round to learn which sockets to wake (nobody waits here: the list is cleared).
    stack.take_touched(touched);
    touched.clear();
    moved + sent
}

/// Queues `len` bytes (at most 64 KiB) of `data` as a view, without copying; returns what the stack took.
pub fn send(stack: &mut Stack, now: Instant, socket: SocketId, data: &DemiBuffer, len: usize) -> usize {
    let mut view = data.clone();
    view.trim(data.len().saturating_sub(len)).expect("trim");
    stack.tcp_send(now, socket, &Sga::from_buffer(view)).expect("send")
}

/// Takes and drops everything `socket` has received; returns the bytes. `slot` is the read loop's output
/// array, kept by the caller across reads as a libOS keeps it (`tcp_recv_into` empties it first).
pub fn recv(stack: &mut Stack, socket: SocketId, slot: &mut Sga) -> usize {
    let mut total = 0;
    while stack.tcp_recv_into(socket, usize::MAX, slot).expect("recv") == RecvOutcome::Data {
        total += slot.len();
    }
    total
}

/// A `Link` with established connections, each a (client, server) pair of sockets.
pub struct InetstackPair {
    pub link: Link,
    sockets: Vec<(SocketId, SocketId)>,
    data: DemiBuffer,
    slot: Sga,
}

impl InetstackPair {
    /// `connections` connections, opened one after the other on the same listener (each accepted before the
    /// next starts, so the listener's backlog holds at most one).
    pub fn connected(buffer: usize, features: Features, connections: usize) -> Self {
        let (mut link, listener) = Link::new(buffer, features);
        let sockets = (0..connections).map(|_| link.connect(listener)).collect();
        Self { link, sockets, data: DemiBuffer::new(64 * 1024).expect("data"), slot: Sga::new() }
    }
}

impl TcpPair for InetstackPair {
    fn connections(&self) -> usize {
        self.sockets.len()
    }

    fn client_send(&mut self, connection: usize, len: usize) -> usize {
        let now = self.link.now();
        send(&mut self.link.client, now, self.sockets[connection].0, &self.data, len)
    }

    fn server_send(&mut self, connection: usize, len: usize) -> usize {
        let now = self.link.now();
        send(&mut self.link.server, now, self.sockets[connection].1, &self.data, len)
    }

    fn client_recv(&mut self) -> usize {
        self.sockets.iter().map(|&(client, _)| recv(&mut self.link.client, client, &mut self.slot)).sum()
    }

    fn server_recv(&mut self) -> usize {
        self.sockets.iter().map(|&(_, server)| recv(&mut self.link.server, server, &mut self.slot)).sum()
    }

    fn round(&mut self) -> usize {
        self.link.round()
    }

    fn skip_to_deadline(&mut self) {
        self.link.skip_to_deadline()
    }

    fn stalls(&self) -> u64 {
        self.link.stalls
    }

    fn frames(&self) -> u64 {
        self.link.frames
    }
}
