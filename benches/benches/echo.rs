//! TCP echo round trip over loopback, one connection, 64 B and 4 KiB: catnap (client and server written
//! against PDPIX) side by side with the anchor, the same pair on raw non-blocking sockets and epoll.
//!
//! Both pairs run in each of two idle modes, so that like is compared with like:
//! - `spin`: an idle side polls for 50 us (catnap's default `IdlePolicy`) before blocking in `epoll_wait`;
//! - `block`: an idle side blocks in `epoll_wait` at once (catnap with `spin_us = 0`, the classic epoll loop).
//!
//! The client runs on the bench thread, the server on a thread of its own; neither is pinned. Each
//! iteration is one round trip. For p99, run `cargo run --release -p demikernel-benches --bin echo_latency`.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use demikernel_benches::catnap_echo::{CatnapEchoClient, CatnapEchoServer};
use demikernel_benches::raw_echo::{RawEchoClient, RawEchoServer};

const SIZES: [usize; 2] = [64, 4096];
const MODES: [(&str, Duration); 2] = [("spin", Duration::from_micros(50)), ("block", Duration::ZERO)];

fn echo(c: &mut Criterion) {
    for size in SIZES {
        let mut group = c.benchmark_group(format!("echo/{size}"));
        // Round trips take microseconds: flat sampling keeps short (CI) runs within their time.
        group.sampling_mode(SamplingMode::Flat);
        for (mode, spin) in MODES {
            let server = CatnapEchoServer::start(spin, None).expect("catnap server");
            let mut client = CatnapEchoClient::connect(server.addr(), size, spin).expect("catnap client");
            group.bench_function(BenchmarkId::new("catnap", mode), |b| {
                b.iter(|| client.round_trip().expect("catnap round trip"))
            });
            drop(client);
            server.join().expect("catnap server");

            let server = RawEchoServer::start(spin, None).expect("raw server");
            let mut client = RawEchoClient::connect(server.addr(), size, spin).expect("raw client");
            group.bench_function(BenchmarkId::new("raw_epoll", mode), |b| {
                b.iter(|| client.round_trip().expect("raw round trip"))
            });
            drop(client);
            server.join().expect("raw server");
        }
        group.finish();
    }
}

criterion_group!(benches, echo);
criterion_main!(benches);
