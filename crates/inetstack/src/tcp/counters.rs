//! [`TcpCounters`]: what one connection has done, for the libOS to expose (like `ss -i` or `nstat`) and for
//! tests to assert on. Plain integers, updated on the datapath without allocation.

/// Why an incoming segment was dropped (all or in part).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpDropCounters {
    /// Outside the receive window (RFC 9293 §3.10.7.4); answered with an ACK.
    pub out_of_window: u64,
    /// Failed the PAWS test (RFC 7323 §5): an old timestamp.
    pub paws: u64,
    /// Acknowledged data never sent, or data too old (RFC 5961 §5).
    pub bad_ack: u64,
    /// A RST that failed the sequence checks (RFC 5961 §3).
    pub bad_rst: u64,
    /// A SYN in a synchronized state (RFC 5961 §4), answered with a challenge ACK.
    pub unexpected_syn: u64,
    /// Out-of-order data refused because the reassembly queue was full.
    pub reassembly_full: u64,
    /// Data refused because the stack's received data had reached `TcpConfig::receive_memory`; acknowledged,
    /// and sent again by the peer.
    pub receive_memory: u64,
    /// Inconsistent input (payload length disagreeing with the header, a segment without ACK after the handshake).
    pub malformed: u64,
    /// Arrived when the connection was closed.
    pub closed: u64,
}

/// Counters of one connection. Segment counts include pure ACKs and control segments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpCounters {
    pub segments_in: u64,
    pub segments_out: u64,
    /// Payload bytes accepted in order (delivered or waiting for the application).
    pub bytes_in: u64,
    /// Payload bytes sent, retransmissions included.
    pub bytes_out: u64,
    /// Segments sent again (after a timeout, fast retransmit or SACK recovery).
    pub retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Entries into fast recovery (RFC 6582 / RFC 6675).
    pub fast_retransmits: u64,
    /// Retransmissions found lost again from SACKs of data sent after them, and resent without waiting for the
    /// retransmission timeout.
    pub lost_retransmits: u64,
    /// Segments RACK (RFC 8985) found lost by time.
    pub rack_lost_segments: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tlp_probes: u64,
    /// Losses a tail loss probe repaired (each answered by a window reduction).
    pub tlp_repaired_losses: u64,
    /// Fast recoveries whose window reduction was undone: D-SACKs showed every segment they resent had
    /// arrived already (`tcp/undo.rs`).
    pub undone_recoveries: u64,
    /// Retransmission timeouts found spurious by the timestamp their first ACK echoed, and undone
    /// (`tcp/spurious_timeout.rs`).
    pub spurious_timeouts: u64,
    /// ICMP fragmentation-needed errors that lowered the path MTU (`tcp/path_mtu.rs`).
    pub path_mtu_reductions: u64,
    /// Segment sizes lowered on successive retransmission timeouts, as a suspected MTU black hole
    /// (`tcp/black_hole.rs`).
    pub black_hole_reductions: u64,
    /// Larger segments sent to probe the path MTU after a black hole (`tcp/mtu_probe.rs`).
    pub mtu_probes: u64,
    /// Of those, the ones lost (the path did not take them).
    pub mtu_probes_lost: u64,
    /// Times pacing held a segment back (`tcp/pacing.rs`).
    pub pacing_waits: u64,
    /// Times receive-buffer auto-tuning grew the buffer (`tcp/autotune.rs`).
    pub recv_buffer_grown: u64,
    /// Times send-buffer auto-tuning grew the buffer (`tcp/autotune.rs`).
    pub send_buffer_grown: u64,
    /// Segments received marked Congestion Experienced on an ECN connection (RFC 3168, `tcp/ecn.rs`).
    pub ecn_ce_received: u64,
    /// CE marks the peer reported receiving (Accurate ECN's ACE field, RFC 9768).
    pub ecn_ce_reported: u64,
    /// Window reductions on ECN-Echo ACKs (at most one per window of data).
    pub ecn_reductions: u64,
    /// First slow starts HyStart++ (RFC 9406) ended on a growing round trip rather than a loss.
    pub hystart_exits: u64,
    /// Duplicate ACKs received (RFC 5681 §2).
    pub dup_acks_in: u64,
    /// Segments that arrived ahead of `RCV.NXT` and were queued for reassembly.
    pub out_of_order: u64,
    /// Pure ACKs sent.
    pub acks_out: u64,
    /// ACKs sent at once because more than a full segment's worth was unacknowledged (delayed ACK coalescing:
    /// one ACK for two full segments, or a full and a partial one).
    pub delayed_acks_coalesced: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Zero-window probes sent (RFC 9293 §3.8.6.1).
    pub window_probes: u64,
    /// Keepalive probes sent (RFC 1122 §4.2.3.6).
    pub keepalive_probes: u64,
    /// RST segments sent.
    pub resets_out: u64,
    /// RTT samples taken (timestamps or a timed segment).
    pub rtt_samples: u64,
    /// Segments taken by header prediction (in-order data or a new ACK in ESTABLISHED, see `TcpConfig::fast_paths`).
    pub predicted: u64,
    /// Restarts of the congestion window after an idle period longer than the retransmission timeout
    /// (RFC 5681 §4.1).
    pub idle_restarts: u64,
    pub drops: TcpDropCounters,
    /// Closed at once instead of entering TIME-WAIT: the stack's connections in TIME-WAIT were at
    /// `TcpConfig::max_time_wait`.
    pub time_wait_skipped: u64,
    /// Closes that reset the connection because every orphan slot was taken (`TcpConfig::max_orphans`).
    pub orphans_reset: u64,
}
