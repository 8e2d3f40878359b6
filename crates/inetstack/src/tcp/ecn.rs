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
//! - **Accurate ECN** (RFC 9768, `TcpConfig::accurate_ecn`): the receiver counts every CE-marked segment and
//!   every segment it sends carries the count's low three bits in AE, CWR and ECE (the ACE field), whatever the
//!   sender's controller, so a DCTCP sender learns each mark from any AccECN receiver (Linux 6.18 is one).
//!   - Negotiation (§3.1): our SYN carries AE, CWR and ECE; a listener with `accurate_ecn` answers a SYN with
//!     all three by a SYN-ACK whose AE, CWR and ECE encode the IP-ECN field the SYN arrived with (Table 2), and
//!     our ACK of that SYN-ACK encodes the SYN-ACK's field in its ACE (Table 4). A peer that answers RFC 3168's
//!     way (ECE alone) gets classic ECN; (0,0,0) and (1,1,1) on the SYN-ACK mean no ECN (§3.1.2). A retransmitted
//!     SYN asks once more (as Linux does), a later one asks for nothing (as for classic ECN: a middlebox may
//!     drop ECN-setup SYNs); a SYN cookie's SYN-ACK offers classic ECN at most.
//!   - Counters (§3.2.2): r.cep and s.cep start at 5; CE marks on the SYN and SYN-ACK are not counted (the
//!     handshake encodes them). An ACE of 0 on the first ACK of our SYN-ACK means a middlebox cleared the
//!     field: we then send nothing ECN-capable and ignore the feedback, but keep giving ours (§3.2.2.3).
//!   - ACKs (§3.2.2.5.1): at once when a CE mark follows an unmarked segment (change-triggered), and before a
//!     third mark since our last segment is counted (increment-triggered, even inside a batch of segments
//!     handled before one transmit), so one of our ACKs reports at most two marks and the three-bit field
//!     never wraps between two of them.
//!   - Reacting: the increase of the peer's count on an ACK that moves SND.UNA is the marks it received (other
//!     ACKs may carry an older count: their marks wait for the next one that moves SND.UNA); a classic
//!     controller reduces once per window as for ECE (no CWR: that bit belongs to the counter), DCTCP counts
//!     the increase times the MSS (at most the bytes acknowledged) as marked bytes.
//!
//! Not here: the reduction to less than one segment after a mark at a window of one (§6.1.2 asks to wait one
//! RTO), ECN nonces (RFC 3540, historic), the AccECN option (RFC 9768 §3.2.3, byte counts: optional; its
//! kinds 172 and 174 are skipped as unknown), and ECT on pure ACKs and retransmissions (RFC 8311 allows it).

use super::{CongestionAlgorithm, CongestionControl, Nanos, TcpConnection, TcpState};
use crate::wire::{SeqNumber, TcpFlags};

/// The IP header's ECN field (RFC 3168 §5), the low two bits of the TOS byte.
pub(crate) mod codepoint {
    /// Not ECN-Capable Transport.
    pub const NOT_ECT: u8 = 0b00;
    /// ECN-Capable Transport (0): what we send.
    pub const ECT0: u8 = 0b10;
    /// ECN-Capable Transport (1): L4S senders' codepoint (RFC 9331); we do not send it.
    pub const ECT1: u8 = 0b01;
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
    /// Accurate ECN agreed: every segment we send carries the ACE counter, and the peer's ACE is read.
    pub(crate) accurate: bool,
    /// r.cep: CE-marked segments received (from 5, RFC 9768 §3.2.2.1).
    received_ce: u32,
    /// `received_ce` when our last segment left (increment-triggered ACKs).
    reported_ce: u32,
    /// s.cep: the peer's count of the CE marks it received, as last read from its ACE field (from 5).
    sent_ce: u32,
    /// Marks the ACK being processed newly reported (DCTCP's count).
    new_marks: u32,
    /// The flags a segment of the peer with no news carries beside ACK and PSH: its ACE field at `sent_ce`
    /// (Accurate ECN), else none. Header prediction compares against it.
    pub(crate) expected_flags: TcpFlags,
    /// The IP-ECN field of the peer's SYN (listener) or SYN-ACK (client), for the handshake encoding.
    syn_field: u8,
    /// Client: the ACE value our first ACK of the SYN-ACK carries (the handshake encoding), until it is sent.
    handshake_ace: Option<u8>,
    /// Listener: the first ACK of our SYN-ACK is still to come (its ACE is the handshake encoding).
    awaiting_first_ack: bool,
    /// The last segment received was marked CE (change-triggered ACKs).
    last_ce: bool,
    /// Every segment's IP-ECN field is needed, not only CE marks: an echo is on, an AccECN SYN-ACK is awaited
    /// or the last segment was marked (see [`TcpConnection::on_ecn_codepoint`]).
    watch: bool,
}

