//! A connection the application let go of (an orphan, in Linux's word) that only waits for its end, kept as a
//! small record ([`OrphanRecord`]) instead of the whole connection, as Linux keeps an `inet_timewait_sock` for
//! both states:
//! - TIME-WAIT: a server that closes first holds each connection it closed for 2 MSL (60 s by default), tens of
//!   thousands of them;
//! - FIN-WAIT-2: everything it sent is acknowledged, and it waits up to `TcpConfig::fin_wait2_timeout` (60 s) for
//!   the peer's FIN, which a peer may never send.
//!
//! A whole connection is about 2 KB where the record is a few hundred bytes (`tests/connection_memory.rs`
//! measures both).
//!
//! Such a connection keeps no data and sends nothing of its own: it acknowledges what the peer sends (its FIN,
//! duplicates), answers blind RSTs and SYNs with challenge ACKs, lets a newer SYN reopen the 4-tuple (TIME-WAIT),
//! goes from FIN-WAIT-2 to TIME-WAIT on the peer's FIN, and ends at its deadline. The record holds the state
//! those answers read: sequence numbers, windows, the timestamp clock and TS.Recent, the RTO (PAWS lets a
//! reordered ACK through within one), ECN's feedback, the two ACK rate limiters, the deadline and the stack's
//! slots it holds (TIME-WAIT's, or an orphan's in FIN-WAIT-2, `slots.rs`).
//!
//! The record has no behaviour of its own: a segment for it wakes it into a whole connection again
//! ([`OrphanRecord::wake`]), which the connection's own code handles, and the stack keeps it as a record again
//! after ([`TcpConnection::orphan_record`]). So these states have one implementation, the connection's; the tests
//! check that a connection put to sleep and woken for every segment answers segment for segment as one that
//! stayed whole (`tests/orphan_record.rs`).
//!
//! Only a connection the application let go of, with nothing pending, becomes a record; any other stays whole.

use std::net::SocketAddrV4;

use super::ecn::Ecn;
use super::memory_limit::MemoryLimit;
use super::rate_limit::RateLimiter;
use super::rtt::RttEstimator;
use super::slots::Slot;
use super::timestamps::Timestamps;
use super::{Nanos, TcpConfig, TcpConnection, TcpState};
use crate::wire::SeqNumber;

/// What an orphan in TIME-WAIT or FIN-WAIT-2 needs of its state (see the module docs).
#[derive(Debug)]
pub(crate) struct OrphanRecord {
    state: TcpState,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    iss: SeqNumber,
    irs: SeqNumber,
    /// SND.UNA = SND.NXT = SND.MAX: everything we sent, our FIN included, is acknowledged.
    snd_max: SeqNumber,
    fin_seq: SeqNumber,
    snd_wnd: u32,
    max_snd_wnd: u32,
    snd_wl1: SeqNumber,
    snd_wl2: SeqNumber,
    rcv_nxt: SeqNumber,
    rcv_adv: SeqNumber,
    /// The peer's FIN, once it arrived (TIME-WAIT; RCV.NXT is then past it, `eof`).
    peer_fin: Option<SeqNumber>,
    /// The ACK number of our last segment (RFC 7323 `Last.ACK.sent`) and the largest payload received.
    last_ack_sent: SeqNumber,
    largest_segment: u32,
    rcv_buffer: u32,
    send_mss: u32,
    /// When TIME-WAIT (or FIN-WAIT-2's wait for the peer's FIN) ends.
    deadline: Nanos,
    snd_shift: u8,
    rcv_shift: u8,
    passive: bool,
    eof: bool,
    sack_enabled: bool,
    rack_enabled: bool,
    window_scaling: bool,
    timestamps: Option<Timestamps>,
    rtt: RttEstimator,
    ecn: Ecn,
    challenge_limiter: RateLimiter,
    out_of_window_limiter: RateLimiter,
    time_wait_slot: Slot,
    orphan_slot: Slot,
}

impl OrphanRecord {
    /// When the wait ends: the record is then dropped, and with it its slots (the connection would close,
    /// sending nothing).
    pub(crate) fn deadline(&self) -> Nanos {
        self.deadline
    }

    /// TIME-WAIT or FIN-WAIT-2.
    pub(crate) fn state(&self) -> TcpState {
        self.state
    }

    pub(crate) fn local(&self) -> SocketAddrV4 {
        self.local
    }

