//! Buffer auto-tuning: buffers that grow to what the path needs, so that neither limits a connection over a
//! path with a large bandwidth-delay product, while connections that do not need them keep small ones.
//!
//! Send buffer (as Linux's `tcp_sndbuf_expand`), up to `TcpConfig::send_buffer_max`: when an application's push
//! found the buffer full, the next ACK outside loss recovery raises it to twice the congestion window (a
//! window in flight and one queued behind it). A flow held back by the buffer grows its window up to twice its
//! flight (`window_growth`), so each round trip that fills the buffer may double it, as long as the network
//! lets the window grow; it never shrinks.
//!
//! Receive buffer (dynamic right-sizing, as Linux's `tcp_rcv_space_adjust`): a connection whose
//! application reads as fast as the data comes grows its receive buffer, and so the window it offers, until the
//! window no longer limits the sender, up to `TcpConfig::recv_buffer_max`.
//!
//! - **Round trip, seen by the receiver**: the TSecr of a data segment echoes one of our TSvals, so the time
//!   since that TSval is a round trip (smoothed, 1/8 per sample; at least 1 ms, the timestamp clock's tick).
//!   One data segment per round trip is looked at (the first after the round's end), so the rest cost one
//!   comparison each. Without timestamps there is no such sample and the buffer keeps its configured size.
//! - **Each round trip**: if the application read more than half the buffer in it, the sender could use a larger
//!   window: the buffer becomes twice what was read (Linux's factor), at most `recv_buffer_max`. It never shrinks:
//!   the window's right edge never moves back, and a buffer that was needed once is likely needed again.
//! - Only with window scaling (the shift offered covers `recv_buffer_max`): without it the window stops at 64 KiB.
//!
//! Memory: what the connection may queue grows with the buffers, and stays within `send_buffer_max` and
//! `recv_buffer_max` per connection; only a connection whose application fills the send buffer, or keeps up
//! with the receive buffer, gets there.

use super::congestion::CongestionControl as _;
use super::tuning_budget::{Grant, TuningBudget};
use super::{Nanos, TcpConfig, TcpConnection};
use crate::wire::TcpRepr;

/// The smallest round trip a sample gives (one tick of the timestamp clock).
const MIN_RTT: Nanos = Nanos::from_millis(1);

/// A tuning connection's state.
#[derive(Debug)]
pub(crate) struct Tuning {
    /// Receive-buffer tuning's measurements; `None` without `recv_buffer_max`, or once the handshake did not
    /// agree window scaling and timestamps.
    pub(crate) receive: Option<Autotune>,
    /// What tuning took from the budget it shares (`tuning_budget.rs`), given back when dropped.
    pub(crate) grant: Grant,
}

impl Tuning {
    /// The state for a connection with `config`, if it tunes anything.
    pub(crate) fn for_config(config: &TcpConfig) -> Option<Self> {
        let receive = config
            .recv_buffer_max
            .filter(|&max| max > config.recv_buffer && config.window_scale && config.timestamps)
            .map(|_| Autotune::default());
        let send = config.send_buffer_max.is_some_and(|max| max > config.send_buffer);
        (receive.is_some() || send)
            .then(|| Self { receive, grant: Grant::new(TuningBudget::new(config.autotune_budget)) })
    }
}

/// Receive-buffer tuning's measurements.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Autotune {
    /// The receiver's smoothed round trip (zero until the first sample).
    rtt: Nanos,
    /// When the current measurement began.
    since: Nanos,
    /// Bytes the application read since then.
    pub(crate) copied: usize,
    /// When the next data segment is looked at: the round's end (zero before the first sample).
    pub(crate) next: Nanos,
}

impl TcpConnection {
    /// The handshake did not agree what receive-buffer tuning needs (window scaling and timestamps).
    pub(super) fn stop_receive_tuning(&mut self) {
        if let Some(tuning) = self.tuning.as_mut() {
            tuning.receive = None;
        }
    }

    /// An ACK arrived after a push found the send buffer full, on a connection with `send_buffer_max`: outside
    /// loss recovery, the buffer grows to twice the congestion window, at most the maximum. Out of line: only a
    /// sender that fills its buffer comes here, once per push that found it full.
    #[cold]
    #[inline(never)]
    pub(super) fn autotune_send_buffer(&mut self) {
        self.send_buffer.take_filled();
        let (Some(most), Some(tuning)) = (self.config.send_buffer_max, self.tuning.as_mut()) else { return };
        if self.recovery.in_recovery {
            return;
        }
        let capacity = self.send_buffer.capacity();
        let wanted = self.congestion.window().saturating_mul(2).min(most);
        let granted = tuning.grant.take(wanted.saturating_sub(capacity));
        if granted > 0 {
            self.send_buffer.grow_to(capacity + granted);
            self.counters.send_buffer_grown += 1;
        }
    }

    /// The first data segment since the round's end arrived (after it was handled): takes the round trip its
    /// TSecr tells, and at the end of each round trip grows the buffer if the application read more than half
    /// of it. Out of line: once per round trip, on connections with `recv_buffer_max`.
    #[cold]
    #[inline(never)]
    pub(super) fn autotune_on_data(&mut self, now: Nanos, segment: &TcpRepr<'_>) {
        let (Some(timestamps), Some(theirs), Some(tuning)) =
            (self.timestamps.as_ref(), segment.options.timestamps, self.tuning.as_deref_mut())
        else {
            return;
        };
        let Tuning { receive: Some(tune), grant } = tuning else { return };
        if theirs.echo_reply != 0
            && let Some(sample) = timestamps.rtt(now, theirs.echo_reply)
        {
            let sample = sample.max(MIN_RTT);
            tune.rtt = if tune.rtt == Nanos::ZERO {
                tune.since = now;
                sample
            } else {
                Nanos::from_nanos((tune.rtt.as_nanos() * 7 + sample.as_nanos()) / 8)
            };
        }
        if tune.rtt == Nanos::ZERO {
            return;
        }
        if now.saturating_sub(tune.since) >= tune.rtt {
            let most = self.config.recv_buffer_max.unwrap_or(self.rcv_buffer);
            let wanted = tune.copied.saturating_mul(2).min(most);
            let granted = grant.take(wanted.saturating_sub(self.rcv_buffer));
            if granted > 0 {
                self.rcv_buffer += granted;
                self.counters.recv_buffer_grown += 1;
            }
            (tune.since, tune.copied) = (now, 0);
        }
        tune.next = tune.since.saturating_add(tune.rtt);
    }
}
