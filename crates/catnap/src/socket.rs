//! `Socket`: a non-blocking kernel socket, its PDPIX state machine, and the order of its operations.
//!
//! The state decides which calls are legal (and which errno the others get) before any system call runs.
//! Pushes on one socket go out in the order they were issued, and pops take data in the order they were
//! issued: each direction hands out tickets (`Line`), and an operation touches the socket only on its turn,
//! so a large push that the kernel takes in pieces is never interleaved with the next one.

use std::cell::Cell;
use std::net::SocketAddrV4;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;

use pdpix::{Fail, SocketType};

use crate::reactor::{EpollReactor, Readiness};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Unbound,
    Bound,
    Listening,
    Connecting,
    Connected,
}

/// Tickets for one direction of a socket: operations run one at a time, in the order they were issued.
#[derive(Debug, Default)]
pub(crate) struct Line {
    next: Cell<u64>,
    serving: Cell<u64>,
}

impl Line {
    pub(crate) fn ticket(&self) -> u64 {
        let t = self.next.get();
        self.next.set(t + 1);
        t
    }

    pub(crate) fn is_turn(&self, ticket: u64) -> bool {
        self.serving.get() == ticket
    }

    pub(crate) fn advance(&self) {
        self.serving.set(self.serving.get() + 1);
    }
}

#[derive(Debug)]
pub(crate) struct Socket {
    pub(crate) fd: OwnedFd,
    pub(crate) kind: SocketType,
    pub(crate) state: Cell<State>,
    /// Default destination of a connected datagram socket.
    pub(crate) peer: Cell<Option<SocketAddrV4>>,
    pub(crate) readiness: Rc<Readiness>,
    pub(crate) send_line: Line,
    pub(crate) recv_line: Line,
    reactor: Rc<EpollReactor>,
    key: u32,
}

impl Socket {
    /// Wraps a non-blocking socket and registers it with the reactor.
    pub(crate) fn new(fd: OwnedFd, kind: SocketType, state: State, reactor: &Rc<EpollReactor>) -> Result<Self, Fail> {
        let (key, readiness) = reactor.register(fd.as_fd())?;
        Ok(Self {
            fd,
            kind,
            state: Cell::new(state),
            peer: Cell::new(None),
            readiness,
            send_line: Line::default(),
            recv_line: Line::default(),
            reactor: Rc::clone(reactor),
            key,
        })
    }

    pub(crate) fn state(&self) -> State {
        self.state.get()
    }

    pub(crate) fn check_bind(&self) -> Result<(), Fail> {
        match self.state() {
            State::Unbound => Ok(()),
            _ => Err(Fail::new(libc::EINVAL, "socket is already bound")),
        }
    }

    pub(crate) fn check_listen(&self) -> Result<(), Fail> {
        if self.kind != SocketType::Stream {
            return Err(Fail::new(libc::EOPNOTSUPP, "listen on a datagram socket"));
        }
        match self.state() {
            State::Bound | State::Listening => Ok(()),
            State::Unbound => Err(Fail::new(libc::EDESTADDRREQ, "listen on an unbound socket: bind first")),
            State::Connecting | State::Connected => Err(Fail::new(libc::EINVAL, "listen on a connected socket")),
        }
    }

    pub(crate) fn check_accept(&self) -> Result<(), Fail> {
        if self.kind != SocketType::Stream {
            return Err(Fail::new(libc::EOPNOTSUPP, "accept on a datagram socket"));
        }
        match self.state() {
            State::Listening => Ok(()),
            _ => Err(Fail::new(libc::EINVAL, "accept on a socket that is not listening")),
        }
    }

    pub(crate) fn check_connect(&self) -> Result<(), Fail> {
        match (self.kind, self.state()) {
            (_, State::Listening) => Err(Fail::new(libc::EOPNOTSUPP, "connect on a listening socket")),
            (SocketType::Stream, State::Connecting) => Err(Fail::new(libc::EALREADY, "connect already in progress")),
            (SocketType::Stream, State::Connected) => Err(Fail::new(libc::EISCONN, "socket is already connected")),
            _ => Ok(()),
        }
    }

    pub(crate) fn check_push(&self) -> Result<(), Fail> {
        match (self.kind, self.state()) {
            (SocketType::Stream, State::Connected) => Ok(()),
            (SocketType::Stream, State::Listening) => Err(Fail::new(libc::EOPNOTSUPP, "push on a listening socket")),
            (SocketType::Stream, _) => Err(Fail::new(libc::ENOTCONN, "push on an unconnected socket")),
            (SocketType::Datagram, _) if self.peer.get().is_some() => Ok(()),
            (SocketType::Datagram, _) => {
                Err(Fail::new(libc::EDESTADDRREQ, "push on an unconnected datagram socket: use pushto"))
            }
        }
    }

    pub(crate) fn check_pushto(&self) -> Result<(), Fail> {
        match self.kind {
            SocketType::Datagram => Ok(()),
            SocketType::Stream => Err(Fail::new(libc::EOPNOTSUPP, "pushto on a stream socket: use push")),
        }
    }

    pub(crate) fn check_pop(&self) -> Result<(), Fail> {
        match (self.kind, self.state()) {
            (SocketType::Stream, State::Connected) => Ok(()),
            (SocketType::Stream, State::Listening) => {
                Err(Fail::new(libc::EOPNOTSUPP, "pop on a listening socket: use accept"))
            }
            (SocketType::Stream, _) => Err(Fail::new(libc::ENOTCONN, "pop on an unconnected socket")),
            (SocketType::Datagram, State::Unbound) if self.peer.get().is_none() => {
                Err(Fail::new(libc::EDESTADDRREQ, "pop on an unbound datagram socket: bind first"))
            }
            (SocketType::Datagram, _) => Ok(()),
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.reactor.deregister(self.key, self.fd.as_fd());
    }
}
