//! [`Reassembly`]: out-of-order received data held until the gap before it fills (RFC 9293 §3.10.7.4: segments
//! beyond `RCV.NXT` but inside the window are kept), and the SACK blocks that describe it (RFC 2018 §4).
//!
//! Memory is bounded twice: bytes by the receive window (the caller only inserts in-window data) and fragments
//! by a count (`TcpConfig::out_of_order_limit`), so a flood of one-byte segments cannot grow the bookkeeping. Overlapping data is stored
//! once (what arrived first wins). Never reneges: data once SACKed stays until delivered.

use runtime::DemiBuffer;

use crate::wire::{SackBlock, SeqNumber};

/// One stored piece: the bytes starting at `seq`.
#[derive(Debug)]
struct Fragment {
    seq: SeqNumber,
    data: DemiBuffer,
}

impl Fragment {
    fn end(&self) -> SeqNumber {
        self.seq + self.data.len() as u32
    }
}

/// What happened to an inserted segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InsertOutcome {
    /// Some new bytes were stored.
    Stored,
    /// Every byte was already held.
    Duplicate,
    /// The fragment limit was reached; nothing was stored.
    Full,
}

/// Out-of-order fragments, sorted by sequence number and never overlapping.
#[derive(Debug)]
pub(crate) struct Reassembly {
    fragments: Vec<Fragment>,
    max_fragments: usize,
    bytes: usize,
    /// Left edges of recently changed ranges, most recent first, for the order of SACK blocks.
    recent: Vec<SeqNumber>,
}

