//! The receive fast paths change nothing on the wire: the same seeded traffic (request/response, bulk both
//! ways with a slow reader, an orderly close; over a clean link and a faulty one; under several TCP
//! configurations) runs with `TcpConfig::fast_paths` off and on, and every frame either host puts on
//! the wire, every stack counter and every connection counter must be the same (but the two that count the
//! fast paths themselves).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use runtime::Sga;

use crate::phy::FaultConfig;
use crate::sim::Simulation;
use crate::stack::{SocketId, Stack, StackConfig, StackCounters};
use crate::tcp::{CongestionAlgorithm, RecvOutcome, TcpConfig, TcpCounters, TcpState};
use crate::wire::{ChecksumCapabilities, MacAddress};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 80;

/// What one run left behind.
#[derive(Debug)]
struct Transcript {
    frames: Vec<(Instant, usize, Vec<u8>)>,
    stacks: [StackCounters; 2],
    connections: [TcpCounters; 2],
}

impl Transcript {
    /// (frames the stack fast path took, segments header prediction took), over both hosts.
    fn fast(&self) -> (u64, u64) {
        let stack = self.stacks.iter().map(|c| c.tcp_in_fast).sum();
        let tcp = self.connections.iter().map(|c| c.predicted).sum();
        (stack, tcp)
    }

    /// The counters without the two that count the fast paths.
    fn counters(&self) -> ([StackCounters; 2], [TcpCounters; 2]) {
        let mut stacks = self.stacks;
        let mut connections = self.connections;
        stacks.iter_mut().for_each(|c| c.tcp_in_fast = 0);
        connections.iter_mut().for_each(|c| c.predicted = 0);
        (stacks, connections)
    }
}

/// The scenario's settings: TCP configuration, link faults, checksum capabilities, seed.
#[derive(Clone, Copy)]
struct Setup<'a> {
    tcp: &'a TcpConfig,
    faults: FaultConfig,
    checksums: ChecksumCapabilities,
    seed: u64,
}

fn host(mac: u8, ip: Ipv4Addr, setup: Setup<'_>, prediction: bool, t0: Instant) -> Stack {
    let tcp = setup.tcp;
    let mut config = StackConfig::new(MacAddress([2, 0, 0, 0, 0, mac]), ip, 24);
    config.checksums = setup.checksums;
    config.tcp = TcpConfig { fast_paths: prediction, ..tcp.clone() };
    config.isn_secret = u64::from(mac);
    Stack::new(config, t0).expect("valid config")
}

/// Sends what `data[*sent..]` the stack takes.
fn push(sim: &mut Simulation, host: usize, id: SocketId, data: &[u8], sent: &mut usize) {
    if *sent < data.len() {
        let now = sim.now();
        let chunk = Sga::from_slice(&data[*sent..(*sent + 16384).min(data.len())]).expect("alloc");
        *sent += sim.hosts[host].tcp_send(now, id, &chunk).expect("send");
    }
}

/// Reads at most `max_len` bytes per call, `calls` times at most, into `into`.
fn pull(sim: &mut Simulation, host: usize, id: SocketId, max_len: usize, calls: usize, into: &mut Vec<u8>) {
    let mut sga = Sga::new();
    for _ in 0..calls {
        match sim.hosts[host].tcp_recv_into(id, max_len, &mut sga).expect("recv") {
            RecvOutcome::Data => into.extend_from_slice(&sga.to_vec()),
            _ => break,
        }
    }
}

/// Sends `data` from socket `from` (host, id) until socket `to` has read as many bytes; returns what it read.
fn send_whole(sim: &mut Simulation, from: (usize, SocketId), to: (usize, SocketId), data: &[u8]) -> Vec<u8> {
    let (mut sent, mut got) = (0, Vec::new());
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        push(s, from.0, from.1, data, &mut sent);
        pull(s, to.0, to.1, usize::MAX, 8, &mut got);
        got.len() == data.len()
    }));
    got
}

fn pattern(len: usize, salt: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + salt) % 251) as u8).collect()
}

