//! What the catnip tests on DPDK share. This file: EAL's arguments for one catnip on one lcore (with hugepage
//! detection), the checks made after a libOS on DPDK is dropped, and what the tests against Linux share (the
//! addresses, the namespace with its veth pair, set up by `ci/netns.sh` and removed on drop, processes inside it);
//! `skip`: whether a test can run here; `pair`: the two-process tests (`memif.rs`, `vhost.rs`).
//!
//! Each test binary uses a different subset, hence `dead_code` is allowed here (and only here).
#![allow(dead_code)]

pub mod pair;
pub mod skip;

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use catnip::dpdk::{DpdkConfig, DpdkStats};
use pdpix::{LibOs, QDesc, QToken, QValue, Sga, SocketDomain, SocketType};
use sha2::{Digest, Sha256};

pub const CATNIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
pub const LINUX: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
pub const NAMESPACE: &str = "demipeer";
pub const PYTHON: &str = "/usr/bin/python3";
/// How long the shared helpers wait for one operation.
const TIMEOUT: Option<Duration> = Some(Duration::from_secs(60));

/// Whether EAL can use hugepages here (mounted, enough free); `DPDK_SYS_NO_HUGE=1` forces `--no-huge`.
pub fn hugepages_usable() -> bool {
    if std::env::var("DPDK_SYS_NO_HUGE").as_deref() == Ok("1") {
        return false;
    }
    let mounted = std::fs::read_to_string("/proc/mounts").is_ok_and(|m| {
        m.lines().any(|l| l.split_whitespace().nth(1) == Some("/dev/hugepages") && l.contains("hugetlbfs"))
    });
    let free = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines().find_map(|l| l.strip_prefix("HugePages_Free:").and_then(|v| v.trim().parse::<u64>().ok()))
    });
    mounted && free.is_some_and(|f| f >= 256)
}

/// EAL's arguments for one catnip on lcore 0 with the device `vdev` (such as `--vdev=net_tap0,iface=x`) and the
/// runtime directory `prefix`: hugepages without files left behind if they are usable, else `--no-huge -m 512`.
/// Prints them.
pub fn eal_args(prefix: &str, vdev: &str) -> Vec<String> {
    let mut args: Vec<String> =
        ["-l", "0", "--no-pci", "--no-telemetry", "--log-level=lib.eal:notice"].map(str::to_owned).to_vec();
    args.push(format!("--file-prefix={prefix}"));
    if hugepages_usable() {
        args.push("--in-memory".to_owned());
    } else {
        args.extend(["--no-huge", "-m", "512", "--no-shconf"].map(str::to_owned));
    }
    args.push(vdev.to_owned());
    println!("EAL args: {}", args.join(" "));
    args
}

/// catnip at CATNIP on dk0, the host's end of the veth pair, through net_af_packet.
pub fn veth_config(prefix: &str) -> DpdkConfig {
    let mut config = DpdkConfig::new(eal_args(prefix, "--vdev=net_af_packet0,iface=dk0"), CATNIP, 24);
    config.device.port = Some("net_af_packet0".to_owned());
    config
}

/// After a libOS on DPDK is dropped: prints the device's statistics and checks that every transmitted payload
/// was released by the driver and every received mbuf given back. Returns the statistics for the test's own
/// checks.
pub fn check_released(what: &str) -> DpdkStats {
    let stats = catnip::dpdk::final_stats().expect("the device was dropped");
    println!("{what} device stats: {stats:?}");
    assert_eq!(catnip::dpdk::tx_pinned(), 0, "{what}: transmitted payloads still pinned after close");
    assert_eq!(catnip::dpdk::lent_mbufs(), 0, "{what}: received mbufs still lent after close");
    stats
}

/// The veth pair and namespace, removed when dropped (also when a scenario panics).
pub struct Namespace;

impl Namespace {
    pub fn up() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ci/netns.sh");
        let status = Command::new(script).arg("up").status().expect("run ci/netns.sh up");
        assert!(status.success(), "ci/netns.sh up failed: {status}");
        Self
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ci/netns.sh");
        let _ = Command::new(script).arg("down").status();
    }
}

/// A process in the namespace, with its stdout piped.
pub fn in_namespace(args: &[&str]) -> (Child, BufReader<ChildStdout>) {
    in_named_namespace(NAMESPACE, args)
}

/// A process in `namespace` (`ci/netns.sh`'s demipeer or demifar), with its stdout piped.
pub fn in_named_namespace(namespace: &str, args: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", namespace])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    (child, stdout)
}

/// Reads the child's "ready" line (its socket is bound).
pub fn wait_ready(stdout: &mut BufReader<ChildStdout>) {
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read the peer's stdout");
    assert_eq!(line.trim(), "ready", "the Linux peer did not start");
}

