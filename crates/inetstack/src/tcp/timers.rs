//! The connection's timers as plain deadlines ([`TimerDeadlines`]), and what happens when each expires:
//! retransmission (RFC 6298 §5, with Karn's backoff and give-up after `max_retransmits`), RACK's reordering
//! timer and the tail loss probe (RFC 8985, handled in [`super::rack`]), zero-window probes
//! (persist timer, RFC 9293 §3.8.6.1), keepalive (RFC 1122 §4.2.3.6), the delayed ACK (RFC 1122 §4.2.3.2),
//! the end of TIME-WAIT / FIN-WAIT-2, and the idle trim of spare queue capacity ([`super::idle_trim`]).
//!
//! No timer wheel here: the demultiplexer asks [`super::TcpConnection::next_deadline`] and keeps its own
//! structure; a connection has at most eight deadlines.

use super::congestion::CongestionControl as _;
use super::{Nanos, TcpConnection, TcpState};

/// Pending deadlines; [`Nanos::NEVER`] when a timer is not running.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimerDeadlines {
    pub(crate) retransmit: Nanos,
    /// RACK's reordering timer (RFC 8985 §6.2 step 5).
    pub(crate) reorder: Nanos,
    /// The tail loss probe timeout (RFC 8985 §7.2).
    pub(crate) probe: Nanos,
    pub(crate) delayed_ack: Nanos,
    pub(crate) persist: Nanos,
    /// Zero-window probes sent without the window opening; doubles the probe interval.
    pub(crate) persist_backoff: u32,
    /// Zero-window probes sent since the peer last acknowledged anything; too many fail the connection.
    pub(crate) persist_unanswered: u32,
    /// TIME-WAIT or FIN-WAIT-2 ends.
    pub(crate) close: Nanos,
    /// Pacing lets the next held-back segment go (`pacing.rs`).
    pub(crate) pacing: Nanos,
    /// Queues give back their spare capacity if the connection idles (`idle_trim.rs`). Not in
    /// [`Self::earliest`] by itself: with keepalive, in [`TcpConnection::idle_deadline`].
    pub(crate) trim: Nanos,
    /// Keepalive probes sent without an answer, and when the last one went.
    pub(crate) keepalive_sent: u32,
    pub(crate) keepalive_last_probe: Option<Nanos>,
}

impl Default for TimerDeadlines {
    fn default() -> Self {
        Self {
            retransmit: Nanos::NEVER,
            reorder: Nanos::NEVER,
            probe: Nanos::NEVER,
            delayed_ack: Nanos::NEVER,
            persist: Nanos::NEVER,
            persist_backoff: 0,
            persist_unanswered: 0,
            close: Nanos::NEVER,
            pacing: Nanos::NEVER,
            trim: Nanos::NEVER,
            keepalive_sent: 0,
            keepalive_last_probe: None,
        }
    }
}

impl TimerDeadlines {
    /// The earliest deadline, `idle` (the idle timers', [`TcpConnection::idle_deadline`]) included
    /// ([`Nanos::NEVER`] if none runs): a branch-free minimum, as the demultiplexer asks after every segment and
    /// every transmit.
    #[inline]
    pub(crate) fn earliest(&self, idle: Nanos) -> Nanos {
        let earliest = idle.min(self.retransmit).min(self.reorder).min(self.probe);
        earliest.min(self.delayed_ack).min(self.persist).min(self.close).min(self.pacing)
    }
}

/// Whether `deadline` has come at `now` (a timer not running never has: `now` is below [`Nanos::NEVER`]).
#[inline]
fn due(deadline: Nanos, now: Nanos) -> bool {
    deadline <= now
}

impl TcpConnection {
    /// Runs every timer that is due at `now`. Inline, with the work out of line: every transmit asks, and
    /// mostly nothing is due.
    #[inline]
    pub(super) fn run_timers(&mut self, now: Nanos) {
        if due(self.next_deadline(), now) {
            self.run_due_timers(now);
        }
    }

    /// [`Self::run_timers`] once one is due.
    #[inline(never)]
    fn run_due_timers(&mut self, now: Nanos) {
        if due(self.timers.close, now) {
            self.timers.close = Nanos::NEVER;
            self.enter_closed();
            return;
        }
        if due(self.timers.reorder, now) {
            self.timers.reorder = Nanos::NEVER;
            if self.rack_detect_loss(now) {
                self.on_rack_loss(now);
            }
        }
        if due(self.timers.probe, now) {
            self.on_probe_timeout();
        } else if due(self.timers.retransmit, now) {
            self.on_retransmit_timeout(now);
        }
        if due(self.timers.persist, now) {
            self.on_persist_timeout(now);
        }
        if due(self.keepalive_deadline(), now) {
            self.on_keepalive_timeout(now);
        }
        if due(self.timers.delayed_ack, now) {
            self.timers.delayed_ack = Nanos::NEVER;
            self.ack.now = true;
        }
        if due(self.timers.pacing, now) {
            // The transmit that follows sends what pacing held back.
            self.timers.pacing = Nanos::NEVER;
        }
        if due(self.timers.trim, now) {
            self.on_idle_trim_timeout(now);
        }
    }

