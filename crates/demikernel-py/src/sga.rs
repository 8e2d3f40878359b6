//! `Sga`: a scatter-gather array seen from Python. Supports the buffer protocol: `memoryview(sga)` reads and
//! writes the buffer in place (writable while no operation in flight shares it), `bytes(sga)` copies.

use std::ffi::c_int;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use demikernel::Sga as RawSga;
use pyo3::exceptions::PyBufferError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{os_error, value_error, wrong_thread};
use crate::registry::{Owner, SgaSlot, drop_sga, with_sgas};

/// Key value of a freed array.
const FREED: usize = usize::MAX;

/// One byte for the buffer of an empty array (a buffer view needs a valid, non-null pointer).
static EMPTY: [u8; 1] = [0];

/// A scatter-gather array: the data of one push or one pop. Made by `LibOS.sgaalloc`, by a pop, or from
/// bytes (`Sga(b"...")`, a copy). `memoryview(sga)` gives its bytes without a copy; `bytes(sga)` copies.
#[pyclass(module = "demikernel._demikernel", name = "Sga", frozen)]
#[derive(Debug)]
pub struct Sga {
    owner: Owner,
    key: AtomicUsize,
    len: usize,
    segments: usize,
    exports: Arc<AtomicUsize>,
}

/// `sga` as one segment, so that `memoryview` can show it: unchanged when it has at most one (catnap's pops,
/// and catnip's when the data came in one frame: zero-copy), else copied once into a fresh buffer (a catnip pop
/// that spans several received frames; `bytes(sga)` would copy anyway).
pub(crate) fn contiguous(sga: RawSga) -> PyResult<RawSga> {
    if sga.num_segments() <= 1 {
        return Ok(sga);
    }
    let mut buffer = demikernel::DemiBuffer::new(sga.len()).map_err(os_error)?;
    let target = buffer.as_mut_slice().ok_or_else(|| value_error("fresh buffer is shared"))?;
    let mut offset = 0;
    for segment in sga.segments() {
        target[offset..offset + segment.len()].copy_from_slice(segment.as_slice());
        offset += segment.len();
    }
    Ok(RawSga::from_buffer(buffer))
}

impl Sga {
    /// Wraps an array made on this thread.
    pub(crate) fn new(sga: RawSga) -> PyResult<Self> {
        let len = sga.len();
        let segments = sga.num_segments();
        let exports = Arc::new(AtomicUsize::new(0));
        let key = with_sgas(|t| Ok(t.insert(SgaSlot { sga, exports: Arc::clone(&exports) })))?;
        Ok(Self { owner: Owner::current(), key: AtomicUsize::new(key), len, segments, exports })
    }

    fn key(&self) -> PyResult<usize> {
        if !self.owner.is_current() {
            return Err(wrong_thread("Sga"));
        }
        match self.key.load(Ordering::Acquire) {
            FREED => Err(value_error("this Sga was freed (sgafree)")),
            key => Ok(key),
        }
    }

    /// A new reference to the array (segments are reference-counted: no copy), for a push.
    pub(crate) fn share(&self) -> PyResult<RawSga> {
        let key = self.key()?;
        if self.exports.load(Ordering::Acquire) > 0 {
            return Err(PyBufferError::new_err(
                "release the memoryviews of this Sga before pushing it (the libOS reads it while it runs)",
            ));
        }
        with_sgas(|t| t.get(key).map(|s| s.sga.clone()).ok_or_else(|| value_error("this Sga was freed")))
    }

    /// Frees the array (`LibOS.sgafree`). A libOS still sending it keeps its own reference.
    pub(crate) fn free(&self) -> PyResult<()> {
        let key = self.key()?;
        if self.exports.load(Ordering::Acquire) > 0 {
            return Err(PyBufferError::new_err("cannot free an Sga while memoryviews of it exist"));
        }
        self.key.store(FREED, Ordering::Release);
        drop_sga(key);
        Ok(())
    }

    fn copy_out(&self) -> PyResult<Vec<u8>> {
        let key = self.key()?;
        with_sgas(|t| t.get(key).map(|s| s.sga.to_vec()).ok_or_else(|| value_error("this Sga was freed")))
    }
}

#[pymethods]
impl Sga {
    /// An array holding a copy of `data` (any bytes-like object).
    #[new]
    fn py_new(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let bytes = crate::libos::bytes_like(data)?;
        Self::new(RawSga::from_slice(&bytes).map_err(os_error)?)
    }

    fn __len__(&self) -> PyResult<usize> {
        self.key()?;
        Ok(self.len)
    }

    /// Number of segments (a buffer view needs exactly one, or none when empty).
    #[getter]
    fn nsegments(&self) -> PyResult<usize> {
        self.key()?;
        Ok(self.segments)
    }

    /// Whether `sgafree` has been called on it.
    #[getter]
    fn freed(&self) -> bool {
        self.key.load(Ordering::Acquire) == FREED
    }

    /// A copy of the bytes, over all segments.
    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.copy_out()?))
    }

    /// Same as `bytes(sga)`.
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.__bytes__(py)
    }

    fn __repr__(&self) -> String {
        if self.freed() {
            "<Sga freed>".into()
        } else {
            format!("<Sga {} bytes in {} segments>", self.len, self.segments)
        }
    }

    /// The buffer protocol: one contiguous, byte-addressed buffer; writable while no operation in flight
    /// holds a reference to the segment.
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut pyo3::ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let this = slf.get();
        let key = this.key()?;
        if this.segments > 1 {
            return Err(PyBufferError::new_err(format!(
                "this Sga has {} segments; a buffer view needs one (use bytes(sga))",
                this.segments
            )));
        }
        let (ptr, len, unique) = with_sgas(|t| {
            let slot = t.get(key).ok_or_else(|| value_error("this Sga was freed"))?;
            Ok(match slot.sga.segments().first() {
                Some(segment) if !segment.is_empty() => (segment.as_mut_ptr(), segment.len(), segment.is_unique()),
                _ => (EMPTY.as_ptr().cast_mut(), 0, false),
            })
        })?;
        if flags & pyo3::ffi::PyBUF_WRITABLE != 0 && !unique {
            return Err(PyBufferError::new_err(if len == 0 {
                "an empty Sga has no writable buffer"
            } else {
                "this Sga is shared with an operation in flight: read-only until it completes"
            }));
        }
        let len = isize::try_from(len).map_err(|_| PyBufferError::new_err("Sga too large for a buffer view"))?;
        // SAFETY: `view` is the Py_buffer Python passed to bf_getbuffer. `ptr` points at `len` initialised
        // bytes of a heap segment that stays put while the slot lives: the slot is removed only by `free`
        // (refused while `exports > 0`), by dropping this object (impossible: the view holds a reference to
        // it, set here as `obj`), or at thread exit (`SgaTable::drop` leaks arrays with exports). Python
        // writes through it only when `readonly` is 0, which we give only for a uniquely owned segment, and
        // a push of an array with live views is refused, so no Rust borrow overlaps those writes.
        let rc =
            unsafe { pyo3::ffi::PyBuffer_FillInfo(view, slf.as_ptr(), ptr.cast(), len, c_int::from(!unique), flags) };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        this.exports.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut pyo3::ffi::Py_buffer) {
        self.exports.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Sga {
    fn drop(&mut self) {
        // From another thread, the slot cannot be reached: it stays until its thread exits.
        let key = self.key.load(Ordering::Acquire);
        if key != FREED && self.owner.is_current() {
            drop_sga(key);
        }
    }
}
