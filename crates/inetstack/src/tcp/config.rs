//! [`TcpConfig`]: the per-connection parameters of the TCP state machine, with defaults close to what common
//! stacks use, and [`CongestionAlgorithm`], the choice of congestion controller.
//!
//! Not for per-stack settings (ephemeral port range, SYN queue length): those belong to the demultiplexer.

use std::time::Duration;

use runtime::Fail;

/// Which congestion controller a connection runs (see [`super::congestion`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CongestionAlgorithm {
    /// CUBIC (RFC 9438): the default, as on Linux.
    #[default]
    Cubic,
    /// NewReno (RFC 5681 slow start and congestion avoidance, RFC 6582 fast recovery).
    NewReno,
    /// DCTCP (RFC 8257): NewReno whose response to ECN marks scales with the fraction of bytes marked, for
    /// networks whose switches mark at a shallow queue (a data centre). It asks for ECN whatever `ecn` says.
    Dctcp,
}

/// Parameters of one TCP connection. Every field has a sensible default ([`TcpConfig::default`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// The MSS we advertise and the largest payload we ever send (RFC 9293 §3.7.1, RFC 6691). For Ethernet with
    /// a 1500-byte MTU, 1460.
    pub mss: u16,
    /// Receive buffer in bytes: the most in-order data held for the application, and so the largest window we
    /// advertise.
    pub recv_buffer: usize,
    /// Receive-buffer auto-tuning (`tcp/autotune.rs`): how far a connection whose application keeps up may grow
    /// its receive buffer from `recv_buffer`, a round trip at a time, so that the window does not limit a path
    /// with a large bandwidth-delay product. Needs window scaling (not timestamps). 6 MiB by default (Linux's
    /// `tcp_rmem` maximum); at or below `recv_buffer`, or `None`, the buffer stays at `recv_buffer`. The window
    /// scale we offer covers it (shift 7 for the default).
    pub recv_buffer_max: Option<usize>,
    /// Send buffer in bytes: unacknowledged plus unsent data.
    pub send_buffer: usize,
    /// Send-buffer auto-tuning (`tcp/autotune.rs`): how far a connection whose application fills its send
    /// buffer may grow it from `send_buffer` (to twice the congestion window, as Linux), so that the buffer does
    /// not hold back a sender that the network would let send more. 4 MiB by default (Linux's `tcp_wmem`
    /// maximum); at or below `send_buffer`, or `None`, the buffer stays at `send_buffer`.
    pub send_buffer_max: Option<usize>,
    /// The most auto-tuning may add to the buffers of all of a stack's connections together, in bytes
    /// (`tcp/tuning_budget.rs`; 256 MiB by default): a growth takes what it adds from it, and a connection gives
    /// it back when it is freed. A connection made outside a stack has a budget of its own of this size.
    pub autotune_budget: usize,
    /// The most received data all of a stack's connections may hold together, in order or out of order, in
    /// bytes (`tcp/memory_limit.rs`; 1 GiB by default, as Linux bounds its TCP memory with `tcp_mem`). Past it
    /// a connection takes no more data and its window stops growing, unless it holds less than 4 KiB. A
    /// connection made outside a stack has a limit of its own of this size.
    pub receive_memory: usize,
    /// The most data waiting to be sent or acknowledged that all of a stack's connections may hold together, in
    /// bytes (`tcp/memory_limit.rs`; 1 GiB by default). Past it a push takes nothing more (it waits, as for a
    /// full send buffer), unless the connection holds less than 4 KiB. A connection made outside a stack has a
    /// limit of its own of this size.
    pub send_memory: usize,
    /// The most connections of a stack in TIME-WAIT at once (`tcp/slots.rs`; 65 536 by default, Linux's
    /// `tcp_max_tw_buckets`); past it a connection that would enter TIME-WAIT closes at once. A connection made
    /// outside a stack has a limit of its own of this size.
    pub max_time_wait: usize,
    /// The most orphans of a stack at once: connections the application closed that are not yet closed nor in
    /// TIME-WAIT (`tcp/slots.rs`; 65 536 by default, Linux's `tcp_max_orphans`); past it the application's close
    /// resets the connection. A connection made outside a stack has a limit of its own of this size.
    pub max_orphans: usize,
    /// Disables Nagle's algorithm (TCP_NODELAY): small segments go out even with data in flight.
    pub nodelay: bool,
    /// How long an ACK may be delayed (RFC 1122 §4.2.3.2, RFC 5681 §4.2); zero acknowledges every segment.
    pub delayed_ack: Duration,
    /// How long TIME-WAIT lasts (2 MSL, RFC 9293 §3.6.1).
    pub time_wait: Duration,
    /// Retransmissions of a SYN (or SYN-ACK) before the open fails with ETIMEDOUT.
    pub syn_retries: u32,
    /// Retransmissions of data or FIN (or unanswered probes) before the connection fails with ETIMEDOUT.
    pub max_retransmits: u32,
    /// Floor of the retransmission timeout (RFC 6298 §2.4 says 1 s; Linux uses 200 ms).
    pub min_rto: Duration,
    /// Ceiling of the retransmission timeout after backoff (RFC 6298 §2.5: at least 60 s).
    pub max_rto: Duration,
    /// Retransmission timeout before the first RTT measurement (RFC 6298 §2.1: 1 s).
    pub initial_rto: Duration,
    /// Idle time before keepalive probes start (SO_KEEPALIVE, RFC 1122 §4.2.3.6); `None` disables keepalive.
    pub keepalive: Option<Duration>,
    /// Time between unanswered keepalive probes.
    pub keepalive_interval: Duration,
    /// Unanswered keepalive probes before the connection fails with ETIMEDOUT.
    pub keepalive_probes: u32,
    /// How long FIN-WAIT-2 waits for the peer's FIN after our FIN was acknowledged, before giving up.
    pub fin_wait2_timeout: Duration,
    /// Offer the window scale option (RFC 7323 §2).
    pub window_scale: bool,
    /// Offer the timestamps option (RFC 7323 §3-5: RTT measurement and PAWS).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018) and use SACK-based loss recovery (RFC 6675) when the peer agrees.
    pub sack: bool,
    /// With SACK, detect loss by time (RACK) and probe tail losses (TLP), RFC 8985, instead of RFC 6675's
    /// DupThresh and `IsLost`; off keeps RFC 6675 (and NewReno without SACK either way).
    pub rack_tlp: bool,
    /// The congestion controller.
    pub congestion: CongestionAlgorithm,
    /// Spread new data over the round trip at Linux's pacing rate (cwnd / SRTT, doubled in slow start, times 1.2
    /// after) instead of sending each burst the ACKs release at once (`tcp/pacing.rs`): for paths whose
    /// bottleneck queue is shallower than a window. Off by default, as Linux paces CUBIC only under the fq
    /// qdisc; a pacing connection takes the general paths (as with `fast_paths` off).
    pub pacing: bool,
    /// Explicit Congestion Notification (RFC 3168, `tcp/ecn.rs`): offer it on active opens, accept it on passive
    /// ones; on a connection where both ends agree, new data goes out ECN-capable and a router's congestion
    /// mark halves the window without a loss. Off by default (Linux, by default, accepts ECN but does not ask
    /// for it).
    pub ecn: bool,
    /// Accurate ECN (RFC 9768, `tcp/ecn.rs`): ask for it on active opens and accept it on passive ones; the
    /// receiver then reports every congestion mark (the ACE field), not one per round trip. Implies `ecn`: a
    /// peer that answers with RFC 3168 gets classic ECN. Off by default.
    pub accurate_ecn: bool,
    /// Without timestamps, tell a spurious retransmission timeout from a loss by the ACKs that follow it (F-RTO,
    /// RFC 5682) and undo it (`tcp/spurious_timeout.rs`; with timestamps the echoed TSval tells, always). On by
    /// default, as on Linux.
    pub frto: bool,
    /// End the first slow start when the round trip grows, before the bottleneck's queue overflows: HyStart++
    /// (RFC 9406), for either controller. It runs where RACK-TLP does (its per-segment send times give the RTT
    /// of every ACK); elsewhere the first slow start ends at the first loss, as later ones do.
    pub hystart: bool,
    /// Initial congestion window in segments (RFC 6928: 10).
    pub initial_window_segments: u32,
    /// Most out-of-order segments held for reassembly; beyond it, new out-of-order segments are dropped (their
    /// bytes are bounded by the receive window anyway; this bounds the bookkeeping and the buffers that many
    /// tiny segments would hold). `None` (the default): a full receive buffer of 536-byte segments (the MSS a
    /// peer assumes when none is announced, RFC 9293 §3.7.1), at least 256 and at most 8192; see
    /// [`TcpConfig::out_of_order_limit`].
    pub max_out_of_order_fragments: Option<usize>,
    /// Most challenge ACKs sent per second (RFC 5961 §7).
    pub challenge_ack_limit: u32,
    /// Make segments smaller after successive retransmission timeouts, as a path that drops large segments
    /// without an ICMP error would cause (an MTU black hole, `tcp/black_hole.rs`; Linux's `tcp_mtu_probing` = 1).
    pub black_hole_detection: bool,
    /// Take the fast paths for the common case: on receive, header prediction (the stack's one-pass parse of
    /// the common frame and the connection's shortcut for in-order data and new ACKs in ESTABLISHED); on output,
    /// new data or the owed ACK as a batch written straight from the header template. Behaviour is the same
    /// either way (the general paths are the reference); off exists to test that.
    pub fast_paths: bool,
}

