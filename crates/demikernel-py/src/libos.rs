//! `LibOS`: one libOS instance and the PDPIX calls, synchronous; operations return awaitable `QToken`s.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use demikernel::{
    Config, DemiBuffer, Fail, QToken as RawQToken, Sga as RawSga, SocketDomain, SocketOption, SocketOptionName,
    SocketType,
};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::errors::{os_error, value_error, wrong_thread};
use crate::number_args::{CInt, Int, Seconds};
use crate::qtoken::{Outcome, QResult, QToken, State, consumed, resolve};
use crate::registry::{Owner, StashedResults, add_libos, reap_orphans, remove_libos, with_libos, with_libos_py};
use crate::sga::Sga;

/// Longest stretch a blocking wait spends without the GIL before it checks for signals (Ctrl-C).
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// A library OS instance: PDPIX, the queue-based I/O API. `LibOS("catnap")`, `LibOS()` (from the
/// `DEMI_LIBOS` / `DEMI_CONFIG` environment, else catnap), or `LibOS(config="demi.toml")`.
///
/// Single-threaded: use it from the thread that made it (one instance per thread). Queue descriptors are
/// ints; addresses are `(host, port)` tuples; operations return `QToken`s to `wait` for or `await`.
#[pyclass(module = "demikernel._demikernel", name = "LibOS", frozen)]
#[derive(Debug)]
pub struct LibOS {
    id: u64,
    owner: Owner,
    name: &'static str,
}

/// A bytes-like object's bytes: borrowed from `bytes`, copied from other buffers.
pub(crate) fn bytes_like<'a>(data: &'a Bound<'_, PyAny>) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(bytes) = data.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(bytes.as_bytes()));
    }
    let buffer = PyBuffer::<u8>::get(data).map_err(|_| type_error_bytes(data))?;
    Ok(Cow::Owned(buffer.to_vec(data.py())?))
}

fn type_error_bytes(data: &Bound<'_, PyAny>) -> PyErr {
    let name = data.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    PyTypeError::new_err(format!("a bytes-like object or an Sga is required, not '{name}'"))
}

/// An `Sga` to push: an `Sga` object is shared (no copy), any other bytes-like object copied.
fn sga_to_push(data: &Bound<'_, PyAny>) -> PyResult<RawSga> {
    if let Ok(sga) = data.cast::<Sga>() {
        return sga.get().share();
    }
    if let Ok(bytes) = data.cast::<PyBytes>() {
        return RawSga::from_slice(bytes.as_bytes()).map_err(os_error);
    }
    let buffer = PyBuffer::<u8>::get(data).map_err(|_| type_error_bytes(data))?;
    let mut segment = DemiBuffer::new(buffer.item_count()).map_err(os_error)?;
    let target = segment.as_mut_slice().ok_or_else(|| value_error("fresh buffer is shared"))?;
    buffer.copy_to_slice(data.py(), target)?;
    Ok(RawSga::from_buffer(segment))
}

fn qd_of(Int(qd): Int) -> PyResult<demikernel::QDesc> {
    u32::try_from(qd)
        .map(demikernel::QDesc::new)
        .map_err(|_| os_error(Fail::with_context(libc::EBADF, format!("{qd} is not a queue descriptor"))))
}

/// `None` (forever) or a non-negative number of seconds.
pub(crate) fn timeout_of(timeout: Option<Seconds>) -> PyResult<Option<Duration>> {
    match timeout.map(|Seconds(t)| t) {
        None => Ok(None),
        Some(t) if t.is_nan() || t < 0.0 => Err(value_error(format!("timeout must be None or >= 0, not {t}"))),
        Some(t) => Ok(Some(Duration::try_from_secs_f64(t).unwrap_or(Duration::MAX))),
    }
}

fn bool_option(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    if let Ok(b) = value.extract::<bool>() {
        return Ok(b);
    }
    value
        .extract::<Int>()
        .map(|Int(v)| v != 0)
        .map_err(|_| PyTypeError::new_err("option value must be a bool or an int"))
}

