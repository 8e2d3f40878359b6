//! The coroutines behind catnap's qtokens. Each tries its system call at once (the scheduler polls a new
//! coroutine when it is spawned) and, on EAGAIN, parks on the socket's readiness until epoll reports it.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::IoSlice;
use std::net::SocketAddrV4;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::task::Poll;

use pdpix::{Fail, QValue, Sga, SocketType};
use runtime::{BufferPool, QueueTable};
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendAncillaryBuffer, SendFlags, SocketFlags};

use crate::Queue;
use crate::reactor::{EpollReactor, Readiness, os_fail};
use crate::socket::{Line, Socket, State};

/// Most segments handed to one `sendmsg`.
const MAX_IOVECS: usize = 16;

/// Which readiness an operation waits for.
#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

/// Completes once the socket may be ready in `direction` (at once if its flag is set; otherwise when epoll
/// sets it). Also wakes on a turn change, then re-checks.
async fn ready(readiness: &Readiness, direction: Direction) {
    poll_fn(|cx| {
        let set = match direction {
            Direction::Read => readiness.is_readable(),
            Direction::Write => readiness.is_writable(),
        };
        if set {
            return Poll::Ready(());
        }
        match direction {
            Direction::Read => readiness.wait_readable(cx.waker()),
            Direction::Write => readiness.wait_writable(cx.waker()),
        }
        Poll::Pending
    })
    .await
}

/// Waits for the next turn of a queue of operations on one socket (woken when the turn passes).
async fn turn(line: &Line, ticket: u64, readiness: &Readiness, direction: Direction) {
    poll_fn(|cx| {
        if line.is_turn(ticket) {
            return Poll::Ready(());
        }
        match direction {
            Direction::Read => readiness.wait_readable(cx.waker()),
            Direction::Write => readiness.wait_writable(cx.waker()),
        }
        Poll::Pending
    })
    .await
}

/// Holds a socket direction's turn; passing it on wakes the operations waiting behind.
struct Turn<'a> {
    line: &'a Line,
    readiness: &'a Readiness,
    direction: Direction,
}

impl<'a> Turn<'a> {
    async fn take(line: &'a Line, ticket: u64, readiness: &'a Readiness, direction: Direction) -> Self {
        turn(line, ticket, readiness, direction).await;
        Self { line, readiness, direction }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.line.advance();
        match self.direction {
            Direction::Read => self.readiness.wake_readers(),
            Direction::Write => self.readiness.wake_writers(),
        }
    }
}

/// Sends all of `sga` (to `to`, for datagrams without a default peer).
pub(crate) async fn push(socket: Rc<Socket>, ticket: u64, sga: Sga, to: Option<SocketAddrV4>) -> Result<QValue, Fail> {
    let _turn = Turn::take(&socket.send_line, ticket, &socket.readiness, Direction::Write).await;
    let total = sga.len();
    let mut sent = 0;
    let mut iovecs = [IoSlice::new(&[]); MAX_IOVECS];
    while sent < total {
        ready(&socket.readiness, Direction::Write).await;
        let mut count = 0;
        let mut skip = sent;
        for segment in sga.segments() {
            if skip >= segment.len() {
                skip -= segment.len();
                continue;
            }
            iovecs[count] = IoSlice::new(&segment[skip..]);
            count += 1;
            skip = 0;
            if count == MAX_IOVECS {
                break;
            }
        }
        let mut control = SendAncillaryBuffer::default();
        let result = match to {
            Some(addr) => {
                rustix::net::sendmsg_addr(&socket.fd, &addr, &iovecs[..count], &mut control, SendFlags::NOSIGNAL)
            }
            None => rustix::net::sendmsg(&socket.fd, &iovecs[..count], &mut control, SendFlags::NOSIGNAL),
        };
        match result {
            Ok(n) => {
                sent += n;
                if socket.kind == SocketType::Datagram {
                    // A datagram goes whole or not at all; the kernel bound an unbound socket.
                    if socket.state() == State::Unbound {
                        socket.state.set(State::Bound);
                    }
                    break;
                }
            }
            Err(Errno::AGAIN) => socket.readiness.clear_writable(),
            Err(Errno::INTR) => {}
            Err(e) => return Err(os_fail(e, "sendmsg")),
        }
    }
    Ok(QValue::Pushed)
}