impl Default for TcpConfig {
    fn default() -> Self {
        Self {
            mss: 1460,
            recv_buffer: 256 * 1024,
            recv_buffer_max: Some(6 << 20),
            send_buffer: 256 * 1024,
            send_buffer_max: Some(4 << 20),
            autotune_budget: 256 << 20,
            receive_memory: super::memory_limit::DEFAULT_LIMIT,
            send_memory: super::memory_limit::DEFAULT_LIMIT,
            max_time_wait: super::slots::DEFAULT_LIMIT,
            max_orphans: super::slots::DEFAULT_LIMIT,
            nodelay: false,
            delayed_ack: Duration::from_millis(40),
            time_wait: Duration::from_secs(60),
            syn_retries: 6,
            max_retransmits: 15,
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            initial_rto: Duration::from_secs(1),
            keepalive: None,
            keepalive_interval: Duration::from_secs(75),
            keepalive_probes: 9,
            fin_wait2_timeout: Duration::from_secs(60),
            window_scale: true,
            timestamps: true,
            sack: true,
            rack_tlp: true,
            congestion: CongestionAlgorithm::Cubic,
            pacing: false,
            ecn: false,
            accurate_ecn: false,
            frto: true,
            hystart: true,
            initial_window_segments: 10,
            max_out_of_order_fragments: None,
            challenge_ack_limit: 100,
            black_hole_detection: true,
            fast_paths: true,
        }
    }
}

