//! Many connections at once, drawn per seed, through whole stacks in the simulator: a client host opens up to
//! 12 connections to a server host at drawn times, each with its own plan (an orderly request/response and
//! close, a client that aborts part way, a server that closes before reading everything), over a faulty link
//! that may also have a rate and a drop-tail queue the connections share, with ARP entries that may expire in
//! the middle of a transfer (and frames wait for the address again).
//!
//! What must hold for every seed:
//! - every byte read is the byte sent at that offset; an orderly connection delivers everything both ways and
//!   ends in a clean close on both sides, without an error;
//! - a connection that is not orderly ends with one of the errors its plan allows;
//! - once the applications have closed everything, both stacks forget every connection (no socket, no table
//!   entry left behind) within the time their close handshakes and timers take;
//! - the same frames go on the wire with the fast paths on and off.
//!
//! `STACK_MIX_CASES` (default 16) sets how many seeds run, `STACK_MIX_SEED` the first one.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use runtime::Sga;

use super::*;
use crate::phy::{FaultConfig, Rng};
use crate::tcp::{RecvOutcome, TcpState};
use crate::wire::MacAddress;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 80;

/// How a connection's two applications behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// The client sends its request; the server reads all of it, sends its response and closes; the client
    /// reads the response to the end and closes.
    Orderly,
    /// The client sends this many bytes of its request, then aborts (RST).
    ClientAborts(usize),
    /// The server closes once it has read this many bytes, without responding (a RST if data it did not read
    /// is waiting, else a FIN).
    ServerClosesEarly(usize),
}

#[derive(Clone, Copy, Debug)]
struct Plan {
    start: Duration,
    request: usize,
    response: usize,
    chunk: usize,
    ending: Ending,
}

#[derive(Debug)]
struct Draw {
    configs: [StackConfig; 2],
    faults: FaultConfig,
    jitter: Duration,
    backlog: usize,
    nodelay: bool,
    /// Each host's link rate (bits per second) and queue (frames), if limited.
    uplink: Option<(u64, usize)>,
    /// The MTU of a router on the path and whether it answers, if there is one (`fast_path_tests::draw_path_mtu`).
    path_mtu: Option<super::fast_path_tests::Router>,
    plans: Vec<Plan>,
}

