//! catnip on real DPDK talking to the Linux kernel's TCP/IP stack, over a veth pair (`ci/netns.sh`):
//!
//! ```text
//! catnip 10.99.0.1 -- DPDK net_af_packet on dk0 == veth == dk1 10.99.0.2 in namespace demipeer (Linux)
//! ```
//!
//! One test function, because DPDK's EAL initialises once per process: it brings the namespace up, starts one
//! catnip, and runs the scenarios in order against Linux processes started in the namespace (`ip netns exec`):
//! Linux taking catnip's MAC address from its ARP announcement, catnip as a TCP client of a Linux server
//! (16 MiB each way, checked by SHA-256; ARP resolved by catnip; ECN agreed with Linux, whose TCP_INFO must show
//! it and the ECN-capable segments catnip sent; then 4 MiB each way through CE marks both ways, set by an
//! nftables rule), Linux sending 10 000 one-byte segments to a catnip socket that reads nothing until the end (the
//! stack must not hold an mbuf per segment: with the port's 8191 it once stopped receiving altogether), 64
//! connections from Linux whose 12.8 MB wait unread (the stack holds them to its limit on received data, 8 MiB
//! here, refusing the rest until the application reads; still more full frames than half the pool has mbufs: the
//! device lends at most half of it and copies the rest), the kernel pinging catnip (ARP resolved by the kernel), a
//! Linux TCP client against a catnip echo server (several sizes, ten concurrent connections, 64-byte round trips
//! timed), UDP both ways (catnip to Linux up to 30 000 bytes, in IPv4 fragments that Linux reassembles), and
//! 4 MiB each way between catnip and a host behind Linux as a router, over a link of MTU 1280 (namespace
//! demifar), which takes path MTU discovery: the router refuses catnip's 1500-byte segments with ICMP
//! fragmentation-needed errors, and catnip shrinks its segments to fit; and as much with a host behind an MTU
//! black hole (namespace demihole: full-size datagrams dropped without an ICMP error), which catnip finds by its
//! timeouts. Then catnip shuts down and the same ping and round trips run against Linux itself on dk0, for a same-run comparison. The namespace is
//! removed even when a scenario fails (a guard's `Drop`).
//!
//! Needs root (EAL, namespaces). When not root it prints SKIPPED and passes, unless `DPDK_SYS_REQUIRE_TESTS=1`
//! (`ci/dpdk-tests.sh`). Memory: hugepages if mounted with 256 free pages, else `--no-huge -m 512`.
#![cfg(feature = "dpdk")]

mod common;

use std::io::BufReader;
use std::net::SocketAddrV4;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use catnip::Catnip;
use catnip::dpdk::DpdkDevice;
use inetstack::tcp::TcpCounters;
use pdpix::{LibOs, QDesc, QValue, Sga, SocketDomain, SocketType};
use sha2::{Digest, Sha256};

use common::skip::{cannot_run_against_linux, skipped};
use common::{
    BULK_SERVER, CATNIP, EchoServer, LINUX, NAMESPACE, Namespace, PYTHON, hex, in_named_namespace, in_namespace,
    rest_of, split_digest, veth_config, wait_ready,
};

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));
/// How long any one scenario may take.
const SCENARIO_LIMIT: Duration = Duration::from_secs(120);
/// Bytes each way in the bulk transfer.
const BULK: usize = 16 << 20;

type Libos = Catnip<DpdkDevice>;

#[test]
fn catnip_on_dpdk_interoperates_with_linux() {
    if skipped("catnip Linux interoperability test", cannot_run_against_linux()) {
        return;
    }
    let _namespace = Namespace::up();
    // Linux holds an old MAC address for catnip's (as after catnip moved to another NIC): catnip's announcement
    // at start must correct it.
    let stale = "02:00:00:00:00:99";
    sh(&[
        "ip",
        "netns",
        "exec",
        NAMESPACE,
        "ip",
        "neigh",
        "replace",
        "10.99.0.1",
        "lladdr",
        stale,
        "dev",
        "dk1",
        "nud",
        "stale",
    ]);
    let prefix = format!("catnip-linux-{}", std::process::id());
    let mut config = veth_config(&prefix);
    // catnip asks for Accurate ECN (RFC 9768); Linux, by default (net.ipv4.tcp_ecn = 2), answers as RFC 3168
    // asks (the SYN's AE, CWR and ECE ask for both), so classic ECN is agreed until a scenario sets 3.
    config.tcp.accurate_ecn = true;
    // A limit on received data that `data_waiting_on_many_connections` goes past (the others stay well under it).
    config.tcp.receive_memory = RECEIVE_MEMORY;
    // And one on data to send, that `pushes_to_many_connections_that_wait` goes past.
    config.tcp.send_memory = SEND_MEMORY;
    // The Linux peer is also the router to demifar's network.
    config.gateway = Some(LINUX);
    let mut libos = catnip::dpdk::new_libos(&config).unwrap_or_else(|e| panic!("catnip on DPDK: {e}"));
    println!("catnip up at {CATNIP} on net_af_packet0 (dk0)");
    // A second DPDK catnip in this process is refused: EAL initialises once.
    let again = catnip::dpdk::new_libos(&config).expect_err("a second DPDK catnip fails");
    assert_eq!(again.errno(), libc::EALREADY, "{again}");
    linux_learns_catnips_address_from_its_announcement(&mut libos, stale);

    tcp_client_to_linux_server(&mut libos);
    tcp_to_linux_without_timestamps(&mut libos);
    tcp_with_ecn_marks_both_ways(&mut libos);
    tiny_segments_to_a_reader_that_waits(&mut libos);
    data_waiting_on_many_connections(&mut libos);
    pushes_to_many_connections_that_wait(&mut libos);
    let catnip_ping = linux_pings(&mut libos, 3, "0.2");
    let catnip_ping_rtt = linux_pings(&mut libos, 50, "0.01");
    let catnip_rtt = linux_tcp_client_to_echo_server(&mut libos);
    udp_both_ways(&mut libos);
    tcp_through_a_router_with_a_smaller_mtu(&mut libos);
    tcp_through_a_black_hole(&mut libos);
    println!("catnip: ping avg {catnip_ping:.3} ms (3 pings), {catnip_ping_rtt:.3} ms (50 pings)");
    drop(libos);
    let stats = catnip::dpdk::final_stats().expect("the device's final statistics");
    assert!(stats.rx_copied_pool_low > 0, "frames were copied while half the pool was lent: {stats:?}");
    let _ = std::fs::remove_dir(format!("/var/run/dpdk/{prefix}"));
    println!("catnip shut down (port closed, pool freed, EAL cleaned up)");

    // The same measurements against the Linux stack on the same veth: dk0 gets catnip's address.
    sh(&["ip", "link", "set", "dk0", "up"]);
    sh(&["ip", "addr", "add", "10.99.0.1/24", "dev", "dk0"]);
    sh(&["ip", "netns", "exec", NAMESPACE, "ip", "neigh", "flush", "dev", "dk1"]);
    let linux_ping = linux_pings_linux(50, "0.01");
    let linux_rtt = linux_tcp_client_to_linux_echo_server();
    println!("MEASURED same run, same veth, client in {NAMESPACE}:");
    println!(
        "  ping RTT avg: catnip {catnip_ping_rtt:.3} ms, Linux {linux_ping:.3} ms, ratio catnip/Linux {:.2}",
        catnip_ping_rtt / linux_ping
    );
    println!(
        "  TCP 64 B echo RTT p50: catnip {:.1} us, Linux (Python echo server) {:.1} us, ratio {:.2}",
        catnip_rtt,
        linux_rtt,
        catnip_rtt / linux_rtt
    );
}

