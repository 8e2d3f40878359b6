//! `StackCounters`: what the stack saw and did, by reason, for tests, tooling and the libOS.

/// Per-stack counters. Every dropped frame is counted under exactly one reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackCounters {
    pub frames_in: u64,
    pub frames_out: u64,
    /// Frames the device could not take yet (retried, not lost).
    pub tx_retries: u64,
    pub drop_malformed: u64,
    pub drop_checksum: u64,
    pub drop_not_for_us: u64,
    pub drop_unsupported: u64,
    /// IPv4 fragments discarded: malformed, contradicting their datagram, or of a datagram given up (evicted,
    /// or not whole within the reassembly timeout).
    pub drop_fragment: u64,
    pub drop_no_route: u64,
    pub drop_arp_unresolved: u64,
    pub drop_udp_queue_full: u64,
    pub arp_requests_out: u64,
    pub arp_replies_out: u64,
    /// Requests about a learned entry sent on a transport's advice (a TCP retransmission timeout), counted in
    /// `arp_requests_out` too.
    pub arp_revalidations: u64,
    /// Requests sent to the MAC address of a stale entry in use (see `ArpCache`), not counted in
    /// `arp_requests_out`.
    pub arp_polls: u64,
    /// Announcements of our own address sent (RFC 5227 §2.3), at start and in its defence.
    pub arp_announcements_out: u64,
    /// ARP packets from another host that claimed our address (RFC 5227 §2.4).
    pub arp_conflicts: u64,
    pub icmp_echo_replies_out: u64,
    pub icmp_unreachable_out: u64,
    /// Time-exceeded errors sent for datagrams whose fragments did not all arrive in time.
    pub icmp_time_exceeded_out: u64,
    /// Fragmentation-needed errors received (path MTU discovery for TCP; UDP sockets are not told).
    pub icmp_frag_needed_in: u64,
    /// Time-exceeded errors received (soft errors for TCP; UDP sockets are not told).
    pub icmp_time_exceeded_in: u64,
    /// ICMP errors not sent because `StackConfig::icmp_errors_per_second` was used up.
    pub icmp_errors_suppressed: u64,
    /// IPv4 datagrams rebuilt from their fragments, and fragments sent (of datagrams larger than the MTU).
    pub ip_reassembled: u64,
    pub ip_fragments_out: u64,
    pub udp_in: u64,
    pub udp_out: u64,
    pub tcp_in: u64,
    /// TCP segments parsed in one pass and handed to their connection by the receive fast path (counted in
    /// `tcp_in` too).
    pub tcp_in_fast: u64,
    pub tcp_out: u64,
    pub tcp_rst_out: u64,
    pub tcp_syn_queue_full: u64,
    /// SYN-ACKs sent with a SYN cookie (a listener's backlog was full), and connections made from the ACKs that
    /// brought one back (RFC 4987 §3.6).
    pub tcp_syn_cookies_sent: u64,
    pub tcp_syn_cookies_accepted: u64,
    /// ACKs to a listener with cookies out and no connection for them, whose cookie was not valid (dropped).
    pub tcp_syn_cookies_invalid: u64,
    /// Connections in TIME-WAIT that a newer SYN reopened at once (RFC 6191).
    pub tcp_time_wait_reopens: u64,
    /// Connections the application let go of kept as a small record in TIME-WAIT or FIN-WAIT-2, and records woken
    /// into a whole connection again by a segment (`stack/tcp/orphan.rs`).
    pub tcp_orphan_records: u64,
    pub tcp_orphan_wakes: u64,
}
