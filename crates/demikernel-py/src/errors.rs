//! Errors across the boundary: a `Fail` becomes `OSError(errno, cause)`, which Python itself turns into the
//! matching subclass (`ConnectionRefusedError`, `TimeoutError`, `ConnectionResetError`, ...).

use demikernel::Fail;
use pyo3::PyErr;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};

/// `OSError(errno, cause)`; Python picks the subclass from the errno.
pub(crate) fn os_error(fail: Fail) -> PyErr {
    PyOSError::new_err((fail.errno(), fail.cause().to_owned()))
}

/// Raised when an object is used on a thread other than the one that made it.
pub(crate) fn wrong_thread(what: &str) -> PyErr {
    PyRuntimeError::new_err(format!(
        "this {what} belongs to another thread: a libOS is single-threaded (use one LibOS per thread)"
    ))
}

/// Raised when a thread's tables are in use by an outer call on the same thread (re-entry from a
/// finalizer, say) or already torn down at thread exit.
pub(crate) fn busy() -> PyErr {
    PyRuntimeError::new_err("the LibOS is busy in an outer call on this thread (re-entrant use)")
}

pub(crate) fn value_error(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

/// EBADF for a LibOS that was shut down (or whose thread has exited).
pub(crate) fn shut_down() -> Fail {
    Fail::new(libc::EBADF, "the LibOS is shut down")
}
