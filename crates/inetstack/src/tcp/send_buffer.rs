//! [`SendBuffer`]: the bytes from `SND.UNA` on (sent but unacknowledged, then not yet sent), held as views of the
//! application's buffers. Queuing, slicing out a segment's payload and dropping acknowledged bytes adjust
//! reference counts and views; no byte is copied.
//!
//! Knows nothing of sequence numbers: callers speak in offsets from the first unacknowledged byte.
//!
//! What it holds is charged to the stack's limit on data to send (`TcpConfig::send_memory`,
//! `memory_limit.rs`): past that limit a push takes nothing more, unless the buffer holds less than
//! [`SEND_FLOOR`], so that a peer that reads slowly on many connections cannot make the stack hold a full buffer
//! on each while the application keeps pushing. A push held back is tried again when its connection's own
//! data is acknowledged (the stack then polls the connection and names it in `take_touched`): once all of it
//! is, the buffer is under its floor, so no writer waits for ever on the others.

use std::collections::VecDeque;

use runtime::{DemiBuffer, Sga};

use super::memory_limit::{MemoryCharge, MemoryLimit, SEND_FLOOR};

/// A bounded queue of outgoing bytes.
#[derive(Debug)]
pub(crate) struct SendBuffer {
    segments: VecDeque<DemiBuffer>,
    len: usize,
    capacity: usize,
    /// Whether a push found the buffer full (took less than it was given) since [`Self::take_filled`] last
    /// asked: what send-buffer auto-tuning waits for.
    filled: bool,
    /// Where the last lookup ended (segment index, offset of that segment's first byte), so that sending a
    /// buffer made of many small writes walks it once rather than once per segment.
    cursor: (usize, usize),
    /// What the buffer holds, charged to the stack's limit on data to send.
    charge: MemoryCharge,
}

impl SendBuffer {
    /// A buffer of `capacity` bytes whose contents count against `memory`.
    pub(crate) fn new(capacity: usize, memory: MemoryLimit) -> Self {
        let charge = MemoryCharge::new(memory);
        Self { segments: VecDeque::new(), len: 0, capacity, filled: false, cursor: (0, 0), charge }
    }

