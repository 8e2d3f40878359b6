//! [`TcpConnection`]: one TCP connection's state machine (RFC 9293), sans-I/O. This file holds the state and
//! the application-facing calls (send, recv, shutdown_write, close, abort, readiness); the segment paths are split by concern:
//! [`super::input`] (acceptance, RST, SYN, state changes), [`super::ack`] (acknowledgments, windows, loss
//! recovery), [`super::receive`] (data, FIN, delayed ACKs, the advertised window), [`super::output`] (what to
//! send) and [`super::timers`] (RTO, persist, keepalive, delayed ACK, TIME-WAIT).
//!
//! Not here: 4-tuple lookup, listening sockets, ISN choice and RSTs for unknown connections (the demultiplexer),
//! and IP/checksums (the stack emits [`OutgoingSegment`]s).

use std::net::SocketAddrV4;

use runtime::{Fail, Sga};

use super::autotune::Tuning;
use super::congestion::{CongestionControl, Controller, HyStart, new_controller};
use super::counters::TcpCounters;
use super::memory_limit::{MemoryCharge, MemoryLimit};
use super::rack::Rack;
use super::rate_limit::RateLimiter;
use super::reassembly::Reassembly;
use super::receive_queue::ReceiveQueue;
use super::recovery::LossRecovery;
use super::rtt::RttEstimator;
use super::scoreboard::SackScoreboard;
use super::send_buffer::SendBuffer;
use super::sent_segments::SentSegments;
use super::slots::{Slot, Slots};
use super::timers::TimerDeadlines;
use super::timestamps::Timestamps;
use super::tuning_budget::TuningBudget;
use super::{Nanos, OutgoingSegment, TcpConfig, TcpState};
use crate::wire::{SeqNumber, TcpOptions, TcpRepr};

/// The default MSS when the peer sends no MSS option (RFC 9293 §3.7.1).
pub(crate) const DEFAULT_PEER_MSS: u16 = 536;
/// Bytes a timestamps option takes on every segment (10, padded to 12).
pub(crate) const TIMESTAMPS_OPTION_LEN: usize = 12;

/// How urgently an ACK is owed to the peer.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AckState {
    /// Send an ACK at the next `poll_transmit`.
    pub(crate) now: bool,
    /// The largest payload received so far: the size of a full segment, as far as we can tell (an ACK goes
    /// out at once when more than that is unacknowledged).
    pub(crate) largest_segment: usize,
    /// Out-of-order segments received since the last ACK: each is owed its own duplicate ACK (RFC 5681 §4.2),
    /// even when a batch of them is handled before the next transmit, so the sender can count them.
    pub(crate) duplicates_owed: u32,
    /// The acknowledgment number of the last segment sent (RFC 7323 `Last.ACK.sent`).
    pub(crate) last_ack_sent: SeqNumber,
    /// Duplicate ranges received since the last ACK, each reported as the first SACK block of an ACK of its own
    /// (D-SACK, RFC 2883), so the sender can tell a spurious retransmission from a loss.
    pub(crate) dsacks: PendingDsacks,
}

/// Most D-SACK blocks waiting for an ACK: a batch of more duplicates than this reports the first ones.
const MAX_PENDING_DSACKS: usize = 8;

/// The duplicate ranges owed a D-SACK, oldest first (a fixed array: no allocation per connection).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PendingDsacks {
    ranges: [(SeqNumber, SeqNumber); MAX_PENDING_DSACKS],
    len: u8,
    /// Index of the oldest.
    first: u8,
}

impl PendingDsacks {
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Queues `[start, end)`, unless as many are waiting as fit.
    pub(crate) fn push(&mut self, start: SeqNumber, end: SeqNumber) {
        let len = usize::from(self.len);
        if len < MAX_PENDING_DSACKS {
            self.ranges[(usize::from(self.first) + len) % MAX_PENDING_DSACKS] = (start, end);
            self.len += 1;
        }
    }

    /// Takes the oldest.
    pub(crate) fn pop(&mut self) -> Option<(SeqNumber, SeqNumber)> {
        if self.len == 0 {
            return None;
        }
        let range = self.ranges[usize::from(self.first)];
        self.first = ((usize::from(self.first) + 1) % MAX_PENDING_DSACKS) as u8;
        self.len -= 1;
        Some(range)
    }
}

/// What a read into the caller's array ([`TcpConnection::recv_into`], `Stack::tcp_recv_into`) found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvOutcome {
    /// In-order data, now in the caller's array.
    Data,
    /// The peer's FIN, with everything before it read (the array is left empty).
    EndOfStream,
    /// Nothing to read yet (or a read of at most 0 bytes).
    NotYet,
}

