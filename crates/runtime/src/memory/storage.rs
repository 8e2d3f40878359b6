//! The raw bytes behind a `DemiBuffer`, shared through `Rc`: either one zeroed heap allocation of ours, or
//! memory a device owns (a DPDK mbuf, registered RDMA memory) that goes back to it through a release hook
//! when the last view is dropped, so received data reaches the application without a copy.
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

/// Gives device memory back: called once, with the context given at creation, when the last view drops.
pub type ReleaseFn = unsafe fn(context: *mut std::ffi::c_void);

/// Who owns the bytes.
#[derive(Debug)]
enum Owner {
    /// Our allocator (`alloc_zeroed` with the capacity and `ALIGN`).
    Heap,
    /// A device: `release(context)` hands the memory back.
    Device { release: ReleaseFn, context: *mut std::ffi::c_void },
}

#[derive(Debug)]
pub(crate) struct Storage {
    ptr: NonNull<u8>,
    capacity: usize,
    owner: Owner,
    /// The pool this storage returns to when its last view is dropped (none for one-off buffers).
    pub(crate) pool: Option<Weak<PoolShared>>,
}

impl Storage {
    /// Allocates `capacity` zeroed bytes (at least one, so the layout is never zero-sized).
    pub(crate) fn allocate(capacity: usize, pool: Option<Weak<PoolShared>>) -> Result<Self, Fail> {
        if capacity > super::buffer::MAX_BUFFER_LEN {
            return Err(Fail::with_context(
                libc::ENOMEM,
                format!("buffer of {capacity} bytes is over the 4 GiB limit"),
            ));
        }
        let layout = Layout::from_size_align(capacity.max(1), ALIGN)
            .map_err(|_| Fail::with_context(libc::ENOMEM, format!("buffer of {capacity} bytes is too large")))?;
        // SAFETY: the layout has a non-zero size (max(1)) and a valid power-of-two alignment.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw)
            .ok_or_else(|| Fail::with_context(libc::ENOMEM, format!("out of memory for {capacity} bytes")))?;
        Ok(Self { ptr, capacity, owner: Owner::Heap, pool })
    }

    /// Wraps `capacity` bytes at `ptr` that a device owns.
    ///
    /// # Safety
    /// `ptr` must be valid for reads and writes of `capacity` initialised bytes until `release(context)` is
    /// called, nothing else may write them meanwhile, and `release(context)` must be sound to call once.
    pub(crate) unsafe fn device(
        ptr: NonNull<u8>,
        capacity: usize,
        release: ReleaseFn,
        context: *mut std::ffi::c_void,
    ) -> Self {
        Self { ptr, capacity, owner: Owner::Device { release, context }, pool: None }
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
        match self.owner {
            Owner::Heap => {
                let layout =
                    Layout::from_size_align(self.capacity.max(1), ALIGN).expect("layout was valid at allocation");
                // SAFETY: `ptr` came from `alloc_zeroed` with this same layout and is freed exactly once, here.
                unsafe { dealloc(self.ptr.as_ptr(), layout) };
            }
            // SAFETY: `Storage::device`'s contract: releasing once, when the last view is gone, is sound.
            Owner::Device { release, context } => unsafe { release(context) },
        }
    }
}