/// The longest any of the timers' durations may be configured: beyond, a deadline would be so far that the
/// timer could as well never fire, which is not what a configuration means.
pub const MAX_TIMER: Duration = Duration::from_secs(24 * 60 * 60);

/// The largest buffer a window can describe: 65 535 bytes shifted by the largest window scale (RFC 7323 §2.3).
pub const MAX_BUFFER: usize = 1 << 30;

/// The largest [`TcpConfig::receive_memory`] and [`TcpConfig::send_memory`]: 1 TiB.
pub const MAX_MEMORY_LIMIT: usize = 1 << 40;

impl TcpConfig {
    /// Checks the values a stack cannot run with (EINVAL naming the field): empty or unrepresentable buffers, no
    /// initial window, a zero or inverted retransmission timeout range, a delayed ACK of half a second or more
    /// (RFC 1122 §4.2.3.2), and timers longer than [`MAX_TIMER`].
    pub fn validate(&self) -> Result<(), Fail> {
        let bad = |what: String| Err(Fail::with_context(libc::EINVAL, format!("tcp.{what}")));
        for (name, bytes) in [("recv_buffer", self.recv_buffer), ("send_buffer", self.send_buffer)] {
            if !(1..=MAX_BUFFER).contains(&bytes) {
                return bad(format!("{name} {bytes} is not in 1..={MAX_BUFFER}"));
            }
        }
        for (name, max) in [("recv_buffer_max", self.recv_buffer_max), ("send_buffer_max", self.send_buffer_max)] {
            if let Some(max) = max
                && max > MAX_BUFFER
            {
                return bad(format!("{name} {max} is over {MAX_BUFFER}"));
            }
        }
        let limits = [
            ("receive_memory", self.receive_memory, super::memory_limit::RECEIVE_FLOOR),
            ("send_memory", self.send_memory, super::memory_limit::SEND_FLOOR),
        ];
        for (name, limit, floor) in limits {
            if !(floor..=MAX_MEMORY_LIMIT).contains(&limit) {
                return bad(format!("{name} {limit} is not in {floor}..={MAX_MEMORY_LIMIT}"));
            }
        }
        if self.initial_window_segments == 0 {
            return bad("initial_window_segments must be positive".to_owned());
        }
        if self.delayed_ack >= Duration::from_millis(500) {
            return bad(format!("delayed_ack {:?} is not under 500 ms (RFC 1122 §4.2.3.2)", self.delayed_ack));
        }
        let timers = [
            ("time_wait", self.time_wait),
            ("min_rto", self.min_rto),
            ("max_rto", self.max_rto),
            ("initial_rto", self.initial_rto),
            ("keepalive", self.keepalive.unwrap_or_default()),
            ("keepalive_interval", self.keepalive_interval),
            ("fin_wait2_timeout", self.fin_wait2_timeout),
        ];
        for (name, duration) in timers {
            if duration > MAX_TIMER {
                return bad(format!("{name} {duration:?} is longer than {MAX_TIMER:?}"));
            }
        }
        if self.min_rto.is_zero() || self.min_rto > self.max_rto {
            return bad(format!("min_rto {:?} is not in (0, max_rto {:?}]", self.min_rto, self.max_rto));
        }
        if self.initial_rto.is_zero() {
            return bad("initial_rto must be positive".to_owned());
        }
        Ok(())
    }

