//! [`SentSegments`]: every segment sent and not yet cumulatively acknowledged, with its last transmit time,
//! kept in two orders at once — by sequence number (a deque: new data is appended, acknowledged data is popped
//! from the front) and by transmit time (an intrusive doubly linked list through the same deque, holding only
//! the segments still in the network: neither SACKed nor marked lost). A retransmission moves a segment to the
//! tail of the time list. Segments marked lost sit in a set ordered by sequence number until resent.
//!
//! This is the per-segment state RACK (RFC 8985, [`super::rack`]) needs, shaped so that an ACK costs
//! O(newly acknowledged + newly SACKed) segments: with no loss the oldest segment in the time list is the one
//! the ACK removes, and loss detection stops at the first segment sent after the most recently delivered one.
//!
//! Not for deciding what is lost or when to resend: that is [`super::rack`]'s and [`super::output`]'s job.

use super::Nanos;
use crate::wire::SeqNumber;
use std::collections::{BTreeSet, VecDeque};

/// "No segment" in the time list.
const NIL: u64 = u64::MAX;

/// Where a segment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SegmentState {
    /// Sent and not known to have arrived or to be lost: in the time list.
    InFlight,
    /// SACKed by the peer.
    Sacked,
    /// Deemed lost and not yet resent: in the lost set.
    Lost,
}

/// One transmitted segment `[start, end)` (a FIN counts as one byte).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SentSegment {
    pub(crate) start: SeqNumber,
    pub(crate) end: SeqNumber,
    /// When it was last (re)transmitted.
    pub(crate) xmit_ts: Nanos,
    pub(crate) retransmitted: bool,
    pub(crate) state: SegmentState,
    prev: u64,
    next: u64,
}

impl SentSegment {
    pub(crate) fn len(&self) -> usize {
        self.end.distance_from(self.start).max(0) as usize
    }
}

/// The sent-but-unacknowledged segments (see the module documentation).
#[derive(Debug)]
pub(crate) struct SentSegments {
    entries: VecDeque<SentSegment>,
    /// Id of `entries[0]`; ids grow with sequence numbers and never repeat.
    first_id: u64,
    /// Oldest and newest in-flight segment by transmit time.
    head: u64,
    tail: u64,
    lost: BTreeSet<u64>,
    lost_bytes: usize,
    sacked_bytes: usize,
    sacked_segments: usize,
}

impl Default for SentSegments {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
            first_id: 0,
            head: NIL,
            tail: NIL,
            lost: BTreeSet::new(),
            lost_bytes: 0,
            sacked_bytes: 0,
            sacked_segments: 0,
        }
    }
}

impl SentSegments {
    /// Gives back the records' spare capacity (what a flight once needed), as a connection does when it
    /// enters TIME-WAIT with nothing in flight.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }

    /// How many records the deque has room for.
    pub(crate) fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Bytes marked lost and not yet resent.
    pub(crate) fn lost_bytes(&self) -> usize {
        self.lost_bytes
    }

    /// Bytes in SACKed segments.
    pub(crate) fn sacked_bytes(&self) -> usize {
        self.sacked_bytes
    }

    /// SACKed segments (RACK.segs_sacked).
    pub(crate) fn sacked_segments(&self) -> usize {
        self.sacked_segments
    }

    /// Whether any segment is in flight (neither SACKed nor marked lost): the time list is not empty.
    #[inline]
    pub(crate) fn any_in_flight(&self) -> bool {
        self.head != NIL
    }

    /// The highest segment sent.
    pub(crate) fn last(&self) -> Option<&SentSegment> {
        self.entries.back()
    }

    /// The highest segment a cumulative ACK of `ack` covers whole, before [`Self::on_cumulative_ack`] takes
    /// them out (a binary search).
    pub(crate) fn newest_acknowledged(&self, ack: SeqNumber) -> Option<&SentSegment> {
        let covered = self.entries.partition_point(|segment| segment.end <= ack);
        self.entries.get(covered.checked_sub(1)?)
    }