impl LibOS {
    fn check_thread(&self) -> PyResult<()> {
        if self.owner.is_current() { Ok(()) } else { Err(wrong_thread("LibOS")) }
    }

    pub(crate) fn call<R>(&self, f: impl FnOnce(&mut dyn demikernel::LibOs) -> Result<R, Fail>) -> PyResult<R> {
        self.check_thread()?;
        with_libos(self.id, |slot| f(slot.libos.as_mut()))
    }

    fn token(slf: &Bound<'_, Self>, qd: u32, qt: RawQToken, op: demikernel::Opcode) -> PyResult<Py<QToken>> {
        let this = slf.get();
        Py::new(
            slf.py(),
            QToken {
                libos: slf.clone().unbind(),
                libos_id: this.id,
                owner: this.owner,
                qt,
                qd,
                op: op.into(),
                state: State::Pending,
                bytes: false,
            },
        )
    }

    fn start(
        slf: &Bound<'_, Self>,
        qd: Int,
        op: demikernel::Opcode,
        f: impl FnOnce(&mut dyn demikernel::LibOs, demikernel::QDesc) -> Result<RawQToken, Fail>,
    ) -> PyResult<Py<QToken>> {
        let qdesc = qd_of(qd)?;
        let qt = slf.get().call(|l| f(l, qdesc))?;
        Self::token(slf, qdesc.raw(), qt, op)
    }

    /// Checks that `token` belongs to this LibOS and may be waited for.
    fn check_token(&self, py: Python<'_>, token: &QToken) -> PyResult<()> {
        token.check_thread()?;
        if token.libos_id != self.id {
            return Err(value_error("this qtoken belongs to another LibOS"));
        }
        if let State::Awaiting(future) = &token.state
            && !future.bind(py).call_method0(pyo3::intern!(py, "done"))?.is_truthy()?
        {
            return Err(os_error(Fail::new(libc::EBUSY, "this qtoken is being awaited by a task")));
        }
        Ok(())
    }

