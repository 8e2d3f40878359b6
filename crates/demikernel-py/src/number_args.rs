//! Numeric arguments as Python gives them: any `int`, however large, and any real number of seconds.
//!
//! PyO3's own conversions to `i64`, `i32` and `f64` raise `OverflowError` past the Rust type, and that is neither
//! a `DemiError` nor a `ValueError`: `except demikernel.DemiError` missed it. These saturate instead, so a value
//! past the type's range meets the same checks, and the same error, as the type's largest (or smallest) value:
//! a queue descriptor of `2**70` is `EBADF` as `2**40` is, a size of `2**70` is `ENOMEM` as `2**40` is, a port of
//! `2**70` the port's `DemiValueError`, a timeout of `10**400` seconds forever. Other types stay a `TypeError`.

use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;

/// An `int` argument as an `i64`, saturated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Int(pub(crate) i64);

/// An `int` argument as an `i32` (the C `int` of domains, types, levels and option names), saturated.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CInt(pub(crate) i32);

/// A number of seconds as an `f64`; an `int` too large for one is infinite, with its sign.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seconds(pub(crate) f64);

/// `obj` as an `i64`, or `i64::MIN`/`i64::MAX` for an `int` past them.
fn saturating_i64(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    match obj.extract::<i64>() {
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => Ok(if obj.lt(0)? { i64::MIN } else { i64::MAX }),
        other => other,
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for Int {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        saturating_i64(&obj).map(Int)
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for CInt {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let value = saturating_i64(&obj)?.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
        Ok(CInt(value as i32))
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for Seconds {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        match obj.extract::<f64>() {
            Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
                Ok(Seconds(if obj.lt(0)? { f64::NEG_INFINITY } else { f64::INFINITY }))
            }
            other => other.map(Seconds),
        }
    }
}
