//! What a stack holds across its connections is bounded, whole stacks in the simulator:
//! - received data (`TcpConfig::receive_memory`, `tcp/memory_limit.rs`): many connections whose application
//!   reads nothing hold no more than the limit (give or take a floor and a segment each), a connection opened
//!   once the memory is used up still gets its data through, and once the application reads, every byte
//!   arrives, in order, and the memory is given back;
//! - data to send (`TcpConfig::send_memory`, `tcp/memory_limit.rs`): many connections whose peer reads nothing
//!   hold no more than the limit (give or take a floor each) however much the application pushes, and once the
//!   peers read, every push held back is woken and every byte arrives;
//! - connections in TIME-WAIT (`TcpConfig::max_time_wait`, `tcp/slots.rs`): past the limit, a
//!   connection that closes first closes at once, its peer's FIN still acknowledged;
//! - orphans, connections the application closed that are not yet closed nor in TIME-WAIT
//!   (`TcpConfig::max_orphans`, `tcp/slots.rs`): past the limit, the application's close resets the connection.

use std::time::Duration;

use runtime::Sga;

use super::bottleneck_tests::{Stream, accept_streams, connect_clients, link};
use super::*;
use crate::phy::FaultConfig;
use crate::sim::Simulation;
use crate::tcp::memory_limit::SEND_FLOOR;
use crate::tcp::{RecvOutcome, TcpConfig, TcpState};

const CONNECTIONS: usize = 16;
const EACH: usize = 200_000;
/// `tcp/memory_limit.rs`'s floor, and the largest segment: what each connection may hold past the limit.
const PER_CONNECTION_SLACK: usize = 4096 + 1460;

/// A client and a server host with `tcp`, on a 10 Gbit/s link with 1 ms of latency and a queue that never fills
/// here, the server listening.
fn hosts_with(tcp: TcpConfig) -> (Simulation, SocketId) {
    link(tcp, 11, (10_000_000_000, Duration::from_millis(1), 100_000), (FaultConfig::default(), Duration::ZERO))
}

/// [`hosts_with`], each host limited to `receive_memory`.
fn hosts(receive_memory: usize) -> (Simulation, SocketId) {
    hosts_with(TcpConfig { receive_memory, ..TcpConfig::default() })
}

/// The byte at `offset` of every stream.
fn byte(offset: usize) -> u8 {
    (offset % 251) as u8
}

