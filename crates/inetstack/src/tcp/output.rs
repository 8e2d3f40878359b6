//! What to send: [`TcpConnection::poll_transmit`] runs due timers, then emits, in order, queued control
//! segments, the SYN or SYN-ACK, retransmissions (head of line after a timeout or fast retransmit; SACK holes
//! per RFC 6675 `NextSeg`, or with RACK-TLP the tail loss probe and the segments RACK marked lost), new data within the peer's window and the congestion window (segmented to the MSS;
//! Nagle's algorithm, RFC 896 / RFC 1122 §4.2.3.4; sender-side silly window avoidance), the FIN, and a pure
//! ACK when one is owed and nothing else carried it.
//!
//! Payloads are views of the send buffer. Every segment built here goes through `build_segment`, which fills
//! the window, timestamps and SACK options and clears the pending-ACK state.

use runtime::Sga;

use super::{Nanos, OutgoingSegment, SegmentBatch, TcpConnection, TcpState};
use crate::wire::{SackBlock, SackBlocks, SeqNumber, TCP_MAX_OPTIONS_LEN, TcpFlags, TcpOptions};

/// Bytes a SACK option with `blocks` blocks takes, with its two aligning NOPs.
fn sack_option_len(blocks: usize) -> usize {
    if blocks == 0 { 0 } else { 4 + 8 * blocks }
}

impl TcpConnection {
    /// Segments to send now (data, ACKs, SYN/FIN, retransmissions, probes), in order; appended to `out`.
    /// (The stack calls [`Self::poll_transmit_batched`], which leaves the common case in a batch.)
    pub fn poll_transmit(&mut self, now: Nanos, out: &mut Vec<OutgoingSegment>) {
        let mut batch = SegmentBatch::default();
        self.poll_transmit_batched(now, out, &mut batch);
        batch.drain_into(out);
    }

    /// The general path of [`Self::poll_transmit`]: every state, timer and option. Out of line (and `cold`):
    /// the fast path is the common case, and this keeps the general path's code out of the hot loop's way.
    #[cold]
    #[inline(never)]
    pub(super) fn poll_transmit_general(&mut self, now: Nanos, out: &mut Vec<OutgoingSegment>) {
        self.expire_path_mtu(now);
        self.run_timers(now);
        let first = out.len();
        out.append(&mut self.control);
        match self.state {
            TcpState::Closed | TcpState::Listen => {}
            TcpState::SynSent => {
                if self.snd_nxt == self.iss {
                    self.send_syn(now, out);
                }
            }
            TcpState::SynReceived => {
                if self.snd_nxt == self.iss || self.ack.now {
                    self.send_syn(now, out);
                }
            }
            TcpState::TimeWait => {
                if self.ack.now {
                    for _ in 0..self.ack.dsacks.len().max(1) {
                        out.push(self.ack_segment(now, self.snd_max));
                    }
                }
            }
            _ => {
                self.transmit_data(now, out);
                if self.ack.now {
                    // One ACK, or one per out-of-order segment received since the last (duplicate ACKs), or
                    // one per duplicate range still to report (D-SACKs).
                    let count = self.ack.duplicates_owed.max(self.ack.dsacks.len() as u32).max(1);
                    for _ in 0..count {
                        out.push(self.ack_segment(now, self.snd_max));
                    }
                }
            }
        }
        self.update_persist_timer(now);
        for segment in &out[first..] {
            self.counters.segments_out += 1;
            self.counters.bytes_out += segment.payload.len() as u64;
            if segment.flags.rst() {
                self.counters.resets_out += 1;
            } else if segment.segment_len() == 0 {
                self.counters.acks_out += 1;
            }
        }
    }

