//! Explicit Congestion Notification (RFC 3168): a router whose queue builds marks a packet Congestion
//! Experienced (CE) instead of dropping it; the receiver echoes the mark to the sender (ECE on its ACKs until
//! the sender answers with CWR), and the sender reduces its window as for a loss, without resending anything.
//!
//! - **Negotiation** (§6.1.1): with `TcpConfig::ecn`, our SYN carries ECE and CWR; a SYN-ACK with ECE and not CWR
//!   accepts. A listener with `ecn` accepts a SYN carrying both by setting ECE on its SYN-ACK. A retransmitted
//!   SYN goes without them (as Linux falls back, in case a middlebox drops ECN-setup SYNs).
//! - **Sending** (§6.1.2, §6.1.5): new data of an ECN connection goes out ECN-capable (ECT(0) in the IP header);
//!   retransmissions, pure ACKs, window probes and the SYNs do not.
//! - **Receiving** (§6.1.3): a CE-marked segment makes every following ACK carry ECE, until a segment with CWR
//!   arrives (a CE mark on that segment itself starts the echo again).
//! - **Reacting** (§6.1.2): an ACK with ECE halves the window through the congestion controller as a loss
//!   would (ssthresh and cwnd), at most once per window of data and not during fast recovery (which already
//!   reduced it), and the next new data segment carries CWR.
//!
//! - **DCTCP** (RFC 8257, `CongestionAlgorithm::Dctcp`, which asks for ECN whatever `TcpConfig::ecn` says): the
//!   receiver echoes exactly, ECE on the ACKs of marked data and not on the others, with no CWR handshake: when
//!   the marks start or stop, the data received before is acknowledged at once with the old state (§3.2). The
//!   sender counts the bytes acknowledged with and without ECE per observation window (SND.UNA reaching the
//!   SND.NXT of the window's start) for the controller's alpha, and its cut scales with alpha
//!   (`congestion/dctcp.rs`).
//!
//! Not here: the reduction to less than one segment after a mark at a window of one (§6.1.2 asks to wait one
//! RTO), ECN nonces (RFC 3540, historic) and Accurate ECN (a receiver that counts every mark for any sender).

use super::{CongestionAlgorithm, CongestionControl, Nanos, TcpConnection, TcpState};
use crate::wire::{SeqNumber, TcpFlags};

/// The IP header's ECN field (RFC 3168 §5), the low two bits of the TOS byte.
pub(crate) mod codepoint {
    /// Not ECN-Capable Transport.
    pub const NOT_ECT: u8 = 0b00;
    /// ECN-Capable Transport (0): what we send.
    pub const ECT0: u8 = 0b10;
    /// Congestion Experienced: set by a router.
    pub const CE: u8 = 0b11;
    /// The field's bits in the TOS byte.
    pub const MASK: u8 = 0b11;
}

/// One connection's ECN state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ecn {
    /// Both ends agreed in the handshake.
    pub(crate) enabled: bool,
    /// Agreed, and the controller is DCTCP: the exact echo and the observation windows.
    pub(crate) dctcp: bool,
    /// Every ACK carries ECE: a CE mark arrived and no CWR since (RFC 3168), or the last segment was marked
    /// (DCTCP).
    pub(crate) echo: bool,
    /// The segment being received was marked CE (a CWR on it does not end the echo).
    marked_now: bool,
    /// The window was reduced on an ECE: the next new data segment carries CWR.
    pub(crate) send_cwr: bool,
    /// SND.MAX at the last reduction: ECEs are ignored until SND.UNA passes it (once per window).
    recover: SeqNumber,
    /// DCTCP's observation window: it ends when an ACK reaches this (SND.NXT when it began) ...
    window_end: SeqNumber,
    /// ... and bytes acknowledged in it so far, and of them those acknowledged with ECE.
    acked: usize,
    marked: usize,
}

impl Ecn {
    pub(crate) fn new(iss: SeqNumber) -> Self {
        Self {
            enabled: false,
            dctcp: false,
            echo: false,
            marked_now: false,
            send_cwr: false,
            recover: iss,
            window_end: iss,
            acked: 0,
            marked: 0,
        }
    }

    /// Whether a segment must carry an ECN flag (ECE or CWR): the output fast path leaves such segments to
    /// the general path.
    #[inline(always)]
    pub(crate) fn signalling(&self) -> bool {
        self.echo || self.send_cwr
    }

    /// The TCP flags our SYN (or SYN-ACK) carries: ECE and CWR on a first SYN of a connection configured for
    /// ECN, ECE on the SYN-ACK of one that agreed, nothing on a retransmitted SYN.
    pub(crate) fn syn_flags(configured: bool, enabled: bool, syn_ack: bool, retransmission: bool) -> TcpFlags {
        match (syn_ack, retransmission) {
            (true, _) if enabled => TcpFlags::ECE,
            (false, false) if configured => TcpFlags::ECE | TcpFlags::CWR,
            _ => TcpFlags::empty(),
        }
    }
}

