//! The received data all of a stack's connections hold together, in order or out of order, bounded by one
//! limit (`TcpConfig::receive_memory`; Linux bounds its TCP memory together with `tcp_mem`). Each connection's
//! receive buffer bounds what it holds, but not how many connections there are: a peer that opens connections
//! faster than the application reads them could otherwise make the stack hold a full buffer on each.
//!
//! Each connection charges what it holds ([`ReceiveCharge`]) and gives it all back when it is dropped. Past the
//! limit, a connection takes no more data (the segment is dropped and acknowledged, as Linux drops what it has
//! no memory for; the sender resends it) and its window stops growing, unless less than [`FLOOR`] waits for
//! its reader: each connection may always queue that much in order, so that every connection's reader makes
//! progress whatever the others hold. Out-of-order data gets no floor (the reader could not take it), and a
//! segment that fills a gap is in-order data. What the stack holds thus stays under the limit plus a floor
//! and a segment per connection. Memory freed by one connection's reader does not announce itself to the
//! others: their peers find the window again with their own probes and retransmissions, as with Linux.

use std::cell::Cell;
use std::rc::Rc;

/// What a connection may always queue in order for its reader, whatever the others hold (Linux's `tcp_rmem[0]`).
pub const FLOOR: usize = 4096;

/// [`TcpConfig::receive_memory`](super::TcpConfig::receive_memory)'s default: 1 GiB.
pub const DEFAULT_LIMIT: usize = 1 << 30;

/// The received bytes a stack's connections hold, and their limit; shared by the connections it is handed to.
#[derive(Clone, Debug)]
pub struct ReceiveMemory(Rc<Pool>);

#[derive(Debug)]
struct Pool {
    limit: usize,
    held: Cell<usize>,
}

impl Default for ReceiveMemory {
    fn default() -> Self {
        Self::new(DEFAULT_LIMIT)
    }
}

impl ReceiveMemory {
    pub fn new(limit: usize) -> Self {
        Self(Rc::new(Pool { limit, held: Cell::new(0) }))
    }

    /// What all the connections hold.
    pub fn held(&self) -> usize {
        self.0.held.get()
    }

    pub fn limit(&self) -> usize {
        self.0.limit
    }
}

/// What one connection holds of a [`ReceiveMemory`], given back when it is dropped.
#[derive(Debug)]
pub(crate) struct ReceiveCharge {
    memory: ReceiveMemory,
    bytes: usize,
}

impl ReceiveCharge {
    pub(crate) fn new(memory: ReceiveMemory) -> Self {
        Self { memory, bytes: 0 }
    }

    /// Whether `len` more bytes of in-order data may be taken in, with `queued` bytes waiting for the reader.
    #[inline]
    pub(crate) fn admits_in_order(&self, len: usize, queued: usize) -> bool {
        queued < FLOOR || self.memory.held() + len <= self.memory.limit()
    }

    /// Whether `len` more bytes of out-of-order data may be taken in. No floor: data the reader cannot have
    /// yet would not let it make progress, and a connection holding a floor of it could refuse the segment
    /// that fills its gap.
    #[inline]
    pub(crate) fn admits_out_of_order(&self, len: usize) -> bool {
        self.memory.held() + len <= self.memory.limit()
    }

    /// How many more bytes of in-order data the connection may be offered, with `queued` bytes waiting for the
    /// reader: what is left under the limit, or what is left of its floor if that is more.
    #[inline]
    pub(crate) fn room(&self, queued: usize) -> usize {
        let pool = &self.memory.0;
        pool.limit.saturating_sub(pool.held.get()).max(FLOOR.saturating_sub(queued))
    }

    /// What all the connections sharing the limit hold.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.memory.held()
    }

    /// The connection now holds `bytes`.
    #[inline]
    pub(crate) fn set(&mut self, bytes: usize) {
        let pool = &self.memory.0;
        pool.held.set(pool.held.get() - self.bytes + bytes);
        self.bytes = bytes;
    }

    /// Moves to `memory`, taking what the connection holds with it.
    pub(crate) fn move_to(&mut self, memory: &ReceiveMemory) {
        let bytes = self.bytes;
        self.set(0);
        self.memory = memory.clone();
        self.set(bytes);
    }
}

impl Drop for ReceiveCharge {
    fn drop(&mut self) {
        self.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_binds_past_the_floor_and_drops_give_everything_back() {
        let memory = ReceiveMemory::new(10_000);
        let (mut a, mut b) = (ReceiveCharge::new(memory.clone()), ReceiveCharge::new(memory.clone()));
        a.set(9_000);
        assert!(a.admits_in_order(1_000, 9_000) && !a.admits_in_order(1_001, 9_000));
        assert!(a.admits_out_of_order(1_000) && !a.admits_out_of_order(1_001));
        assert_eq!(a.room(9_000), 1_000);
        // Past the limit, a connection with less than its floor queued still takes in-order data.
        a.set(12_000);
        assert!(b.admits_in_order(1_460, 0) && a.admits_in_order(1_460, FLOOR - 1));
        assert!(!b.admits_out_of_order(1), "no floor for out-of-order data");
        assert_eq!((b.room(0), b.room(1_000)), (FLOOR, FLOOR - 1_000));
        b.set(FLOOR);
        assert!(!b.admits_in_order(1, FLOOR) && !a.admits_in_order(1, 12_000));
        assert_eq!((a.room(12_000), b.room(FLOOR)), (0, 0));
        assert_eq!(memory.held(), 12_000 + FLOOR);
        drop(a);
        assert_eq!(memory.held(), FLOOR);
        let other = ReceiveMemory::new(100);
        b.move_to(&other);
        assert_eq!((memory.held(), other.held()), (0, FLOOR));
        drop(b);
        assert_eq!(other.held(), 0);
    }
}
