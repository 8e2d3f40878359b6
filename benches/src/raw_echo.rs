//! The anchor for catnap's echo figures: a TCP echo client and server on plain non-blocking sockets and
//! epoll, written directly against libc, with nothing of demikernel in the data path.
//!
//! Connection setup uses `std::net` (it is not measured); every send, receive and wait afterwards is a raw
//! `send`/`recv`/`epoll_wait`. Each side waits like catnap's runtime does when idle: it polls epoll without
//! blocking for up to a spin budget, then blocks in `epoll_wait`. A zero budget blocks at once (the classic
//! epoll loop); catnap's default budget (50 us) makes the anchor spin exactly as catnap does.
//!
//! Not for: anything but measurement. Errors abort the benchmark.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A non-blocking TCP connection with its own epoll instance.
#[derive(Debug)]
struct RawConnection {
    stream: TcpStream,
    epoll: OwnedFd,
    spin: Duration,
    /// The events the epoll instance is currently armed for.
    interest: u32,
}

impl RawConnection {
    fn new(stream: TcpStream, spin: Duration) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        // SAFETY: `epoll_create1` takes no pointers; a non-negative result is a new fd that we own.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `epfd` was just returned by `epoll_create1` and nothing else owns it.
        let epoll = unsafe { OwnedFd::from_raw_fd(epfd) };
        let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 0 };
        // SAFETY: both fds are open; `event` is a valid, initialised epoll_event that outlives the call.
        let rc = unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, stream.as_raw_fd(), &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { stream, epoll, spin, interest: libc::EPOLLIN as u32 })
    }

    fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// Waits until the socket reports one of `events`: spins on a non-blocking `epoll_wait` for the spin
    /// budget, then blocks.
    fn wait(&mut self, events: u32) -> io::Result<()> {
        if self.interest != events {
            let mut event = libc::epoll_event { events, u64: 0 };
            // SAFETY: both fds are open and registered; `event` is valid for the duration of the call.
            let rc = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_MOD, self.fd(), &mut event) };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            self.interest = events;
        }
        let started = Instant::now();
        loop {
            let timeout = if started.elapsed() < self.spin { 0 } else { -1 };
            let mut out = [libc::epoll_event { events: 0, u64: 0 }; 1];
            // SAFETY: `out` is a writable array of 1 epoll_event, and we pass its length as maxevents.
            let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), out.as_mut_ptr(), 1, timeout) };
            match n {
                1.. => return Ok(()),
                0 => std::hint::spin_loop(),
                _ => {
                    let err = io::Error::last_os_error();
                    if err.kind() != io::ErrorKind::Interrupted {
                        return Err(err);
                    }
                }
            }
        }
    }

    /// Sends all of `bytes`, waiting for room when the socket buffer is full.
    fn send_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            // SAFETY: `bytes` is a valid readable region of `bytes.len()` bytes for the duration of the call.
            let n = unsafe { libc::send(self.fd(), bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
            if n >= 0 {
                bytes = &bytes[n as usize..];
                continue;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::WouldBlock => self.wait(libc::EPOLLOUT as u32)?,
                io::ErrorKind::Interrupted => {}
                _ => return Err(err),
            }
        }
        Ok(())
    }

    /// Receives whatever has arrived (at least one byte, or 0 at end of stream), waiting if nothing has.
    fn recv_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is a valid writable region of `buf.len()` bytes for the duration of the call.
            let n = unsafe { libc::recv(self.fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::WouldBlock => self.wait(libc::EPOLLIN as u32)?,
                io::ErrorKind::Interrupted => {}
                _ => return Err(err),
            }
        }
    }
}

/// An echo server on its own thread, serving one connection until the client closes it.
#[derive(Debug)]
pub struct RawEchoServer {
    addr: SocketAddrV4,
    thread: Option<JoinHandle<io::Result<u64>>>,
}

impl RawEchoServer {
    /// Listens on an ephemeral loopback port and serves the first connection on a new thread (on CPU
    /// `cpu`, if given).
    pub fn start(spin: Duration, cpu: Option<usize>) -> io::Result<Self> {
        let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
        let addr = match listener.local_addr()? {
            std::net::SocketAddr::V4(addr) => addr,
            std::net::SocketAddr::V6(_) => unreachable!("bound to an IPv4 address"),
        };
        let thread = std::thread::Builder::new().name("raw-echo-server".into()).spawn(move || {
            crate::pin_current_thread(cpu)?;
            let (stream, _) = listener.accept()?;
            let mut conn = RawConnection::new(stream, spin)?;
            let mut buf = vec![0u8; 64 * 1024];
            let mut echoed = 0u64;
            loop {
                let n = conn.recv_some(&mut buf)?;
                if n == 0 {
                    return Ok(echoed);
                }
                conn.send_all(&buf[..n])?;
                echoed += n as u64;
            }
        })?;
        Ok(Self { addr, thread: Some(thread) })
    }

    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// Waits for the server to finish (after its client closed); returns the bytes it echoed.
    pub fn join(mut self) -> io::Result<u64> {
        let thread = self.thread.take().expect("joined once");
        thread.join().map_err(|_| io::Error::other("raw echo server panicked"))?
    }
}

/// The client side: sends a message and waits for all of it to come back.
#[derive(Debug)]
pub struct RawEchoClient {
    conn: RawConnection,
    message: Vec<u8>,
    buf: Vec<u8>,
}

impl RawEchoClient {
    pub fn connect(addr: SocketAddrV4, message_size: usize, spin: Duration) -> io::Result<Self> {
        let conn = RawConnection::new(TcpStream::connect(addr)?, spin)?;
        let message = (0..message_size).map(|i| i as u8).collect();
        Ok(Self { conn, message, buf: vec![0u8; message_size.max(1)] })
    }

    /// One round trip: the whole message out, the whole message back.
    pub fn round_trip(&mut self) -> io::Result<()> {
        self.conn.send_all(&self.message)?;
        let mut got = 0;
        while got < self.message.len() {
            let n = self.conn.recv_some(&mut self.buf[got..])?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "echo server closed the connection"));
            }
            got += n;
        }
        debug_assert_eq!(self.buf[..got], self.message[..]);
        Ok(())
    }
}
