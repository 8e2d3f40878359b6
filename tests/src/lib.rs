//! Helpers for the cross-crate tests: which libOS to test, and an echo server on its own thread (with its
//! own libOS instance, as a separate process would have) written against the PDPIX trait only.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use demikernel::{Fail, LibOs, QDesc, QToken, QValue, SocketDomain, SocketType};

/// The libOS under test: `DEMI_TEST_LIBOS`, or catnap.
pub fn libos_name() -> String {
    std::env::var("DEMI_TEST_LIBOS").unwrap_or_else(|_| "catnap".to_owned())
}

/// The libOS under test, configured by `DEMI_CONFIG` if set (catnip needs its `[catnip]` section).
pub fn new_libos() -> Box<dyn LibOs> {
    let mut config = demikernel::Config::from_env().expect("DEMI_CONFIG, if set, names a valid file");
    config.libos = Some(libos_name());
    demikernel::from_config(&config).expect("the libOS under test starts")
}

pub const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// An echo server running on its own thread until dropped.
#[derive(Debug)]
pub struct EchoServer {
    pub addr: SocketAddrV4,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), Fail>>>,
}

impl EchoServer {
    pub fn start(socket_type: SocketType) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut libos = new_libos();
            let qd = libos.socket(SocketDomain::Inet, socket_type, 0)?;
            libos.bind(qd, SocketAddrV4::new(LOCALHOST, 0))?;
            if socket_type == SocketType::Stream {
                libos.listen(qd, 1024)?;
            }
            tx.send(libos.getsockname(qd)?).expect("the test waits for the address");
            match socket_type {
                SocketType::Stream => serve_stream(libos.as_mut(), qd, &flag),
                SocketType::Datagram => serve_datagrams(libos.as_mut(), qd, &flag),
            }
        });
        let addr = rx.recv().expect("the server reports its address");
        Self { addr, stop, thread: Some(thread) }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let result = thread.join().expect("the echo server does not panic");
            if !std::thread::panicking() {
                result.expect("the echo server ends cleanly");
            }
        }
    }
}

/// Waits for any token, returning `None` on a timeout so the caller can check for a stop request.
fn next(libos: &mut dyn LibOs, qts: &mut Vec<QToken>) -> Result<Option<demikernel::QResult>, Fail> {
    match libos.wait_any(qts, Some(Duration::from_millis(20))) {
        Ok((i, result)) => {
            qts.swap_remove(i);
            Ok(Some(result))
        }
        Err(e) if e.errno() == libc::ETIMEDOUT => Ok(None),
        Err(e) => Err(e),
    }
}

fn serve_stream(libos: &mut dyn LibOs, listener: QDesc, stop: &AtomicBool) -> Result<(), Fail> {
    let mut qts = vec![libos.accept(listener)?];
    while !stop.load(Ordering::SeqCst) {
        let Some(result) = next(libos, &mut qts)? else { continue };
        match result.value {
            Ok(QValue::Accepted { qd, .. }) => {
                qts.push(libos.accept(listener)?);
                qts.push(libos.pop(qd, None)?);
            }
            Ok(QValue::Popped { sga, .. }) if sga.is_empty() => libos.close(result.qd)?,
            Ok(QValue::Popped { sga, .. }) => {
                qts.push(libos.push(result.qd, &sga)?);
                qts.push(libos.pop(result.qd, None)?);
            }
            Ok(_) => {}
            // A connection the peer reset, or an operation of a queue closed above.
            Err(e) if matches!(e.errno(), libc::ECONNRESET | libc::EPIPE | libc::ECANCELED) => {
                let _ = libos.close(result.qd);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn serve_datagrams(libos: &mut dyn LibOs, qd: QDesc, stop: &AtomicBool) -> Result<(), Fail> {
    let mut qts = vec![libos.pop(qd, None)?];
    while !stop.load(Ordering::SeqCst) {
        let Some(result) = next(libos, &mut qts)? else { continue };
        match result.value? {
            QValue::Popped { sga, from: Some(from) } => {
                qts.push(libos.pushto(qd, &sga, from)?);
                qts.push(libos.pop(qd, None)?);
            }
            QValue::Popped { from: None, .. } => return Err(Fail::new(libc::EINVAL, "datagram without a sender")),
            _ => {}
        }
    }
    Ok(())
}

/// Opens a TCP connection to `addr` and waits for it.
pub fn connect(libos: &mut dyn LibOs, addr: SocketAddrV4) -> QDesc {
    let qd = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    let qt = libos.connect(qd, addr).unwrap();
    let result = libos.wait(qt, Some(Duration::from_secs(10))).unwrap();
    assert!(matches!(result.value, Ok(QValue::Connected)), "{result:?}");
    qd
}

/// Pops until `len` bytes have arrived.
pub fn pop_exactly(libos: &mut dyn LibOs, qd: QDesc, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let qt = libos.pop(qd, Some(len - out.len())).unwrap();
        match libos.wait(qt, Some(Duration::from_secs(30))).unwrap().value.unwrap() {
            QValue::Popped { sga, .. } => {
                assert!(!sga.is_empty(), "stream ended after {} of {len} bytes", out.len());
                for segment in sga.segments() {
                    out.extend_from_slice(segment);
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

/// Waits for a token that must succeed and returns its value.
pub fn expect_ok(libos: &mut dyn LibOs, qt: QToken) -> QValue {
    let result = libos.wait(qt, Some(Duration::from_secs(30))).unwrap();
    result.value.unwrap_or_else(|e| panic!("operation on {:?} failed: {e}", result.qd))
}
