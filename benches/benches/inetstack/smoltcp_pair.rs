//! The same two-host setup as `inetstack_pair.rs`, with smoltcp: two `Interface`s (Ethernet medium, MTU 1500,
//! so MSS 1460) whose `phy::Device`s pass frames through a pair of in-memory queues.
//!
//! Frames are recycled 1514-byte boxes (no allocation or zeroing per frame once warm): smoltcp writes each
//! outgoing frame into one, the receiver reads it in place and hands the box back. The application copies
//! its data into the socket's ring buffer (`send_slice`; smoltcp has no zero-copy send of caller memory) and
//! consumes received bytes in place (`recv` with a closure), dropping them unread.

use std::cell::RefCell;
use std::collections::VecDeque;

use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr};

use crate::pair::TcpPair;

const FRAME: usize = 1514;
const SERVER_PORT: u16 = 80;

/// One Ethernet frame in a reusable box.
struct Frame {
    bytes: Box<[u8; FRAME]>,
    len: usize,
}

/// One host's view of the link: frames for it, frames from it, and the shared pool of free boxes.
struct Port<'a> {
    rx: &'a mut VecDeque<Frame>,
    tx: &'a mut VecDeque<Frame>,
    free: &'a RefCell<Vec<Frame>>,
}

struct RxToken<'a> {
    frame: Frame,
    free: &'a RefCell<Vec<Frame>>,
}

struct TxToken<'a> {
    tx: &'a mut VecDeque<Frame>,
    free: &'a RefCell<Vec<Frame>>,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let result = f(&self.frame.bytes[..self.frame.len]);
        self.free.borrow_mut().push(self.frame);
        result
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let popped = self.free.borrow_mut().pop();
        let mut frame = popped.unwrap_or_else(|| Frame { bytes: Box::new([0; FRAME]), len: 0 });
        frame.len = len;
        let result = f(&mut frame.bytes[..len]);
        self.tx.push_back(frame);
        result
    }
}

impl phy::Device for Port<'_> {
    type RxToken<'b>
        = RxToken<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = TxToken<'b>
    where
        Self: 'b;

    fn receive(&mut self, _: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((RxToken { frame, free: self.free }, TxToken { tx: self.tx, free: self.free }))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        Some(TxToken { tx: self.tx, free: self.free })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME;
        caps
    }
}

/// One host: an interface and its sockets, one per connection.
struct Host {
    iface: Interface,
    sockets: SocketSet<'static>,
    handles: Vec<SocketHandle>,
}

impl Host {
    fn new(mac: u8, ip: IpAddress, port: &mut Port<'_>) -> Self {
        let mut config = Config::new(EthernetAddress([2, 0, 0, 0, 0, mac]).into());
        config.random_seed = u64::from(mac);
        let mut iface = Interface::new(config, port, Instant::from_micros(0));
        iface.update_ip_addrs(|addrs| addrs.push(IpCidr::new(ip, 24)).expect("address"));
        Self { iface, sockets: SocketSet::new(Vec::new()), handles: Vec::new() }
    }

    /// Adds a socket with `buffer` bytes of send and receive ring and Nagle off; returns its index.
    fn add_socket(&mut self, buffer: usize) -> usize {
        let mut socket =
            tcp::Socket::new(tcp::SocketBuffer::new(vec![0; buffer]), tcp::SocketBuffer::new(vec![0; buffer]));
        socket.set_nagle_enabled(false);
        self.handles.push(self.sockets.add(socket));
        self.handles.len() - 1
    }

    fn socket(&mut self, index: usize) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.handles[index])
    }

    /// Takes in every frame, then sends until smoltcp has nothing more to send (one `poll` emits at most one
    /// segment per socket, so it is called until it reports no change).
    /// Returns the frames taken in and sent.
    fn run(&mut self, now: Instant, port: &mut Port<'_>) -> usize {
        let (waiting, queued) = (port.rx.len(), port.tx.len());
        while self.iface.poll(now, port, &mut self.sockets) != PollResult::None {}
        waiting + port.tx.len() - queued
    }

    fn send(&mut self, index: usize, data: &[u8]) -> usize {
        self.socket(index).send_slice(data).expect("send")
    }

    /// Reads every socket.
    fn recv(&mut self) -> usize {
        let mut total = 0;
        for &handle in &self.handles {
            let socket = self.sockets.get_mut::<tcp::Socket>(handle);
            loop {
                let n = socket.recv(|bytes| (bytes.len(), bytes.len())).expect("recv");
                if n == 0 {
                    break;
                }
                total += n;
            }
        }
        total
    }
}