impl Reassembly {
    /// Gives back the queue's spare capacity.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.fragments.shrink_to_fit();
        self.recent.shrink_to_fit();
    }

    pub(crate) fn new(max_fragments: usize) -> Self {
        Self { fragments: Vec::new(), max_fragments: max_fragments.max(1), bytes: 0, recent: Vec::new() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.fragments.is_empty()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn fragment_count(&self) -> usize {
        self.fragments.len()
    }

    /// Stores the bytes of `data` (starting at `seq`) not already held.
    pub(crate) fn insert(&mut self, seq: SeqNumber, data: DemiBuffer) -> InsertOutcome {
        let end = seq + data.len() as u32;
        let mut pieces: Vec<(SeqNumber, SeqNumber)> = Vec::new();
        let mut cursor = seq;
        for fragment in &self.fragments {
            if fragment.end() <= cursor {
                continue;
            }
            if fragment.seq >= end {
                break;
            }
            if fragment.seq > cursor {
                pieces.push((cursor, fragment.seq));
            }
            cursor = cursor.max(fragment.end());
        }
        if cursor < end {
            pieces.push((cursor, end));
        }
        if pieces.is_empty() {
            return InsertOutcome::Duplicate;
        }
        if self.fragments.len() + pieces.len() > self.max_fragments {
            return InsertOutcome::Full;
        }
        for (start, stop) in pieces {
            let mut view = data.clone();
            let skip = start.distance_from(seq) as usize;
            let keep = stop.distance_from(start) as usize;
            if view.adjust(skip).is_err() || view.trim(view.len() - keep).is_err() {
                continue;
            }
            let at = self.fragments.partition_point(|fragment| fragment.seq < start);
            self.bytes += view.len();
            self.fragments.insert(at, Fragment { seq: start, data: view });
        }
        self.touch(seq);
        InsertOutcome::Stored
    }

    /// Notes that the range holding `seq` changed, for SACK block ordering.
    fn touch(&mut self, seq: SeqNumber) {
        let left = self.range_containing(seq).map_or(seq, |block| block.left);
        self.recent.retain(|edge| *edge != left);
        self.recent.insert(0, left);
        self.recent.truncate(8);
    }

    /// Removes and returns, in order, the data that is now contiguous with `rcv_nxt` (trimming what lies before
    /// it). The caller advances `RCV.NXT` by the returned bytes.
    pub(crate) fn pop_ready(&mut self, rcv_nxt: SeqNumber) -> Vec<DemiBuffer> {
        let mut ready = Vec::new();
        let mut next = rcv_nxt;
        while let Some(first) = self.fragments.first() {
            if first.seq > next {
                break;
            }
            let fragment = self.fragments.remove(0);
            self.bytes -= fragment.data.len();
            if fragment.end() <= next {
                continue;
            }
            let mut data = fragment.data;
            let skip = next.distance_from(fragment.seq) as usize;
            if data.adjust(skip).is_ok() {
                next += data.len() as u32;
                ready.push(data);
            }
        }
        ready
    }

    /// The contiguous ranges held, in sequence order.
    fn ranges(&self) -> Vec<SackBlock> {
        let mut ranges: Vec<SackBlock> = Vec::new();
        for fragment in &self.fragments {
            match ranges.last_mut() {
                Some(last) if last.right == fragment.seq => last.right = fragment.end(),
                _ => ranges.push(SackBlock { left: fragment.seq, right: fragment.end() }),
            }
        }
        ranges
    }

    fn range_containing(&self, seq: SeqNumber) -> Option<SackBlock> {
        self.ranges().into_iter().find(|block| seq.is_in_range(block.left, block.right) || seq == block.right)
    }

    /// Up to `max` SACK blocks: the most recently changed range first, then other recent ones, then the rest in
    /// sequence order (RFC 2018 §4).
    pub(crate) fn sack_blocks(&self, max: usize) -> Vec<SackBlock> {
        let ranges = self.ranges();
        let mut blocks: Vec<SackBlock> = Vec::with_capacity(max);
        for edge in &self.recent {
            if let Some(block) = ranges.iter().find(|block| edge.is_in_range(block.left, block.right))
                && !blocks.contains(block)
            {
                blocks.push(*block);
            }
        }
        for block in ranges {
            if !blocks.contains(&block) {
                blocks.push(block);
            }
        }
        blocks.truncate(max);
        blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(bytes: &[u8]) -> DemiBuffer {
        DemiBuffer::from_slice(bytes).expect("alloc")
    }

    fn drain(reassembly: &mut Reassembly, rcv_nxt: u32) -> Vec<u8> {
        reassembly.pop_ready(SeqNumber(rcv_nxt)).iter().flat_map(|buffer| buffer.to_vec()).collect()
    }

    #[test]
    fn fills_gaps_and_stores_overlaps_once() {
        let mut reassembly = Reassembly::new(16);
        assert_eq!(reassembly.insert(SeqNumber(110), data(b"klmno")), InsertOutcome::Stored);
        assert_eq!(reassembly.insert(SeqNumber(105), data(b"fghij")), InsertOutcome::Stored);
        assert_eq!(reassembly.insert(SeqNumber(106), data(b"ghi")), InsertOutcome::Duplicate);
        assert_eq!(reassembly.insert(SeqNumber(103), data(b"deFGHIJKLMNOpq")), InsertOutcome::Stored);
        assert_eq!(reassembly.bytes(), 14);
        assert!(drain(&mut reassembly, 100).is_empty(), "gap at 100..103");
        assert_eq!(drain(&mut reassembly, 101), b"");
        assert_eq!(drain(&mut reassembly, 104), b"efghijklmnopq");
        assert!(reassembly.is_empty());
        assert_eq!(reassembly.bytes(), 0);
    }

    #[test]
    fn sack_blocks_put_the_latest_first() {
        let mut reassembly = Reassembly::new(16);
        reassembly.insert(SeqNumber(200), data(&[0; 10]));
        reassembly.insert(SeqNumber(300), data(&[0; 10]));
        reassembly.insert(SeqNumber(400), data(&[0; 10]));
        reassembly.insert(SeqNumber(210), data(&[0; 10]));
        let blocks = reassembly.sack_blocks(3);
        assert_eq!(blocks[0], SackBlock { left: SeqNumber(200), right: SeqNumber(220) });
        assert_eq!(blocks[1], SackBlock { left: SeqNumber(400), right: SeqNumber(410) });
        assert_eq!(blocks[2], SackBlock { left: SeqNumber(300), right: SeqNumber(310) });
        assert_eq!(reassembly.sack_blocks(1).len(), 1);
    }

    #[test]
    fn fragment_count_is_bounded() {
        let mut reassembly = Reassembly::new(4);
        for i in 0..4u32 {
            assert_eq!(reassembly.insert(SeqNumber(1000 + 10 * i), data(b"x")), InsertOutcome::Stored);
        }
        assert_eq!(reassembly.insert(SeqNumber(2000), data(b"y")), InsertOutcome::Full);
        assert_eq!(reassembly.fragment_count(), 4);
        assert_eq!(reassembly.insert(SeqNumber(1000), data(b"x")), InsertOutcome::Duplicate);
    }

    #[test]
    fn works_across_the_sequence_wrap() {
        let mut reassembly = Reassembly::new(8);
        reassembly.insert(SeqNumber(2), data(b"cd"));
        reassembly.insert(SeqNumber(u32::MAX - 1), data(b"yzab"));
        assert_eq!(drain(&mut reassembly, u32::MAX - 1), b"yzabcd");
    }
}
