//! Errors across the boundary. Every failure becomes a `demikernel.errors.DemiError`: an `OSError` with the
//! errno, of the subclass that is also the builtin Python picks for that errno (`ECONNREFUSED` ->
//! `DemiConnectionRefusedError`, a `ConnectionRefusedError`, ...). Bad values are `DemiValueError` (a
//! `ValueError`), wrong-thread and re-entrant use `DemiRuntimeError` (a `RuntimeError`).
//!
//! The classes live in `python/demikernel/errors.py`; the package hands them over once at import
//! (`_set_error_classes`). An error is then built lazily from its class: no Python code runs when a Rust call
//! fails (callers may hold a per-thread table, see `registry.rs`), only when the exception is raised.

use demikernel::Fail;
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

/// The exception classes, from `demikernel.errors`.
struct ErrorClasses {
    /// `DemiError`, for errnos without a builtin subclass.
    base: Py<PyType>,
    value: Py<PyType>,
    runtime: Py<PyType>,
    /// errno -> the `DemiError` subclass that is also the builtin for it.
    by_errno: Py<PyDict>,
}

static CLASSES: PyOnceLock<ErrorClasses> = PyOnceLock::new();

/// Called once by the package at import: the classes every failure is raised as.
#[pyfunction]
pub(crate) fn set_error_classes(
    py: Python<'_>,
    base: Bound<'_, PyType>,
    value: Bound<'_, PyType>,
    runtime: Bound<'_, PyType>,
    by_errno: Bound<'_, PyDict>,
) -> PyResult<()> {
    let classes = ErrorClasses {
        base: base.unbind(),
        value: value.unbind(),
        runtime: runtime.unbind(),
        by_errno: by_errno.unbind(),
    };
    CLASSES.set(py, classes).map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("the error classes are already set"))
}

enum Kind {
    Os,
    Value,
    Runtime,
}

/// The error of `kind` for `errno`, built when raised. Before the package has handed its classes over (only
/// while `demikernel` itself is being imported), a plain `OSError`.
fn demi_error(kind: Kind, errno: i32, message: String) -> PyErr {
    Python::attach(|py| {
        let Some(classes) = CLASSES.get(py) else { return PyOSError::new_err((errno, message)) };
        let class = match kind {
            Kind::Value => classes.value.bind(py).clone(),
            Kind::Runtime => classes.runtime.bind(py).clone(),
            Kind::Os => classes
                .by_errno
                .bind(py)
                .get_item(errno)
                .ok()
                .flatten()
                .and_then(|class| class.cast_into::<PyType>().ok())
                .unwrap_or_else(|| classes.base.bind(py).clone()),
        };
        PyErr::from_type(class, (errno, message))
    })
}

/// The `DemiError` subclass for the failure's errno.
pub(crate) fn os_error(fail: Fail) -> PyErr {
    demi_error(Kind::Os, fail.errno(), fail.cause().to_owned())
}

/// Raised when an object is used on a thread other than the one that made it (errno EPERM).
pub(crate) fn wrong_thread(what: &str) -> PyErr {
    demi_error(
        Kind::Runtime,
        libc::EPERM,
        format!("this {what} belongs to another thread: a libOS is single-threaded (use one LibOS per thread)"),
    )
}

/// Raised when a thread's tables are in use by an outer call on the same thread (re-entry from a
/// finalizer, say) or already torn down at thread exit (errno EBUSY).
pub(crate) fn busy() -> PyErr {
    demi_error(Kind::Runtime, libc::EBUSY, "the LibOS is busy in an outer call on this thread (re-entrant use)".into())
}

/// A bad argument value (errno EINVAL).
pub(crate) fn value_error(message: impl Into<String>) -> PyErr {
    demi_error(Kind::Value, libc::EINVAL, message.into())
}

/// EBADF for a LibOS that was shut down (or whose thread has exited).
pub(crate) fn shut_down() -> Fail {
    Fail::new(libc::EBADF, "the LibOS is shut down")
}
