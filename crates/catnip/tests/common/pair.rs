//! What the two-process catnip tests (`memif.rs`, `vhost.rs`) share: the test binary re-runs itself as a
//! server and a client on two CPUs; these are the parent's bookkeeping (CPUs, children, cleanup), the catnip
//! calls both roles make, and the Linux loopback pair's socket helpers they are compared with.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

use pdpix::{LibOs, QDesc, QValue, Sga};
use sha2::{Digest, Sha256};

/// How long one pop or push may take.
pub const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));

/// The two CPUs to pin the server and the client to (the same one on a 1-CPU machine).
pub fn cpus() -> (String, String) {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    ("0".to_owned(), if n > 1 { "1" } else { "0" }.to_owned())
}

pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|l| l.trim().to_owned()).unwrap_or_default()
}

/// Waits for `child` up to `limit`; kills it past that. Whether it exited successfully.
pub fn wait_child(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills children and removes files and directories when the test ends, also on a panic.
#[derive(Default)]
pub struct Cleanup {
    pub children: Vec<Child>,
    pub files: Vec<String>,
    pub dirs: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn accept<L: LibOs>(libos: &mut L, listener: QDesc) -> QDesc {
    let qt = libos.accept(listener).unwrap();
    match libos.wait(qt, Some(Duration::from_secs(60))).unwrap().value {
        Ok(QValue::Accepted { qd, .. }) => qd,
        other => panic!("accept: {other:?}"),
    }
}

/// Pops once; an empty `Sga` is the end of the stream.
pub fn pop<L: LibOs>(libos: &mut L, qd: QDesc) -> Sga {
    let qt = libos.pop(qd, None).unwrap();
    match libos.wait(qt, TIMEOUT).unwrap().value {
        Ok(QValue::Popped { sga, .. }) => sga,
        other => panic!("pop: {other:?}"),
    }
}

pub fn push<L: LibOs>(libos: &mut L, qd: QDesc, sga: &Sga) {
    let qt = libos.push(qd, sga).unwrap();
    libos.wait(qt, TIMEOUT).unwrap().value.expect("push");
}

/// The server's TCP echo: accepts one connection on `listener` and echoes until the client closes; returns the
/// bytes echoed.
pub fn serve_echo<L: LibOs>(libos: &mut L, listener: QDesc) -> usize {
    let qd = accept(libos, listener);
    let mut echoed = 0;
    loop {
        let sga = pop(libos, qd);
        if sga.is_empty() {
            break;
        }
        echoed += sga.len();
        push(libos, qd, &sga);
    }
    libos.close(qd).unwrap();
    echoed
}

/// The server's bulk receive: accepts one connection on `listener`, receives `n` bytes, answers their SHA-256
/// and the nanoseconds from first to last byte, and waits for the client to close. Every page of the receive
/// buffer is touched before the clock starts (the Linux servers do the same): on this VM, faulting in and
/// zeroing fresh pages cost the receiver more than the network, which would measure the hypervisor.
pub fn serve_bulk<L: LibOs>(libos: &mut L, listener: QDesc, n: usize) {
    let qd = accept(libos, listener);
    let mut data = vec![1u8; n];
    data.clear();
    let mut first = None;
    while data.len() < n {
        let sga = pop(libos, qd);
        assert!(!sga.is_empty(), "bulk stream ended after {} of {n} bytes", data.len());
        first.get_or_insert_with(Instant::now);
        for segment in sga.segments() {
            data.extend_from_slice(segment);
        }
    }
    let nanos = first.expect("bytes arrived").elapsed().as_nanos() as u64;
    assert_eq!(data.len(), n, "exactly {n} bytes");
    let mut reply = Sha256::digest(&data).to_vec();
    reply.extend_from_slice(&nanos.to_le_bytes());
    push(libos, qd, &Sga::from_slice(&reply).unwrap());
    assert!(pop(libos, qd).is_empty(), "the client closes after the bulk reply");
    libos.close(qd).unwrap();
}

/// `n` pseudo-random bytes from `seed` (xorshift), the same on both sides.
pub fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = vec![0u8; n.next_multiple_of(8)];
    for chunk in out.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Pins the calling thread to CPU `cpu`.
pub fn pin(cpu: &str) {
    let cpu: usize = cpu.parse().expect("a CPU number");
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and sched_setaffinity get a valid pointer and its
    // size; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set), 0, "pin to CPU {cpu}");
    }
}

/// Reads at least one byte (0 at the end of the stream), spinning while a non-blocking socket has nothing.
pub fn read_some(stream: &mut TcpStream, buf: &mut [u8]) -> usize {
    loop {
        match stream.read(buf) {
            Ok(n) => return n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => std::hint::spin_loop(),
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Writes all of `data`, spinning while a non-blocking socket's buffer is full.
pub fn write_all(stream: &mut TcpStream, mut data: &[u8]) {
    while !data.is_empty() {
        match stream.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => std::hint::spin_loop(),
            Err(e) => panic!("write: {e}"),
        }
    }
}

pub fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut got = vec![0u8; n];
    let mut filled = 0;
    while filled < n {
        let k = read_some(stream, &mut got[filled..]);
        assert!(k > 0, "stream ended after {filled} of {n} bytes");
        filled += k;
    }
    got
}
