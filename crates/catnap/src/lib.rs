//! catnap: the POSIX libOS. PDPIX over the kernel's non-blocking sockets and epoll; runs anywhere Linux
//! does, and is the default and the reference the other libOSes are held to.
//!
//! Each call validates its arguments and the socket's state, then (for operations) spawns a coroutine that
//! tries the system call at once and waits on epoll only on EAGAIN. Not zero-copy: the kernel copies.

mod ops;
mod reactor;
mod socket;

use std::cell::RefCell;
use std::net::SocketAddrV4;
use std::rc::Rc;
use std::time::Duration;

use pdpix::{
    Fail, LibOs, Opcode, QDesc, QToken, QValue, Runtime, Sga, SocketDomain, SocketOption, SocketOptionName, SocketType,
};
use reactor::{EpollReactor, os_fail};
use runtime::{BufferPool, IdlePolicy, MemoryQueue, Operation, QueueTable, Timers};
use rustix::net::{AddressFamily, SocketFlags, sockopt};
use socket::{Socket, State};

/// Settings of a catnap instance.
#[derive(Clone, Debug)]
pub struct CatnapConfig {
    /// How long an idle `wait` spins before blocking in `epoll_wait`.
    pub spin: Duration,
    /// Largest pop (bytes): the size of each receive buffer.
    pub recv_buffer_size: usize,
    /// Receive buffers kept for reuse.
    pub cached_buffers: usize,
}

impl Default for CatnapConfig {
    fn default() -> Self {
        Self { spin: IdlePolicy::default().spin, recv_buffer_size: 64 * 1024, cached_buffers: 64 }
    }
}

/// What a catnap queue descriptor names.
pub(crate) type Queue = runtime::Queue<Rc<Socket>>;

/// The catnap libOS. Single-threaded: one instance per thread.
pub struct Catnap {
    runtime: Runtime,
    reactor: Rc<EpollReactor>,
    table: Rc<RefCell<QueueTable<Queue>>>,
    pool: BufferPool,
}

impl std::fmt::Debug for Catnap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catnap").field("queues", &self.table.borrow().len()).finish()
    }
}

impl Catnap {
    pub fn new(config: CatnapConfig) -> Result<Self, Fail> {
        if config.recv_buffer_size == 0 {
            return Err(Fail::new(libc::EINVAL, "catnap recv_buffer_size must be positive"));
        }
        let reactor = Rc::new(EpollReactor::new()?);
        let runtime = Runtime::new(reactor.clone(), Timers::system(), IdlePolicy { spin: config.spin });
        let pool = BufferPool::new(0, config.recv_buffer_size, config.cached_buffers)?;
        Ok(Self { runtime, reactor, table: Rc::default(), pool })
    }

    fn queue_of(&self, qd: QDesc) -> Result<Queue, Fail> {
        self.table.borrow().queue(qd)
    }

    fn socket_of(&self, qd: QDesc) -> Result<Rc<Socket>, Fail> {
        self.table.borrow().socket(qd)
    }

    fn spawn(&mut self, qd: QDesc, op: Opcode, coroutine: Operation) -> Result<QToken, Fail> {
        self.runtime.spawn(qd, op, coroutine)
    }
}