/// What a connection agreed for ECN in its handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcnMode {
    /// No ECN: nothing goes out ECN-capable and marks are not echoed.
    Off,
    /// RFC 3168: ECE until CWR.
    Classic,
    /// RFC 9768: every mark counted in the ACE field (`sending` false once a middlebox was seen to clear it: our
    /// segments no longer go out ECN-capable, our feedback goes on).
    Accurate { sending: bool },
}

/// The TCP flags that carry Accurate ECN's ACE field.
const ACE_FLAGS: TcpFlags = TcpFlags::AE.union(TcpFlags::CWR).union(TcpFlags::ECE);
/// The counters' start (RFC 9768 §3.2.2.1): not 0, so that a middlebox clearing the field is seen.
const CEP_START: u32 = 5;

/// The ACE field of `flags` (AE, CWR, ECE as bits 2, 1, 0): CWR and ECE are the flags byte's top two bits.
fn ace_of(flags: TcpFlags) -> u8 {
    u8::from(flags.contains(TcpFlags::AE)) << 2 | flags.bits() >> 6
}

/// The flags that carry `ace` (its low three bits): AE in the data-offset byte, CWR and ECE atop the flags byte.
fn ace_flags(ace: u8) -> TcpFlags {
    TcpFlags::from_header(ace >> 2 & 1, (ace & 0b11) << 6)
}

