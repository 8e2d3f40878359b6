//! Undoing the window reduction of a fast recovery that D-SACKs show was for nothing (RFC 3708's detection,
//! with RFC 4015's response of restoring the window; Linux undoes the same way): when a recovery starts, the
//! congestion controller as it was is kept, and so is each range the recovery then resends. A D-SACK (RFC 2883)
//! that reports one of those ranges says its original had arrived after all. Once every resent range has been
//! reported so, nothing was lost, only late: the controller goes back to what it was, when the recovery has
//! ended (its end would otherwise apply the reduction again). A recovery that starts while an earlier one may
//! still be undone joins it: undoing then goes back to before the first, and needs every range both resent.
//! A timeout, a loss probe's window cut, or more than [`MAX_UNDO_RANGES`] resent ranges waiting for their D-SACK
//! end the chance, and
//! so does SND.UNA passing, twice over, what had been sent when the recovery ended: a late original arrives,
//! and draws its D-SACK, within about a round trip of the data sent with it.

use super::TcpConnection;
use super::congestion::Controller;
use super::rack::reports_duplicate;
use crate::wire::{SackBlock, SeqNumber};

/// Most resent ranges waiting for their D-SACK while a recovery may still be undone: more is not a few late
/// segments.
pub(crate) const MAX_UNDO_RANGES: usize = 16;

/// A recovery that may yet turn out spurious.
#[derive(Debug)]
pub(crate) struct Undo {
    /// The controller before the recovery's reduction.
    before: Controller,
    /// Recoveries joined in this one (see the module docs).
    recoveries: u64,
    /// The ranges the recovery resent that no D-SACK has reported yet.
    resent: Vec<(SeqNumber, SeqNumber)>,
    /// Every range resent so far has been reported: undo once the recovery ends.
    ready: bool,
    /// Once the recovery ended: the mark SND.UNA must pass, and how many times more after this one, before no
    /// D-SACK for it is still coming.
    expires: Option<(SeqNumber, u8)>,
}

impl TcpConnection {
    /// A recovery starts: keeps the controller as it is before its reduction (with SACK, which D-SACKs need),
    /// or joins the earlier recovery still waiting for its D-SACKs.
    pub(super) fn undo_start(&mut self) {
        if let Some(undo) = self.undo.as_mut() {
            undo.recoveries += 1;
            undo.ready = false;
            undo.expires = None;
            return;
        }
        self.undo = self.sack_enabled.then(|| {
            let before = self.congestion.clone();
            Box::new(Undo { before, recoveries: 1, resent: Vec::new(), ready: false, expires: None })
        });
    }

    /// The recovery resent `[start, end)`.
    pub(super) fn undo_note_retransmission(&mut self, start: SeqNumber, end: SeqNumber) {
        let Some(undo) = self.undo.as_mut() else { return };
        if !self.recovery.in_recovery || undo.expires.is_some() || undo.resent.len() >= MAX_UNDO_RANGES {
            self.undo = None;
            return;
        }
        undo.resent.push((start, end));
        undo.ready = false;
    }

    /// An ACK with SACK blocks: strikes off the resent ranges a D-SACK reports, and undoes the reduction when
    /// none is left and the recovery is over.
    pub(super) fn undo_on_sack_blocks(&mut self, ack: SeqNumber, blocks: &[SackBlock]) {
        let Some(undo) = self.undo.as_mut() else { return };
        if let Some((mark, more)) = undo.expires
            && self.snd_una >= mark
        {
            if more == 0 {
                self.undo = None;
                return;
            }
            undo.expires = Some((self.snd_max, more - 1));
        }
        if !reports_duplicate(ack, blocks) {
            return;
        }
        let dsack = blocks[0];
        let pending = undo.resent.len();
        undo.resent.retain(|&(start, end)| !(start < dsack.right && dsack.left < end));
        if undo.resent.len() < pending && undo.resent.is_empty() {
            undo.ready = true;
            if !self.recovery.in_recovery {
                self.undo_apply();
            }
        }
    }

    /// The recovery ended (after the controller's own end of recovery): undoes it if every resent range was
    /// reported, else starts the expiry.
    pub(super) fn undo_on_recovery_end(&mut self) {
        let Some(undo) = self.undo.as_mut() else { return };
        if undo.ready {
            self.undo_apply();
        } else {
            undo.expires = Some((self.snd_max, 1));
        }
    }

    /// A timeout or a loss probe's window cut: the window the recovery reduced is not coming back.
    pub(super) fn undo_forget(&mut self) {
        self.undo = None;
    }

    fn undo_apply(&mut self) {
        if let Some(undo) = self.undo.take() {
            self.congestion = undo.before;
            self.counters.undone_recoveries += undo.recoveries;
        }
    }
}
