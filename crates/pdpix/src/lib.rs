//! PDPIX: the portable datapath interface. One trait, [`LibOs`], that every library OS implements, and the
//! types its calls take and return. Programs written against it run unchanged on catnap (POSIX sockets),
//! catnip (DPDK), catmint (RDMA) and cattree (storage).
//!
//! Every call validates its arguments first and returns a typed, errno-carrying [`Fail`]; operations that
//! take time return a [`QToken`] at once and complete in `wait`, `wait_any` or `wait_all`.

mod socket;

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

pub use runtime::{DemiBuffer, Fail, MAX_SGA_LEN, Opcode, QDesc, QResult, QToken, QValue, Runtime, Sga, errno_name};
pub use socket::{SocketDomain, SocketOption, SocketOptionName, SocketType};

/// The PDPIX calls. A libOS instance is single-threaded: one instance per core.
///
/// Calls a libOS does not support (storage calls on a network libOS and vice versa) fail with ENOTSUP.
pub trait LibOs {
    /// The libOS's name ("catnap", "catnip", ...).
    fn name(&self) -> &'static str;

    /// The runtime that runs this libOS's coroutines.
    fn runtime(&mut self) -> &mut Runtime;

    // ----- network queues -----

    /// A new network queue (AF_INET; SOCK_STREAM or SOCK_DGRAM; protocol 0 or the matching IPPROTO).
    fn socket(&mut self, domain: SocketDomain, socket_type: SocketType, protocol: i32) -> Result<QDesc, Fail>;
    /// Binds to a local address; port 0 picks an ephemeral port, 0.0.0.0 every address.
    fn bind(&mut self, qd: QDesc, local: SocketAddrV4) -> Result<(), Fail>;
    /// Marks a bound stream queue as accepting connections.
    fn listen(&mut self, qd: QDesc, backlog: usize) -> Result<(), Fail>;
    /// Completes with `QValue::Accepted` for the next incoming connection.
    fn accept(&mut self, qd: QDesc) -> Result<QToken, Fail>;
    /// Completes with `QValue::Connected` once connected to `remote` (ECONNREFUSED, ETIMEDOUT...).
    fn connect(&mut self, qd: QDesc, remote: SocketAddrV4) -> Result<QToken, Fail>;
    /// The local address (after a port-0 bind, the port chosen).
    fn getsockname(&mut self, qd: QDesc) -> Result<SocketAddrV4, Fail>;
    /// The connected peer's address.
    fn getpeername(&mut self, qd: QDesc) -> Result<SocketAddrV4, Fail>;
    fn setsockopt(&mut self, qd: QDesc, option: SocketOption) -> Result<(), Fail>;
    fn getsockopt(&mut self, qd: QDesc, name: SocketOptionName) -> Result<SocketOption, Fail>;

    // ----- every queue -----

    /// Completes once `sga` is handed to the device (TCP: accepted by the stack; storage: durable). The
    /// libOS keeps references to the segments until then: the caller may free its `Sga` at once.
    fn push(&mut self, qd: QDesc, sga: &Sga) -> Result<QToken, Fail>;
    /// `push` of one datagram to `remote`.
    fn pushto(&mut self, qd: QDesc, sga: &Sga, remote: SocketAddrV4) -> Result<QToken, Fail>;
    /// Completes with `QValue::Popped`: whatever has arrived, at most `max_len` bytes. For a stream, an
    /// empty array is the end of the stream.
    fn pop(&mut self, qd: QDesc, max_len: Option<usize>) -> Result<QToken, Fail>;
    /// Closes a queue now; its pending operations complete with ECANCELED.
    fn close(&mut self, qd: QDesc) -> Result<(), Fail>;
    /// Closes a queue as an operation that completes with `QValue::Closed`.
    fn async_close(&mut self, qd: QDesc) -> Result<QToken, Fail>;
    /// A new in-memory queue.
    fn queue(&mut self) -> Result<QDesc, Fail>;

    // ----- storage queues -----

    fn creat(&mut self, path: &str) -> Result<QDesc, Fail> {
        let _ = path;
        Err(not_supported(self.name(), "creat"))
    }
    fn open(&mut self, path: &str) -> Result<QDesc, Fail> {
        let _ = path;
        Err(not_supported(self.name(), "open"))
    }
    fn seek(&mut self, qd: QDesc, offset: u64) -> Result<(), Fail> {
        let _ = (qd, offset);
        Err(not_supported(self.name(), "seek"))
    }
    fn truncate(&mut self, qd: QDesc, offset: u64) -> Result<(), Fail> {
        let _ = (qd, offset);
        Err(not_supported(self.name(), "truncate"))
    }

    // ----- memory -----

    /// A zeroed, device-ready buffer of `len` bytes (one segment on libOSes with heap memory).
    fn sgaalloc(&mut self, len: usize) -> Result<Sga, Fail> {
        Sga::alloc(len, MAX_SGA_LEN)
    }
    /// Gives a buffer back. Safe while the libOS still uses the segments: it holds its own references.
    fn sgafree(&mut self, sga: Sga) -> Result<(), Fail> {
        drop(sga);
        Ok(())
    }

    // ----- completion -----

    /// Waits for `qt` (see `Runtime::wait`): `None` waits forever; ETIMEDOUT leaves the token valid.
    fn wait(&mut self, qt: QToken, timeout: Option<Duration>) -> Result<QResult, Fail> {
        self.runtime().wait(qt, timeout)
    }
    /// Waits for the first of `qts`; returns its index and result.
    fn wait_any(&mut self, qts: &[QToken], timeout: Option<Duration>) -> Result<(usize, QResult), Fail> {
        self.runtime().wait_any(qts, timeout)
    }
    /// Waits for all of `qts`; returns their results in order.
    fn wait_all(&mut self, qts: &[QToken], timeout: Option<Duration>) -> Result<Vec<QResult>, Fail> {
        self.runtime().wait_all(qts, timeout)
    }
    /// Runs one non-blocking poll round (for event loops that embed the libOS).
    fn poll(&mut self) -> Result<bool, Fail> {
        self.runtime().poll_once()
    }
    /// The earliest timer deadline, so an embedding event loop knows how long it may sleep.
    fn next_deadline(&mut self) -> Option<Instant> {
        self.runtime().timers().next_deadline()
    }
    /// A file descriptor that turns readable when the libOS has device events (if the device has one).
    fn event_fd(&mut self) -> Option<i32> {
        self.runtime().poller().fd()
    }
}

fn not_supported(libos: &str, call: &str) -> Fail {
    Fail::with_context(libc::ENOTSUP, format!("{call} is not supported by {libos}"))
}
