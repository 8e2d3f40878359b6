//! `BufferPool`: fixed-size buffers recycled through a bounded free list.
//!
//! A buffer taken from the pool goes back to it when its last view is dropped, wherever that happens (in the
//! application, a socket, a retransmission queue). After warm-up, allocating and freeing a pooled buffer calls
//! no allocator. The free list is bounded (`max_cached`); beyond it, storage is returned to the heap.

use std::cell::UnsafeCell;
use std::fmt;
use std::rc::Rc;

use super::buffer::DemiBuffer;
use super::storage::Storage;
use crate::Fail;

pub(crate) struct PoolShared {
    /// The free list, reached only by the methods below, each of which holds its reference for one `Vec`
    /// operation that runs no other code: a `RefCell`'s borrow flag would cost a check and two writes on every
    /// allocation and every recycling, for borrows that can never overlap.
    free: UnsafeCell<Vec<Rc<Storage>>>,
    max_cached: usize,
}

impl PoolShared {
    /// Takes back storage whose last view is being dropped (the caller's clone is the only other reference).
    /// The common case, a free list with room in its allocation, calls nothing (so the caller needs no stack
    /// frame); growing the list or freeing storage beyond `max_cached` is out of line.
    #[inline]
    pub(crate) fn recycle(&self, storage: Rc<Storage>) {
        // SAFETY: the reference lives for this block only, which runs no other code; `PoolShared` is neither
        // `Send` nor `Sync` (it holds `Rc`s), so no other thread holds one either.
        let free = unsafe { &mut *self.free.get() };
        let len = free.len();
        if len < free.capacity() && len < self.max_cached {
            // SAFETY: `len < capacity`, so slot `len` is allocated and unused; it is written, then counted.
            unsafe {
                free.as_mut_ptr().add(len).write(storage);
                free.set_len(len + 1);
            }
        } else {
            self.recycle_slow(storage);
        }
    }

    /// [`Self::recycle`] when the list must grow or is full.
    #[cold]
    #[inline(never)]
    fn recycle_slow(&self, storage: Rc<Storage>) {
        let rejected = {
            // SAFETY: the reference lives for this block only, which runs nothing but `Vec`'s own code (a
            // push that grows calls only the allocator, which cannot reach the pool); no other thread holds
            // one (as in `recycle`).
            let free = unsafe { &mut *self.free.get() };
            if free.len() < self.max_cached {
                free.push(storage);
                None
            } else {
                Some(storage)
            }
        };
        // Freed here, after the list is let go, if the list is full.
        drop(rejected);
    }

    #[inline]
    fn pop_free(&self) -> Option<Rc<Storage>> {
        // SAFETY: as in `recycle`; the popped `Rc` is returned, not dropped, while the reference lives.
        unsafe { &mut *self.free.get() }.pop()
    }

    fn free_len(&self) -> usize {
        // SAFETY: as in `recycle`, for a shared reference that only reads the length.
        unsafe { &*self.free.get() }.len()
    }
}

/// A pool of buffers of `headroom + segment_size` bytes each.
#[derive(Clone)]
pub struct BufferPool {
    shared: Rc<PoolShared>,
    headroom: usize,
    segment_size: usize,
}

impl BufferPool {
    /// A pool of buffers that each hold up to `segment_size` bytes after `headroom` bytes for headers.
    /// At most `max_cached` free buffers are kept for reuse.
    pub fn new(headroom: usize, segment_size: usize, max_cached: usize) -> Result<Self, Fail> {
        if segment_size == 0 {
            return Err(Fail::new(libc::EINVAL, "pool segment size must be positive"));
        }
        headroom.checked_add(segment_size).ok_or_else(|| Fail::new(libc::EINVAL, "pool buffer size overflows"))?;
        let shared = Rc::new(PoolShared { free: UnsafeCell::new(Vec::new()), max_cached });
        Ok(Self { shared, headroom, segment_size })
    }

    /// Largest buffer the pool hands out.
    pub fn segment_size(&self) -> usize {
        self.segment_size
    }

    /// Headroom in front of every buffer.
    pub fn headroom(&self) -> usize {
        self.headroom
    }

    /// Free buffers currently cached.
    pub fn cached(&self) -> usize {
        self.shared.free_len()
    }

    /// A buffer of `len <= segment_size` bytes. Recycled buffers keep their old contents: callers that hand
    /// the bytes to someone else overwrite them first.
    #[inline]
    pub fn alloc(&self, len: usize) -> Result<DemiBuffer, Fail> {
        if len > self.segment_size {
            return Err(self.too_large(len));
        }
        let recycled = self.shared.pop_free();
        let storage = match recycled {
            Some(storage) => storage,
            None => self.allocate()?,
        };
        Ok(DemiBuffer::from_storage(storage, self.headroom, len))
    }

    #[cold]
    fn too_large(&self, len: usize) -> Fail {
        Fail::with_context(libc::EINVAL, format!("{len} bytes exceed the pool's {}-byte segments", self.segment_size))
    }

    /// Fresh storage for the pool (the free list is empty).
    #[cold]
    fn allocate(&self) -> Result<Rc<Storage>, Fail> {
        Ok(Rc::new(Storage::allocate(self.headroom + self.segment_size, Some(Rc::downgrade(&self.shared)))?))
    }
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("headroom", &self.headroom)
            .field("segment_size", &self.segment_size)
            .field("cached", &self.cached())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_return_to_the_pool_when_the_last_view_drops() {
        let pool = BufferPool::new(64, 2048, 8).unwrap();
        let buf = pool.alloc(100).unwrap();
        assert_eq!(buf.len(), 100);
        assert_eq!(buf.headroom(), 64);
        let view = buf.clone();
        drop(buf);
        assert_eq!(pool.cached(), 0, "a view is still alive");
        drop(view);
        assert_eq!(pool.cached(), 1);
        let again = pool.alloc(2048).unwrap();
        assert_eq!(pool.cached(), 0, "the cached buffer was reused");
        assert_eq!(again.len(), 2048);
    }

    #[test]
    fn free_list_is_bounded() {
        let pool = BufferPool::new(0, 16, 2).unwrap();
        let bufs: Vec<_> = (0..5).map(|_| pool.alloc(16).unwrap()).collect();
        drop(bufs);
        assert_eq!(pool.cached(), 2);
    }

    #[test]
    fn recycling_fills_the_list_in_place_and_grows_it_when_needed() {
        let pool = BufferPool::new(0, 16, 100).unwrap();
        for round in 1..=3 {
            let bufs: Vec<_> = (0..40).map(|_| pool.alloc(16).unwrap()).collect();
            assert_eq!(pool.cached(), 0, "round {round}: every cached buffer was reused");
            drop(bufs);
            assert_eq!(pool.cached(), 40, "round {round}: every buffer came back");
        }
    }

    #[test]
    fn oversized_requests_and_bad_pools_are_errors() {
        let pool = BufferPool::new(0, 16, 2).unwrap();
        assert_eq!(pool.alloc(17).unwrap_err().errno(), libc::EINVAL);
        assert_eq!(BufferPool::new(0, 0, 1).unwrap_err().errno(), libc::EINVAL);
        assert_eq!(BufferPool::new(usize::MAX, 1, 1).unwrap_err().errno(), libc::EINVAL);
    }

    #[test]
    fn buffers_outliving_their_pool_are_freed_normally() {
        let pool = BufferPool::new(0, 16, 2).unwrap();
        let buf = pool.alloc(8).unwrap();
        drop(pool);
        drop(buf);
    }
}
