//! [`ReceiveQueue`]: in-order received bytes waiting for the application, as views of the received packets.
//!
//! A view keeps its whole packet buffer alive: a segment of a few bytes holds a frame of 1.5-2 KiB (on catnip, an
//! mbuf of the port's fixed pool). A reader that falls behind a peer sending small segments would hold hundreds
//! of times the bytes it has queued. So every [`COLLAPSE_RUN`] buffers queued, the run of small views (under
//! [`SMALL`] bytes) at the queue's end is copied into one buffer of their bytes and their packets are let go (as
//! Linux collapses small socket buffers): what the queue holds stays within a few times its bytes (a copy still
//! small joins the next run, so a byte of the tiniest segments is copied a few times, each copy at most
//! [`SMALL`] bytes long). A reader that keeps up never gets there, and its data stays zero-copy; a push costs
//! one comparison more.
//!
//! Not for out-of-order data (see [`super::reassembly`]) or window arithmetic (the connection owns that).

use std::collections::VecDeque;

use runtime::{DemiBuffer, Sga};

/// Views under this many bytes are small: their packet buffer is mostly waste while they wait.
pub(crate) const SMALL: usize = 512;
/// How many buffers are queued between two looks for a run of small views to copy.
pub(crate) const COLLAPSE_RUN: usize = 32;

/// In-order received data, oldest first.
#[derive(Debug)]
pub(crate) struct ReceiveQueue {
    buffers: VecDeque<DemiBuffer>,
    len: usize,
    /// How many buffers the queue holds when [`Self::collapse_tail`] next looks at it.
    collapse_at: usize,
}

impl Default for ReceiveQueue {
    fn default() -> Self {
        Self { buffers: VecDeque::new(), len: 0, collapse_at: COLLAPSE_RUN }
    }
}

impl ReceiveQueue {
    /// Gives back the queue's spare capacity.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.buffers.shrink_to_fit();
    }

    /// How many more buffers the queue has room for.
    pub(crate) fn spare_capacity(&self) -> usize {
        self.buffers.capacity() - self.buffers.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn push(&mut self, buffer: DemiBuffer) {
        if buffer.is_empty() {
            return;
        }
        self.len += buffer.len();
        self.buffers.push_back(buffer);
        if self.buffers.len() >= self.collapse_at {
            self.collapse_tail();
        }
    }

    /// Copies the run of small buffers at the queue's end (if it has two or more) into one buffer, letting their
    /// packets go, and sets when to look again. If the copy cannot be allocated the views stay as they are.
    #[cold]
    #[inline(never)]
    fn collapse_tail(&mut self) {
        let run = self.buffers.iter().rev().take_while(|b| b.len() < SMALL).count();
        let start = self.buffers.len() - run;
        if run >= 2 {
            let bytes = self.buffers.range(start..).map(DemiBuffer::len).sum();
            if let Ok(mut compact) = DemiBuffer::new(bytes)
                && let Some(out) = compact.as_mut_slice()
            {
                let mut at = 0;
                for buffer in self.buffers.range(start..) {
                    out[at..at + buffer.len()].copy_from_slice(buffer);
                    at += buffer.len();
                }
                self.buffers.truncate(start);
                self.buffers.push_back(compact);
            }
        }
        self.collapse_at = self.buffers.len() + COLLAPSE_RUN;
    }

    /// How many buffers the queue holds (tests: the memory small segments keep).
    #[cfg(test)]
    pub(crate) fn buffer_count(&self) -> usize {
        self.buffers.len()
    }

    /// Removes up to `max_len` bytes from the front and appends them to `out`; returns how many (which `out`
    /// would count again, buffer by buffer).
    #[inline]
    pub(crate) fn pop_into(&mut self, max_len: usize, out: &mut Sga) -> usize {
        // The usual read takes everything queued: no lengths to compare per buffer.
        if max_len >= self.len {
            let taken = self.len;
            self.len = 0;
            self.collapse_at = COLLAPSE_RUN;
            while let Some(buffer) = self.buffers.pop_front() {
                out.push_segment(buffer);
            }
            return taken;
        }
        self.pop_part_into(max_len, out)
    }

    /// [`Self::pop_into`] of less than everything queued (`max_len < len`), splitting a buffer if need be.
    #[inline(never)]
    fn pop_part_into(&mut self, max_len: usize, out: &mut Sga) -> usize {
        let mut left = max_len;
        while left > 0 {
            let Some(front) = self.buffers.front_mut() else { break };
            if front.len() <= left {
                left -= front.len();
                self.len -= front.len();
                if let Some(buffer) = self.buffers.pop_front() {
                    out.push_segment(buffer);
                }
            } else {
                // `left < front.len()`: the split is in range.
                match front.split_front(left) {
                    Ok(head) => {
                        self.len -= head.len();
                        out.push_segment(head);
                    }
                    Err(_) => break,
                }
                left = 0;
            }
        }
        self.collapse_at = self.collapse_at.min(self.buffers.len() + COLLAPSE_RUN);
        max_len - left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pop(queue: &mut ReceiveQueue, max_len: usize) -> Sga {
        let mut out = Sga::new();
        let taken = queue.pop_into(max_len, &mut out);
        assert_eq!(taken, out.len());
        out
    }

    #[test]
    fn pops_whole_and_partial_buffers() {
        let mut queue = ReceiveQueue::default();
        queue.push(DemiBuffer::from_slice(b"abc").expect("alloc"));
        queue.push(DemiBuffer::from_slice(b"").expect("alloc"));
        queue.push(DemiBuffer::from_slice(b"defgh").expect("alloc"));
        assert_eq!(queue.len(), 8);
        assert_eq!(pop(&mut queue, 5).to_vec(), b"abcde");
        assert_eq!(queue.len(), 3);
        assert_eq!(pop(&mut queue, 100).to_vec(), b"fgh");
        assert!(queue.is_empty());
        assert!(pop(&mut queue, 10).is_empty());
    }

    #[test]
    fn runs_of_small_views_are_copied_out_of_their_packets() {
        let mut queue = ReceiveQueue::default();
        let mut frames = Vec::new();
        let mut expected = Vec::new();
        for i in 0..1000u32 {
            // A one- to three-byte view of its own 1500-byte frame.
            let mut frame = DemiBuffer::new(1500).expect("alloc");
            frame.as_mut_slice().expect("unique").fill(i as u8);
            let view = frame.subview(100, 1 + (i % 3) as usize).expect("view");
            expected.extend_from_slice(&view);
            queue.push(view);
            frames.push(frame);
        }
        assert!(queue.buffer_count() < 1000 / COLLAPSE_RUN + COLLAPSE_RUN, "{}", queue.buffer_count());
        let held = frames.iter().filter(|f| !f.is_unique()).count();
        assert!(held < COLLAPSE_RUN, "{held} frames still held");
        // A large view ends the run; a partial read leaves the queue consistent.
        queue.push(DemiBuffer::from_slice(&[7; 600]).expect("alloc"));
        expected.extend_from_slice(&[7; 600]);
        let mut read = pop(&mut queue, 1000).to_vec();
        read.extend_from_slice(&pop(&mut queue, usize::MAX).to_vec());
        assert!(read == expected, "every byte, in order");
        assert!(queue.is_empty());
    }
}
