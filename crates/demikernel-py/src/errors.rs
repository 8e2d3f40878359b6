//! Errors across the boundary. Every failure becomes a `demikernel.errors.DemiError`: an `OSError` with the
//! errno, of the subclass that is also the builtin Python picks for that errno (`ECONNREFUSED` ->
//! `DemiConnectionRefusedError`, a `ConnectionRefusedError`, ...). Bad values are `DemiValueError` (a
//! `ValueError`), wrong-thread and re-entrant use `DemiRuntimeError` (a `RuntimeError`). The classes live in
//! `python/demikernel/errors.py`; `_make` there builds each exception.

use demikernel::Fail;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

/// `demikernel.errors._make(kind, errno, message)`, imported on the first failure.
static MAKE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The `DemiError` of `kind` ("os", "value" or "runtime"); if the errors module itself cannot be used (a
/// broken installation), the exception saying why.
fn demi_error(kind: &'static str, errno: i32, message: String) -> PyErr {
    Python::attach(|py| {
        let made = MAKE
            .get_or_try_init(py, || py.import("demikernel.errors")?.getattr("_make").map(Bound::unbind))
            .and_then(|make| make.bind(py).call1((kind, errno, message)));
        match made {
            Ok(exception) => PyErr::from_value(exception),
            Err(broken) => {
                let error = PyRuntimeError::new_err("demikernel.errors is unusable: the package is broken");
                error.set_cause(py, Some(broken));
                error
            }
        }
    })
}

/// The `DemiError` subclass for the failure's errno.
pub(crate) fn os_error(fail: Fail) -> PyErr {
    demi_error("os", fail.errno(), fail.cause().to_owned())
}

/// Raised when an object is used on a thread other than the one that made it (errno EPERM).
pub(crate) fn wrong_thread(what: &str) -> PyErr {
    demi_error(
        "runtime",
        libc::EPERM,
        format!("this {what} belongs to another thread: a libOS is single-threaded (use one LibOS per thread)"),
    )
}

/// Raised when a thread's tables are in use by an outer call on the same thread (re-entry from a
/// finalizer, say) or already torn down at thread exit (errno EBUSY).
pub(crate) fn busy() -> PyErr {
    demi_error("runtime", libc::EBUSY, "the LibOS is busy in an outer call on this thread (re-entrant use)".into())
}

/// A bad argument value (errno EINVAL).
pub(crate) fn value_error(message: impl Into<String>) -> PyErr {
    demi_error("value", libc::EINVAL, message.into())
}

/// EBADF for a LibOS that was shut down (or whose thread has exited).
pub(crate) fn shut_down() -> Fail {
    Fail::new(libc::EBADF, "the LibOS is shut down")
}
