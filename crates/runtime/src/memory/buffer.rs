//! `DemiBuffer`: a view `[start, end)` over shared, reference-counted storage.
//!
//! Cloning, splitting and trimming only adjust views and counts; bytes are never copied. Writing needs
//! unique ownership of the storage (checked at run time), so a buffer handed to a device or a peer can never
//! be modified under it. Space before `start` is headroom for protocol headers (`prepend`).

use std::fmt;
use std::mem::ManuallyDrop;
use std::rc::Rc;

use super::storage::{ReleaseFn, Storage};
use crate::Fail;

pub struct DemiBuffer {
    /// Taken out by `drop`, so that the last view can hand the `Rc` itself to its pool (no clone and no
    /// second decrement).
    storage: ManuallyDrop<Rc<Storage>>,
    span: Span,
}

/// A view's `[start, end)` as two 32-bit offsets packed in one word (storage is at most [`MAX_BUFFER_LEN`]
/// bytes). With the storage pointer, a view is then a pair of scalars, which Rust passes and returns in two
/// registers: as three words it went through memory at every call and was copied with wider loads than the
/// stores that wrote it, a store-forwarding stall per received segment.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Span(u64);

impl Span {
    /// `start <= end <= MAX_BUFFER_LEN`, which every caller has checked.
    #[inline]
    fn new(start: usize, end: usize) -> Self {
        debug_assert!(start <= end && end <= MAX_BUFFER_LEN);
        Span(start as u64 | (end as u64) << 32)
    }

    #[inline]
    fn start(self) -> usize {
        (self.0 as u32) as usize
    }

    #[inline]
    fn end(self) -> usize {
        (self.0 >> 32) as usize
    }
}

/// The largest storage a buffer may have: 4 GiB - 1, so that offsets fit in 32 bits.
pub const MAX_BUFFER_LEN: usize = u32::MAX as usize;

impl DemiBuffer {
    /// A zeroed buffer of `len` bytes with no headroom.
    pub fn new(len: usize) -> Result<Self, Fail> {
        Self::with_headroom(0, len)
    }

    /// A zeroed buffer of `len` bytes preceded by `headroom` bytes for headers.
    pub fn with_headroom(headroom: usize, len: usize) -> Result<Self, Fail> {
        let capacity = headroom.checked_add(len).ok_or_else(|| Fail::new(libc::ENOMEM, "buffer size overflows"))?;
        Ok(Self::from_storage(Rc::new(Storage::allocate(capacity, None)?), headroom, len))
    }

