//! TCP through a bandwidth-limited link with a drop-tail queue, whole stacks in the simulator: the link's
//! rate, not the stacks, bounds the transfer; the queue's drops are the only losses, and the stacks recover
//! them without resending much else; connections that share the link both get through.
//!
//! The congestion controllers are observed against the link itself here (`tcp::tests::congestion` observes
//! cwnd on one connection): a stack that ignored congestion would overflow the queue in every window (with the
//! window forced open, 7 971 of 10 882 frames lost and 4 timeouts); one that backed off too far would leave the
//! link idle and take longer.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use runtime::Sga;

use super::*;
use crate::phy::FaultConfig;
use crate::sim::Simulation;
use crate::tcp::{CongestionAlgorithm, RecvOutcome, TcpConfig, TcpState};
use crate::wire::MacAddress;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub(super) const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub(super) const PORT: u16 = 5001;
/// 10 Mbit/s with 5 ms each way: a bandwidth-delay product of 12.5 KB, under 9 full frames.
const RATE: u64 = 10_000_000;
const LATENCY: Duration = Duration::from_millis(5);
const QUEUE: usize = 20;

/// A client and a server host on the bottleneck link, the server listening.
fn bottleneck(congestion: CongestionAlgorithm, seed: u64) -> (Simulation, SocketId) {
    let tcp = TcpConfig { congestion, ..TcpConfig::default() };
    link(tcp, seed, (RATE, LATENCY, QUEUE), (FaultConfig::default(), Duration::ZERO))
}

/// A client and a server host with `tcp` on a link of `rate` bits per second, `latency` and a queue of `queue`
/// frames, with `faults` and `jitter`, the server listening.
pub(super) fn link(
    tcp: TcpConfig,
    seed: u64,
    (rate, latency, queue): (u64, Duration, usize),
    (faults, jitter): (FaultConfig, Duration),
) -> (Simulation, SocketId) {
    let t0 = Instant::now();
    let hosts = [(1, CLIENT), (2, SERVER)]
        .map(|(mac, ip)| {
            let mut config = StackConfig::new(MacAddress([2, 0, 0, 0, 0, mac]), ip, 24);
            config.tcp = tcp.clone();
            config.isn_secret = seed;
            Stack::new(config, t0).expect("stack")
        })
        .into();
    let mut sim = Simulation::new(hosts, t0, latency, faults, seed).with_bandwidth(rate, queue).with_jitter(jitter);
    let listener = sim.hosts[1].tcp_open();
    sim.hosts[1].tcp_bind(listener, SocketAddrV4::new(SERVER, PORT)).expect("bind");
    sim.hosts[1].tcp_listen(listener, 8).expect("listen");
    (sim, listener)
}

/// One bulk stream from the client: its sockets, what it has sent and read, and when it finished.
pub(super) struct Stream {
    pub(super) client: SocketId,
    pub(super) server: Option<SocketId>,
    pub(super) sent: usize,
    pub(super) received: usize,
    pub(super) done_at: Option<Instant>,
}

impl Stream {
    /// A stream on `client`, not yet accepted, nothing sent.
    pub(super) fn new(client: SocketId) -> Self {
        Self { client, server: None, sent: 0, received: 0, done_at: None }
    }

    /// The client sends the next chunk of `data` if its connection is established; then, if `read`, the
    /// server's application reads what arrived, checking each byte by its offset.
    pub(super) fn step(&mut self, sim: &mut Simulation, data: &[u8], read: bool, slot: &mut Sga) {
        let now = sim.now();
        if self.sent < data.len() && sim.hosts[0].tcp_state(self.client).expect("state") == TcpState::Established {
            let chunk = Sga::from_slice(&data[self.sent..(self.sent + 65536).min(data.len())]).expect("sga");
            self.sent += sim.hosts[0].tcp_send(now, self.client, &chunk).expect("send");
        }
        let Some(server) = self.server.filter(|_| read) else { return };
        while sim.hosts[1].tcp_recv_into(server, usize::MAX, slot).expect("recv") == RecvOutcome::Data {
            let bytes = slot.to_vec();
            assert!(bytes[..] == data[self.received..self.received + bytes.len()], "bytes arrive intact");
            self.received += bytes.len();
        }
    }
}