impl TcpConnection {
    /// Settles ECN from the flags of the peer's SYN, or SYN-ACK if `syn_ack` (RFC 3168 §6.1.1). A SYN without
    /// ACK in SYN-SENT (simultaneous open) agrees to nothing.
    pub(super) fn negotiate_ecn(&mut self, flags: TcpFlags, syn_ack: bool) {
        let (ece, cwr) = (flags.contains(TcpFlags::ECE), flags.contains(TcpFlags::CWR));
        let agreed = if self.passive { ece && cwr } else { syn_ack && ece && !cwr };
        self.ecn.enabled = self.config.asks_for_ecn() && agreed;
        self.ecn.dctcp = self.ecn.enabled && self.config.congestion == CongestionAlgorithm::Dctcp;
    }

    /// The IP header's ECN field of a segment about to be handed to [`Self::on_segment`]: `ce` if a router
    /// marked it Congestion Experienced (the stack reads it; a `TcpConnection` sees no IP header).
    #[inline]
    pub fn on_ecn_codepoint(&mut self, now: Nanos, ce: bool) {
        // Nothing to do for an unmarked segment while nothing is echoed (always, without ECN).
        if ce || self.ecn.echo {
            self.on_ecn_mark(now, ce);
        }
    }

    #[cold]
    #[inline(never)]
    fn on_ecn_mark(&mut self, now: Nanos, ce: bool) {
        if !self.ecn.enabled {
            return;
        }
        self.ecn.marked_now = ce;
        self.counters.ecn_ce_received += u64::from(ce);
        if !self.ecn.dctcp {
            self.ecn.echo |= ce;
            return;
        }
        if ce != self.ecn.echo {
            // RFC 8257 §3.2: the marks start or stop. Data received before this segment and not acknowledged
            // yet is acknowledged now, with the echo as it was for that data (an ACK owed already would carry
            // the new state: in a batch of segments handled before one transmit, the marks would be lost).
            let unacknowledged = self.rcv_nxt != self.ack.last_ack_sent;
            if unacknowledged && matches!(self.state, TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2) {
                let owed = self.ack.duplicates_owed;
                let ack = self.ack_segment(now, self.snd_max);
                self.control.push(ack);
                // That ACK is one of the duplicates owed, if any were.
                self.ack.duplicates_owed = owed.saturating_sub(1);
                self.ack.now |= self.ack.duplicates_owed > 0;
            }
            self.ecn.echo = ce;
        }
    }

    /// DCTCP's sender: an ACK that advances SND.UNA to `ack`, with ECE or not (before SND.UNA moves). Counts
    /// the bytes, and at the end of an observation window hands the controller its marked fraction. Out of line:
    /// only DCTCP connections come here.
    #[cold]
    #[inline(never)]
    pub(super) fn dctcp_observe(&mut self, ack: SeqNumber, ece: bool) {
        let acked = ack.distance_from(self.snd_una).max(0) as usize;
        self.ecn.acked += acked;
        if ece {
            self.ecn.marked += acked;
        }
        if ack >= self.ecn.window_end {
            self.congestion.on_ecn_window(self.ecn.acked, self.ecn.marked);
            self.ecn.window_end = self.snd_nxt.max(ack);
            (self.ecn.acked, self.ecn.marked) = (0, 0);
        }
    }

    /// The ECN flags of an acceptable segment of a synchronized ECN connection whose ACK is `ack` (before the
    /// ACK is processed, so that the window an ECE halves is not first grown by the same ACK).
    pub(super) fn on_ecn_flags(&mut self, now: Nanos, flags: TcpFlags, ack: SeqNumber) {
        // RFC 3168 §6.1.3 (a DCTCP receiver echoes each segment as it was marked, without CWR).
        if flags.contains(TcpFlags::CWR) && !self.ecn.dctcp && !self.ecn.marked_now {
            self.ecn.echo = false;
        }
        // Beyond the data outstanding at the last reduction: a mark on data sent since.
        let once_per_window = ack > self.ecn.recover;
        if flags.contains(TcpFlags::ECE) && ack <= self.snd_max && once_per_window && !self.recovery.in_recovery {
            let flight = self.snd_max.distance_from(self.snd_una).max(0) as usize;
            // A loss's reduction without the recovery (DCTCP's scaled by alpha).
            self.congestion.on_ecn_echo(now, flight);
            // A reduction the network asked for is not undone by later evidence about earlier recoveries.
            self.undo = None;
            self.timeout_undo = None;
            self.ecn.recover = self.snd_max;
            self.ecn.send_cwr = true;
            self.counters.ecn_reductions += 1;
        }
    }
}
