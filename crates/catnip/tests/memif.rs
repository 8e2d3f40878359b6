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

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use pdpix::{LibOs, QValue, Sga, SocketDomain, SocketType};

use common::check_released;
use common::pair::catnip::{Libos, TIMEOUT, eal_args, linger};
use common::pair::figures::{Figures, report_round_trips};
use common::pair::linux;
use common::pair::parent::{Cleanup, finish_pair, linux_pair, load};
use common::pair::workload::{Workload, pattern, time_round_trips};
use common::pair::{Roles, cpus, pin};
use common::skip::{not_root, skipped};

const ROLES: Roles = Roles { prefix: "CATNIP_MEMIF", child_limit: Duration::from_secs(240) };
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 98, 1, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 98, 1, 2);
const UDP_PORT: u16 = 9;
const ECHO_SIZES: [usize; 6] = [1, 100, 1460, 5000, 70000, 1 << 20];
const UDP_SIZES: [usize; 3] = [1, 512, 1472];
const TCP_ROUND_TRIPS: usize = 5000;
const UDP_ROUND_TRIPS: usize = 2000;

fn workload() -> Workload {
    Workload::new(&ROLES, &ECHO_SIZES, TCP_ROUND_TRIPS)
}

// ---- the parent: spawns the pairs, compares ----

#[test]
fn catnip_to_catnip_over_memif() {
    if ROLES.in_child() || skipped("catnip memif test", not_root("EAL and hugepages")) {
        return;
    }
    let pid = std::process::id();
    let socket = format!("/tmp/catnip-memif-{pid}.sock");
    let mut guard = Cleanup::default();
    guard.files.push(socket.clone());
    let (cpu_server, cpu_client) = cpus();
    println!("memif socket {socket}; server on CPU {cpu_server}, client on CPU {cpu_client}; uptime: {}", load());

    // catnip <-> catnip over memif: transmit copying every frame (as before zero-copy), then zero-copy.
    let copying = catnip_pair(&mut guard, &socket, true);
    let catnip = catnip_pair(&mut guard, &socket, false);

    // The same over Linux loopback: blocking sockets, then spinning ones.
    let blocking = linux_pair(&mut guard, &ROLES, false);
    let spinning = linux_pair(&mut guard, &ROLES, true);

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
    let (cpu_server, cpu_client) = cpus();
    let copy = if copy_tx { "1" } else { "" };
    let _ = std::fs::remove_file(socket);
    // The memif server creates the socket and waits for its peer: the server starts first.
    let server = [("SOCK", socket), ("PREFIX", &server_prefix), ("CPU", &cpu_server), ("TX_COPY", copy)];
    guard.spawn(&ROLES, "catnip-server", &server);
    guard.wait_for_socket(socket, "the catnip memif server");
    let client = [("SOCK", socket), ("PREFIX", &client_prefix), ("CPU", &cpu_client), ("TX_COPY", copy)];
    guard.spawn(&ROLES, "catnip-client", &client);
    let what = if copy_tx { "catnip over memif, copying TX" } else { "catnip over memif" };
    finish_pair(guard, what, ROLES.child_limit)
}

// ---- the children ----

/// One role of the test, selected by `CATNIP_MEMIF_ROLE`; does nothing without it.
#[test]
fn role() {
    let Some(role) = ROLES.current() else { return };
    let spin = ROLES.var("SPIN") == "1";
    match role.as_str() {
        "catnip-server" | "catnip-client" => {
            let server = role == "catnip-server";
            let libos = memif_libos(&ROLES.var("SOCK"), &ROLES.var("PREFIX"), &ROLES.var("CPU"), server);
            if server { catnip_server(libos) } else { catnip_client(libos) }
        }
        "linux-server" => linux_server(&ROLES.var("CPU"), spin),
        "linux-client" => linux_client(&ROLES.var("CPU"), spin, &ROLES.var("PORTS")),
        other => panic!("unknown role {other}"),
    }
}

fn memif_libos(socket: &str, prefix: &str, cpu: &str, server: bool) -> Libos {
    let (role, ip, mac) =
        if server { ("server", SERVER_IP, "02:00:00:98:01:01") } else { ("client", CLIENT_IP, "02:00:00:98:01:02") };
    let mut args = eal_args(cpu, prefix);
    args.push(format!("--vdev=net_memif0,role={role},socket={socket},socket-abstract=no,mac={mac}"));
    common::pair::catnip::start(&ROLES, args, ip, "net_memif0", |config| {
        config.device.tx_zero_copy = !copy_tx();
    })
}

/// Whether this child transmits by copying every frame into one mbuf (the path before zero-copy transmit).
fn copy_tx() -> bool {
    ROLES.var("TX_COPY") == "1"
}

fn catnip_server(mut libos: Libos) {
    println!("catnip server up at {SERVER_IP} (memif link up)");
    // Bound before the TCP part, so that the client's first datagram finds it.
    let udp = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
    libos.bind(udp, SocketAddrV4::new(SERVER_IP, UDP_PORT)).unwrap();
    common::pair::catnip::serve_tcp(&mut libos, workload().bulk);

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
    libos.close(udp).unwrap();
    drop(libos);
    println!("catnip server shut down (port closed, EAL cleaned up)");
    check_copy_mode("server");
}

/// After the libOS is dropped: nothing is left pinned or lent, and payloads left without a copy only when zero-copy
/// transmit is on.
fn check_copy_mode(role: &str) {
    let stats = check_released(role);
    if copy_tx() {
        assert_eq!(stats.tx_zero_copy, 0, "{role}: copy mode attached payloads");
    } else {
        assert!(stats.tx_zero_copy > 0, "{role}: no payload was transmitted without a copy");
    }
}

fn catnip_client(mut libos: Libos) {
    println!("catnip client up at {CLIENT_IP} (memif link up)");
    common::pair::catnip::run_tcp_client(&mut libos, SERVER_IP, &workload());

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
    let times = time_round_trips(UDP_ROUND_TRIPS, || udp_echo(&mut libos, &[b'u'; 64]));
    report_round_trips("UDP", times);
    let qt = libos.pushto(udp, &Sga::from_slice(b"quit").unwrap(), server).unwrap();
    libos.wait(qt, TIMEOUT).unwrap().value.expect("pushto quit");
    // Let the quit datagram leave before the port closes.
    linger(&mut libos, udp);
    drop(libos);
    println!("catnip client shut down");
    check_copy_mode("client");
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

fn linux_server(cpu: &str, spin: bool) {
    pin(cpu);
    let echo = linux::listen();
    let bulk = linux::listen();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(spin).unwrap();
    let port = |a: std::net::SocketAddr| a.port();
    println!(
        "ready {},{},{}",
        port(echo.local_addr().unwrap()),
        port(bulk.local_addr().unwrap()),
        port(udp.local_addr().unwrap())
    );
    linux::serve_tcp(&echo, &bulk, spin, workload().bulk);
    let mut buf = vec![0u8; 2048];
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
    linux::run_tcp_client(ports[0], ports[1], spin, &workload());

    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(spin).unwrap();
    let server = SocketAddrV4::new(Ipv4Addr::LOCALHOST, ports[2]);
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
    let times = time_round_trips(UDP_ROUND_TRIPS, || udp_echo(&[b'u'; 64]));
    report_round_trips("UDP", times);
    udp.send_to(b"quit", server).unwrap();
}