/// RFC 9768 Table 2 (the SYN-ACK's AE, CWR, ECE) and Table 4 (the ACE of the first ACK, the same values): the
/// encoding of the IP-ECN field `field` of the SYN or SYN-ACK being answered.
fn handshake_encoding(field: u8) -> u8 {
    match field & codepoint::MASK {
        codepoint::NOT_ECT => 0b010,
        codepoint::ECT1 => 0b011,
        codepoint::ECT0 => 0b100,
        _ => 0b110,
    }
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
            accurate: false,
            received_ce: CEP_START,
            reported_ce: CEP_START,
            sent_ce: CEP_START,
            new_marks: 0,
            expected_flags: TcpFlags::empty(),
            syn_field: codepoint::NOT_ECT,
            handshake_ace: None,
            awaiting_first_ack: false,
            last_ce: false,
            watch: false,
        }
    }

    /// Whether a segment must carry an ECN flag the output fast path does not write (ECE or CWR of classic
    /// ECN, or Accurate ECN's handshake encoding): the fast path leaves such segments to the general path.
    #[inline(always)]
    pub(crate) fn signalling(&self) -> bool {
        self.echo || self.send_cwr || self.handshake_ace.is_some()
    }

    /// The ECN flags a segment of a synchronized connection carries: the ACE field (Accurate ECN: the handshake
    /// encoding on the first ACK, then our count of CE marks), else ECE while an echo is on.
    #[inline(always)]
    pub(crate) fn feedback_flags(&mut self) -> TcpFlags {
        if self.accurate {
            self.reported_ce = self.received_ce;
            let ace = self.handshake_ace.take().unwrap_or(self.received_ce as u8);
            return ace_flags(ace);
        }
        if self.echo { TcpFlags::ECE } else { TcpFlags::empty() }
    }

    /// The TCP flags our SYN (or SYN-ACK) carries, the SYN having gone `sent_before` times already: AE, CWR and
    /// ECE on the first two SYNs of a connection configured for Accurate ECN (as Linux asks again once), ECE and
    /// CWR on the first of one configured for ECN; on the SYN-ACK of one that agreed, the encoding of the SYN's
    /// IP-ECN field (Accurate ECN) or ECE; nothing on a later SYN.
    pub(crate) fn syn_flags(&self, config: &super::TcpConfig, syn_ack: bool, sent_before: u32) -> TcpFlags {
        match (syn_ack, sent_before) {
            (true, _) if self.accurate => ace_flags(handshake_encoding(self.syn_field)),
            (true, _) if self.enabled => TcpFlags::ECE,
            (false, 0 | 1) if config.accurate_ecn => ACE_FLAGS,
            (false, 0) if config.asks_for_ecn() => TcpFlags::ECE | TcpFlags::CWR,
            _ => TcpFlags::empty(),
        }
    }

    /// Client: with Accurate ECN asked for, the SYN-ACK's IP-ECN field is wanted (the handshake encoding).
    pub(crate) fn await_syn_ack(&mut self, accurate: bool) {
        self.watch = accurate;
    }

    /// Listener: the IP-ECN field its peer's SYN arrived with (before the SYN is handled).
    pub(crate) fn set_syn_field(&mut self, field: u8) {
        self.syn_field = field;
    }
}

impl TcpConnection {
    /// What the handshake agreed for ECN (`Off` before it completes).
    pub fn ecn_mode(&self) -> EcnMode {
        match (self.ecn.accurate, self.ecn.enabled) {
            (true, sending) => EcnMode::Accurate { sending },
            (false, true) => EcnMode::Classic,
            (false, false) => EcnMode::Off,
        }
    }

    /// Settles ECN from the flags of the peer's SYN, or SYN-ACK if `syn_ack` (RFC 3168 §6.1.1). A SYN without
    /// ACK in SYN-SENT (simultaneous open) agrees to nothing.
    pub(super) fn negotiate_ecn(&mut self, flags: TcpFlags, syn_ack: bool) {
        let (ece, cwr, ace) = (flags.contains(TcpFlags::ECE), flags.contains(TcpFlags::CWR), ace_of(flags));
        // RFC 9768 §3.1.1-2: what the SYN asks, or what the SYN-ACK answers to our SYN.
        let (classic, accurate) = if self.passive {
            (ece && cwr, ace == 0b111 && self.config.accurate_ecn)
        } else if !syn_ack {
            (false, false)
        } else if self.config.accurate_ecn {
            // (0,0,0) and (1,1,1): no ECN; ECE with CWR clear: RFC 3168's answer; the others: AccECN's Table 2.
            (ace == 0b001 || ace == 0b101, matches!(ace, 0b010 | 0b011 | 0b100 | 0b110))
        } else {
            (ece && !cwr, false)
        };
        let ecn = &mut self.ecn;
        ecn.accurate = accurate;
        ecn.enabled = self.config.asks_for_ecn() && (classic || accurate);
        ecn.dctcp = ecn.enabled && self.config.congestion == CongestionAlgorithm::Dctcp;
        if accurate {
            ecn.expected_flags = ace_flags(CEP_START as u8);
            if self.passive {
                ecn.awaiting_first_ack = true;
            } else {
                ecn.handshake_ace = Some(handshake_encoding(ecn.syn_field));
            }
        }
        ecn.watch = ecn.echo;
    }