/// Runs a command to completion, panicking if it fails.
fn sh(args: &[&str]) {
    let status = Command::new(args[0]).args(&args[1..]).status().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(status.success(), "{args:?}: {status}");
}

/// A Python program in the namespace.
fn python(script: &str, args: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let mut argv = vec![PYTHON, "-c", script];
    argv.extend_from_slice(args);
    in_namespace(&argv)
}

/// Keeps catnip running (answering ARP, ICMP, TCP) until `child` exits.
fn serve_until_exit(libos: &mut Libos, child: &mut Child, mut step: impl FnMut(&mut Libos)) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > SCENARIO_LIMIT {
            let _ = child.kill();
            panic!("the Linux peer did not finish within {SCENARIO_LIMIT:?}");
        }
        step(libos);
    }
}

/// Polls catnip for about a millisecond.
fn idle(libos: &mut Libos, queue: QDesc) {
    let qt = libos.pop(queue, None).expect("pop on a memory queue");
    let _ = libos.wait(qt, Some(Duration::from_millis(1)));
    // The pop stays pending; it is cancelled when the queue closes.
}

// ---- (0) catnip announces its address (RFC 5227 §2.3) ----

fn linux_learns_catnips_address_from_its_announcement(libos: &mut Libos, stale: &str) {
    let mac = std::fs::read_to_string("/sys/class/net/dk0/address").expect("dk0's MAC address").trim().to_owned();
    let q = libos.queue().unwrap();
    let start = Instant::now();
    let entry = loop {
        idle(libos, q);
        let output = Command::new("ip").args(["netns", "exec", NAMESPACE, "ip", "neigh", "show", "10.99.0.1"]).output();
        let entry = String::from_utf8_lossy(&output.expect("ip neigh").stdout).trim().to_owned();
        if entry.contains(&mac) || start.elapsed() > Duration::from_secs(1) {
            break entry;
        }
    };
    libos.close(q).unwrap();
    assert!(entry.contains(&mac) && !entry.contains(stale), "Linux's entry for catnip: {entry:?}, catnip's MAC {mac}");
    println!("Linux took catnip's MAC address {mac} from its ARP announcement in {:?}: {entry}", start.elapsed());
}

// ---- (a) the kernel pings catnip ----

/// `ip netns exec demipeer ping` catnip `count` times at `interval`; returns the average RTT in ms. The
/// kernel's neighbour cache is flushed first, so it must resolve catnip's MAC by ARP.
fn linux_pings(libos: &mut Libos, count: usize, interval: &str) -> f64 {
    sh(&["ip", "netns", "exec", NAMESPACE, "ip", "neigh", "flush", "dev", "dk1"]);
    let count = count.to_string();
    let (mut child, stdout) = in_namespace(&["ping", "-c", &count, "-i", interval, "-W", "2", "10.99.0.1"]);
    let queue = libos.queue().unwrap();
    let status = serve_until_exit(libos, &mut child, |libos| idle(libos, queue));
    libos.close(queue).unwrap();
    let output = rest_of(stdout);
    print!("{output}");
    assert!(status.success(), "ping catnip failed: {status}");
    assert!(output.contains(&format!("{count} packets transmitted, {count} received")), "{output}");
    ping_average(&output)
}

fn linux_pings_linux(count: usize, interval: &str) -> f64 {
    let count = count.to_string();
    let (mut child, stdout) = in_namespace(&["ping", "-c", &count, "-i", interval, "-W", "2", "10.99.0.1"]);
    let status = child.wait().expect("ping");
    let output = rest_of(stdout);
    print!("{output}");
    assert!(status.success(), "ping Linux on dk0 failed");
    ping_average(&output)
}

