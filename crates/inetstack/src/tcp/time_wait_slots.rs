//! How many of a stack's connections may be in TIME-WAIT at once (`TcpConfig::max_time_wait`; Linux's
//! `tcp_max_tw_buckets`). A connection that closes first waits 2 MSL in TIME-WAIT (60 s by default), so a server
//! that closes its connections first holds as many of them as it closes in 60 s: 50 000 a second would be 3 million
//! connections, each a whole connection here (Linux keeps a smaller record for them). A peer that makes a server
//! close connections at that rate could exhaust memory.
//!
//! A connection takes a slot when it enters TIME-WAIT and gives it back when it leaves (the timer, a RST, or a
//! new SYN that reopens it) or is dropped. With every slot taken, a connection that would enter TIME-WAIT closes
//! at once instead, as Linux does when its table of them overflows: its peer's retransmitted FIN, if its last ACK
//! was lost, then gets a RST instead of that ACK again.

use std::cell::Cell;
use std::rc::Rc;

/// [`TcpConfig::max_time_wait`](super::TcpConfig::max_time_wait)'s default.
pub const DEFAULT_LIMIT: usize = 65_536;

/// A stack's TIME-WAIT slots, shared by the connections it is handed to.
#[derive(Clone, Debug)]
pub struct TimeWaitSlots(Rc<Pool>);

#[derive(Debug)]
struct Pool {
    limit: usize,
    taken: Cell<usize>,
}

impl Default for TimeWaitSlots {
    fn default() -> Self {
        Self::new(DEFAULT_LIMIT)
    }
}

impl TimeWaitSlots {
    pub fn new(limit: usize) -> Self {
        Self(Rc::new(Pool { limit, taken: Cell::new(0) }))
    }

    /// How many connections are in TIME-WAIT.
    pub fn taken(&self) -> usize {
        self.0.taken.get()
    }
}

/// One connection's hold on a slot of [`TimeWaitSlots`], given back when it is dropped.
#[derive(Debug)]
pub(crate) struct TimeWaitSlot {
    slots: TimeWaitSlots,
    held: bool,
}

impl TimeWaitSlot {
    pub(crate) fn new(slots: TimeWaitSlots) -> Self {
        Self { slots, held: false }
    }

    /// Takes a slot (or keeps the one held); false if every slot is taken.
    pub(crate) fn take(&mut self) -> bool {
        let pool = &self.slots.0;
        if !self.held && pool.taken.get() < pool.limit {
            pool.taken.set(pool.taken.get() + 1);
            self.held = true;
        }
        self.held
    }

    /// Gives the slot back, if one is held.
    pub(crate) fn release(&mut self) {
        if std::mem::take(&mut self.held) {
            let pool = &self.slots.0;
            pool.taken.set(pool.taken.get() - 1);
        }
    }

    /// The slot held here, moved to a new hold (a connection hands it to its TIME-WAIT record), leaving this
    /// one holding none.
    pub(crate) fn hand_over(&mut self) -> Self {
        let held = std::mem::take(&mut self.held);
        Self { slots: self.slots.clone(), held }
    }

    /// Moves to `slots`, taking a slot there if one was held here (a connection moves before it closes, so
    /// none is).
    pub(crate) fn move_to(&mut self, slots: &TimeWaitSlots) {
        let held = self.held;
        self.release();
        self.slots = slots.clone();
        if held {
            self.take();
        }
    }
}

impl Drop for TimeWaitSlot {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_out_and_come_back_when_released_or_dropped() {
        let slots = TimeWaitSlots::new(2);
        let [mut a, mut b, mut c] = [(); 3].map(|_| TimeWaitSlot::new(slots.clone()));
        assert!(a.take() && a.take(), "a second take keeps the one slot");
        assert!(b.take());
        assert!(!c.take(), "every slot taken");
        assert_eq!(slots.taken(), 2);
        a.release();
        a.release();
        assert_eq!(slots.taken(), 1, "released once");
        assert!(c.take());
        drop(b);
        assert_eq!(slots.taken(), 1);
        let other = TimeWaitSlots::new(1);
        c.move_to(&other);
        assert_eq!((slots.taken(), other.taken()), (0, 1));
        drop(c);
        assert_eq!(other.taken(), 0);
    }
}