    /// A buffer holding a copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Fail> {
        let mut buf = Self::new(bytes.len())?;
        buf.as_mut_slice().expect("a new buffer is uniquely owned").copy_from_slice(bytes);
        Ok(buf)
    }

    /// A view of `len` bytes at `ptr` that a device owns (a received DPDK mbuf, say): no copy. When the last
    /// view (clone or split) is dropped, `release(context)` gives the memory back.
    ///
    /// # Safety
    /// `ptr` must be non-null and valid for reads and writes of `len` initialised bytes until
    /// `release(context)` runs; nothing but these views may write the bytes meanwhile; and calling
    /// `release(context)` once must be sound.
    pub unsafe fn from_device(
        ptr: *mut u8,
        len: usize,
        release: ReleaseFn,
        context: *mut std::ffi::c_void,
    ) -> Result<Self, Fail> {
        let ptr = std::ptr::NonNull::new(ptr).ok_or_else(|| Fail::new(libc::EFAULT, "null device buffer"))?;
        if len > MAX_BUFFER_LEN {
            return Err(Fail::with_context(
                libc::EINVAL,
                format!("device buffer of {len} bytes is over the 4 GiB limit"),
            ));
        }
        // SAFETY: forwarded from this function's contract.
        let storage = unsafe { Storage::device(ptr, len, release, context) };
        Ok(Self::from_storage(Rc::new(storage), 0, len))
    }

    #[inline]
    pub(crate) fn from_storage(storage: Rc<Storage>, start: usize, len: usize) -> Self {
        debug_assert!(start + len <= storage.capacity() && storage.capacity() <= MAX_BUFFER_LEN);
        // Both fit: `start + len <= capacity <= MAX_BUFFER_LEN` (checked where storage is made).
        Self { storage: ManuallyDrop::new(storage), span: Span::new(start, start + len) }
    }

    /// Number of bytes in view.
    #[inline]
    pub fn len(&self) -> usize {
        self.span.end() - self.span.start()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.span.start() == self.span.end()
    }

    /// Bytes available in front of the view for `prepend`.
    pub fn headroom(&self) -> usize {
        self.span.start()
    }

    /// Whether this view is the only reference to its storage (so it may write).
    #[inline]
    pub fn is_unique(&self) -> bool {
        Rc::strong_count(&self.storage) == 1
    }

    /// The bytes in view.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `[start, end)` lies inside the allocation (constructors and every adjustment check it);
        // the bytes are initialised (zeroed at allocation); writers need `&mut self` on the *only* view
        // (`as_mut_slice`) or go through `as_mut_ptr`, whose contract forbids overlapping a live borrow.
        unsafe { std::slice::from_raw_parts(self.storage.ptr_at(self.span.start()), self.len()) }
    }

    /// The bytes in view, writable, if no other view shares the storage.
    #[inline]
    pub fn as_mut_slice(&mut self) -> Option<&mut [u8]> {
        if !self.is_unique() {
            return None;
        }
        // SAFETY: as in `as_slice`, and this view is the only one, borrowed mutably, so nothing else can
        // read or write the bytes while the returned borrow lives.
        Some(unsafe { std::slice::from_raw_parts_mut(self.storage.ptr_at(self.span.start()), self.len()) })
    }

    /// A raw pointer to the first byte in view, for foreign writers (the Python buffer protocol, devices).
    /// Writing through it is sound only while no Rust borrow of these bytes (`as_slice`) is alive.
    pub fn as_mut_ptr(&self) -> *mut u8 {
        self.storage.ptr_at(self.span.start())
    }

    /// Drops `n` bytes from the front of the view (they become headroom). Inline: every transmitted payload
    /// view is cut with it; the error is built out of line.
    #[inline]
    pub fn adjust(&mut self, n: usize) -> Result<(), Fail> {
        if n > self.len() {
            return Err(self.too_short("adjust", n));
        }
        self.span = Span::new(self.span.start() + n, self.span.end());
        Ok(())
    }

    /// Drops `n` bytes from the back of the view. Inline, as `adjust`.
    #[inline]
    pub fn trim(&mut self, n: usize) -> Result<(), Fail> {
        if n > self.len() {
            return Err(self.too_short("trim", n));
        }
        self.span = Span::new(self.span.start(), self.span.end() - n);
        Ok(())
    }

    /// The error of cutting `n` bytes (`what`: adjust or trim) off a shorter view.
    #[cold]
    #[inline(never)]
    fn too_short(&self, what: &str, n: usize) -> Fail {
        Fail::with_context(libc::EINVAL, format!("cannot {what} {n} bytes off a {}-byte buffer", self.len()))
    }

    /// Grows the view `n` bytes into its headroom and returns them for a header. Needs unique ownership,
    /// since the headroom of a shared buffer may be claimed by another view.
    pub fn prepend(&mut self, n: usize) -> Result<&mut [u8], Fail> {
        if n > self.headroom() {
            return Err(Fail::with_context(
                libc::ENOSPC,
                format!("{n}-byte header needs more than {} bytes of headroom", self.headroom()),
            ));
        }
        if !self.is_unique() {
            return Err(Fail::new(libc::EBUSY, "cannot prepend to a shared buffer"));
        }
        self.span = Span::new(self.span.start() - n, self.span.end());
        Ok(&mut self.as_mut_slice().expect("checked unique")[..n])
    }

    /// Another view of bytes `[offset, offset + len)` of this one (a reference count, no copy), or `None` if
    /// they are not all in view. One bounds check, where a clone, `adjust` and `trim` take two. Always inline: a
    /// few instructions, once per segment received, whose call the compiler at times chose to keep.
    #[inline(always)]
    pub fn subview(&self, offset: usize, len: usize) -> Option<Self> {
        let end = offset.checked_add(len)?;
        if end > self.len() {
            return None;
        }
        let start = self.span.start();
        Some(Self { storage: self.storage.clone(), span: Span::new(start + offset, start + end) })
    }

    /// Splits the view at `at`: `self` keeps `[0, at)` and the returned buffer holds `[at, len)`. No copy.
    pub fn split_off(&mut self, at: usize) -> Result<Self, Fail> {
        if at > self.len() {
            return Err(Fail::with_context(libc::EINVAL, format!("cannot split a {}-byte buffer at {at}", self.len())));
        }
        let split = self.span.start() + at;
        let tail = Self { storage: self.storage.clone(), span: Span::new(split, self.span.end()) };
        self.span = Span::new(self.span.start(), split);
        Ok(tail)
    }

    /// Splits the view at `at`: the returned buffer holds `[0, at)` and `self` keeps `[at, len)`. No copy.
    pub fn split_front(&mut self, at: usize) -> Result<Self, Fail> {
        let tail = self.split_off(at)?;
        Ok(std::mem::replace(self, tail))
    }
}

