//! Pacing (`TcpConfig::pacing`, off by default): new data and go-back-N resends leave spread over the round
//! trip instead of in bursts as ACKs release them. A burst reaches the bottleneck at the sender's line rate,
//! so a queue shallower than a window overflows though the window fits the path; slow start, whose bursts
//! come at twice the rate the ACKs return, loses most and leaves slow start with a fraction of the path's
//! window, from which CUBIC takes seconds to grow back.
//!
//! The rate is Linux's (`tcp_update_pacing_rate`): cwnd / SRTT, times 2 while cwnd is under half of ssthresh
//! (slow start doubles the window each round trip) and 1.2 after. Each segment of `len` bytes moves the time
//! the next may leave by `len` at that rate, from the later of that time and now (an idle connection earns
//! no burst). Without an SRTT yet, nothing is paced. Retransmissions of holes, lost segments and loss probes
//! go at once: they replace what left the network. Connections that pace take the general paths (their
//! `fast_paths` is off).

use super::congestion::CongestionControl as _;
use super::{Nanos, TcpConnection};

impl TcpConnection {
    /// Whether pacing holds the next segment back at `now`; if so, the pacing timer is set for when it may go.
    #[inline]
    pub(super) fn pacing_holds(&mut self, now: Nanos) -> bool {
        if !self.config.pacing || self.pacing_next <= now {
            return false;
        }
        self.timers.pacing = self.pacing_next;
        self.counters.pacing_waits += 1;
        true
    }

    /// `len` bytes left at `now`: the next segment may follow `len` bytes later at the pacing rate.
    pub(super) fn pacing_after_send(&mut self, now: Nanos, len: usize) {
        if !self.config.pacing {
            return;
        }
        let Some(srtt) = self.rtt.srtt() else { return };
        let cwnd = self.congestion.window().max(1) as u128;
        // Percent of cwnd / SRTT.
        let percent: u128 = if cwnd < (self.congestion.slow_start_threshold() / 2) as u128 { 200 } else { 120 };
        let interval = len as u128 * u128::from(srtt.as_nanos()) * 100 / (cwnd * percent);
        let interval = Nanos::from_nanos(u64::try_from(interval).unwrap_or(u64::MAX));
        self.pacing_next = self.pacing_next.max(now).saturating_add(interval);
    }
}
