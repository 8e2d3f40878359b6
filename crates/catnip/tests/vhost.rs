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
//! `CATNIP_VHOST_TCP_BUFFER_KIB` catnip's TCP send and receive buffers (inetstack's default, 256 KiB).
//!
//! Children, the vhost-user sockets and EAL's runtime directories are removed when the test ends, also on a
//! panic. Needs root; when not root it prints SKIPPED and passes, unless `DPDK_SYS_REQUIRE_TESTS=1`.
#![cfg(feature = "dpdk")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
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

const ROLE: &str = "CATNIP_VHOST_ROLE";
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 98, 2, 1);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 98, 2, 2);
const ECHO_PORT: u16 = 7;
const BULK_PORT: u16 = 5001;
const ECHO_SIZES: [usize; 6] = [1, 100, 1460, 8960, 70000, 1 << 20];
const MTUS: [usize; 2] = [1500, 9000];
const WARMUP: usize = 200;
const ROUND_TRIPS: usize = 2000;
/// Push size in the bulk transfer.
const CHUNK: usize = 256 << 10;
/// How long a child may run.
const CHILD_LIMIT: Duration = Duration::from_secs(120);

fn bulk_size() -> usize {
    env_usize("CATNIP_VHOST_BULK_MIB").unwrap_or(64) << 20
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

// ---- the parent: spawns the pairs, compares ----

#[test]
fn catnip_to_catnip_over_vhost_user() {
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
        println!("SKIPPED catnip vhost-user test: {reason}");
        return;
    }
    let mut guard = Cleanup { children: Vec::new(), files: Vec::new(), dirs: Vec::new() };
    let (cpu_server, cpu_client) = cpus();
    let runs = env_usize("CATNIP_VHOST_RUNS").unwrap_or(1).max(1);
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
            record(name.to_owned(), linux_pair(&mut guard, &cpu_server, &cpu_client, spin));
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
    let client = spawn_role(
        "catnip-client",
        &[("SOCK", &socket), ("PREFIX", &client_prefix), ("CPU", &cpu_client), ("MTU", &mtu)],
    );
    guard.children.push(client);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::path::Path::new(&socket).exists() {
        assert!(Instant::now() < deadline, "net_vhost did not create {socket} within 30 s");
        if let Some(status) = guard.children.last_mut().expect("client").try_wait().expect("try_wait") {
            panic!("the catnip client (net_vhost) exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let server = spawn_role(
        "catnip-server",
        &[("SOCK", &socket), ("PREFIX", &server_prefix), ("CPU", &cpu_server), ("MTU", &mtu)],
    );
    guard.children.push(server);
    let figures = finish_pair(guard, &format!("catnip over vhost-user, MTU {mtu}"));
    let _ = std::fs::remove_file(&socket);
    figures
}

/// Figures one client reports.
#[derive(Debug, Default)]
struct Figures {
    tcp_p50: f64,
    tcp_p99: f64,
    bulk_mbps: f64,
}

fn spawn_role(role: &str, vars: &[(&str, &str)]) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    let mut command = Command::new(exe);
    command.args(["role", "--exact", "--nocapture", "--test-threads=1"]).env(ROLE, role).stdout(Stdio::piped());
    for (k, v) in vars {
        command.env(format!("CATNIP_VHOST_{k}"), v);
    }
    command.spawn().unwrap_or_else(|e| panic!("spawn {role}: {e}"))
}

/// Waits for the last two children, echoing their output (each from its own thread, so no pipe fills); returns
/// the figures the client printed as `RESULT key value` lines.
fn finish_pair(guard: &mut Cleanup, what: &str) -> Figures {
    let at = guard.children.len() - 2;
    let mut readers = Vec::new();
    for child in &mut guard.children[at..] {
        let out = child.stdout.take().expect("piped");
        readers.push(std::thread::spawn(move || {
            let mut figures = None;
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                println!("  {line}");
                let mut words = line.split_whitespace();
                if words.next() == Some("RESULT") {
                    let figures = figures.get_or_insert_with(Figures::default);
                    let key = words.next().unwrap_or_default();
                    let value: f64 = words.next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
                    match key {
                        "tcp_p50_us" => figures.tcp_p50 = value,
                        "tcp_p99_us" => figures.tcp_p99 = value,
                        "bulk_MBps" => figures.bulk_mbps = value,
                        _ => {}
                    }
                }
            }
            figures
        }));
    }
    let ok: Vec<bool> = guard.children[at..].iter_mut().map(|child| wait_child(child, CHILD_LIMIT)).collect();
    let figures: Vec<Option<Figures>> = readers.into_iter().map(|r| r.join().expect("reader")).collect();
    guard.children.truncate(at);
    assert!(ok.iter().all(|&ok| ok), "{what}: a side failed (exit statuses ok: {ok:?})");
    figures.into_iter().flatten().next().unwrap_or_else(|| panic!("{what}: no figures"))
}

