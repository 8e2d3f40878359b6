//! A new SYN for a connection in TIME-WAIT: whether it may start a new incarnation of the connection at once
//! (RFC 1122 §4.2.2.13, RFC 6191), as a client that reconnects from the same port expects, instead of the
//! challenge ACK and the client's RST and SYN retry (a second's wait) that TIME-WAIT would otherwise cost it.
//!
//! The SYN must be newer than anything of the old incarnation: with timestamps on both incarnations, its
//! timestamp later than the last one seen (RFC 6191 §2); without, or with the same timestamp (a reconnection
//! within the timestamp clock's millisecond), its sequence number beyond RCV.NXT (RFC 1122). A timestamp older
//! than the last one seen marks an old duplicate, whatever its sequence number. This is Linux's rule too.
//! The new incarnation's initial sequence number must be beyond every sequence number the old one used. RFC
//! 1122's return to TIME-WAIT when the SYN then proves to be an old duplicate is not done (Linux does not
//! either): such a SYN passes neither test, since it is older than the data the old incarnation saw.

use super::{TcpConnection, TcpState};
use crate::wire::{SeqNumber, TcpRepr};

/// How far beyond the old incarnation's last sequence number the new one starts: clear of any window of it.
const INCARNATION_GAP: u32 = 1 << 16;

impl TcpConnection {
    /// If this connection is in TIME-WAIT and `syn` (a SYN without ACK or RST) may open a new incarnation of
    /// it: the least initial sequence number the new incarnation may use.
    pub fn new_incarnation_iss(&self, syn: &TcpRepr<'_>) -> Option<SeqNumber> {
        if self.state != TcpState::TimeWait {
            return None;
        }
        // The timestamp decides when both incarnations use timestamps and the SYN's differs from TS.Recent
        // (older is an old duplicate, as PAWS says); the same timestamp (a reconnection within the millisecond)
        // or none leaves it to the sequence number, as Linux decides.
        let timestamp_order = match (self.timestamps.as_ref().and_then(|t| t.recent()), syn.options.timestamps) {
            (Some(recent), Some(theirs)) if self.config.timestamps => {
                (theirs.value.wrapping_sub(recent) as i32).signum()
            }
            _ => 0,
        };
        let newer = match timestamp_order {
            1 => true,
            -1 => false,
            _ => syn.seq_number > self.rcv_nxt,
        };
        newer.then(|| self.snd_max + INCARNATION_GAP)
    }
}