    pub(crate) fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    /// The whole connection again, as it was when it became this record: made with `config` (the stack's), its
    /// received data and data to send counted against `receive_memory` and `send_memory` (it holds none).
    pub(crate) fn wake(
        self,
        config: &TcpConfig,
        receive_memory: &MemoryLimit,
        send_memory: &MemoryLimit,
        now: Nanos,
    ) -> TcpConnection {
        let mut c = TcpConnection::new(config, self.local, self.remote, self.iss, 0, now);
        c.share_receive_memory(receive_memory);
        c.share_send_memory(send_memory);
        c.tuning = None;
        c.state = self.state;
        c.passive = self.passive;
        c.user_closed = true;
        c.released = true;
        (c.snd_una, c.snd_nxt, c.snd_max, c.snd_sml) = (self.snd_max, self.snd_max, self.snd_max, self.snd_max);
        c.fin_seq = Some(self.fin_seq);
        (c.snd_wnd, c.max_snd_wnd, c.snd_wl1, c.snd_wl2) = (self.snd_wnd, self.max_snd_wnd, self.snd_wl1, self.snd_wl2);
        c.snd_shift = self.snd_shift;
        c.send_mss = self.send_mss as usize;
        c.irs = self.irs;
        (c.rcv_nxt, c.rcv_adv, c.rcv_shift) = (self.rcv_nxt, self.rcv_adv, self.rcv_shift);
        c.rcv_buffer = self.rcv_buffer as usize;
        c.peer_fin = self.peer_fin;
        c.eof = self.eof;
        c.timestamps = self.timestamps;
        c.sack_enabled = self.sack_enabled;
        c.rack_enabled = self.rack_enabled;
        c.window_scaling = self.window_scaling;
        c.ack.last_ack_sent = self.last_ack_sent;
        c.ack.largest_segment = self.largest_segment as usize;
        c.timers.close = self.deadline;
        c.rtt = self.rtt;
        c.ecn = self.ecn;
        c.challenge_limiter = self.challenge_limiter;
        c.out_of_window_limiter = self.out_of_window_limiter;
        c.time_wait_slot = self.time_wait_slot;
        c.orphan_slot = self.orphan_slot;
        c
    }
}

impl TcpConnection {
    /// This connection as an [`OrphanRecord`], if it is in TIME-WAIT or FIN-WAIT-2, let go of by the application,
    /// and has nothing pending that the record does not keep (an ACK or a D-SACK owed, data received, a timer
    /// other than the wait's, an error to report...); `None` otherwise, and the connection is unchanged. On
    /// success the connection gives the slots it holds to the record and is to be dropped.
    pub(crate) fn orphan_record(&mut self) -> Option<OrphanRecord> {
        let t = &self.timers;
        let only_close_timer = [t.retransmit, t.reorder, t.probe, t.delayed_ack, t.persist, t.pacing]
            .iter()
            .all(|deadline| deadline.is_never());
        let fits = [self.rcv_buffer, self.send_mss, self.ack.largest_segment].iter().all(|&n| u32::try_from(n).is_ok());
        let settled = matches!(self.state, TcpState::TimeWait | TcpState::FinWait2)
            && self.released
            && self.error.is_none()
            && self.control.is_empty()
            && !self.ack.now
            && self.ack.dsacks.is_empty()
            && self.ack.duplicates_owed == 0
            && self.snd_una == self.snd_max
            && self.snd_nxt == self.snd_max
            && self.send_buffer.len() == 0
            && self.receive_queue.is_empty()
            && self.reassembly.is_empty()
            && !self.recovery.in_recovery
            && self.undo.is_none()
            && self.timeout_undo.is_none()
            && only_close_timer
            && !self.timers.close.is_never()
            && fits;
        let fin_seq = self.fin_seq?;
        if !settled {
            return None;
        }
        Some(OrphanRecord {
            state: self.state,
            local: self.local,
            remote: self.remote,
            iss: self.iss,
            irs: self.irs,
            snd_max: self.snd_max,
            fin_seq,
            snd_wnd: self.snd_wnd,
            max_snd_wnd: self.max_snd_wnd,
            snd_wl1: self.snd_wl1,
            snd_wl2: self.snd_wl2,
            rcv_nxt: self.rcv_nxt,
            rcv_adv: self.rcv_adv,
            peer_fin: self.peer_fin,
            last_ack_sent: self.ack.last_ack_sent,
            largest_segment: self.ack.largest_segment as u32,
            rcv_buffer: self.rcv_buffer as u32,
            send_mss: self.send_mss as u32,
            deadline: self.timers.close,
            snd_shift: self.snd_shift,
            rcv_shift: self.rcv_shift,
            passive: self.passive,
            eof: self.eof,
            sack_enabled: self.sack_enabled,
            rack_enabled: self.rack_enabled,
            window_scaling: self.window_scaling,
            timestamps: self.timestamps.clone(),
            rtt: self.rtt.clone(),
            ecn: self.ecn,
            challenge_limiter: self.challenge_limiter,
            out_of_window_limiter: self.out_of_window_limiter,
            time_wait_slot: self.time_wait_slot.hand_over(),
            orphan_slot: self.orphan_slot.hand_over(),
        })
    }
}