/// One TCP connection. Driven by [`TcpConnection::on_segment`], [`TcpConnection::poll_transmit`] and the
/// application calls; reads no clock and performs no I/O.
pub struct TcpConnection {
    pub(super) config: TcpConfig,
    pub(super) local: SocketAddrV4,
    pub(super) remote: SocketAddrV4,
    pub(super) state: TcpState,
    pub(super) error: Option<Fail>,
    /// The last ICMP error about this synchronized connection (a "soft" error, RFC 1122 §4.2.3.9): reported
    /// instead of ETIMEDOUT if the connection then times out, so the application learns why (EHOSTUNREACH, ...);
    /// forgotten when new data is acknowledged (the path works again).
    pub(super) soft_error: Option<Fail>,
    /// Opened by `accept` (a RST in SYN-RECEIVED then means the peer gave up, not a refusal).
    pub(super) passive: bool,
    /// `shutdown_write`, `close` or `abort` was called: further sends fail with EPIPE.
    pub(super) user_closed: bool,
    /// `close` was called: the application let go of the connection, so FIN-WAIT-2 is bounded by
    /// `fin_wait2_timeout` (after `shutdown_write` alone it is not: the application reads on).
    pub(super) released: bool,

    // Send sequence space (RFC 9293 §3.3.1). SND.NXT is rewound to SND.UNA after a timeout (go-back-N), so
    // SND.MAX keeps the highest sequence number sent.
    pub(super) iss: SeqNumber,
    pub(super) snd_una: SeqNumber,
    pub(super) snd_nxt: SeqNumber,
    pub(super) snd_max: SeqNumber,
    /// The end of the last segment of new data shorter than the MSS: Nagle holds a small segment only while
    /// such a segment is unacknowledged (see [`Self::nagle_holds`]).
    pub(super) snd_sml: SeqNumber,
    /// The peer's window, scaled.
    pub(super) snd_wnd: u32,
    pub(super) max_snd_wnd: u32,
    pub(super) snd_wl1: SeqNumber,
    pub(super) snd_wl2: SeqNumber,
    /// The peer's window scale shift (applied to windows it advertises).
    pub(super) snd_shift: u8,
    /// Largest payload we send per segment: the negotiated MSS within the path's limit, less the timestamps
    /// option (`segment_payload_limit`, kept here for the per-segment paths).
    pub(super) send_mss: usize,
    /// The MSS agreed in the handshake (ours and the peer's, the smaller; ours until then).
    pub(super) negotiated_mss: usize,
    /// The largest segment (payload and options) the path takes, from ICMP fragmentation-needed errors
    /// (`tcp/path_mtu.rs`); `usize::MAX` while none is known.
    pub(super) path_mss: usize,
    /// The search for a larger path MTU after a black hole (`tcp/mtu_probe.rs`), if one runs.
    pub(super) mtu_search: Option<super::mtu_probe::MtuSearch>,
    /// When the general path next has path MTU work: while a search runs, its next probe; otherwise forgetting
    /// a `path_mss` learned from ICMP (RFC 1191 §6.3). `NEVER` while neither is due (no MTU learned, a probe in
    /// flight). One deadline for the output fast path's test, which leaves both to the general path.
    pub(super) path_mtu_due: Nanos,
    pub(super) send_buffer: SendBuffer,
    /// The sequence number of our FIN, once `close` fixed it (after all queued data).
    pub(super) fin_seq: Option<SeqNumber>,

    // Receive sequence space.
    pub(super) irs: SeqNumber,
    pub(super) rcv_nxt: SeqNumber,
    /// The right edge of the window we last advertised; never moves left (RFC 9293 §3.8.6.2.2).
    pub(super) rcv_adv: SeqNumber,
    /// Our window scale shift (applied to windows we advertise).
    pub(super) rcv_shift: u8,
    pub(super) receive_queue: ReceiveQueue,
    /// The receive buffer: `TcpConfig::recv_buffer`, grown by auto-tuning (`autotune.rs`) when it runs.
    pub(super) rcv_buffer: usize,
    /// Buffer auto-tuning's state (`autotune.rs`), for a connection with `TcpConfig::recv_buffer_max` or
    /// `send_buffer_max`: boxed, so that a connection that does not tune carries one empty pointer.
    pub(super) tuning: Option<Box<Tuning>>,
    pub(super) reassembly: Reassembly,
    /// What the receive and reassembly queues hold, charged to the stack's limit on received data
    /// (`memory_limit.rs`).
    pub(super) receive_memory: MemoryCharge,
    /// The stack's TIME-WAIT slot this connection takes when it enters TIME-WAIT (`slots.rs`).
    pub(super) time_wait_slot: Slot,
    /// The stack's orphan slot this connection takes when the application closes it, until it closes or enters
    /// TIME-WAIT (`slots.rs`).
    pub(super) orphan_slot: Slot,
    /// Where the peer's FIN sits, once seen (possibly ahead of RCV.NXT).
    pub(super) peer_fin: Option<SeqNumber>,
    /// The peer's FIN has been reached: end of stream.
    pub(super) eof: bool,