    /// How many out-of-order segments a connection holds (see `max_out_of_order_fragments`), for the largest
    /// buffer it may have (`recv_buffer_max` if set). A fixed 256 was too few for a large buffer: a 4 MB window
    /// that lost its first segments dropped most of what followed them, though it had the room, and the sender
    /// had to send it all again (and with a tuned buffer counted from `recv_buffer`, 1 441 of 2 MiB's).
    pub fn out_of_order_limit(&self) -> usize {
        const SMALL_SEGMENT: usize = 536;
        self.max_out_of_order_fragments.unwrap_or((self.largest_recv_buffer() / SMALL_SEGMENT).clamp(256, 8192))
    }

    /// The most a connection's receive buffer holds: `recv_buffer`, or what auto-tuning may grow it to.
    fn largest_recv_buffer(&self) -> usize {
        self.recv_buffer_max.unwrap_or(0).max(self.recv_buffer)
    }

    /// Whether a connection asks for (and accepts) ECN: `ecn`, `accurate_ecn`, or DCTCP, which needs it.
    pub(crate) fn asks_for_ecn(&self) -> bool {
        self.ecn || self.accurate_ecn || self.congestion == CongestionAlgorithm::Dctcp
    }

    /// The MSS to advertise and use: at least 64 bytes, so that options always leave room for data.
    pub(crate) fn effective_mss(&self) -> u16 {
        self.mss.max(64)
    }

