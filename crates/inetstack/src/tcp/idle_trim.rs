//! Spare queue capacity given back by a connection that went idle.
//!
//! A connection's queues keep the capacity their busiest moment needed: the sent-segment records of a window's
//! flight, the receive queue of a reader that fell behind. Giving it back whenever a flight is all
//! acknowledged cost 1.1% of bulk throughput (the records grew again at every burst), so a connection keeps it
//! while it is busy; but a server with many connections that each moved some data and then went idle
//! (kept-alive clients, a pool) would hold it for good: 7.8 KB per idle established end after 200 KB each way,
//! 2.4 KB without the spare capacity (`tests/connection_memory.rs`).
//!
//! So once a queue has more than [`SPARE_ENTRIES`] spare (noticed when a flight is all acknowledged, or when
//! the application's read empties the receive queue), the trim timer runs: [`IDLE_TRIM_AFTER`] after the
//! connection last sent or received anything, its queues give back their spare capacity. A connection found
//! sending when the timer fires stops it until its flight is acknowledged; one that sent or received within the
//! second waits for the rest of it. So the timer fires at most once per idle second and never keeps an
//! otherwise quiet connection awake. A connection whose queues never have that much spare (request and
//! response of small messages) never runs it, and pays a comparison per flight and per read.

use super::{Nanos, TcpConnection};

/// Entries a queue may keep without the trim timer running.
const SPARE_ENTRIES: usize = 16;

/// How long a connection idles before its queues give back their spare capacity.
const IDLE_TRIM_AFTER: Nanos = Nanos::from_secs(1);

impl TcpConnection {
    /// A flight was all acknowledged: the sent-segment records are all spare.
    #[inline]
    pub(super) fn note_flight_acknowledged(&mut self, now: Nanos) {
        if self.sent_segments.capacity() > SPARE_ENTRIES {
            self.arm_idle_trim(now);
        }
    }

    /// The application read: once it has emptied the receive queue, whatever room the queue has is spare.
    #[inline]
    pub(super) fn note_receive_queue_read(&mut self) {
        if self.receive_queue.is_empty() && self.receive_queue.spare_capacity() > SPARE_ENTRIES {
            self.arm_idle_trim_after_read();
        }
    }

    /// [`Self::arm_idle_trim`] from a read, which has no clock: the second counts from the connection's last
    /// segment, and the stack is told to schedule it.
    #[cold]
    #[inline(never)]
    fn arm_idle_trim_after_read(&mut self) {
        if self.timers.trim.is_never() {
            self.timers.trim = self.last_send.max(self.last_received).saturating_add(IDLE_TRIM_AFTER);
            self.trim_armed_by_read = true;
        }
    }

    /// Starts the trim timer, if it is not running.
    #[cold]
    #[inline(never)]
    fn arm_idle_trim(&mut self, now: Nanos) {
        if self.timers.trim.is_never() {
            self.timers.trim = now.saturating_add(IDLE_TRIM_AFTER);
        }
    }

    /// The trim timer fired: gives back the spare capacity if the connection has idled long enough; else, if it
    /// has nothing in flight, waits until it will have if it goes on idling. With data in flight or waiting to
    /// be sent it stops: the flight's acknowledgment starts it again.
    pub(super) fn on_idle_trim_timeout(&mut self, now: Nanos) {
        self.timers.trim = Nanos::NEVER;
        if self.snd_max != self.snd_una || self.send_buffer.len() > 0 {
            return;
        }
        let idle_from = self.last_send.max(self.last_received);
        if now.saturating_sub(idle_from) < IDLE_TRIM_AFTER {
            self.timers.trim = idle_from.saturating_add(IDLE_TRIM_AFTER);
            return;
        }
        self.shrink_queues();
    }

    /// Every queue keeps only what it holds.
    pub(super) fn shrink_queues(&mut self) {
        self.sent_segments.shrink_to_fit();
        self.scoreboard.shrink_to_fit();
        self.rack.shrink_to_fit();
        self.send_buffer.shrink_to_fit();
        self.receive_queue.shrink_to_fit();
        self.reassembly.shrink_to_fit();
        self.control.shrink_to_fit();
    }
}