/// Opens `count` client connections to the server, all at once; returns their sockets.
pub(super) fn connect_clients(sim: &mut Simulation, count: usize) -> Vec<SocketId> {
    let start = sim.now();
    (0..count)
        .map(|_| {
            let client = sim.hosts[0].tcp_open();
            sim.hosts[0].tcp_connect(start, client, SocketAddrV4::new(SERVER, PORT)).expect("connect");
            client
        })
        .collect()
}

/// Matches the server's accepted sockets to `streams`, in order of acceptance (so each byte is checked by its
/// offset only).
pub(super) fn accept_streams(sim: &mut Simulation, listener: SocketId, streams: &mut [Stream]) {
    while let Some((id, _)) = sim.hosts[1].tcp_accept(listener).expect("accept") {
        let stream = streams.iter_mut().find(|st| st.server.is_none()).expect("one accept per stream");
        stream.server = Some(id);
    }
}

/// What the client's connections sent, summed.
#[derive(Debug, Default)]
struct Sent {
    segments: u64,
    retransmits: u64,
    timeouts: u64,
    recoveries: u64,
    undone_recoveries: u64,
    hystart_exits: u64,
    pacing_waits: u64,
    ecn_reductions: u64,
    /// On the receiving side: times auto-tuning grew a receive buffer.
    recv_buffer_grown: u64,
    /// Times auto-tuning grew a send buffer.
    send_buffer_grown: u64,
    /// Each stream's (client, server) sockets.
    sockets: Vec<(SocketId, SocketId)>,
}

/// Runs `streams` streams of `total` bytes each, opened at once, until all are read whole; returns each one's
/// time from start to its last byte, and what the client sent.
fn run_streams(sim: &mut Simulation, listener: SocketId, streams: usize, total: usize) -> (Vec<Duration>, Sent) {
    let start = sim.now();
    let mut all: Vec<Stream> = connect_clients(sim, streams).into_iter().map(Stream::new).collect();
    let data: Vec<u8> = (0..total).map(|i| (i % 253) as u8).collect();
    let mut slot = Sga::new();
    let finished = sim.run_until(Duration::from_secs(120), |s| {
        accept_streams(s, listener, &mut all);
        let now = s.now();
        for stream in &mut all {
            stream.step(s, &data, true, &mut slot);
            if stream.received == total && stream.done_at.is_none() {
                stream.done_at = Some(now);
            }
        }
        all.iter().all(|st| st.done_at.is_some())
    });
    assert!(finished, "read {:?} of {total} each", all.iter().map(|st| st.received).collect::<Vec<_>>());
    let mut sent = Sent::default();
    for stream in &all {
        let counters = sim.hosts[0].tcp_counters(stream.client).expect("counters");
        sent.segments += counters.segments_out;
        sent.retransmits += counters.retransmits;
        sent.timeouts += counters.timeouts;
        sent.recoveries += counters.fast_retransmits;
        sent.undone_recoveries += counters.undone_recoveries;
        sent.hystart_exits += counters.hystart_exits;
        sent.pacing_waits += counters.pacing_waits;
        sent.ecn_reductions += counters.ecn_reductions;
        sent.send_buffer_grown += counters.send_buffer_grown;
        let server = stream.server.expect("accepted");
        sent.sockets.push((stream.client, server));
        sent.recv_buffer_grown += sim.hosts[1].tcp_counters(server).expect("counters").recv_buffer_grown;
    }
    (all.iter().map(|st| st.done_at.expect("done") - start).collect(), sent)
}

/// The time `bytes` of payload take on the link at full rate, in full segments with their headers.
fn line_time(bytes: usize) -> Duration {
    let frames = bytes.div_ceil(1448) as u64;
    Duration::from_nanos(frames * 1514 * 8 * 1_000_000_000 / RATE)
}

