//! catnap's side of the echo benchmark: a PDPIX echo server on its own thread (one catnap instance there)
//! and a PDPIX client (another instance on the caller's thread), both written only against `LibOs`.
//!
//! Not for: anything but measurement. Errors abort the benchmark.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use demikernel::{Config, Fail, LibOs, QDesc, QValue, Sga, SocketDomain, SocketOption, SocketType};

/// A catnap instance whose idle `wait` spins for `spin` before blocking in `epoll_wait`.
pub fn catnap(spin: Duration) -> Result<Box<dyn LibOs>, Fail> {
    let mut config = Config { libos: Some("catnap".into()), ..Config::default() };
    config.catnap.spin_us = spin.as_micros() as u64;
    demikernel::from_config(&config)
}

/// Waits for `qt` and returns its value, turning an operation's error into the call's.
fn complete(libos: &mut dyn LibOs, qt: demikernel::QToken) -> Result<QValue, Fail> {
    libos.wait(qt, None)?.value
}

/// An echo server on its own thread, serving one connection until the client closes it.
#[derive(Debug)]
pub struct CatnapEchoServer {
    addr: SocketAddrV4,
    thread: Option<JoinHandle<Result<u64, Fail>>>,
}

impl CatnapEchoServer {
    /// Starts a catnap instance on a new thread (on CPU `cpu`, if given), listening on an ephemeral loopback
    /// port.
    pub fn start(spin: Duration, cpu: Option<usize>) -> Result<Self, Fail> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("catnap-echo-server".into())
            .spawn(move || {
                crate::pin_current_thread(cpu).map_err(|e| {
                    Fail::with_context(e.raw_os_error().unwrap_or(libc::EINVAL), format!("pinning: {e}"))
                })?;
                let mut libos = catnap(spin)?;
                let listener = libos.socket(SocketDomain::Inet, SocketType::Stream, 0)?;
                libos.bind(listener, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
                libos.listen(listener, 16)?;
                // The receiver lives until the address arrives; a failed send only means the caller gave up.
                let _ = tx.send(libos.getsockname(listener)?);
                let qt = libos.accept(listener)?;
                let QValue::Accepted { qd, .. } = complete(&mut *libos, qt)? else {
                    return Err(Fail::new(libc::EPROTO, "accept completed with another value"));
                };
                libos.setsockopt(qd, SocketOption::NoDelay(true))?;
                serve(&mut *libos, qd)
            })
            .map_err(|e| Fail::with_context(libc::EAGAIN, format!("cannot start the server thread: {e}")))?;
        match rx.recv() {
            Ok(addr) => Ok(Self { addr, thread: Some(thread) }),
            // The thread ended before listening: its result says why.
            Err(_) => Err(thread
                .join()
                .map_err(|_| Fail::new(libc::EIO, "server thread panicked"))?
                .err()
                .unwrap_or(Fail::new(libc::EIO, "server thread ended before listening"))),
        }
    }

    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// Waits for the server to finish (after its client closed); returns the bytes it echoed.
    pub fn join(mut self) -> Result<u64, Fail> {
        let thread = self.thread.take().expect("joined once");
        thread.join().map_err(|_| Fail::new(libc::EIO, "catnap echo server panicked"))?
    }
}

/// Pops and pushes back what was popped until the end of the stream.
fn serve(libos: &mut dyn LibOs, qd: QDesc) -> Result<u64, Fail> {
    let mut echoed = 0u64;
    loop {
        let qt = libos.pop(qd, None)?;
        let QValue::Popped { sga, .. } = complete(libos, qt)? else {
            return Err(Fail::new(libc::EPROTO, "pop completed with another value"));
        };
        if sga.is_empty() {
            libos.close(qd)?;
            return Ok(echoed);
        }
        echoed += sga.len() as u64;
        let qt = libos.push(qd, &sga)?;
        complete(libos, qt)?;
    }
}

/// The client side: pushes a message and pops until all of it came back.
pub struct CatnapEchoClient {
    libos: Box<dyn LibOs>,
    qd: QDesc,
    message: Sga,
}

impl std::fmt::Debug for CatnapEchoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatnapEchoClient").field("qd", &self.qd).field("len", &self.message.len()).finish()
    }
}

impl CatnapEchoClient {
    pub fn connect(addr: SocketAddrV4, message_size: usize, spin: Duration) -> Result<Self, Fail> {
        let mut libos = catnap(spin)?;
        let qd = libos.socket(SocketDomain::Inet, SocketType::Stream, 0)?;
        let qt = libos.connect(qd, addr)?;
        complete(&mut *libos, qt)?;
        libos.setsockopt(qd, SocketOption::NoDelay(true))?;
        let bytes: Vec<u8> = (0..message_size).map(|i| i as u8).collect();
        let message = Sga::from_slice(&bytes)?;
        Ok(Self { libos, qd, message })
    }

    /// One round trip: the whole message out, the whole message back.
    pub fn round_trip(&mut self) -> Result<(), Fail> {
        let libos = &mut *self.libos;
        let qt = libos.push(self.qd, &self.message)?;
        complete(libos, qt)?;
        let mut got = 0;
        while got < self.message.len() {
            let qt = libos.pop(self.qd, Some(self.message.len() - got))?;
            let QValue::Popped { sga, .. } = complete(libos, qt)? else {
                return Err(Fail::new(libc::EPROTO, "pop completed with another value"));
            };
            if sga.is_empty() {
                return Err(Fail::new(libc::ECONNRESET, "echo server closed the connection"));
            }
            got += sga.len();
        }
        Ok(())
    }
}

impl Drop for CatnapEchoClient {
    fn drop(&mut self) {
        // Closing ends the server's stream; an error here only means the queue is already gone.
        let _ = self.libos.close(self.qd);
    }
}
