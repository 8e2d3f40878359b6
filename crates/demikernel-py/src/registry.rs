//! Per-thread tables of libOS instances and scatter-gather arrays, so that Python objects (which any thread
//! may touch) hold only keys, and `Rc`-based state never leaves its thread.
//!
//! Rule for callers: never call into Python while borrowing a table (Python code could re-enter); take what
//! is needed out, drop the borrow, then build Python objects.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::ThreadId;

use demikernel::{Fail, LibOs, QToken, Sga};
use pyo3::prelude::*;

use crate::errors::{busy, os_error, shut_down};
use crate::qtoken::QToken as PyQToken;

/// One libOS instance and what the Python side tracks about it.
pub(crate) struct LibOsSlot {
    pub(crate) id: u64,
    pub(crate) libos: Box<dyn LibOs>,
    /// Tokens awaited through an asyncio future, by raw token.
    pub(crate) waiters: HashMap<u64, Py<PyQToken>>,
    /// Scratch space for `Scheduler::drain_completed`.
    pub(crate) completed: Vec<QToken>,
    /// Whether the scheduler's completion tracking is on (from the first awaited token on).
    pub(crate) tracking: bool,
    /// A finished result set aside by a blocking wait (the GIL-free closure cannot return it: `Rc` inside).
    pub(crate) stash: Option<StashedResults>,
}

pub(crate) enum StashedResults {
    One(usize, demikernel::QResult),
    All(Vec<demikernel::QResult>),
}

/// A scatter-gather array and the count of Python buffer views over it (shared with its `Sga` object,
/// whose `__releasebuffer__` may run on any thread).
pub(crate) struct SgaSlot {
    pub(crate) sga: Sga,
    pub(crate) exports: Arc<AtomicUsize>,
}

/// The `Sga` table. At thread exit, arrays that still have buffer views are leaked rather than freed: a
/// memoryview passed to another thread must never dangle.
#[derive(Default)]
pub(crate) struct SgaTable {
    slots: Vec<Option<SgaSlot>>,
    free: Vec<usize>,
}

impl SgaTable {
    pub(crate) fn insert(&mut self, slot: SgaSlot) -> usize {
        match self.free.pop() {
            Some(key) => {
                self.slots[key] = Some(slot);
                key
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        }
    }

    pub(crate) fn get(&self, key: usize) -> Option<&SgaSlot> {
        self.slots.get(key).and_then(Option::as_ref)
    }

    pub(crate) fn remove(&mut self, key: usize) -> Option<SgaSlot> {
        let slot = self.slots.get_mut(key).and_then(Option::take);
        if slot.is_some() {
            self.free.push(key);
        }
        slot
    }
}

impl Drop for SgaTable {
    fn drop(&mut self) {
        for slot in self.slots.drain(..).flatten() {
            if slot.exports.load(Ordering::Acquire) > 0 {
                std::mem::forget(slot.sga);
            }
        }
    }
}

thread_local! {
    static LIBOSES: RefCell<Vec<LibOsSlot>> = const { RefCell::new(Vec::new()) };
    static SGAS: RefCell<SgaTable> = RefCell::new(SgaTable::default());
    /// Tokens whose Python objects died before their results were taken: (libOS id, token).
    static ORPHANS: RefCell<Vec<(u64, QToken)>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
}

/// The thread a Python object was made on, and a check against it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Owner(ThreadId);

impl Owner {
    pub(crate) fn current() -> Self {
        Self(std::thread::current().id())
    }