    /// Gives back the queue's spare capacity (not the buffer's byte limit, which stays).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.segments.shrink_to_fit();
    }

    /// Makes what the buffer holds count against `memory` instead.
    pub(crate) fn share_memory(&mut self, memory: &MemoryLimit) {
        self.charge.move_to(memory);
    }

    /// The buffer's charge (test builds: what it holds, and what all the buffers sharing its limit hold).
    #[cfg(test)]
    pub(crate) fn memory_charge(&self) -> &MemoryCharge {
        &self.charge
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// What the buffer itself has room for.
    pub(crate) fn free(&self) -> usize {
        self.capacity.saturating_sub(self.len)
    }

    /// What a push may take now: [`Self::free`], or less if the stack's limit on data to send leaves less.
    #[inline]
    pub(crate) fn room(&self) -> usize {
        self.free().min(self.charge.room(self.len, SEND_FLOOR))
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Raises the capacity to `capacity` (never lowers it).
    pub(crate) fn grow_to(&mut self, capacity: usize) {
        self.capacity = self.capacity.max(capacity);
    }

    /// Whether a push found the buffer full since [`Self::take_filled`] last asked.
    #[inline]
    pub(crate) fn filled(&self) -> bool {
        self.filled
    }

    /// [`Self::filled`], then forgotten.
    pub(crate) fn take_filled(&mut self) -> bool {
        std::mem::take(&mut self.filled)
    }

    /// Queues as much of `sga` as fits and returns how many bytes that is.
    #[inline]
    pub(crate) fn push(&mut self, sga: &Sga) -> usize {
        // The usual push: one non-empty buffer that fits whole.
        if let [segment] = sga.segments() {
            let len = segment.len();
            if len != 0 && len <= self.free() && self.charge.fits(len, self.len, SEND_FLOOR) {
                self.len += len;
                self.segments.push_back(segment.clone());
                self.charge.add(len);
                return len;
            }
        }
        self.push_segments(sga)
    }

    /// [`Self::push`] of several buffers, or of one that is empty or does not fit whole.
    #[inline(never)]
    fn push_segments(&mut self, sga: &Sga) -> usize {
        let mut accepted = 0;
        for segment in sga.segments() {
            if segment.is_empty() {
                continue;
            }
            let room = self.room();
            // Full: the buffer itself (what auto-tuning looks for), not the stack's limit.
            let full = room == self.free();
            if room == 0 {
                self.filled |= full;
                break;
            }
            let mut view = segment.clone();
            if view.len() > room {
                self.filled |= full;
                // `room < view.len()`, so the split is in range and cannot fail.
                if view.split_off(room).is_err() {
                    break;
                }
            }
            accepted += view.len();
            self.len += view.len();
            self.charge.add(view.len());
            self.segments.push_back(view);
        }
        accepted
    }

    /// The segment index holding byte `offset` and the offset of that segment's first byte.
    fn locate(&mut self, offset: usize) -> (usize, usize) {
        let (mut index, mut start) = if offset >= self.cursor.1 { self.cursor } else { (0, 0) };
        while let Some(segment) = self.segments.get(index) {
            if start + segment.len() > offset {
                break;
            }
            start += segment.len();
            index += 1;
        }
        self.cursor = (index, start);
        (index, start)
    }

    /// Views of the bytes `[offset, offset + len)`, clamped to what is queued.
    pub(crate) fn slice(&mut self, offset: usize, len: usize) -> Sga {
        let mut out = Sga::new();
        let end = offset.saturating_add(len).min(self.len);
        if offset >= end {
            return out;
        }
        let (mut index, mut start) = self.locate(offset);
        let mut at = offset;
        while at < end {
            let Some(segment) = self.segments.get(index) else { break };
            let skip = at - start;
            let take = (segment.len() - skip).min(end - at);
            // `skip + take <= segment.len()` by construction.
            let Some(view) = segment.subview(skip, take) else { break };
            out.push_segment(view);
            at += take;
            start += segment.len();
            index += 1;
        }
        out
    }

    /// One view of the bytes `[offset, offset + len)` (`len > 0`) if they lie in one queued buffer, as they
    /// usually do; `None` if they span several or are not all queued (then [`Self::slice`] gives them).
    #[inline]
    pub(crate) fn view(&mut self, offset: usize, len: usize) -> Option<DemiBuffer> {
        let end = offset.checked_add(len)?;
        if end > self.len {
            return None;
        }
        let (index, start) = self.locate(offset);
        let segment = self.segments.get(index)?;
        segment.subview(offset - start, len)
    }

    /// Drops the first `n` bytes (acknowledged by the peer), clamped to what is queued. Inline: once per new
    /// ACK, and small.
    #[inline]
    pub(crate) fn discard_front(&mut self, n: usize) {
        let n = n.min(self.len);
        let mut left = n;
        let mut popped = 0;
        while left > 0 {
            let Some(front) = self.segments.front_mut() else { break };
            if front.len() <= left {
                left -= front.len();
                self.segments.pop_front();
                popped += 1;
            } else {
                // `left < front.len()`: in range.
                let _ = front.adjust(left);
                left = 0;
            }
        }
        self.len -= n;
        self.charge.remove(n);
        let (index, start) = self.cursor;
        self.cursor = if start >= n && index >= popped { (index - popped, start - n) } else { (0, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sga(parts: &[&[u8]]) -> Sga {
        let mut sga = Sga::new();
        for part in parts {
            sga.push_segment(DemiBuffer::from_slice(part).expect("alloc"));
        }
        sga
    }

    #[test]
    fn slices_across_segments_without_copying() {
        let mut buffer = SendBuffer::new(100, MemoryLimit::default());
        let input = sga(&[b"hello ", b"", b"world", b"!"]);
        assert_eq!(buffer.push(&input), 12);
        assert_eq!(buffer.slice(3, 6).to_vec(), b"lo wor");
        assert_eq!(buffer.slice(0, 100).to_vec(), b"hello world!");
        assert_eq!(buffer.slice(11, 5).to_vec(), b"!");
        assert!(buffer.slice(12, 5).is_empty());
        // The views share storage with the caller's buffers.
        assert!(!input.segments()[0].is_unique());
        buffer.discard_front(4);
        assert_eq!(buffer.len(), 8);
        assert_eq!(buffer.slice(0, 3).to_vec(), b"o w");
        buffer.discard_front(100);
        assert_eq!(buffer.len(), 0);
        assert!(input.segments()[0].is_unique());
    }

    #[test]
    fn view_is_one_buffer_or_nothing() {
        let mut buffer = SendBuffer::new(100, MemoryLimit::default());
        buffer.push(&sga(&[b"hello ", b"world!"]));
        assert_eq!(buffer.view(1, 4).map(|v| v.to_vec()), Some(b"ello".to_vec()));
        assert_eq!(buffer.view(6, 6).map(|v| v.to_vec()), Some(b"world!".to_vec()));
        assert!(buffer.view(4, 4).is_none(), "spans two buffers");
        assert!(buffer.view(10, 3).is_none(), "past the end");
        assert_eq!(buffer.view(0, 6).map(|v| v.to_vec()), Some(b"hello ".to_vec()), "after a lookup further on");
        buffer.discard_front(2);
        assert_eq!(buffer.view(0, 4).map(|v| v.to_vec()), Some(b"llo ".to_vec()));
        assert_eq!(buffer.view(4, 6).map(|v| v.to_vec()), Some(b"world!".to_vec()));
    }

    #[test]
    fn push_stops_at_capacity() {
        let mut buffer = SendBuffer::new(5, MemoryLimit::default());
        assert_eq!(buffer.push(&sga(&[b"abc", b"defg"])), 5);
        assert_eq!(buffer.free(), 0);
        assert_eq!(buffer.push(&sga(&[b"x"])), 0);
        assert_eq!(buffer.slice(0, 10).to_vec(), b"abcde");
    }

    #[test]
    fn a_push_that_does_not_fit_is_noted_until_asked_and_growing_makes_room() {
        let mut buffer = SendBuffer::new(8, MemoryLimit::default());
        assert_eq!(buffer.push(&sga(&[b"abcd", b"", b"efgh"])), 8);
        assert!(!buffer.filled(), "everything fitted");
        assert_eq!(buffer.push(&sga(&[b""])), 0);
        assert!(!buffer.filled(), "nothing was refused");
        assert_eq!(buffer.push(&sga(&[b"ijk"])), 0);
        assert!(buffer.take_filled());
        assert!(!buffer.take_filled(), "forgotten once asked");
        buffer.grow_to(4);
        assert_eq!(buffer.capacity(), 8, "never lowered");
        buffer.grow_to(10);
        assert_eq!(buffer.push(&sga(&[b"ijk"])), 2);
        assert!(buffer.filled());
        assert_eq!(buffer.slice(0, 10).to_vec(), b"abcdefghij");
    }

    #[test]
    fn a_single_buffer_is_taken_whole_in_part_or_not_at_all() {
        let mut buffer = SendBuffer::new(8, MemoryLimit::default());
        assert_eq!(buffer.push(&sga(&[b""])), 0);
        assert_eq!(buffer.push(&sga(&[b"abcde"])), 5);
        assert_eq!(buffer.push(&sga(&[b"fghij"])), 3, "only what fits");
        assert_eq!(buffer.push(&sga(&[b"k"])), 0, "full");
        assert_eq!(buffer.slice(0, 8).to_vec(), b"abcdefgh");
    }

    #[test]
    fn cursor_survives_discards_and_backward_lookups() {
        let mut buffer = SendBuffer::new(1000, MemoryLimit::default());
        let parts: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 3]).collect();
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        buffer.push(&sga(&refs));
        for offset in (0..150).step_by(7) {
            assert_eq!(buffer.slice(offset, 1).to_vec(), [(offset / 3) as u8]);
        }
        assert_eq!(buffer.slice(4, 1).to_vec(), [1]);
        buffer.slice(100, 1);
        buffer.discard_front(10);
        assert_eq!(buffer.slice(0, 3).to_vec(), [3, 3, 4]);
        assert_eq!(buffer.slice(89, 2).to_vec(), [33, 33]);
    }
}
