//! How many of a stack's connections may be in a state at once, where each would otherwise hold memory for as
//! long as a peer makes it: a counted pool of slots ([`Slots`]) shared by the connections, each holding at most
//! one ([`Slot`], given back when released or dropped). Two limits use it:
//!
//! - Connections in TIME-WAIT (`TcpConfig::max_time_wait`; Linux's `tcp_max_tw_buckets`). A connection that
//!   closes first waits 2 MSL in TIME-WAIT (60 s by default), so a server that closes its connections first holds
//!   as many of them as it closes in 60 s: 50 000 a second would be 3 million. A connection takes a slot when it
//!   enters TIME-WAIT and gives it back when it leaves (the timer, a RST, or a new SYN that reopens it) or is
//!   dropped. With every slot taken, a connection that would enter TIME-WAIT closes at once instead, as Linux does
//!   when its table of them overflows: its peer's retransmitted FIN, if its last ACK was lost, then gets a RST
//!   instead of that ACK again.
//! - Orphans (`TcpConfig::max_orphans`; Linux's `tcp_max_orphans`): connections the application closed that are
//!   not yet closed nor in TIME-WAIT (FIN-WAIT-1, FIN-WAIT-2, CLOSING, LAST-ACK). A peer that never acknowledges
//!   our FIN, or never sends its own, keeps one for minutes (`max_retransmits` timeouts, `fin_wait2_timeout`). A
//!   connection takes a slot when the application closes it and gives it back when it enters TIME-WAIT or closes.
//!   With every slot taken, the close resets the connection instead, as Linux's does past its limit.

use std::cell::Cell;
use std::rc::Rc;

/// [`TcpConfig::max_time_wait`](super::TcpConfig::max_time_wait)'s and
/// [`TcpConfig::max_orphans`](super::TcpConfig::max_orphans)'s default.
pub const DEFAULT_LIMIT: usize = 65_536;

/// A stack's slots for one state, shared by the connections it is handed to.
#[derive(Clone, Debug)]
pub struct Slots(Rc<Pool>);

#[derive(Debug)]
struct Pool {
    limit: usize,
    taken: Cell<usize>,
}

impl Default for Slots {
    fn default() -> Self {
        Self::new(DEFAULT_LIMIT)
    }
}

impl Slots {
    pub fn new(limit: usize) -> Self {
        Self(Rc::new(Pool { limit, taken: Cell::new(0) }))
    }

    /// How many slots are taken.
    pub fn taken(&self) -> usize {
        self.0.taken.get()
    }
}

/// One connection's hold on a slot of [`Slots`], given back when it is dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Slots,
    held: bool,
}

impl Slot {
    pub(crate) fn new(slots: Slots) -> Self {
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
    pub(crate) fn move_to(&mut self, slots: &Slots) {
        let held = self.held;
        self.release();
        self.slots = slots.clone();
        if held {
            self.take();
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_out_and_come_back_when_released_or_dropped() {
        let slots = Slots::new(2);
        let [mut a, mut b, mut c] = [(); 3].map(|_| Slot::new(slots.clone()));
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
        let other = Slots::new(1);
        c.move_to(&other);
        assert_eq!((slots.taken(), other.taken()), (0, 1));
        drop(c);
        assert_eq!(other.taken(), 0);
    }
}