#[test]
fn one_connection_fills_the_bottleneck_and_recovers_what_its_queue_drops() {
    const TOTAL: usize = 4 << 20;
    for (congestion, seed) in [(CongestionAlgorithm::Cubic, 1), (CongestionAlgorithm::NewReno, 2)] {
        let (mut sim, listener) = bottleneck(congestion, seed);
        let (took, sent) = run_streams(&mut sim, listener, 1, TOTAL);
        let (took, ideal, drops) = (took[0], line_time(TOTAL), sim.queue_drops);
        eprintln!("{congestion:?}: {took:?} against {ideal:?} at line rate; {drops} queue drops; {sent:?}");
        assert!(took >= ideal, "{congestion:?}: faster than the link");
        assert!(took.as_secs_f64() < ideal.as_secs_f64() / 0.9, "{congestion:?}: {took:?}, under 90% of {ideal:?}");
        assert_congestion_response(drops, &sent);
    }
}

/// Slow start overran the queue (it must find the link's limit), but the sender then kept its losses to a
/// few per congestion epoch: under 5% of what it sent. Sending at the receive window (256 KiB, 180 frames
/// in flight, against 9 on the link and 20 in the queue) would lose most of every window. Every frame the
/// queue dropped was sent again once, and nothing else was (give or take a loss probe), by SACK recovery
/// without a timeout.
fn assert_congestion_response(drops: u64, sent: &Sent) {
    assert!(drops > 0, "slow start overran the queue at least once");
    assert!(drops * 20 < sent.segments, "{drops} queue drops: {sent:?}");
    assert!(sent.retransmits <= drops + 2, "{drops} queue drops: {sent:?}");
    assert_eq!(sent.timeouts, 0, "{sent:?}");
    assert_eq!(sent.undone_recoveries, 0, "the drops were real: {sent:?}");
}

#[test]
fn two_connections_share_the_bottleneck() {
    const TOTAL: usize = 2 << 20;
    let (mut sim, listener) = bottleneck(CongestionAlgorithm::Cubic, 3);
    let (took, sent) = run_streams(&mut sim, listener, 2, TOTAL);
    let ideal = line_time(2 * TOTAL);
    eprintln!("{took:?} against {ideal:?} for both at line rate; {} queue drops; {sent:?}", sim.queue_drops);
    let last = took.iter().max().expect("two");
    let first = took.iter().min().expect("two");
    assert!(last.as_secs_f64() < ideal.as_secs_f64() / 0.9, "{last:?}: under 90% of {ideal:?}");
    assert!(first.as_secs_f64() > 0.6 * last.as_secs_f64(), "one connection starved the other: {took:?}");
    assert_congestion_response(sim.queue_drops, &sent);
}

#[test]
fn a_link_that_only_reorders_gets_back_the_window_its_spurious_recoveries_cut() {
    // 100 Mbit/s, 5 ms each way, a queue that never fills, and 5% of frames up to 3 ms late: RACK takes some
    // late segments for lost (until D-SACKs widen its reordering window), and each such recovery cuts the
    // window. D-SACKs then show every resent segment had arrived: the cuts are undone. 8 MB took 1.25 s with
    // the cuts kept; 0.67 s is the line rate.
    const TOTAL: usize = 8_000_000;
    let faults = FaultConfig { reorder: 0.05, ..FaultConfig::default() };
    let speed = (100_000_000, Duration::from_millis(5), 1000);
    // Fixed 256 KiB buffers: the window (180 frames) never fills the queue. Auto-tuned, it would.
    let fixed = TcpConfig { recv_buffer_max: None, send_buffer_max: None, ..TcpConfig::default() };
    let (mut sim, listener) = link(fixed, 1, speed, (faults, Duration::from_millis(3)));
    let (took, sent) = run_streams(&mut sim, listener, 1, TOTAL);
    eprintln!("{took:?}; {} frames lost; {sent:?}", sim.frames_lost);
    assert_eq!(sim.frames_lost, 0, "nothing is lost, only late");
    assert!(sent.recoveries > 0, "some late segments were taken for lost: {sent:?}");
    assert!(sent.undone_recoveries > 0 && sent.undone_recoveries <= sent.recoveries, "{sent:?}");
    assert!(took[0] < Duration::from_millis(900), "{took:?}: {sent:?}");
}

