//! `Sga`: a scatter-gather array, the data of one push or one pop, as a list of `DemiBuffer` segments.
//!
//! Neither the number of segments nor their sizes are capped below `MAX_SGA_LEN` bytes in total.

use std::mem::ManuallyDrop;

use smallvec::SmallVec;

use super::buffer::DemiBuffer;
use crate::Fail;

/// Largest total size of one scatter-gather array (1 GiB): bigger pushes are EINVAL, bigger sgaalloc ENOMEM.
pub const MAX_SGA_LEN: usize = 1 << 30;

/// Segments held inline before the array spills to the heap: two, because a transmitted frame is a header
/// buffer plus one payload view, and a received read usually one or two packets' views. With one, every
/// data frame cost a malloc and a free.
const INLINE_SEGMENTS: usize = 2;

/// A scatter-gather array. Cloning it clones segment views (reference counts), never bytes.
#[derive(Clone, Default)]
pub struct Sga {
    /// Dropped by `Sga`'s own `Drop`, inline, instead of by `SmallVec`'s out-of-line drop: an array is
    /// dropped for every frame sent and every push and read, most often empty or with one or two segments.
    segments: ManuallyDrop<SmallVec<[DemiBuffer; INLINE_SEGMENTS]>>,
}

impl Drop for Sga {
    /// Inline segments are dropped in place (an empty array does nothing); a spilled array, rare, is handed
    /// to `SmallVec`'s drop. What stays in the `ManuallyDrop` is then an empty inline array that owns nothing.
    #[inline]
    fn drop(&mut self) {
        if self.segments.spilled() {
            drop_spilled(std::mem::take(&mut *self.segments));
        } else {
            self.segments.clear();
        }
    }
}

/// Frees a spilled array (more than `INLINE_SEGMENTS` segments), out of line.
#[cold]
#[inline(never)]
fn drop_spilled(segments: SmallVec<[DemiBuffer; INLINE_SEGMENTS]>) {
    drop(segments);
}

impl Sga {
    /// An empty array (as returned by a pop at end of stream).
    pub fn new() -> Self {
        Self::default()
    }

    /// An array of one segment.
    #[inline]
    pub fn from_buffer(buffer: DemiBuffer) -> Self {
        let mut segments = SmallVec::new();
        segments.push(buffer);
        Self { segments: ManuallyDrop::new(segments) }
    }

    /// An array of one segment holding a copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Fail> {
        Ok(Self::from_buffer(DemiBuffer::from_slice(bytes)?))
    }

    /// Drops every segment (keeping the array for reuse, as a read loop's output slot).
    #[inline]
    pub fn clear(&mut self) {
        self.segments.clear();
    }

    /// Appends a segment.
    #[inline]
    pub fn push_segment(&mut self, buffer: DemiBuffer) {
        self.segments.push(buffer);
    }

    #[inline]
    pub fn segments(&self) -> &[DemiBuffer] {
        &self.segments
    }

    pub fn segments_mut(&mut self) -> &mut [DemiBuffer] {
        &mut self.segments
    }

    pub fn into_segments(mut self) -> impl Iterator<Item = DemiBuffer> {
        std::mem::take(&mut *self.segments).into_iter()
    }

    /// The one segment of an array of exactly one (a frame written in one buffer, a read of one view), moved
    /// out without iterating; any other array is given back.
    #[inline]
    pub fn into_single(mut self) -> Result<DemiBuffer, Self> {
        if self.segments.len() != 1 {
            return Err(self);
        }
        Ok(self.segments.pop().expect("one segment"))
    }

    #[inline]
    pub fn num_segments(&self) -> usize {
        self.segments.len()
    }

    /// Total bytes over all segments. The usual one or two segments (a read, a header and its payload) are
    /// added without a loop.
    #[inline]
    pub fn len(&self) -> usize {
        match self.segments() {
            [] => 0,
            [only] => only.len(),
            [first, second] => first.len() + second.len(),
            more => more.iter().map(DemiBuffer::len).sum(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(DemiBuffer::is_empty)
    }

    /// Copies all segments into one vector (for tests and slow paths).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for segment in self.segments.iter() {
            out.extend_from_slice(segment);
        }
        out
    }

    /// Removes and returns the first `n` bytes (`n <= len`), splitting a segment if needed. No copy.
    pub fn split_front(&mut self, n: usize) -> Result<Self, Fail> {
        if n > self.len() {
            return Err(Fail::with_context(
                libc::EINVAL,
                format!("cannot take {n} bytes from a {}-byte array", self.len()),
            ));
        }
        let mut front = Self::new();
        let mut left = n;
        while left > 0 {
            let first = &mut self.segments[0];
            if first.len() <= left {
                left -= first.len();
                front.push_segment(self.segments.remove(0));
            } else {
                front.push_segment(first.split_front(left)?);
                left = 0;
            }
        }
        Ok(front)
    }

    /// Checks that this array may be pushed: not empty and at most `MAX_SGA_LEN` bytes.
    pub fn check_pushable(&self) -> Result<usize, Fail> {
        let len = self.len();
        if len == 0 {
            return Err(Fail::new(libc::EINVAL, "cannot push an empty scatter-gather array"));
        }
        if len > MAX_SGA_LEN {
            return Err(Fail::with_context(
                libc::EINVAL,
                format!("{len}-byte push exceeds the {MAX_SGA_LEN}-byte limit"),
            ));
        }
        Ok(len)
    }

    /// Zeroed heap buffers totalling `len` bytes, in segments of at most `segment_size` bytes.
    pub fn alloc(len: usize, segment_size: usize) -> Result<Self, Fail> {
        if len == 0 {
            return Err(Fail::new(libc::EINVAL, "cannot allocate an empty scatter-gather array"));
        }
        if len > MAX_SGA_LEN {
            return Err(Fail::with_context(libc::ENOMEM, format!("{len} bytes exceed the {MAX_SGA_LEN}-byte limit")));
        }
        if segment_size == 0 {
            return Err(Fail::new(libc::EINVAL, "segment size must be positive"));
        }
        let mut sga = Self::new();
        let mut left = len;
        while left > 0 {
            let n = left.min(segment_size);
            sga.push_segment(DemiBuffer::new(n)?);
            left -= n;
        }
        Ok(sga)
    }
}