    pub(crate) fn is_current(&self) -> bool {
        std::thread::current().id() == self.0
    }
}

/// Adds a libOS to this thread's table; returns its id.
pub(crate) fn add_libos(libos: Box<dyn LibOs>) -> PyResult<u64> {
    let id = NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    let slot = LibOsSlot { id, libos, waiters: HashMap::new(), completed: Vec::new(), tracking: false, stash: None };
    LIBOSES.try_with(|t| t.try_borrow_mut().map(|mut t| t.push(slot)).map_err(|_| busy())).map_err(|_| busy())??;
    Ok(id)
}

/// Removes a libOS from this thread's table (None if it is already gone).
pub(crate) fn remove_libos(id: u64) -> Option<LibOsSlot> {
    let slot = LIBOSES
        .try_with(|t| {
            let mut t = t.try_borrow_mut().ok()?;
            let index = t.iter().position(|s| s.id == id)?;
            Some(t.swap_remove(index))
        })
        .ok()
        .flatten();
    let _ = ORPHANS.try_with(|o| {
        if let Ok(mut o) = o.try_borrow_mut() {
            o.retain(|&(owner, _)| owner != id);
        }
    });
    slot
}

/// Runs `f` on libOS `id` of this thread. EBADF (as OSError) once it is shut down.
pub(crate) fn with_libos<R>(id: u64, f: impl FnOnce(&mut LibOsSlot) -> Result<R, Fail>) -> PyResult<R> {
    with_libos_py(id, |slot| f(slot).map_err(os_error))
}

/// As `with_libos`, for closures that fail with Python errors.
///
/// A panic inside `f` (a bug: no input is meant to cause one) does not cross into Python as PyO3's
/// `PanicException`: it becomes a `DemiError` with errno EIO, and the libOS, whose state the panic may have
/// left half-changed, is taken out of service (later calls: EBADF) and dropped, as unwinding would have
/// dropped it (its queues close; catnip's port goes back for the next instance). Should its destructor panic
/// too, what it still held is leaked.
pub(crate) fn with_libos_py<R>(id: u64, f: impl FnOnce(&mut LibOsSlot) -> PyResult<R>) -> PyResult<R> {
    LIBOSES
        .try_with(|t| {
            let mut t = t.try_borrow_mut().map_err(|_| busy())?;
            let index = t.iter().position(|s| s.id == id).ok_or_else(|| os_error(shut_down()))?;
            let slot = &mut t[index];
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(slot))) {
                Ok(result) => result,
                Err(panic) => {
                    let retired = t.swap_remove(index);
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(retired)));
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".to_owned());
                    Err(os_error(Fail::with_context(
                        libc::EIO,
                        format!("internal error in the libOS ({what}); this LibOS was taken out of service"),
                    )))
                }
            }
        })
        .map_err(|_| os_error(shut_down()))?
}

/// Runs `f` on this thread's `Sga` table.
pub(crate) fn with_sgas<R>(f: impl FnOnce(&mut SgaTable) -> PyResult<R>) -> PyResult<R> {
    SGAS.try_with(|t| {
        let mut t = t.try_borrow_mut().map_err(|_| busy())?;
        f(&mut t)
    })
    .map_err(|_| busy())?
}

/// Frees an `Sga` slot if this thread's table can be reached (from destructors: never fails).
pub(crate) fn drop_sga(key: usize) {
    let slot = SGAS.try_with(|t| t.try_borrow_mut().ok().and_then(|mut t| t.remove(key))).ok().flatten();
    drop(slot);
}

/// Notes a token whose result nobody will take, to be reaped when it completes.
pub(crate) fn orphan(libos: u64, qt: QToken) {
    let _ = ORPHANS.try_with(|o| {
        if let Ok(mut o) = o.try_borrow_mut() {
            o.push((libos, qt));
        }
    });
}

/// Takes and discards the finished results of orphaned tokens of `slot`.
pub(crate) fn reap_orphans(slot: &mut LibOsSlot) {
    let _ = ORPHANS.try_with(|o| {
        let Ok(mut o) = o.try_borrow_mut() else { return };
        if o.is_empty() {
            return;
        }
        let scheduler = slot.libos.runtime().scheduler_mut();
        o.retain(|&(id, qt)| {
            if id != slot.id {
                return true;
            }
            match scheduler.is_done(qt) {
                Ok(true) => {
                    let _ = scheduler.take(qt);
                    false
                }
                Ok(false) => true,
                Err(_) => false,
            }
        });
    });
}