/// 100 Mbit/s with 20 ms each way (a bandwidth-delay product of 330 frames) and a deep queue: `queue` frames.
fn deep_queue(hystart: bool, buffer: usize, queue: usize) -> (Simulation, SocketId) {
    let tcp = TcpConfig { hystart, recv_buffer: buffer, send_buffer: buffer, ..TcpConfig::default() };
    link(tcp, 1, (100_000_000, Duration::from_millis(20), queue), (FaultConfig::default(), Duration::ZERO))
}

#[test]
fn hystart_leaves_slow_start_before_a_deep_queue_overflows() {
    // Six round trips' worth of queue. Slow start doubles the window until the queue overflows, up to a window
    // of the bottleneck's: without HyStart++, 437 frames dropped. With it, the queueing delay (the round trip
    // from 40 ms towards 130 ms) ends slow start first, and nothing is dropped. The time is the same: what
    // slow start would have gained the recovery gives back.
    const TOTAL: usize = 8_000_000;
    let mut runs = Vec::new();
    for hystart in [true, false] {
        let (mut sim, listener) = deep_queue(hystart, 8 << 20, 2000);
        let (took, sent) = run_streams(&mut sim, listener, 1, TOTAL);
        eprintln!("HyStart++ {hystart}: {took:?}; {} queue drops; {sent:?}", sim.queue_drops);
        assert_eq!(sent.retransmits, sim.queue_drops, "{sent:?}");
        assert_eq!(sent.timeouts, 0, "{sent:?}");
        runs.push((took[0], sim.queue_drops));
    }
    let [(with, with_drops), (without, without_drops)] = runs[..] else { unreachable!() };
    assert_eq!(with_drops, 0, "with HyStart++");
    assert!(without_drops > 100, "without HyStart++, slow start overruns the queue: {without_drops}");
    assert!(with.as_secs_f64() <= without.as_secs_f64() * 1.01, "{with:?} against {without:?}");
}

#[test]
fn hystart_hands_over_to_congestion_avoidance_after_five_conservative_rounds() {
    // A queue deeper than the window ever gets: slow start would only stop at the receive window. HyStart++
    // enters CSS as the round trip grows, and after five rounds of it ssthresh becomes cwnd: CUBIC then grows
    // from its plateau (W_max = cwnd, K = 0), still without a drop.
    let (mut sim, listener) = deep_queue(true, 16 << 20, 6000);
    let (took, sent) = run_streams(&mut sim, listener, 1, 30_000_000);
    eprintln!("{took:?}; {} queue drops; {sent:?}", sim.queue_drops);
    assert_eq!(sent.hystart_exits, 1, "{sent:?}");
    assert_eq!((sim.queue_drops, sent.retransmits, sent.recoveries), (0, 0, 0), "{sent:?}");
}

#[test]
fn pacing_fills_a_path_whose_queue_is_shallower_than_a_window() {
    // 100 Mbit/s, 20 ms each way (330 frames in flight fill the path) and a 16-frame queue. Unpaced, slow
    // start's bursts overflow the queue with a window of a few dozen frames, and CUBIC takes seconds to grow
    // from there: 4 MB in 2.03 s (line rate: 0.33 s). Paced, the window grows until the path itself is full
    // (more frames are dropped then, each resent once): 0.79 s.
    const TOTAL: usize = 4_000_000;
    let mut took = Vec::new();
    for pacing in [false, true] {
        let tcp = TcpConfig { pacing, recv_buffer: 8 << 20, send_buffer: 8 << 20, ..TcpConfig::default() };
        let speed = (100_000_000, Duration::from_millis(20), 16);
        let (mut sim, listener) = link(tcp, 1, speed, (FaultConfig::default(), Duration::ZERO));
        let (time, sent) = run_streams(&mut sim, listener, 1, TOTAL);
        eprintln!("pacing {pacing}: {time:?}; {} queue drops; {sent:?}", sim.queue_drops);
        assert_eq!(sent.retransmits, sim.queue_drops, "{sent:?}");
        assert_eq!(sent.timeouts, 0, "{sent:?}");
        assert_eq!(sent.pacing_waits > 0, pacing, "{sent:?}");
        took.push(time[0]);
    }
    assert!(took[1].as_secs_f64() < 0.5 * took[0].as_secs_f64(), "paced {:?}, unpaced {:?}", took[1], took[0]);
}

