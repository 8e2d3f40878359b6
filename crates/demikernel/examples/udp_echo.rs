//! UDP echo over PDPIX: a server that returns each datagram to its sender, and a client that measures.
//!
//! ```text
//! cargo run --release --example udp_echo                       # server thread + client
//! cargo run --release --example udp_echo -- server 127.0.0.1:9000
//! cargo run --release --example udp_echo -- client 127.0.0.1:9000 [SIZE] [COUNT]
//! ```

use std::net::SocketAddrV4;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use demikernel::{Fail, QValue, Sga, SocketDomain, SocketType};

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
            eprintln!("udp_echo: {e}");
            ExitCode::from(if e.errno() == libc::EINVAL { 2 } else { 1 })
        }
    }
}

fn usage(problem: &str) -> Fail {
    Fail::with_context(
        libc::EINVAL,
        format!("{problem}\nusage: udp_echo [both [SIZE] [COUNT] | server ADDR | client ADDR [SIZE] [COUNT]]"),
    )
}

fn parse_addr(arg: Option<&String>) -> Result<SocketAddrV4, Fail> {
    let arg = arg.ok_or_else(|| usage("missing ADDR (IPv4:PORT)"))?;
    arg.parse().map_err(|_| usage(&format!("bad address {arg:?}")))
}

fn parse_number(arg: Option<&String>, default: usize, name: &str) -> Result<usize, Fail> {
    match arg {
        None => Ok(default),
        Some(text) => {
            text.parse().ok().filter(|&n| n > 0 && n <= 65_507).ok_or_else(|| usage(&format!("bad {name} {text:?}")))
        }
    }
}

fn both(args: &[String]) -> Result<(), Fail> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || server(SocketAddrV4::new([127, 0, 0, 1].into(), 0), Some(tx)));
    let addr = rx.recv_timeout(Duration::from_secs(10)).map_err(|_| Fail::new(libc::EIO, "server did not start"))?;
    client(addr, args)
}

fn server(addr: SocketAddrV4, ready: Option<std::sync::mpsc::Sender<SocketAddrV4>>) -> Result<(), Fail> {
    let mut libos = demikernel::from_env()?;
    let qd = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0)?;
    libos.bind(qd, addr)?;
    let local = libos.getsockname(qd)?;
    match ready {
        Some(tx) => tx.send(local).map_err(|_| Fail::new(libc::EIO, "client went away"))?,
        None => eprintln!("udp_echo: {} server on {local}", libos.name()),
    }
    loop {
        let qt = libos.pop(qd, None)?;
        if let QValue::Popped { sga, from: Some(from) } = libos.wait(qt, None)?.value? {
            let qt = libos.pushto(qd, &sga, from)?;
            libos.wait(qt, None)?.value?;
        }
    }
}

fn client(addr: SocketAddrV4, args: &[String]) -> Result<(), Fail> {
    let size = parse_number(args.first(), 64, "SIZE")?;
    let count = parse_number(args.get(1), 10_000, "COUNT")?;
    let mut libos = demikernel::from_env()?;
    let qd = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0)?;
    libos.bind(qd, SocketAddrV4::new([0, 0, 0, 0].into(), 0))?;
    let message = Sga::from_slice(&vec![b'u'; size])?;
    let mut samples = Vec::with_capacity(count);
    let mut lost = 0;
    let mut pending_pop = None;
    for _ in 0..count {
        let t0 = Instant::now();
        let qt = libos.pushto(qd, &message, addr)?;
        libos.wait(qt, None)?.value?;
        let qt = match pending_pop.take() {
            Some(qt) => qt,
            None => libos.pop(qd, None)?,
        };
        match libos.wait(qt, Some(Duration::from_secs(1))) {
            Ok(result) => {
                result.value?;
                samples.push(t0.elapsed());
            }
            // A datagram may be lost: count it; the pop stays valid and serves the next round.
            Err(e) if e.errno() == libc::ETIMEDOUT => {
                lost += 1;
                pending_pop = Some(qt);
            }
            Err(e) => return Err(e),
        }
    }
    samples.sort_unstable();
    let at = |q: f64| samples.get(((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1))).copied();
    let us = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e6);
    println!("{} UDP echo, {size} B, {} round trips, {lost} lost", libos.name(), samples.len());
    println!("round trip  p50 {:.1} us  p99 {:.1} us", us(at(0.5)), us(at(0.99)));
    libos.close(qd)
}
