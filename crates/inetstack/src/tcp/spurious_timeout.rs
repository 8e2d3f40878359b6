//! A retransmission timeout that delay, not loss, set off: found with timestamps (Eifel detection, RFC 3522) or,
//! without them, by F-RTO (RFC 5682), and undone (RFC 4015's response, as Linux undoes a timeout).
//!
//! A path whose delay jumps past the RTO for a moment (a queue behind a burst, a peer descheduled, a link
//! layer retrying) fires the timer while the data and its ACKs are only late. The timeout then cuts the window
//! to one segment and goes back N: everything in flight is sent again, though it all arrives.
//!
//! - **Eifel**, with timestamps: the first ACK after the timeout says which it was: the TSval it echoes is older
//!   than the retransmission's when the original transmission drew it.
//! - **F-RTO** (§2, the basic algorithm), without: if the first ACK after the timeout advances SND.UNA but not
//!   to what was outstanding at the timeout, two segments of new data go out instead of going back N; if the
//!   next ACK advances SND.UNA again, beyond what the timeout resent, segments sent before the timeout are
//!   arriving: the timeout was spurious. (RFC 5682 resends one segment; a window of one segment in bytes can
//!   hold two smaller ones after the path MTU fell, and the ACK of the second says nothing.)
//!   A duplicate ACK at either step, an ACK of everything outstanding, nothing new to send, or a second expiry
//!   of the timer means a loss: the conventional go-back-N recovery goes on.
//!
//! Either way, a spurious timeout gets the controller back as it was before the timeout, and sending resumes at
//! SND.MAX instead of resending the flight; only the one retransmission sent at the timeout was for nothing
//! (the peer reports it with a D-SACK).
//!
//! Only the first expiry of a flight outside fast recovery is checked (a timeout within a recovery follows
//! losses). `TcpConfig::frto` turns F-RTO off.

use super::congestion::Controller;
use super::{Nanos, TcpConnection};
use crate::wire::{SeqNumber, TcpRepr};

/// What undoing a timeout needs, kept from its first expiry until the ACKs that decide.
#[derive(Debug)]
pub(crate) struct TimeoutUndo {
    /// The controller before the timeout's reduction.
    before: Controller,
    detection: Detection,
}

#[derive(Clone, Copy, Debug)]
enum Detection {
    /// Our TSval on the retransmission the timeout sent.
    Eifel { retransmitted_at: u32 },
    /// SND.MAX at the timeout (RFC 5682's "recover"), and the step: before the first ACK that advances
    /// SND.UNA, or after it (`resent_to`: the end of what went again since the timeout), with `new_segments`
    /// segments of new data still to send.
    Frto { recover: SeqNumber, second_ack: Option<SeqNumber>, new_segments: u8 },
}

impl TcpConnection {
    /// The retransmission timer expired (the controller not yet told): keeps what undoing needs on the first
    /// expiry of a flight outside recovery; a second expiry ends F-RTO (RFC 5682 §2.1 step 1).
    pub(super) fn timeout_undo_arm(&mut self, now: Nanos) {
        if self.retries > 1 {
            if self.frto_running() {
                self.timeout_undo = None;
            }
            return;
        }
        let detection = match &self.timestamps {
            _ if self.recovery.in_recovery => None,
            Some(timestamps) => Some(Detection::Eifel { retransmitted_at: timestamps.value(now) }),
            None if self.config.frto => {
                Some(Detection::Frto { recover: self.snd_max, second_ack: None, new_segments: 0 })
            }
            None => None,
        };
        self.timeout_undo =
            detection.map(|detection| Box::new(TimeoutUndo { before: self.congestion.clone(), detection }));
    }

    /// Whether F-RTO is deciding about the last timeout.
    fn frto_running(&self) -> bool {
        matches!(self.timeout_undo.as_deref(), Some(TimeoutUndo { detection: Detection::Frto { .. }, .. }))
    }

    /// An ACK that advances SND.UNA to `ack` after a timeout (SND.UNA not yet moved): Eifel decides on the
    /// first; F-RTO on the first two.
    #[inline(never)]
    pub(super) fn timeout_undo_check(&mut self, segment: &TcpRepr<'_>, ack: SeqNumber) {
        let Some(mut undo) = self.timeout_undo.take() else { return };
        match undo.detection {
            Detection::Eifel { retransmitted_at } => {
                let Some(theirs) = segment.options.timestamps else { return };
                if (theirs.echo_reply.wrapping_sub(retransmitted_at) as i32) < 0 {
                    self.undo_timeout(undo.before);
                }
            }
            Detection::Frto { recover, second_ack: None, .. } => {
                // Step 2: an ACK of everything outstanding, or nothing new to send, leaves it to go-back-N.
                let unsent = self.data_end() > self.snd_max;
                let window_open = self.snd_max < ack + self.snd_wnd;
                if ack < recover && unsent && window_open {
                    let resent_to = self.snd_nxt;
                    self.snd_nxt = self.snd_max;
                    undo.detection = Detection::Frto { recover, second_ack: Some(resent_to), new_segments: 2 };
                    self.timeout_undo = Some(undo);
                }
            }
            // Step 3: a second ACK that advances SND.UNA beyond what went again since the timeout acknowledges
            // segments sent before it. One that covers only resent data (the timeout's window held more than
            // the one segment RFC 5682 resends) tells nothing: a loss, as by a duplicate ACK.
            Detection::Frto { second_ack: Some(resent_to), .. } => {
                if ack > resent_to {
                    self.undo_timeout(undo.before);
                } else {
                    self.snd_nxt = self.snd_una;
                }
            }
        }
    }

    /// A duplicate ACK while F-RTO decides: a loss after all; go back N from SND.UNA (step 2a or 3a).
    pub(super) fn frto_on_duplicate_ack(&mut self) {
        if self.frto_running() {
            self.timeout_undo = None;
            self.snd_nxt = self.snd_una;
        }
    }

    /// While F-RTO sends its two segments of new data (step 2b): how many bytes it may still send, whatever the
    /// congestion window (`None` otherwise).
    pub(super) fn frto_allowance(&self) -> Option<usize> {
        match self.timeout_undo.as_deref() {
            Some(TimeoutUndo { detection: Detection::Frto { second_ack: Some(_), new_segments, .. }, .. }) => {
                Some(usize::from(*new_segments) * self.send_mss)
            }
            _ => None,
        }
    }

    /// F-RTO sent one of its segments of new data.
    pub(super) fn frto_sent(&mut self) {
        if let Some(TimeoutUndo { detection: Detection::Frto { new_segments, .. }, .. }) =
            self.timeout_undo.as_deref_mut()
        {
            *new_segments = new_segments.saturating_sub(1);
        }
    }

    /// The timeout was spurious: the controller goes back, and sending resumes at SND.MAX.
    fn undo_timeout(&mut self, before: Controller) {
        self.counters.spurious_timeouts += 1;
        self.congestion = before;
        self.snd_nxt = self.snd_max;
        self.recovery.retransmit_head = false;
    }
}
