//! [`ReceiveQueue`]: in-order received bytes waiting for the application, as views of the received packets.
//!
//! Not for out-of-order data (see [`super::reassembly`]) or window arithmetic (the connection owns that).

use std::collections::VecDeque;

use runtime::{DemiBuffer, Sga};

/// In-order received data, oldest first.
#[derive(Debug, Default)]
pub(crate) struct ReceiveQueue {
    buffers: VecDeque<DemiBuffer>,
    len: usize,
}

impl ReceiveQueue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn push(&mut self, buffer: DemiBuffer) {
        if !buffer.is_empty() {
            self.len += buffer.len();
            self.buffers.push_back(buffer);
        }
    }

    /// Removes up to `max_len` bytes from the front and appends them to `out`.
    #[inline]
    pub(crate) fn pop_into(&mut self, max_len: usize, out: &mut Sga) {
        // The usual read takes everything queued: no lengths to compare per buffer.
        if max_len >= self.len {
            self.len = 0;
            while let Some(buffer) = self.buffers.pop_front() {
                out.push_segment(buffer);
            }
            return;
        }
        self.pop_part_into(max_len, out);
    }

    /// [`Self::pop_into`] of less than everything queued (`max_len < len`), splitting a buffer if need be.
    #[inline(never)]
    fn pop_part_into(&mut self, max_len: usize, out: &mut Sga) {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pop(queue: &mut ReceiveQueue, max_len: usize) -> Sga {
        let mut out = Sga::new();
        queue.pop_into(max_len, &mut out);
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
}
