//! inetstack's cost per segment, side by side with smoltcp (docs/benchmarks.md has the figures and setup).
//!
//! - `tcp_bulk`: 1 MiB from client to server over one established connection (MSS 1460), inetstack and
//!   smoltcp, each as two stacks on an in-memory Ethernet link, one thread, one virtual clock (`pair.rs`).
//! - `tcp_rr`: one 64 B request and one 64 B response on an established connection, both stacks.
//! - `tcp_rr_many`: 64 B request/response over 16, 64 and 256 established connections between the same two
//!   stacks: every client sends its request, rounds run until the server application has read them all, every
//!   server socket sends its response, rounds run until every client has read its own (one exchange); the
//!   throughput is requests (connections per exchange). A second view of the request rate of one core, not a
//!   replacement for `tcp_rr`: smoltcp finds the socket of each received segment by walking its socket set, so
//!   its cost per request grows with the connections, while inetstack's (a hash of the 4-tuple) does not, and
//!   inetstack spreads the fixed cost of a round over all the connections that take part in it.
//! - `wire`: parse and emit of a TCP segment with the timestamps option (bare ACK and 1460 B of payload),
//!   and the internet checksum of 1500 B.
//! - `idle_connections`: the server stack's receive path for one 64 B data segment (frame in, demultiplex,
//!   state machine, ACK out if due, the application's read) with 1, 1 000 and 10 000 other established, idle
//!   connections on the same stacks. Only the server's half is timed, in batches of 16 segments.
//!
//! Outside criterion: `INETSTACK_RATIO=<blocks>` (thread-CPU comparison of both stacks in alternating blocks,
//! `tcp_rr_many` with 64 connections) and `INETSTACK_LOOP=<bulk|rr|rr_many>:<stack>:<count>` (one workload on
//! one stack, for a profiler); both are described at their functions below.
//!
//! Not for: multi-core scaling or real devices (catnip's memif test measures those).

mod inetstack_pair;
mod pair;
mod smoltcp_pair;

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group};
use inetstack::wire::{
    ChecksumCapabilities, SeqNumber, TcpFlags, TcpOptions, TcpPacket, TcpRepr, TcpTimestamps, ones_complement_sum,
};
use runtime::{DemiBuffer, Sga};

use inetstack_pair::{Features, InetstackPair, Link};
use pair::{TcpPair, bulk, request_response};
use smoltcp_pair::SmoltcpPair;

/// Send and receive buffer of every socket (inetstack's default; smoltcp's rings are made this size).
const BUFFER: usize = 256 * 1024;
const BULK: usize = 1024 * 1024;
const REQUEST: usize = 64;
/// Connections of `tcp_rr_many` in `INETSTACK_RATIO` and `INETSTACK_LOOP=rr_many`.
const MANY: usize = 64;

fn tcp_bulk(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_bulk");
    group.sampling_mode(SamplingMode::Flat).sample_size(10).throughput(Throughput::Bytes(BULK as u64));
    let mut ours = InetstackPair::connected(BUFFER, Features::Full, 1);
    group.bench_function("inetstack", |b| b.iter(|| bulk(&mut ours, BULK)));
    report_stalls("tcp_bulk/inetstack", &ours);
    let mut plain = InetstackPair::connected(BUFFER, Features::LikeSmoltcp, 1);
    group.bench_function("inetstack_no_sack_ts", |b| b.iter(|| bulk(&mut plain, BULK)));
    let mut theirs = SmoltcpPair::connected(BUFFER, 1);
    group.bench_function("smoltcp", |b| b.iter(|| bulk(&mut theirs, BULK)));
    report_stalls("tcp_bulk/smoltcp", &theirs);
    group.finish();
}

fn tcp_rr(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_rr");
    group.sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(1));
    let mut ours = InetstackPair::connected(BUFFER, Features::Full, 1);
    group.bench_function("inetstack", |b| b.iter(|| request_response(&mut ours, REQUEST)));
    report_stalls("tcp_rr/inetstack", &ours);
    let mut plain = InetstackPair::connected(BUFFER, Features::LikeSmoltcp, 1);
    group.bench_function("inetstack_no_sack_ts", |b| b.iter(|| request_response(&mut plain, REQUEST)));
    let mut theirs = SmoltcpPair::connected(BUFFER, 1);
    group.bench_function("smoltcp", |b| b.iter(|| request_response(&mut theirs, REQUEST)));
    report_stalls("tcp_rr/smoltcp", &theirs);
    group.finish();
}