impl Clone for DemiBuffer {
    /// Another view of the same bytes: a reference count, no copy.
    #[inline]
    fn clone(&self) -> Self {
        Self { storage: self.storage.clone(), span: self.span }
    }
}

impl Drop for DemiBuffer {
    /// Another view remains: one decrement. The last view: [`last_view_dropped`], out of line.
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `storage` is taken exactly once, here, and `self` is not used after `drop`.
        let storage = unsafe { ManuallyDrop::take(&mut self.storage) };
        if Rc::strong_count(&storage) == 1 {
            last_view_dropped(storage);
        }
    }
}

/// The last view of `storage` is gone: back to its pool if it has one that is still alive, else freed.
/// The pool is borrowed through its `Weak` rather than upgraded, which saves a count increment, its overflow
/// check and the decrement after (this runs for every received frame the application has read).
#[inline(never)]
fn last_view_dropped(storage: Rc<Storage>) {
    let Some(pool) = storage.pool.as_ref() else { return };
    if pool.strong_count() == 0 {
        return;
    }
    // SAFETY: a strong count above zero means the `PoolShared` is alive, and it stays alive while the
    // reference is used: `Rc` is neither `Send` nor `Sync`, so only this thread holds strong references, and
    // `recycle` only pushes to the free list or frees `storage`'s bytes, neither of which drops a pool.
    let pool = unsafe { &*pool.as_ptr() };
    pool.recycle(storage);
}

impl std::ops::Deref for DemiBuffer {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for DemiBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemiBuffer")
            .field("len", &self.len())
            .field("headroom", &self.headroom())
            .field("refs", &Rc::strong_count(&self.storage))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_is_two_words_and_storage_over_4_gib_is_refused() {
        assert_eq!(std::mem::size_of::<DemiBuffer>(), 16);
        // Refused before anything is allocated.
        assert_eq!(DemiBuffer::new(MAX_BUFFER_LEN + 1).unwrap_err().errno(), libc::ENOMEM);
        assert_eq!(DemiBuffer::with_headroom(MAX_BUFFER_LEN, 1).unwrap_err().errno(), libc::ENOMEM);
        assert_eq!(DemiBuffer::with_headroom(usize::MAX, 1).unwrap_err().errno(), libc::ENOMEM);
    }

    #[test]
    fn new_buffers_are_zeroed_and_writable() {
        let mut buf = DemiBuffer::new(100).unwrap();
        assert_eq!(buf.len(), 100);
        assert!(buf.iter().all(|&b| b == 0));
        buf.as_mut_slice().unwrap()[0] = 7;
        assert_eq!(buf[0], 7);
    }

    #[test]
    fn clone_shares_bytes_and_blocks_writes() {
        let mut a = DemiBuffer::from_slice(b"hello").unwrap();
        let b = a.clone();
        assert!(a.as_mut_slice().is_none(), "shared storage must not be writable");
        assert_eq!(&b[..], b"hello");
        drop(b);
        assert!(a.as_mut_slice().is_some());
    }

