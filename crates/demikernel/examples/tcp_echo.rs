//! TCP echo over PDPIX: the same code runs on every libOS.
//!
//! ```text
//! cargo run --release --example tcp_echo                       # server thread + client, prints percentiles
//! cargo run --release --example tcp_echo -- server 127.0.0.1:9000
//! cargo run --release --example tcp_echo -- client 127.0.0.1:9000 [SIZE] [COUNT]
//! ```
//! The libOS comes from `DEMI_LIBOS` / `DEMI_CONFIG` (default catnap).

use std::net::SocketAddrV4;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use demikernel::{Fail, LibOs, QDesc, QToken, QValue, Sga, SocketDomain, SocketType};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None | Some("both") => both(args.get(1..).unwrap_or_default()),
        Some("server") => parse_addr(args.get(1)).and_then(|addr| server(addr, None)),
        Some("client") => parse_addr(args.get(1)).and_then(|addr| client(addr, &args[2..])),
        Some(other) => Err(usage(&format!("unknown mode {other:?}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcp_echo: {e}");
            ExitCode::from(if e.errno() == libc::EINVAL { 2 } else { 1 })
        }
    }
}

fn usage(problem: &str) -> Fail {
    Fail::with_context(
        libc::EINVAL,
        format!("{problem}\nusage: tcp_echo [both [SIZE] [COUNT] | server ADDR | client ADDR [SIZE] [COUNT]]"),
    )
}

fn parse_addr(arg: Option<&String>) -> Result<SocketAddrV4, Fail> {
    let arg = arg.ok_or_else(|| usage("missing ADDR (IPv4:PORT)"))?;
    arg.parse().map_err(|_| usage(&format!("bad address {arg:?}")))
}

fn parse_number(arg: Option<&String>, default: usize, name: &str) -> Result<usize, Fail> {
    match arg {
        None => Ok(default),
        Some(text) => text.parse().ok().filter(|&n| n > 0).ok_or_else(|| usage(&format!("bad {name} {text:?}"))),
    }
}

/// Runs a server on a thread and the client against it.
fn both(args: &[String]) -> Result<(), Fail> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || server(SocketAddrV4::new([127, 0, 0, 1].into(), 0), Some(tx)));
    let addr = rx.recv_timeout(Duration::from_secs(10)).map_err(|_| Fail::new(libc::EIO, "server did not start"))?;
    client(addr, args)
}

/// Echoes every connection until the process ends. Reports its address on `ready` (for `both`).
fn server(addr: SocketAddrV4, ready: Option<std::sync::mpsc::Sender<SocketAddrV4>>) -> Result<(), Fail> {
    let mut libos = demikernel::from_env()?;
    let listener = libos.socket(SocketDomain::Inet, SocketType::Stream, 0)?;
    libos.bind(listener, addr)?;
    libos.listen(listener, 1024)?;
    let local = libos.getsockname(listener)?;
    match ready {
        Some(tx) => tx.send(local).map_err(|_| Fail::new(libc::EIO, "client went away"))?,
        None => eprintln!("tcp_echo: {} server on {local}", libos.name()),
    }
    let mut qts: Vec<QToken> = vec![libos.accept(listener)?];
    loop {
        let (i, result) = libos.wait_any(&qts, None)?;
        qts.swap_remove(i);
        match result.value {
            Ok(QValue::Accepted { qd, .. }) => {
                qts.push(libos.accept(listener)?);
                qts.push(libos.pop(qd, None)?);
            }
            Ok(QValue::Popped { sga, .. }) if sga.is_empty() => libos.close(result.qd)?,
            Ok(QValue::Popped { sga, .. }) => {
                qts.push(libos.push(result.qd, &sga)?);
                qts.push(libos.pop(result.qd, None)?);
            }
            Ok(_) => {}
            Err(e) if e.errno() == libc::ECANCELED => {}
            Err(e) => {
                eprintln!("tcp_echo: connection {:?}: {e}", result.qd);
                let _ = libos.close(result.qd);
            }
        }
    }
}

/// Sends COUNT messages of SIZE bytes one at a time and prints round-trip percentiles.
fn client(addr: SocketAddrV4, args: &[String]) -> Result<(), Fail> {
    let size = parse_number(args.first(), 64, "SIZE")?;
    let count = parse_number(args.get(1), 10_000, "COUNT")?;
    let mut libos = demikernel::from_env()?;
    let qd = libos.socket(SocketDomain::Inet, SocketType::Stream, 0)?;
    let qt = libos.connect(qd, addr)?;
    libos.wait(qt, Some(Duration::from_secs(10)))?.value?;
    let message = Sga::from_slice(&vec![b'x'; size])?;
    let warmup = count / 10;
    let mut samples = Vec::with_capacity(count);
    let started = Instant::now();
    for i in 0..warmup + count {
        let t0 = Instant::now();
        let qt = libos.push(qd, &message)?;
        libos.wait(qt, None)?.value?;
        receive(libos.as_mut(), qd, size)?;
        if i >= warmup {
            samples.push(t0.elapsed());
        }
    }
    let elapsed = started.elapsed();
    libos.close(qd)?;
    report(libos.name(), size, &mut samples, elapsed, warmup + count);
    Ok(())
}

fn receive(libos: &mut dyn LibOs, qd: QDesc, size: usize) -> Result<(), Fail> {
    let mut got = 0;
    while got < size {
        let qt = libos.pop(qd, Some(size - got))?;
        match libos.wait(qt, None)?.value? {
            QValue::Popped { sga, .. } if sga.is_empty() => return Err(Fail::new(libc::ECONNRESET, "server closed")),
            QValue::Popped { sga, .. } => got += sga.len(),
            other => return Err(Fail::with_context(libc::EIO, format!("unexpected {other:?}"))),
        }
    }
    Ok(())
}

fn report(libos: &str, size: usize, samples: &mut [Duration], elapsed: Duration, total: usize) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!("{libos} TCP echo, {size} B, {} round trips on one connection", samples.len());
    println!(
        "round trip  p50 {:.1} us  p90 {:.1} us  p99 {:.1} us  p99.9 {:.1} us",
        at(0.50).as_secs_f64() * 1e6,
        at(0.90).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        at(0.999).as_secs_f64() * 1e6,
    );
    println!("throughput  {:.0} round trips/s", total as f64 / elapsed.as_secs_f64());
}
