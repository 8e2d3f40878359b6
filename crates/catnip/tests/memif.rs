//! Kernel bypass end to end: two catnip processes on DPDK's net_memif, no kernel in between, and the same
//! client and server over Linux loopback TCP in the same run, for side-by-side figures.
//!
//! ```text
//! process "catnip-server" 10.98.1.1, net_memif0 role=server, lcore 0 on CPU 0
//!     ==== memif (shared memory rings, /tmp/catnip-memif-<pid>.sock for the handshake) ====
//! process "catnip-client" 10.98.1.2, net_memif0 role=client, lcore 0 on CPU 1
//! ```
//!
//! DPDK's EAL initialises once per process, so the test function spawns this test binary twice more, each
//! running only the `role` test with `CATNIP_MEMIF_ROLE` naming its part. The client runs, against the server:
//! TCP echo of several sizes (1 B to 1 MiB) checked byte for byte, 5000 timed 64-byte TCP round trips (p50/p99),
//! a 64 MiB TCP transfer whose SHA-256 the server sends back (throughput timed by the server from first to last
//! byte), UDP echo of 1, 512 and 1472 bytes and 2000 timed 64-byte UDP round trips. Then the same client and
//! server run over Linux loopback TCP/UDP with `std::net` (pinned to the same CPUs), once with blocking sockets
//! and once with non-blocking sockets that spin (as catnip does), and the figures are printed as ratios.
//!
//! Children, the memif socket and EAL's runtime directories are removed when the test ends, also on a panic.
//! Needs root; when not root it prints SKIPPED and passes, unless `DPDK_SYS_REQUIRE_TESTS=1`.
#![cfg(feature = "dpdk")]

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use catnip::dpdk::DpdkConfig;
use pdpix::{LibOs, QDesc, QValue, Sga, SocketDomain, SocketType};
use sha2::{Digest, Sha256};

use common::listen;
use common::pair::{
    Cleanup, TIMEOUT, cpus, load, pattern, pin, pop, push, read_exactly, read_some, serve_bulk, serve_echo, wait_child,
    write_all,
};

const ROLE: &str = "CATNIP_MEMIF_ROLE";
/// Set in a child: transmit by copying every frame into one mbuf (the path before zero-copy transmit).
const TX_COPY: &str = "CATNIP_MEMIF_TX_COPY";
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 98, 1, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 98, 1, 2);
const ECHO_PORT: u16 = 7;
const UDP_PORT: u16 = 9;
const BULK_PORT: u16 = 5001;
const ECHO_SIZES: [usize; 6] = [1, 100, 1460, 5000, 70000, 1 << 20];
const UDP_SIZES: [usize; 3] = [1, 512, 1472];
const WARMUP: usize = 200;
const TCP_ROUND_TRIPS: usize = 5000;
const UDP_ROUND_TRIPS: usize = 2000;
/// Push size in the bulk transfer.
const CHUNK: usize = 256 << 10;
/// How long a child may run.
const CHILD_LIMIT: Duration = Duration::from_secs(240);

fn bulk_size() -> usize {
    std::env::var("CATNIP_MEMIF_BULK_MIB").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(64) << 20
}

// ---- the parent: spawns the pairs, compares ----

