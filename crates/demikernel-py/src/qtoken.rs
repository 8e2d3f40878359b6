//! `QToken` (an operation in flight; awaitable), `QResult` (its outcome) and `Opcode`.
//!
//! A token's result is delivered once: by `LibOS.wait*` or by `await`. If the task awaiting it is
//! cancelled, the result is kept in the token for the next `wait`/`await`, so no data is lost. A token
//! dropped before its result was taken is reaped when its operation completes.

use demikernel::{Fail, Opcode as RawOpcode, QToken as RawQToken, QValue};
use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyBytes;

use crate::errors::{os_error, wrong_thread};
use crate::libos::LibOS;
use crate::registry::{Owner, orphan, with_libos};
use crate::sga::Sga;

/// The kind of a finished operation; `FAILED` when it ended in an error.
#[pyclass(module = "demikernel._demikernel", name = "Opcode", eq, eq_int, frozen, hash)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Opcode {
    #[pyo3(name = "PUSH")]
    Push,
    #[pyo3(name = "POP")]
    Pop,
    #[pyo3(name = "ACCEPT")]
    Accept,
    #[pyo3(name = "CONNECT")]
    Connect,
    #[pyo3(name = "CLOSE")]
    Close,
    #[pyo3(name = "FAILED")]
    Failed,
}

impl From<RawOpcode> for Opcode {
    fn from(op: RawOpcode) -> Self {
        match op {
            RawOpcode::Push => Self::Push,
            RawOpcode::Pop => Self::Pop,
            RawOpcode::Accept => Self::Accept,
            RawOpcode::Connect => Self::Connect,
            RawOpcode::Close => Self::Close,
            RawOpcode::Failed => Self::Failed,
        }
    }
}

/// The outcome of one operation.
///
/// - `opcode`: PUSH, POP, ACCEPT, CONNECT, CLOSE, or FAILED (then `error` is set)
/// - `qd`: the queue the operation ran on; `qt`: the token (an int)
/// - `value`: the `Sga` of a POP (empty at end of stream), the new queue descriptor of an ACCEPT, else None
/// - `addr`: the peer of an ACCEPT, the sender of a datagram POP, else None
/// - `error`: the `OSError` of a failed operation, else None
#[pyclass(module = "demikernel._demikernel", name = "QResult", frozen, get_all)]
#[derive(Debug)]
pub struct QResult {
    opcode: Opcode,
    qd: u32,
    qt: u64,
    value: Py<PyAny>,
    addr: Py<PyAny>,
    error: Py<PyAny>,
}

#[pymethods]
impl QResult {
    /// The popped `Sga` (POP only; None otherwise).
    #[getter]
    fn sga(&self, py: Python<'_>) -> Py<PyAny> {
        if self.opcode == Opcode::Pop { self.value.clone_ref(py) } else { py.None() }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let op = format!("{:?}", self.opcode).to_uppercase();
        let mut out = format!("QResult(opcode={op}, qd={}, qt={:#x}", self.qd, self.qt);
        if !self.value.is_none(py) {
            out += &format!(", value={}", self.value.bind(py).repr()?);
        }
        if !self.addr.is_none(py) {
            out += &format!(", addr={}", self.addr.bind(py).repr()?);
        }
        if !self.error.is_none(py) {
            out += &format!(", error={}", self.error.bind(py).repr()?);
        }
        Ok(out + ")")
    }
}

/// A finished operation as Python sees it: a QResult, or the OSError of a failed one.
#[derive(Debug)]
pub(crate) enum Outcome {
    Done(Py<QResult>),
    Failed(PyErr),
}

impl Outcome {
    /// Converts a runtime result (call without holding any table borrow). With `bytes`, a popped array
    /// becomes `bytes` (copied) rather than an `Sga`.
    pub(crate) fn from_raw_as(py: Python<'_>, result: demikernel::QResult, bytes: bool) -> PyResult<Self> {
        let opcode = Opcode::from(result.operation);
        let (qd, qt) = (result.qd.raw(), result.qt.raw());
        let (value, addr) = match result.value {
            Err(fail) => return Ok(Self::Failed(os_error(fail))),
            Ok(QValue::Popped { sga, from }) => {
                let sga = if bytes {
                    sga_bytes(py, &sga).into_any().unbind()
                } else {
                    Py::new(py, Sga::new(crate::sga::contiguous(sga)?)?)?.into_any()
                };
                let from = match from {
                    Some(a) => crate::addr::to_tuple(py, a)?.into_any().unbind(),
                    None => py.None(),
                };
                (sga, from)
            }
            Ok(QValue::Accepted { qd, addr }) => {
                (qd.raw().into_pyobject(py)?.into_any().unbind(), crate::addr::to_tuple(py, addr)?.into_any().unbind())
            }
            Ok(QValue::Pushed | QValue::Connected | QValue::Closed) => (py.None(), py.None()),
        };
        Ok(Self::Done(Py::new(py, QResult { opcode, qd, qt, value, addr, error: py.None() })?))
    }