#[test]
fn ecn_marks_keep_the_bottleneck_queue_from_overflowing() {
    // The 10 Mbit/s, 5 ms bottleneck with its 20-frame queue, marking ECN-capable frames once 10 wait (about
    // the path's bandwidth-delay product, 9 frames). Without ECN the queue fills and drops in every congestion
    // epoch (CUBIC 42 drops in 3.74 s, NewReno 33 in 3.53 s); with it, the marks cut the window before the queue
    // fills (CUBIC 20 cuts, 3.53 s; NewReno 19, 3.55 s): no drop, nothing resent, and no slower (line rate
    // 3.51 s).
    const TOTAL: usize = 4 << 20;
    let mut runs = Vec::new();
    for ecn in [false, true] {
        for congestion in [CongestionAlgorithm::Cubic, CongestionAlgorithm::NewReno] {
            let tcp = TcpConfig { congestion, ecn, ..TcpConfig::default() };
            let (sim, listener) = link(tcp, 4, (RATE, LATENCY, QUEUE), (FaultConfig::default(), Duration::ZERO));
            let mut sim = sim.with_ecn_marking(10);
            let (took, sent) = run_streams(&mut sim, listener, 1, TOTAL);
            let (drops, marks) = (sim.queue_drops, sim.ce_marks);
            eprintln!("ECN {ecn} {congestion:?}: {took:?}; {drops} queue drops, {marks} CE marks; {sent:?}");
            assert!(took[0].as_secs_f64() < line_time(TOTAL).as_secs_f64() / 0.9, "{took:?}: {sent:?}");
            assert_eq!(sent.timeouts, 0, "{sent:?}");
            if ecn {
                assert!(marks > 0 && sent.ecn_reductions > 0, "{sent:?}");
                assert_eq!((drops, sent.retransmits), (0, 0), "{sent:?}");
            } else {
                assert_eq!((marks, sent.ecn_reductions), (0, 0), "nothing is ECN-capable");
                assert_congestion_response(drops, &sent);
            }
            runs.push(took[0]);
        }
    }
    let no_slower = |with: Duration, without: Duration| with.as_secs_f64() <= without.as_secs_f64() * 1.01;
    assert!(no_slower(runs[2], runs[0]) && no_slower(runs[3], runs[1]), "ECN no slower: {runs:?}");
}

#[test]
fn dctcp_fills_the_link_with_a_queue_near_its_marking_threshold() {
    // 100 Mbit/s, 1 ms each way (a bandwidth-delay product of 16.5 frames), a 200-frame queue that marks from
    // 10 frames. CUBIC without ECN fills the queue until it drops (8 MB in 675 ms, a mean queue of 103 frames,
    // 55 drops); NewReno with ECN halves its window at each mark, below the path's capacity (715 ms, 2.7
    // frames); DCTCP cuts by the fraction marked and keeps the link busy with a queue near the threshold
    // (680 ms, 4.9 frames). The line rate is 669 ms.
    const TOTAL: usize = 8_000_000;
    let line = Duration::from_nanos((TOTAL.div_ceil(1448) * 1514 * 8 * 10) as u64);
    let mut results = Vec::new();
    for (congestion, ecn) in
        [(CongestionAlgorithm::Cubic, false), (CongestionAlgorithm::NewReno, true), (CongestionAlgorithm::Dctcp, false)]
    {
        let tcp = TcpConfig { congestion, ecn, recv_buffer: 1 << 20, send_buffer: 1 << 20, ..TcpConfig::default() };
        let speed = (100_000_000, Duration::from_millis(1), 200);
        let (sim, listener) = link(tcp, 5, speed, (FaultConfig::default(), Duration::ZERO));
        let mut sim = sim.with_ecn_marking(10);
        let (took, sent) = run_streams(&mut sim, listener, 1, TOTAL);
        let queue = sim.mean_queue();
        eprintln!(
            "{congestion:?} ECN {ecn}: {took:?} (line {line:?}); mean queue {queue:.1} frames; {} drops, {} marks; \
             {sent:?}",
            sim.queue_drops, sim.ce_marks
        );
        assert_eq!(sent.timeouts, 0, "{sent:?}");
        results.push((took[0], queue, sim.queue_drops));
    }
    let [(_, cubic_queue, cubic_drops), (reno, reno_queue, reno_drops), (dctcp, dctcp_queue, dctcp_drops)] =
        results[..]
    else {
        unreachable!()
    };
    assert!(cubic_drops > 0 && cubic_queue > 50.0, "CUBIC fills the queue: {results:?}");
    assert_eq!((reno_drops, dctcp_drops), (0, 0), "{results:?}");
    assert!(reno_queue < 10.0 && dctcp_queue < 10.0, "{results:?}");
    assert!(dctcp.as_secs_f64() < line.as_secs_f64() * 1.03, "DCTCP at line rate: {results:?}");
    assert!(dctcp.as_secs_f64() < reno.as_secs_f64() * 0.97, "DCTCP faster than halving: {results:?}");
}

