//! [`SackScoreboard`]: what the peer has told us it holds beyond `SND.UNA` (SACK blocks, RFC 2018), and the
//! questions RFC 6675 asks of it: which unacknowledged bytes are lost, how many bytes are SACKed, where the
//! next hole is.
//!
//! Bounded: at most [`MAX_SCOREBOARD_RANGES`] ranges; beyond that the lowest ranges are forgotten, which only
//! makes recovery retransmit more. Ranges are dropped when cumulatively acknowledged.

use crate::wire::{SackBlock, SeqNumber};

/// Most SACKed ranges remembered.
pub(crate) const MAX_SCOREBOARD_RANGES: usize = 64;
/// DupThresh of RFC 6675 §2 (and RFC 5681's three duplicate ACKs).
pub(crate) const DUP_THRESH: usize = 3;

/// SACKed ranges `[left, right)`, sorted and disjoint, all above `SND.UNA`.
#[derive(Clone, Debug, Default)]
pub(crate) struct SackScoreboard {
    ranges: Vec<(SeqNumber, SeqNumber)>,
}

impl SackScoreboard {
    /// Gives back the scoreboard's spare capacity.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.ranges.shrink_to_fit();
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Adds the blocks of an ACK that fall within `(snd_una, snd_max]`; returns whether any byte was newly
    /// SACKed. Blocks outside that range (stale, or D-SACK of RFC 2883) are ignored.
    #[inline(never)]
    pub(crate) fn update(&mut self, snd_una: SeqNumber, snd_max: SeqNumber, blocks: &[SackBlock]) -> bool {
        let before = self.sacked_bytes();
        for block in blocks {
            let left = block.left.max(snd_una);
            let right = block.right;
            if right <= left || right > snd_max || block.left < snd_una && block.right <= snd_una {
                continue;
            }
            self.insert(left, right);
        }
        while self.ranges.len() > MAX_SCOREBOARD_RANGES {
            self.ranges.remove(0);
        }
        self.sacked_bytes() > before
    }

    /// The parts of `blocks` (as [`Self::update`] would take them) not SACKed yet, appended to `out`.
    pub(crate) fn newly_sacked(
        &self,
        snd_una: SeqNumber,
        snd_max: SeqNumber,
        blocks: &[SackBlock],
        out: &mut Vec<(SeqNumber, SeqNumber)>,
    ) {
        for block in blocks {
            let left = block.left.max(snd_una);
            let right = block.right;
            if right <= left || right > snd_max || block.left < snd_una && block.right <= snd_una {
                continue;
            }
            let mut at = left;
            while let Some((start, end)) = self.next_hole(at, right) {
                out.push((start, end));
                at = end;
            }
        }
    }

    fn insert(&mut self, mut left: SeqNumber, mut right: SeqNumber) {
        let mut merged = Vec::with_capacity(self.ranges.len() + 1);
        let mut placed = false;
        for &(start, end) in &self.ranges {
            if end < left {
                merged.push((start, end));
            } else if start > right {
                if !placed {
                    merged.push((left, right));
                    placed = true;
                }
                merged.push((start, end));
            } else {
                left = left.min(start);
                right = right.max(end);
            }
        }
        if !placed {
            merged.push((left, right));
        }
        self.ranges = merged;
    }

    /// Forgets everything below `snd_una` (cumulatively acknowledged).
    #[inline]
    pub(crate) fn advance(&mut self, snd_una: SeqNumber) {
        if !self.ranges.is_empty() {
            self.forget_below(snd_una);
        }
    }

    /// [`Self::advance`] with ranges to drop or trim.
    #[inline(never)]
    fn forget_below(&mut self, snd_una: SeqNumber) {
        self.ranges.retain(|&(_, end)| end > snd_una);
        if let Some(first) = self.ranges.first_mut() {
            first.0 = first.0.max(snd_una);
        }
    }

    pub(crate) fn sacked_bytes(&self) -> usize {
        self.ranges.iter().map(|&(start, end)| end.distance_from(start) as usize).sum()
    }

    /// The right edge of the SACKed range holding `seq`, if it is SACKed.
    pub(crate) fn sacked_until(&self, seq: SeqNumber) -> Option<SeqNumber> {
        self.ranges.iter().find(|&&(start, end)| seq.is_in_range(start, end)).map(|&(_, end)| end)
    }

    /// The sequence number below which every un-SACKed byte counts as lost (RFC 6675 `IsLost`): DupThresh
    /// discontiguous SACKed ranges, or more than (DupThresh - 1) * MSS SACKed bytes, lie above it.
    pub(crate) fn loss_boundary(&self, mss: usize) -> Option<SeqNumber> {
        let mut sacked_above = 0usize;
        for (count, &(start, end)) in self.ranges.iter().rev().enumerate() {
            sacked_above += end.distance_from(start) as usize;
            if count + 1 >= DUP_THRESH || sacked_above > (DUP_THRESH - 1) * mss {
                return Some(start);
            }
        }
        None
    }

