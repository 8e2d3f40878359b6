//! Drawn sequences of application calls on two stacks: every TCP call the API has (open, bind, listen, connect,
//! accept, send, receive, shutdown, abort, options, close), on any socket, in any order, over a few shared ports,
//! to the other stack or (loopback) to the stack's own address, with time moving on between them. A call may
//! fail, but only with an error:
//!
//! - nothing panics;
//! - after every call and every step of the network, each stack's connection table agrees with its sockets
//!   ([`Stack::check_tcp_tables`]);
//! - every byte a socket reads is the byte its peer sent at that offset (each socket's stream is its own);
//! - once every socket is closed and time runs on, both stacks go quiet: no timer armed, nothing held in TIME-WAIT,
//!   as an orphan, or charged to the limits on received data and data to send, and no connection left in the table.
//!
//! Two sockets are each other's peer when their 4-tuples mirror each other and one's ISS is the other's IRS
//! (asked of the stacks): an accepted connection is paired at `accept`, the two sides of a simultaneous open at a
//! `connect` or when one reads.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use runtime::Sga;

use super::*;
use crate::phy::{FaultConfig, Rng};
use crate::sim::Simulation;
use crate::tcp::RecvOutcome;
use crate::wire::MacAddress;

const ADDRESSES: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
/// The ports every bind and connect draws from: few, so that calls meet on them.
const PORTS: [u16; 3] = [80, 6000, 6001];

/// Byte `offset` of the stream the socket at `index` (in the run's list, never reused) sends.
fn stream_byte(index: usize, offset: usize) -> u8 {
    // splitmix64's finalizer: every input bit moves every output bit, so no two streams or offsets line up.
    let mut x = ((index as u64) << 40 ^ offset as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)) as u8
}

/// One socket as the application sees it.
#[derive(Debug)]
struct Sock {
    host: usize,
    id: SocketId,
    /// (local, remote) once it has them: at `connect`, or at `accept`.
    tuple: Option<(SocketAddrV4, SocketAddrV4)>,
    /// The connection's ISS, learnt at `connect` or `accept`: the IRS of the connection at the other end.
    iss: Option<u32>,
    /// When `connect` took, in the order of all connects (0: never).
    connected: u64,
    /// The port a `bind` gave it, and whether `listen` then took.
    bound: Option<u16>,
    listening: bool,
    /// The index of the socket at the other end (socket ids are reused once closed; indices are not).
    peer: Option<usize>,
    sent: usize,
    read: usize,
    /// Closed by the application: its id may name another socket, so no call uses it again.
    released: bool,
}

struct Run {
    sim: Simulation,
    socks: Vec<Sock>,
    rng: Rng,
    seed: u64,
    slot: Sga,
    /// Successful connects so far.
    connects: u64,
}