/// 16 MB over a long fat path (100 Mbit/s, 25 ms each way, a 1000-frame queue: a bandwidth-delay product of
/// 625 KB, over twice the 256 KiB buffers a connection starts with), with `fixed` and then with `tuned` buffers: tuning (as
/// `grown` counts it) happens only with `tuned`, and takes under 60% of the time. Every queue drop is resent
/// once and nothing times out.
fn tuning_speeds_up_a_long_fat_path(fixed: TcpConfig, tuned: TcpConfig, grown: fn(&Sent) -> u64) {
    const TOTAL: usize = 16_000_000;
    let line = Duration::from_nanos((TOTAL.div_ceil(1448) * 1514 * 8 * 10) as u64);
    let mut results = Vec::new();
    for tcp in [fixed, tuned] {
        let speed = (100_000_000, Duration::from_millis(25), 1000);
        let (mut sim, listener) = link(tcp, 6, speed, (FaultConfig::default(), Duration::ZERO));
        let (took, sent) = run_streams(&mut sim, listener, 1, TOTAL);
        let drops = sim.queue_drops;
        eprintln!("{took:?} (line {line:?}), grown {} times, {drops} drops; {sent:?}", grown(&sent));
        assert_eq!((sent.timeouts, sent.retransmits), (0, drops), "{sent:?}");
        results.push((took[0], grown(&sent)));
    }
    let [(fixed, fixed_grown), (tuned, tuned_grown)] = results[..] else { unreachable!() };
    assert_eq!(fixed_grown, 0);
    assert!(tuned_grown > 0, "{results:?}");
    assert!(tuned.as_secs_f64() < fixed.as_secs_f64() * 0.6, "{results:?}");
}

#[test]
fn receive_buffer_auto_tuning_opens_the_window_a_long_fat_path_needs() {
    // A fixed 256 KiB receive buffer (the default's starting size) holds the sender to about 40 Mbit/s: 16 MB
    // in 3.35 s (line rate 1.34 s). Auto-tuned up to the default 6 MiB: 1.69 s, the buffer grown 6 times; the
    // window then fills the queue and the drops (353) are each resent once.
    let tuned = TcpConfig { send_buffer: 4 << 20, ..TcpConfig::default() };
    let fixed = TcpConfig { recv_buffer_max: None, ..tuned.clone() };
    tuning_speeds_up_a_long_fat_path(fixed, tuned, |sent| sent.recv_buffer_grown);
}

#[test]
fn receive_buffer_auto_tuning_without_timestamps_opens_the_window_too() {
    // The same with timestamps off at both ends (a peer that does not offer them): the receiver times windows
    // instead of reading TSecr.
    let tuned = TcpConfig { send_buffer: 4 << 20, timestamps: false, ..TcpConfig::default() };
    let fixed = TcpConfig { recv_buffer_max: None, ..tuned.clone() };
    tuning_speeds_up_a_long_fat_path(fixed, tuned, |sent| sent.recv_buffer_grown);
}