/// The Linux pair over loopback; `spin`: non-blocking sockets polled in a loop for the round trips and the bulk
/// transfer (as catnip polls), else blocking ones.
fn linux_pair(guard: &mut Cleanup, cpu_server: &str, cpu_client: &str, spin: bool) -> Figures {
    let spin = if spin { "1" } else { "0" };
    guard.children.push(spawn_role("linux-server", &[("CPU", cpu_server), ("SPIN", spin)]));
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
    guard.children.push(spawn_role("linux-client", &[("CPU", cpu_client), ("PORTS", &ports), ("SPIN", spin)]));
    finish_pair(guard, "Linux loopback")
}

// ---- the children ----

/// One role of the test, selected by `CATNIP_VHOST_ROLE`; does nothing without it.
#[test]
fn role() {
    let Ok(role) = std::env::var(ROLE) else { return };
    // Die with the test process, even if it is killed outright (its guards cannot run then).
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and no pointers.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let var = |k: &str| std::env::var(format!("CATNIP_VHOST_{k}")).unwrap_or_default();
    match role.as_str() {
        "catnip-server" | "catnip-client" => {
            let mtu = var("MTU").parse().expect("CATNIP_VHOST_MTU");
            let libos = vhost_libos(&var("SOCK"), &var("PREFIX"), &var("CPU"), mtu, role == "catnip-server");
            if role == "catnip-server" { catnip_server(libos, mtu) } else { catnip_client(libos, mtu) }
        }
        "linux-server" => linux_server(&var("CPU"), var("SPIN") == "1"),
        "linux-client" => linux_client(&var("CPU"), &var("PORTS"), var("SPIN") == "1"),
        other => panic!("unknown role {other}"),
    }
}

type Libos = catnip::Catnip<catnip::dpdk::DpdkDevice>;

/// The server on virtio_user (which connects to the socket), the client on net_vhost (which creates it).
fn vhost_libos(socket: &str, prefix: &str, cpu: &str, mtu: usize, server: bool) -> Libos {
    let mut args: Vec<String> =
        ["--no-pci", "--no-telemetry", "--log-level=lib.eal:notice", "--in-memory"].map(str::to_owned).to_vec();
    args.push(format!("--lcores=0@{cpu}"));
    args.push(format!("--file-prefix={prefix}"));
    let (ip, port) = if server {
        // virtio_user shares its memory with the backend: one file per memory segment list, as it requires.
        args.push("--single-file-segments".to_owned());
        args.push(format!("--vdev=virtio_user0,path={socket},queues=1,queue_size=1024,mac=02:00:00:98:02:01"));
        (SERVER_IP, "virtio_user0")
    } else {
        args.push(format!("--vdev=net_vhost0,iface={socket},queues=1"));
        (CLIENT_IP, "net_vhost0")
    };
    println!("EAL args: {}", args.join(" "));
    let mut config = DpdkConfig::new(args, ip, 24);
    config.device.port = Some(port.to_owned());
    config.device.link_timeout = Duration::from_secs(30);
    config.device.mtu = mtu;
    if let Some(kib) = env_usize("CATNIP_VHOST_TCP_BUFFER_KIB") {
        config.tcp.recv_buffer = kib << 10;
        config.tcp.send_buffer = kib << 10;
    }
    catnip::dpdk::new_libos_with(&config, |port| {
        println!("port {} (MTU {mtu}) offloads: {:?}", port.port_name(), port.offloads());
        port
    })
    .unwrap_or_else(|e| panic!("catnip on {port} at MTU {mtu}: {e}"))
}

fn recv_exactly(libos: &mut Libos, qd: QDesc, n: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let sga = pop(libos, qd);
        assert!(!sga.is_empty(), "stream ended after {} of {n} bytes", got.len());
        got.extend_from_slice(&sga.to_vec());
    }
    got
}

fn catnip_server(mut libos: Libos, mtu: usize) {
    println!("catnip server up at {SERVER_IP} (virtio_user link up, MTU {mtu})");
    let echo = listen(&mut libos, ECHO_PORT, 8);
    let bulk = listen(&mut libos, BULK_PORT, 8);

    let echoed = serve_echo(&mut libos, echo);
    println!("tcp echo: {echoed} bytes echoed");
    // Bulk: receive N bytes, answer their SHA-256 and the nanoseconds from first to last byte.
    let n = bulk_size();
    serve_bulk(&mut libos, bulk, n);
    libos.close(echo).unwrap();
    libos.close(bulk).unwrap();
    println!("bulk: {} MiB received, hashed", n >> 20);
    drop(libos);
    check_released("server", mtu);
}

/// After the libOS is dropped: every transmitted payload was released by the driver, every received mbuf given
/// back, and every received frame arrived in one mbuf (the pool is sized for the MTU).
fn check_released(role: &str, mtu: usize) {
    let stats = catnip::dpdk::final_stats().expect("the device was dropped");
    println!("{role} device stats (MTU {mtu}): {stats:?}");
    assert_eq!(catnip::dpdk::tx_pinned(), 0, "{role}: transmitted payloads still pinned after close");
    assert_eq!(catnip::dpdk::lent_mbufs(), 0, "{role}: received mbufs still lent after close");
    assert_eq!(stats.rx_chained, 0, "{role}: frames arrived as mbuf chains");
    assert_eq!(stats.tx_oversize, 0, "{role}: frames longer than the MTU");
    assert_eq!(stats.rx_bad_checksum, 0, "{role}: bad checksums");
}