    fn on_retransmit_timeout(&mut self, now: Nanos) {
        self.counters.timeouts += 1;
        if self.mtu_probe_lost(now) {
            // The path did not take an MTU probe's size: not congestion (`tcp/mtu_probe.rs`).
            return;
        }
        self.retries += 1;
        let synchronized = self.state.is_synchronized();
        let limit = if synchronized { self.config.max_retransmits } else { self.config.syn_retries };
        if self.retries > limit {
            self.fail_timed_out("retransmission limit reached");
            return;
        }
        let mut black_hole = false;
        if synchronized {
            self.timeout_undo_arm(now);
            let flight = self.snd_max.distance_from(self.snd_una).max(0) as usize;
            self.congestion.on_timeout(now, flight, self.retries == 1);
            black_hole = self.suspect_black_hole(now);
        }
        self.reset_recovery_on_timeout();
        self.rack_on_timeout();
        if let Some(timestamps) = self.timestamps.as_mut() {
            timestamps.on_timeout(now);
        }
        // Go back N (RFC 5681 §3.1, RFC 6298 §5.4): resend from SND.UNA; SACKed ranges are skipped.
        self.snd_nxt = self.snd_una;
        self.void_timing();
        if black_hole {
            // The expiries were the path MTU's, not congestion's: the segments now fit, at the usual timeout.
            self.rtt.clear_backoff();
        } else {
            self.rtt.back_off();
        }
        self.timers.retransmit = now.saturating_add(self.rtt.rto());
    }

    /// The interval before the next zero-window probe: the RTO, doubled per unanswered probe.
    pub(super) fn persist_interval(&self) -> Nanos {
        let factor = 1u64 << self.timers.persist_backoff.min(16);
        self.rtt.rto().saturating_mul(factor).min(self.rtt.max_rto()).max(self.rtt.min_rto())
    }

    fn on_persist_timeout(&mut self, now: Nanos) {
        self.timers.persist = Nanos::NEVER;
        if self.timers.persist_unanswered >= self.config.max_retransmits {
            self.fail_timed_out("zero-window probes unanswered");
            return;
        }
        self.send_window_probe(now);
        self.timers.persist_backoff += 1;
        self.timers.persist_unanswered += 1;
        self.timers.persist = now.saturating_add(self.persist_interval());
    }

    /// The earlier of the timers that run on an idle connection: the idle trim (`idle_trim.rs`) and the next
    /// keepalive probe. Without keepalive (the default), the trim's deadline alone.
    #[inline]
    pub(super) fn idle_deadline(&self) -> Nanos {
        match self.config.keepalive {
            None => self.timers.trim,
            Some(idle) => self.idle_keepalive_deadline(idle).min(self.timers.trim),
        }
    }

    /// When the next keepalive probe is due, if keepalive is on and the connection is idle ([`Nanos::NEVER`]
    /// if not).
    #[inline]
    pub(super) fn keepalive_deadline(&self) -> Nanos {
        let Some(idle) = self.config.keepalive else { return Nanos::NEVER };
        self.idle_keepalive_deadline(idle)
    }

    /// [`Self::keepalive_deadline`] with keepalive on.
    fn idle_keepalive_deadline(&self, idle: std::time::Duration) -> Nanos {
        let idle_state = matches!(self.state, TcpState::Established | TcpState::CloseWait);
        if !idle_state || self.snd_max != self.snd_una || self.send_buffer.len() > 0 {
            return Nanos::NEVER;
        }
        match self.timers.keepalive_last_probe {
            Some(last) if self.timers.keepalive_sent > 0 => {
                last.saturating_add(Nanos::from_duration(self.config.keepalive_interval))
            }
            _ => self.last_received.saturating_add(Nanos::from_duration(idle)),
        }
    }

    fn on_keepalive_timeout(&mut self, now: Nanos) {
        if self.timers.keepalive_sent >= self.config.keepalive_probes {
            self.fail_timed_out("keepalive probes unanswered");
            return;
        }
        self.timers.keepalive_sent += 1;
        self.timers.keepalive_last_probe = Some(now);
        self.counters.keepalive_probes += 1;
        // SEG.SEQ = SND.NXT - 1, no data: outside the peer's window, so it must answer with an ACK.
        let probe = self.ack_segment(now, self.snd_max - 1);
        self.control.push(probe);
    }

    /// Any segment arrived: the peer is alive.
    pub(super) fn note_peer_alive(&mut self, now: Nanos) {
        self.last_received = now;
        self.timers.keepalive_sent = 0;
        self.timers.keepalive_last_probe = None;
    }

    /// Starts or stops the persist timer after a transmit: it runs when the peer's window is zero, data waits,
    /// and nothing else (the retransmission timer) will elicit an ACK.
    pub(super) fn update_persist_timer(&mut self, now: Nanos) {
        let waiting = self.data_end() > self.snd_una;
        let stalled = self.state.is_synchronized() && self.snd_wnd == 0 && waiting && self.timers.retransmit.is_never();
        if !stalled {
            self.stop_persist_timer(now);
        } else if self.timers.persist.is_never() {
            self.timers.persist = now.saturating_add(self.persist_interval());
        }
    }

    /// Stops the persist timer (the window is open, or nothing waits). A probe's byte still unacknowledged is
    /// then outstanding like any other data, so the retransmission timer covers it (RFC 6298 §5.1): if every
    /// probe was lost and the window reopened below that byte, nothing else would send it again (Nagle holds
    /// a short remainder behind it).
    #[inline]
    pub(super) fn stop_persist_timer(&mut self, now: Nanos) {
        self.timers.persist = Nanos::NEVER;
        self.timers.persist_backoff = 0;
        if self.snd_max > self.snd_una && self.timers.retransmit.is_never() && self.state.is_synchronized() {
            self.timers.retransmit = now.saturating_add(self.rtt.rto());
        }
    }
}
