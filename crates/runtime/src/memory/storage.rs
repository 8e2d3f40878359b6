//! The raw bytes behind a `DemiBuffer`: one zeroed heap allocation, shared through `Rc`.
//!
//! Bytes are reached through a raw pointer, never through an owned `Box<[u8]>`, so that several views
//! (clones of one buffer) may exist while one of them writes to a region it uniquely owns, and so that a
//! foreign writer (the Python buffer protocol, a device) may hold the pointer while Rust code does not hold a
//! reference into the bytes.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;
use std::rc::Weak;

use super::pool::PoolShared;
use crate::Fail;

/// Alignment of every buffer: one cache line, which also suits DMA engines and SIMD copies.
const ALIGN: usize = 64;

#[derive(Debug)]
pub(crate) struct Storage {
    ptr: NonNull<u8>,
    capacity: usize,
    /// The pool this storage returns to when its last view is dropped (none for one-off buffers).
    pub(crate) pool: Option<Weak<PoolShared>>,
}

impl Storage {
    /// Allocates `capacity` zeroed bytes (at least one, so the layout is never zero-sized).
    pub(crate) fn allocate(capacity: usize, pool: Option<Weak<PoolShared>>) -> Result<Self, Fail> {
        let layout = Layout::from_size_align(capacity.max(1), ALIGN)
            .map_err(|_| Fail::with_context(libc::ENOMEM, format!("buffer of {capacity} bytes is too large")))?;
        // SAFETY: the layout has a non-zero size (max(1)) and a valid power-of-two alignment.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw)
            .ok_or_else(|| Fail::with_context(libc::ENOMEM, format!("out of memory for {capacity} bytes")))?;
        Ok(Self { ptr, capacity, pool })
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Pointer to byte `offset`. Callers keep `offset <= capacity`.
    pub(crate) fn ptr_at(&self, offset: usize) -> *mut u8 {
        debug_assert!(offset <= self.capacity);
        // SAFETY: `offset <= capacity`, so the result stays inside (or one past) the allocation.
        unsafe { self.ptr.as_ptr().add(offset) }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.capacity.max(1), ALIGN).expect("layout was valid at allocation");
        // SAFETY: `ptr` came from `alloc_zeroed` with this same layout and is freed exactly once, here.
        unsafe { dealloc(self.ptr.as_ptr(), layout) };
    }
}