/// Receives what has arrived, at most `max_len` bytes. A stream's end is an empty array.
pub(crate) async fn pop(socket: Rc<Socket>, ticket: u64, pool: BufferPool, max_len: usize) -> Result<QValue, Fail> {
    let _turn = Turn::take(&socket.recv_line, ticket, &socket.readiness, Direction::Read).await;
    let mut buffer = pool.alloc(max_len.min(pool.segment_size()))?;
    loop {
        ready(&socket.readiness, Direction::Read).await;
        let slice = buffer.as_mut_slice().expect("a fresh pool buffer is unique");
        let result = match socket.kind {
            SocketType::Stream => rustix::net::recv(&socket.fd, slice, RecvFlags::empty()).map(|(_, n)| (n, None)),
            SocketType::Datagram => rustix::net::recvfrom(&socket.fd, slice, RecvFlags::empty())
                .map(|(_, n, from)| (n, from.and_then(|a| SocketAddrV4::try_from(a).ok()))),
        };
        match result {
            Ok((n, from)) => {
                if socket.kind == SocketType::Stream && n > 0 && n < buffer.len() {
                    socket.readiness.clear_readable_after_short_read();
                }
                let n = n.min(buffer.len());
                buffer.trim(buffer.len() - n)?;
                let sga =
                    if n == 0 && socket.kind == SocketType::Stream { Sga::new() } else { Sga::from_buffer(buffer) };
                return Ok(QValue::Popped { sga, from });
            }
            Err(Errno::AGAIN) => socket.readiness.clear_readable(),
            Err(Errno::INTR) => {}
            Err(e) => return Err(os_fail(e, "recv")),
        }
    }
}

/// Accepts the next connection and gives it a queue descriptor.
pub(crate) async fn accept(
    socket: Rc<Socket>,
    reactor: Rc<EpollReactor>,
    table: Rc<RefCell<QueueTable<Queue>>>,
) -> Result<QValue, Fail> {
    loop {
        ready(&socket.readiness, Direction::Read).await;
        match rustix::net::acceptfrom_with(&socket.fd, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
            Ok((fd, addr)) => {
                let addr = addr
                    .and_then(|a| SocketAddrV4::try_from(a).ok())
                    .ok_or_else(|| Fail::new(libc::EAFNOSUPPORT, "accepted a non-IPv4 peer"))?;
                let accepted = Socket::new(fd, SocketType::Stream, State::Connected, &reactor)?;
                let qd = table.borrow_mut().insert(Queue::Socket(Rc::new(accepted)))?;
                return Ok(QValue::Accepted { qd, addr });
            }
            Err(Errno::AGAIN) => socket.readiness.clear_readable(),
            Err(Errno::INTR | Errno::CONNABORTED) => {}
            Err(e) => return Err(os_fail(e, "accept4")),
        }
    }
}

/// Connects a stream socket; the state goes back to where it was if the connection fails.
pub(crate) async fn connect(socket: Rc<Socket>, remote: SocketAddrV4, before: State) -> Result<QValue, Fail> {
    let result = connect_stream(&socket, remote).await;
    socket.state.set(if result.is_ok() { State::Connected } else { before });
    result.map(|()| QValue::Connected)
}

async fn connect_stream(socket: &Socket, remote: SocketAddrV4) -> Result<(), Fail> {
    match rustix::net::connect(&socket.fd, &remote) {
        Ok(()) => return Ok(()),
        Err(Errno::INPROGRESS | Errno::INTR) => socket.readiness.clear_writable(),
        Err(e) => return Err(os_fail(e, "connect")),
    }
    loop {
        ready(&socket.readiness, Direction::Write).await;
        match rustix::net::sockopt::socket_error(&socket.fd) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(os_fail(e, "connect")),
            Err(e) => return Err(os_fail(e, "getsockopt(SO_ERROR)")),
        }
        match rustix::net::getpeername(socket.fd.as_fd()) {
            Ok(Some(_)) => return Ok(()),
            // Still in progress: the wake-up was not the connection's completion.
            Ok(None) | Err(Errno::NOTCONN) => socket.readiness.clear_writable(),
            Err(e) => return Err(os_fail(e, "getpeername")),
        }
    }
}
