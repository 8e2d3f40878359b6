//! Kernel bypass end to end over vhost-user: two catnip processes, one on DPDK's net_vhost (the vhost-user
//! backend) and one on virtio_user (the virtio driver in user space), with standard and jumbo frames, and the
//! same client and server over Linux loopback TCP in the same run, for side-by-side bulk throughput.
//!
//! ```text
//! process "catnip-client" 10.98.2.2, net_vhost0 (creates /tmp/catnip-vhost-<pid>-<mtu>.sock), lcore 0 on CPU 1
//!     ==== vhost-user: virtqueues in the virtio side's shared hugepage memory ====
//! process "catnip-server" 10.98.2.1, virtio_user0 (connects to the socket), lcore 0 on CPU 0
//! ```
//!
//! The bulk sender (the client) sits on net_vhost: that driver copies each transmitted mbuf segment into its
//! peer's memory from its virtual address, so the client's payloads (views of one heap buffer from sgaalloc)
//! leave without a copy into mbufs; virtio_user could only point its peer at memory EAL shares.
//!
//! DPDK's EAL initialises once per process, so the test spawns this binary again for each side, running only
//! the `role` test with `CATNIP_VHOST_ROLE` naming its part. Per MTU (1500, then 9000), the client runs against
//! the server: TCP echo of several sizes (1 B to 1 MiB) checked byte for byte, 2000 timed 64-byte round trips,
//! and a 64 MiB transfer whose SHA-256 the server sends back with the time from first to last byte. Then the same
//! over Linux loopback (`std::net`, pinned to the same CPUs), with blocking sockets and with non-blocking ones
//! that spin (as catnip does). `CATNIP_VHOST_RUNS=N` repeats
//! the whole set N times (default 1); `CATNIP_VHOST_BULK_MIB` changes the transfer size and
//! `CATNIP_VHOST_TCP_BUFFER_KIB` catnip's TCP send and receive buffers (inetstack's default, 256 KiB);
//! `CATNIP_VHOST_TCP_TUNING=0` turns their auto-tuning off.
//!
//! Children, the vhost-user sockets and EAL's runtime directories are removed when the test ends, also on a
//! panic. Needs root; when not root it prints SKIPPED and passes, unless `DPDK_SYS_REQUIRE_TESTS=1`.
#![cfg(feature = "dpdk")]

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use pdpix::{LibOs, SocketDomain, SocketType};

use common::check_released;
use common::pair::catnip::{Libos, eal_args, linger, run_tcp_client, serve_tcp};
use common::pair::figures::Figures;
use common::pair::linux;
use common::pair::parent::{Cleanup, finish_pair, linux_pair, load};
use common::pair::workload::Workload;
use common::pair::{Roles, cpus, pin};
use common::skip::{not_root, skipped};

const ROLES: Roles = Roles { prefix: "CATNIP_VHOST", child_limit: Duration::from_secs(120) };
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 98, 2, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 98, 2, 2);
const ECHO_SIZES: [usize; 6] = [1, 100, 1460, 8960, 70000, 1 << 20];
const MTUS: [usize; 2] = [1500, 9000];
const ROUND_TRIPS: usize = 2000;

fn workload() -> Workload {
    Workload::new(&ROLES, &ECHO_SIZES, ROUND_TRIPS)
}

// ---- the parent: spawns the pairs, compares ----

#[test]
fn catnip_to_catnip_over_vhost_user() {
    if ROLES.in_child() || skipped("catnip vhost-user test", not_root("EAL and hugepages")) {
        return;
    }
    let mut guard = Cleanup::default();
    let (cpu_server, cpu_client) = cpus();
    let runs = ROLES.usize_var("RUNS").unwrap_or(1).max(1);
    println!("server on CPU {cpu_server}, client on CPU {cpu_client}; {runs} run(s); loadavg: {}", load());
    let mut rows: Vec<(String, Vec<Figures>)> = Vec::new();
    let mut record = |name: String, figures: Figures| match rows.iter_mut().find(|(n, _)| *n == name) {
        Some((_, all)) => all.push(figures),
        None => rows.push((name, vec![figures])),
    };
    for run in 0..runs {
        for mtu in MTUS {
            let figures = catnip_pair(&mut guard, mtu, run);
            record(format!("catnip vhost-user, MTU {mtu}"), figures);
        }
        for spin in [false, true] {
            let name = if spin { "Linux loopback, spinning" } else { "Linux loopback, blocking" };
            record(name.to_owned(), linux_pair(&mut guard, &ROLES, spin));
        }
    }

    println!("MEASURED same run (server CPU {cpu_server}, client CPU {cpu_client}; loadavg: {}):", load());
    println!("  {:<30} {:>10} {:>10} {:>14} {:>12}", "", "TCP p50 us", "TCP p99 us", "bulk MB/s", "runs (MB/s)");
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut medians = Vec::new();
    for (name, all) in &rows {
        let bulk = median(all.iter().map(|f| f.bulk_mbps).collect());
        let runs: Vec<String> = all.iter().map(|f| format!("{:.0}", f.bulk_mbps)).collect();
        println!(
            "  {name:<30} {:>10.1} {:>10.1} {bulk:>14.0}   {}",
            median(all.iter().map(|f| f.tcp_p50).collect()),
            median(all.iter().map(|f| f.tcp_p99).collect()),
            runs.join(" ")
        );
        medians.push(bulk);
    }
    for (name, linux) in [("blocking", medians[2]), ("spinning", medians[3])] {
        println!(
            "  bulk throughput / Linux loopback {name} (medians): MTU 1500 {:.2}, MTU 9000 {:.2}",
            medians[0] / linux,
            medians[1] / linux,
        );
    }
    println!("  bulk throughput MTU 9000 / MTU 1500 (medians): {:.2}", medians[1] / medians[0]);
}