/// Everything the child prints after that.
pub fn rest_of(mut stdout: BufReader<ChildStdout>) -> String {
    let mut text = String::new();
    stdout.read_to_string(&mut text).expect("read the peer's stdout");
    text
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Receives N bytes and answers their SHA-256, then sends N bytes of its own and prints their SHA-256 in hex,
/// then what its TCP_INFO says (ECN, the largest segment received). Arguments: N, and optionally the address
/// and port to listen on (10.99.0.2, 5001).
pub const BULK_SERVER: &str = r#"
import hashlib, random, socket, struct, sys
n = int(sys.argv[1])
host, port = (sys.argv[2], int(sys.argv[3])) if len(sys.argv) > 3 else ("10.99.0.2", 5001)
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((host, port))
l.listen(1)
print("ready", flush=True)
c, peer = l.accept()
c.settimeout(120)
h, got = hashlib.sha256(), 0
while got < n:
    chunk = c.recv(min(1 << 20, n - got))
    if not chunk:
        raise SystemExit(f"stream ended after {got} of {n} bytes")
    h.update(chunk)
    got += len(chunk)
c.sendall(h.digest())
r = random.Random(7)
data = b"".join(r.randbytes(min(1 << 24, n - i)) for i in range(0, n, 1 << 24))
c.sendall(data)
print(hashlib.sha256(data).hexdigest(), flush=True)
# struct tcp_info's tcpi_options (byte 5): TCPI_OPT_ECN (8), ECN agreed; TCPI_OPT_ECN_SEEN (16), ECT received;
# TCPI_OPT_TIMESTAMPS (1), timestamps agreed.
info = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
print(f"ecn agreed {bool(info[5] & 8)} seen {bool(info[5] & 16)}", flush=True)
print(f"timestamps {bool(info[5] & 1)}", flush=True)
# tcpi_rcv_mss, the u32 at offset 20: the largest segment received.
print(f"largest segment {struct.unpack_from('I', info, 20)[0]}", flush=True)
# tcpi_delivered_ce (offset 196): segments of ours the peer reported CE-marked; tcpi_received_ce (offset 248,
# Linux 6.18 and later): CE-marked segments received (Accurate ECN's count), -1 on an older kernel.
received_ce = struct.unpack_from('I', info, 248)[0] if len(info) >= 252 else -1
print(f"ce delivered {struct.unpack_from('I', info, 196)[0]} received {received_ce}", flush=True)
c.close()
"#;

pub fn listen<L: LibOs>(libos: &mut L, port: u16, backlog: usize) -> QDesc {
    let qd = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    libos.bind(qd, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)).unwrap();
    libos.listen(qd, backlog).unwrap();
    qd
}

/// A TCP echo server run step by step on catnip (between the Linux peer's progress checks).
/// A catnip TCP echo server driven a step at a time.
pub struct EchoServer {
    pub listener: QDesc,
    accept: QToken,
    pops: Vec<(QDesc, QToken)>,
    pub connections: usize,
    pub most_open: usize,
}

impl EchoServer {
    pub fn new<L: LibOs>(libos: &mut L, port: u16, backlog: usize) -> Self {
        let listener = listen(libos, port, backlog);
        let accept = libos.accept(listener).unwrap();
        Self { listener, accept, pops: Vec::new(), connections: 0, most_open: 0 }
    }

    pub fn step<L: LibOs>(&mut self, libos: &mut L) {
        let mut tokens = vec![self.accept];
        tokens.extend(self.pops.iter().map(|&(_, qt)| qt));
        let Ok((i, result)) = libos.wait_any(&tokens, Some(Duration::from_millis(1))) else { return };
        if i == 0 {
            let Ok(QValue::Accepted { qd, .. }) = result.value else { panic!("accept: {result:?}") };
            self.connections += 1;
            self.pops.push((qd, libos.pop(qd, None).unwrap()));
            self.most_open = self.most_open.max(self.pops.len());
            self.accept = libos.accept(self.listener).unwrap();
            return;
        }
        let (qd, _) = self.pops.remove(i - 1);
        match result.value {
            Ok(QValue::Popped { sga, .. }) if !sga.is_empty() => {
                let qt = libos.push(qd, &sga).unwrap();
                libos.wait(qt, TIMEOUT).unwrap().value.expect("echo push");
                self.pops.push((qd, libos.pop(qd, None).unwrap()));
            }
            Ok(QValue::Popped { .. }) => libos.close(qd).unwrap(),
            other => panic!("echo pop: {other:?}"),
        }
    }

    pub fn close<L: LibOs>(self, libos: &mut L) {
        for (qd, _) in self.pops {
            libos.close(qd).unwrap();
        }
        libos.close(self.listener).unwrap();
    }
}

/// Reads a bulk reply that starts with the peer's 32-byte SHA-256 of what we sent: the first bytes (until 32
/// are collected) go to `digest`, the rest into `hash`. Returns how many bytes were hashed.
pub fn split_digest(sga: &Sga, digest: &mut Vec<u8>, hash: &mut Sha256) -> usize {
    let mut hashed = 0;
    for segment in sga.segments() {
        let mut bytes = &segment[..];
        if digest.len() < 32 {
            let take = bytes.len().min(32 - digest.len());
            digest.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        hash.update(bytes);
        hashed += bytes.len();
    }
    hashed
}