/// The scenario, with header prediction `on` or off; the data must arrive whole either way.
fn run(t0: Instant, setup: Setup<'_>, on: bool) -> Transcript {
    let hosts = vec![host(1, A, setup, on, t0), host(2, B, setup, on, t0)];
    let mut sim = Simulation::new(hosts, t0, Duration::from_micros(30), setup.faults, setup.seed)
        .with_jitter(Duration::from_micros(300))
        .record_frames();
    let listener = sim.hosts[1].tcp_open();
    sim.hosts[1].tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).expect("bind");
    sim.hosts[1].tcp_listen(listener, 4).expect("listen");
    let client = sim.hosts[0].tcp_open();
    let now = sim.now();
    sim.hosts[0].tcp_connect(now, client, SocketAddrV4::new(B, PORT)).expect("connect");
    let mut server = None;
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        server = server.or_else(|| s.hosts[1].tcp_accept(listener).expect("accept"));
        server.is_some() && s.hosts[0].tcp_state(client).expect("state") == TcpState::Established
    }));
    let server = server.expect("accepted").0;
    // Request/response of 1 to 1500 bytes.
    for round in 0..30 {
        let len = 1 + round * 53 % 1500;
        let (request, response) = (pattern(len, round), pattern(len, round + 7));
        assert_eq!(send_whole(&mut sim, (0, client), (1, server), &request), request);
        assert_eq!(send_whole(&mut sim, (1, server), (0, client), &response), response);
    }
    // Bulk both ways; the server reads slowly, so its window closes and reopens.
    let (up, down) = (pattern(400_000, 1), pattern(150_000, 2));
    let (mut sent_up, mut sent_down, mut got_up, mut got_down) = (0, 0, Vec::new(), Vec::new());
    assert!(sim.run_until(Duration::from_secs(600), |s| {
        push(s, 0, client, &up, &mut sent_up);
        push(s, 1, server, &down, &mut sent_down);
        pull(s, 1, server, 1000, 3, &mut got_up);
        pull(s, 0, client, usize::MAX, 64, &mut got_down);
        got_up.len() == up.len() && got_down.len() == down.len()
    }));
    assert!(got_up == up && got_down == down, "the data arrived whole");
    let connections =
        [sim.hosts[0].tcp_counters(client).expect("client"), sim.hosts[1].tcp_counters(server).expect("server")];
    sim.hosts[0].close(client).expect("close");
    sim.hosts[1].close(server).expect("close");
    sim.run_until(Duration::from_secs(300), |_| false);
    let stacks = [*sim.hosts[0].counters(), *sim.hosts[1].counters()];
    Transcript { frames: sim.recorded.take().expect("recording"), stacks, connections }
}

/// Runs the scenario both ways and compares; returns the fast-path counts of the run with them on.
fn same_both_ways(setup: Setup<'_>) -> (u64, u64) {
    let t0 = Instant::now();
    let general = run(t0, setup, false);
    let fast = run(t0, setup, true);
    assert_eq!(general.fast(), (0, 0), "off means off");
    if let Some(i) = (0..general.frames.len().min(fast.frames.len())).find(|&i| general.frames[i] != fast.frames[i]) {
        panic!("frame {i} differs:\n general {:?}\n    fast {:?}", general.frames[i], fast.frames[i]);
    }
    assert_eq!(general.frames.len(), fast.frames.len(), "as many frames");
    assert_eq!(general.counters(), fast.counters());
    fast.fast()
}

fn configurations() -> Vec<(&'static str, TcpConfig)> {
    let base = TcpConfig::default();
    vec![
        ("defaults (SACK, timestamps, RACK-TLP, CUBIC)", base.clone()),
        ("no SACK, no timestamps", TcpConfig { sack: false, timestamps: false, ..base.clone() }),
        (
            "SACK without RACK, NewReno",
            TcpConfig { rack_tlp: false, congestion: CongestionAlgorithm::NewReno, ..base.clone() },
        ),
        (
            "no delayed ACKs, no window scaling",
            TcpConfig { delayed_ack: Duration::ZERO, window_scale: false, ..base.clone() },
        ),
        ("small buffers, Nagle", TcpConfig { recv_buffer: 8192, send_buffer: 8192, mss: 536, ..base }),
    ]
}

#[test]
fn clean_link_same_frames_and_counters_with_the_fast_paths_on_or_off() {
    for (name, tcp) in configurations() {
        for checksums in [ChecksumCapabilities::software(), ChecksumCapabilities::offloaded()] {
            let setup = Setup { tcp: &tcp, faults: FaultConfig::default(), checksums, seed: 1 };
            let (frames, segments) = same_both_ways(setup);
            assert!(frames > 500 && segments > 500, "{name}: the fast paths were taken ({frames}, {segments})");
        }
    }
}

#[test]
fn faulty_link_same_frames_and_counters_with_the_fast_paths_on_or_off() {
    let faults = FaultConfig { drop: 0.02, duplicate: 0.01, corrupt: 0.01, reorder: 0.03 };
    for (name, tcp) in configurations() {
        for seed in 1..=3 {
            let setup = Setup { tcp: &tcp, faults, checksums: ChecksumCapabilities::software(), seed };
            let (frames, segments) = same_both_ways(setup);
            assert!(frames > 100 && segments > 100, "{name}, seed {seed}: the fast paths were taken");
        }
    }
}