    /// The SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), with the options we offer or accepted.
    fn send_syn(&mut self, now: Nanos, out: &mut Vec<OutgoingSegment>) {
        let syn_ack = self.state == TcpState::SynReceived;
        let retransmission = self.snd_max != self.iss;
        let window = self.config.recv_buffer.min(usize::from(u16::MAX));
        let options = TcpOptions {
            mss: Some(self.config.effective_mss()),
            window_scale: (if syn_ack { self.window_scaling } else { self.config.window_scale })
                .then_some(self.rcv_shift),
            sack_permitted: if syn_ack { self.sack_enabled } else { self.config.sack },
            timestamps: self.timestamps.as_ref().map(|timestamps| timestamps.option(now)),
            ..TcpOptions::default()
        };
        let ack_number = syn_ack.then_some(self.rcv_nxt);
        if syn_ack {
            self.rcv_adv = self.rcv_adv.max(self.rcv_nxt + window as u32);
            self.ack.last_ack_sent = self.rcv_nxt;
        }
        self.ack.now = false;
        // How many times this SYN went before (the timer counts its expiries).
        let sent_before = if retransmission { self.retries.max(1) } else { 0 };
        let ecn = self.ecn.syn_flags(&self.config, syn_ack, sent_before);
        out.push(OutgoingSegment {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq_number: self.iss,
            ack_number,
            flags: TcpFlags::SYN | ecn,
            window_len: window as u16,
            options,
            payload: Sga::new(),
            ect: false,
        });
        if retransmission {
            self.counters.retransmits += 1;
        } else {
            self.timed_segment = Some((self.iss + 1, now));
        }
        self.snd_nxt = self.iss + 1;
        self.snd_max = self.snd_max.max(self.snd_nxt);
        if self.timers.retransmit.is_never() {
            self.timers.retransmit = now.saturating_add(self.rtt.rto());
        }
    }

    /// Retransmissions, then new data and the FIN, as windows allow.
    fn transmit_data(&mut self, now: Nanos, out: &mut Vec<OutgoingSegment>) {
        let snd_max = self.snd_max;
        self.transmit_data_inner(now, out);
        self.rack_after_transmit(now, snd_max);
    }

    fn transmit_data_inner(&mut self, now: Nanos, out: &mut Vec<OutgoingSegment>) {
        if self.recovery.retransmit_head {
            self.recovery.retransmit_head = false;
            if self.snd_una < self.snd_max {
                let end = self.send_range(now, out, self.snd_una, self.send_mss, false);
                self.recovery.high_rxt = self.recovery.high_rxt.max(end);
            }
        }
        if self.rack_active() {
            self.send_loss_probe(now, out);
            self.retransmit_rack_lost(now, out);
        } else {
            self.resend_lost_retransmissions(now, out);
            if self.recovery.in_recovery && self.sack_enabled {
                self.retransmit_sack_holes(now, out);
            }
        }
        loop {
            if self.snd_nxt < self.snd_max
                && let Some(sacked_end) = self.scoreboard.sacked_until(self.snd_nxt)
            {
                self.snd_nxt = sacked_end.min(self.snd_max);
                continue;
            }
            let unsent = self.data_end().distance_from(self.snd_nxt).max(0) as usize;
            if unsent == 0 {
                if self.fin_seq == Some(self.snd_nxt) {
                    self.send_range(now, out, self.snd_nxt, 0, false);
                }
                return;
            }
            if self.snd_una == self.snd_max {
                self.resume_after_idle(now);
            }
            if self.path_mtu_due <= now && self.send_mtu_probe(now, out, unsent) {
                continue;
            }
            let window_room = (self.snd_una + self.snd_wnd).distance_from(self.snd_nxt).max(0) as usize;
            // F-RTO's two segments of new data go whatever the window after the timeout (RFC 5682 §2.1 step 2b).
            let congestion_room = self.frto_allowance().unwrap_or_else(|| self.congestion_allowance());
            let len = unsent.min(self.send_mss).min(window_room).min(congestion_room);
            if len == 0 {
                return;
            }
            let in_flight = self.snd_nxt.distance_from(self.snd_una).max(0) as usize;
            let resending = self.snd_nxt < self.snd_max;
            if len < self.send_mss && len < unsent {
                // Limited by a window. Wait for ACKs rather than send a runt, unless nothing is in flight or
                // the peer's window is small anyway (sender SWS avoidance, RFC 1122 §4.2.3.4).
                let congestion_limited = congestion_room <= window_room;
                if congestion_limited || (in_flight > 0 && len < (self.max_snd_wnd / 2) as usize) {
                    return;
                }
            } else if len < self.send_mss && self.fin_seq.is_none() && !resending && self.nagle_holds(in_flight) {
                return;
            }
            if self.pacing_holds(now) {
                return;
            }
            self.send_range(now, out, self.snd_nxt, len, false);
            self.pacing_after_send(now, len);
            if self.timeout_undo.is_some() {
                self.frto_sent();
            }
        }
    }