    fn get(&self, id: u64) -> Option<&SentSegment> {
        self.entries.get(id.checked_sub(self.first_id)? as usize)
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut SentSegment> {
        self.entries.get_mut(id.checked_sub(self.first_id)? as usize)
    }

    fn link_tail(&mut self, id: u64) {
        let tail = self.tail;
        if let Some(entry) = self.get_mut(id) {
            entry.prev = tail;
            entry.next = NIL;
        }
        match self.get_mut(tail) {
            Some(previous) => previous.next = id,
            None => self.head = id,
        }
        self.tail = id;
    }

    fn unlink(&mut self, id: u64) {
        if let Some(&SentSegment { prev, next, .. }) = self.get(id) {
            self.unlink_between(prev, next);
        }
    }

    /// Takes a segment out of the time list, given its neighbours there.
    #[inline]
    fn unlink_between(&mut self, prev: u64, next: u64) {
        match self.get_mut(prev) {
            Some(entry) => entry.next = next,
            None => self.head = next,
        }
        match self.get_mut(next) {
            Some(entry) => entry.prev = prev,
            None => self.tail = prev,
        }
    }

    /// Takes segment `id` out of whatever accounting its state puts it in: the time list for a segment in
    /// flight, the SACKed or lost counts (out of line) for the others.
    fn leave_state(&mut self, id: u64) {
        let Some(entry) = self.get(id).copied() else { return };
        if entry.state == SegmentState::InFlight {
            self.unlink_between(entry.prev, entry.next);
        } else {
            self.leave_sacked_or_lost(id, &entry);
        }
    }

    /// Takes a SACKed or lost segment (`entry`, a copy of segment `id`) out of its counts (and the lost set).
    #[inline(never)]
    fn leave_sacked_or_lost(&mut self, id: u64, entry: &SentSegment) {
        if entry.state == SegmentState::Sacked {
            self.sacked_bytes -= entry.len();
            self.sacked_segments -= 1;
        } else {
            self.lost.remove(&id);
            self.lost_bytes -= entry.len();
        }
    }

    /// `[start, end)` was sent now. The part at or beyond the highest segment is new; the rest resends old
    /// segments, which move to the tail of the time list (SACKed ones are left alone).
    pub(crate) fn on_send(&mut self, start: SeqNumber, end: SeqNumber, now: Nanos) {
        let high = self.entries.back().map_or(start, |last| last.end);
        if start < high {
            self.on_retransmit(start, end.min(high), now);
        }
        let new_start = start.max(high);
        if end > new_start {
            self.on_send_new(new_start, end, now);
        }
    }

    /// `[start, end)`, all new data (at or beyond the highest segment), was sent now: appended in sequence
    /// order and at the tail of the time list in one step. [`Self::on_send`] less its resend and overlap tests,
    /// for the output fast path.
    #[inline]
    pub(crate) fn on_send_new(&mut self, start: SeqNumber, end: SeqNumber, now: Nanos) {
        debug_assert!(self.entries.back().is_none_or(|last| last.end <= start), "not new data");
        let id = self.first_id + self.entries.len() as u64;
        let tail = self.tail;
        self.entries.push_back(SentSegment {
            start,
            end,
            xmit_ts: now,
            retransmitted: false,
            state: SegmentState::InFlight,
            prev: tail,
            next: NIL,
        });
        match self.get_mut(tail) {
            Some(previous) => previous.next = id,
            None => self.head = id,
        }
        self.tail = id;
    }

    /// Index of the first segment ending after `seq`.
    fn index_after(&self, seq: SeqNumber) -> usize {
        self.entries.partition_point(|entry| entry.end <= seq)
    }

    fn on_retransmit(&mut self, start: SeqNumber, end: SeqNumber, now: Nanos) {
        let mut index = self.index_after(start);
        while let Some(entry) = self.entries.get(index).copied() {
            if entry.start >= end {
                break;
            }
            let id = self.first_id + index as u64;
            if entry.state != SegmentState::Sacked {
                self.leave_state(id);
                if let Some(entry) = self.get_mut(id) {
                    entry.state = SegmentState::InFlight;
                    entry.xmit_ts = now;
                    entry.retransmitted = true;
                }
                self.link_tail(id);
            }
            index += 1;
        }
    }

    /// Everything below `ack` was acknowledged: drops those segments and calls `delivered` for the ones not
    /// SACKed before (newly delivered), in sequence order, a run at a time: `delivered(segment, None)` for a
    /// segment alone, `delivered(last, Some(first))` for a run of several. A run is segments never
    /// retransmitted, in flight, and next to each other in both orders (each sent after the one before, no
    /// earlier): delivering them one by one leaves what delivering the first and the last leaves (see
    /// `Rack::on_delivered_run`). A segment acknowledged in part is trimmed.
    #[inline]
    pub(crate) fn on_cumulative_ack(
        &mut self,
        ack: SeqNumber,
        mut delivered: impl FnMut(&SentSegment, Option<&SentSegment>),
    ) {
        // The front segment is read in place: a copy of it, stored and at once reloaded field by field, stalled
        // store-to-load forwarding (the hottest instruction of a request-response exchange's ACK).
        while let Some(front) = self.entries.front() {
            if front.end > ack {
                if front.start < ack {
                    self.trim_front(ack);
                }
                break;
            }
            // A request-response exchange's ACK delivers a lone segment: asked first, as it is the cheapest.
            if self.entries.len() == 1 || front.state != SegmentState::InFlight || front.retransmitted {
                self.acknowledge_front(&mut delivered);
                continue;
            }
            let first = *front;
            let (last, count) = self.fresh_run(&first, ack);
            if count == 1 {
                self.acknowledge_front(&mut delivered);
                continue;
            }
            delivered(&last, Some(&first));
            // The run is one stretch of the time list: taken out at once.
            self.unlink_between(first.prev, last.next);
            self.entries.drain(..count);
            self.first_id += count as u64;
        }
    }

    /// The run [`Self::on_cumulative_ack`] delivers at once from `first` (the front segment, fresh and in
    /// flight, ending at or below `ack`): its last segment and how many it holds. Each next segment joins if it
    /// ends at or below `ack`, follows the one before in the time list (so it is in flight: the time list holds
    /// only those), was never retransmitted and was sent no earlier. The walk goes over the deque's two slices
    /// and keeps only the two fields it compares: a copy of the segment, or `VecDeque::iter` (out of line, its
    /// iterator returned through memory), was stored and reloaded at once, stalling store-to-load forwarding.
    #[inline]
    fn fresh_run(&self, first: &SentSegment, ack: SeqNumber) -> (SentSegment, usize) {
        let (mut next_id, mut xmit_ts, mut count) = (first.next, first.xmit_ts, 1);
        let (front, back) = self.entries.as_slices();
        'walk: for slice in [front.get(1..).unwrap_or_default(), back] {
            for segment in slice {
                let id = self.first_id + count as u64;
                if segment.end > ack || next_id != id || segment.retransmitted || segment.xmit_ts < xmit_ts {
                    break 'walk;
                }
                debug_assert_eq!(segment.state, SegmentState::InFlight, "a time-list neighbour is in flight");
                (next_id, xmit_ts) = (segment.next, segment.xmit_ts);
                count += 1;
            }
        }
        let last = self.entries.get(count - 1).copied().unwrap_or(*first);
        (last, count)
    }

