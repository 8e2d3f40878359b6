//! catnip: the libOS over demikernel's own TCP/IP stack (`inetstack`). The stack runs in the application's
//! thread on raw Ethernet frames from a device: DPDK (feature `dpdk`, kernel bypass) or an in-memory link
//! (`MemoryLink`, two instances in one process, for tests and for measuring the stack alone).
//!
//! The same PDPIX calls as catnap, with the same errors for the same misuse. Each operation is a coroutine
//! that asks the stack and parks on its socket; the runtime's poller pumps frames between device and stack.

#[cfg(feature = "dpdk")]
pub mod dpdk;
mod link;
mod network;
mod ops;
mod options;

use std::cell::{Cell, RefCell};
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A pcap recording of a device: wrap the port's device in one with `dpdk::new_libos_shared_with`.
pub use inetstack::phy::{PcapSink, PcapWriter};
use inetstack::stack::{SocketId, Stack, StackConfig, TcpSocketOptions};
pub use link::MemoryLink;
pub use network::NetDevice;
use network::Network;
use pdpix::{
    Fail, LibOs, Opcode, QDesc, QToken, QValue, Runtime, Sga, SocketDomain, SocketOption, SocketOptionName, SocketType,
};
use runtime::{IdlePolicy, MemoryQueue, Operation, QueueTable, Timers};

/// A socket queue: the stack's socket and its kind.
#[derive(Debug)]
pub(crate) struct SocketInfo {
    id: SocketId,
    kind: SocketType,
    /// Options of a datagram socket (the stack keeps a TCP socket's own).
    datagram_options: Cell<TcpSocketOptions>,
    /// Stream pushes go into the byte stream in the order they were made: each takes a ticket when it is
    /// made and waits until `push_serving` reaches it (a push larger than the send buffer must not let a
    /// later one slip in between its pieces).
    push_tickets: Cell<u64>,
    push_serving: Cell<u64>,
}

impl SocketInfo {
    pub(crate) fn new(id: SocketId, kind: SocketType) -> Self {
        Self { id, kind, datagram_options: Cell::default(), push_tickets: Cell::new(0), push_serving: Cell::new(0) }
    }

    /// A place in the queue of this stream's pushes.
    pub(crate) fn push_ticket(&self) -> u64 {
        let ticket = self.push_tickets.get();
        self.push_tickets.set(ticket + 1);
        ticket
    }
}

/// What a catnip queue descriptor names.
pub(crate) type Queue = runtime::Queue<Rc<SocketInfo>>;

/// The catnip libOS over device `D`.
pub struct Catnip<D: NetDevice + 'static> {
    runtime: Runtime,
    net: Rc<Network<D>>,
    table: Rc<RefCell<QueueTable<Queue>>>,
}

impl<D: NetDevice + 'static> std::fmt::Debug for Catnip<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catnip").field("queues", &self.table.borrow().len()).finish()
    }
}

impl<D: NetDevice + 'static> Catnip<D> {
    /// A catnip instance with the stack configured by `config` (but for `gather`, which the device's
    /// capabilities set), on `device`. `spin` is how long an idle wait polls before sleeping in the device
    /// (poll-mode devices never sleep).
    pub fn new(mut config: StackConfig, device: D, spin: Duration) -> Result<Self, Fail> {
        // How frames are best built is the device's to say (see `DeviceCapabilities::gather`).
        config.gather = device.capabilities().gather;
        let stack = Stack::new(config, Instant::now())?;
        let timers = Timers::system();
        let net = Rc::new(Network::new(stack, device, Rc::clone(&timers)));
        let runtime = Runtime::new(net.clone(), timers, IdlePolicy { spin });
        Ok(Self { runtime, net, table: Rc::default() })
    }

    fn queue_of(&self, qd: QDesc) -> Result<Queue, Fail> {
        self.table.borrow().queue(qd)
    }

    fn socket_of(&self, qd: QDesc) -> Result<Rc<SocketInfo>, Fail> {
        self.table.borrow().socket(qd)
    }

    fn stream_of(&self, qd: QDesc, what: &'static str) -> Result<Rc<SocketInfo>, Fail> {
        let info = self.socket_of(qd)?;
        match info.kind {
            SocketType::Stream => Ok(info),
            SocketType::Datagram => Err(Fail::with_context(libc::EOPNOTSUPP, format!("{what} on a datagram socket"))),
        }
    }

    /// The counters of the TCP connection `qd` (segments, bytes, retransmissions, ECN marks, drops by reason):
    /// inetstack's `TcpCounters`. EOPNOTSUPP on a datagram socket, ENOTCONN on one not connected.
    pub fn tcp_counters(&self, qd: QDesc) -> Result<inetstack::tcp::TcpCounters, Fail> {
        let info = self.stream_of(qd, "tcp_counters")?;
        self.net.with_stack(|stack, _| stack.tcp_counters(info.id))
    }

    /// What all TCP connections hold of received data, waiting for their readers or for the gaps before it
    /// (bounded by inetstack's `TcpConfig::receive_memory`, the `[catnip] receive_memory` key).
    pub fn tcp_receive_memory_held(&self) -> usize {
        self.net.with_stack(|stack, _| stack.tcp_receive_memory_held())
    }

    /// What all TCP connections hold of data to send or to be acknowledged (bounded by inetstack's
    /// `TcpConfig::send_memory`, the `[catnip] send_memory` key).
    pub fn tcp_send_memory_held(&self) -> usize {
        self.net.with_stack(|stack, _| stack.tcp_send_memory_held())
    }

    fn spawn(&mut self, qd: QDesc, op: Opcode, coroutine: Operation) -> Result<QToken, Fail> {
        self.runtime.spawn(qd, op, coroutine)
    }
}