/// Opens `count` connections and runs `time`, the clients sending up to `total` bytes each and the server
/// accepting but reading nothing; returns the streams and the most the server held at any step.
fn fill(sim: &mut Simulation, listener: SocketId, count: usize, total: usize, time: Duration) -> (Vec<Stream>, usize) {
    let mut streams: Vec<Stream> = connect_clients(sim, count).into_iter().map(Stream::new).collect();
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

/// The server's side of [`server_pushes`]: what each connection's application pushed, and whether its last push
/// was held back.
struct Pusher {
    client: SocketId,
    server: SocketId,
    pushed: usize,
    read: usize,
    blocked: bool,
}

/// Opens `open` more connections; on each the server application pushes `total` bytes, in chunks of at most 64
/// KiB, as a libOS would: a push that took less than it was given is tried again only once `take_touched` names
/// its connection. The clients read if `read`. Runs until every client
/// has read everything, or `time`; returns the most the server held of data to send at any step.
fn server_pushes(
    sim: &mut Simulation,
    listener: SocketId,
    pushers: &mut Vec<Pusher>,
    open: usize,
    total: usize,
    read: bool,
    time: Duration,
) -> usize {
    let count = pushers.len() + open;
    let mut clients = connect_clients(sim, open);
    let data: Vec<u8> = (0..total).map(byte).collect();
    let (mut most, mut slot, mut touched) = (0, Sga::new(), Vec::new());
    sim.run_until(time, |s| {
        let now = s.now();
        while let Some((server, _)) = s.hosts[1].tcp_accept(listener).expect("accept") {
            let client = clients.remove(0);
            pushers.push(Pusher { client, server, pushed: 0, read: 0, blocked: false });
        }
        s.hosts[1].take_touched(&mut touched);
        for pusher in pushers.iter_mut() {
            if touched.contains(&pusher.server) {
                pusher.blocked = false;
            }
            while !pusher.blocked && pusher.pushed < total {
                let end = (pusher.pushed + 65536).min(total);
                let chunk = Sga::from_slice(&data[pusher.pushed..end]).expect("sga");
                let took = s.hosts[1].tcp_send(now, pusher.server, &chunk).expect("send");
                pusher.pushed += took;
                pusher.blocked = took < chunk.len();
            }
            while read
                && s.hosts[0].tcp_recv_into(pusher.client, usize::MAX, &mut slot).expect("recv") == RecvOutcome::Data
            {
                let bytes = slot.to_vec();
                assert!(bytes[..] == data[pusher.read..pusher.read + bytes.len()], "bytes arrive intact");
                pusher.read += bytes.len();
            }
        }
        touched.clear();
        most = most.max(s.hosts[1].tcp_send_memory_held());
        pushers.len() == count && pushers.iter().all(|p| p.read == total)
    });
    most
}

#[test]
fn connections_whose_peer_reads_nothing_hold_no_more_than_the_stack_send_limit() {
    const LIMIT: usize = 256 << 10;
    const TOTAL: usize = 1 << 20;
    // Without a limit of its own (the default, 1 GiB) the server holds at least a full send buffer on each
    // connection once its peer's window is full (more as auto-tuning grows them): the test's traffic does need
    // the limit.
    let (mut sim, listener) = hosts_with(TcpConfig::default());
    let mut pushers = Vec::new();
    let most = server_pushes(&mut sim, listener, &mut pushers, CONNECTIONS, TOTAL, false, Duration::from_secs(2));
    assert!(most >= CONNECTIONS * TcpConfig::default().send_buffer, "every send buffer full: {most}");

    let (mut sim, listener) = hosts_with(TcpConfig { send_memory: LIMIT, ..TcpConfig::default() });
    let mut pushers = Vec::new();
    let most = server_pushes(&mut sim, listener, &mut pushers, CONNECTIONS, TOTAL, false, Duration::from_secs(2));
    let pushed: usize = pushers.iter().map(|p| p.pushed).sum();
    eprintln!("held at most {most}; {pushed} bytes pushed");
    // Used up, and never passed by more than each connection's floor.
    assert!((LIMIT..=LIMIT + CONNECTIONS * SEND_FLOOR).contains(&most), "held at most {most}");
    assert!(pushers.iter().all(|p| p.blocked), "every push waits");
    assert!(!sim.hosts[1].readiness(pushers[0].server).expect("readiness").1, "not writable");

    // The clients read. A push held back by the limit is tried again only when the stack names its connection
    // (`take_touched`), as a libOS wakes it: when its own data is acknowledged, which frees at least its floor
    // once all of it is. Every byte arrives in order, and what was held is given back.
    let reading = sim.now();
    let most = server_pushes(&mut sim, listener, &mut pushers, 0, TOTAL, true, Duration::from_secs(60));
    assert!(pushers.iter().all(|p| p.read == TOTAL), "read {:?}", pushers.iter().map(|p| p.read).collect::<Vec<_>>());
    eprintln!("all read in {:?}, {most} held at most", sim.now() - reading);
    assert!(most <= LIMIT + CONNECTIONS * SEND_FLOOR, "held at most {most}");
    // The last ACKs reach the server.
    sim.sleep(Duration::from_millis(100));
    assert_eq!(sim.hosts[1].tcp_send_memory_held(), 0);
}

/// Ten connections on hosts with `tcp` (the link drawn from `seed`) whose clients each sent 1000 bytes, all read by
/// the server.
fn ten_requests_read(tcp: TcpConfig, seed: u64) -> (Simulation, Vec<Stream>) {
    let (mut sim, listener) = link(tcp, seed, (10_000_000_000, Duration::from_millis(1), 1000), Default::default());
    let (mut streams, _) = fill(&mut sim, listener, 10, 1000, Duration::from_secs(2));
    assert!(read_all(&mut sim, listener, &mut streams, 1000, Duration::from_secs(1)), "requests read");
    (sim, streams)
}

#[test]
fn connections_past_the_time_wait_limit_close_at_once_and_their_peers_close_cleanly() {
    // The server closes each of 10 connections first (it shuts down its sending side and keeps the socket, so
    // its counters stay readable), with room for 4 in TIME-WAIT.
    const LIMIT: usize = 4;
    let (mut sim, mut streams) = ten_requests_read(TcpConfig { max_time_wait: LIMIT, ..TcpConfig::default() }, 12);
    let now = sim.now();
    for stream in &streams {
        sim.hosts[1].tcp_shutdown_write(now, stream.server.expect("accepted")).expect("shutdown");
    }
    // Each client reads to the server's FIN and closes: its FIN takes the server to TIME-WAIT, or past the limit
    // to CLOSED, and is acknowledged either way.
    let mut slot = Sga::new();
    let closed = sim.run_until(Duration::from_secs(5), |s| {
        let now = s.now();
        for stream in streams.iter_mut().filter(|st| st.done_at.is_none()) {
            let outcome = s.hosts[0].tcp_recv_into(stream.client, usize::MAX, &mut slot).expect("recv");
            if outcome == RecvOutcome::EndOfStream {
                s.hosts[0].tcp_shutdown_write(now, stream.client).expect("client shutdown");
                stream.done_at = Some(now);
            }
        }
        streams.iter().all(|st| s.hosts[0].tcp_state(st.client).expect("state") == TcpState::Closed)
    });
    assert!(closed, "every client closed");
    for stream in &streams {
        assert_eq!(sim.hosts[0].tcp_error(stream.client).expect("error"), None, "closed cleanly, not reset");
        let counters = sim.hosts[0].tcp_counters(stream.client).expect("counters");
        assert_eq!(counters.retransmits, 0, "the client's FIN was acknowledged the first time");
    }
    let servers: Vec<(TcpState, u64)> = streams
        .iter()
        .map(|st| st.server.expect("accepted"))
        .map(|id| {
            (sim.hosts[1].tcp_state(id).expect("state"), sim.hosts[1].tcp_counters(id).expect("c").time_wait_skipped)
        })
        .collect();
    let waiting = servers.iter().filter(|&&(state, _)| state == TcpState::TimeWait).count();
    let skipped: u64 = servers.iter().map(|&(_, skipped)| skipped).sum();
    assert_eq!((waiting, skipped, sim.hosts[1].tcp_time_wait_count()), (LIMIT, 6, LIMIT), "{servers:?}");
    // 2 MSL later the slots are free again.
    sim.sleep(Duration::from_secs(61));
    assert_eq!(sim.hosts[1].tcp_time_wait_count(), 0);
}

#[test]
fn closes_past_the_orphan_limit_reset_the_connection() {
    // The server closes each of 10 connections whose client does not close: each waits in FIN-WAIT-2 for the
    // client's FIN, an orphan. With room for 4, the other 6 closes reset their connection.
    const LIMIT: usize = 4;
    let (mut sim, streams) = ten_requests_read(TcpConfig { max_orphans: LIMIT, ..TcpConfig::default() }, 13);
    let servers: Vec<SocketId> = streams.iter().map(|st| st.server.expect("accepted")).collect();
    for &server in &servers {
        sim.hosts[1].close(server).expect("close");
    }
    assert_eq!(sim.hosts[1].tcp_orphan_count(), LIMIT);
    sim.sleep(Duration::from_millis(100));
    let mut slot = Sga::new();
    let outcomes: Vec<Result<RecvOutcome, i32>> = streams
        .iter()
        .map(|st| sim.hosts[0].tcp_recv_into(st.client, usize::MAX, &mut slot).map_err(|e| e.errno()))
        .collect();
    let ended = outcomes.iter().filter(|o| **o == Ok(RecvOutcome::EndOfStream)).count();
    let reset = outcomes.iter().filter(|o| **o == Err(libc::ECONNRESET)).count();
    assert_eq!((ended, reset), (LIMIT, 6), "{outcomes:?}");
    let waiting = servers.iter().filter(|&&id| sim.hosts[1].tcp_state(id).is_ok_and(|s| s == TcpState::FinWait2));
    assert_eq!(waiting.count(), LIMIT, "the orphans wait in FIN-WAIT-2");
    // The clients that saw the end of the stream close: the orphans go to TIME-WAIT and give their slot back.
    for (stream, outcome) in streams.iter().zip(&outcomes) {
        if *outcome == Ok(RecvOutcome::EndOfStream) {
            sim.hosts[0].close(stream.client).expect("client close");
        }
    }
    sim.sleep(Duration::from_millis(100));
    assert_eq!((sim.hosts[1].tcp_orphan_count(), sim.hosts[1].tcp_time_wait_count()), (0, LIMIT));
}
