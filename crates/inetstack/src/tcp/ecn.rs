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
//! Not here: the reduction to less than one segment after a mark at a window of one (§6.1.2 asks to wait one
//! RTO), ECN nonces (RFC 3540, historic), Accurate ECN (RFC 9768) and DCTCP (RFC 8257), whose receiver echoes
//! every mark precisely.

use super::{CongestionControl, Nanos, TcpConnection};
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
    /// A CE mark arrived and no CWR since: every ACK carries ECE.
    pub(crate) echo: bool,
    /// The window was reduced on an ECE: the next new data segment carries CWR.
    pub(crate) send_cwr: bool,
    /// SND.MAX at the last reduction: ECEs are ignored until SND.UNA passes it (once per window).
    recover: SeqNumber,
}

impl Ecn {
    pub(crate) fn new(iss: SeqNumber) -> Self {
        Self { enabled: false, echo: false, send_cwr: false, recover: iss }
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
        self.ecn.enabled = self.config.ecn && agreed;
    }

    /// A segment of this connection arrived marked CE (the stack read the IP header): echo it.
    pub fn on_congestion_experienced(&mut self) {
        if self.ecn.enabled {
            self.ecn.echo = true;
            self.counters.ecn_ce_received += 1;
        }
    }

    /// The ECN flags of an acceptable segment of a synchronized ECN connection whose ACK is `ack` (before the
    /// ACK is processed, so that the window an ECE halves is not first grown by the same ACK).
    pub(super) fn on_ecn_flags(&mut self, now: Nanos, flags: TcpFlags, ack: SeqNumber) {
        if flags.contains(TcpFlags::CWR) {
            self.ecn.echo = false;
        }
        // Beyond the data outstanding at the last reduction: a mark on data sent since.
        let once_per_window = ack > self.ecn.recover;
        if flags.contains(TcpFlags::ECE) && ack <= self.snd_max && once_per_window && !self.recovery.in_recovery {
            let flight = self.snd_max.distance_from(self.snd_una).max(0) as usize;
            // A loss's reduction, without the recovery: ssthresh and cwnd as after fast recovery.
            self.congestion.on_loss(now, flight);
            self.congestion.on_recovery_end(now);
            // A reduction the network asked for is not undone by later evidence about earlier recoveries.
            self.undo = None;
            self.timeout_undo = None;
            self.ecn.recover = self.snd_max;
            self.ecn.send_cwr = true;
            self.counters.ecn_reductions += 1;
        }
    }
}