    /// SACKed bytes in `[start, end)`.
    pub(crate) fn sacked_bytes_in(&self, start: SeqNumber, end: SeqNumber) -> usize {
        if end <= start {
            return 0;
        }
        (end.distance_from(start) as usize).saturating_sub(self.unsacked_bytes_in(start, end))
    }

    /// Un-SACKed bytes in `[start, end)`.
    pub(crate) fn unsacked_bytes_in(&self, start: SeqNumber, end: SeqNumber) -> usize {
        if end <= start {
            return 0;
        }
        let mut covered = 0usize;
        for &(left, right) in &self.ranges {
            let overlap_start = left.max(start);
            let overlap_end = right.min(end);
            if overlap_end > overlap_start {
                covered += overlap_end.distance_from(overlap_start) as usize;
            }
        }
        (end.distance_from(start) as usize).saturating_sub(covered)
    }

    /// The first un-SACKed range at or after `from` and before `limit`.
    pub(crate) fn next_hole(&self, from: SeqNumber, limit: SeqNumber) -> Option<(SeqNumber, SeqNumber)> {
        let mut at = from;
        for &(left, right) in &self.ranges {
            if right <= at {
                continue;
            }
            if left > at {
                let hole_end = left.min(limit);
                return (hole_end > at).then_some((at, hole_end));
            }
            at = right;
        }
        (limit > at).then_some((at, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(left: u32, right: u32) -> SackBlock {
        SackBlock { left: SeqNumber(left), right: SeqNumber(right) }
    }

    #[test]
    fn merges_ignores_stale_and_advances() {
        let mut board = SackScoreboard::default();
        let (una, max) = (SeqNumber(1000), SeqNumber(10_000));
        assert!(board.update(una, max, &[block(3000, 4000), block(5000, 6000)]));
        assert!(!board.update(una, max, &[block(3000, 4000)]), "nothing new");
        assert!(!board.update(una, max, &[block(500, 900), block(9000, 12_000)]), "stale and beyond SND.MAX");
        assert!(board.update(una, max, &[block(3500, 5000)]));
        assert_eq!(board.sacked_bytes(), 3000);
        assert_eq!(board.sacked_until(SeqNumber(4500)), Some(SeqNumber(6000)));
        assert_eq!(board.sacked_until(SeqNumber(6000)), None);
        board.advance(SeqNumber(4000));
        assert_eq!(board.sacked_bytes(), 2000);
        board.advance(SeqNumber(7000));
        assert!(board.is_empty());
    }

    #[test]
    fn finds_holes_and_losses() {
        let mut board = SackScoreboard::default();
        let mss = 100;
        board.update(SeqNumber(0), SeqNumber(2000), &[block(100, 200)]);
        assert_eq!(board.loss_boundary(mss), None, "one segment SACKed is not enough");
        board.update(SeqNumber(0), SeqNumber(2000), &[block(300, 400), block(500, 600)]);
        assert_eq!(board.loss_boundary(mss), Some(SeqNumber(100)), "three discontiguous ranges above 0..100");
        assert_eq!(board.next_hole(SeqNumber(0), SeqNumber(2000)), Some((SeqNumber(0), SeqNumber(100))));
        assert_eq!(board.next_hole(SeqNumber(100), SeqNumber(2000)), Some((SeqNumber(200), SeqNumber(300))));
        assert_eq!(board.next_hole(SeqNumber(550), SeqNumber(2000)), Some((SeqNumber(600), SeqNumber(2000))));
        assert_eq!(board.next_hole(SeqNumber(0), SeqNumber(100)), Some((SeqNumber(0), SeqNumber(100))));
        assert_eq!(board.next_hole(SeqNumber(100), SeqNumber(200)), None);
        assert_eq!(board.unsacked_bytes_in(SeqNumber(0), SeqNumber(600)), 300);
        let mut newly = Vec::new();
        board.newly_sacked(SeqNumber(0), SeqNumber(2000), &[block(150, 450), block(2500, 2600)], &mut newly);
        assert_eq!(newly, [(SeqNumber(200), SeqNumber(300)), (SeqNumber(400), SeqNumber(450))]);
        let mut big = SackScoreboard::default();
        big.update(SeqNumber(0), SeqNumber(2000), &[block(100, 400)]);
        assert_eq!(big.loss_boundary(mss), Some(SeqNumber(100)), "more than 2 MSS SACKed above");
    }
}