#[test]
fn catnip_to_catnip_over_memif() {
    if std::env::var_os(ROLE).is_some() {
        return;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        let reason = format!("needs root (euid is {euid}) for EAL and hugepages");
        if std::env::var("DPDK_SYS_REQUIRE_TESTS").as_deref() == Ok("1") {
            panic!("DPDK tests required (DPDK_SYS_REQUIRE_TESTS=1) but cannot run: {reason}");
        }
        println!("SKIPPED catnip memif test: {reason}");
        return;
    }
    let pid = std::process::id();
    let socket = format!("/tmp/catnip-memif-{pid}.sock");
    let mut guard = Cleanup { children: Vec::new(), files: vec![socket.clone()], dirs: Vec::new() };
    let (cpu_server, cpu_client) = cpus();
    println!("memif socket {socket}; server on CPU {cpu_server}, client on CPU {cpu_client}; uptime: {}", load());

    // catnip <-> catnip over memif: transmit copying every frame (as before zero-copy), then zero-copy.
    let copying = catnip_pair(&mut guard, &socket, true);
    let catnip = catnip_pair(&mut guard, &socket, false);

    // The same over Linux loopback: blocking sockets, then spinning ones.
    let blocking = linux_pair(&mut guard, &cpu_server, &cpu_client, false);
    let spinning = linux_pair(&mut guard, &cpu_server, &cpu_client, true);

    println!("MEASURED same run (server CPU {cpu_server}, client CPU {cpu_client}; uptime: {}):", load());
    println!(
        "  {:<26} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "", "TCP p50 us", "TCP p99 us", "UDP p50 us", "UDP p99 us", "bulk MB/s"
    );
    for (name, r) in [
        ("catnip memif, copying TX", &copying),
        ("catnip memif", &catnip),
        ("Linux loopback, blocking", &blocking),
        ("Linux loopback, spinning", &spinning),
    ] {
        println!(
            "  {name:<26} {:>12.1} {:>12.1} {:>12.1} {:>12.1} {:>12.0}",
            r.tcp_p50, r.tcp_p99, r.udp_p50, r.udp_p99, r.bulk_mbps
        );
    }
    for (name, r) in [("blocking", &blocking), ("spinning", &spinning)] {
        println!(
            "  catnip / Linux {name}: TCP p50 {:.3}, TCP p99 {:.3}, UDP p50 {:.3}, bulk throughput {:.2}",
            catnip.tcp_p50 / r.tcp_p50,
            catnip.tcp_p99 / r.tcp_p99,
            catnip.udp_p50 / r.udp_p50,
            catnip.bulk_mbps / r.bulk_mbps
        );
    }
    println!("  catnip zero-copy / copying TX: bulk throughput {:.2}", catnip.bulk_mbps / copying.bulk_mbps);
}