    /// Drops the front segment (a run of one), calling `delivered` unless it was SACKed.
    #[inline]
    fn acknowledge_front(&mut self, delivered: &mut impl FnMut(&SentSegment, Option<&SentSegment>)) {
        let Some(front) = self.entries.front() else { return };
        if front.state != SegmentState::Sacked {
            delivered(front, None);
        }
        if front.state == SegmentState::InFlight {
            let (prev, next) = (front.prev, front.next);
            self.unlink_between(prev, next);
        } else {
            let entry = *front;
            self.leave_sacked_or_lost(self.first_id, &entry);
        }
        self.entries.pop_front();
        self.first_id += 1;
    }

    /// The first segment, which starts below `ack` and ends beyond it, was acknowledged in part.
    #[cold]
    fn trim_front(&mut self, ack: SeqNumber) {
        let Some(front) = self.entries.front_mut() else { return };
        let trimmed = ack.distance_from(front.start) as usize;
        front.start = ack;
        match front.state {
            SegmentState::Sacked => self.sacked_bytes -= trimmed,
            SegmentState::Lost => self.lost_bytes -= trimmed,
            SegmentState::InFlight => {}
        }
    }

    /// `[start, end)` was newly SACKed; `covered(segment)` says whether a segment that only overlaps it is
    /// now SACKed whole. Calls `delivered` for each segment that becomes SACKed.
    pub(crate) fn on_sacked(
        &mut self,
        start: SeqNumber,
        end: SeqNumber,
        covered: impl Fn(&SentSegment) -> bool,
        mut delivered: impl FnMut(&SentSegment),
    ) {
        let mut index = self.index_after(start);
        while let Some(entry) = self.entries.get(index).copied() {
            if entry.start >= end {
                break;
            }
            let whole = entry.start >= start && entry.end <= end;
            if entry.state != SegmentState::Sacked && (whole || covered(&entry)) {
                let id = self.first_id + index as u64;
                delivered(&entry);
                self.leave_state(id);
                self.sacked_bytes += entry.len();
                self.sacked_segments += 1;
                if let Some(entry) = self.get_mut(id) {
                    entry.state = SegmentState::Sacked;
                }
            }
            index += 1;
        }
    }