#[test]
fn send_buffer_auto_tuning_keeps_a_long_fat_path_busy() {
    // The receive buffer tuned and a fixed 256 KiB send buffer: at most 256 KiB in flight holds the sender to
    // about 40 Mbit/s (16 MB in 3.36 s). With the defaults, the send buffer tuned up to 4 MiB follows the
    // congestion window: 1.69 s, grown 1 628 times (by an ACK after each push that found
    // it full).
    let fixed = TcpConfig { send_buffer_max: None, ..TcpConfig::default() };
    tuning_speeds_up_a_long_fat_path(fixed, TcpConfig::default(), |sent| sent.send_buffer_grown);
}

#[test]
fn connections_take_their_tuning_from_the_stack_budget_and_give_it_back_when_closed() {
    // Two streams over the long fat path, each receiver tuning up to 2 MiB, the stacks' budgets 256 KiB: the
    // server's receivers share it, use it up, and give it all back once closed: both ends close at once, and a
    // connection with only its FIN left to be acknowledged, or then in TIME-WAIT, needs no buffer (not 2 MSL
    // later, when it is freed).
    const BUDGET: usize = 256 << 10;
    let tcp = TcpConfig { recv_buffer_max: Some(2 << 20), autotune_budget: BUDGET, ..TcpConfig::default() };
    let speed = (100_000_000, Duration::from_millis(25), 1000);
    let (mut sim, listener) = link(tcp, 7, speed, (FaultConfig::default(), Duration::ZERO));
    let (_, sent) = run_streams(&mut sim, listener, 2, 8_000_000);
    assert!(sent.recv_buffer_grown > 0, "{sent:?}");
    assert_eq!(sim.hosts[1].tcp_autotune_budget_left(), 0, "the two receivers used the whole budget");
    for &(client, server) in &sent.sockets {
        sim.hosts[0].close(client).expect("close");
        sim.hosts[1].close(server).expect("close");
    }
    let freed = sim.run_until(Duration::from_secs(1), |s| s.hosts[1].tcp_autotune_budget_left() == BUDGET);
    assert!(freed, "left {}", sim.hosts[1].tcp_autotune_budget_left());
    let waiting = sim.hosts[1].tcp_time_wait_count() + sim.hosts[1].tcp_orphan_count();
    assert_eq!(waiting, 2, "the server's connections are still closing or in TIME-WAIT");
}

#[test]
fn receive_buffer_auto_tuning_keeps_ahead_of_slow_start() {
    // 16 MB over 200 Mbit/s with 50 ms each way (a bandwidth-delay product of 2.5 MB) and a queue that never
    // fills: slow start doubles the sender's flight each round trip, and a buffer that only doubles what the last
    // round read stays a round behind it (1.80 s with timestamps, 1.66 s without). Growing by the round's rate
    // of increase as well keeps it ahead: as fast as a buffer at the default maximum of 6 MiB from the start
    // (1.57 s).
    const TOTAL: usize = 16_000_000;
    for timestamps in [true, false] {
        let tuned = TcpConfig { send_buffer: 32 << 20, timestamps, ..TcpConfig::default() };
        let most = tuned.recv_buffer_max.expect("tuned by default");
        let fixed = TcpConfig { recv_buffer: most, recv_buffer_max: None, ..tuned.clone() };
        let mut took = Vec::new();
        for tcp in [fixed, tuned] {
            let speed = (200_000_000, Duration::from_millis(50), 4000);
            let (mut sim, listener) = link(tcp, 8, speed, (FaultConfig::default(), Duration::ZERO));
            let (times, sent) = run_streams(&mut sim, listener, 1, TOTAL);
            eprintln!("timestamps {timestamps}: {:?}, grown {} times; {sent:?}", times[0], sent.recv_buffer_grown);
            assert_eq!((sim.queue_drops, sent.retransmits), (0, 0), "{sent:?}");
            took.push(times[0]);
        }
        let [fixed, tuned] = took[..] else { unreachable!() };
        assert!(
            tuned.as_secs_f64() < fixed.as_secs_f64() * 1.01,
            "timestamps {timestamps}: {tuned:?} against {fixed:?}"
        );
    }
}