/// The average of "rtt min/avg/max/mdev = 0.051/0.062/0.090/0.010 ms".
fn ping_average(output: &str) -> f64 {
    output
        .lines()
        .find_map(|l| l.split(" = ").nth(1).filter(|_| l.starts_with("rtt")))
        .and_then(|v| v.split('/').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no rtt line in {output}"))
}

// ---- (b) a Linux TCP client against a catnip echo server ----

/// Echoes several sizes on one connection, then one message on each of ten concurrent connections, then times
/// 2000 round trips of 64 bytes; prints "p50_us <value>".
const ECHO_CLIENT: &str = r#"
import socket, sys, time
addr = (sys.argv[1], int(sys.argv[2]))
def recv_exactly(s, n):
    got = bytearray()
    while len(got) < n:
        chunk = s.recv(n - len(got))
        if not chunk:
            raise SystemExit(f"echo ended after {len(got)} of {n} bytes")
        got += chunk
    return bytes(got)
s = socket.create_connection(addr, timeout=20)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for size in (1, 100, 1460, 5000, 70000, 1 << 20):
    data = bytes((i * 7 + size) % 251 for i in range(size))
    s.sendall(data)
    assert recv_exactly(s, size) == data, f"{size}-byte echo differs"
    print(f"echo {size} bytes ok", flush=True)
conns = [socket.create_connection(addr, timeout=20) for _ in range(10)]
for i, c in enumerate(conns):
    c.sendall(f"connection {i}".encode())
for i, c in enumerate(conns):
    assert recv_exactly(c, len(f"connection {i}")) == f"connection {i}".encode()
    c.close()
print("10 concurrent connections ok", flush=True)
msg = b"x" * 64
times = []
for _ in range(2000):
    t = time.perf_counter()
    s.sendall(msg)
    recv_exactly(s, 64)
    times.append(time.perf_counter() - t)
s.close()
times.sort()
print(f"p50_us {times[len(times) // 2] * 1e6:.1f}", flush=True)
print(f"p99_us {times[len(times) * 99 // 100] * 1e6:.1f}", flush=True)
"#;

fn p50_of(output: &str) -> f64 {
    output
        .lines()
        .find_map(|l| l.strip_prefix("p50_us "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no p50 in {output}"))
}

/// Returns the p50 round trip in microseconds.
fn linux_tcp_client_to_echo_server(libos: &mut Libos) -> f64 {
    let mut server = EchoServer::new(libos, 7, 32);
    let (mut child, stdout) = python(ECHO_CLIENT, &["10.99.0.1", "7"]);
    let status = serve_until_exit(libos, &mut child, |libos| server.step(libos));
    let output = rest_of(stdout);
    print!("{output}");
    assert!(status.success(), "Linux TCP client against the catnip echo server failed: {status}");
    assert_eq!(server.connections, 11, "one connection for the sizes, ten concurrent ones");
    server.close(libos);
    p50_of(&output)
}

/// The same client against a Python echo server on Linux's dk0 (after catnip is gone).
fn linux_tcp_client_to_linux_echo_server() -> f64 {
    const SERVER: &str = r#"
import socket, threading
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.99.0.1", 7))
l.listen(32)
print("ready", flush=True)
def serve(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while data := c.recv(1 << 20):
        c.sendall(data)
    c.close()
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;
    let mut server = Command::new(PYTHON).args(["-c", SERVER]).stdout(Stdio::piped()).spawn().expect("spawn");
    let mut server_out = BufReader::new(server.stdout.take().expect("piped"));
    wait_ready(&mut server_out);
    let (mut child, stdout) = python(ECHO_CLIENT, &["10.99.0.1", "7"]);
    let status = child.wait().expect("client");
    let _ = server.kill();
    let _ = server.wait();
    let output = rest_of(stdout);
    print!("{output}");
    assert!(status.success(), "Linux TCP client against the Linux echo server failed");
    p50_of(&output)
}

// ---- (c) catnip as a TCP client of a Linux server: 16 MiB each way ----

fn tcp_client_to_linux_server(libos: &mut Libos) {
    let (output, elapsed, catnip) = bulk_both_ways(libos, NAMESPACE, SocketAddrV4::new(LINUX, 5001), BULK);
    // Linux's own view of the connection (TCP_INFO): ECN agreed in the handshake, ECN-capable segments received,
    // timestamps agreed.
    assert!(output.contains("ecn agreed True seen True"), "Linux's TCP_INFO: {output}");
    assert!(output.contains("timestamps True"), "Linux's TCP_INFO: {output}");
    println!(
        "TCP catnip -> Linux and back: {} MiB each way, SHA-256 equal both ways, {:.2} s ({:.0} Mbit/s both ways), \
         catnip's receive buffer grown {} times",
        BULK >> 20,
        elapsed.as_secs_f64(),
        (2 * BULK * 8) as f64 / elapsed.as_secs_f64() / 1e6,
        catnip.recv_buffer_grown
    );
}

// ---- (c0) a Linux peer without timestamps (as Windows by default): catnip's receive tuning times windows ----

/// Sets `net.ipv4.tcp_timestamps` in the peer's namespace to 0 while it lives, then back to 1 (Linux's default).
struct NoTimestamps;

impl NoTimestamps {
    fn set(value: u8) {
        sh(&["ip", "netns", "exec", NAMESPACE, "sysctl", "-qw", &format!("net.ipv4.tcp_timestamps={value}")]);
    }

    fn up() -> Self {
        Self::set(0);
        Self
    }
}

impl Drop for NoTimestamps {
    fn drop(&mut self) {
        Self::set(1);
    }
}

fn tcp_to_linux_without_timestamps(libos: &mut Libos) {
    let _guard = NoTimestamps::up();
    let (output, elapsed, catnip) = bulk_both_ways(libos, NAMESPACE, SocketAddrV4::new(LINUX, 5006), BULK);
    assert!(output.contains("timestamps False"), "Linux's TCP_INFO: {output}");
    // Linux sends as fast as catnip's window lets it and the test pops all it gets: the buffer grows, its round
    // trip timed by windows (there is no TSecr to read).
    assert!(catnip.recv_buffer_grown > 0, "{catnip:?}");
    println!(
        "TCP catnip -> Linux and back without timestamps: {} MiB each way, SHA-256 equal both ways, {:.2} s, \
         catnip's receive buffer grown {} times",
        BULK >> 20,
        elapsed.as_secs_f64(),
        catnip.recv_buffer_grown
    );
}

// ---- (c') ECN with congestion marks both ways: catnip asks for Accurate ECN, Linux answers RFC 3168 ----

/// Bytes each way in the marked transfer.
const BULK_ECN: usize = 4 << 20;

/// An nftables table in demipeer that marks one ECN-capable datagram in fifty CE (as a router's queue would
/// instead of dropping it), both those catnip sends and those Linux sends it, while the guard lives. This
/// kernel has no marking qdisc (no netem, RED or fq_codel); `ci/netns.sh` installs nft. Linux's TCP hands the
/// hooks GSO batches of up to 44 segments, cut into datagrams after them, so dk1 takes batches of one segment
/// meanwhile (`gso_max_segs 1`): else one draw marked a whole batch, and a run of some 66 batches saw none in a
/// quarter of the runs.
struct MarkingPath;

const MARKING_RULES: &str = "table ip demimark {
  chain in {
    type filter hook prerouting priority mangle; policy accept;
    ip saddr 10.99.0.1 ip ecn ect0 numgen random mod 50 == 0 ip ecn set ce
  }
  chain out {
    type filter hook postrouting priority mangle; policy accept;
    ip daddr 10.99.0.1 ip ecn ect0 numgen random mod 50 == 0 ip ecn set ce
  }
}
";

impl MarkingPath {
    fn up() -> Self {
        let mut nft = Command::new("ip")
            .args(["netns", "exec", NAMESPACE, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft (ci/netns.sh installs it)");
        std::io::Write::write_all(&mut nft.stdin.take().expect("piped"), MARKING_RULES.as_bytes()).expect("rules");
        assert!(nft.wait().expect("nft").success(), "nft refused the marking rules");
        sh(&["ip", "netns", "exec", NAMESPACE, "ip", "link", "set", "dk1", "gso_max_segs", "1"]);
        Self
    }
}

impl Drop for MarkingPath {
    fn drop(&mut self) {
        let undo: [&[&str]; 2] =
            [&["nft", "delete", "table", "ip", "demimark"], &["ip", "link", "set", "dk1", "gso_max_segs", "65535"]];
        for args in undo {
            let _ = Command::new("ip").args(["netns", "exec", NAMESPACE]).args(args).status();
        }
    }
}

/// Segments of ours the peer reported CE-marked, from the bulk server's "ce delivered D received R" line.
fn linux_delivered_ce(output: &str) -> u64 {
    let line = output.lines().find_map(|l| l.strip_prefix("ce delivered ")).unwrap_or_else(|| panic!("{output}"));
    let delivered = line.split_whitespace().next().unwrap_or_default();
    delivered.parse().unwrap_or_else(|_| panic!("{line}"))
}

/// catnip asks for Accurate ECN; this kernel (whose net.ipv4.tcp_ecn takes 0 to 2: it does not negotiate Accurate
/// ECN) answers as RFC 3168 asks, and both ends then run classic ECN through marks both ways: each echoes the other's marks and reduces its window
/// for the marks on its own data, and nothing is resent.
fn tcp_with_ecn_marks_both_ways(libos: &mut Libos) {
    let marking = MarkingPath::up();
    let (output, elapsed, catnip) = bulk_both_ways(libos, NAMESPACE, SocketAddrV4::new(LINUX, 5004), BULK_ECN);
    drop(marking);
    assert!(output.contains("ecn agreed True seen True"), "Linux's TCP_INFO: {output}");
    let linux_delivered = linux_delivered_ce(&output);
    assert!(catnip.ecn_ce_received > 0, "the rule marked some of Linux's data: {catnip:?}");
    assert!(linux_delivered > 0, "catnip's ECE told Linux of the marks on its data: {output}");
    assert!(catnip.ecn_reductions > 0, "Linux's ECE made catnip reduce its window: {catnip:?}");
    assert_eq!(catnip.ecn_ce_reported, 0, "classic ECN, not Accurate ECN: {catnip:?}");
    println!(
        "TCP catnip <-> Linux with ECN (Accurate ECN asked, RFC 3168 agreed), nftables marking 2% each way: {} MiB \
         each way in {:.2} s, SHA-256 equal; marks on Linux's data counted by catnip {}, segments Linux counts \
         as reported marked {linux_delivered}; catnip's window reductions {}, retransmissions {}",
        BULK_ECN >> 20,
        elapsed.as_secs_f64(),
        catnip.ecn_ce_received,
        catnip.ecn_reductions,
        catnip.retransmits
    );
}

/// catnip connects to `BULK_SERVER` run in `namespace` at `server`, sends `size` pseudo-random bytes and
/// receives as many; both checked by SHA-256 (Linux answers the digest of what it received and prints the
/// digest of what it sent). Returns the rest of what the server printed (its TCP_INFO), the time taken and
/// catnip's counters of the connection.
fn bulk_both_ways(
    libos: &mut Libos,
    namespace: &str,
    server: SocketAddrV4,
    size: usize,
) -> (String, Duration, TcpCounters) {
    let args = [PYTHON, "-c", BULK_SERVER, &size.to_string(), &server.ip().to_string(), &server.port().to_string()];
    let (mut child, mut stdout) = in_named_namespace(namespace, &args);
    wait_ready(&mut stdout);
    let started = Instant::now();
    let qd = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    let qt = libos.connect(qd, server).unwrap();
    let result = libos.wait(qt, TIMEOUT).unwrap();
    assert!(matches!(result.value, Ok(QValue::Connected)), "connect to {server}: {result:?}");
    println!("catnip connected to Linux at {server}");

    let mut sent_hash = Sha256::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..size / (256 << 10) {
        let mut block = vec![0u8; 256 << 10];
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        sent_hash.update(&block);
        let qt = libos.push(qd, &Sga::from_slice(&block).unwrap()).unwrap();
        libos.wait(qt, TIMEOUT).unwrap().value.expect("push");
    }
    let sent_digest = sent_hash.finalize();
    let mut received = Vec::new();
    let mut received_hash = Sha256::new();
    let mut received_len = 0;
    loop {
        let qt = libos.pop(qd, None).unwrap();
        let QValue::Popped { sga, .. } = libos.wait(qt, TIMEOUT).unwrap().value.expect("pop") else { panic!() };
        if sga.is_empty() {
            break;
        }
        received_len += split_digest(&sga, &mut received, &mut received_hash);
    }
    let elapsed = started.elapsed();
    let counters = libos.tcp_counters(qd).expect("counters");
    libos.close(qd).unwrap();
    let status = serve_until_exit(libos, &mut child, |libos| {
        let q = libos.queue().unwrap();
        idle(libos, q);
        libos.close(q).unwrap();
    });
    let output = rest_of(stdout);
    print!("{output}");
    assert!(status.success(), "the Linux bulk server failed: {status}");
    assert_eq!(received.as_slice(), sent_digest.as_slice(), "Linux received exactly the bytes catnip sent");
    assert_eq!(received_len, size, "catnip received all of Linux's bytes");
    let linux_digest = output.lines().next().unwrap_or_default().trim().to_owned();
    assert_eq!(hex(&received_hash.finalize()), linux_digest, "catnip received exactly the bytes Linux sent");
    (output, elapsed, counters)
}

/// Pops from `qd` until the peer's end of stream; returns the bytes.
fn read_to_end(libos: &mut Libos, qd: QDesc) -> Vec<u8> {
    let mut received = Vec::new();
    loop {
        let qt = libos.pop(qd, None).unwrap();
        let QValue::Popped { sga, .. } = libos.wait(qt, TIMEOUT).unwrap().value.expect("pop") else { panic!() };
        if sga.is_empty() {
            return received;
        }
        received.extend_from_slice(&sga.to_vec());
    }
}

// ---- (c'') tiny segments from Linux to a catnip reader that waits ----

/// Bytes Linux sends one `send` at a time.
const TINY: usize = 10_000;

/// Linux sends `TINY` bytes one `send` call each, 50 us apart (TCP_NODELAY, and autocorking off in the
/// namespace, so most go out as segments of a byte or a few) to a catnip socket whose application pops nothing until Linux is done.
/// catnip's receive queue copies runs of small segments out of their mbufs (`inetstack`'s `receive_queue.rs`),
/// so it holds few of the port's mbufs; views of every segment held one mbuf each, thousands of the pool.
fn tiny_segments_to_a_reader_that_waits(libos: &mut Libos) {
    const CLIENT: &str = r#"
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
data = bytes(i % 251 for i in range(int(sys.argv[3])))
for i in range(len(data)):
    s.sendall(data[i:i + 1])
    time.sleep(0.00005)
time.sleep(0.5)
s.close()
"#;
    let autocorking = |value: &str| {
        sh(&["ip", "netns", "exec", NAMESPACE, "sysctl", "-qw", &format!("net.ipv4.tcp_autocorking={value}")])
    };
    autocorking("0");
    let listener = common::listen(libos, 5003, 1);
    let accept = libos.accept(listener).unwrap();
    let (mut child, stdout) = python(CLIENT, &["10.99.0.1", "5003", &TINY.to_string()]);
    let QValue::Accepted { qd, .. } = libos.wait(accept, TIMEOUT).unwrap().value.expect("accept") else { panic!() };
    // Nothing is popped while Linux sends: every byte waits in the stack.
    let status = serve_until_exit(libos, &mut child, |libos| {
        let q = libos.queue().unwrap();
        idle(libos, q);
        libos.close(q).unwrap();
    });
    autocorking("1");
    print!("{}", rest_of(stdout));
    assert!(status.success(), "the Linux client failed: {status}");
    let counters = libos.tcp_counters(qd).expect("counters");
    let held = catnip::dpdk::lent_mbufs();
    println!(
        "TCP Linux -> catnip, {TINY} bytes in {} segments, nothing read yet: {held} mbufs held",
        counters.segments_in
    );
    assert!(counters.segments_in > 1_000, "Linux sent small segments: {counters:?}");
    assert!(held < 100, "{held} mbufs held for {TINY} bytes in {} segments", counters.segments_in);
    let received = read_to_end(libos, qd);
    let sent: Vec<u8> = (0..TINY).map(|i| (i % 251) as u8).collect();
    assert!(received == sent, "catnip received every byte once, in order ({} of {TINY})", received.len());
    libos.close(qd).unwrap();
    libos.close(listener).unwrap();
}

// ---- (c''') data waiting on many connections: past the limit on received data, and the mbuf pool ----

/// Connections Linux opens to catnip, and the bytes it sends on each.
const WAITING_CONNECTIONS: usize = 64;
const WAITING_BYTES: usize = 200_000;
/// The instance's limit on what all TCP connections hold of received data (`[catnip] receive_memory`).
const RECEIVE_MEMORY: usize = 8 << 20;
/// What each connection may hold past that limit: its floor (4 KiB, inetstack's `memory_limit.rs`) and a segment.
const PER_CONNECTION_SLACK: usize = 4096 + 1460;

/// Linux opens `WAITING_CONNECTIONS` connections to catnip and sends `WAITING_BYTES` on each (under the 256 KiB
/// window: 12.8 MB in all), while catnip's application reads nothing until what catnip holds stops growing.
/// Two bounds hold:
/// - what the stack holds stays under `RECEIVE_MEMORY`, but for a floor and a segment per connection: the
///   segments past it are acknowledged without being taken, and Linux sends them again later;
/// - the device lends at most half the port's pool of 8191 mbufs: the frames held (about 5 800 full ones) are
///   more than that, so the device copies the rest (lent as they arrived, they would empty the pool and the port
///   would stop receiving).
///
/// Then the application reads every connection at once: every byte arrives, once, in order.
fn data_waiting_on_many_connections(libos: &mut Libos) {
    const CLIENT: &str = r#"
import fcntl, select, socket, struct, sys, termios, time
n, size = int(sys.argv[3]), int(sys.argv[4])
base = bytes(i % 251 for i in range(size + 251))
socks = [socket.create_connection((sys.argv[1], int(sys.argv[2]))) for _ in range(n)]
for s in socks:
    s.setblocking(False)
sent = [0] * n
deadline = time.time() + 100
while any(k < size for k in sent):
    if time.time() > deadline:
        sys.exit(f"sent {sum(sent)} of {n * size} bytes")
    waiting = [s for c, s in enumerate(socks) if sent[c] < size]
    for s in select.select([], waiting, [], 0.1)[1]:
        c = socks.index(s)
        try:
            sent[c] += s.send(base[c + sent[c]:c + size])
        except BlockingIOError:
            pass
print("all sent", flush=True)
unacked = lambda s: struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ, b"\0\0\0\0"))[0]
while any(unacked(s) for s in socks):
    if time.time() > deadline:
        sys.exit("catnip did not acknowledge everything")
    time.sleep(0.05)
print("all acknowledged", flush=True)
for s in socks:
    s.close()
"#;
    let listener = common::listen(libos, 5004, 128);
    let mut accept = Some(libos.accept(listener).unwrap());
    let mut accepted = Vec::new();
    let args = ["10.99.0.1", "5004", &WAITING_CONNECTIONS.to_string(), &WAITING_BYTES.to_string()];
    let (mut child, stdout) = python(CLIENT, &args);
    // Nothing read until every connection is accepted and what catnip holds has not grown for a second. Once
    // all are accepted, a pop that never completes keeps catnip running.
    let idle = libos.queue().unwrap();
    let never = libos.pop(idle, None).unwrap();
    let (mut most_held, mut most_lent, mut grew) = (0, 0, Instant::now());
    while accepted.len() < WAITING_CONNECTIONS || grew.elapsed() < Duration::from_secs(1) {
        assert!(grew.elapsed() < SCENARIO_LIMIT, "nothing arrived for {SCENARIO_LIMIT:?}");
        if let Ok(result) = libos.wait(accept.unwrap_or(never), Some(Duration::from_millis(1))) {
            let Ok(QValue::Accepted { qd, .. }) = result.value else { panic!("accept: {result:?}") };
            accepted.push(qd);
            accept = (accepted.len() < WAITING_CONNECTIONS).then(|| libos.accept(listener).unwrap());
        }
        let held = libos.tcp_receive_memory_held();
        if held > most_held {
            (most_held, grew) = (held, Instant::now());
        }
        most_lent = most_lent.max(catnip::dpdk::lent_mbufs());
    }
    let refused: u64 = accepted.iter().map(|&qd| libos.tcp_counters(qd).expect("counters").drops.receive_memory).sum();
    println!(
        "TCP Linux -> catnip, {WAITING_CONNECTIONS} connections x {WAITING_BYTES} bytes, nothing read: at most \
         {most_held} bytes held (limit {RECEIVE_MEMORY}), {refused} segments refused, at most {most_lent} mbufs \
         lent (pool 8191)"
    );
    assert!(most_held > RECEIVE_MEMORY - 2 * 1460, "the limit was reached: {most_held}");
    assert!(most_held <= RECEIVE_MEMORY + WAITING_CONNECTIONS * PER_CONNECTION_SLACK, "{most_held} bytes held");
    assert!(refused > 0, "segments past the limit were refused");
    assert!(most_lent <= 8191 / 2, "{most_lent} mbufs lent");

    // Every connection read at once: Linux sends again what was refused, and finishes.
    let mut received = vec![Vec::new(); WAITING_CONNECTIONS];
    let mut reads: Vec<Option<_>> = accepted.iter().map(|&qd| Some(libos.pop(qd, None).unwrap())).collect();
    let start = Instant::now();
    while reads.iter().any(Option::is_some) {
        assert!(start.elapsed() < SCENARIO_LIMIT, "read {:?}", received.iter().map(Vec::len).collect::<Vec<_>>());
        let pending: Vec<(usize, _)> = reads.iter().enumerate().filter_map(|(i, qt)| qt.map(|qt| (i, qt))).collect();
        let qts: Vec<_> = pending.iter().map(|&(_, qt)| qt).collect();
        let Ok((at, result)) = libos.wait_any(&qts, Some(Duration::from_millis(1))) else { continue };
        let i = pending[at].0;
        let QValue::Popped { sga, .. } = result.value.expect("pop") else { panic!() };
        reads[i] = (!sga.is_empty()).then(|| libos.pop(accepted[i], None).unwrap());
        received[i].extend_from_slice(&sga.to_vec());
    }
    let status = child.wait().expect("the Linux client");
    print!("{}", rest_of(stdout));
    assert!(status.success(), "the Linux client failed: {status}");
    println!("  then read in {:.2} s", start.elapsed().as_secs_f64());
    let base: Vec<u8> = (0..WAITING_BYTES + 251).map(|i| (i % 251) as u8).collect();
    let mut firsts = Vec::new();
    for (bytes, qd) in received.iter().zip(accepted) {
        let first = usize::from(*bytes.first().expect("data"));
        assert!(
            bytes[..] == base[first..first + WAITING_BYTES],
            "connection from byte {first}: every byte once, in order"
        );
        firsts.push(first);
        libos.close(qd).unwrap();
    }
    firsts.sort_unstable();
    assert_eq!(firsts, (0..WAITING_CONNECTIONS).collect::<Vec<_>>(), "one connection each");
    assert_eq!(libos.tcp_receive_memory_held(), 0, "everything read was given back");
    libos.close(idle).unwrap();
    libos.close(listener).unwrap();
}

// ---- (c'''') pushes to many connections whose reader waits: past the limit on data to send ----

/// Connections Linux opens to catnip, and the bytes catnip pushes on each.
const PUSHED_CONNECTIONS: usize = 64;
const PUSHED_BYTES: usize = 600_000;
/// The instance's limit on what all TCP connections hold of data to send (`[catnip] send_memory`).
const SEND_MEMORY: usize = 4 << 20;
/// What each connection may hold past that limit: its floor (4 KiB, inetstack's `memory_limit.rs`).
const SEND_FLOOR: usize = 4096;

/// Linux opens `PUSHED_CONNECTIONS` connections to catnip, and a last one to be told when to read; catnip's
/// application pushes `PUSHED_BYTES` on each at once (38.4 MB in all) while Linux reads nothing. Linux's
/// receive buffers take some of it; without a limit catnip would then hold a full send buffer (256 KiB) on each
/// connection, 16 MiB. With `SEND_MEMORY` it holds no more than that, but for a floor per connection, and the
/// pushes wait. Then Linux reads every connection: each push is woken as its connection's data is acknowledged,
/// every byte arrives once, in order, and catnip gives back what it held.
fn pushes_to_many_connections_that_wait(libos: &mut Libos) {
    const CLIENT: &str = r#"
import select, socket, sys, time
n, size = int(sys.argv[3]), int(sys.argv[4])
socks = [socket.create_connection((sys.argv[1], int(sys.argv[2]))) for _ in range(n)]
control = socket.create_connection((sys.argv[1], int(sys.argv[2])))
control.settimeout(100)
if control.recv(1) != b"r":
    sys.exit("no word to read")
base = bytes(i % 251 for i in range(size + 251))
got = [bytearray() for _ in range(n)]
deadline = time.time() + 100
while any(len(g) < size for g in got):
    if time.time() > deadline:
        sys.exit(f"read {sum(map(len, got))} of {n * size} bytes")
    for s in select.select([s for c, s in enumerate(socks) if len(got[c]) < size], [], [], 0.1)[0]:
        got[socks.index(s)] += s.recv(1 << 20)
firsts = sorted(g[0] for g in got)
if firsts != list(range(n)) or any(g != base[g[0]:g[0] + size] for g in got):
    sys.exit("bytes out of order, lost or repeated")
print("all read", flush=True)
for s in socks + [control]:
    s.close()
"#;
    let listener = common::listen(libos, 5005, 128);
    let args = ["10.99.0.1", "5005", &PUSHED_CONNECTIONS.to_string(), &PUSHED_BYTES.to_string()];
    let (mut child, stdout) = python(CLIENT, &args);
    // Linux connects one after the other, so catnip accepts the data connections first and the control last.
    let mut accepted = Vec::new();
    let start = Instant::now();
    while accepted.len() <= PUSHED_CONNECTIONS {
        assert!(start.elapsed() < SCENARIO_LIMIT, "accepted {}", accepted.len());
        let qt = libos.accept(listener).unwrap();
        let Ok(QValue::Accepted { qd, .. }) = libos.wait(qt, TIMEOUT).expect("accept").value else { panic!() };
        accepted.push(qd);
    }
    let control = accepted.pop().expect("the control connection");
    // Each connection's bytes start at its own index in a repeating pattern, so Linux can tell them apart.
    let base: Vec<u8> = (0..PUSHED_BYTES + 251).map(|i| (i % 251) as u8).collect();
    let mut pushes: Vec<Option<_>> = accepted
        .iter()
        .enumerate()
        .map(|(c, &qd)| Some(libos.push(qd, &Sga::from_slice(&base[c..c + PUSHED_BYTES]).unwrap()).unwrap()))
        .collect();
    // Nothing read until what catnip holds has not grown for a second.
    let idle = libos.queue().unwrap();
    let never = libos.pop(idle, None).unwrap();
    let (mut most_held, mut grew) = (0, Instant::now());
    while grew.elapsed() < Duration::from_secs(1) {
        assert!(start.elapsed() < SCENARIO_LIMIT, "still growing: {most_held}");
        let _ = libos.wait(never, Some(Duration::from_millis(1)));
        let held = libos.tcp_send_memory_held();
        if held > most_held {
            (most_held, grew) = (held, Instant::now());
        }
    }
    println!(
        "TCP catnip -> Linux, {PUSHED_CONNECTIONS} connections x {PUSHED_BYTES} bytes pushed, nothing read: at most \
         {most_held} bytes held (limit {SEND_MEMORY})"
    );
    assert!(most_held >= SEND_MEMORY, "the limit was reached: {most_held}");
    assert!(most_held <= SEND_MEMORY + PUSHED_CONNECTIONS * SEND_FLOOR, "{most_held} bytes held");
    assert!(libos.wait(pushes[0].expect("push"), Some(Duration::ZERO)).is_err(), "the pushes wait");

    // Linux reads: every push completes.
    let word = libos.push(control, &Sga::from_slice(b"r").unwrap()).unwrap();
    libos.wait(word, TIMEOUT).expect("the word to read").value.expect("pushed");
    let reading = Instant::now();
    while pushes.iter().any(Option::is_some) {
        assert!(reading.elapsed() < SCENARIO_LIMIT, "pushes left: {}", pushes.iter().flatten().count());
        let pending: Vec<(usize, _)> = pushes.iter().enumerate().filter_map(|(i, qt)| qt.map(|qt| (i, qt))).collect();
        let qts: Vec<_> = pending.iter().map(|&(_, qt)| qt).collect();
        let Ok((at, result)) = libos.wait_any(&qts, Some(Duration::from_millis(1))) else { continue };
        assert!(matches!(result.value, Ok(QValue::Pushed)), "push: {result:?}");
        pushes[pending[at].0] = None;
    }
    let status = serve_until_exit(libos, &mut child, |libos| {
        let _ = libos.wait(never, Some(Duration::from_millis(1)));
    });
    print!("{}", rest_of(stdout));
    assert!(status.success(), "the Linux client failed: {status}");
    println!("  then read in {:.2} s", reading.elapsed().as_secs_f64());
    assert_eq!(libos.tcp_send_memory_held(), 0, "everything acknowledged was given back");
    for qd in accepted.into_iter().chain([control, idle, listener]) {
        libos.close(qd).unwrap();
    }
}

// ---- (d) UDP both ways ----

const UDP_CLIENT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for size in (1, 512, 1472):
    data = bytes((i + size) % 256 for i in range(size))
    s.sendto(data, ("10.99.0.1", 9))
    got, peer = s.recvfrom(4096)
    assert got == data and peer == ("10.99.0.1", 9), (len(got), peer)
    print(f"udp echo {size} bytes from catnip ok", flush=True)
"#;

const UDP_SERVER: &str = r#"
import hashlib, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.99.0.2", 9999))
s.settimeout(20)
print("ready", flush=True)
for _ in range(5):
    data, peer = s.recvfrom(65536)
    s.sendto(hashlib.sha256(data).digest(), peer)
    print(f"udp: {len(data)} bytes from {peer[0]}:{peer[1]}, SHA-256 sent back", flush=True)
"#;

fn udp_both_ways(libos: &mut Libos) {
    // Linux client -> catnip server.
    let qd = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
    libos.bind(qd, SocketAddrV4::new(CATNIP, 9)).unwrap();
    let mut pop = libos.pop(qd, None).unwrap();
    let (mut child, stdout) = python(UDP_CLIENT, &[]);
    let status = serve_until_exit(libos, &mut child, |libos| {
        let Ok(result) = libos.wait(pop, Some(Duration::from_millis(1))) else { return };
        let Ok(QValue::Popped { sga, from: Some(from) }) = result.value else { panic!("udp pop: {result:?}") };
        let qt = libos.pushto(qd, &sga, from).unwrap();
        libos.wait(qt, TIMEOUT).unwrap().value.expect("udp pushto");
        pop = libos.pop(qd, None).unwrap();
    });
    print!("{}", rest_of(stdout));
    assert!(status.success(), "Linux UDP client against catnip failed: {status}");

    // catnip client -> Linux server.
    let (mut child, mut stdout) = python(UDP_SERVER, &[]);
    wait_ready(&mut stdout);
    let server = SocketAddrV4::new(LINUX, 9999);
    // Beyond 1 472 bytes catnip sends the datagrams in IPv4 fragments, which Linux reassembles (its UDP checksum
    // then covers the whole). Linux answers each with its SHA-256: its own fragments could not come back over
    // this port (DPDK's net_af_packet reads through a packet socket in a fanout group with the kernel's
    // defragmentation, PACKET_FANOUT_FLAG_DEFRAG, whose rebuilt datagrams overflow its 2 KiB ring frames and
    // are dropped; tap_offload.rs sends Linux's fragments to catnip over net_tap instead).
    for size in [1, 512, 1472, 4000, 30_000] {
        let message: Vec<u8> = (0..size).map(|i| (i * 3 + size) as u8).collect();
        let qt = libos.pushto(qd, &Sga::from_slice(&message).unwrap(), server).unwrap();
        libos.wait(qt, TIMEOUT).unwrap().value.expect("pushto Linux");
        let result = libos.wait(pop, TIMEOUT).unwrap();
        match result.value {
            Ok(QValue::Popped { sga, from }) => {
                assert_eq!(sga.to_vec(), Sha256::digest(&message)[..], "Linux received the {size} bytes whole");
                assert_eq!(from, Some(server));
            }
            other => panic!("udp pop: {other:?}"),
        }
        pop = libos.pop(qd, None).unwrap();
        println!("udp: {size} bytes to Linux, its SHA-256 back, equal");
    }
    let status = child.wait().expect("udp server");
    print!("{}", rest_of(stdout));
    assert!(status.success(), "the Linux UDP echo server failed: {status}");
    libos.close(qd).unwrap();
}

// ---- (e) through Linux as a router to a link of MTU 1280: path MTU discovery ----

/// The host behind the router (`ci/netns.sh`'s demifar).
const FAR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 98, 0, 2);
/// Bytes each way.
const THROUGH_ROUTER: usize = 4 << 20;

/// The ICMP destination-unreachable errors (fragmentation-needed among them) the router namespace has sent.
fn router_unreachables_sent() -> u64 {
    let output = Command::new("ip").args(["netns", "exec", NAMESPACE, "cat", "/proc/net/snmp"]).output().expect("snmp");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines().filter(|line| line.starts_with("IcmpMsg:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else { return 0 };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "OutType3")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

/// The largest segment the Linux server's TCP received, as `BULK_SERVER` prints it (`tcpi_rcv_mss`).
fn largest_segment(output: &str) -> usize {
    output
        .lines()
        .find_map(|line| line.strip_prefix("largest segment "))
        .and_then(|n| n.trim().parse().ok())
        .expect("largest segment")
}

fn tcp_through_a_router_with_a_smaller_mtu(libos: &mut Libos) {
    let unreachables_before = router_unreachables_sent();
    let (output, elapsed, _) = bulk_both_ways(libos, "demifar", SocketAddrV4::new(FAR, 5002), THROUGH_ROUTER);
    let largest = largest_segment(&output);
    assert!(largest <= 1280 - 40, "segments fit the 1280-byte link: {output}");
    let unreachables = router_unreachables_sent() - unreachables_before;
    assert!(unreachables >= 1, "Linux the router refused catnip's first segments with ICMP");
    println!(
        "TCP catnip -> Linux router -> MTU 1280 link and back: {} MiB each way in {:.2} s; the router sent \
         {unreachables} fragmentation-needed error(s); the largest segment that arrived held {largest} bytes",
        THROUGH_ROUTER >> 20,
        elapsed.as_secs_f64()
    );
}

// ---- (f) through Linux as a router to a link that drops what is too big, silently: an MTU black hole ----

/// The host behind the black hole (`ci/netns.sh`'s demihole).
const BEHIND_HOLE: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 97, 0, 2);

/// Datagrams the veth into demihole dropped (those too big for its far end).
fn black_hole_drops() -> u64 {
    let path = "/sys/class/net/dk4/statistics/tx_dropped";
    let output = Command::new("ip").args(["netns", "exec", NAMESPACE, "cat", path]).output().expect("tx_dropped");
    String::from_utf8_lossy(&output.stdout).trim().parse().expect("a count")
}

fn tcp_through_a_black_hole(libos: &mut Libos) {
    let (drops_before, unreachables_before) = (black_hole_drops(), router_unreachables_sent());
    let (output, elapsed, _) = bulk_both_ways(libos, "demihole", SocketAddrV4::new(BEHIND_HOLE, 5003), THROUGH_ROUTER);
    let largest = largest_segment(&output);
    // The far end takes 1284 bytes (a veth lets a VLAN tag's 4 bytes over its MTU): at most 1284 - 40 of
    // headers - 12 of timestamps. The first cut after the timeouts was to 1024 - 52; the probes raised it.
    assert!(largest <= 1284 - 52, "segments fit the link: {output}");
    assert!(largest > 1024 - 52, "the MTU probes raised the segments above the first cut: {output}");
    let drops = black_hole_drops() - drops_before;
    assert!(drops >= 1, "the link dropped catnip's first full-size segments");
    assert_eq!(router_unreachables_sent(), unreachables_before, "and nobody said so");
    println!(
        "TCP catnip -> Linux router -> black hole for datagrams over 1280 bytes and back: {} MiB each way in \
         {:.2} s; the link dropped {drops} datagram(s) without an ICMP error; the largest segment that arrived \
         held {largest} bytes",
        THROUGH_ROUTER >> 20,
        elapsed.as_secs_f64()
    );
}