fn report_round_trips(mut times: Vec<Duration>) {
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let (p50, p99) = (us(times[times.len() / 2]), us(times[times.len() * 99 / 100]));
    println!("TCP: {} round trips of 64 B, p50 {p50:.1} us, p99 {p99:.1} us", times.len());
    println!("RESULT tcp_p50_us {p50:.2}");
    println!("RESULT tcp_p99_us {p99:.2}");
}

fn report_bulk(n: usize, reply: &[u8], digest: &[u8]) {
    assert_eq!(&reply[..32], digest, "the server's SHA-256 of the bulk data differs from the client's");
    let nanos = u64::from_le_bytes(reply[32..40].try_into().unwrap());
    let mbps = n as f64 / (nanos as f64 / 1e9) / 1e6;
    println!("bulk: {} MiB, SHA-256 equal, {:.3} s first to last byte, {mbps:.0} MB/s", n >> 20, nanos as f64 / 1e9);
    println!("RESULT bulk_MBps {mbps:.1}");
}

fn catnip_client(mut libos: Libos, mtu: usize) {
    println!("catnip client up at {CLIENT_IP} (net_vhost link up, MTU {mtu})");
    let connect = |libos: &mut Libos, port: u16| -> QDesc {
        // The server may not be listening yet a moment after its link came up: retry a refused connection.
        for _ in 0..1000 {
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
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..WARMUP + ROUND_TRIPS {
        let start = Instant::now();
        push(&mut libos, qd, &message);
        recv_exactly(&mut libos, qd, 64);
        if i >= WARMUP {
            times.push(start.elapsed());
        }
    }
    libos.close(qd).unwrap();
    report_round_trips(times);

    // Bulk: the data is written once into a buffer from sgaalloc and pushed as views of it, CHUNK bytes each,
    // as the Linux client writes slices of one vector; net_vhost sends these very bytes (zero-copy transmit).
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
    report_bulk(n, &reply, &digest);
    // Let the last ACK and FIN leave before the port closes: run the stack a while, waiting on a UDP socket
    // nothing arrives on.
    let idle = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
    libos.bind(idle, SocketAddrV4::new(CLIENT_IP, 4000)).unwrap();
    let deadline = Instant::now() + Duration::from_millis(50);
    while Instant::now() < deadline {
        let qt = libos.pop(idle, None).unwrap();
        let _ = libos.wait(qt, Some(Duration::from_millis(5)));
    }
    libos.close(idle).unwrap();
    drop(libos);
    println!("catnip client shut down");
    check_released("client", mtu);
    let stats = catnip::dpdk::final_stats().expect("dropped");
    assert!(stats.tx_zero_copy > 0, "client: no payload was transmitted without a copy on net_vhost");
}

// ---- the Linux pair over loopback ----

fn linux_server(cpu: &str, spin: bool) {
    pin(cpu);
    let echo = TcpListener::bind("127.0.0.1:0").unwrap();
    let bulk = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("ready {},{}", echo.local_addr().unwrap().port(), bulk.local_addr().unwrap().port());
    let (mut s, _) = echo.accept().unwrap();
    s.set_nodelay(true).unwrap();
    s.set_nonblocking(spin).unwrap();
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
    s.set_nonblocking(spin).unwrap();
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
}

fn linux_client(cpu: &str, ports: &str, spin: bool) {
    pin(cpu);
    let ports: Vec<u16> = ports.split(',').map(|p| p.parse().unwrap()).collect();
    let at = |port: u16| SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    let mut s = TcpStream::connect(at(ports[0])).unwrap();
    s.set_nodelay(true).unwrap();
    for size in ECHO_SIZES {
        let data = pattern(size, size as u64);
        // Write from a second handle on another thread: the echo of a large message would fill both buffers.
        let mut writer = s.try_clone().unwrap();
        let sent = data.clone();
        let writing = std::thread::spawn(move || writer.write_all(&sent).expect("write"));
        assert_eq!(read_exactly(&mut s, size), data, "{size}-byte echo");
        writing.join().expect("writer");
        println!("tcp echo {size} bytes ok");
    }
    s.set_nonblocking(spin).unwrap();
    let message = [b'x'; 64];
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..WARMUP + ROUND_TRIPS {
        let start = Instant::now();
        write_all(&mut s, &message);
        read_exactly(&mut s, 64);
        if i >= WARMUP {
            times.push(start.elapsed());
        }
    }
    drop(s);
    report_round_trips(times);

    let n = bulk_size();
    let data = pattern(n, 0x9e37_79b9_7f4a_7c15);
    let digest = Sha256::digest(&data);
    let mut s = TcpStream::connect(at(ports[1])).unwrap();
    s.set_nonblocking(spin).unwrap();
    for chunk in data.chunks(CHUNK) {
        write_all(&mut s, chunk);
    }
    let reply = read_exactly(&mut s, 40);
    drop(s);
    report_bulk(n, &reply, &digest);
}
