//! Output's fast path (`crate::tcp::fast_output`, its segments written from the header template by
//! `emit_batch`) against the general path, through whole stacks: seeded exchanges in the simulator — options,
//! buffer sizes, Nagle, delayed ACKs, checksum offload, chunk sizes, slow readers (zero windows), loss,
//! duplication, corruption and reordering drawn per seed — run with the fast path off and then on must put
//! the same frames on the wire at the same times, and end with the same counters.
//!
//! `STACK_FAST_PATH_CASES` (default 16) sets how many seeds run, `STACK_FAST_PATH_SEED` the first one.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use runtime::{DemiBuffer, Sga};

use super::*;
use crate::phy::{FaultConfig, Rng};
use crate::sim::Simulation;
use crate::tcp::{RecvOutcome, TcpCounters, TcpState};
use crate::wire::{ChecksumCapabilities, ChecksumMode, MacAddress};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 80;

fn pick<T: Copy>(rng: &mut Rng, options: &[T]) -> T {
    options[rng.below(options.len())]
}

/// One seed's draw.
#[derive(Debug)]
struct Draw {
    configs: [StackConfig; 2],
    faults: FaultConfig,
    jitter: Duration,
    nodelay: bool,
    /// Bytes A sends to B, and B to A.
    volumes: [usize; 2],
    /// Largest chunk one send offers (each a view of one buffer, so segments may span several).
    chunk: usize,
    /// Chance that an application skips reading in a round.
    stall: f64,
}

fn draw(seed: u64) -> Draw {
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let offload = rng.chance(0.3);
    let mode = if offload { ChecksumMode::Offloaded } else { ChecksumMode::Software };
    let checksums = ChecksumCapabilities { ipv4: mode, tcp: mode, ..ChecksumCapabilities::software() };
    let mss = pick(&mut rng, &[200u16, 536, 1460]);
    let buffer = pick(&mut rng, &[4_096usize, 65_536, 256 * 1024]);
    let (sack, timestamps, window_scale) = (rng.chance(0.7), rng.chance(0.7), rng.chance(0.8));
    let delayed_ack = pick(&mut rng, &[Duration::ZERO, Duration::from_millis(40)]);
    let keepalive = pick(&mut rng, &[None, Some(Duration::from_millis(300))]);
    let configs = [(MacAddress([2, 0, 0, 0, 0, 1]), A), (MacAddress([2, 0, 0, 0, 0, 2]), B)].map(|(mac, ip)| {
        let mut config = StackConfig::new(mac, ip, 24);
        config.isn_secret = seed;
        config.checksums = checksums;
        config.tcp.mss = mss;
        config.tcp.recv_buffer = buffer;
        config.tcp.send_buffer = buffer;
        config.tcp.sack = sack;
        config.tcp.timestamps = timestamps;
        config.tcp.window_scale = window_scale;
        config.tcp.delayed_ack = delayed_ack;
        config.tcp.keepalive = keepalive;
        config
    });
    let faults = FaultConfig {
        drop: pick(&mut rng, &[0.0, 0.0, 0.01, 0.05]),
        duplicate: pick(&mut rng, &[0.0, 0.02]),
        corrupt: if offload { 0.0 } else { pick(&mut rng, &[0.0, 0.01]) },
        reorder: pick(&mut rng, &[0.0, 0.05, 0.2]),
    };
    Draw {
        configs,
        faults,
        jitter: pick(&mut rng, &[Duration::ZERO, Duration::from_micros(50)]),
        nodelay: rng.chance(0.5),
        volumes: [rng.below(200_000), rng.below(60_000)],
        chunk: pick(&mut rng, &[1usize, 100, 1000, 1448, 9000, 65_536]),
        stall: pick(&mut rng, &[0.0, 0.3, 0.9]),
    }
}

/// One direction of the exchange as the two applications see it.
struct Stream {
    data: DemiBuffer,
    sent: usize,
    received: usize,
    eof: bool,
}

impl Stream {
    fn send(&mut self, stack: &mut Stack, now: Instant, id: SocketId, chunk: usize) {
        while self.sent < self.data.len() {
            let mut view = self.data.clone();
            view.adjust(self.sent).expect("in range");
            view.trim(view.len() - chunk.min(view.len())).expect("in range");
            match stack.tcp_send(now, id, &Sga::from_buffer(view)) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.sent += n,
            }
        }
    }

    fn receive(&mut self, stack: &mut Stack, id: SocketId) {
        let mut data = Sga::new();
        loop {
            match stack.tcp_recv_into(id, usize::MAX, &mut data) {
                Ok(RecvOutcome::Data) => {
                    let expected = &self.data[self.received..self.received + data.len()];
                    assert_eq!(data.to_vec(), expected, "bytes arrive intact and in order");
                    self.received += data.len();
                }
                Ok(RecvOutcome::EndOfStream) => {
                    self.eof = true;
                    return;
                }
                Ok(RecvOutcome::NotYet) | Err(_) => return,
            }
        }
    }
}