fn tcp_rr_many(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_rr_many");
    group.sampling_mode(SamplingMode::Flat);
    for connections in [16, MANY, 256] {
        group.throughput(Throughput::Elements(connections as u64));
        let mut ours = InetstackPair::connected(BUFFER, Features::Full, connections);
        group.bench_function(BenchmarkId::new("inetstack", connections), |b| {
            b.iter(|| request_response(&mut ours, REQUEST))
        });
        report_stalls(&format!("tcp_rr_many/inetstack/{connections}"), &ours);
        let mut theirs = SmoltcpPair::connected(BUFFER, connections);
        group.bench_function(BenchmarkId::new("smoltcp", connections), |b| {
            b.iter(|| request_response(&mut theirs, REQUEST))
        });
        report_stalls(&format!("tcp_rr_many/smoltcp/{connections}"), &theirs);
    }
    group.finish();
}

fn report_stalls(name: &str, pair: &impl TcpPair) {
    eprintln!("{name}: the clock jumped to a timer {} times", pair.stalls());
}

fn wire(c: &mut Criterion) {
    let mut group = c.benchmark_group("wire");
    let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let caps = ChecksumCapabilities::software();
    let payload = vec![0xa5; 1460];
    for len in [0, 1460] {
        let repr = TcpRepr {
            src_port: 49152,
            dst_port: 80,
            seq_number: SeqNumber(0x1234_5678),
            ack_number: Some(SeqNumber(0x9abc_def0)),
            flags: if len > 0 { TcpFlags::PSH } else { TcpFlags::empty() },
            window_len: 8192,
            urgent_pointer: 0,
            options: TcpOptions {
                timestamps: Some(TcpTimestamps { value: 1_000_000, echo_reply: 999_000 }),
                ..TcpOptions::default()
            },
            payload: &payload[..len],
        };
        let mut segment = vec![0; repr.buffer_len()];
        repr.emit(&mut segment, src, dst, &caps).expect("emit");
        group.throughput(Throughput::Bytes(segment.len() as u64));
        group.bench_function(BenchmarkId::new("tcp_parse", len), |b| {
            b.iter(|| {
                let packet = TcpPacket::new_checked(black_box(&segment[..])).expect("view");
                black_box(TcpRepr::parse(&packet, src, dst, &caps).expect("parse"));
            })
        });
        // What the stack does on transmit: the header is written, the checksum covers the payload in place.
        let mut header = [0u8; 60];
        group.bench_function(BenchmarkId::new("tcp_emit_header", len), |b| {
            b.iter(|| black_box(&repr).emit_header(&mut header, src, dst, &caps).expect("emit"))
        });
    }
    let bytes = vec![0x5a; 1500];
    group.throughput(Throughput::Bytes(1500));
    group.bench_function(BenchmarkId::new("checksum", 1500), |b| b.iter(|| ones_complement_sum(black_box(&bytes))));
    group.finish();
}

fn idle_connections(c: &mut Criterion) {
    let mut group = c.benchmark_group("idle_connections");
    group.sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(1));
    let data = DemiBuffer::new(REQUEST).expect("data");
    for others in [1, 1_000, 10_000] {
        let (mut link, listener) = Link::new(BUFFER, Features::Full);
        for _ in 0..others {
            link.connect(listener);
        }
        let (client, server) = link.connect(listener);
        let mut slot = Sga::new();
        group.bench_function(BenchmarkId::new("inetstack", others), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let batch = left.min(16);
                    left -= batch;
                    for _ in 0..batch {
                        let now = link.now();
                        while inetstack_pair::send(&mut link.client, now, client, &data, REQUEST) == 0 {
                            link.round();
                            link.skip_to_deadline();
                        }
                        link.client_half();
                    }
                    let start = Instant::now();
                    link.server_half();
                    black_box(inetstack_pair::recv(&mut link.server, server, &mut slot));
                    timed += start.elapsed();
                    // The ACKs go back (untimed) and the clock moves on.
                    link.round();
                }
                timed
            })
        });
        eprintln!("idle_connections/{others}: the clock jumped to a timer {} times", link.stalls());
    }
    group.finish();
}