/// One catnip server and client over memif (each its own process and EAL); `copy_tx` turns zero-copy transmit
/// off in both.
fn catnip_pair(guard: &mut Cleanup, socket: &str, copy_tx: bool) -> Figures {
    let pid = std::process::id();
    let mode = if copy_tx { "copy" } else { "zc" };
    let server_prefix = format!("catnip-memif-s-{mode}-{pid}");
    let client_prefix = format!("catnip-memif-c-{mode}-{pid}");
    guard.dirs.extend([format!("/var/run/dpdk/{server_prefix}"), format!("/var/run/dpdk/{client_prefix}")]);
    let copy = if copy_tx { "1" } else { "" };
    let mut vars = vec![("SOCK", socket), ("PREFIX", server_prefix.as_str()), ("CPU", "0")];
    let (cpu_server, cpu_client) = cpus();
    vars[2].1 = &cpu_server;
    if copy_tx {
        vars.push(("TX_COPY", copy));
    }
    let _ = std::fs::remove_file(socket);
    let server = spawn_role("catnip-server", &vars);
    guard.children.push(server);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::path::Path::new(socket).exists() {
        assert!(Instant::now() < deadline, "the memif server did not create {socket} within 30 s");
        let server = guard.children.last_mut().expect("server");
        if let Some(status) = server.try_wait().expect("try_wait") {
            panic!("the catnip memif server exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    vars[1].1 = &client_prefix;
    vars[2].1 = &cpu_client;
    let client = spawn_role("catnip-client", &vars);
    guard.children.push(client);
    finish_pair(guard, if copy_tx { "catnip over memif, copying TX" } else { "catnip over memif" })
}

/// Figures one client reports.
#[derive(Debug, Default)]
struct Figures {
    tcp_p50: f64,
    tcp_p99: f64,
    udp_p50: f64,
    udp_p99: f64,
    bulk_mbps: f64,
}

fn spawn_role(role: &str, vars: &[(&str, &str)]) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    let mut command = Command::new(exe);
    command.args(["role", "--exact", "--nocapture", "--test-threads=1"]).env(ROLE, role).stdout(Stdio::piped());
    for (k, v) in vars {
        command.env(format!("CATNIP_MEMIF_{k}"), v);
    }
    command.spawn().unwrap_or_else(|e| panic!("spawn {role}: {e}"))
}

/// Waits for the last two children (server, client), echoing the client's output; returns its figures.
fn finish_pair(guard: &mut Cleanup, what: &str) -> Figures {
    let mut client = guard.children.pop().expect("client");
    let mut server = guard.children.pop().expect("server");
    let client_out = client.stdout.take().expect("piped");
    let server_out = server.stdout.take().expect("piped");
    // Echo the server's output from a thread, so neither pipe fills.
    let server_lines = std::thread::spawn(move || {
        for line in BufReader::new(server_out).lines().map_while(Result::ok) {
            println!("  [server] {line}");
        }
    });
    let mut figures = Figures::default();
    for line in BufReader::new(client_out).lines().map_while(Result::ok) {
        println!("  [client] {line}");
        let mut words = line.split_whitespace();
        if words.next() == Some("RESULT") {
            let key = words.next().unwrap_or_default();
            let value: f64 = words.next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
            match key {
                "tcp_p50_us" => figures.tcp_p50 = value,
                "tcp_p99_us" => figures.tcp_p99 = value,
                "udp_p50_us" => figures.udp_p50 = value,
                "udp_p99_us" => figures.udp_p99 = value,
                "bulk_MBps" => figures.bulk_mbps = value,
                _ => {}
            }
        }
    }
    guard.children.push(server);
    guard.children.push(client);
    let at = guard.children.len() - 2;
    let client_status = wait_child(&mut guard.children[at + 1], CHILD_LIMIT);
    let server_status = wait_child(&mut guard.children[at], CHILD_LIMIT);
    let _ = server_lines.join();
    guard.children.clear();
    assert!(client_status, "{what}: the client failed");
    assert!(server_status, "{what}: the server failed");
    figures
}

fn linux_pair(guard: &mut Cleanup, cpu_server: &str, cpu_client: &str, spin: bool) -> Figures {
    let spin_var = if spin { "1" } else { "0" };
    guard.children.push(spawn_role("linux-server", &[("CPU", cpu_server), ("SPIN", spin_var)]));
    // Read the "ready <ports>" line a byte at a time, so that nothing after it is buffered here and lost.
    let stdout = guard.children.last_mut().and_then(|c| c.stdout.as_mut()).expect("piped");
    let mut line = Vec::new();
    let ports = loop {
        let mut byte = [0u8];
        assert_eq!(stdout.read(&mut byte).expect("read the Linux server's stdout"), 1, "the Linux server exited");
        if byte[0] != b'\n' {
            line.push(byte[0]);
            continue;
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        line.clear();
        // The test harness prints "test role ... " on the same line first.
        if let Some(at) = text.find("ready ") {
            break text[at + "ready ".len()..].trim().to_owned();
        }
    };
    let client = spawn_role("linux-client", &[("CPU", cpu_client), ("SPIN", spin_var), ("PORTS", &ports)]);
    guard.children.push(client);
    finish_pair(guard, if spin { "Linux loopback, spinning" } else { "Linux loopback, blocking" })
}

// ---- the children ----

/// One role of the test, selected by `CATNIP_MEMIF_ROLE`; does nothing without it.
#[test]
fn role() {
    let Ok(role) = std::env::var(ROLE) else { return };
    // Die with the test process, even if it is killed outright (its guards cannot run then).
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and no pointers.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let var = |k: &str| std::env::var(format!("CATNIP_MEMIF_{k}")).unwrap_or_default();
    match role.as_str() {
        "catnip-server" => catnip_server(&var("SOCK"), &var("PREFIX"), &var("CPU")),
        "catnip-client" => catnip_client(&var("SOCK"), &var("PREFIX"), &var("CPU")),
        "linux-server" => linux_server(&var("CPU"), var("SPIN") == "1"),
        "linux-client" => linux_client(&var("CPU"), var("SPIN") == "1", &var("PORTS")),
        other => panic!("unknown role {other}"),
    }
}

fn memif_libos(socket: &str, prefix: &str, cpu: &str, server: bool) -> catnip::Catnip<catnip::dpdk::DpdkDevice> {
    let (role, ip, mac) =
        if server { ("server", SERVER_IP, "02:00:00:98:01:01") } else { ("client", CLIENT_IP, "02:00:00:98:01:02") };
    let mut args: Vec<String> =
        ["--no-pci", "--no-telemetry", "--log-level=lib.eal:notice", "--in-memory"].map(str::to_owned).to_vec();
    args.push(format!("--lcores=0@{cpu}"));
    args.push(format!("--file-prefix={prefix}"));
    args.push(format!("--vdev=net_memif0,role={role},socket={socket},socket-abstract=no,mac={mac}"));
    println!("EAL args: {}", args.join(" "));
    let mut config = DpdkConfig::new(args, ip, 24);
    config.device.port = Some("net_memif0".to_owned());
    config.device.link_timeout = Duration::from_secs(30);
    config.device.tx_zero_copy = std::env::var_os(TX_COPY).is_none();
    if let Some(kib) = std::env::var("CATNIP_MEMIF_TCP_BUFFER_KIB").ok().and_then(|v| v.parse::<usize>().ok()) {
        config.tcp.recv_buffer = kib << 10;
        config.tcp.send_buffer = kib << 10;
    }
    catnip::dpdk::new_libos_with(&config, |port| {
        println!("port {} offloads: {:?}", port.port_name(), port.offloads());
        port
    })
    .unwrap_or_else(|e| panic!("catnip {role} on memif: {e}"))
}

type Libos = catnip::Catnip<catnip::dpdk::DpdkDevice>;

fn catnip_server(socket: &str, prefix: &str, cpu: &str) {
    let mut libos = memif_libos(socket, prefix, cpu, true);
    println!("catnip server up at {SERVER_IP} (memif link up)");
    let echo = listen(&mut libos, ECHO_PORT, 8);
    let bulk = listen(&mut libos, BULK_PORT, 8);
    let udp = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
    libos.bind(udp, SocketAddrV4::new(SERVER_IP, UDP_PORT)).unwrap();

    // TCP echo until the client closes.
    let echoed = serve_echo(&mut libos, echo);
    println!("tcp echo: {echoed} bytes echoed");
    // Bulk: receive N bytes, answer their SHA-256 and the nanoseconds from first to last byte.
    let n = bulk_size();
    serve_bulk(&mut libos, bulk, n);
    println!("bulk: {} MiB received, hashed", n >> 20);

    // UDP echo until "quit".
    let mut datagrams = 0;
    loop {
        let qt = libos.pop(udp, None).unwrap();
        let Ok(QValue::Popped { sga, from: Some(from) }) = libos.wait(qt, Some(Duration::from_secs(60))).unwrap().value
        else {
            panic!("udp pop failed")
        };
        if sga.to_vec() == b"quit" {
            break;
        }
        datagrams += 1;
        let qt = libos.pushto(udp, &sga, from).unwrap();
        libos.wait(qt, TIMEOUT).unwrap().value.expect("udp pushto");
    }
    println!("udp echo: {datagrams} datagrams echoed; quitting");
    for qd in [echo, bulk, udp] {
        libos.close(qd).unwrap();
    }
    drop(libos);
    println!("catnip server shut down (port closed, EAL cleaned up)");
    check_released("server");
}

/// After the libOS is dropped: every transmitted payload was released by the driver and every received mbuf
/// given back (the device's counters), and the device's statistics.
fn check_released(role: &str) {
    let stats = catnip::dpdk::final_stats().expect("the device was dropped");
    println!("{role} device stats: {stats:?}");
    assert_eq!(catnip::dpdk::tx_pinned(), 0, "{role}: transmitted payloads still pinned after close");
    assert_eq!(catnip::dpdk::lent_mbufs(), 0, "{role}: received mbufs still lent after close");
    if std::env::var_os(TX_COPY).is_some() {
        assert_eq!(stats.tx_zero_copy, 0, "{role}: copy mode attached payloads");
    } else {
        assert!(stats.tx_zero_copy > 0, "{role}: no payload was transmitted without a copy");
    }
}

fn percentiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (us(times[times.len() / 2]), us(times[times.len() * 99 / 100]))
}

fn report(what: &str, times: Vec<Duration>) {
    let n = times.len();
    let (p50, p99) = percentiles(times);
    println!("{what}: {n} round trips of 64 B, p50 {p50:.1} us, p99 {p99:.1} us");
    println!("RESULT {}_p50_us {p50:.2}", what.to_lowercase());
    println!("RESULT {}_p99_us {p99:.2}", what.to_lowercase());
}

fn report_bulk(n: usize, digest_ok: bool, nanos: u64) {
    assert!(digest_ok, "the server's SHA-256 of the bulk data differs from the client's");
    let mbps = n as f64 / (nanos as f64 / 1e9) / 1e6;
    println!("bulk: {} MiB, SHA-256 equal, {:.3} s first to last byte, {mbps:.0} MB/s", n >> 20, nanos as f64 / 1e9);
    println!("RESULT bulk_MBps {mbps:.1}");
}

fn catnip_client(socket: &str, prefix: &str, cpu: &str) {
    let mut libos = memif_libos(socket, prefix, cpu, false);
    println!("catnip client up at {CLIENT_IP} (memif link up)");
    let connect = |libos: &mut Libos, port: u16| -> QDesc {
        // The server may not be listening yet a moment after its link came up: retry a refused connection.
        for _ in 0..500 {
            let qd = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
            let qt = libos.connect(qd, SocketAddrV4::new(SERVER_IP, port)).unwrap();
            match libos.wait(qt, TIMEOUT).unwrap().value {
                Ok(QValue::Connected) => return qd,
                Err(e) if e.errno() == libc::ECONNREFUSED => {
                    libos.close(qd).unwrap();
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => panic!("connect: {other:?}"),
            }
        }
        panic!("the server never listened on {port}")
    };
    let recv_exactly = |libos: &mut Libos, qd: QDesc, n: usize| -> Vec<u8> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let sga = pop(libos, qd);
            assert!(!sga.is_empty(), "stream ended after {} of {n} bytes", got.len());
            got.extend_from_slice(&sga.to_vec());
        }
        got
    };

    // TCP echo.
    let qd = connect(&mut libos, ECHO_PORT);
    for size in ECHO_SIZES {
        let data = pattern(size, size as u64);
        // Receive while the push is in flight: a large echo would otherwise fill both directions' windows.
        let qt = libos.push(qd, &Sga::from_slice(&data).unwrap()).unwrap();
        assert_eq!(recv_exactly(&mut libos, qd, size), data, "{size}-byte echo");
        libos.wait(qt, TIMEOUT).unwrap().value.expect("push");
        println!("tcp echo {size} bytes ok");
    }
    let message = Sga::from_slice(&[b'x'; 64]).unwrap();
    let mut times = Vec::with_capacity(TCP_ROUND_TRIPS);
    for i in 0..WARMUP + TCP_ROUND_TRIPS {
        let start = Instant::now();
        push(&mut libos, qd, &message);
        recv_exactly(&mut libos, qd, 64);
        if i >= WARMUP {
            times.push(start.elapsed());
        }
    }
    libos.close(qd).unwrap();
    report("TCP", times);

    // Bulk: the data is written once into a buffer from sgaalloc, and pushed as views of it, CHUNK bytes each
    // (no copy on push: with zero-copy transmit the device sends these very bytes), as the Linux client writes
    // slices of one vector. The buffer is freed (sgafree) before the transfer ends: the stack's references keep
    // the bytes alive until they are acknowledged.
    let n = bulk_size();
    let data = pattern(n, 0x9e37_79b9_7f4a_7c15);
    let digest = Sha256::digest(&data);
    let mut buffer = libos.sgaalloc(n).unwrap();
    assert_eq!(buffer.num_segments(), 1, "catnip's sgaalloc gives one segment");
    buffer.segments_mut()[0].as_mut_slice().expect("a new buffer is ours").copy_from_slice(&data);
    drop(data);
    let qd = connect(&mut libos, BULK_PORT);
    while !buffer.is_empty() {
        let chunk = buffer.split_front(CHUNK.min(buffer.len())).unwrap();
        push(&mut libos, qd, &chunk);
    }
    libos.sgafree(buffer).unwrap();
    let reply = recv_exactly(&mut libos, qd, 40);
    libos.close(qd).unwrap();
    report_bulk(n, reply[..32] == digest[..], u64::from_le_bytes(reply[32..].try_into().unwrap()));

    // UDP echo.
    let udp = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
    libos.bind(udp, SocketAddrV4::new(CLIENT_IP, 4000)).unwrap();
    let server = SocketAddrV4::new(SERVER_IP, UDP_PORT);
    let udp_echo = |libos: &mut Libos, data: &[u8]| {
        let qt = libos.pushto(udp, &Sga::from_slice(data).unwrap(), server).unwrap();
        libos.wait(qt, TIMEOUT).unwrap().value.expect("pushto");
        let qt = libos.pop(udp, None).unwrap();
        match libos.wait(qt, TIMEOUT).unwrap().value {
            Ok(QValue::Popped { sga, from }) => {
                assert_eq!(from, Some(server));
                assert_eq!(sga.to_vec(), data, "{}-byte UDP echo", data.len());
            }
            other => panic!("udp pop: {other:?}"),
        }
    };
    for size in UDP_SIZES {
        udp_echo(&mut libos, &pattern(size, 3));
        println!("udp echo {size} bytes ok");
    }
    let mut times = Vec::with_capacity(UDP_ROUND_TRIPS);
    for i in 0..WARMUP + UDP_ROUND_TRIPS {
        let start = Instant::now();
        udp_echo(&mut libos, &[b'u'; 64]);
        if i >= WARMUP {
            times.push(start.elapsed());
        }
    }
    report("UDP", times);
    let qt = libos.pushto(udp, &Sga::from_slice(b"quit").unwrap(), server).unwrap();
    libos.wait(qt, TIMEOUT).unwrap().value.expect("pushto quit");
    // Let the quit datagram leave before the port closes.
    let deadline = Instant::now() + Duration::from_millis(50);
    while Instant::now() < deadline {
        let qt = libos.pop(udp, None).unwrap();
        let _ = libos.wait(qt, Some(Duration::from_millis(5)));
    }
    libos.close(udp).unwrap();
    drop(libos);
    println!("catnip client shut down");
    check_released("client");
}

// ---- the Linux pair over loopback ----

fn recv_from(socket: &UdpSocket, buf: &mut [u8]) -> (usize, std::net::SocketAddr) {
    loop {
        match socket.recv_from(buf) {
            Ok(got) => return got,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => std::hint::spin_loop(),
            Err(e) => panic!("recv_from: {e}"),
        }
    }
}

fn prepare(stream: &TcpStream, spin: bool) {
    stream.set_nodelay(true).unwrap();
    stream.set_nonblocking(spin).unwrap();
}

fn linux_server(cpu: &str, spin: bool) {
    pin(cpu);
    let echo = TcpListener::bind("127.0.0.1:0").unwrap();
    let bulk = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(spin).unwrap();
    let port = |a: std::net::SocketAddr| a.port();
    println!(
        "ready {},{},{}",
        port(echo.local_addr().unwrap()),
        port(bulk.local_addr().unwrap()),
        port(udp.local_addr().unwrap())
    );
    let (mut s, _) = echo.accept().unwrap();
    prepare(&s, spin);
    let mut buf = vec![0u8; 1 << 20];
    let mut echoed = 0;
    loop {
        let n = read_some(&mut s, &mut buf);
        if n == 0 {
            break;
        }
        echoed += n;
        write_all(&mut s, &buf[..n]);
    }
    println!("tcp echo: {echoed} bytes echoed");
    let n = bulk_size();
    let (mut s, _) = bulk.accept().unwrap();
    prepare(&s, spin);
    // Pages touched before the clock starts, as in the catnip server.
    let mut data = vec![1u8; n];
    let mut filled = read_some(&mut s, &mut data);
    let first = Instant::now();
    while filled < n {
        let k = read_some(&mut s, &mut data[filled..]);
        assert!(k > 0, "bulk stream ended after {filled} of {n} bytes");
        filled += k;
    }
    let nanos = first.elapsed().as_nanos() as u64;
    let mut reply = Sha256::digest(&data).to_vec();
    reply.extend_from_slice(&nanos.to_le_bytes());
    write_all(&mut s, &reply);
    assert_eq!(read_some(&mut s, &mut buf), 0, "the client closes after the bulk reply");
    println!("bulk: {} MiB received, hashed", n >> 20);
    let mut datagrams = 0;
    loop {
        let (k, from) = recv_from(&udp, &mut buf);
        if &buf[..k] == b"quit" {
            break;
        }
        datagrams += 1;
        udp.send_to(&buf[..k], from).unwrap();
    }
    println!("udp echo: {datagrams} datagrams echoed; quitting");
}

fn linux_client(cpu: &str, spin: bool, ports: &str) {
    pin(cpu);
    let ports: Vec<u16> = ports.split(',').map(|p| p.parse().unwrap()).collect();
    let at = |port: u16| SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let mut s = TcpStream::connect(at(ports[0])).unwrap();
    prepare(&s, spin);
    for size in ECHO_SIZES {
        let data = pattern(size, size as u64);
        // Write and read concurrently in effect: the echo of a large message would fill both buffers otherwise.
        let mut written = 0;
        let mut got = Vec::with_capacity(size);
        s.set_nonblocking(true).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        while got.len() < size {
            if written < size {
                match s.write(&data[written..]) {
                    Ok(k) => written += k,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("write: {e}"),
                }
            }
            match s.read(&mut buf) {
                Ok(0) => panic!("echo ended early"),
                Ok(k) => got.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        s.set_nonblocking(spin).unwrap();
        assert_eq!(got, data, "{size}-byte echo");
        println!("tcp echo {size} bytes ok");
    }
    let message = [b'x'; 64];
    let mut times = Vec::with_capacity(TCP_ROUND_TRIPS);
    for i in 0..WARMUP + TCP_ROUND_TRIPS {
        let start = Instant::now();
        write_all(&mut s, &message);
        read_exactly(&mut s, 64);
        if i >= WARMUP {
            times.push(start.elapsed());
        }
    }
    drop(s);
    report("TCP", times);

    let n = bulk_size();
    let data = pattern(n, 0x9e37_79b9_7f4a_7c15);
    let digest = Sha256::digest(&data);
    let mut s = TcpStream::connect(at(ports[1])).unwrap();
    prepare(&s, spin);
    for chunk in data.chunks(CHUNK) {
        write_all(&mut s, chunk);
    }
    let reply = read_exactly(&mut s, 40);
    drop(s);
    report_bulk(n, reply[..32] == digest[..], u64::from_le_bytes(reply[32..].try_into().unwrap()));

    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(spin).unwrap();
    let server = at(ports[2]);
    let mut buf = vec![0u8; 2048];
    let mut udp_echo = |data: &[u8]| {
        udp.send_to(data, server).unwrap();
        let (k, from) = recv_from(&udp, &mut buf);
        assert_eq!(from, std::net::SocketAddr::V4(server));
        assert_eq!(&buf[..k], data, "{}-byte UDP echo", data.len());
    };
    for size in UDP_SIZES {
        udp_echo(&pattern(size, 3));
        println!("udp echo {size} bytes ok");
    }
    let mut times = Vec::with_capacity(UDP_ROUND_TRIPS);
    for i in 0..WARMUP + UDP_ROUND_TRIPS {
        let start = Instant::now();
        udp_echo(&[b'u'; 64]);
        if i >= WARMUP {
            times.push(start.elapsed());
        }
    }
    report("UDP", times);
    udp.send_to(b"quit", server).unwrap();
}
