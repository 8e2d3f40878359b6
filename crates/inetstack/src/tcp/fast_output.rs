//! The fast path of output: [`TcpConnection::poll_transmit_batched`] sends the common case — an ESTABLISHED (or
//! CLOSE-WAIT) connection with no timer due but the delayed ACK, nothing queued by the input path, no loss
//! recovery, loss probe or resend pending, nothing to SACK, no timeout being judged spurious or not, and no ECN
//! flag (ECE or CWR) to send — with the least work: new data within both windows (ECN-capable on an ECN
//! connection), or the one owed ACK, handed to a [`SegmentSink`] as each segment is decided. The segments share
//! every header field but the sequence number, flags and payload, so the stack writes each straight into a
//! frame from its header template.
//!
//! It is the general path ([`super::output`]) with the branches that cannot apply left out: the same segments,
//! in the same order, and the same state afterwards (the tests run seeded transfers both ways and compare every
//! frame). Anything else goes to the general path, which stays as it was. `TcpConfig::fast_paths` turns it off.

use super::{BatchHeader, Nanos, OutgoingSegment, SegmentSink, TcpConnection, TcpState};
use crate::device::flatten;
use crate::wire::TcpFlags;

#[cfg(test)]
thread_local! {
    static FAST_PATH_TAKEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Test builds: how many polls on this thread took the fast path.
#[cfg(test)]
pub(crate) fn fast_path_taken() -> u64 {
    FAST_PATH_TAKEN.with(std::cell::Cell::get)
}

/// Whether a deadline has not come yet (or is not set: [`Nanos::NEVER`] never comes).
#[inline(always)]
fn not_due(deadline: Nanos, now: Nanos) -> bool {
    deadline > now
}

impl TcpConnection {
    /// Segments to send now: handed to `sink` when the fast path applies (see the module docs), else appended
    /// to `out` by [`Self::poll_transmit`]'s general path. Never both.
    #[inline]
    pub fn poll_transmit_batched<S: SegmentSink>(&mut self, now: Nanos, out: &mut Vec<OutgoingSegment>, sink: &mut S) {
        if self.config.fast_paths && self.fast_path_applies(now) {
            #[cfg(test)]
            FAST_PATH_TAKEN.with(|taken| taken.set(taken.get() + 1));
            self.transmit_fast(now, sink);
        } else {
            self.poll_transmit_general(now, out);
        }
    }

    /// Whether the general path would only run the delayed-ACK timer, send new data from SND.NXT = SND.MAX and
    /// the owed ACK, with no SACK option: what [`Self::transmit_fast`] does. Always inline: out of line (as the
    /// conditions grew) its call cost 64 instructions per send.
    #[inline(always)]
    pub(super) fn fast_path_applies(&self, now: Nanos) -> bool {
        matches!(self.state, TcpState::Established | TcpState::CloseWait)
            && self.control.is_empty()
            && self.snd_nxt == self.snd_max
            && self.snd_wnd > 0
            && self.fin_seq.is_none()
            && !self.recovery.in_recovery
            && !self.recovery.retransmit_head
            && self.recovery.lost_retransmissions.is_empty()
            && !self.rack.probe_due
            && self.sent_segments.lost_bytes() == 0
            && self.ack.dsacks.is_empty()
            && !self.ecn.signalling()
            && self.timeout_undo.is_none()
            && self.ack.duplicates_owed <= 1
            && (!self.sack_enabled || self.reassembly.is_empty())
            && not_due(self.deadline_beside_delayed_ack(), now)
    }

    /// The earliest deadline other than the delayed ACK's (which [`Self::transmit_fast`] runs itself), and
    /// the path MTU work the general path does (forgetting a learned MTU, sending an MTU probe).
    #[inline(always)]
    fn deadline_beside_delayed_ack(&self) -> Nanos {
        let t = &self.timers;
        let timers = t.retransmit.min(t.probe).min(t.reorder).min(t.persist).min(t.close);
        timers.min(self.idle_deadline()).min(self.path_mtu_due)
    }

    /// `poll_transmit`'s general path given [`Self::fast_path_applies`]: of the timers only the delayed ACK
    /// can be due, nothing needs resending or skipping (SND.NXT = SND.MAX, no FIN), no SACK block goes out.
    fn transmit_fast<S: SegmentSink>(&mut self, now: Nanos, sink: &mut S) {
        if !not_due(self.timers.delayed_ack, now) {
            self.timers.delayed_ack = Nanos::NEVER;
            self.ack.now = true;
        }
        let old_snd_max = self.snd_max;
        // The loop of `transmit_data`, less what cannot apply (`resending` is false, there is no FIN), with its
        // quantities kept as they move: each segment of `len` bytes takes `len` off the unsent bytes and both
        // windows' room (congestion: `max(0, a - flight - len) = max(0, max(0, a - flight) - len)`) and adds it
        // to the flight, so the congestion controller is asked once.
        let mut unsent = self.data_end().distance_from(self.snd_nxt).max(0) as usize;
        let mut window_room = (self.snd_una + self.snd_wnd).distance_from(self.snd_nxt).max(0) as usize;
        let mut in_flight = self.snd_nxt.distance_from(self.snd_una).max(0) as usize;
        let mut congestion_room = if unsent > 0 {
            if in_flight == 0 {
                self.resume_after_idle(now);
            }
            self.congestion_allowance()
        } else {
            0
        };
        let (mut segments, mut bytes) = (0u64, 0u64);
        while unsent > 0 {
            let len = unsent.min(self.send_mss).min(window_room).min(congestion_room);
            if len == 0 {
                break;
            }
            if len < self.send_mss && len < unsent {
                // Limited by a window: sender SWS avoidance, as in `transmit_data`.
                let congestion_limited = congestion_room <= window_room;
                if congestion_limited || (in_flight > 0 && len < (self.max_snd_wnd / 2) as usize) {
                    break;
                }
            } else if len < self.send_mss && self.nagle_holds(in_flight) {
                break;
            }
            self.send_new_data(now, len, unsent == len, segments == 0, sink);
            unsent -= len;
            window_room -= len;
            congestion_room -= len;
            in_flight += len;
            segments += 1;
            bytes += len as u64;
        }
        self.rack_after_transmit(now, old_snd_max);
        let mut acks = 0;
        if self.ack.now {
            // Exactly one ACK: `duplicates_owed` is at most 1.
            self.start_batch(now, sink);
            sink.push(self.snd_max, TcpFlags::empty(), None);
            acks = 1;
        }
        // `update_persist_timer` with a window open (`fast_path_applies`): the persist timer stops.
        self.stop_persist_timer(now);
        self.counters.segments_out += segments + acks;
        self.counters.bytes_out += bytes;
        self.counters.acks_out += acks;
    }

    /// `send_range` for `len` new bytes at SND.NXT = SND.MAX (no FIN, not a retransmission), into `sink`;
    /// `last`: they are the last queued bytes (PSH).
    #[inline]
    fn send_new_data<S: SegmentSink>(&mut self, now: Nanos, len: usize, last: bool, first: bool, sink: &mut S) {
        let seq = self.snd_nxt;
        let offset = seq.distance_from(self.send_base()).max(0) as usize;
        // One view (the common case), else a copy of the views into one buffer, as the stack would make it;
        // if that copy cannot be allocated, the segment is lost on the way out like any other.
        let payload = self.send_buffer.view(offset, len).or_else(|| flatten(&self.send_buffer.slice(offset, len)).ok());
        let end = seq + len as u32;
        let flags = if last { TcpFlags::PSH } else { TcpFlags::empty() };
        if len < self.send_mss {
            self.snd_sml = end;
        }
        if self.timed_segment.is_none() {
            self.timed_segment = Some((end, now));
        }
        if self.rack_active() {
            self.rack_on_send_new(seq, end, now);
        }
        if first {
            self.start_batch(now, sink);
        }
        if let Some(payload) = payload {
            sink.push(seq, flags, Some(payload));
        }
        self.snd_nxt = end;
        self.snd_max = end;
        self.last_send = now;
        if self.timers.retransmit.is_never() {
            self.timers.retransmit = now.saturating_add(self.rtt.rto());
        }
    }

    /// The header fields every segment of this poll shares, and the pending-ACK state they settle: what
    /// `build_segment` does per segment. Doing it once gives the same: within one poll RCV.NXT, the receive
    /// queue and the clock stand still, so a second `advertised_window` returns the value the first did
    /// (RCV.ADV already at that edge), and the timestamps are the same.
    #[inline(always)]
    fn start_batch<S: SegmentSink>(&mut self, now: Nanos, sink: &mut S) {
        sink.start(BatchHeader {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            ack_number: self.rcv_nxt,
            window_len: self.advertised_window(),
            timestamps: self.timestamps.as_ref().map(|ts| ts.option(now)),
            ecn_flags: self.ecn.feedback_flags(),
            ect: self.ecn.enabled,
        });
        self.ack.last_ack_sent = self.rcv_nxt;
        self.ack.now = false;
        self.ack.duplicates_owed = 0;
        self.timers.delayed_ack = Nanos::NEVER;
    }
}