    /// Walks the in-flight segments from the oldest transmission while `sent_before(segment)` holds; marks
    /// lost those for which `lost(segment)` holds. Returns how many were marked and how many of those had been
    /// retransmitted.
    pub(crate) fn mark_lost_while(
        &mut self,
        sent_before: impl Fn(&SentSegment) -> bool,
        mut lost: impl FnMut(&SentSegment) -> bool,
    ) -> (u64, u64) {
        let (mut marked, mut retransmitted) = (0, 0);
        let mut id = self.head;
        while let Some(entry) = self.get(id).copied() {
            if !sent_before(&entry) {
                break;
            }
            let next = entry.next;
            if lost(&entry) {
                self.unlink(id);
                self.lost.insert(id);
                self.lost_bytes += entry.len();
                if let Some(entry) = self.get_mut(id) {
                    entry.state = SegmentState::Lost;
                }
                marked += 1;
                retransmitted += u64::from(entry.retransmitted);
            }
            id = next;
        }
        (marked, retransmitted)
    }

    /// The lowest segment marked lost and not yet resent.
    pub(crate) fn first_lost(&self) -> Option<&SentSegment> {
        self.lost.first().and_then(|&id| self.get(id))
    }

    /// Forgets a lost mark without resending (the caller could not send the segment).
    pub(crate) fn unmark_first_lost(&mut self) {
        if let Some(&id) = self.lost.first() {
            self.leave_state(id);
            if let Some(entry) = self.get_mut(id) {
                entry.state = SegmentState::InFlight;
            }
            self.link_tail(id);
        }
    }