    /// Resends the retransmissions [`Self::detect_lost_retransmissions`] found lost (each replaced what the
    /// pipe already counted as in flight, so the windows are not consulted), skipping what got SACKed since.
    fn resend_lost_retransmissions(&mut self, now: Nanos, out: &mut Vec<OutgoingSegment>) {
        let lost = std::mem::take(&mut self.recovery.lost_retransmissions);
        for (start, end) in lost {
            let mut at = start.max(self.snd_una);
            while let Some((hole_start, hole_end)) = self.scoreboard.next_hole(at, end.min(self.snd_max)) {
                let len = hole_end.distance_from(hole_start) as usize;
                let sent_end = self.send_range(now, out, hole_start, len.min(self.send_mss), false);
                if sent_end <= hole_start {
                    break;
                }
                at = sent_end;
            }
        }
    }

    /// RFC 6675 `NextSeg` rule 1: resend holes below the loss boundary while the pipe leaves room.
    fn retransmit_sack_holes(&mut self, now: Nanos, out: &mut Vec<OutgoingSegment>) {
        while let Some(boundary) = self.scoreboard.loss_boundary(self.send_mss) {
            let from = self.recovery.high_rxt.max(self.snd_una);
            let Some((start, end)) = self.scoreboard.next_hole(from, boundary.min(self.snd_max)) else { return };
            let hole = end.distance_from(start) as usize;
            if self.congestion_allowance() < hole.min(self.send_mss) {
                return;
            }
            let sent_end = self.send_range(now, out, start, hole.min(self.send_mss), false);
            if sent_end <= start {
                return;
            }
            self.recovery.high_rxt = sent_end;
        }
    }

    /// Resends the segments RACK marked lost, lowest first (RFC 6675 `NextSeg` rule 1 with RACK's notion of
    /// lost): in recovery while the congestion window leaves room (the first after entering recovery goes
    /// regardless); after a timeout, those below SND.NXT (resent once by go-back-N and lost again), each
    /// replacing what the flight already counts.
    fn retransmit_rack_lost(&mut self, now: Nanos, out: &mut Vec<OutgoingSegment>) {
        while let Some(lost) = self.sent_segments.first_lost().copied() {
            let start = lost.start.max(self.snd_una);
            let len = lost.end.distance_from(start).max(0) as usize;
            let forced = std::mem::take(&mut self.rack.force_retransmit);
            if self.recovery.in_recovery {
                if !forced && self.congestion_allowance() < len.min(self.send_mss) {
                    return;
                }
            } else if start >= self.snd_nxt {
                return;
            }
            let sent_end = self.send_range(now, out, start, len.min(self.send_mss), false);
            if sent_end <= start {
                // Nothing to send there any more (cannot happen while the send buffer holds it): forget it.
                self.sent_segments.unmark_first_lost();
                continue;
            }
            self.recovery.high_rxt = self.recovery.high_rxt.max(sent_end);
        }
    }

    /// Sends up to `max_len` bytes starting at `seq` (a FIN rides along if it is next) and returns the
    /// sequence number after the segment. Callers keep `max_len` within a full segment (`send_mss`), but for an
    /// MTU probe, which is larger. Updates SND.NXT/SND.MAX, the retransmission timer (unless this is a window
    /// probe) and the Karn-safe RTT timing.
    pub(super) fn send_range(
        &mut self,
        now: Nanos,
        out: &mut Vec<OutgoingSegment>,
        seq: SeqNumber,
        max_len: usize,
        probe: bool,
    ) -> SeqNumber {
        let offset = seq.distance_from(self.send_base()).max(0) as usize;
        let available = self.send_buffer.len().saturating_sub(offset);
        let len = max_len.min(available);
        let payload = self.send_buffer.slice(offset, len);
        let data_end = seq + len as u32;
        let mut flags = TcpFlags::empty();
        if self.fin_seq == Some(data_end) {
            flags = flags | TcpFlags::FIN;
        }
        if len > 0 && data_end == self.data_end() {
            flags = flags | TcpFlags::PSH;
        }
        let end = data_end + u32::from(flags.fin());
        if end == seq {
            return seq;
        }
        let new_data = seq >= self.snd_max;
        if new_data && len > 0 && std::mem::take(&mut self.ecn.send_cwr) {
            flags = flags | TcpFlags::CWR;
        }
        if !new_data {
            self.counters.retransmits += 1;
            self.void_timing();
            self.mtu_probe_on_resend(now, seq, end);
            if self.undo.is_some() {
                self.undo_note_retransmission(seq, end);
            }
            if !probe {
                self.note_retransmission(seq, end);
            }
        } else {
            if len > 0 && len < self.send_mss {
                self.snd_sml = data_end;
            }
            if self.timed_segment.is_none() {
                self.timed_segment = Some((end, now));
            }
        }
        if self.rack_active() {
            self.rack_on_send(seq, end, now);
        }
        let mut segment = self.build_segment(now, seq, flags, payload);
        // ECN-capable: new data only, not retransmissions or window probes (RFC 3168 §6.1.5-6).
        segment.ect = self.ecn.enabled && new_data && len > 0 && !probe;
        out.push(segment);
        self.snd_nxt = self.snd_nxt.max(end);
        self.snd_max = self.snd_max.max(end);
        self.last_send = now;
        if !probe && self.timers.retransmit.is_never() {
            self.timers.retransmit = now.saturating_add(self.rtt.rto());
        }
        end
    }

