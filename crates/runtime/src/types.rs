//! The identifiers and results that PDPIX calls hand out: queue descriptors, qtokens, qresults.

use std::fmt;
use std::net::SocketAddrV4;

use crate::Fail;
use crate::memory::Sga;

/// A queue descriptor: names a socket, an in-memory queue or a storage queue of one libOS instance.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QDesc(u32);

impl QDesc {
    pub const fn new(raw: u32) -> Self {
        Self(raw)
    }
    pub const fn raw(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for QDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "qd{}", self.0)
    }
}

impl fmt::Display for QDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A qtoken: names one asynchronous operation (a coroutine in the scheduler) until its result is taken.
/// The low 32 bits are the task's slot, the high 32 bits a generation, so stale tokens are recognised.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QToken(u64);

impl QToken {
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
    pub const fn raw(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for QToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "qt{:#x}", self.0)
    }
}

/// What kind of operation a qtoken stands for. `Failed` marks a result that carries an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Opcode {
    Push,
    Pop,
    Accept,
    Connect,
    Close,
    Failed,
}

/// The value of a successful operation.
#[derive(Clone, Debug)]
pub enum QValue {
    /// A push (or pushto) handed its data on.
    Pushed,
    /// A pop received data; an empty `sga` is end of stream. `from` is the sender for datagram queues.
    Popped { sga: Sga, from: Option<SocketAddrV4> },
    /// A listening queue accepted a connection, now queue `qd`.
    Accepted { qd: QDesc, addr: SocketAddrV4 },
    /// A connect completed.
    Connected,
    /// An asynchronous close completed.
    Closed,
}

/// The outcome of one operation, returned by `wait` once and only once.
#[derive(Clone, Debug)]
pub struct QResult {
    pub qd: QDesc,
    pub qt: QToken,
    /// The kind of operation that ran (never `Failed`; see `opcode()`).
    pub operation: Opcode,
    pub value: Result<QValue, Fail>,
}

impl QResult {
    /// The operation, or `Failed` when it ended in an error (as the C ABI reports it).
    pub fn opcode(&self) -> Opcode {
        if self.value.is_err() { Opcode::Failed } else { self.operation }
    }

    /// The error of a failed operation.
    pub fn error(&self) -> Option<&Fail> {
        self.value.as_ref().err()
    }
}