    // Options (RFC 7323, RFC 2018), as negotiated.
    pub(super) timestamps: Option<Timestamps>,
    pub(super) sack_enabled: bool,
    /// RACK-TLP runs on this connection: configured and SACK negotiated (fixed by the handshake; kept to spare
    /// the two loads [`Self::rack_active`] would otherwise make several times per segment).
    pub(super) rack_enabled: bool,
    /// Both ends sent the window scale option (so the shifts apply and our SYN-ACK carries it).
    pub(super) window_scaling: bool,

    pub(super) ack: AckState,
    pub(super) timers: TimerDeadlines,
    pub(super) rtt: RttEstimator,
    /// The segment being timed (its end and when it was sent), per Karn's rule: the RTT samples, measured on
    /// the stack's nanosecond clock.
    pub(super) timed_segment: Option<(SeqNumber, Nanos)>,
    /// A retransmission voided the timed segment (Karn's rule): until a new one is timed and acknowledged, the
    /// samples come from echoed timestamps, which tell the ACK of a retransmission from the original's.
    pub(super) timing_voided: bool,
    /// Consecutive retransmission timeouts.
    pub(super) retries: u32,
    pub(super) congestion: Controller,
    /// HyStart++ (RFC 9406): ends the first slow start when the round trip grows (`recovery.rs` feeds it).
    pub(super) hystart: HyStart,
    /// Explicit Congestion Notification (`ecn.rs`).
    pub(super) ecn: super::ecn::Ecn,
    /// With pacing on, when the next paced segment may leave (`pacing.rs`).
    pub(super) pacing_next: Nanos,
    pub(super) recovery: LossRecovery,
    /// The current recovery's undo, while D-SACKs may still show it spurious (`undo.rs`).
    pub(super) undo: Option<Box<super::undo::Undo>>,
    /// The last retransmission timeout's undo, until the next ACK shows whether it was spurious
    /// (`spurious_timeout.rs`).
    pub(super) timeout_undo: Option<Box<super::spurious_timeout::TimeoutUndo>>,
    pub(super) scoreboard: SackScoreboard,
    /// Segments sent and not yet acknowledged, with their transmit times (kept only while RACK-TLP runs).
    pub(super) sent_segments: SentSegments,
    pub(super) rack: Rack,
    /// Segments built outside `poll_transmit` (RSTs, challenge ACKs), sent at the next call.
    pub(super) control: Vec<OutgoingSegment>,
    pub(super) challenge_limiter: RateLimiter,
    pub(super) out_of_window_limiter: RateLimiter,
    pub(super) counters: TcpCounters,
    /// When the last segment arrived (keepalive idle time).
    pub(super) last_received: Nanos,
    /// When data (or a FIN) was last sent, or sending last resumed after idling: the idle period that
    /// [`Self::resume_after_idle`] accounts for begins here.
    pub(super) last_send: Nanos,
    /// A read started the idle trim timer (`idle_trim.rs`): the stack must poll the connection to schedule it.
    pub(super) trim_armed_by_read: bool,
}