    /// The IP header's ECN field of a segment about to be handed to [`Self::on_segment`]: `ce` if a router
    /// marked it Congestion Experienced (the stack reads it; a `TcpConnection` sees no IP header).
    #[inline]
    pub fn on_ecn_codepoint(&mut self, now: Nanos, field: u8) {
        let ce = field & codepoint::MASK == codepoint::CE;
        // Nothing to do for an unmarked segment while nothing is watched (always, without ECN).
        if ce || self.ecn.watch {
            self.on_ecn_mark(now, ce, field);
        }
    }

    #[cold]
    #[inline(never)]
    fn on_ecn_mark(&mut self, now: Nanos, ce: bool, field: u8) {
        if self.state == TcpState::SynSent {
            // The SYN-ACK's field, for the handshake encoding (not counted, RFC 9768 §3.2.2.1).
            self.ecn.syn_field = field;
            return;
        }
        if self.ecn.accurate {
            self.on_accurate_ecn_mark(now, ce);
            return;
        }
        if !self.ecn.enabled {
            return;
        }
        self.ecn.marked_now = ce;
        self.counters.ecn_ce_received += u64::from(ce);
        if !self.ecn.dctcp {
            self.ecn.echo |= ce;
            self.ecn.watch = self.ecn.echo;
            return;
        }
        if ce != self.ecn.echo {
            // RFC 8257 §3.2: the marks start or stop. Data received before this segment and not acknowledged
            // yet is acknowledged now, with the echo as it was for that data (an ACK owed already would carry
            // the new state: in a batch of segments handled before one transmit, the marks would be lost).
            if self.rcv_nxt != self.ack.last_ack_sent {
                self.ack_before_this_segment(now);
            }
            self.ecn.echo = ce;
            self.ecn.watch = ce;
        }
    }

    /// Queues an ACK of what arrived before the segment being handled, at once, in a synchronized state that
    /// sends ACKs (the segment's own ACK follows later, with what it changes).
    fn ack_before_this_segment(&mut self, now: Nanos) {
        if matches!(self.state, TcpState::Established | TcpState::FinWait1 | TcpState::FinWait2) {
            let owed = self.ack.duplicates_owed;
            let ack = self.ack_segment(now, self.snd_max);
            self.control.push(ack);
            // That ACK is one of the duplicates owed, if any were.
            self.ack.duplicates_owed = owed.saturating_sub(1);
            self.ack.now |= self.ack.duplicates_owed > 0;
        }
    }

    /// Accurate ECN's receiver (RFC 9768 §3.2.2.2, §3.2.2.5.1): counts a CE mark; a mark after an unmarked
    /// segment is acknowledged at once (change-triggered), and a third mark since our last segment first sends
    /// an ACK of the two before it (increment-triggered: a batch of segments handled before one transmit would
    /// otherwise report any number of marks in one three-bit field, which wraps at 8).
    fn on_accurate_ecn_mark(&mut self, now: Nanos, ce: bool) {
        if ce {
            if self.ecn.received_ce.wrapping_sub(self.ecn.reported_ce) >= 2 {
                self.ack_before_this_segment(now);
            }
            self.ecn.received_ce = self.ecn.received_ce.wrapping_add(1);
            self.counters.ecn_ce_received += 1;
            self.ack.now |= !self.ecn.last_ce;
        }
        self.ecn.last_ce = ce;
        self.ecn.watch = ce;
    }