fn draw(seed: u64) -> Draw {
    let mut rng = Rng::new(seed.wrapping_mul(0xd134_2543_de82_ef95) | 1);
    let mss = rng.pick(&[536u16, 1460]);
    let buffer = rng.pick(&[8_192usize, 65_536]);
    let (sack, timestamps) = (rng.chance(0.7), rng.chance(0.7));
    let delayed_ack = rng.pick(&[Duration::ZERO, Duration::from_millis(40)]);
    let entry_ttl = rng.pick(&[Duration::from_secs(60), Duration::from_secs(1), Duration::from_millis(100)]);
    let configs =
        [(MacAddress([2, 0, 0, 0, 0, 1]), CLIENT), (MacAddress([2, 0, 0, 0, 0, 2]), SERVER)].map(|(mac, ip)| {
            let mut config = StackConfig::new(mac, ip, 24);
            config.isn_secret = seed;
            config.arp.entry_ttl = entry_ttl;
            config.tcp.mss = mss;
            config.tcp.recv_buffer = buffer;
            config.tcp.send_buffer = buffer;
            config.tcp.sack = sack;
            config.tcp.timestamps = timestamps;
            config.tcp.delayed_ack = delayed_ack;
            config.tcp.time_wait = Duration::from_secs(1);
            config.tcp.fin_wait2_timeout = Duration::from_secs(5);
            config
        });
    let faults = FaultConfig {
        drop: rng.pick(&[0.0, 0.01, 0.05]),
        duplicate: rng.pick(&[0.0, 0.02]),
        corrupt: rng.pick(&[0.0, 0.01]),
        reorder: rng.pick(&[0.0, 0.1]),
    };
    let plans = (0..1 + rng.below(12))
        .map(|_| {
            let (request, response) = (rng.below(40_000), rng.below(40_000));
            let ending = match rng.below(4) {
                0 => Ending::ClientAborts(rng.below(request + 1)),
                1 => Ending::ServerClosesEarly(rng.below(request + 1)),
                _ => Ending::Orderly,
            };
            let start = Duration::from_micros(rng.below(2_000_000) as u64);
            Plan { start, request, response, chunk: rng.pick(&[100usize, 1448, 16_384]), ending }
        })
        .collect();
    let mut draw = Draw {
        configs,
        faults,
        jitter: rng.pick(&[Duration::ZERO, Duration::from_micros(50)]),
        backlog: rng.pick(&[4usize, 16]),
        nodelay: rng.chance(0.5),
        uplink: rng.pick(&super::fast_path_tests::UPLINKS),
        path_mtu: None,
        plans,
    };
    // Drawn last, so that earlier seeds keep the rest of their draw.
    draw.path_mtu = super::fast_path_tests::draw_path_mtu(&mut rng);
    // One seed in four: a limit on received data (`tcp/memory_limit.rs`) that the connections of a host
    // share, at its floor or at 32 KiB, so that out-of-order data is refused and windows held back.
    if rng.below(4) == 0 {
        let limit = rng.pick(&[crate::tcp::memory_limit::RECEIVE_FLOOR, 32 << 10]);
        for config in &mut draw.configs {
            config.tcp.receive_memory = limit;
        }
    }
    // One seed in four: room for none or two connections in TIME-WAIT (`tcp/slots.rs`), so that
    // connections that close first close at once instead.
    if rng.below(4) == 0 {
        let limit = rng.pick(&[0, 2]);
        for config in &mut draw.configs {
            config.tcp.max_time_wait = limit;
        }
    }
    // One seed in four: a limit on data to send (`tcp/memory_limit.rs`) that the connections of a host share,
    // at its floor or at 32 KiB, so that pushes are held back.
    if rng.below(4) == 0 {
        let limit = rng.pick(&[crate::tcp::memory_limit::SEND_FLOOR, 32 << 10]);
        for config in &mut draw.configs {
            config.tcp.send_memory = limit;
        }
    }
    draw
}