impl std::fmt::Debug for TcpConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpConnection")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("state", &self.state)
            .field("snd_una", &self.snd_una)
            .field("snd_nxt", &self.snd_nxt)
            .field("rcv_nxt", &self.rcv_nxt)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl TcpConnection {
    pub(super) fn new(
        config: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNumber,
        ts_offset: u32,
        now: Nanos,
    ) -> Self {
        let mss = usize::from(config.effective_mss());
        Self {
            // The fast paths do not pace (`pacing.rs`): a pacing connection takes the general paths.
            config: TcpConfig { fast_paths: config.fast_paths && !config.pacing, ..config.clone() },
            local,
            remote,
            state: TcpState::Closed,
            error: None,
            soft_error: None,
            passive: false,
            user_closed: false,
            released: false,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_sml: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            snd_shift: 0,
            send_mss: mss,
            negotiated_mss: mss,
            path_mss: usize::MAX,
            mtu_search: None,
            path_mtu_due: Nanos::NEVER,
            send_buffer: SendBuffer::new(config.send_buffer, MemoryLimit::new(config.send_memory)),
            fin_seq: None,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            rcv_adv: SeqNumber(0),
            rcv_shift: if config.window_scale { config.receive_window_shift() } else { 0 },
            receive_queue: ReceiveQueue::default(),
            rcv_buffer: config.recv_buffer,
            tuning: Tuning::for_config(config).map(Box::new),
            reassembly: Reassembly::new(config.out_of_order_limit()),
            receive_memory: MemoryCharge::new(MemoryLimit::new(config.receive_memory)),
            time_wait_slot: Slot::new(Slots::new(config.max_time_wait)),
            orphan_slot: Slot::new(Slots::new(config.max_orphans)),
            peer_fin: None,
            eof: false,
            timestamps: config.timestamps.then(|| Timestamps::new(ts_offset)),
            sack_enabled: config.sack,
            rack_enabled: config.rack_tlp && config.sack,
            window_scaling: config.window_scale,
            ack: AckState::default(),
            timers: TimerDeadlines::default(),
            rtt: RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto),
            timed_segment: None,
            timing_voided: false,
            retries: 0,
            congestion: new_controller(config.congestion, mss, config.initial_window_segments),
            hystart: HyStart::new(config.hystart && config.rack_tlp && config.sack),
            ecn: super::ecn::Ecn::new(iss),
            pacing_next: Nanos::ZERO,
            recovery: LossRecovery::new(iss),
            undo: None,
            timeout_undo: None,
            scoreboard: SackScoreboard::default(),
            sent_segments: SentSegments::default(),
            rack: Rack::default(),
            control: Vec::new(),
            challenge_limiter: RateLimiter::new(config.challenge_ack_limit),
            out_of_window_limiter: RateLimiter::new(config.challenge_ack_limit),
            counters: TcpCounters::default(),
            last_received: now,
            last_send: now,
            trim_armed_by_read: false,
        }
    }

    /// Active open: state SYN-SENT; the first `poll_transmit` emits the SYN.
    ///
    /// `iss` is the initial sequence number; `ts_offset` what the timestamp clock reads at time zero (TSval =
    /// `ts_offset` + the milliseconds since zero, when timestamps are on): a stack derives it from a keyed hash
    /// of the two addresses, so that the clock reveals nothing (RFC 7323 §7.1) and runs on from one connection
    /// with a peer to the next (a new incarnation's timestamps are newer, RFC 6191).
    pub fn connect(
        config: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNumber,
        ts_offset: u32,
        now: Nanos,
    ) -> Self {
        let mut connection = Self::new(config, local, remote, iss, ts_offset, now);
        connection.state = TcpState::SynSent;
        connection.ecn.await_syn_ack(config.accurate_ecn);
        connection
    }

    /// Passive open from a listener that received `syn` (already validated as a SYN without ACK) with the IP-ECN
    /// field `syn_ecn_field`: state SYN-RECEIVED; the first `poll_transmit` emits the SYN-ACK.
    /// `iss` and `ts_offset` as for [`Self::connect`].
    #[allow(clippy::too_many_arguments)]
    pub fn accept(
        config: &TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr<'_>,
        syn_ecn_field: u8,
        iss: SeqNumber,
        ts_offset: u32,
        now: Nanos,
    ) -> Self {
        let mut connection = Self::new(config, local, remote, iss, ts_offset, now);
        connection.state = TcpState::SynReceived;
        connection.passive = true;
        connection.ecn.set_syn_field(syn_ecn_field);
        connection.on_peer_syn(now, syn);
        connection.counters.segments_in += 1;
        connection
    }

    /// Whether `segment` is an ACK (no SYN or RST) that a connection in SYN-RECEIVED cannot take: it
    /// acknowledges something other than our SYN-ACK (the ACK of a SYN cookie's SYN-ACK, sent before this
    /// connection existed for a SYN the peer repeated, say).
    pub fn refuses_handshake_ack(&self, segment: &TcpRepr<'_>) -> bool {
        self.state == TcpState::SynReceived
            && !segment.flags.syn()
            && !segment.flags.rst()
            && segment.ack_number.is_some_and(|ack| ack != self.iss + 1)
    }

    /// A connection just made by [`Self::accept`] from a SYN cookie's handshake: our SYN-ACK (whose sequence
    /// number was the cookie, the ISS) went out already, so the ACK that brought the cookie back completes the
    /// handshake.
    pub fn syn_ack_was_sent(&mut self) {
        self.snd_nxt = self.iss + 1;
        self.snd_max = self.iss + 1;
        let window = self.config.recv_buffer.min(usize::from(u16::MAX));
        self.rcv_adv = self.rcv_adv.max(self.rcv_nxt + window as u32);
    }

    /// Records the peer's SYN: its sequence number, window and options (RFC 9293 §3.10.7.2-3).
    pub(super) fn on_peer_syn(&mut self, now: Nanos, syn: &TcpRepr<'_>) {
        self.irs = syn.seq_number;
        self.rcv_nxt = syn.seq_number + 1;
        self.rcv_adv = self.rcv_nxt;
        self.ack.last_ack_sent = self.rcv_nxt;
        self.negotiate(&syn.options);
        self.negotiate_ecn(syn.flags, syn.ack_number.is_some());
        // The window of a SYN is never scaled (RFC 7323 §2.2).
        self.snd_wnd = u32::from(syn.window_len);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = syn.seq_number;
        if let (Some(timestamps), Some(theirs)) = (self.timestamps.as_mut(), syn.options.timestamps) {
            timestamps.update_recent(theirs.value, now);
        }
        self.last_received = now;
    }

    /// Settles the options both ends offered (RFC 9293 §3.7.1, RFC 7323 §2.2 and §3.2, RFC 2018 §2).
    fn negotiate(&mut self, theirs: &TcpOptions) {
        let peer_mss = theirs.mss.unwrap_or(DEFAULT_PEER_MSS).max(64);
        self.negotiated_mss = usize::from(peer_mss.min(self.config.effective_mss()));
        match (self.config.window_scale, theirs.window_scale) {
            (true, Some(shift)) => {
                self.snd_shift = shift;
                self.window_scaling = true;
            }
            _ => {
                self.window_scaling = false;
                self.snd_shift = 0;
                self.rcv_shift = 0;
                self.stop_receive_tuning();
            }
        }
        if theirs.timestamps.is_none() {
            // Receive-buffer tuning then times windows instead (`autotune.rs`).
            self.timestamps = None;
        }
        self.sack_enabled = self.config.sack && theirs.sack_permitted;
        self.rack_enabled = self.config.rack_tlp && self.sack_enabled;
        // HyStart++ needs an RTT per ACK, which the per-segment send times RACK keeps give.
        self.hystart = HyStart::new(self.config.hystart && self.rack_enabled);
        self.send_mss = self.segment_payload_limit();
    }

    /// The handshake completed: enter ESTABLISHED (or FIN-WAIT-1 if `close` came first) and size the
    /// congestion window for the negotiated MSS.
    pub(super) fn establish(&mut self) {
        self.congestion = new_controller(self.config.congestion, self.send_mss, self.config.initial_window_segments);
        self.retries = 0;
        self.state = if self.fin_seq.is_some() { TcpState::FinWait1 } else { TcpState::Established };
    }

    /// The connection failed: record why and stop.
    pub(super) fn fail(&mut self, error: Fail) {
        self.error = Some(error);
        self.enter_closed();
    }

    pub(super) fn enter_closed(&mut self) {
        self.state = TcpState::Closed;
        self.time_wait_slot.release();
        self.orphan_slot.release();
        self.timers = TimerDeadlines::default();
        self.ack.now = false;
    }

    /// The first sequence number in the send buffer (after our SYN).
    pub(super) fn send_base(&self) -> SeqNumber {
        if self.snd_una == self.iss { self.iss + 1 } else { self.snd_una }
    }

    /// The sequence number just after the last queued byte.
    pub(super) fn data_end(&self) -> SeqNumber {
        self.send_base() + self.send_buffer.len() as u32
    }

    pub(super) fn fin_acked(&self) -> bool {
        self.fin_seq.is_some_and(|fin| self.snd_una > fin)
    }

    /// Tests: (ISS, IRS), which name the connection at both ends (IRS is zero before a SYN arrives).
    #[cfg(test)]
    pub(crate) fn initial_sequence_numbers(&self) -> (SeqNumber, SeqNumber) {
        (self.iss, self.irs)
    }

    pub fn state(&self) -> TcpState {
        self.state
    }

    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    pub fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    /// The largest payload this connection puts in one segment (the negotiated MSS less options).
    pub fn send_mss(&self) -> usize {
        self.send_mss
    }

    /// The smoothed round-trip time (RFC 6298 SRTT), once measured.
    pub fn smoothed_rtt(&self) -> Option<std::time::Duration> {
        self.rtt.srtt().map(Nanos::as_duration)
    }

    /// The current retransmission timeout, backoff included.
    pub fn retransmission_timeout(&self) -> std::time::Duration {
        self.rtt.rto().as_duration()
    }

    /// The peer's window (scaled) as last advertised.
    pub fn send_window(&self) -> u32 {
        self.snd_wnd
    }

    /// The congestion window in bytes.
    pub fn congestion_window(&self) -> usize {
        self.congestion.window()
    }

    /// Makes buffer auto-tuning take from `budget`, shared with other connections (a stack hands each of its
    /// connections its own), instead of the budget of its own the connection was made with.
    pub fn share_tuning_budget(&mut self, budget: &TuningBudget) {
        if let Some(tuning) = self.tuning.as_mut() {
            tuning.grant.move_to(budget);
        }
    }

    /// Makes what the connection holds of received data count against `memory`, shared with other connections
    /// (a stack hands each of its connections its own), instead of the limit of its own it was made with.
    pub fn share_receive_memory(&mut self, memory: &MemoryLimit) {
        self.receive_memory.move_to(memory);
    }

    /// Makes what the connection holds of data to send count against `memory`, shared with other connections
    /// (a stack hands each of its connections its own), instead of the limit of its own it was made with.
    pub fn share_send_memory(&mut self, memory: &MemoryLimit) {
        self.send_buffer.share_memory(memory);
    }

    /// Makes the connection take its TIME-WAIT slot from `slots`, shared with other connections (a stack hands
    /// each of its connections its own), instead of the slots of its own it was made with.
    pub fn share_time_wait_slots(&mut self, slots: &Slots) {
        self.time_wait_slot.move_to(slots);
    }

    /// Makes the connection take its orphan slot from `slots`, shared with other connections (a stack hands each
    /// of its connections its own), instead of the slots of its own it was made with.
    pub fn share_orphan_slots(&mut self, slots: &Slots) {
        self.orphan_slot.move_to(slots);
    }

    /// Whether every byte queued so far has been acknowledged (the send buffer is empty).
    #[inline]
    pub fn nothing_to_send(&self) -> bool {
        self.send_buffer.len() == 0
    }

    /// Queues data; returns how many bytes were accepted (fewer than `sga.len()` when the send buffer is full;
    /// 0 means try again later). Errors: the connection's error if it failed, ENOTCONN before the handshake
    /// completes, EPIPE after `close`/`abort` or once closed.
    #[inline]
    pub fn send(&mut self, sga: &Sga) -> Result<usize, Fail> {
        let open = matches!(self.state, TcpState::Established | TcpState::CloseWait);
        if open && self.error.is_none() && !self.user_closed && self.fin_seq.is_none() {
            return Ok(self.send_buffer.push(sga));
        }
        Err(self.send_refused())
    }

    /// Why [`Self::send`] takes nothing: the connection's error, else EPIPE once closed for sending, else
    /// ENOTCONN before the handshake completes (out of line: the common send is the open connection's).
    #[cold]
    #[inline(never)]
    fn send_refused(&self) -> Fail {
        if let Some(error) = &self.error {
            return error.clone();
        }
        if self.user_closed || self.fin_seq.is_some() {
            return Fail::new(libc::EPIPE, "connection closed for sending");
        }
        match self.state {
            TcpState::SynSent | TcpState::SynReceived => Fail::new(libc::ENOTCONN, "connection not established"),
            _ => Fail::new(libc::EPIPE, "connection closed"),
        }
    }

    /// An ICMP destination-unreachable about one of our segments (RFC 1122 §4.2.3.9, RFC 5461). During an
    /// active open it aborts the connection with `error` (ECONNREFUSED, EHOSTUNREACH...), as Linux does;
    /// once synchronized it is a soft error: the connection keeps trying (its own timers decide), and if it then
    /// times out, the error is this one rather than ETIMEDOUT (as Linux reports `sk_err_soft`).
    pub fn on_icmp_unreachable(&mut self, error: Fail) {
        if self.state == TcpState::SynSent {
            self.fail(error);
        } else {
            self.on_icmp_soft_error(error);
        }
    }

    /// An ICMP error that never ends the connection by itself (RFC 1122 §4.2.3.9: time exceeded, and
    /// unreachables outside SYN-SENT): kept, and reported if the connection then times out.
    pub fn on_icmp_soft_error(&mut self, error: Fail) {
        if self.state != TcpState::Closed {
            self.soft_error = Some(error);
        }
    }

    /// Fails the connection for a timeout: with the last soft error if there was one, else ETIMEDOUT.
    pub(super) fn fail_timed_out(&mut self, what: &str) {
        let error = match self.soft_error.take() {
            Some(soft) => Fail::with_context(soft.errno(), format!("{what}; last ICMP error: {}", soft.cause())),
            None => Fail::with_context(libc::ETIMEDOUT, what.to_owned()),
        };
        self.fail(error);
    }

    /// TCP_NODELAY: send small segments at once instead of coalescing them (Nagle).
    pub fn set_nodelay(&mut self, on: bool) {
        self.config.nodelay = on;
    }

    pub fn nodelay(&self) -> bool {
        self.config.nodelay
    }

    /// Whether Nagle's algorithm (RFC 896, RFC 1122 §4.2.3.4) holds back a segment shorter than the MSS, with
    /// `in_flight` bytes unacknowledged. Minshall's variant, as Linux: only while an earlier small segment is
    /// unacknowledged, not behind full-sized ones. So a write that ends in a partial segment goes out whole at
    /// once instead of its tail waiting for the ACK of the full segments before it, which a receiver may
    /// delay (the Nagle/delayed-ACK stall); a stream of small writes still coalesces.
    #[inline]
    pub(super) fn nagle_holds(&self, in_flight: usize) -> bool {
        !self.config.nodelay && in_flight > 0 && self.snd_sml > self.snd_una && self.snd_sml <= self.snd_nxt
    }

    /// SO_KEEPALIVE: idle time before keepalive probes start; `None` turns them off.
    pub fn set_keepalive(&mut self, idle: Option<std::time::Duration>) {
        self.config.keepalive = idle;
    }

    pub fn keepalive(&self) -> Option<std::time::Duration> {
        self.config.keepalive
    }

    pub fn send_buffer_free(&self) -> usize {
        self.send_buffer.free()
    }

    /// Received in-order data, at most `max_len` bytes: `Ok(None)` if nothing yet, `Ok(Some(empty))` at end of
    /// stream. Data received before a reset is delivered before the error.
    #[inline]
    pub fn recv(&mut self, max_len: usize) -> Result<Option<Sga>, Fail> {
        let mut out = Sga::new();
        match self.recv_into(max_len, &mut out)? {
            RecvOutcome::Data => Ok(Some(out)),
            RecvOutcome::EndOfStream => Ok(Some(Sga::new())),
            RecvOutcome::NotYet => Ok(None),
        }
    }

    /// [`recv`](Self::recv) into the caller's array: `out` is cleared, then on [`RecvOutcome::Data`] holds the
    /// data (at most `max_len` bytes); otherwise it is left empty.
    #[inline]
    pub fn recv_into(&mut self, max_len: usize, out: &mut Sga) -> Result<RecvOutcome, Fail> {
        out.clear();
        if !self.receive_queue.is_empty() && max_len > 0 {
            let taken = self.receive_queue.pop_into(max_len, out);
            self.charge_received();
            if let Some(tune) = self.tuning.as_mut().and_then(|t| t.receive.as_mut()) {
                tune.copied += taken;
            }
            self.on_application_read();
            self.note_receive_queue_read();
            return Ok(RecvOutcome::Data);
        }
        // The poll that finds nothing, as a read loop's last call does: an open connection with no data.
        if !self.eof && self.error.is_none() && self.state != TcpState::Closed {
            return Ok(RecvOutcome::NotYet);
        }
        if self.eof && self.receive_queue.is_empty() {
            return Ok(RecvOutcome::EndOfStream);
        }
        match self.recv_error() {
            Some(error) => Err(error),
            None => Ok(RecvOutcome::NotYet),
        }
    }

    /// The error [`Self::recv_into`] reports without data on a connection that failed or is closed (out of
    /// line: once per connection; only the error goes through memory, not every read's outcome).
    #[cold]
    #[inline(never)]
    fn recv_error(&self) -> Option<Fail> {
        if let Some(error) = &self.error {
            return Some(error.clone());
        }
        (self.state == TcpState::Closed).then(|| Fail::new(libc::ENOTCONN, "connection closed"))
    }

    /// Orderly close by an application that lets go of the connection: [`Self::shutdown_write`], and
    /// FIN-WAIT-2 then waits at most `fin_wait2_timeout` for the peer's FIN (from `now` if the connection is
    /// there already, half-closed before). The receive side stays open until the peer's FIN.
    ///
    /// The connection is then an orphan until it closes or enters TIME-WAIT, in one of the stack's slots for them;
    /// with none left, it is reset instead (`slots.rs`).
    pub fn close(&mut self, now: Nanos) {
        self.released = true;
        self.shutdown_write();
        if !matches!(self.state, TcpState::Closed | TcpState::TimeWait) && !self.orphan_slot.take() {
            self.counters.orphans_reset += 1;
            self.abort();
            return;
        }
        if self.state == TcpState::FinWait2 && self.timers.close.is_never() {
            self.timers.close = now.saturating_add(Nanos::from_duration(self.config.fin_wait2_timeout));
        }
    }

    /// Half-close (`shutdown(SHUT_WR)`): a FIN follows the queued data, and the application keeps the
    /// connection to read the peer's data, so FIN-WAIT-2 waits for the peer's FIN as long as the peer takes:
    /// RFC 9293 §3.6 lets the side that closed receive until the other closes too; `fin_wait2_timeout` is for
    /// connections nobody holds, as Linux's `tcp_fin_timeout` is for orphaned sockets.
    pub fn shutdown_write(&mut self) {
        self.user_closed = true;
        match self.state {
            TcpState::SynSent | TcpState::Listen => self.enter_closed(),
            TcpState::SynReceived | TcpState::Established | TcpState::CloseWait => {
                if self.fin_seq.is_none() {
                    self.fin_seq = Some(self.data_end());
                }
                self.state = match self.state {
                    TcpState::Established => TcpState::FinWait1,
                    TcpState::CloseWait => TcpState::LastAck,
                    other => other,
                };
            }
            _ => {}
        }
    }

    /// Abortive close: a RST now (if the peer knows of us), then CLOSED.
    pub fn abort(&mut self) {
        self.user_closed = true;
        let peer_knows_us = self.state.is_synchronized() || self.state == TcpState::SynReceived;
        if peer_knows_us && self.state != TcpState::TimeWait {
            let rst = self.reset_segment(self.snd_max, Some(self.rcv_nxt));
            self.control.push(rst);
        }
        self.enter_closed();
    }

    /// Why the connection failed: ECONNREFUSED, ECONNRESET or ETIMEDOUT.
    pub fn error(&self) -> Option<Fail> {
        self.error.clone()
    }

    /// CLOSED with nothing left to send: the demultiplexer may drop the connection.
    pub fn is_closed(&self) -> bool {
        self.state == TcpState::Closed && self.control.is_empty()
    }

    pub fn counters(&self) -> &TcpCounters {
        &self.counters
    }

    /// (readable: data, end of stream or an error; writable: send buffer space, or an error to report).
    pub fn readiness(&self) -> (bool, bool) {
        let failed = self.error.is_some();
        let readable = !self.receive_queue.is_empty() || self.eof || failed;
        let can_queue = self.state.can_send() && self.fin_seq.is_none() && self.send_buffer.room() > 0;
        (readable, failed || self.user_closed || can_queue)
    }

    /// Whether `poll_transmit` would send nothing and change nothing until a timer is due: ESTABLISHED, no ACK
    /// owed, no control segment queued, nothing unacknowledged, unsent or marked for retransmission, no FIN to
    /// send and no persist timer. The demultiplexer skips polling such a connection after a segment or a read
    /// (its deadlines still go to the timer heap); anything else is polled, so this may say `false` when in
    /// doubt but never `true` wrongly.
    pub fn is_quiet(&self) -> bool {
        self.state == TcpState::Established
            && !self.ack.now
            && self.control.is_empty()
            && self.snd_una == self.snd_max
            && self.snd_nxt == self.snd_max
            && self.data_end() == self.snd_max
            && self.fin_seq.is_none()
            && !self.recovery.retransmit_head
            && self.timers.persist.is_never()
    }

    /// Whether an ACK (a window update, say) is due at the next `poll_transmit`.
    pub fn owes_ack(&self) -> bool {
        self.ack.now
    }

    /// Whether a read started a timer the stack has not scheduled yet (it polls the connection to learn of it);
    /// cleared by asking.
    #[inline]
    pub fn take_timer_armed_by_read(&mut self) -> bool {
        if !self.trim_armed_by_read {
            return false;
        }
        self.trim_armed_by_read = false;
        true
    }

    /// When `poll_transmit` next needs calling (RTO, delayed ACK, persist, keepalive, idle trim, TIME-WAIT end):
    /// [`Nanos::NEVER`] if no timer runs.
    #[inline]
    pub fn next_deadline(&self) -> Nanos {
        self.timers.earliest(self.idle_deadline())
    }

    /// What the connection's limit on received data counts as held by all the connections sharing it.
    #[cfg(test)]
    pub(crate) fn receive_memory_held(&self) -> usize {
        self.receive_memory.held()
    }

    /// Bytes waiting in the receive queue, bytes and fragments held for reassembly (memory accounting).
    pub fn buffered_receive(&self) -> (usize, usize, usize) {
        (self.receive_queue.len(), self.reassembly.bytes(), self.reassembly.fragment_count())
    }
}