    /// A QResult even for a failure (for `wait_any`/`wait_all`, which report failures in place).
    pub(crate) fn into_qresult(self, py: Python<'_>, token: &QToken) -> PyResult<Py<QResult>> {
        match self {
            Self::Done(r) => Ok(r),
            Self::Failed(err) => Py::new(
                py,
                QResult {
                    opcode: Opcode::Failed,
                    qd: token.qd,
                    qt: token.qt.raw(),
                    value: py.None(),
                    addr: py.None(),
                    error: err.into_value(py).into_any(),
                },
            ),
        }
    }

    /// The QResult, or raise its error.
    pub(crate) fn into_result(self) -> PyResult<Py<QResult>> {
        match self {
            Self::Done(r) => Ok(r),
            Self::Failed(err) => Err(err),
        }
    }
}

#[derive(Debug)]
pub(crate) enum State {
    /// Running, or finished with the result still in the scheduler.
    Pending,
    /// Awaited: the asyncio future to complete.
    Awaiting(Py<PyAny>),
    /// Finished; the result was taken from the scheduler but not delivered yet.
    Ready(Outcome),
    /// Delivered.
    Consumed,
}

/// An operation in flight. `LibOS.wait(qt)` blocks for it; `await qt` suspends the task until it completes
/// (on any asyncio loop; fastest on `demikernel.asyncio`'s). Either returns a `QResult` or raises the
/// operation's `OSError`, once.
#[pyclass(module = "demikernel._demikernel", name = "QToken")]
#[derive(Debug)]
pub struct QToken {
    pub(crate) libos: Py<LibOS>,
    pub(crate) libos_id: u64,
    pub(crate) owner: Owner,
    pub(crate) qt: RawQToken,
    pub(crate) qd: u32,
    pub(crate) op: Opcode,
    pub(crate) state: State,
    /// A pop whose result's `value` is `bytes` rather than an `Sga` (the streams' reads).
    pub(crate) bytes: bool,
}

impl QToken {
    pub(crate) fn check_thread(&self) -> PyResult<()> {
        if self.owner.is_current() { Ok(()) } else { Err(wrong_thread("QToken")) }
    }

    /// Takes the result out of the scheduler if the operation is done (no blocking).
    pub(crate) fn try_take(&mut self, py: Python<'_>) -> PyResult<Option<Outcome>> {
        match std::mem::replace(&mut self.state, State::Consumed) {
            State::Ready(outcome) => Ok(Some(outcome)),
            State::Consumed => Err(consumed()),
            state @ (State::Pending | State::Awaiting(_)) => {
                let qt = self.qt;
                let taken = with_libos(self.libos_id, |slot| {
                    let scheduler = slot.libos.runtime().scheduler_mut();
                    if scheduler.is_done(qt)? {
                        slot.waiters.remove(&qt.raw());
                        scheduler.take(qt).map(Some)
                    } else {
                        Ok(None)
                    }
                });
                match taken {
                    Ok(Some(result)) => Ok(Some(Outcome::from_raw_as(py, result, self.bytes)?)),
                    Ok(None) => {
                        self.state = state;
                        Ok(None)
                    }
                    Err(e) => {
                        self.state = state;
                        Err(e)
                    }
                }
            }
        }
    }
}

/// A copy of an array's bytes.
pub(crate) fn sga_bytes<'py>(py: Python<'py>, sga: &demikernel::Sga) -> Bound<'py, PyBytes> {
    match sga.segments() {
        [] => PyBytes::new(py, b""),
        [one] => PyBytes::new(py, one),
        _ => PyBytes::new(py, &sga.to_vec()),
    }
}

pub(crate) fn consumed() -> PyErr {
    os_error(Fail::new(libc::EINVAL, "this qtoken's result was already taken"))
}

/// Python's half of `await` for a token still running (`demikernel._aio._await_pending`).
static AWAIT_HOOK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Installs the function that `await qt` calls for a token still in flight: it gets the token, must call
/// `qt._watch(future)` and returns the future's `__await__()` iterator.
#[pyfunction]
pub(crate) fn set_await_hook(py: Python<'_>, hook: Py<PyAny>) -> PyResult<()> {
    AWAIT_HOOK.set(py, hook).map_err(|_| PyRuntimeError::new_err("the await hook is already set"))
}

#[pymethods]
impl QToken {
    /// The queue descriptor the operation runs on.
    #[getter]
    fn qd(&self) -> u32 {
        self.qd
    }

    /// The operation (PUSH, POP, ACCEPT, CONNECT or CLOSE).
    #[getter]
    fn opcode(&self) -> Opcode {
        self.op
    }

    /// The LibOS the operation runs on.
    #[getter]
    fn libos(&self, py: Python<'_>) -> Py<LibOS> {
        self.libos.clone_ref(py)
    }