    /// Accurate ECN's sender: the ACE field of an acceptable segment whose ACK is `ack` (before the ACK is
    /// processed). The first ACK of our SYN-ACK carries the handshake encoding instead: an ACE of 0 there means a
    /// middlebox cleared the field, and we stop sending ECN-capable packets and reacting (RFC 9768 §3.2.2.3).
    fn on_ace(&mut self, now: Nanos, flags: TcpFlags, ack: SeqNumber) {
        let ace = ace_of(flags);
        if std::mem::take(&mut self.ecn.awaiting_first_ack) {
            if ace == 0 {
                self.ecn.enabled = false;
                self.ecn.dctcp = false;
            }
            return;
        }
        // Only an ACK that moves SND.UNA is read, as Linux reads only ACKs that make progress: the peer sent it
        // after every ACK of less, so its count is the newest yet. A duplicate ACK (or one the network reordered
        // behind a newer one) may carry an older count, which read as new would be up to seven marks too many;
        // the marks it reports wait for the next ACK that moves SND.UNA (the count is cumulative).
        if ack <= self.snd_una {
            return;
        }
        let marks = u32::from(ace.wrapping_sub(self.ecn.sent_ce as u8) & 0b111);
        if marks == 0 {
            return;
        }
        self.ecn.sent_ce = self.ecn.sent_ce.wrapping_add(marks);
        self.ecn.expected_flags = ace_flags(self.ecn.sent_ce as u8);
        self.counters.ecn_ce_reported += u64::from(marks);
        if !self.ecn.enabled {
            return;
        }
        if self.ecn.dctcp {
            self.ecn.new_marks += marks;
        }
        self.ecn_reduce(now, ack);
    }

    /// DCTCP's sender: an ACK that advances SND.UNA to `ack`, with ECE or not (before SND.UNA moves). Counts
    /// the bytes, and at the end of an observation window hands the controller its marked fraction. Out of line:
    /// only DCTCP connections come here.
    #[cold]
    #[inline(never)]
    pub(super) fn dctcp_observe(&mut self, ack: SeqNumber, ece: bool) {
        let acked = ack.distance_from(self.snd_una).max(0) as usize;
        self.ecn.acked += acked;
        if self.ecn.accurate {
            // Each mark the peer counted stands for a segment of ours (at most what this ACK acknowledges).
            let marks = std::mem::take(&mut self.ecn.new_marks) as usize;
            self.ecn.marked += (marks * self.send_mss).min(acked);
        } else if ece {
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
        if self.ecn.accurate {
            self.on_ace(now, flags, ack);
            return;
        }
        // RFC 3168 §6.1.3 (a DCTCP receiver echoes each segment as it was marked, without CWR).
        if flags.contains(TcpFlags::CWR) && !self.ecn.dctcp && !self.ecn.marked_now {
            self.ecn.echo = false;
            self.ecn.watch = false;
        }
        if flags.contains(TcpFlags::ECE) {
            self.ecn_reduce(now, ack);
        }
    }

    /// A congestion mark reported by an ACK of `ack`: the window is reduced as for a loss (DCTCP's cut scaled by
    /// alpha), at most once per window of data and not in fast recovery; classic ECN's next new data carries CWR.
    fn ecn_reduce(&mut self, now: Nanos, ack: SeqNumber) {
        // Beyond the data outstanding at the last reduction: a mark on data sent since.
        let once_per_window = ack > self.ecn.recover;
        if ack <= self.snd_max && once_per_window && !self.recovery.in_recovery {
            let flight = self.snd_max.distance_from(self.snd_una).max(0) as usize;
            // A loss's reduction without the recovery (DCTCP's scaled by alpha).
            self.congestion.on_ecn_echo(now, flight);
            // A reduction the network asked for is not undone by later evidence about earlier recoveries.
            self.undo = None;
            self.timeout_undo = None;
            self.ecn.recover = self.snd_max;
            self.ecn.send_cwr = !self.ecn.accurate;
            self.counters.ecn_reductions += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ace_field_round_trips_through_the_flags() {
        for ace in 0..8u8 {
            let flags = ace_flags(ace);
            assert_eq!(ace_of(flags | TcpFlags::ACK | TcpFlags::PSH), ace);
            assert!(flags.without(ACE_FLAGS) == TcpFlags::empty());
        }
        assert_eq!(ace_flags(0b101), TcpFlags::AE | TcpFlags::ECE);
        assert_eq!(ace_flags(0b010), TcpFlags::CWR);
    }
}