    /// A zero-window probe (RFC 9293 §3.8.6.1): one byte beyond the closed window, resent until answered.
    /// SND.NXT stays at that byte (as BSD pulls SND.NXT back to SND.UNA while the window is zero): a receiver
    /// with no room drops it, so the window update that ends the episode usually acknowledges below it, and the
    /// data that follows must start with it. Sending on from beyond it left a one-byte hole that took dozens of
    /// duplicate ACKs, a fast retransmission and a window cut to fill (seen by tshark in a capture).
    pub(super) fn send_window_probe(&mut self, now: Nanos) {
        let mut probe = Vec::new();
        let seq = if self.snd_max > self.snd_una { self.snd_una } else { self.snd_nxt };
        self.send_range(now, &mut probe, seq, 1, true);
        self.snd_nxt = seq;
        self.counters.window_probes += probe.len() as u64;
        self.control.append(&mut probe);
    }

    /// A pure ACK with the given sequence number.
    pub(super) fn ack_segment(&mut self, now: Nanos, seq: SeqNumber) -> OutgoingSegment {
        self.build_segment(now, seq, TcpFlags::empty(), Sga::new())
    }

    /// A RST (no options, window 0).
    pub(super) fn reset_segment(&self, seq: SeqNumber, ack_number: Option<SeqNumber>) -> OutgoingSegment {
        OutgoingSegment {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq_number: seq,
            ack_number,
            flags: TcpFlags::RST,
            window_len: 0,
            options: TcpOptions::default(),
            payload: Sga::new(),
            ect: false,
        }
    }

    /// A segment of a synchronized connection: acknowledges RCV.NXT with our window, timestamps and SACK
    /// blocks (as many as fit beside the payload), and settles the pending ACK.
    fn build_segment(&mut self, now: Nanos, seq: SeqNumber, flags: TcpFlags, payload: Sga) -> OutgoingSegment {
        let window_len = self.advertised_window();
        let mut options =
            TcpOptions { timestamps: self.timestamps.as_ref().map(|ts| ts.option(now)), ..TcpOptions::default() };
        let dsack = self.ack.dsacks.pop();
        if self.sack_enabled && (dsack.is_some() || !self.reassembly.is_empty()) {
            let used = if options.timestamps.is_some() { 12 } else { 0 };
            let most = (TCP_MAX_OPTIONS_LEN - used - 4) / 8;
            // A D-SACK block goes first, then the usual blocks, most recent first (RFC 2883 §4).
            let mut blocks: Vec<SackBlock> = dsack.map(|(left, right)| SackBlock { left, right }).into_iter().collect();
            blocks.extend(self.reassembly.sack_blocks(most - blocks.len()));
            while !blocks.is_empty() && payload.len() + sack_option_len(blocks.len()) > self.send_mss {
                blocks.pop();
            }
            options.sack_blocks = SackBlocks::from_slice(&blocks).unwrap_or_default();
        }
        self.ack.last_ack_sent = self.rcv_nxt;
        // Duplicates left to report are owed ACKs of their own.
        self.ack.now = !self.ack.dsacks.is_empty();
        self.ack.duplicates_owed = 0;
        self.timers.delayed_ack = Nanos::NEVER;
        // Every segment echoes a congestion mark until the peer's CWR (RFC 3168 §6.1.3), or carries the count of
        // marks (Accurate ECN).
        let flags = flags | self.ecn.feedback_flags();
        OutgoingSegment {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq_number: seq,
            ack_number: Some(self.rcv_nxt),
            flags,
            window_len,
            options,
            payload,
            ect: false,
        }
    }
}