    /// Starts of the in-flight segments, oldest transmission first.
    #[cfg(test)]
    pub(crate) fn in_flight_order(&self) -> Vec<SeqNumber> {
        let mut order = Vec::new();
        let mut id = self.head;
        while let Some(entry) = self.get(id) {
            order.push(entry.start);
            id = entry.next;
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sequence_and_time_order() {
        let at = Nanos::from_millis;
        let mut sent = SentSegments::default();
        for i in 0..5u32 {
            sent.on_send_new(SeqNumber(i * 100), SeqNumber(i * 100 + 100), at(u64::from(i)));
        }
        assert_eq!(sent.in_flight_order(), [0, 100, 200, 300, 400].map(SeqNumber));
        // A resend of 100..200 moves it to the tail; one spanning the old end appends the new part.
        sent.on_send(SeqNumber(100), SeqNumber(200), at(10));
        sent.on_send(SeqNumber(450), SeqNumber(600), at(11));
        assert_eq!(sent.in_flight_order(), [0, 200, 300, 100, 400, 500].map(SeqNumber));
        // SACK 300..400 and part of 400..500 (covered by an earlier SACK, say).
        let mut delivered = Vec::new();
        sent.on_sacked(SeqNumber(300), SeqNumber(450), |s| s.start == SeqNumber(400), |s| delivered.push(s.start));
        assert_eq!(delivered, [SeqNumber(300), SeqNumber(400)]);
        assert_eq!((sent.sacked_segments(), sent.sacked_bytes()), (2, 200));
        // Everything sent before 300 was last sent at 0 or 2 ms: mark those lost.
        let (marked, resent) = sent.mark_lost_while(|s| s.xmit_ts <= at(3), |_| true);
        assert_eq!((marked, resent), (2, 0));
        assert_eq!(sent.lost_bytes(), 200);
        assert_eq!(sent.first_lost().map(|s| s.start), Some(SeqNumber(0)));
        sent.on_send(SeqNumber(0), SeqNumber(100), at(12));
        assert_eq!(sent.first_lost().map(|s| s.start), Some(SeqNumber(200)));
        assert_eq!(sent.in_flight_order(), [100, 500, 0].map(SeqNumber));
        // A cumulative ACK to 350 delivers 0..100, 100..200 and 200..300 (not the SACKed one) and trims 300..400.
        let mut runs = Vec::new();
        sent.on_cumulative_ack(SeqNumber(350), |last, first| runs.push((first.unwrap_or(last).start, last.start)));
        assert_eq!(runs, [0, 100, 200].map(|start| (SeqNumber(start), SeqNumber(start))), "all resent or lost");
        assert_eq!((sent.lost_bytes(), sent.sacked_bytes(), sent.sacked_segments()), (0, 150, 2));
        assert_eq!(sent.in_flight_order(), [SeqNumber(500)]);
        assert!(sent.any_in_flight());
        sent.on_cumulative_ack(SeqNumber(600), |_, _| {});
        assert!(sent.last().is_none());
        assert_eq!((sent.sacked_bytes(), sent.sacked_segments()), (0, 0));
        assert!(sent.in_flight_order().is_empty());
        assert!(!sent.any_in_flight());
    }

    #[test]
    fn delivers_fresh_segments_in_runs() {
        let at = Nanos::from_millis;
        let mut sent = SentSegments::default();
        for i in 0..6u32 {
            sent.on_send_new(SeqNumber(i * 100), SeqNumber(i * 100 + 100), at(u64::from(i)));
        }
        // 200..300 resent: it breaks the run, and 300..400 is no longer its neighbour in the time list.
        sent.on_send(SeqNumber(200), SeqNumber(300), at(9));
        let mut runs = Vec::new();
        sent.on_cumulative_ack(SeqNumber(550), |last, first| runs.push((first.unwrap_or(last).start, last.start)));
        let run = |first: u32, last: u32| (SeqNumber(first), SeqNumber(last));
        assert_eq!(runs, [run(0, 100), run(200, 200), run(300, 400)]);
        assert_eq!(sent.in_flight_order(), [SeqNumber(550)], "500..600 trimmed to 550..600, still in flight");
        sent.on_send_new(SeqNumber(600), SeqNumber(700), at(10));
        runs.clear();
        sent.on_cumulative_ack(SeqNumber(700), |last, first| runs.push((first.unwrap_or(last).start, last.start)));
        assert_eq!(runs, [run(550, 600)]);
        assert!(!sent.any_in_flight() && sent.last().is_none());
    }
}