    /// Blocks (without the GIL) until one (`all == false`) or all of `qts` finish, in slices so that
    /// signals get handled; the results are left in the slot's stash.
    fn block(&self, py: Python<'_>, qts: &[RawQToken], timeout: Option<Duration>, all: bool) -> PyResult<()> {
        let deadline = timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future));
        let id = self.id;
        // Tokens dropped unwaited would otherwise hold their slots until an event loop reaps them.
        with_libos(id, |slot| {
            reap_orphans(slot);
            Ok(())
        })?;
        loop {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(WAIT_SLICE),
                None => WAIT_SLICE,
            };
            let finished = py.detach(|| {
                with_libos(id, |slot| {
                    let result = if all {
                        slot.libos.wait_all(qts, Some(slice)).map(StashedResults::All)
                    } else {
                        slot.libos.wait_any(qts, Some(slice)).map(|(i, r)| StashedResults::One(i, r))
                    };
                    match result {
                        Ok(stash) => {
                            slot.stash = Some(stash);
                            Ok(true)
                        }
                        Err(e) if e.errno() == libc::ETIMEDOUT => Ok(false),
                        Err(e) => Err(e),
                    }
                })
            })?;
            if finished {
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(os_error(Fail::new(libc::ETIMEDOUT, "wait timed out")));
            }
            py.check_signals()?;
        }
    }

    fn take_stash(&self, qts: &[RawQToken]) -> PyResult<Option<StashedResults>> {
        with_libos(self.id, |slot| {
            for qt in qts {
                // Taken here rather than by dispatch: forget any (cancelled) future awaiting it.
                if let Some(token) = slot.waiters.remove(&qt.raw()) {
                    slot.completed.retain(|c| c != qt);
                    drop(token);
                }
            }
            Ok(slot.stash.take())
        })
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

#[pymethods]
impl LibOS {
    #[new]
    #[pyo3(signature = (name=None, config=None))]
    fn py_new(name: Option<String>, config: Option<PathBuf>) -> PyResult<Self> {
        let as_value_error = |e: Fail| if e.errno() == libc::EINVAL { value_error(e.cause()) } else { os_error(e) };
        let mut cfg = match config {
            Some(path) => Config::from_file(&path).map_err(as_value_error)?,
            None => Config::from_env().map_err(as_value_error)?,
        };
        if let Some(name) = name {
            cfg.libos = Some(name);
        }
        let libos = demikernel::from_config(&cfg).map_err(as_value_error)?;
        let name = libos.name();
        let id = add_libos(libos)?;
        Ok(Self { id, owner: Owner::current(), name })
    }

    /// The libOS's name ("catnap", ...).
    #[getter]
    fn name(&self) -> &'static str {
        self.name
    }

    /// Whether `shutdown` was called (every call then raises OSError(EBADF)).
    #[getter]
    fn closed(&self) -> PyResult<bool> {
        self.check_thread()?;
        match with_libos(self.id, |_| Ok(())) {
            Ok(()) => Ok(false),
            Err(_) => Ok(true),
        }
    }

    /// Closes every queue and releases the libOS. Pending awaits fail with ECANCELED. Idempotent.
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        self.check_thread()?;
        let Some(slot) = remove_libos(self.id) else { return Ok(()) };
        let crate::registry::LibOsSlot { libos, waiters, .. } = slot;
        drop(libos);
        let mut first_error = None;
        for (_, token) in waiters {
            let outcome = Outcome::Failed(os_error(Fail::new(libc::ECANCELED, "the LibOS was shut down")));
            if let Err(e) = resolve(py, &token, outcome) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.shutdown(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("<LibOS {} #{}>", self.name, self.id)
    }

    /// A new network queue: `socket(AF_INET, SOCK_STREAM or SOCK_DGRAM, 0)`. Returns its descriptor.
    #[pyo3(signature = (domain=CInt(libc::AF_INET), r#type=CInt(libc::SOCK_STREAM), proto=CInt(0)))]
    fn socket(&self, domain: CInt, r#type: CInt, proto: CInt) -> PyResult<u32> {
        let (domain, r#type, proto) = (domain.0, r#type.0, proto.0);
        self.call(|l| {
            let domain = SocketDomain::try_from(domain)?;
            let kind = SocketType::try_from(r#type)?;
            l.socket(domain, kind, proto).map(|qd| qd.raw())
        })
    }

    /// Binds to `(host, port)`; port 0 picks one, host "" or "0.0.0.0" every address.
    fn bind(&self, qd: Int, addr: &Bound<'_, PyAny>) -> PyResult<()> {
        let (qd, addr) = (qd_of(qd)?, crate::addr::parse(addr)?);
        self.call(|l| l.bind(qd, addr))
    }

    /// Marks a bound stream queue as accepting connections.
    #[pyo3(signature = (qd, backlog=Int(128)))]
    fn listen(&self, qd: Int, backlog: Int) -> PyResult<()> {
        let qd = qd_of(qd)?;
        let backlog = usize::try_from(backlog.0).map_err(|_| value_error("backlog must be >= 0"))?;
        self.call(|l| l.listen(qd, backlog))
    }

    /// Accepts a connection: the result's `value` is the new queue descriptor, `addr` the peer.
    fn accept(slf: &Bound<'_, Self>, qd: Int) -> PyResult<Py<QToken>> {
        Self::start(slf, qd, demikernel::Opcode::Accept, |l, qd| l.accept(qd))
    }

    /// Connects to `(host, port)`.
    fn connect(slf: &Bound<'_, Self>, qd: Int, addr: &Bound<'_, PyAny>) -> PyResult<Py<QToken>> {
        let addr = crate::addr::parse(addr)?;
        Self::start(slf, qd, demikernel::Opcode::Connect, |l, qd| l.connect(qd, addr))
    }

    /// The local address `(host, port)`.
    fn getsockname<'py>(&self, py: Python<'py>, qd: Int) -> PyResult<Bound<'py, PyTuple>> {
        let qd = qd_of(qd)?;
        crate::addr::to_tuple(py, self.call(|l| l.getsockname(qd))?)
    }

    /// The peer's address `(host, port)`.
    fn getpeername<'py>(&self, py: Python<'py>, qd: Int) -> PyResult<Bound<'py, PyTuple>> {
        let qd = qd_of(qd)?;
        crate::addr::to_tuple(py, self.call(|l| l.getpeername(qd))?)
    }

    /// Sets SO_LINGER (None: off; seconds), SO_KEEPALIVE, SO_REUSEADDR or TCP_NODELAY (bool or int).
    fn setsockopt(&self, qd: Int, level: CInt, optname: CInt, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let (level, optname) = (level.0, optname.0);
        let qd = qd_of(qd)?;
        let name = SocketOptionName::from_posix(level, optname).map_err(os_error)?;
        let option = match name {
            SocketOptionName::Linger if value.is_none() => SocketOption::Linger(None),
            SocketOptionName::Linger => {
                let secs: Seconds =
                    value.extract().map_err(|_| PyTypeError::new_err("SO_LINGER takes None or seconds"))?;
                let linger = timeout_of(Some(secs))?.ok_or_else(|| value_error("SO_LINGER seconds"))?;
                SocketOption::Linger(Some(linger))
            }
            SocketOptionName::NoDelay => SocketOption::NoDelay(bool_option(value)?),
            SocketOptionName::KeepAlive => SocketOption::KeepAlive(bool_option(value)?),
            SocketOptionName::ReuseAddr => SocketOption::ReuseAddr(bool_option(value)?),
        };
        self.call(|l| l.setsockopt(qd, option))
    }

    /// Reads an option: an int (0/1) for flags; None or seconds (int) for SO_LINGER.
    fn getsockopt(&self, py: Python<'_>, qd: Int, level: CInt, optname: CInt) -> PyResult<Py<PyAny>> {
        let (level, optname) = (level.0, optname.0);
        let qd = qd_of(qd)?;
        let name = SocketOptionName::from_posix(level, optname).map_err(os_error)?;
        let value = self.call(|l| l.getsockopt(qd, name))?;
        Ok(match value {
            SocketOption::Linger(None) => py.None(),
            SocketOption::Linger(Some(d)) => d.as_secs().into_pyobject(py)?.into_any().unbind(),
            SocketOption::NoDelay(on) | SocketOption::KeepAlive(on) | SocketOption::ReuseAddr(on) => {
                i32::from(on).into_pyobject(py)?.into_any().unbind()
            }
        })
    }

    /// Pushes `data`: an `Sga` (no copy) or any bytes-like object (copied).
    fn push(slf: &Bound<'_, Self>, qd: Int, data: &Bound<'_, PyAny>) -> PyResult<Py<QToken>> {
        let sga = sga_to_push(data)?;
        Self::start(slf, qd, demikernel::Opcode::Push, |l, qd| l.push(qd, &sga))
    }

    /// Pushes one datagram to `(host, port)`.
    fn pushto(
        slf: &Bound<'_, Self>,
        qd: Int,
        data: &Bound<'_, PyAny>,
        addr: &Bound<'_, PyAny>,
    ) -> PyResult<Py<QToken>> {
        let sga = sga_to_push(data)?;
        let addr = crate::addr::parse(addr)?;
        Self::start(slf, qd, demikernel::Opcode::Push, |l, qd| l.pushto(qd, &sga, addr))
    }

    /// Pops what has arrived (at most `max_len` bytes): the result's `value` is an `Sga`, empty at the end
    /// of a stream.
    #[pyo3(signature = (qd, max_len=None))]
    fn pop(slf: &Bound<'_, Self>, qd: Int, max_len: Option<Int>) -> PyResult<Py<QToken>> {
        let max_len = match max_len.map(|n| n.0) {
            None => None,
            Some(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            Some(n) => return Err(value_error(format!("max_len must be >= 1, not {n}"))),
        };
        Self::start(slf, qd, demikernel::Opcode::Pop, |l, qd| l.pop(qd, max_len))
    }

    /// Closes a queue now; its pending operations complete with ECANCELED.
    fn close(&self, qd: Int) -> PyResult<()> {
        let qd = qd_of(qd)?;
        self.call(|l| l.close(qd))
    }

    /// Closes a queue as an operation.
    fn async_close(slf: &Bound<'_, Self>, qd: Int) -> PyResult<Py<QToken>> {
        Self::start(slf, qd, demikernel::Opcode::Close, |l, qd| l.async_close(qd))
    }

    /// A new in-memory queue (push and pop between parts of one program).
    fn queue(&self) -> PyResult<u32> {
        self.call(|l| l.queue().map(|qd| qd.raw()))
    }

    /// A zeroed buffer of `size` bytes for the device, to fill through `memoryview(sga)` and push.
    fn sgaalloc(&self, size: Int) -> PyResult<Sga> {
        let size = usize::try_from(size.0).ok().filter(|&s| s > 0).ok_or_else(|| value_error("size must be >= 1"))?;
        Sga::new(self.call(|l| l.sgaalloc(size))?)
    }

    /// Frees an `Sga`; using it afterwards raises ValueError. Safe while a push of it is in flight.
    fn sgafree(&self, sga: &Bound<'_, Sga>) -> PyResult<()> {
        self.check_thread()?;
        sga.get().free()
    }

    /// Waits for `qt` and returns its QResult, or raises its OSError (TimeoutError when `timeout` seconds
    /// pass first; the token stays valid). `None` waits forever.
    #[pyo3(signature = (qt, timeout=None))]
    fn wait(&self, py: Python<'_>, qt: &Bound<'_, QToken>, timeout: Option<Seconds>) -> PyResult<Py<QResult>> {
        let timeout = timeout_of(timeout)?;
        let mut token = qt.try_borrow_mut()?;
        self.check_token(py, &token)?;
        if let Some(outcome) = token.try_take(py)? {
            return outcome.into_result();
        }
        if timeout == Some(Duration::ZERO) {
            return Err(os_error(Fail::new(libc::ETIMEDOUT, "wait timed out")));
        }
        let raw = [token.qt];
        self.block(py, &raw, timeout, false)?;
        token.state = State::Consumed;
        match self.take_stash(&raw)? {
            Some(StashedResults::One(_, result)) => Outcome::from_raw_as(py, result, token.bytes)?.into_result(),
            _ => Err(consumed()),
        }
    }

    /// Waits for the first of `qts` to finish; returns `(index, QResult)`. A failed operation is reported
    /// in place (`opcode` FAILED, `error` set) rather than raised. The other tokens stay valid.
    #[pyo3(signature = (qts, timeout=None))]
    fn wait_any(
        &self,
        py: Python<'_>,
        qts: Vec<Bound<'_, QToken>>,
        timeout: Option<Seconds>,
    ) -> PyResult<(usize, Py<QResult>)> {
        let timeout = timeout_of(timeout)?;
        if qts.is_empty() {
            return Err(value_error("wait_any needs at least one qtoken"));
        }
        let mut raw = Vec::with_capacity(qts.len());
        for (i, qt) in qts.iter().enumerate() {
            let mut token = qt.try_borrow_mut()?;
            self.check_token(py, &token)?;
            if let Some(outcome) = token.try_take(py)? {
                return Ok((i, outcome.into_qresult(py, &token)?));
            }
            raw.push(token.qt);
        }
        if timeout == Some(Duration::ZERO) {
            return Err(os_error(Fail::new(libc::ETIMEDOUT, "wait timed out")));
        }
        self.block(py, &raw, timeout, false)?;
        match self.take_stash(&raw)? {
            Some(StashedResults::One(i, result)) => {
                let mut token = qts[i].try_borrow_mut()?;
                token.state = State::Consumed;
                Ok((i, Outcome::from_raw_as(py, result, token.bytes)?.into_qresult(py, &token)?))
            }
            _ => Err(consumed()),
        }
    }

    /// Waits for all of `qts`; returns their QResults in order (failures in place). On timeout
    /// (TimeoutError) no token is consumed.
    #[pyo3(signature = (qts, timeout=None))]
    fn wait_all(&self, py: Python<'_>, qts: Vec<Bound<'_, QToken>>, timeout: Option<Seconds>) -> PyResult<Py<PyList>> {
        let timeout = timeout_of(timeout)?;
        let mut pending = Vec::new();
        let mut pending_at = Vec::new();
        let mut tokens = Vec::with_capacity(qts.len());
        for (i, qt) in qts.iter().enumerate() {
            let token = qt.try_borrow_mut()?;
            self.check_token(py, &token)?;
            match &token.state {
                State::Consumed => return Err(consumed()),
                State::Ready(_) => {}
                State::Pending | State::Awaiting(_) => {
                    pending.push(token.qt);
                    pending_at.push(i);
                }
            }
            tokens.push(token);
        }
        let mut fresh = if pending.is_empty() {
            Vec::new()
        } else {
            self.block(py, &pending, timeout, true)?;
            match self.take_stash(&pending)? {
                Some(StashedResults::All(results)) => results,
                _ => return Err(consumed()),
            }
        }
        .into_iter();
        let mut out = Vec::with_capacity(tokens.len());
        let mut next_pending = pending_at.iter().peekable();
        for (i, token) in tokens.iter_mut().enumerate() {
            let outcome = if next_pending.peek() == Some(&&i) {
                next_pending.next();
                let result = fresh.next().ok_or_else(consumed)?;
                Outcome::from_raw_as(py, result, token.bytes)?
            } else {
                match std::mem::replace(&mut token.state, State::Consumed) {
                    State::Ready(outcome) => outcome,
                    _ => return Err(consumed()),
                }
            };
            token.state = State::Consumed;
            out.push(outcome.into_qresult(py, token)?);
        }
        Ok(PyList::new(py, out)?.unbind())
    }

    /// Streams' write: starts a push of `data` (copied, or an `Sga` shared). Returns None when it finished at
    /// once, the `OSError` (not raised) when it failed at once, else its `QToken`. Internal.
    fn _stream_push(slf: &Bound<'_, Self>, qd: Int, data: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
        let py = slf.py();
        let sga = sga_to_push(data)?;
        let qdesc = qd_of(qd)?;
        let this = slf.get();
        this.check_thread()?;
        let (qt, finished) = with_libos(this.id, |slot| {
            let qt = slot.libos.push(qdesc, &sga)?;
            let scheduler = slot.libos.runtime().scheduler_mut();
            let finished = if scheduler.is_done(qt)? { Some(scheduler.take(qt)?) } else { None };
            Ok((qt, finished))
        })?;
        match finished {
            Some(result) => match result.value {
                Ok(_) => Ok(None),
                Err(fail) => Ok(Some(os_error(fail).into_value(py).into_any())),
            },
            None => Ok(Some(Self::token(slf, qdesc.raw(), qt, demikernel::Opcode::Push)?.into_any())),
        }
    }

    /// Streams' read: starts a pop of at most `max_len` bytes. Returns the bytes (empty at the end of the
    /// stream) when it finished at once, raises its `OSError` when it failed at once, else returns its
    /// `QToken`, whose result's `value` is `bytes`. Internal.
    fn _stream_pop(slf: &Bound<'_, Self>, qd: Int, max_len: Int) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let qdesc = qd_of(qd)?;
        let max_len =
            usize::try_from(max_len.0).ok().filter(|&n| n >= 1).ok_or_else(|| value_error("max_len must be >= 1"))?;
        let this = slf.get();
        this.check_thread()?;
        let (qt, finished) = with_libos(this.id, |slot| {
            let qt = slot.libos.pop(qdesc, Some(max_len))?;
            let scheduler = slot.libos.runtime().scheduler_mut();
            let finished = if scheduler.is_done(qt)? { Some(scheduler.take(qt)?) } else { None };
            Ok((qt, finished))
        })?;
        match finished {
            Some(result) => match result.value {
                Ok(demikernel::QValue::Popped { sga, .. }) => {
                    Ok(crate::qtoken::sga_bytes(py, &sga).into_any().unbind())
                }
                Ok(other) => Err(os_error(Fail::with_context(libc::EIO, format!("pop finished with {other:?}")))),
                Err(fail) => Err(os_error(fail)),
            },
            None => {
                let token = Self::token(slf, qdesc.raw(), qt, demikernel::Opcode::Pop)?;
                token.bind(py).borrow_mut().bytes = true;
                Ok(token.into_any())
            }
        }
    }

    /// Runs one non-blocking poll round; returns whether anything happened.
    fn poll(&self) -> PyResult<bool> {
        self.call(|l| l.poll())
    }

    /// A file descriptor that turns readable when the libOS has device events (None for poll-mode devices).
    fn event_fd(&self) -> PyResult<Option<i32>> {
        self.call(|l| Ok(l.event_fd()))
    }

    /// Seconds until the earliest runtime timer, or None.
    fn next_deadline(&self) -> PyResult<Option<f64>> {
        self.call(|l| Ok(l.next_deadline().map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64())))
    }

    /// How long an event loop may sleep for this libOS: 0.0 when coroutines are ready to run (or a
    /// poll-mode device has operations awaited), else the time to the next timer, else None. Internal.
    fn _idle_timeout(&self) -> PyResult<Option<f64>> {
        self.check_thread()?;
        with_libos(self.id, |slot| {
            let busy = slot.libos.runtime().scheduler().has_ready()
                || (!slot.waiters.is_empty() && slot.libos.event_fd().is_none());
            if busy {
                return Ok(Some(0.0));
            }
            Ok(slot.libos.next_deadline().map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64()))
        })
    }

    /// Whether tokens of this libOS are awaited. Internal.
    fn _has_waiters(&self) -> PyResult<bool> {
        self.check_thread()?;
        with_libos(self.id, |slot| Ok(!slot.waiters.is_empty()))
    }

    /// Panics inside a libOS call, for the tests: shows that a Rust panic (a bug) surfaces as a `DemiError`
    /// with errno EIO and takes this LibOS out of service, instead of crossing into Python as a panic.
    fn _panic_for_tests(&self) -> PyResult<()> {
        self.check_thread()?;
        with_libos(self.id, |_| -> Result<(), Fail> { panic!("a deliberate panic for the tests") })
    }

    /// Runs one poll round and completes the futures of every awaited token that finished, in one call.
    /// Returns how many it completed. Internal: called by the event loop once per iteration.
    fn _dispatch(&self, py: Python<'_>) -> PyResult<usize> {
        self.check_thread()?;
        let finished = with_libos_py(self.id, |slot| {
            slot.libos.poll().map_err(os_error)?;
            reap_orphans(slot);
            let mut completed = std::mem::take(&mut slot.completed);
            slot.libos.runtime().scheduler_mut().drain_completed(&mut completed);
            let mut finished = Vec::new();
            for qt in completed.drain(..) {
                if let Some(token) = slot.waiters.remove(&qt.raw()) {
                    finished.push((token, slot.libos.runtime().scheduler_mut().take(qt)));
                }
            }
            slot.completed = completed;
            Ok(finished)
        })?;
        let count = finished.len();
        let mut first_error = None;
        for (token, result) in finished {
            let outcome = match result {
                Ok(result) => {
                    let bytes = token.bind(py).try_borrow().map(|t| t.bytes).unwrap_or(false);
                    Outcome::from_raw_as(py, result, bytes)?
                }
                Err(fail) => Outcome::Failed(os_error(fail)),
            };
            if let Err(e) = resolve(py, &token, outcome) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(count), Err)
    }
}

impl Drop for LibOS {
    fn drop(&mut self) {
        // On another thread the instance cannot be reached; it goes when its thread exits.
        if self.owner.is_current() {
            drop(remove_libos(self.id));
        }
    }
}

/// `(name, compiled, description)` of every libOS of the project.
#[pyfunction]
pub(crate) fn liboses() -> Vec<(&'static str, bool, &'static str)> {
    demikernel::LIBOSES.iter().map(|l| (l.name, l.compiled, l.description)).collect()
}
