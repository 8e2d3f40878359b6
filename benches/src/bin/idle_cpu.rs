//! Idle cost of catnap: a listener with N open, silent TCP connections (both ends in this process, each
//! with a pending pop, and a pending accept on the listener), then one `wait` with a timeout while nothing
//! arrives. Reports the CPU time the process used during that wait (CLOCK_PROCESS_CPUTIME_ID, which counts
//! user and system time of every thread, as getrusage does) as a share of the wall-clock time. A libOS that
//! sleeps in `epoll_wait` when idle scores ~0%; one that busy-polls scores ~100%.
//!
//! ```text
//! cargo run --release -p demikernel-benches --bin idle_cpu -- [--connections N] [--seconds S] [--max-percent P]
//! ```
//! Defaults: 100 connections, 10 s. With `--max-percent`, exits non-zero when the share is above P.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use demikernel::{Fail, LibOs, QToken, QValue, SocketDomain, SocketType};
use rustix::time::{ClockId, clock_gettime};

struct Options {
    connections: usize,
    seconds: f64,
    max_percent: Option<f64>,
}

fn parse() -> Result<Options, String> {
    let mut options = Options { connections: 100, seconds: 10.0, max_percent: None };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or_else(|| format!("{arg} needs a value (try --help)"));
        match arg.as_str() {
            "--connections" => options.connections = value?.parse().map_err(|e| format!("--connections: {e}"))?,
            "--seconds" => options.seconds = value?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--max-percent" => options.max_percent = Some(value?.parse().map_err(|e| format!("--max-percent: {e}"))?),
            "-h" | "--help" => return Err("usage: idle_cpu [--connections N] [--seconds S] [--max-percent P]".into()),
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    if !(options.seconds > 0.0 && options.seconds <= 3600.0) {
        return Err("--seconds must be in (0, 3600]".into());
    }
    Ok(options)
}

fn cpu_time() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Opens `n` connections to a listener of `libos` and leaves a pop pending on both ends of each and an
/// accept pending on the listener. Returns the pending tokens.
fn open_idle_connections(libos: &mut dyn LibOs, n: usize) -> Result<Vec<QToken>, Fail> {
    let listener = libos.socket(SocketDomain::Inet, SocketType::Stream, 0)?;
    libos.bind(listener, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
    libos.listen(listener, n.max(1))?;
    let addr = libos.getsockname(listener)?;
    let mut pending = Vec::with_capacity(2 * n + 1);
    for _ in 0..n {
        let client = libos.socket(SocketDomain::Inet, SocketType::Stream, 0)?;
        let connect = libos.connect(client, addr)?;
        let accept = libos.accept(listener)?;
        let results = libos.wait_all(&[connect, accept], Some(Duration::from_secs(5)))?;
        let QValue::Accepted { qd: server, .. } = results[1].value.clone()? else {
            return Err(Fail::new(libc::EPROTO, "accept completed with another value"));
        };
        results[0].value.clone()?;
        pending.push(libos.pop(client, None)?);
        pending.push(libos.pop(server, None)?);
    }
    pending.push(libos.accept(listener)?);
    Ok(pending)
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let mut libos = match demikernel::new_libos("catnap") {
        Ok(libos) => libos,
        Err(e) => {
            eprintln!("catnap: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pending = match open_idle_connections(&mut *libos, options.connections) {
        Ok(pending) => pending,
        Err(e) => {
            eprintln!("opening {} connections: {e}", options.connections);
            return ExitCode::FAILURE;
        }
    };
    let timeout = Duration::from_secs_f64(options.seconds);
    let (cpu_before, started) = (cpu_time(), Instant::now());
    let outcome = libos.wait(pending[0], Some(timeout));
    let (cpu, wall) = (cpu_time() - cpu_before, started.elapsed());
    match outcome {
        Err(e) if e.errno() == libc::ETIMEDOUT => {}
        Err(e) => {
            eprintln!("wait: expected ETIMEDOUT, got {e}");
            return ExitCode::FAILURE;
        }
        Ok(result) => {
            eprintln!("wait: expected ETIMEDOUT, but an operation completed: {result:?}");
            return ExitCode::FAILURE;
        }
    }
    let percent = 100.0 * cpu.as_secs_f64() / wall.as_secs_f64();
    println!(
        "catnap idle: {} connections ({} pending operations), wait({:?}) timed out after {:.3} s; \
         CPU time {:.3} ms = {:.3}% of one core",
        options.connections,
        pending.len(),
        timeout,
        wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e3,
        percent
    );
    match options.max_percent {
        Some(max) if percent > max => {
            eprintln!("idle CPU {percent:.3}% is above the allowed {max}%");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}