impl<D: NetDevice + 'static> LibOs for Catnip<D> {
    fn name(&self) -> &'static str {
        "catnip"
    }

    fn runtime(&mut self) -> &mut Runtime {
        &mut self.runtime
    }

    fn socket(&mut self, domain: SocketDomain, socket_type: SocketType, protocol: i32) -> Result<QDesc, Fail> {
        let SocketDomain::Inet = domain;
        socket_type.check_protocol(protocol)?;
        let id = self.net.with_stack(|stack, _| match socket_type {
            SocketType::Stream => stack.tcp_open(),
            SocketType::Datagram => stack.udp_open(),
        });
        let queue = Queue::Socket(Rc::new(SocketInfo::new(id, socket_type)));
        match self.table.borrow_mut().insert(queue) {
            Ok(qd) => Ok(qd),
            Err(e) => {
                let _ = self.net.with_stack(|stack, _| stack.close(id));
                Err(e)
            }
        }
    }

    fn bind(&mut self, qd: QDesc, local: SocketAddrV4) -> Result<(), Fail> {
        let info = self.socket_of(qd)?;
        self.net.with_stack(|stack, _| match info.kind {
            SocketType::Stream => stack.tcp_bind(info.id, local),
            SocketType::Datagram => stack.udp_bind(info.id, local),
        })?;
        Ok(())
    }

    fn listen(&mut self, qd: QDesc, backlog: usize) -> Result<(), Fail> {
        let info = self.stream_of(qd, "listen")?;
        self.net.with_stack(|stack, _| stack.tcp_listen(info.id, backlog))
    }

    fn accept(&mut self, qd: QDesc) -> Result<QToken, Fail> {
        let info = self.stream_of(qd, "accept")?;
        // Validate now (EINVAL on a socket that is not listening), not when the coroutine first runs.
        self.net.with_stack(|stack, _| match stack.tcp_state(info.id)? {
            inetstack::tcp::TcpState::Listen => Ok(()),
            _ => Err(Fail::new(libc::EINVAL, "accept on a socket that is not listening")),
        })?;
        let coroutine = ops::accept(Rc::clone(&self.net), info.id, Rc::clone(&self.table));
        self.spawn(qd, Opcode::Accept, Box::pin(coroutine))
    }

    fn connect(&mut self, qd: QDesc, remote: SocketAddrV4) -> Result<QToken, Fail> {
        let info = self.socket_of(qd)?;
        match info.kind {
            SocketType::Datagram => {
                self.net.with_stack(|stack, _| stack.udp_connect(info.id, remote))?;
                self.spawn(qd, Opcode::Connect, Box::pin(async { Ok(QValue::Connected) }))
            }
            SocketType::Stream => {
                self.net.with_stack(|stack, now| stack.tcp_connect(now, info.id, remote))?;
                self.spawn(qd, Opcode::Connect, Box::pin(ops::connect(Rc::clone(&self.net), info.id)))
            }
        }
    }

    fn getsockname(&mut self, qd: QDesc) -> Result<SocketAddrV4, Fail> {
        let info = self.socket_of(qd)?;
        let local = self.net.with_stack(|stack, _| stack.local_addr(info.id))?;
        Ok(local.unwrap_or_else(|| SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0)))
    }

    fn getpeername(&mut self, qd: QDesc) -> Result<SocketAddrV4, Fail> {
        let info = self.stream_of(qd, "getpeername")?;
        self.net.with_stack(|stack, _| stack.tcp_peer(info.id))
    }

    fn setsockopt(&mut self, qd: QDesc, option: SocketOption) -> Result<(), Fail> {
        let info = self.socket_of(qd)?;
        match info.kind {
            SocketType::Stream => self.net.with_stack(|stack, _| {
                let mut current = stack.tcp_options(info.id)?;
                options::apply(&mut current, option, info.kind)?;
                stack.tcp_set_options(info.id, current)
            }),
            SocketType::Datagram => {
                let mut current = info.datagram_options.get();
                options::apply(&mut current, option, info.kind)?;
                info.datagram_options.set(current);
                Ok(())
            }
        }
    }

    fn getsockopt(&mut self, qd: QDesc, name: SocketOptionName) -> Result<SocketOption, Fail> {
        let info = self.socket_of(qd)?;
        let current = match info.kind {
            SocketType::Stream => self.net.with_stack(|stack, _| stack.tcp_options(info.id))?,
            SocketType::Datagram => info.datagram_options.get(),
        };
        options::read(&current, name, info.kind)
    }

    fn push(&mut self, qd: QDesc, sga: &Sga) -> Result<QToken, Fail> {
        match self.queue_of(qd)? {
            Queue::Memory(queue) => {
                let coroutine = queue.push(sga)?;
                self.spawn(qd, Opcode::Push, Box::pin(coroutine))
            }
            Queue::Socket(info) => {
                sga.check_pushable()?;
                let coroutine: Operation = match info.kind {
                    SocketType::Stream => {
                        // Validate the state now: ENOTCONN / EOPNOTSUPP as catnap gives them.
                        self.net.with_stack(|stack, now| stack.tcp_send(now, info.id, &Sga::new()))?;
                        let ticket = info.push_ticket();
                        Box::pin(ops::push_stream(Rc::clone(&self.net), Rc::clone(&info), ticket, sga.clone()))
                    }
                    SocketType::Datagram => {
                        if self.net.with_stack(|stack, _| stack.udp_peer(info.id))?.is_none() {
                            return Err(Fail::new(
                                libc::EDESTADDRREQ,
                                "push on an unconnected datagram socket: use pushto",
                            ));
                        }
                        Box::pin(ops::push_datagram(Rc::clone(&self.net), info.id, sga.clone(), None))
                    }
                };
                self.spawn(qd, Opcode::Push, coroutine)
            }
        }
    }

    fn pushto(&mut self, qd: QDesc, sga: &Sga, remote: SocketAddrV4) -> Result<QToken, Fail> {
        let info = self.socket_of(qd)?;
        if info.kind == SocketType::Stream {
            return Err(Fail::new(libc::EOPNOTSUPP, "pushto on a stream socket: use push"));
        }
        sga.check_pushable()?;
        if remote.port() == 0 {
            return Err(Fail::with_context(libc::EINVAL, format!("cannot send to port 0 ({remote})")));
        }
        let coroutine = ops::push_datagram(Rc::clone(&self.net), info.id, sga.clone(), Some(remote));
        self.spawn(qd, Opcode::Push, Box::pin(coroutine))
    }

    fn pop(&mut self, qd: QDesc, max_len: Option<usize>) -> Result<QToken, Fail> {
        if max_len == Some(0) {
            return Err(Fail::new(libc::EINVAL, "pop of at most 0 bytes"));
        }
        match self.queue_of(qd)? {
            Queue::Memory(queue) => {
                let coroutine = queue.pop(max_len)?;
                self.spawn(qd, Opcode::Pop, Box::pin(coroutine))
            }
            Queue::Socket(info) => {
                let max_len = max_len.unwrap_or(64 * 1024);
                match info.kind {
                    SocketType::Stream => {
                        self.net.with_stack(|stack, _| stack.tcp_recv(info.id, 0))?;
                    }
                    SocketType::Datagram => {
                        let bound = self.net.with_stack(|stack, _| stack.local_addr(info.id))?;
                        if bound.is_none() {
                            return Err(Fail::new(libc::EDESTADDRREQ, "pop on an unbound datagram socket: bind first"));
                        }
                    }
                }
                self.spawn(qd, Opcode::Pop, Box::pin(ops::pop(Rc::clone(&self.net), info, max_len)))
            }
        }
    }

    fn close(&mut self, qd: QDesc) -> Result<(), Fail> {
        let queue = self.table.borrow_mut().remove(qd)?;
        self.runtime.scheduler_mut().cancel_queue(qd);
        if let Queue::Socket(info) = queue {
            self.net.forget(info.id);
            self.net.with_stack(|stack, _| stack.close(info.id))?;
        }
        Ok(())
    }

    fn async_close(&mut self, qd: QDesc) -> Result<QToken, Fail> {
        self.close(qd)?;
        self.spawn(qd, Opcode::Close, Box::pin(async { Ok(QValue::Closed) }))
    }

    fn queue(&mut self) -> Result<QDesc, Fail> {
        self.table.borrow_mut().insert(Queue::Memory(MemoryQueue::default()))
    }
}