/// Byte `i` of connection `conn`'s request (`dir` 0) or response (`dir` 1).
fn byte(seed: u64, conn: usize, dir: u64, i: usize) -> u8 {
    let mut x = seed ^ (conn as u64) << 40 ^ dir << 56 ^ i as u64;
    x = (x ^ (x >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 56) as u8
}

/// One application end of one connection.
#[derive(Debug, Default)]
struct End {
    socket: Option<SocketId>,
    sent: usize,
    read: usize,
    eof: bool,
    error: Option<i32>,
    closed: bool,
}

impl End {
    /// Sends up to `chunk` bytes at a time until `limit` bytes are sent or the stack takes no more.
    fn send(&mut self, stack: &mut Stack, now: Instant, key: (u64, usize, u64), limit: usize, chunk: usize) {
        let Some(id) = self.socket else { return };
        while self.sent < limit && self.error.is_none() {
            let len = chunk.min(limit - self.sent);
            let bytes: Vec<u8> = (self.sent..self.sent + len).map(|i| byte(key.0, key.1, key.2, i)).collect();
            match stack.tcp_send(now, id, &Sga::from_slice(&bytes).expect("alloc")) {
                Ok(0) => return,
                Ok(n) => self.sent += n,
                Err(e) => self.error = Some(e.errno()),
            }
        }
    }

    /// Reads everything there is, checking every byte against what the peer sent at that offset.
    fn receive(&mut self, stack: &mut Stack, key: (u64, usize, u64), seed: u64) {
        let Some(id) = self.socket else { return };
        let mut data = Sga::new();
        while !self.eof && self.error.is_none() {
            match stack.tcp_recv_into(id, usize::MAX, &mut data) {
                Ok(RecvOutcome::Data) => {
                    for (k, b) in data.to_vec().into_iter().enumerate() {
                        let at = self.read + k;
                        assert_eq!(b, byte(key.0, key.1, key.2, at), "seed {seed}: connection {} byte {at}", key.1);
                    }
                    self.read += data.len();
                }
                Ok(RecvOutcome::EndOfStream) => self.eof = true,
                Ok(RecvOutcome::NotYet) => return,
                Err(e) => self.error = Some(e.errno()),
            }
        }
    }

    fn close(&mut self, stack: &mut Stack) {
        if let Some(id) = self.socket
            && !self.closed
        {
            stack.close(id).expect("close");
            self.closed = true;
        }
    }
}

struct Connection {
    plan: Plan,
    client: End,
    server: End,
    aborted: bool,
}

/// One seeded run with the fast paths as given; returns every frame put on the wire.
fn mixed_run(seed: u64, fast_paths: bool) -> Vec<(Duration, usize, Vec<u8>)> {
    let d = draw(seed);
    let options = TcpSocketOptions { nodelay: d.nodelay, ..TcpSocketOptions::default() };
    let link = (d.faults, d.jitter, d.uplink, d.path_mtu);
    let (mut sim, listener, t0) =
        super::fast_path_tests::recorded_pair(&d.configs, fast_paths, link, seed, (options, d.backlog));
    let mut conns: Vec<Connection> = d
        .plans
        .iter()
        .map(|&plan| Connection { plan, client: End::default(), server: End::default(), aborted: false })
        .collect();
    let mut ports = Vec::new(); // (client port, connection)
    let mut idle = 0;
    let mut clients_done_at = None;
    loop {
        let now = sim.now();
        let elapsed = now - t0;
        assert!(elapsed < Duration::from_secs(600), "seed {seed}: the applications did not finish in 10 minutes");
        // The client application.
        for (i, c) in conns.iter_mut().enumerate() {
            let stack = &mut sim.hosts[0];
            if c.client.socket.is_none() && elapsed >= c.plan.start {
                let id = stack.tcp_open();
                stack.tcp_set_options(id, options).expect("options");
                stack.tcp_connect(now, id, SocketAddrV4::new(SERVER, PORT)).expect("connect");
                ports.push((stack.local_addr(id).expect("socket").expect("bound").port(), i));
                c.client.socket = Some(id);
            }
            let Some(id) = c.client.socket else { continue };
            if c.client.closed {
                continue;
            }
            let established = matches!(stack.tcp_state(id), Ok(TcpState::Established | TcpState::CloseWait));
            let key = (seed, i, 0);
            match c.plan.ending {
                Ending::ClientAborts(after) if established => {
                    c.client.send(stack, now, key, after, c.plan.chunk);
                    if c.client.sent == after {
                        stack.tcp_abort(now, id).expect("abort");
                        c.aborted = true;
                        c.client.close(stack);
                        continue;
                    }
                }
                _ if established => c.client.send(stack, now, key, c.plan.request, c.plan.chunk),
                _ => {}
            }
            c.client.receive(stack, (seed, i, 1), seed);
            if c.client.error.is_none()
                && let Ok(Some(e)) = stack.tcp_error(id)
            {
                c.client.error = Some(e.errno());
            }
            if c.client.eof || c.client.error.is_some() {
                c.client.close(stack);
            }
        }
        // The server application: accepts whatever is waiting, then serves every connection.
        while let Some((id, peer)) = sim.hosts[1].tcp_accept(listener).expect("accept") {
            let (_, i) = *ports.iter().find(|(port, _)| *port == peer.port()).expect("a connection we opened");
            assert!(conns[i].server.socket.is_none(), "seed {seed}: connection {i} accepted twice");
            conns[i].server.socket = Some(id);
        }
        for (i, c) in conns.iter_mut().enumerate() {
            let stack = &mut sim.hosts[1];
            if c.server.socket.is_none() || c.server.closed {
                continue;
            }
            c.server.receive(stack, (seed, i, 0), seed);
            match c.plan.ending {
                Ending::ServerClosesEarly(after) if c.server.read >= after => {
                    c.server.close(stack);
                    continue;
                }
                Ending::Orderly if c.server.read == c.plan.request && c.server.error.is_none() => {
                    c.server.send(stack, now, (seed, i, 1), c.plan.response, c.plan.chunk);
                    if c.server.sent == c.plan.response {
                        c.server.close(stack);
                        continue;
                    }
                }
                _ => {}
            }
            if c.server.eof || c.server.error.is_some() {
                c.server.close(stack);
            }
        }
        // Once every client is done, the server gets 10 more seconds, then closes whatever is still open (a
        // connection whose client aborted may never hear of it: a RST is not retransmitted).
        if clients_done_at.is_none() && conns.iter().all(|c| c.client.closed) {
            clients_done_at = Some(elapsed);
        }
        if clients_done_at.is_some_and(|t| elapsed > t + Duration::from_secs(10)) {
            for c in &mut conns {
                c.server.close(&mut sim.hosts[1]);
            }
        }
        if conns.iter().all(|c| c.client.closed && (c.server.closed || c.server.socket.is_none())) {
            break;
        }
        // Time moves on to the next event of the network or to what the applications wait for (the next
        // connection's start, the end of the server's grace period), whichever comes first; if nothing is left
        // to happen and they wait for nothing, they are stuck. (The applications' times come first even when a
        // timer is due later, such as a stack's ARP announcement 2 s after its start.)
        let next_start = conns.iter().filter(|c| c.client.socket.is_none()).map(|c| c.plan.start).min();
        let grace_end = clients_done_at.map(|t| t + Duration::from_secs(10) + Duration::from_micros(1));
        let wake = next_start.or(grace_end).filter(|&t| t > elapsed);
        // What the applications queued is collected first (with what is due now), so the next event is known.
        sim.sleep(Duration::ZERO);
        if let Some(wait) = wake
            && sim.next_event().is_none_or(|next| next > t0 + wait)
        {
            sim.sleep(wait - elapsed);
            continue;
        }
        let moved = sim.step();
        sim.hosts.iter().for_each(Stack::check_tcp_tables);
        if moved {
            idle = 0;
            continue;
        }
        idle += 1;
        assert!(idle < 1000, "seed {seed}: stuck at {elapsed:?}");
    }
    check_outcomes(seed, &conns);
    // The server closes its listener too, which resets what it never accepted (a connection whose client
    // aborted before the application got to it). Then every connection must be forgotten once the close
    // handshakes and TIME-WAIT are over.
    sim.hosts[1].close(listener).expect("close the listener");
    let forgotten = sim.run_until(Duration::from_secs(600), |s| s.hosts.iter().all(|h| h.tcp.connection_count() == 0));
    let left: Vec<(usize, usize)> =
        sim.hosts.iter().map(|h| (h.tcp.connection_count(), h.sockets.iter().flatten().count())).collect();
    assert!(forgotten && left == [(0, 0), (0, 0)], "seed {seed}: (connections, sockets) left per host: {left:?}");
    let held: Vec<usize> = sim.hosts.iter().map(Stack::tcp_receive_memory_held).collect();
    assert_eq!(held, [0, 0], "seed {seed}: received data still charged");
    let sending: Vec<usize> = sim.hosts.iter().map(Stack::tcp_send_memory_held).collect();
    assert_eq!(sending, [0, 0], "seed {seed}: data to send still charged");
    let waiting: Vec<usize> = sim.hosts.iter().map(Stack::tcp_time_wait_count).collect();
    assert_eq!(waiting, [0, 0], "seed {seed}: TIME-WAIT slots still taken");
    let orphans: Vec<usize> = sim.hosts.iter().map(Stack::tcp_orphan_count).collect();
    assert_eq!(orphans, [0, 0], "seed {seed}: orphan slots still taken");
    let wire = sim.recorded.take().expect("recording");
    wire.into_iter().map(|(at, host, bytes)| (at - t0, host, bytes)).collect()
}

/// What each plan allows the applications to have seen.
fn check_outcomes(seed: u64, conns: &[Connection]) {
    for (i, c) in conns.iter().enumerate() {
        let (p, client, server) = (&c.plan, &c.client, &c.server);
        let label = format!("seed {seed}: connection {i} ({p:?}): client {client:?}, server {server:?}");
        match p.ending {
            Ending::Orderly => {
                assert!(client.error.is_none() && server.error.is_none(), "{label}: no error");
                assert_eq!((server.read, client.read), (p.request, p.response), "{label}: everything delivered");
                assert!(client.eof, "{label}: the client saw the server's FIN");
            }
            Ending::ClientAborts(after) => {
                assert!(c.aborted || client.error.is_some(), "{label}: the client aborted");
                assert!(server.read <= after, "{label}: nothing after the abort");
                assert!(matches!(server.error, None | Some(libc::ECONNRESET)), "{label}: a reset at most");
            }
            Ending::ServerClosesEarly(after) => {
                assert!(server.read >= after || server.error.is_some(), "{label}: the server read what it waited for");
                assert_eq!(client.read, 0, "{label}: no response");
                assert!(
                    matches!(client.error, None | Some(libc::ECONNRESET | libc::EPIPE)),
                    "{label}: a reset at most"
                );
                assert!(client.eof || client.error.is_some(), "{label}: the client saw the close");
            }
        }
    }
}

#[test]
fn many_connections_with_drawn_endings_deliver_close_and_are_forgotten() {
    for seed in crate::sim::seeds("STACK_MIX", 16) {
        let general = mixed_run(seed, false);
        let fast = mixed_run(seed, true);
        if let Some(at) = general.iter().zip(&fast).position(|(g, f)| g != f) {
            panic!("seed {seed}: frame {at} differs with the fast paths on:\n{:?}\n{:?}", general[at], fast[at]);
        }
        assert_eq!(general.len(), fast.len(), "seed {seed}: as many frames with the fast paths on");
    }
}

/// Connections one after the other from the same client port (the drawn link and settings), each an orderly
/// exchange that the server closes first, so that its side of the one before waits in TIME-WAIT when the next
/// SYN comes: whether that SYN reopens it at once (RFC 6191) or goes the long way (challenge ACK, RST, retry),
/// every connection delivers its own bytes (each connection's differ, so a segment of an earlier one taken into a
/// later one would show) and closes cleanly. One seed in three the client closes first instead, and waits out
/// its own TIME-WAIT to reconnect. After every step both stacks' connection tables agree with their sockets.
#[test]
fn successive_connections_from_one_port_each_deliver_their_own_bytes() {
    let (mut reopened, mut woken, mut refused) = (0, 0, 0);
    for seed in crate::sim::seeds("STACK_REUSE", 8) {
        let mut d = draw(seed);
        // TIME-WAIT is what keeps a new incarnation's sequence numbers clear of the old one's segments still on
        // the way. With no room for it (`max_time_wait` 0, drawn for one seed in eight) the server forgets the
        // connection at once, the next one starts from the clock's ISN, and within the timestamp clock's
        // millisecond PAWS cannot tell the incarnations apart: seed 5466's connection 3 took in a resent segment
        // of connection 2 delayed past its handshake. Linux past `tcp_max_tw_buckets` is exposed the same way
        // (docs/inetstack.md, TIME-WAIT limit), so this test keeps room for one.
        for config in &mut d.configs {
            config.tcp.max_time_wait = config.tcp.max_time_wait.max(1);
        }
        let options = TcpSocketOptions { nodelay: d.nodelay, ..TcpSocketOptions::default() };
        let link = (d.faults, d.jitter, d.uplink, d.path_mtu);
        let (mut sim, listener, t0) = super::fast_path_tests::recorded_pair(&d.configs, true, link, seed, (options, 4));
        // One seed in three the client closes first, so its own side waits in TIME-WAIT, and reconnects with
        // SO_REUSEADDR: the bind is let through, the connect to the same server refused (EADDRNOTAVAIL) until
        // that TIME-WAIT ends.
        let client_first = Rng::new(seed ^ 0xc11e_4f17).below(3) == 0;
        let client_options = TcpSocketOptions { reuse_addr: client_first, ..options };
        let mut rng = Rng::new(seed);
        for i in 0..6 {
            let (request, response, chunk) = (1 + rng.below(20_000), 1 + rng.below(20_000), 1448);
            let (mut client, mut server) = (End::default(), End::default());
            let mut idle = 0;
            loop {
                let now = sim.now();
                assert!(now - t0 < Duration::from_secs(3600), "seed {seed}: connection {i} did not finish in an hour");
                if client.socket.is_none() {
                    let id = sim.hosts[0].tcp_open();
                    sim.hosts[0].tcp_set_options(id, client_options).expect("options");
                    let bound = sim.hosts[0].tcp_bind(id, SocketAddrV4::new(CLIENT, 6000));
                    match bound.and_then(|_| sim.hosts[0].tcp_connect(now, id, SocketAddrV4::new(SERVER, PORT))) {
                        Ok(()) => client.socket = Some(id),
                        // The previous connection's client side still holds the port (LAST-ACK, or TIME-WAIT
                        // without SO_REUSEADDR), or its 4-tuple (TIME-WAIT).
                        Err(e) => {
                            let expected = if client_first { libc::EADDRNOTAVAIL } else { libc::EADDRINUSE };
                            assert!([libc::EADDRINUSE, expected].contains(&e.errno()), "seed {seed}: {e}");
                            refused += usize::from(e.errno() == libc::EADDRNOTAVAIL);
                            sim.hosts[0].close(id).expect("close");
                        }
                    }
                }
                if server.socket.is_none() {
                    server.socket = sim.hosts[1].tcp_accept(listener).expect("accept").map(|(id, _)| id);
                }
                let established = client.socket.is_some_and(|id| {
                    matches!(sim.hosts[0].tcp_state(id), Ok(TcpState::Established | TcpState::CloseWait))
                });
                if established {
                    client.send(&mut sim.hosts[0], now, (seed, i, 0), request, chunk);
                }
                client.receive(&mut sim.hosts[0], (seed, i, 1), seed);
                if (client.eof || client_first && client.read == response) && !client.closed {
                    client.close(&mut sim.hosts[0]);
                }
                server.receive(&mut sim.hosts[1], (seed, i, 0), seed);
                if server.read == request && !server.closed {
                    server.send(&mut sim.hosts[1], now, (seed, i, 1), response, chunk);
                    if server.sent == response && (!client_first || server.eof) {
                        server.close(&mut sim.hosts[1]);
                    }
                }
                assert!(
                    client.error.is_none() && server.error.is_none(),
                    "seed {seed}: connection {i}: {client:?} {server:?}"
                );
                if client.closed && server.closed {
                    break;
                }
                let moved = sim.step();
                sim.hosts.iter().for_each(Stack::check_tcp_tables);
                if moved {
                    idle = 0;
                } else {
                    // Nothing on the network: the client waits for its port (a bind retried every 10 ms).
                    idle += 1;
                    assert!(idle < 1000, "seed {seed}: connection {i} stuck: {client:?} {server:?}");
                    sim.sleep(Duration::from_millis(10));
                }
            }
            assert_eq!((server.read, client.read), (request, response), "seed {seed}: connection {i}");
        }
        reopened += sim.hosts[1].counters().tcp_time_wait_reopens;
        woken += sim.hosts[1].counters().tcp_orphan_wakes;
    }
    assert!(reopened > 0, "some SYN reopened a connection in TIME-WAIT");
    assert!(refused > 0, "some client waited out its own TIME-WAIT");
    // The server let go of each connection: its side waited in TIME-WAIT as a record, which segments woke.
    assert!(woken > 0, "some segment woke a connection asleep in TIME-WAIT");
}
