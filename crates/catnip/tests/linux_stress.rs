//! catnip on DPDK against the Linux kernel's TCP/IP stack over the veth pair of `ci/netns.sh`, beyond
//! `linux_interop.rs`: under injected faults, at scale, and on every way a connection ends.
//!
//! ```text
//! catnip 10.99.0.1 -- DPDK net_af_packet on dk0 == veth == dk1 10.99.0.2 in namespace demipeer (Linux)
//! ```
//!
//! DPDK's EAL initialises once per process and the two parts need different devices, so the test function brings
//! the namespace up and spawns this test binary once per part, each running only the `role` test with
//! `CATNIP_STRESS_ROLE` naming it:
//! - `faults`: catnip's port wrapped in inetstack's `FaultInjector` (2% drop, 1% duplicate, 1% reorder, 0.5%
//!   corrupt, on receive and on transmit, seeded), catnip client -> Linux server: 32 MiB (`CATNIP_FAULTS_BULK_MIB`) each way on one connection,
//!   both checked by SHA-256; then a Linux client -> catnip server transfer (passive open under faults). The fault
//!   counters are printed and must be non-zero.
//! - `scale`: 100 concurrent connections each way (Linux clients -> catnip echo server, catnip clients -> Linux
//!   echo server); a bulk transfer each way checked by SHA-256 (`CATNIP_LINUX_BULK_MIB`, default 256 MiB; about
//!   10 s here in a release build); the peer closing first (catnip sees EOF, still sends, then closes); catnip
//!   closing first, as client and as server (Linux sees all data then EOF, and its socket does not stay in
//!   CLOSE-WAIT or LAST-ACK); a RST from a Linux client (SO_LINGER 0) seen by catnip as ECONNRESET; and catnip
//!   closing with SO_LINGER 0, seen by a Linux server as ECONNRESET.
//!
//! The namespace is removed and the children killed when the test ends, also on a panic. Needs root; when not root
//! it prints SKIPPED and passes, unless `DPDK_SYS_REQUIRE_TESTS=1`.
#![cfg(feature = "dpdk")]

mod common;

use std::cell::Cell;
use std::io::BufReader;
use std::net::SocketAddrV4;
use std::process::{Child, ChildStdout, Command, ExitStatus};
use std::rc::Rc;
use std::time::{Duration, Instant};

use catnip::NetDevice;
use catnip::dpdk::DpdkDevice;
use inetstack::device::{Device, DeviceCapabilities};
use inetstack::phy::{FaultConfig, FaultInjector};
use pdpix::{DemiBuffer, LibOs, QDesc, QToken, QValue, Sga, SocketDomain, SocketOption, SocketType};
use sha2::{Digest, Sha256};

use common::skip::{cannot_run_against_linux, skipped};
use common::{
    BULK_SERVER, CATNIP, EchoServer, LINUX, Namespace, PYTHON, hex, in_namespace, listen, rest_of, split_digest,
    veth_config, wait_ready,
};

const ROLE: &str = "CATNIP_STRESS_ROLE";
const TIMEOUT: Option<Duration> = Some(Duration::from_secs(60));
/// How long any one scenario may take.
const SCENARIO_LIMIT: Duration = Duration::from_secs(240);
const FAULTS: FaultConfig = FaultConfig { drop: 0.02, duplicate: 0.01, corrupt: 0.005, reorder: 0.01 };
const CONNECTIONS: usize = 100;

fn mib_var(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(default) << 20
}

// ---- the parent ----