/// CPU time of this thread: unlike wall time, it does not count the time other processes on a shared machine
/// take the CPU away, which is what makes the interleaved comparison below steady.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `INETSTACK_RATIO=<blocks>`: instead of criterion, runs each workload on both stacks in alternating blocks
/// (so both see the same machine), timing each block by thread CPU time, and prints the median and best
/// block of each and the inetstack/smoltcp rate ratios. For a loaded machine where criterion's wall-clock
/// figures swing by 20%.
fn ratio_report(blocks: usize) {
    /// Runs each named workload `per_block` times per block, the workloads taking turns block by block, and
    /// prints the median time per run divided by `units` (the requests in one run of `tcp_rr_many`).
    fn measure(name: &str, blocks: usize, per_block: usize, units: u32, runs: &mut [(&str, &mut dyn FnMut())]) {
        let mut times = vec![Vec::new(); runs.len()];
        for _ in 0..blocks {
            for ((_, run), times) in runs.iter_mut().zip(&mut times) {
                let start = thread_cpu_time();
                for _ in 0..per_block {
                    run();
                }
                times.push((thread_cpu_time() - start) / per_block as u32);
            }
        }
        let medians: Vec<Duration> = times
            .iter_mut()
            .map(|t| {
                t.sort();
                t[t.len() / 2] / units
            })
            .collect();
        let reference = *medians.last().expect("smoltcp runs last");
        for ((label, _), median) in runs.iter().zip(&medians) {
            let ratio = reference.as_secs_f64() / median.as_secs_f64();
            println!("{name} {label:<22} median {median:>10.3?}  rate vs smoltcp {ratio:.2}x");
        }
    }
    let mut full = InetstackPair::connected(BUFFER, Features::Full, 1);
    let mut plain = InetstackPair::connected(BUFFER, Features::LikeSmoltcp, 1);
    let mut theirs = SmoltcpPair::connected(BUFFER, 1);
    measure(
        "tcp_bulk 1 MiB",
        blocks,
        5,
        1,
        &mut [
            ("inetstack", &mut || bulk(&mut full, BULK)),
            ("inetstack_no_sack_ts", &mut || bulk(&mut plain, BULK)),
            ("smoltcp", &mut || bulk(&mut theirs, BULK)),
        ],
    );
    measure(
        "tcp_rr 64 B",
        blocks,
        2000,
        1,
        &mut [
            ("inetstack", &mut || request_response(&mut full, REQUEST)),
            ("inetstack_no_sack_ts", &mut || request_response(&mut plain, REQUEST)),
            ("smoltcp", &mut || request_response(&mut theirs, REQUEST)),
        ],
    );
    let mut full = InetstackPair::connected(BUFFER, Features::Full, MANY);
    let mut plain = InetstackPair::connected(BUFFER, Features::LikeSmoltcp, MANY);
    let mut theirs = SmoltcpPair::connected(BUFFER, MANY);
    measure(
        &format!("tcp_rr_many {MANY} x 64 B, per request"),
        blocks,
        100,
        MANY as u32,
        &mut [
            ("inetstack", &mut || request_response(&mut full, REQUEST)),
            ("inetstack_no_sack_ts", &mut || request_response(&mut plain, REQUEST)),
            ("smoltcp", &mut || request_response(&mut theirs, REQUEST)),
        ],
    );
}

criterion_group!(benches, tcp_bulk, tcp_rr, tcp_rr_many, wire, idle_connections);

/// `INETSTACK_LOOP=<bulk|rr|rr_many>:<inetstack|plain|smoltcp>:<count>`: runs one workload on one stack `count`
/// times and prints the frames moved per run, for a profiler (`perf record`, `valgrind --tool=callgrind`) to look
/// at one stack alone. A run of `rr_many` is one exchange over `MANY` connections (`MANY` requests).
fn profile_loop(spec: &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    let [workload, which, count] = parts[..] else {
        panic!("INETSTACK_LOOP=<bulk|rr|rr_many>:<inetstack|plain|smoltcp>:<count>")
    };
    let count: usize = count.parse().expect("count");
    let connections = if workload == "rr_many" { MANY } else { 1 };
    fn drive<P: TcpPair>(mut pair: P, workload: &str, count: usize) {
        let run = |pair: &mut P| match workload {
            "bulk" => bulk(pair, BULK),
            "rr" | "rr_many" => request_response(pair, REQUEST),
            other => panic!("unknown workload {other}"),
        };
        run(&mut pair);
        let before = pair.frames();
        for _ in 0..count {
            run(&mut pair);
        }
        let frames = pair.frames() - before;
        println!("{workload}: {:.2} frames per run, {} stalls", frames as f64 / count as f64, pair.stalls());
    }
    match which {
        "inetstack" => drive(InetstackPair::connected(BUFFER, Features::Full, connections), workload, count),
        "plain" => drive(InetstackPair::connected(BUFFER, Features::LikeSmoltcp, connections), workload, count),
        "smoltcp" => drive(SmoltcpPair::connected(BUFFER, connections), workload, count),
        other => panic!("unknown stack {other}"),
    }
}

fn main() {
    if let Ok(spec) = std::env::var("INETSTACK_LOOP") {
        profile_loop(&spec);
        return;
    }
    if let Some(blocks) = std::env::var("INETSTACK_RATIO").ok().and_then(|v| v.parse().ok()) {
        ratio_report(blocks);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