impl std::fmt::Debug for Sga {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sga").field("segments", &self.segments()).finish()
    }
}

impl From<DemiBuffer> for Sga {
    fn from(buffer: DemiBuffer) -> Self {
        Self::from_buffer(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_segment_arrays_are_not_capped() {
        let sga = Sga::alloc(200_000, 65_536).unwrap();
        assert_eq!(sga.num_segments(), 4);
        assert_eq!(sga.len(), 200_000);
        assert_eq!(sga.check_pushable().unwrap(), 200_000);
    }

    #[test]
    fn empty_and_oversized_arrays_are_rejected() {
        assert_eq!(Sga::new().check_pushable().unwrap_err().errno(), libc::EINVAL);
        assert_eq!(Sga::alloc(0, 10).unwrap_err().errno(), libc::EINVAL);
        assert_eq!(Sga::alloc(MAX_SGA_LEN + 1, 10).unwrap_err().errno(), libc::ENOMEM);
        assert_eq!(Sga::alloc(1, 0).unwrap_err().errno(), libc::EINVAL);
    }

    #[test]
    fn split_front_takes_whole_and_partial_segments() {
        let mut sga = Sga::from_slice(b"abc").unwrap();
        sga.push_segment(DemiBuffer::from_slice(b"defg").unwrap());
        let front = sga.split_front(5).unwrap();
        assert_eq!(front.to_vec(), b"abcde");
        assert_eq!(sga.to_vec(), b"fg");
        assert_eq!(sga.split_front(3).unwrap_err().errno(), libc::EINVAL);
        assert!(sga.split_front(0).unwrap().is_empty());
    }

    #[test]
    fn dropping_inline_and_spilled_arrays_releases_every_segment() {
        let pool = crate::BufferPool::new(0, 16, 8).unwrap();
        for segments in [0, 1, 2, 3, 5] {
            let mut sga = Sga::new();
            for _ in 0..segments {
                sga.push_segment(pool.alloc(4).unwrap());
            }
            let before = pool.cached();
            drop(sga);
            assert_eq!(pool.cached(), before + segments, "{segments} segments");
        }
        let mut spilled = Sga::new();
        for byte in b"abc" {
            spilled.push_segment(DemiBuffer::from_slice(&[*byte]).unwrap());
        }
        let bytes: Vec<u8> = spilled.into_segments().map(|segment| segment[0]).collect();
        assert_eq!(bytes, b"abc");
    }

    #[test]
    fn into_single_moves_out_only_a_lone_segment() {
        let pool = crate::BufferPool::new(0, 16, 8).unwrap();
        let single = Sga::from_buffer(pool.alloc(4).unwrap()).into_single().unwrap();
        assert_eq!(single.len(), 4);
        assert_eq!(Sga::new().into_single().unwrap_err().num_segments(), 0);
        let mut two = Sga::from_slice(b"ab").unwrap();
        two.push_segment(DemiBuffer::from_slice(b"cd").unwrap());
        assert_eq!(two.into_single().unwrap_err().to_vec(), b"abcd");
        let before = pool.cached();
        drop(single);
        assert_eq!(pool.cached(), before + 1, "the moved-out buffer is released once");
    }

    #[test]
    fn to_vec_concatenates_segments() {
        let mut sga = Sga::from_slice(b"ab").unwrap();
        sga.push_segment(DemiBuffer::from_slice(b"cd").unwrap());
        assert_eq!(sga.to_vec(), b"abcd");
        assert!(!sga.is_empty());
    }
}