    /// Whether the operation has finished (its result may be taken without blocking).
    fn done(&self) -> PyResult<bool> {
        self.check_thread()?;
        match &self.state {
            State::Ready(_) => Ok(true),
            State::Consumed => Err(consumed()),
            State::Pending | State::Awaiting(_) => {
                let qt = self.qt;
                with_libos(self.libos_id, |slot| slot.libos.runtime().scheduler().is_done(qt))
            }
        }
    }

    fn __int__(&self) -> u64 {
        self.qt.raw()
    }

    fn __repr__(&self) -> String {
        let state = match self.state {
            State::Pending => "pending",
            State::Awaiting(_) => "awaited",
            State::Ready(_) => "ready",
            State::Consumed => "consumed",
        };
        format!("<QToken {:#x} {:?} qd={} {state}>", self.qt.raw(), self.op, self.qd)
    }

    fn __await__(slf: Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let outcome = {
            let mut this = slf.try_borrow_mut()?;
            this.check_thread()?;
            this.try_take(py)?
        };
        if let Some(outcome) = outcome {
            return Ok(Py::new(py, ReadyAwait { outcome: Some(outcome) })?.into_any());
        }
        let hook = AWAIT_HOOK.get(py).ok_or_else(|| PyRuntimeError::new_err("import demikernel to await qtokens"))?;
        hook.call1(py, (slf,))
    }

    /// Registers `future` to be completed with this token's result (by `LibOS._dispatch`). Internal: used by
    /// the awaiting machinery in `demikernel._aio`.
    fn _watch(slf: Bound<'_, Self>, future: Py<PyAny>) -> PyResult<()> {
        let py = slf.py();
        let (id, qt, bytes) = {
            let mut this = slf.try_borrow_mut()?;
            this.check_thread()?;
            match &this.state {
                State::Pending | State::Awaiting(_) => {}
                State::Ready(_) | State::Consumed => {
                    return Err(PyRuntimeError::new_err("_watch on a finished qtoken"));
                }
            }
            this.state = State::Awaiting(future.clone_ref(py));
            (this.libos_id, this.qt, this.bytes)
        };
        let me = slf.clone().unbind();
        let done = with_libos(id, |slot| {
            if !slot.tracking {
                slot.libos.runtime().scheduler_mut().track_completions(true);
                slot.tracking = true;
            }
            slot.waiters.insert(qt.raw(), me);
            // Finished before tracking saw it: complete now.
            let scheduler = slot.libos.runtime().scheduler_mut();
            if scheduler.is_done(qt)? {
                slot.waiters.remove(&qt.raw());
                scheduler.take(qt).map(Some)
            } else {
                Ok(None)
            }
        });
        match done {
            Ok(Some(result)) => {
                let outcome = Outcome::from_raw_as(py, result, bytes)?;
                resolve(py, slf.as_unbound(), outcome)
            }
            Ok(None) => Ok(()),
            Err(e) => {
                slf.borrow_mut().state = State::Pending;
                Err(e)
            }
        }
    }
}

/// Delivers a finished token's outcome to its awaiting future, or keeps it in the token when the future
/// is already done (its task was cancelled).
pub(crate) fn resolve(py: Python<'_>, token: &Py<QToken>, outcome: Outcome) -> PyResult<()> {
    let future = {
        let mut this = token.bind(py).try_borrow_mut()?;
        match std::mem::replace(&mut this.state, State::Consumed) {
            State::Awaiting(future) => future,
            other => {
                this.state = other;
                return Ok(());
            }
        }
    };
    let future = future.bind(py);
    if future.call_method0(pyo3::intern!(py, "done"))?.is_truthy()? {
        token.bind(py).try_borrow_mut()?.state = State::Ready(outcome);
        return Ok(());
    }
    match outcome {
        Outcome::Done(result) => future.call_method1(pyo3::intern!(py, "set_result"), (result,))?,
        Outcome::Failed(err) => future.call_method1(pyo3::intern!(py, "set_exception"), (err.into_value(py),))?,
    };
    Ok(())
}

impl Drop for QToken {
    fn drop(&mut self) {
        if matches!(self.state, State::Pending | State::Awaiting(_)) && self.owner.is_current() {
            orphan(self.libos_id, self.qt);
        }
    }
}

/// The iterator `await` gets for a token that already finished: it ends at once with the result.
#[pyclass(module = "demikernel._demikernel", name = "_ReadyAwait")]
#[derive(Debug)]
pub struct ReadyAwait {
    outcome: Option<Outcome>,
}

#[pymethods]
impl ReadyAwait {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self) -> PyResult<()> {
        match self.outcome.take() {
            Some(Outcome::Done(result)) => Err(PyStopIteration::new_err((result,))),
            Some(Outcome::Failed(err)) => Err(err),
            None => Err(PyStopIteration::new_err(())),
        }
    }

    fn send(&mut self, _value: Py<PyAny>) -> PyResult<()> {
        self.__next__()
    }
}