/// One catnip client (net_vhost) and server (virtio_user) at `mtu`, each its own process and EAL.
fn catnip_pair(guard: &mut Cleanup, mtu: usize, run: usize) -> Figures {
    let pid = std::process::id();
    let socket = format!("/tmp/catnip-vhost-{pid}-{mtu}-{run}.sock");
    guard.files.push(socket.clone());
    let client_prefix = format!("catnip-vhost-c-{mtu}-{run}-{pid}");
    let server_prefix = format!("catnip-vhost-s-{mtu}-{run}-{pid}");
    guard.dirs.extend([format!("/var/run/dpdk/{server_prefix}"), format!("/var/run/dpdk/{client_prefix}")]);
    let (cpu_server, cpu_client) = cpus();
    let mtu = mtu.to_string();
    let _ = std::fs::remove_file(&socket);
    // net_vhost creates the socket and waits for its peer: the client starts first.
    let client = [("SOCK", socket.as_str()), ("PREFIX", &client_prefix), ("CPU", &cpu_client), ("MTU", &mtu)];
    guard.spawn(&ROLES, "catnip-client", &client);
    guard.wait_for_socket(&socket, "the catnip client (net_vhost)");
    let server = [("SOCK", socket.as_str()), ("PREFIX", &server_prefix), ("CPU", &cpu_server), ("MTU", &mtu)];
    guard.spawn(&ROLES, "catnip-server", &server);
    let figures = finish_pair(guard, &format!("catnip over vhost-user, MTU {mtu}"), ROLES.child_limit);
    let _ = std::fs::remove_file(&socket);
    figures
}

// ---- the children ----

/// One role of the test, selected by `CATNIP_VHOST_ROLE`; does nothing without it.
#[test]
fn role() {
    let Some(role) = ROLES.current() else { return };
    let spin = ROLES.var("SPIN") == "1";
    match role.as_str() {
        "catnip-server" | "catnip-client" => {
            let mtu = ROLES.usize_var("MTU").expect("CATNIP_VHOST_MTU");
            let server = role == "catnip-server";
            let libos = vhost_libos(&ROLES.var("SOCK"), &ROLES.var("PREFIX"), &ROLES.var("CPU"), mtu, server);
            if server { catnip_server(libos, mtu) } else { catnip_client(libos, mtu) }
        }
        "linux-server" => linux_server(&ROLES.var("CPU"), spin),
        "linux-client" => linux_client(&ROLES.var("CPU"), spin, &ROLES.var("PORTS")),
        other => panic!("unknown role {other}"),
    }
}

/// The server on virtio_user (which connects to the socket), the client on net_vhost (which creates it).
fn vhost_libos(socket: &str, prefix: &str, cpu: &str, mtu: usize, server: bool) -> Libos {
    let mut args = eal_args(cpu, prefix);
    let (ip, port) = if server {
        // virtio_user shares its memory with the backend: one file per memory segment list, as it requires.
        args.push("--single-file-segments".to_owned());
        args.push(format!("--vdev=virtio_user0,path={socket},queues=1,queue_size=1024,mac=02:00:00:98:02:01"));
        (SERVER_IP, "virtio_user0")
    } else {
        args.push(format!("--vdev=net_vhost0,iface={socket},queues=1"));
        (CLIENT_IP, "net_vhost0")
    };
    common::pair::catnip::start(&ROLES, args, ip, port, |config| config.device.mtu = mtu)
}

fn catnip_server(mut libos: Libos, mtu: usize) {
    println!("catnip server up at {SERVER_IP} (virtio_user link up, MTU {mtu})");
    serve_tcp(&mut libos, workload().bulk);
    drop(libos);
    check_frames(&format!("server at MTU {mtu}"));
}

/// After the libOS is dropped: nothing is left pinned or lent, and every received frame arrived in one mbuf (the
/// pool is sized for the MTU). Returns the device's statistics.
fn check_frames(role: &str) -> catnip::dpdk::DpdkStats {
    let stats = check_released(role);
    assert_eq!(stats.rx_chained, 0, "{role}: frames arrived as mbuf chains");
    assert_eq!(stats.tx_oversize, 0, "{role}: frames longer than the MTU");
    assert_eq!(stats.rx_bad_checksum, 0, "{role}: bad checksums");
    stats
}

fn catnip_client(mut libos: Libos, mtu: usize) {
    println!("catnip client up at {CLIENT_IP} (net_vhost link up, MTU {mtu})");
    run_tcp_client(&mut libos, SERVER_IP, &workload());
    // Let the last ACK and FIN leave before the port closes: run the stack a while, waiting on a UDP socket
    // nothing arrives on.
    let idle = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
    libos.bind(idle, SocketAddrV4::new(CLIENT_IP, 4000)).unwrap();
    linger(&mut libos, idle);
    drop(libos);
    println!("catnip client shut down");
    let stats = check_frames(&format!("client at MTU {mtu}"));
    assert!(stats.tx_zero_copy > 0, "client: no payload was transmitted without a copy on net_vhost");
}

// ---- the Linux pair over loopback ----

fn linux_server(cpu: &str, spin: bool) {
    pin(cpu);
    let echo = linux::listen();
    let bulk = linux::listen();
    println!("ready {},{}", echo.local_addr().unwrap().port(), bulk.local_addr().unwrap().port());
    linux::serve_tcp(&echo, &bulk, spin, workload().bulk);
}

fn linux_client(cpu: &str, spin: bool, ports: &str) {
    pin(cpu);
    let ports: Vec<u16> = ports.split(',').map(|p| p.parse().unwrap()).collect();
    linux::run_tcp_client(ports[0], ports[1], spin, &workload());
}