    #[test]
    fn split_and_trim_are_views() {
        let mut a = DemiBuffer::from_slice(b"headerpayload!").unwrap();
        let mut tail = a.split_off(6).unwrap();
        assert_eq!(&a[..], b"header");
        tail.trim(1).unwrap();
        assert_eq!(&tail[..], b"payload");
        let front = tail.split_front(3).unwrap();
        assert_eq!(&front[..], b"pay");
        assert_eq!(&tail[..], b"load");
        assert_eq!(a.split_off(7).unwrap_err().errno(), libc::EINVAL);
        assert_eq!(tail.trim(5).unwrap_err().errno(), libc::EINVAL);
        assert_eq!(tail.adjust(5).unwrap_err().errno(), libc::EINVAL);
    }

    #[test]
    fn subview_is_a_view_in_bounds_or_nothing() {
        let a = DemiBuffer::from_slice(b"0123456789").unwrap();
        assert_eq!(&a.subview(2, 5).unwrap()[..], b"23456");
        assert_eq!(&a.subview(10, 0).unwrap()[..], b"");
        assert!(a.subview(6, 5).is_none());
        assert!(a.subview(usize::MAX, 2).is_none());
        let view = a.subview(0, 1).unwrap();
        assert!(!a.is_unique(), "a subview shares the storage");
        drop(view);
        assert!(a.is_unique());
    }

    #[test]
    fn prepend_uses_headroom_only_when_unique() {
        let mut a = DemiBuffer::with_headroom(8, 4).unwrap();
        a.as_mut_slice().unwrap().copy_from_slice(b"data");
        a.prepend(4).unwrap().copy_from_slice(b"hdr:");
        assert_eq!(&a[..], b"hdr:data");
        assert_eq!(a.prepend(5).unwrap_err().errno(), libc::ENOSPC);
        let shared = a.clone();
        assert_eq!(a.prepend(1).unwrap_err().errno(), libc::EBUSY);
        drop(shared);
    }

    #[test]
    fn adjust_turns_bytes_into_headroom() {
        let mut a = DemiBuffer::from_slice(b"0123456789").unwrap();
        a.adjust(4).unwrap();
        assert_eq!(&a[..], b"456789");
        assert_eq!(a.headroom(), 4);
    }

    #[test]
    fn device_memory_is_released_once_when_the_last_view_drops() {
        use std::cell::Cell;
        thread_local! { static RELEASED: Cell<usize> = const { Cell::new(0) }; }
        // SAFETY (of the test's release hook): it only frees the Box it was given, once.
        unsafe fn release(context: *mut std::ffi::c_void) {
            // SAFETY: `context` is the Box leaked below, released exactly once.
            drop(unsafe { Box::from_raw(context.cast::<[u8; 16]>()) });
            RELEASED.with(|r| r.set(r.get() + 1));
        }
        let memory = Box::into_raw(Box::new(*b"device-owned-mem"));
        // SAFETY: the box is valid for 16 bytes until `release` frees it, and only these views touch it.
        let mut buf = unsafe { DemiBuffer::from_device(memory.cast::<u8>(), 16, release, memory.cast()) }.unwrap();
        assert_eq!(&buf[..], b"device-owned-mem");
        let tail = buf.split_off(7).unwrap();
        let copy = tail.clone();
        drop(buf);
        drop(tail);
        assert_eq!(RELEASED.with(Cell::get), 0, "a view is still alive");
        assert_eq!(&copy[..], b"owned-mem");
        drop(copy);
        assert_eq!(RELEASED.with(Cell::get), 1);
        // SAFETY: a null pointer is refused before anything is wrapped.
        let null = unsafe { DemiBuffer::from_device(std::ptr::null_mut(), 1, release, std::ptr::null_mut()) };
        assert_eq!(null.unwrap_err().errno(), libc::EFAULT);
    }

    #[test]
    fn zero_length_buffers_are_fine() {
        let a = DemiBuffer::new(0).unwrap();
        assert!(a.is_empty());
        assert_eq!(a.as_slice(), b"");
    }

    #[test]
    fn absurd_sizes_fail_cleanly() {
        assert_eq!(DemiBuffer::with_headroom(usize::MAX, 2).unwrap_err().errno(), libc::ENOMEM);
        assert_eq!(DemiBuffer::new(isize::MAX as usize).unwrap_err().errno(), libc::ENOMEM);
    }
}