    /// The window scale shift we offer: the smallest that lets the receive buffer be advertised whole, at the
    /// largest auto-tuning may make it.
    pub(crate) fn receive_window_shift(&self) -> u8 {
        let buffer = self.largest_recv_buffer();
        let mut shift = 0u8;
        while shift < crate::wire::TCP_MAX_WINDOW_SCALE && (buffer >> shift) > usize::from(u16::MAX) {
            shift += 1;
        }
        shift
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::autotune::Tuning;

    #[test]
    fn values_a_stack_cannot_run_with_are_refused_naming_the_field() {
        assert!(TcpConfig::default().validate().is_ok());
        let day_and_more = MAX_TIMER + Duration::from_secs(1);
        let cases = [
            ("recv_buffer", TcpConfig { recv_buffer: 0, ..TcpConfig::default() }),
            ("send_buffer", TcpConfig { send_buffer: MAX_BUFFER + 1, ..TcpConfig::default() }),
            ("recv_buffer_max", TcpConfig { recv_buffer_max: Some(MAX_BUFFER + 1), ..TcpConfig::default() }),
            ("send_buffer_max", TcpConfig { send_buffer_max: Some(MAX_BUFFER + 1), ..TcpConfig::default() }),
            ("initial_window_segments", TcpConfig { initial_window_segments: 0, ..TcpConfig::default() }),
            ("delayed_ack", TcpConfig { delayed_ack: Duration::from_millis(500), ..TcpConfig::default() }),
            ("min_rto", TcpConfig { min_rto: Duration::ZERO, ..TcpConfig::default() }),
            ("min_rto", TcpConfig { min_rto: Duration::from_secs(61), ..TcpConfig::default() }),
            ("max_rto", TcpConfig { max_rto: Duration::MAX, ..TcpConfig::default() }),
            ("initial_rto", TcpConfig { initial_rto: Duration::ZERO, ..TcpConfig::default() }),
            ("keepalive", TcpConfig { keepalive: Some(day_and_more), ..TcpConfig::default() }),
            ("time_wait", TcpConfig { time_wait: day_and_more, ..TcpConfig::default() }),
        ];
        for (field, config) in cases {
            let e = config.validate().unwrap_err();
            assert_eq!(e.errno(), libc::EINVAL);
            assert!(e.cause().starts_with(&format!("tcp.{field} ")), "{field}: {}", e.cause());
        }
    }

    #[test]
    fn a_maximum_at_or_below_the_buffer_grows_nothing() {
        let tuned = TcpConfig::default();
        assert_eq!((tuned.recv_buffer_max, tuned.send_buffer_max), (Some(6 << 20), Some(4 << 20)), "on by default");
        assert!(Tuning::for_config(&tuned).is_some_and(|tuning| tuning.receive.is_some()));
        // A buffer configured above the default maximum is valid, and does not grow.
        let large = TcpConfig { recv_buffer: 8 << 20, send_buffer: 8 << 20, ..TcpConfig::default() };
        assert!(large.validate().is_ok());
        assert!(Tuning::for_config(&large).is_none());
        assert_eq!(large.receive_window_shift(), 8, "the buffer, not the maximum, sets the scale");
        let off = TcpConfig { recv_buffer_max: None, send_buffer_max: None, ..TcpConfig::default() };
        assert!(Tuning::for_config(&off).is_none());
    }

    #[test]
    fn window_shift_covers_the_receive_buffer() {
        let mut config = TcpConfig { recv_buffer: 65535, recv_buffer_max: None, ..TcpConfig::default() };
        assert_eq!(config.receive_window_shift(), 0);
        config.recv_buffer = 65536;
        assert_eq!(config.receive_window_shift(), 1);
        config.recv_buffer = 256 * 1024;
        assert_eq!(config.receive_window_shift(), 3);
        // With auto-tuning, the shift covers the most the buffer may grow to.
        config.recv_buffer_max = Some(4 << 20);
        assert_eq!(config.receive_window_shift(), 7);
        config.recv_buffer_max = None;
        config.recv_buffer = usize::MAX;
        assert_eq!(config.receive_window_shift(), 14);
        assert_eq!(TcpConfig { mss: 1, ..TcpConfig::default() }.effective_mss(), 64);
        assert_eq!(TcpConfig::default().congestion, CongestionAlgorithm::Cubic);
    }
}