pub struct SmoltcpPair {
    client: Host,
    server: Host,
    to_client: VecDeque<Frame>,
    to_server: VecDeque<Frame>,
    free: RefCell<Vec<Frame>>,
    data: Vec<u8>,
    micros: i64,
    stalls: u64,
    frames: u64,
}

impl SmoltcpPair {
    /// Two interfaces with `connections` established connections; `buffer` bytes of send and receive ring per
    /// socket (smoltcp picks the window scale that covers its receive ring). A smoltcp listening socket takes
    /// exactly one connection, so the server has one socket per connection, all on the same port; they are
    /// made one after the other (server socket `i` listens once connection `i - 1` is established, so it is
    /// the one that takes client socket `i`'s SYN), each client socket from its own local port.
    pub fn connected(buffer: usize, connections: usize) -> Self {
        let client_ip = IpAddress::v4(10, 0, 0, 1);
        let server_ip = IpAddress::v4(10, 0, 0, 2);
        let (mut to_client, mut to_server, free) = (VecDeque::new(), VecDeque::new(), RefCell::new(Vec::new()));
        let client = Host::new(1, client_ip, &mut Port { rx: &mut to_client, tx: &mut to_server, free: &free });
        let server = Host::new(2, server_ip, &mut Port { rx: &mut to_server, tx: &mut to_client, free: &free });
        let mut pair = Self {
            client,
            server,
            to_client,
            to_server,
            free,
            data: vec![0x5a; 64 * 1024],
            micros: 0,
            stalls: 0,
            frames: 0,
        };
        for i in 0..connections {
            let server_socket = pair.server.add_socket(buffer);
            pair.server.socket(server_socket).listen(SERVER_PORT).expect("listen");
            let client_socket = pair.client.add_socket(buffer);
            let cx = pair.client.iface.context();
            let socket = pair.client.sockets.get_mut::<tcp::Socket>(pair.client.handles[client_socket]);
            let local_port = u16::try_from(49152 + i).expect("at most 16384 connections");
            socket.connect(cx, (server_ip, SERVER_PORT), local_port).expect("connect");
            pair.handshake(client_socket, server_socket);
        }
        pair
    }

    /// Runs rounds until both ends of connection (`client`, `server`) may send.
    fn handshake(&mut self, client: usize, server: usize) {
        for _ in 0..1000 {
            if self.round() == 0 {
                self.skip_to_deadline();
            }
            if self.client.socket(client).may_send() && self.server.socket(server).may_send() {
                return;
            }
        }
        panic!("the handshake did not complete");
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.micros)
    }
}

impl TcpPair for SmoltcpPair {
    fn connections(&self) -> usize {
        self.client.handles.len()
    }

    fn client_send(&mut self, connection: usize, len: usize) -> usize {
        let len = len.min(self.data.len());
        self.client.send(connection, &self.data[..len])
    }

    fn server_send(&mut self, connection: usize, len: usize) -> usize {
        let len = len.min(self.data.len());
        self.server.send(connection, &self.data[..len])
    }

    fn client_recv(&mut self) -> usize {
        self.client.recv()
    }

    fn server_recv(&mut self) -> usize {
        self.server.recv()
    }

    fn round(&mut self) -> usize {
        self.micros += 1;
        let now = self.now();
        let mut moved =
            self.client.run(now, &mut Port { rx: &mut self.to_client, tx: &mut self.to_server, free: &self.free });
        moved += self.server.run(now, &mut Port { rx: &mut self.to_server, tx: &mut self.to_client, free: &self.free });
        self.frames += moved as u64;
        moved
    }

    fn skip_to_deadline(&mut self) {
        let now = self.now();
        let client = self.client.iface.poll_at(now, &self.client.sockets);
        let server = self.server.iface.poll_at(now, &self.server.sockets);
        if let Some(next) = [client, server].into_iter().flatten().min().filter(|&t| t > now) {
            self.micros = next.total_micros();
        }
        self.stalls += 1;
    }

    fn stalls(&self) -> u64 {
        self.stalls
    }

    fn frames(&self) -> u64 {
        self.frames
    }
}
