//! The stack-wide limit on received data (`TcpConfig::receive_memory`, `tcp/receive_memory.rs`), whole stacks in
//! the simulator: many connections whose application reads nothing hold no more than the limit (give or take a
//! floor and a segment each), a connection opened once the memory is used up still gets its data through, and
//! once the application reads, every byte arrives, in order, and the memory is given back.

use std::net::SocketAddrV4;
use std::time::Duration;

use runtime::Sga;

use super::bottleneck_tests::{PORT, SERVER, Stream, accept_streams, link};
use super::*;
use crate::phy::FaultConfig;
use crate::sim::Simulation;
use crate::tcp::TcpConfig;

const CONNECTIONS: usize = 16;
const EACH: usize = 200_000;
/// `tcp/receive_memory.rs`'s floor, and the largest segment: what each connection may hold past the limit.
const PER_CONNECTION_SLACK: usize = 4096 + 1460;

/// A client and a server host, each limited to `receive_memory`, on a 10 Gbit/s link with 1 ms of latency and a
/// queue that never fills here, the server listening.
fn hosts(receive_memory: usize) -> (Simulation, SocketId) {
    let tcp = TcpConfig { receive_memory, ..TcpConfig::default() };
    link(tcp, 11, (10_000_000_000, Duration::from_millis(1), 100_000), (FaultConfig::default(), Duration::ZERO))
}

/// The byte at `offset` of every stream.
fn byte(offset: usize) -> u8 {
    (offset % 251) as u8
}

/// Opens `count` connections and runs `time`, the clients sending up to `total` bytes each and the server
/// accepting but reading nothing; returns the streams and the most the server held at any step.
fn fill(sim: &mut Simulation, listener: SocketId, count: usize, total: usize, time: Duration) -> (Vec<Stream>, usize) {
    let start = sim.now();
    let mut streams: Vec<Stream> = (0..count)
        .map(|_| {
            let client = sim.hosts[0].tcp_open();
            sim.hosts[0].tcp_connect(start, client, SocketAddrV4::new(SERVER, PORT)).expect("connect");
            Stream { client, server: None, sent: 0, received: 0, done_at: None }
        })
        .collect();
    let data: Vec<u8> = (0..total).map(byte).collect();
    let (mut most, mut slot) = (0, Sga::new());
    sim.run_until(time, |s| {
        accept_streams(s, listener, &mut streams);
        for stream in &mut streams {
            stream.step(s, &data, false, &mut slot);
        }
        most = most.max(s.hosts[1].tcp_receive_memory_held());
        false
    });
    (streams, most)
}

/// Reads every stream on the server until each has `total` bytes (checking every byte by its offset), the
/// clients still sending; false if that took longer than `time`.
fn read_all(sim: &mut Simulation, listener: SocketId, streams: &mut [Stream], total: usize, time: Duration) -> bool {
    let data: Vec<u8> = (0..total).map(byte).collect();
    let mut slot = Sga::new();
    sim.run_until(time, |s| {
        accept_streams(s, listener, streams);
        for stream in streams.iter_mut() {
            stream.step(s, &data, true, &mut slot);
        }
        streams.iter().all(|st| st.received == total)
    })
}

#[test]
fn connections_whose_reader_waits_hold_no_more_than_the_stack_limit() {
    const LIMIT: usize = 256 << 10;
    // Without a limit of its own (the default, 1 GiB) the server holds everything it is sent: the test's
    // traffic does need the limit.
    let (mut sim, listener) = hosts(TcpConfig::default().receive_memory);
    let (_, most) = fill(&mut sim, listener, CONNECTIONS, EACH, Duration::from_secs(10));
    assert_eq!(most, CONNECTIONS * EACH, "every byte sent is held");

    let (mut sim, listener) = hosts(LIMIT);
    let (mut streams, most) = fill(&mut sim, listener, CONNECTIONS, EACH, Duration::from_secs(10));
    eprintln!("held at most {most} of {} sent", streams.iter().map(|st| st.sent).sum::<usize>());
    // Used up to within a segment, and never by more than each connection's slack.
    assert!(most + 1460 > LIMIT && most <= LIMIT + CONNECTIONS * PER_CONNECTION_SLACK, "held at most {most}");
    let refused: u64 = streams
        .iter()
        .map(|st| sim.hosts[1].tcp_counters(st.server.expect("accepted")).expect("counters"))
        .map(|c| c.drops.receive_memory)
        .sum();
    eprintln!("{refused} segments refused");

    // The memory is used up, but a new connection still gets a request through to its reader.
    let (mut late, _) = fill(&mut sim, listener, 1, 3000, Duration::ZERO);
    assert!(read_all(&mut sim, listener, &mut late, 3000, Duration::from_secs(1)), "read {}", late[0].received);

    // The application reads: every byte arrives, and what was held is given back.
    let reading = sim.now();
    assert!(read_all(&mut sim, listener, &mut streams, EACH, Duration::from_secs(600)), "streams stalled");
    eprintln!("all read in {:?}", sim.now() - reading);
    assert_eq!(sim.hosts[1].tcp_receive_memory_held(), 0);
}