/// What one run leaves to compare: every frame on the wire, and the counters.
#[derive(Debug, PartialEq)]
struct Outcome {
    wire: Vec<(Duration, usize, Vec<u8>)>,
    stacks: Vec<StackCounters>,
    connections: Vec<TcpCounters>,
}

/// One seeded exchange with both stacks' `TcpConfig::fast_paths` as given.
fn run(seed: u64, fast_paths: bool) -> Outcome {
    let mut d = draw(seed);
    for config in &mut d.configs {
        config.tcp.fast_paths = fast_paths;
    }
    let t0 = Instant::now();
    let hosts = d.configs.iter().map(|config| Stack::new(config.clone(), t0).expect("stack")).collect();
    let mut sim =
        Simulation::new(hosts, t0, Duration::from_micros(20), d.faults, seed).with_jitter(d.jitter).record_frames();
    let options = TcpSocketOptions { nodelay: d.nodelay, ..TcpSocketOptions::default() };
    let listener = sim.hosts[1].tcp_open();
    sim.hosts[1].tcp_set_options(listener, options).expect("options");
    sim.hosts[1].tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).expect("bind");
    sim.hosts[1].tcp_listen(listener, 4).expect("listen");
    let client = sim.hosts[0].tcp_open();
    sim.hosts[0].tcp_set_options(client, options).expect("options");
    sim.hosts[0].tcp_connect(t0, client, SocketAddrV4::new(B, PORT)).expect("connect");
    let mut rng = Rng::new(seed ^ 0xfa57);
    let mut streams = d.volumes.map(|len| {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        Stream { data: DemiBuffer::from_slice(&bytes).expect("data"), sent: 0, received: 0, eof: false }
    });
    let mut server = None;
    let mut closed = [false; 2];
    let end = t0 + Duration::from_secs(120);
    while sim.now() < end {
        let now = sim.now();
        if server.is_none() {
            server = sim.hosts[1].tcp_accept(listener).expect("accept").map(|(id, _)| id);
        }
        let ends = [(0, client, 0, 1), (1, server.unwrap_or(client), 1, 0)];
        for (host, id, out, into) in ends {
            if host == 1 && server.is_none() {
                continue;
            }
            let stack = &mut sim.hosts[host];
            if matches!(stack.tcp_state(id), Ok(TcpState::Established | TcpState::CloseWait)) {
                streams[out].send(stack, now, id, d.chunk);
            }
            if !rng.chance(d.stall) {
                streams[into].receive(stack, id);
            }
            // A closes once it has sent and received everything, B once it has sent everything and seen A's FIN.
            let done_sending = streams[out].sent == streams[out].data.len();
            let done_receiving =
                if host == 0 { streams[into].received == streams[into].data.len() } else { streams[into].eof };
            if done_sending && done_receiving && !closed[host] {
                stack.close(id).expect("close");
                closed[host] = true;
            }
        }
        if !sim.step() && closed == [true, true] {
            break;
        }
    }
    Outcome {
        wire: sim
            .recorded
            .take()
            .unwrap_or_default()
            .into_iter()
            .map(|(at, host, bytes)| (at - t0, host, bytes))
            .collect(),
        // The counters of the receive shortcut itself are the only ones that differ by design.
        stacks: sim.hosts.iter().map(|host| StackCounters { tcp_in_fast: 0, ..*host.counters() }).collect(),
        connections: [(0, client), (1, server.unwrap_or(client))]
            .into_iter()
            .filter_map(|(host, id)| match sim.hosts[host].socket(id) {
                Ok(Socket::Tcp(TcpSocket::Connection(c))) => Some(TcpCounters { predicted: 0, ..*c.tcb.counters() }),
                _ => None,
            })
            .collect(),
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn stacks_put_the_same_frames_on_the_wire_with_the_fast_path_off_and_on() {
    let first = env_u64("STACK_FAST_PATH_SEED", 1);
    let taken_before = crate::tcp::fast_path_taken();
    for seed in first..first + env_u64("STACK_FAST_PATH_CASES", 16) {
        let general = run(seed, false);
        let fast = run(seed, true);
        if let Some(at) = general.wire.iter().zip(&fast.wire).position(|(g, f)| g != f) {
            panic!("seed {seed}: frame {at} differs:\ngeneral {:?}\nfast    {:?}", general.wire[at], fast.wire[at]);
        }
        assert_eq!(general.wire.len(), fast.wire.len(), "seed {seed}: as many frames");
        assert_eq!(general, fast, "seed {seed}: the same counters");
        assert!(general.wire.len() > 20, "seed {seed}: data moved");
    }
    assert!(crate::tcp::fast_path_taken() > taken_before, "the fast path was taken");
}