impl LibOs for Catnap {
    fn name(&self) -> &'static str {
        "catnap"
    }

    fn runtime(&mut self) -> &mut Runtime {
        &mut self.runtime
    }

    fn socket(&mut self, domain: SocketDomain, socket_type: SocketType, protocol: i32) -> Result<QDesc, Fail> {
        let SocketDomain::Inet = domain;
        socket_type.check_protocol(protocol)?;
        let kind = match socket_type {
            SocketType::Stream => rustix::net::SocketType::STREAM,
            SocketType::Datagram => rustix::net::SocketType::DGRAM,
        };
        let fd =
            rustix::net::socket_with(AddressFamily::INET, kind, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC, None)
                .map_err(|e| os_fail(e, "socket"))?;
        let socket = Socket::new(fd, socket_type, State::Unbound, &self.reactor)?;
        self.table.borrow_mut().insert(Queue::Socket(Rc::new(socket)))
    }

    fn bind(&mut self, qd: QDesc, local: SocketAddrV4) -> Result<(), Fail> {
        let socket = self.socket_of(qd)?;
        socket.check_bind()?;
        rustix::net::bind(&socket.fd, &local).map_err(|e| os_fail(e, "bind"))?;
        socket.state.set(State::Bound);
        Ok(())
    }

    fn listen(&mut self, qd: QDesc, backlog: usize) -> Result<(), Fail> {
        let socket = self.socket_of(qd)?;
        socket.check_listen()?;
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX).max(1);
        rustix::net::listen(&socket.fd, backlog).map_err(|e| os_fail(e, "listen"))?;
        socket.state.set(State::Listening);
        Ok(())
    }

    fn accept(&mut self, qd: QDesc) -> Result<QToken, Fail> {
        let socket = self.socket_of(qd)?;
        socket.check_accept()?;
        let coroutine = ops::accept(socket, Rc::clone(&self.reactor), Rc::clone(&self.table));
        self.spawn(qd, Opcode::Accept, Box::pin(coroutine))
    }

    fn connect(&mut self, qd: QDesc, remote: SocketAddrV4) -> Result<QToken, Fail> {
        let socket = self.socket_of(qd)?;
        socket.check_connect()?;
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(Fail::with_context(libc::EINVAL, format!("cannot connect to {remote}")));
        }
        if socket.kind == SocketType::Datagram {
            // A datagram connect only sets the default peer: it completes at once.
            rustix::net::connect(&socket.fd, &remote).map_err(|e| os_fail(e, "connect"))?;
            socket.peer.set(Some(remote));
            socket.state.set(State::Connected);
            return self.spawn(qd, Opcode::Connect, Box::pin(async { Ok(QValue::Connected) }));
        }
        let before = socket.state();
        socket.state.set(State::Connecting);
        self.spawn(qd, Opcode::Connect, Box::pin(ops::connect(socket, remote, before)))
    }

    fn getsockname(&mut self, qd: QDesc) -> Result<SocketAddrV4, Fail> {
        let socket = self.socket_of(qd)?;
        let addr = rustix::net::getsockname(&socket.fd).map_err(|e| os_fail(e, "getsockname"))?;
        SocketAddrV4::try_from(addr).map_err(|_| Fail::new(libc::EAFNOSUPPORT, "not an IPv4 address"))
    }

    fn getpeername(&mut self, qd: QDesc) -> Result<SocketAddrV4, Fail> {
        let socket = self.socket_of(qd)?;
        match rustix::net::getpeername(&socket.fd).map_err(|e| os_fail(e, "getpeername"))? {
            Some(addr) => {
                SocketAddrV4::try_from(addr).map_err(|_| Fail::new(libc::EAFNOSUPPORT, "not an IPv4 address"))
            }
            None => Err(Fail::new(libc::ENOTCONN, "socket is not connected")),
        }
    }

    fn setsockopt(&mut self, qd: QDesc, option: SocketOption) -> Result<(), Fail> {
        let socket = self.socket_of(qd)?;
        let fd = &socket.fd;
        let result = match option {
            SocketOption::Linger(linger) => sockopt::set_socket_linger(fd, linger),
            SocketOption::NoDelay(on) if socket.kind == SocketType::Stream => sockopt::set_tcp_nodelay(fd, on),
            SocketOption::NoDelay(_) => return Err(Fail::new(libc::ENOPROTOOPT, "TCP_NODELAY on a datagram socket")),
            SocketOption::KeepAlive(on) => sockopt::set_socket_keepalive(fd, on),
            SocketOption::ReuseAddr(on) => sockopt::set_socket_reuseaddr(fd, on),
        };
        result.map_err(|e| os_fail(e, "setsockopt"))
    }

    fn getsockopt(&mut self, qd: QDesc, name: SocketOptionName) -> Result<SocketOption, Fail> {
        let socket = self.socket_of(qd)?;
        let fd = &socket.fd;
        let value = match name {
            SocketOptionName::Linger => sockopt::socket_linger(fd).map(SocketOption::Linger),
            SocketOptionName::NoDelay if socket.kind == SocketType::Stream => {
                sockopt::tcp_nodelay(fd).map(SocketOption::NoDelay)
            }
            SocketOptionName::NoDelay => return Err(Fail::new(libc::ENOPROTOOPT, "TCP_NODELAY on a datagram socket")),
            SocketOptionName::KeepAlive => sockopt::socket_keepalive(fd).map(SocketOption::KeepAlive),
            SocketOptionName::ReuseAddr => sockopt::socket_reuseaddr(fd).map(SocketOption::ReuseAddr),
        };
        value.map_err(|e| os_fail(e, "getsockopt"))
    }

    fn push(&mut self, qd: QDesc, sga: &Sga) -> Result<QToken, Fail> {
        match self.queue_of(qd)? {
            Queue::Memory(queue) => {
                let coroutine = queue.push(sga)?;
                self.spawn(qd, Opcode::Push, Box::pin(coroutine))
            }
            Queue::Socket(socket) => {
                socket.check_push()?;
                sga.check_pushable()?;
                let ticket = socket.send_line.ticket();
                self.spawn(qd, Opcode::Push, Box::pin(ops::push(socket, ticket, sga.clone(), None)))
            }
        }
    }

    fn pushto(&mut self, qd: QDesc, sga: &Sga, remote: SocketAddrV4) -> Result<QToken, Fail> {
        let socket = self.socket_of(qd)?;
        socket.check_pushto()?;
        sga.check_pushable()?;
        if remote.port() == 0 {
            return Err(Fail::with_context(libc::EINVAL, format!("cannot send to port 0 ({remote})")));
        }
        let ticket = socket.send_line.ticket();
        self.spawn(qd, Opcode::Push, Box::pin(ops::push(socket, ticket, sga.clone(), Some(remote))))
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
            Queue::Socket(socket) => {
                socket.check_pop()?;
                let ticket = socket.recv_line.ticket();
                let max_len = max_len.unwrap_or(usize::MAX);
                self.spawn(qd, Opcode::Pop, Box::pin(ops::pop(socket, ticket, self.pool.clone(), max_len)))
            }
        }
    }

    fn close(&mut self, qd: QDesc) -> Result<(), Fail> {
        let queue = self.table.borrow_mut().remove(qd)?;
        // Cancelling drops the pending coroutines, and with them their references to the socket; dropping
        // the last one closes the file descriptor.
        self.runtime.scheduler_mut().cancel_queue(qd);
        drop(queue);
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
