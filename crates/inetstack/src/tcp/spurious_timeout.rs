//! A retransmission timeout that delay, not loss, set off: found with timestamps (Eifel detection, RFC 3522) and
//! undone (RFC 4015's response, as Linux undoes a timeout).
//!
//! A path whose delay jumps past the RTO for a moment (a queue behind a burst, a peer descheduled, a link
//! layer retrying) fires the timer while the data and its ACKs are only late. The timeout then cuts the window
//! to one segment and goes back N: everything in flight is sent again, though it all arrives. With timestamps
//! the first ACK after the timeout says which it was: the TSval it echoes is older than the retransmission's
//! when the original transmission drew it. Then the controller goes back to what it was before the timeout
//! and sending resumes at SND.MAX instead of resending the flight; only the one retransmission sent at the
//! timeout was for nothing (the peer reports it with a D-SACK).
//!
//! Only the first expiry of a flight outside fast recovery is checked (a timeout within a recovery follows
//! losses), and only the first ACK that advances SND.UNA decides.

use super::congestion::Controller;
use super::{Nanos, TcpConnection};
use crate::wire::TcpRepr;

/// What undoing a timeout needs, kept from its first expiry until the next ACK that advances SND.UNA.
#[derive(Debug)]
pub(crate) struct TimeoutUndo {
    /// The controller before the timeout's reduction.
    before: Controller,
    /// Our TSval on the retransmission the timeout sent.
    retransmitted_at: u32,
}

impl TcpConnection {
    /// The retransmission timer expired (the controller not yet told): keeps what undoing needs on the first
    /// expiry of a flight outside recovery, with timestamps on.
    pub(super) fn timeout_undo_arm(&mut self, now: Nanos) {
        if self.retries > 1 {
            return;
        }
        self.timeout_undo = match &self.timestamps {
            Some(timestamps) if !self.recovery.in_recovery => {
                Some(Box::new(TimeoutUndo { before: self.congestion.clone(), retransmitted_at: timestamps.value(now) }))
            }
            _ => None,
        };
    }

    /// The first ACK that advances SND.UNA after a timeout: undoes the timeout if that ACK echoes a TSval older
    /// than the retransmission's.
    #[inline(never)]
    pub(super) fn timeout_undo_check(&mut self, segment: &TcpRepr<'_>) {
        let Some(undo) = self.timeout_undo.take() else { return };
        let Some(theirs) = segment.options.timestamps else { return };
        if (theirs.echo_reply.wrapping_sub(undo.retransmitted_at) as i32) >= 0 {
            return;
        }
        self.counters.spurious_timeouts += 1;
        self.congestion = undo.before;
        self.snd_nxt = self.snd_max;
        self.recovery.retransmit_head = false;
    }
}