impl Run {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
        let t0 = Instant::now();
        // Faults only where TIME-WAIT always has room: without it, an old duplicate may land in a new incarnation
        // (docs/inetstack.md, TIME-WAIT limit), which is not what this test looks for.
        let tight = rng.chance(0.3);
        let faults = if tight {
            FaultConfig::default()
        } else {
            FaultConfig { drop: rng.pick(&[0.0, 0.02]), duplicate: rng.pick(&[0.0, 0.02]), reorder: 0.05, corrupt: 0.0 }
        };
        let limit = rng.pick(&[0usize, 1, 2]);
        let hosts = [0usize, 1].map(|h| {
            let mut config = StackConfig::new(MacAddress([2, 0, 0, 0, 0, h as u8 + 1]), ADDRESSES[h], 24);
            config.arp.announcements = 0;
            config.isn_secret = seed;
            config.tcp.time_wait = Duration::from_secs(1);
            config.tcp.fin_wait2_timeout = Duration::from_secs(3);
            config.tcp.recv_buffer = 16 << 10;
            config.tcp.send_buffer = 16 << 10;
            if tight {
                config.tcp.max_time_wait = limit;
                config.tcp.max_orphans = limit;
            }
            Stack::new(config, t0).expect("stack")
        });
        let sim = Simulation::new(hosts.into(), t0, Duration::from_micros(50), faults, seed);
        let mut run = Self { sim, socks: Vec::new(), rng, seed, slot: Sga::new(), connects: 0 };
        // A listener to start with (the calls may close it and make others), so that most runs connect.
        let listener = run.sim.hosts[1].tcp_open();
        run.sim.hosts[1].tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORTS[0])).expect("bind");
        run.sim.hosts[1].tcp_listen(listener, 2).expect("listen");
        let i = run.add(1, listener, None);
        (run.socks[i].bound, run.socks[i].listening) = (Some(PORTS[0]), true);
        run
    }

    fn now(&self) -> Instant {
        self.sim.now()
    }

    /// A socket of `host` still held by the application, drawn: four times in five one that suits the call
    /// (`suits`), else any (calls out of place must fail cleanly too).
    fn pick(&mut self, host: usize, suits: impl Fn(&Sock) -> bool) -> Option<usize> {
        let any = self.rng.chance(0.2);
        let held: Vec<usize> = (0..self.socks.len())
            .filter(|&i| self.socks[i].host == host && !self.socks[i].released && (any || suits(&self.socks[i])))
            .collect();
        (!held.is_empty()).then(|| held[self.rng.below(held.len())])
    }

    /// A port stack `target` listens on, most of the time, else any of [`PORTS`].
    fn remote_port(&mut self, target: usize) -> u16 {
        let listening: Vec<u16> = self
            .socks
            .iter()
            .filter(|s| s.host == target && s.listening && !s.released)
            .filter_map(|s| s.bound)
            .collect();
        if !listening.is_empty() && self.rng.chance(0.8) {
            listening[self.rng.below(listening.len())]
        } else {
            self.rng.pick(&PORTS)
        }
    }

    fn add(&mut self, host: usize, id: SocketId, tuple: Option<(SocketAddrV4, SocketAddrV4)>) -> usize {
        let sock = Sock {
            host,
            id,
            tuple,
            iss: None,
            connected: 0,
            bound: None,
            listening: false,
            peer: None,
            sent: 0,
            read: 0,
            released: false,
        };
        self.socks.push(sock);
        self.socks.len() - 1
    }

    /// Pairs socket `i` (which the application holds) with the socket whose 4-tuple mirrors its own and whose ISS
    /// is its connection's IRS: the client of an accepted connection (which may have closed since), the other
    /// side of a simultaneous open, or itself, connected to its own address and port. Before the first SYN
    /// arrives (IRS zero) there is none yet.
    fn pair(&mut self, i: usize) {
        let (host, id) = (self.socks[i].host, self.socks[i].id);
        let Some((iss, irs)) = self.sim.hosts[host].tcp_initial_sequence_numbers(id) else { return };
        self.socks[i].iss = Some(iss);
        let Some((local, remote)) = self.socks[i].tuple else { return };
        // The last to connect: a socket closed while its SYN was on the way, and another connecting at once over
        // the same 4-tuple, send the same ISN (the clock has not moved), and the peer takes both SYNs for one
        // connection, which is then the later socket's.
        let other = (0..self.socks.len())
            .filter(|&j| {
                let s = &self.socks[j];
                s.peer.is_none() && s.iss == Some(irs) && s.tuple == Some((remote, local))
            })
            .max_by_key(|&j| self.socks[j].connected);
        if let Some(j) = other {
            self.socks[i].peer = Some(j);
            self.socks[j].peer = Some(i);
        }
    }

    /// One drawn call on a drawn socket of a drawn stack.
    fn call(&mut self) {
        let host = self.rng.below(2);
        let now = self.now();
        // Weights: open 2, bind 2, listen 2, connect 3, accept 3, send 4, read 3, shutdown 1, abort 1, options 1,
        // close 2, time 4.
        let action = [0, 0, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 7, 8, 9, 10, 10, 11, 11, 11, 11]
            [self.rng.below(28)];
        if action == 0 {
            let id = self.sim.hosts[host].tcp_open();
            self.add(host, id, None);
            return;
        }
        let fresh = |s: &Sock| s.tuple.is_none() && !s.listening;
        let suits: &dyn Fn(&Sock) -> bool = match action {
            1 => &|s: &Sock| fresh(s) && s.bound.is_none(),
            2 => &|s: &Sock| fresh(s) && s.bound.is_some(),
            3 => &fresh,
            4 => &|s: &Sock| s.listening,
            5..=8 | 10 => &|s: &Sock| s.tuple.is_some(),
            _ => &|_: &Sock| true,
        };
        let Some(i) = self.pick(host, suits) else { return };
        let id = self.socks[i].id;
        // The other stack, or (one connect in six) this one at its own address: loopback, and a socket bound to
        // the port it connects to opens a connection with itself.
        let target = if self.rng.below(6) == 0 { host } else { 1 - host };
        let remote_port = self.remote_port(target);
        let stack = &mut self.sim.hosts[host];
        match action {
            1 => {
                let port = if self.rng.chance(0.2) { 0 } else { self.rng.pick(&PORTS) };
                if let Ok(bound) = stack.tcp_bind(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)) {
                    self.socks[i].bound = Some(bound.port());
                }
            }
            2 => {
                if stack.tcp_listen(id, 1 + self.rng.below(3)).is_ok() {
                    self.socks[i].listening = true;
                }
            }
            3 => {
                let remote = SocketAddrV4::new(ADDRESSES[target], remote_port);
                if stack.tcp_connect(now, id, remote).is_ok() {
                    let local = stack.local_addr(id).expect("socket").expect("a connecting socket is bound");
                    self.connects += 1;
                    (self.socks[i].tuple, self.socks[i].connected) = (Some((local, remote)), self.connects);
                    self.pair(i);
                }
            }
            4 => {
                if let Ok(Some((accepted, remote))) = stack.tcp_accept(id) {
                    let local = stack.local_addr(accepted).expect("socket").expect("an accepted socket is bound");
                    let j = self.add(host, accepted, Some((local, remote)));
                    self.pair(j);
                }
            }
            5 => {
                let len = 1 + self.rng.below(6000);
                let sent = self.socks[i].sent;
                let bytes: Vec<u8> = (sent..sent + len).map(|k| stream_byte(i, k)).collect();
                if let Ok(n) = stack.tcp_send(now, id, &Sga::from_slice(&bytes).expect("sga")) {
                    self.socks[i].sent += n;
                }
            }
            6 => self.read(i),
            7 => {
                let _ = stack.tcp_shutdown_write(now, id);
            }
            8 => {
                let _ = stack.tcp_abort(now, id);
            }
            9 => {
                let options = TcpSocketOptions {
                    nodelay: self.rng.chance(0.5),
                    keepalive: self.rng.chance(0.3).then_some(Duration::from_secs(1)),
                    linger: self.rng.pick(&[None, Some(Duration::ZERO), Some(Duration::from_secs(1))]),
                    reuse_addr: self.rng.chance(0.5),
                };
                let _ = stack.tcp_set_options(id, options);
            }
            10 => {
                self.read(i);
                self.sim.hosts[host].close(id).expect("close of a socket the application holds");
                self.socks[i].released = true;
            }
            _ => {
                let pause = self.rng.pick(&[0, 1, 1, 50, 1500]);
                self.sim.sleep(Duration::from_millis(pause));
            }
        }
    }

    /// Reads everything socket `i` has, checking each byte against its peer's stream.
    fn read(&mut self, i: usize) {
        let (host, id) = (self.socks[i].host, self.socks[i].id);
        loop {
            match self.sim.hosts[host].tcp_recv_into(id, usize::MAX, &mut self.slot) {
                Ok(RecvOutcome::Data) => {
                    if self.socks[i].peer.is_none() {
                        self.pair(i);
                    }
                    let sock = &self.socks[i];
                    let peer =
                        sock.peer.unwrap_or_else(|| panic!("seed {}: data for an unpaired socket {sock:?}", self.seed));
                    for (k, byte) in self.slot.to_vec().into_iter().enumerate() {
                        let at = sock.read + k;
                        assert_eq!(byte, stream_byte(peer, at), "seed {}: socket {sock:?} byte {at}", self.seed);
                    }
                    self.socks[i].read += self.slot.len();
                }
                Ok(RecvOutcome::EndOfStream | RecvOutcome::NotYet) | Err(_) => return,
            }
        }
    }

    fn check(&self) {
        for stack in &self.sim.hosts {
            stack.check_tcp_tables();
        }
    }

    /// Closes every socket still held and runs time on: both stacks must go quiet.
    fn finish(mut self) {
        for i in 0..self.socks.len() {
            if !self.socks[i].released {
                self.read(i);
                let (host, id) = (self.socks[i].host, self.socks[i].id);
                self.sim.hosts[host].close(id).expect("close");
                self.socks[i].released = true;
            }
        }
        self.sim.sleep(Duration::from_secs(600));
        self.check();
        for (h, stack) in self.sim.hosts.iter().enumerate() {
            let seed = self.seed;
            assert_eq!(stack.tcp.connection_count(), 0, "seed {seed}: host {h} still has connections");
            assert_eq!((stack.tcp_time_wait_count(), stack.tcp_orphan_count()), (0, 0), "seed {seed}: host {h} slots");
            let held = (stack.tcp_receive_memory_held(), stack.tcp_send_memory_held());
            assert_eq!(held, (0, 0), "seed {seed}: host {h} still holds data");
        }
    }
}

#[test]
fn drawn_call_sequences_keep_the_tables_whole_and_every_stream_intact() {
    let mut delivered = 0;
    for seed in crate::sim::seeds("STACK_CALLS", 48) {
        let mut run = Run::new(seed);
        for _ in 0..400 {
            run.call();
            run.check();
            if run.rng.chance(0.5) {
                run.sim.step();
                run.check();
            }
        }
        delivered += run.socks.iter().map(|s| s.read).sum::<usize>();
        run.finish();
    }
    assert!(delivered > 0, "some calls made connections that carried data");
}
