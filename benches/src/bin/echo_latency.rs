//! Echo round-trip percentiles (p50 to p99.9) of catnap and of the raw epoll anchor, in one run, and the
//! ratio of their p50s. Criterion reports means and medians; this program gives the tails.
//!
//! The two pairs take turns in blocks of round trips (catnap, raw, catnap, ...) so that both see the same
//! background load. The client runs on the main thread, each server on a thread of its own (pinned with `--pin`).
//!
//! ```text
//! cargo run --release -p demikernel-benches --bin echo_latency -- [--size BYTES]... [--spin-us US]...
//!     [--round-trips N] [--block N] [--pin CLIENT_CPU,SERVER_CPU]
//! ```
//! Defaults: sizes 64 and 4096, spin 50 us (catnap's default) and 0 (block at once), 20 000 round trips each,
//! in blocks of 1 000, unpinned. Unpinned, whether a server thread lands on the client's CPU or the other
//! one changes a blocking round trip several-fold on a VM; `--pin 0,0` or `--pin 0,1` fixes the placement.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use demikernel_benches::Percentiles;
use demikernel_benches::catnap_echo::{CatnapEchoClient, CatnapEchoServer};
use demikernel_benches::raw_echo::{RawEchoClient, RawEchoServer};

const USAGE: &str = "usage: echo_latency [--size BYTES]... [--spin-us US]... [--round-trips N] [--block N] [--pin CLIENT_CPU,SERVER_CPU]";

#[derive(Debug)]
struct Options {
    sizes: Vec<usize>,
    spins: Vec<Duration>,
    round_trips: usize,
    block: usize,
    /// CPUs of the client (this thread) and of the server threads.
    pin: Option<(usize, usize)>,
}

fn parse() -> Result<Options, String> {
    let mut options = Options { sizes: Vec::new(), spins: Vec::new(), round_trips: 20_000, block: 1_000, pin: None };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || -> Result<usize, String> {
            let v = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
            v.parse().map_err(|_| format!("{arg}: not a number: {v}"))
        };
        match arg.as_str() {
            "--size" => options.sizes.push(value()?),
            "--spin-us" => options.spins.push(Duration::from_micros(value()? as u64)),
            "--round-trips" => options.round_trips = value()?,
            "--block" => options.block = value()?.max(1),
            "--pin" => {
                let v = args.next().ok_or("--pin needs CLIENT_CPU,SERVER_CPU")?;
                let (c, s) = v.split_once(',').ok_or("--pin needs CLIENT_CPU,SERVER_CPU")?;
                let cpu = |x: &str| x.parse::<usize>().map_err(|_| format!("--pin: not a CPU number: {x}"));
                options.pin = Some((cpu(c)?, cpu(s)?));
            }
            "-h" | "--help" => {
                return Err(USAGE.into());
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    if options.sizes.is_empty() {
        options.sizes = vec![64, 4096];
    }
    if options.spins.is_empty() {
        options.spins = vec![Duration::from_micros(50), Duration::ZERO];
    }
    if options.sizes.contains(&0) {
        return Err("--size must be positive".into());
    }
    Ok(options)
}

/// Times `block` round trips of `round_trip`, appending one sample per round trip.
fn run_block(samples: &mut Vec<Duration>, block: usize, mut round_trip: impl FnMut()) {
    for _ in 0..block {
        let started = Instant::now();
        round_trip();
        samples.push(started.elapsed());
    }
}

fn measure(size: usize, spin: Duration, options: &Options) -> Result<(Percentiles, Percentiles), String> {
    let server_cpu = options.pin.map(|(_, server)| server);
    let catnap_server = CatnapEchoServer::start(spin, server_cpu).map_err(|e| format!("catnap server: {e}"))?;
    let mut catnap = CatnapEchoClient::connect(catnap_server.addr(), size, spin).map_err(|e| format!("catnap: {e}"))?;
    let raw_server = RawEchoServer::start(spin, server_cpu).map_err(|e| format!("raw server: {e}"))?;
    let mut raw = RawEchoClient::connect(raw_server.addr(), size, spin).map_err(|e| format!("raw client: {e}"))?;

    // Warm-up: connections, buffers, caches.
    for _ in 0..options.block.min(1000) {
        catnap.round_trip().map_err(|e| format!("catnap: {e}"))?;
        raw.round_trip().map_err(|e| format!("raw: {e}"))?;
    }
    let mut catnap_samples = Vec::with_capacity(options.round_trips);
    let mut raw_samples = Vec::with_capacity(options.round_trips);
    while catnap_samples.len() < options.round_trips {
        let n = options.block.min(options.round_trips - catnap_samples.len());
        run_block(&mut catnap_samples, n, || catnap.round_trip().expect("catnap round trip"));
        run_block(&mut raw_samples, n, || raw.round_trip().expect("raw round trip"));
    }
    drop(catnap);
    drop(raw);
    catnap_server.join().map_err(|e| format!("catnap server: {e}"))?;
    raw_server.join().map_err(|e| format!("raw server: {e}"))?;
    let catnap = Percentiles::of(&mut catnap_samples).ok_or("no samples")?;
    let raw = Percentiles::of(&mut raw_samples).ok_or("no samples")?;
    Ok((catnap, raw))
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = demikernel_benches::pin_current_thread(options.pin.map(|(client, _)| client)) {
        eprintln!("pinning the client: {e}");
        return ExitCode::FAILURE;
    }
    match options.pin {
        Some((client, server)) => {
            println!("TCP echo over loopback, one connection; client on CPU {client}, server threads on CPU {server}.")
        }
        None => println!("TCP echo over loopback, one connection; client and server threads unpinned."),
    }
    for &spin in &options.spins {
        for &size in &options.sizes {
            match measure(size, spin, &options) {
                Ok((catnap, raw)) => {
                    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
                    println!("size {size} B, idle spin {} us:", spin.as_micros());
                    println!("  catnap     {catnap}");
                    println!("  raw epoll  {raw}");
                    println!(
                        "  catnap/raw p50 {:.3}  p99 {:.3}",
                        ratio(catnap.p50, raw.p50),
                        ratio(catnap.p99, raw.p99)
                    );
                }
                Err(message) => {
                    eprintln!("size {size}, spin {spin:?}: {message}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}
