//! Closed-loop TCP echo load generator over PDPIX: N connections, each with one request of SIZE bytes in
//! flight, driven from one thread with `wait_any`, for a fixed duration. Prints requests/s and round-trip
//! percentiles. Written to load a server (of any kind: it speaks plain TCP) without being the bottleneck.
//!
//! ```text
//! cargo run --release --example echo_load -- ADDR [--conns N] [--size BYTES] [--secs S] [--warmup S] [--json]
//! taskset -c 1 target/release/examples/echo_load 127.0.0.1:9000 --conns 10 --size 1024 --secs 5
//! ```
//! The libOS comes from `DEMI_LIBOS` / `DEMI_CONFIG` (default catnap). `--json` prints one JSON line instead.

use std::net::SocketAddrV4;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use demikernel::{Fail, QDesc, QToken, QValue, Sga, SocketDomain, SocketType};

struct Options {
    addr: SocketAddrV4,
    conns: usize,
    size: usize,
    secs: f64,
    warmup: f64,
    json: bool,
}

fn usage(problem: &str) -> Fail {
    Fail::with_context(
        libc::EINVAL,
        format!("{problem}\nusage: echo_load ADDR [--conns N] [--size BYTES] [--secs S] [--warmup S] [--json]"),
    )
}

fn parse(args: &[String]) -> Result<Options, Fail> {
    let addr = args.first().ok_or_else(|| usage("missing ADDR (IPv4:PORT)"))?;
    let addr = addr.parse().map_err(|_| usage(&format!("bad address {addr:?}")))?;
    let mut o = Options { addr, conns: 10, size: 1024, secs: 5.0, warmup: 1.0, json: false };
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        if flag == "--json" {
            o.json = true;
            continue;
        }
        let value = rest.next().ok_or_else(|| usage(&format!("{flag} needs a value")))?;
        let number = |v: &String| v.parse::<f64>().ok().filter(|n| *n >= 0.0);
        let bad = || usage(&format!("bad value {value:?} for {flag}"));
        match flag.as_str() {
            "--conns" => o.conns = value.parse().ok().filter(|&n| n > 0).ok_or_else(bad)?,
            "--size" => o.size = value.parse().ok().filter(|&n| n > 0).ok_or_else(bad)?,
            "--secs" => o.secs = number(value).filter(|&n| n > 0.0).ok_or_else(bad)?,
            "--warmup" => o.warmup = number(value).ok_or_else(bad)?,
            _ => return Err(usage(&format!("unknown flag {flag:?}"))),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(|o| run(&o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_load: {e}");
            ExitCode::from(if e.errno() == libc::EINVAL { 2 } else { 1 })
        }
    }
}

/// One connection's request in flight.
struct Conn {
    qd: QDesc,
    /// Bytes of the current reply received so far.
    got: usize,
    started: Instant,
}

fn run(o: &Options) -> Result<(), Fail> {
    let mut libos = demikernel::from_env()?;
    let message = Sga::from_slice(&vec![b'x'; o.size])?;
    let mut conns = Vec::with_capacity(o.conns);
    // A server that is still starting refuses: retry for up to 10 s (a catnip server over memif starts
    // listening only once this client's end of the link is up).
    let retry_until = Instant::now() + Duration::from_secs(10);
    for _ in 0..o.conns {
        let qd = loop {
            let qd = libos.socket(SocketDomain::Inet, SocketType::Stream, 0)?;
            let qt = libos.connect(qd, o.addr)?;
            match libos.wait(qt, Some(Duration::from_secs(10)))?.value {
                Ok(_) => break qd,
                Err(e) if e.errno() == libc::ECONNREFUSED && Instant::now() < retry_until => {
                    libos.close(qd)?;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        };
        libos.setsockopt(qd, demikernel::SocketOption::NoDelay(true))?;
        conns.push(Conn { qd, got: 0, started: Instant::now() });
    }
    // Tokens in flight and, in parallel, the connection each belongs to. Pushes are waited for too (their
    // results must be taken), but a request is timed from its push to the last byte of its reply.
    let mut qts: Vec<QToken> = Vec::with_capacity(2 * o.conns);
    let mut owner: Vec<usize> = Vec::with_capacity(2 * o.conns);
    let now = Instant::now();
    for (i, c) in conns.iter_mut().enumerate() {
        c.started = now;
        qts.push(libos.push(c.qd, &message)?);
        owner.push(i);
        qts.push(libos.pop(c.qd, Some(o.size))?);
        owner.push(i);
    }
    let begin = Instant::now();
    let measure_from = begin + Duration::from_secs_f64(o.warmup);
    let end = measure_from + Duration::from_secs_f64(o.secs);
    let mut samples: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut measured_from: Option<Instant> = None;
    let mut done = 0u64;
    loop {
        let (i, result) = libos.wait_any(&qts, Some(Duration::from_secs(10)))?;
        qts.swap_remove(i);
        let c = owner.swap_remove(i);
        match result.value? {
            QValue::Pushed => {}
            QValue::Popped { sga, .. } if sga.is_empty() => return Err(Fail::new(libc::ECONNRESET, "server closed")),
            QValue::Popped { sga, .. } => {
                let conn = &mut conns[c];
                conn.got += sga.len();
                if conn.got < o.size {
                    qts.push(libos.pop(conn.qd, Some(o.size - conn.got))?);
                    owner.push(c);
                    continue;
                }
                let t = Instant::now();
                if t >= end {
                    break;
                }
                if t >= measure_from {
                    if measured_from.is_none() {
                        measured_from = Some(t);
                    } else {
                        samples.push(u32::try_from((t - conn.started).as_nanos()).unwrap_or(u32::MAX));
                        done += 1;
                    }
                }
                conn.got = 0;
                conn.started = t;
                qts.push(libos.push(conn.qd, &message)?);
                owner.push(c);
                qts.push(libos.pop(conn.qd, Some(o.size))?);
                owner.push(c);
            }
            other => return Err(Fail::with_context(libc::EIO, format!("unexpected {other:?}"))),
        }
    }
    let elapsed = measured_from.map_or(Duration::ZERO, |t| t.elapsed());
    for c in &conns {
        let _ = libos.close(c.qd);
    }
    samples.sort_unstable();
    let at = |q: f64| {
        if samples.is_empty() {
            0.0
        } else {
            f64::from(samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]) / 1e3
        }
    };
    let rps = done as f64 / elapsed.as_secs_f64().max(1e-9);
    if o.json {
        println!(
            "{{\"requests\": {done}, \"seconds\": {:.3}, \"rps\": {rps:.0}, \"p50_us\": {:.1}, \"p90_us\": {:.1}, \
             \"p99_us\": {:.1}, \"p999_us\": {:.1}, \"conns\": {}, \"size\": {}}}",
            elapsed.as_secs_f64(),
            at(0.5),
            at(0.9),
            at(0.99),
            at(0.999),
            o.conns,
            o.size
        );
    } else {
        println!(
            "{} echo load: {} conns, {} B, {done} requests in {:.2} s: {rps:.0} req/s",
            libos.name(),
            o.conns,
            o.size,
            elapsed.as_secs_f64()
        );
        println!(
            "round trip  p50 {:.1} us  p90 {:.1} us  p99 {:.1} us  p99.9 {:.1} us",
            at(0.5),
            at(0.9),
            at(0.99),
            at(0.999)
        );
    }
    Ok(())
}
