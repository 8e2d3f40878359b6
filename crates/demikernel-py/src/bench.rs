//! Rust-side baselines for `python -m demikernel bench`: the same operations as the Python benchmark, in a
//! loop with no Python in it, on the same libOS instance and in the same process.

use std::time::Instant;

use demikernel::{Fail, QDesc, Sga};
use pyo3::prelude::*;

use crate::libos::LibOS;

/// Nanoseconds per push+pop round trip of `size` bytes between `push_qd` and `pop_qd` (the same queue for
/// an in-memory queue; the two ends of a connection for TCP), over `count` rounds, all in Rust.
#[pyfunction]
pub(crate) fn rust_roundtrip(
    libos: &Bound<'_, LibOS>,
    push_qd: u32,
    pop_qd: u32,
    size: usize,
    count: usize,
) -> PyResult<f64> {
    let (push_qd, pop_qd) = (QDesc::new(push_qd), QDesc::new(pop_qd));
    libos.get().call(|l| {
        let payload = Sga::from_slice(&vec![7u8; size.max(1)])?;
        let started = Instant::now();
        for _ in 0..count {
            let push = l.push(push_qd, &payload)?;
            l.wait(push, None)?.value?;
            let mut got = 0;
            while got < size {
                let pop = l.pop(pop_qd, None)?;
                match l.wait(pop, None)?.value? {
                    demikernel::QValue::Popped { sga, .. } if !sga.is_empty() => got += sga.len(),
                    _ => return Err(Fail::new(libc::ECONNRESET, "end of stream during the benchmark")),
                }
            }
        }
        Ok(started.elapsed().as_nanos() as f64 / count.max(1) as f64)
    })
}

/// Nanoseconds per `wait` of an already-completed push (to an in-memory queue `qd`), all in Rust: the
/// baseline for `await` of a completed qtoken.
#[pyfunction]
pub(crate) fn rust_wait_completed(libos: &Bound<'_, LibOS>, qd: u32, count: usize) -> PyResult<(f64, f64)> {
    let qd = QDesc::new(qd);
    libos.get().call(|l| {
        let payload = Sga::from_slice(b"x")?;
        let mut tokens = Vec::with_capacity(count);
        let started = Instant::now();
        for _ in 0..count {
            tokens.push(l.push(qd, &payload)?);
        }
        let pushed = started.elapsed();
        let started = Instant::now();
        for qt in tokens {
            l.wait(qt, None)?.value?;
        }
        let waited = started.elapsed();
        // Drain the queue again.
        for _ in 0..count {
            let pop = l.pop(qd, None)?;
            l.wait(pop, None)?.value?;
        }
        let per = |d: std::time::Duration| d.as_nanos() as f64 / count.max(1) as f64;
        Ok((per(pushed), per(waited)))
    })
}
