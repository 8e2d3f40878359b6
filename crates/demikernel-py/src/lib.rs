//! `demikernel._demikernel`: the native half of the Python package `demikernel` (see python/demikernel).
//!
//! A libOS is single-threaded and full of `Rc`, so no Python object holds one directly: each thread keeps its
//! libOS instances and scatter-gather arrays in thread-local tables ([`registry`]), and the Python objects
//! hold keys plus the id of the thread that owns them. A call from another thread finds nothing there and
//! raises `RuntimeError`; nothing is ever shared across threads. This also lets a blocking `wait` release the
//! GIL: the closure that runs without it captures only plain keys and reaches the libOS through its own
//! thread's table.
//!
//! Not for: the asyncio event loop, streams, CLI (pure Python, in python/demikernel).

mod addr;
mod bench;
mod errors;
mod libos;
mod number_args;
mod qtoken;
mod registry;
mod sga;

use pyo3::prelude::*;

/// The module `demikernel._demikernel`.
#[pymodule(name = "_demikernel")]
fn demikernel_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<libos::LibOS>()?;
    m.add_class::<qtoken::QToken>()?;
    m.add_class::<qtoken::QResult>()?;
    m.add_class::<qtoken::Opcode>()?;
    m.add_class::<qtoken::ReadyAwait>()?;
    m.add_class::<sga::Sga>()?;
    m.add_function(wrap_pyfunction!(libos::liboses, m)?)?;
    m.add_function(wrap_pyfunction!(qtoken::set_await_hook, m)?)?;
    m.add_function(wrap_pyfunction!(errors::set_error_classes, m)?)?;
    m.add_function(wrap_pyfunction!(bench::rust_roundtrip, m)?)?;
    m.add_function(wrap_pyfunction!(bench::rust_wait_completed, m)?)?;
    for (name, value) in [
        ("AF_INET", libc::AF_INET),
        ("SOCK_STREAM", libc::SOCK_STREAM),
        ("SOCK_DGRAM", libc::SOCK_DGRAM),
        ("IPPROTO_TCP", libc::IPPROTO_TCP),
        ("IPPROTO_UDP", libc::IPPROTO_UDP),
        ("SOL_SOCKET", libc::SOL_SOCKET),
        ("SO_LINGER", libc::SO_LINGER),
        ("SO_KEEPALIVE", libc::SO_KEEPALIVE),
        ("SO_REUSEADDR", libc::SO_REUSEADDR),
        ("TCP_NODELAY", libc::TCP_NODELAY),
    ] {
        m.add(name, value)?;
    }
    Ok(())
}