#[test]
fn catnip_against_linux_under_faults_at_scale_and_on_close() {
    if std::env::var_os(ROLE).is_some() || skipped("catnip Linux stress test", cannot_run_against_linux()) {
        return;
    }
    let _namespace = Namespace::up();
    for role in ["faults", "scale"] {
        let prefix = format!("catnip-stress-{role}-{}", std::process::id());
        let exe = std::env::current_exe().expect("current_exe");
        let started = Instant::now();
        let child = Command::new(exe)
            .args(["role", "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env("CATNIP_STRESS_PREFIX", &prefix)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {role}: {e}"));
        let mut child = KillOnDrop(child);
        let status = wait_limited(&mut child.0, Duration::from_secs(400));
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
        assert!(status.is_some_and(|s| s.success()), "the {role} part failed: {status:?}");
        println!("part {role}: passed in {:.1} s", started.elapsed().as_secs_f64());
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_limited(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- the children ----

#[test]
fn role() {
    let Ok(role) = std::env::var(ROLE) else { return };
    // Die with the test process, even if it is killed outright (its guards cannot run then).
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and no pointers.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let prefix = std::env::var("CATNIP_STRESS_PREFIX").expect("CATNIP_STRESS_PREFIX");
    match role.as_str() {
        "faults" => faults(&prefix),
        "scale" => scale(&prefix),
        other => panic!("unknown role {other}"),
    }
}

/// inetstack's `FaultInjector` on catnip's port, with its counters copied out where the test can read them
/// (the stack owns the device).
#[derive(Debug)]
struct Faulty {
    inner: FaultInjector<DpdkDevice>,
    /// dropped, duplicated, corrupted, reordered.
    counters: Rc<Cell<[u64; 4]>>,
}

impl Faulty {
    fn publish(&self) {
        let c = &self.inner.counters;
        self.counters.set([c.dropped, c.duplicated, c.corrupted, c.reordered]);
    }
}

impl Device for Faulty {
    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }

    fn receive(&mut self) -> Option<DemiBuffer> {
        let frame = self.inner.receive();
        self.publish();
        frame
    }

    fn transmit(&mut self, frame: Sga) -> Result<(), Sga> {
        let result = self.inner.transmit(frame);
        self.publish();
        result
    }

    fn flush(&mut self) {
        self.inner.flush();
    }
}

impl NetDevice for Faulty {
    fn wait(&self, timeout: Option<Duration>) {
        self.inner.wait(timeout);
    }
}

fn faults(prefix: &str) {
    let counters = Rc::new(Cell::new([0u64; 4]));
    let shared = Rc::clone(&counters);
    let mut libos = catnip::dpdk::new_libos_with(&veth_config(prefix), |device| {
        println!("port {} offloads: {:?}", device.port_name(), device.offloads());
        Faulty { inner: FaultInjector::new(device, FAULTS, FAULTS, 0x5eed), counters: shared }
    })
    .unwrap_or_else(|e| panic!("catnip on DPDK with faults: {e}"));
    println!("catnip up at {CATNIP} on net_af_packet0 with faults on RX and TX: {FAULTS:?}");
    let n = mib_var("CATNIP_FAULTS_BULK_MIB", 32);
    let started = Instant::now();
    bulk_with_linux_server(&mut libos, n);
    let [dropped, duplicated, corrupted, reordered] = counters.get();
    println!(
        "faults so far: {dropped} dropped, {duplicated} duplicated, {corrupted} corrupted, {reordered} reordered \
         ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    linux_client_bulk_to_catnip(&mut libos, n);
    let [dropped, duplicated, corrupted, reordered] = counters.get();
    println!(
        "FAULTS injected by catnip's FaultInjector (RX and TX together): {dropped} dropped, {duplicated} duplicated, \
         {corrupted} corrupted, {reordered} reordered; all transfers byte-exact; {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(dropped > 0 && duplicated > 0 && corrupted > 0 && reordered > 0, "every kind of fault happened");
    drop(libos);
    check_released("faults");
}

fn scale(prefix: &str) {
    let mut libos = catnip::dpdk::new_libos(&veth_config(prefix)).unwrap_or_else(|e| panic!("catnip on DPDK: {e}"));
    println!("catnip up at {CATNIP} on net_af_packet0");
    linux_clients_to_catnip(&mut libos);
    catnip_clients_to_linux(&mut libos);
    let n = mib_var("CATNIP_LINUX_BULK_MIB", 256);
    bulk_with_linux_server(&mut libos, n);
    linux_client_bulk_to_catnip(&mut libos, n);
    peer_closes_first(&mut libos);
    catnip_closes_first(&mut libos);
    reset_by_peer(&mut libos);
    reset_by_catnip(&mut libos);
    drop(libos);
    check_released("scale");
}

// ---- helpers ----

fn python(script: &str, args: &[&str]) -> (KillOnDrop, BufReader<ChildStdout>) {
    let mut argv = vec![PYTHON, "-c", script];
    argv.extend_from_slice(args);
    let (child, stdout) = in_namespace(&argv);
    (KillOnDrop(child), stdout)
}

/// Keeps catnip running until `child` exits.
fn serve_until_exit<L: LibOs>(libos: &mut L, child: &mut KillOnDrop, mut step: impl FnMut(&mut L)) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            return status;
        }
        assert!(start.elapsed() < SCENARIO_LIMIT, "the Linux peer did not finish within {SCENARIO_LIMIT:?}");
        step(libos);
    }
}

/// Polls catnip for about a millisecond.
fn idle<L: LibOs>(libos: &mut L) {
    let queue = libos.queue().unwrap();
    let qt = libos.pop(queue, None).expect("pop on a memory queue");
    let _ = libos.wait(qt, Some(Duration::from_millis(1)));
    libos.close(queue).unwrap();
}

fn finish<L: LibOs>(libos: &mut L, mut child: KillOnDrop, stdout: BufReader<ChildStdout>, what: &str) -> String {
    let status = serve_until_exit(libos, &mut child, idle);
    let output = rest_of(stdout);
    print!("{output}");
    assert!(status.success(), "{what}: the Linux side failed: {status}");
    output
}

fn pop<L: LibOs>(libos: &mut L, qd: QDesc) -> Result<Sga, pdpix::Fail> {
    let qt = libos.pop(qd, None).unwrap();
    match libos.wait(qt, TIMEOUT).unwrap().value {
        Ok(QValue::Popped { sga, .. }) => Ok(sga),
        Ok(other) => panic!("pop: {other:?}"),
        Err(e) => Err(e),
    }
}

/// Pushes `data` and frees the application's buffer as soon as the push completes, then scribbles over freshly
/// allocated buffers of the same size (likely the memory just freed). TCP keeps the data until Linux
/// acknowledges it and, under faults, retransmits it; with zero-copy transmit the retransmitted payload is the
/// pushed buffer itself, so had the stack or the device released it too early, Linux would receive the scribble
/// and the SHA-256 checks would fail.
fn push<L: LibOs>(libos: &mut L, qd: QDesc, data: &[u8]) {
    let sga = Sga::from_slice(data).unwrap();
    let qt = libos.push(qd, &sga).unwrap();
    libos.wait(qt, TIMEOUT).unwrap().value.expect("push");
    libos.sgafree(sga).unwrap();
    for _ in 0..2 {
        let mut scribble = libos.sgaalloc(data.len()).unwrap();
        for segment in scribble.segments_mut() {
            segment.as_mut_slice().expect("a new buffer is ours").fill(0xa5);
        }
    }
}

/// After the libOS is dropped: the device's statistics, nothing left pinned or lent, and payloads sent without a
/// copy.
fn check_released(what: &str) {
    let stats = common::check_released(what);
    assert!(stats.tx_zero_copy > 0, "{what}: no payload was transmitted without a copy");
}

fn accept<L: LibOs>(libos: &mut L, listener: QDesc) -> QDesc {
    let qt = libos.accept(listener).unwrap();
    match libos.wait(qt, TIMEOUT).unwrap().value {
        Ok(QValue::Accepted { qd, .. }) => qd,
        other => panic!("accept: {other:?}"),
    }
}

fn connect<L: LibOs>(libos: &mut L, port: u16) -> QDesc {
    let qd = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    let qt = libos.connect(qd, SocketAddrV4::new(LINUX, port)).unwrap();
    let result = libos.wait(qt, TIMEOUT).unwrap();
    assert!(matches!(result.value, Ok(QValue::Connected)), "connect to Linux port {port}: {result:?}");
    qd
}

fn pattern_block(state: &mut u64, len: usize) -> Vec<u8> {
    let mut block = vec![0u8; len];
    for chunk in block.chunks_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    block
}

// ---- bulk each way, checked by SHA-256 ----

/// catnip connects to Linux, sends `n` bytes (Linux answers their SHA-256), then receives `n` bytes (their
/// SHA-256 must be what Linux prints).
fn bulk_with_linux_server<L: LibOs>(libos: &mut L, n: usize) {
    let size = n.to_string();
    let (child, mut stdout) = python(BULK_SERVER, &[&size]);
    wait_ready(&mut stdout);
    let started = Instant::now();
    let qd = connect(libos, 5001);
    let mut sent_hash = Sha256::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut left = n;
    while left > 0 {
        let block = pattern_block(&mut state, left.min(256 << 10));
        left -= block.len();
        sent_hash.update(&block);
        push(libos, qd, &block);
    }
    let sent_digest = sent_hash.finalize();
    let up = started.elapsed();
    let mut reply = Vec::new();
    let mut received_hash = Sha256::new();
    let mut received_len = 0;
    loop {
        let sga = pop(libos, qd).expect("pop");
        if sga.is_empty() {
            break;
        }
        received_len += split_digest(&sga, &mut reply, &mut received_hash);
    }
    let elapsed = started.elapsed();
    libos.close(qd).unwrap();
    let output = finish(libos, child, stdout, "bulk with a Linux server");
    assert_eq!(reply.as_slice(), sent_digest.as_slice(), "Linux received exactly the bytes catnip sent");
    assert_eq!(received_len, n, "catnip received all of Linux's bytes");
    // The server's first line is its digest (the next one reports ECN, which this test does not ask for).
    let linux_digest = output.lines().next().unwrap_or_default().trim();
    assert_eq!(hex(&received_hash.finalize()), linux_digest, "catnip received exactly the bytes Linux sent");
    println!(
        "TCP catnip client -> Linux server and back: {} MiB each way, SHA-256 equal both ways, {:.2} s \
         (catnip -> Linux {:.2} s, Linux -> catnip {:.2} s)",
        n >> 20,
        elapsed.as_secs_f64(),
        up.as_secs_f64(),
        (elapsed - up).as_secs_f64()
    );
}

/// Connects to catnip's port 5002 and sends N bytes, then reads catnip's 32-byte SHA-256 of them.
const BULK_CLIENT: &str = r#"
import hashlib, random, socket, sys
n = int(sys.argv[1])
r = random.Random(11)
data = b"".join(r.randbytes(min(1 << 24, n - i)) for i in range(0, n, 1 << 24))
s = socket.create_connection(("10.99.0.1", 5002), timeout=120)
s.sendall(data)
got = b""
while len(got) < 32:
    chunk = s.recv(32 - len(got))
    if not chunk:
        raise SystemExit("catnip closed before answering")
    got += chunk
assert got == hashlib.sha256(data).digest(), "catnip's SHA-256 differs"
s.close()
print(f"Linux client -> catnip server: {n} bytes, catnip's SHA-256 equal", flush=True)
"#;

fn linux_client_bulk_to_catnip<L: LibOs>(libos: &mut L, n: usize) {
    let listener = listen(libos, 5002, 4);
    let size = n.to_string();
    let (child, stdout) = python(BULK_CLIENT, &[&size]);
    let started = Instant::now();
    let qd = accept(libos, listener);
    let mut hash = Sha256::new();
    let mut got = 0;
    while got < n {
        let sga = pop(libos, qd).expect("pop");
        assert!(!sga.is_empty(), "the Linux client closed after {got} of {n} bytes");
        for segment in sga.segments() {
            hash.update(&segment[..]);
            got += segment.len();
        }
    }
    push(libos, qd, &hash.finalize());
    let elapsed = started.elapsed();
    finish(libos, child, stdout, "bulk from a Linux client");
    libos.close(qd).unwrap();
    libos.close(listener).unwrap();
    println!("  ({} MiB in {:.2} s)", n >> 20, elapsed.as_secs_f64());
}

// ---- 100 concurrent connections each way ----

/// Opens N connections to catnip's echo server at once, sends 1000 bytes on each, then reads every echo.
const MANY_CLIENTS: &str = r#"
import socket, sys
n = int(sys.argv[1])
conns = [socket.create_connection(("10.99.0.1", 7), timeout=60) for _ in range(n)]
msgs = [bytes((i + j) % 251 for j in range(1000)) for i in range(n)]
for c, m in zip(conns, msgs):
    c.sendall(m)
for i, (c, m) in enumerate(zip(conns, msgs)):
    got = b""
    while len(got) < len(m):
        chunk = c.recv(len(m) - len(got))
        if not chunk:
            raise SystemExit(f"connection {i}: echo ended after {len(got)} bytes")
        got += chunk
    assert got == m, f"connection {i}: echo differs"
for c in conns:
    c.close()
print(f"{n} concurrent Linux connections to catnip: every echo exact", flush=True)
"#;

fn linux_clients_to_catnip<L: LibOs>(libos: &mut L) {
    let started = Instant::now();
    let mut server = EchoServer::new(libos, 7, 128);
    let count = CONNECTIONS.to_string();
    let (mut child, stdout) = python(MANY_CLIENTS, &[&count]);
    let status = serve_until_exit(libos, &mut child, |libos| server.step(libos));
    print!("{}", rest_of(stdout));
    assert!(status.success(), "{CONNECTIONS} Linux clients against catnip failed: {status}");
    assert_eq!(server.connections, CONNECTIONS, "catnip accepted every connection");
    println!(
        "catnip echo server: {} connections accepted, {} open at once at most, {:.2} s",
        server.connections,
        server.most_open,
        started.elapsed().as_secs_f64()
    );
    server.close(libos);
}

/// A threaded Linux echo server on 10.99.0.2:7007 that exits after N connections have ended.
const MANY_SERVER: &str = r#"
import socket, sys, threading
n = int(sys.argv[1])
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.99.0.2", 7007))
l.listen(n)
print("ready", flush=True)
def serve(c):
    while data := c.recv(65536):
        c.sendall(data)
    c.close()
threads = []
for _ in range(n):
    c, _ = l.accept()
    t = threading.Thread(target=serve, args=(c,))
    t.start()
    threads.append(t)
for t in threads:
    t.join()
print(f"Linux echo server: {n} connections served", flush=True)
"#;

fn catnip_clients_to_linux<L: LibOs>(libos: &mut L) {
    let started = Instant::now();
    let count = CONNECTIONS.to_string();
    let (child, mut stdout) = python(MANY_SERVER, &[&count]);
    wait_ready(&mut stdout);
    let mut qds = Vec::new();
    let mut connects = Vec::new();
    for _ in 0..CONNECTIONS {
        let qd = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        connects.push(libos.connect(qd, SocketAddrV4::new(LINUX, 7007)).unwrap());
        qds.push(qd);
    }
    for result in libos.wait_all(&connects, TIMEOUT).unwrap() {
        assert!(matches!(result.value, Ok(QValue::Connected)), "connect: {result:?}");
    }
    let messages: Vec<Vec<u8>> = (0..CONNECTIONS).map(|i| pattern_block(&mut (i as u64 + 1), 1000)).collect();
    let pushes: Vec<QToken> =
        qds.iter().zip(&messages).map(|(&qd, m)| libos.push(qd, &Sga::from_slice(m).unwrap()).unwrap()).collect();
    for result in libos.wait_all(&pushes, TIMEOUT).unwrap() {
        result.value.expect("push");
    }
    for (i, (&qd, message)) in qds.iter().zip(&messages).enumerate() {
        let mut got = Vec::new();
        while got.len() < message.len() {
            let sga = pop(libos, qd).expect("pop");
            assert!(!sga.is_empty(), "connection {i}: the Linux echo ended early");
            got.extend_from_slice(&sga.to_vec());
        }
        assert_eq!(&got, message, "connection {i}: echo differs");
    }
    for qd in qds {
        libos.close(qd).unwrap();
    }
    finish(libos, child, stdout, "catnip clients against a Linux echo server");
    println!(
        "{CONNECTIONS} concurrent catnip connections to a Linux echo server: every echo exact, {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

// ---- how connections end ----

/// Linux connects, sends "hello", shuts its sending side (FIN first), then must read "bye" and EOF.
const PEER_CLOSES: &str = r#"
import socket
s = socket.create_connection(("10.99.0.1", 8), timeout=20)
s.sendall(b"hello")
s.shutdown(socket.SHUT_WR)
got = b""
while chunk := s.recv(100):
    got += chunk
assert got == b"bye", got
s.close()
print("peer closed first: catnip saw EOF, still sent 'bye', then closed; Linux read 'bye' and EOF", flush=True)
"#;

fn peer_closes_first<L: LibOs>(libos: &mut L) {
    let listener = listen(libos, 8, 4);
    let (child, stdout) = python(PEER_CLOSES, &[]);
    let qd = accept(libos, listener);
    let mut got = Vec::new();
    loop {
        let sga = pop(libos, qd).expect("pop");
        if sga.is_empty() {
            break;
        }
        got.extend_from_slice(&sga.to_vec());
    }
    assert_eq!(got, b"hello");
    // Half-closed by the peer (CLOSE-WAIT): catnip may still send.
    push(libos, qd, b"bye");
    libos.close(qd).unwrap();
    finish(libos, child, stdout, "peer closes first");
    libos.close(listener).unwrap();
}

/// Linux server on 5003: reads until EOF (must be 'from catnip'), closes; then checks that no socket of
/// port 5003 is left in CLOSE-WAIT (08) or LAST-ACK (09), i.e. catnip acknowledged Linux's FIN.
const CATNIP_CLOSES_SERVER: &str = r#"
import socket, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.99.0.2", 5003))
l.listen(1)
print("ready", flush=True)
c, _ = l.accept()
c.settimeout(20)
got = b""
while chunk := c.recv(100):
    got += chunk
assert got == b"from catnip", got
c.close()
l.close()
def stuck():
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return [r for r in rows if r[1].endswith(":138B") and r[3] in ("08", "09")]
deadline = time.time() + 5
while stuck() and time.time() < deadline:
    time.sleep(0.05)
assert not stuck(), stuck()
print("catnip (client) closed first: Linux read all and EOF, closed, and its socket finished (no LAST-ACK)", flush=True)
"#;

/// Linux client on catnip's port 10: reads 100000 bytes and EOF (catnip, the server, closes first), closes, then
/// checks its socket is not stuck in LAST-ACK.
const CATNIP_CLOSES_CLIENT: &str = r#"
import socket, time
s = socket.create_connection(("10.99.0.1", 10), timeout=20)
port = s.getsockname()[1]
got = b""
while chunk := s.recv(65536):
    got += chunk
assert got == bytes(i % 256 for i in range(100000)), len(got)
s.close()
def stuck():
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return [r for r in rows if r[1].endswith(f":{port:04X}") and r[3] in ("08", "09")]
deadline = time.time() + 5
while stuck() and time.time() < deadline:
    time.sleep(0.05)
assert not stuck(), stuck()
print("catnip (server) closed first: Linux read 100000 bytes and EOF, closed, and its socket finished", flush=True)
"#;

fn catnip_closes_first<L: LibOs>(libos: &mut L) {
    // catnip as the client.
    let (child, mut stdout) = python(CATNIP_CLOSES_SERVER, &[]);
    wait_ready(&mut stdout);
    let qd = connect(libos, 5003);
    push(libos, qd, b"from catnip");
    libos.close(qd).unwrap();
    finish(libos, child, stdout, "catnip client closes first");

    // catnip as the server (a port of its own: port 8's last connection is in TIME-WAIT on catnip's side).
    let listener = listen(libos, 10, 4);
    let (child, stdout) = python(CATNIP_CLOSES_CLIENT, &[]);
    let qd = accept(libos, listener);
    let data: Vec<u8> = (0..100_000).map(|i| (i % 256) as u8).collect();
    push(libos, qd, &data);
    libos.close(qd).unwrap();
    finish(libos, child, stdout, "catnip server closes first");
    libos.close(listener).unwrap();
}

/// Linux connects, sends "x", waits for catnip's "k", then closes with SO_LINGER 0: a RST.
const RESETS: &str = r#"
import socket, struct
s = socket.create_connection(("10.99.0.1", 11), timeout=20)
s.sendall(b"x")
assert s.recv(1) == b"k"
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
print("Linux closed with SO_LINGER 0 (RST)", flush=True)
"#;

fn reset_by_peer<L: LibOs>(libos: &mut L) {
    let listener = listen(libos, 11, 4);
    let (child, stdout) = python(RESETS, &[]);
    let qd = accept(libos, listener);
    assert_eq!(pop(libos, qd).expect("pop").to_vec(), b"x");
    push(libos, qd, b"k");
    let error = pop(libos, qd).expect_err("a pop after the peer's RST fails");
    assert_eq!(error.errno(), libc::ECONNRESET, "{error}");
    println!("catnip saw the RST as ECONNRESET: {error}");
    libos.close(qd).unwrap();
    finish(libos, child, stdout, "reset by peer");
    libos.close(listener).unwrap();
}

/// Linux server on 5004: sends "hi", then reads until catnip's RST: the read must fail with ECONNRESET.
const RESET_BY_CATNIP: &str = r#"
import socket
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.99.0.2", 5004))
l.listen(1)
print("ready", flush=True)
c, _ = l.accept()
c.settimeout(20)
c.sendall(b"hi")
try:
    data = c.recv(100)
    raise SystemExit(f"expected ECONNRESET, read {data!r}")
except ConnectionResetError:
    print("catnip closed with SO_LINGER 0: Linux's read failed with ECONNRESET", flush=True)
"#;

fn reset_by_catnip<L: LibOs>(libos: &mut L) {
    let (child, mut stdout) = python(RESET_BY_CATNIP, &[]);
    wait_ready(&mut stdout);
    let qd = connect(libos, 5004);
    assert_eq!(pop(libos, qd).expect("pop").to_vec(), b"hi");
    libos.setsockopt(qd, SocketOption::Linger(Some(Duration::ZERO))).unwrap();
    libos.close(qd).unwrap();
    finish(libos, child, stdout, "reset by catnip");
}
