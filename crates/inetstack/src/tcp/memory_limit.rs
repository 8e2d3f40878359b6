//! What all of a stack's connections hold together, bounded by one limit per direction, as Linux bounds its TCP
//! memory with `tcp_mem`: each connection's buffers bound what it holds, but not how many connections there
//! are, so a peer that opens many connections could otherwise make the stack hold a full buffer on each.
//! - Received data, in order or out of order (`TcpConfig::receive_memory`, charged by the connection for its
//!   receive and reassembly queues): a peer that sends faster than the application reads.
//! - Data waiting to be sent or acknowledged (`TcpConfig::send_memory`, charged by the send buffer): a peer
//!   that reads slowly, or not at all, while the application keeps pushing.
//!
//! Each connection charges what it holds ([`MemoryCharge`]) and gives it all back when it is dropped. Past the
//! limit a connection takes no more, unless it holds less than a floor: each may always hold that much, so
//! that every connection makes progress whatever the others hold. What the stack holds thus stays under the
//! limit plus a floor (and a segment, on the receive side) per connection. How each side takes no more is its
//! own: received data is dropped and acknowledged (`receive.rs`), a push takes fewer bytes (`send_buffer.rs`).

use std::cell::Cell;
use std::rc::Rc;

/// What a connection may always hold of received data in order, whatever the others hold (Linux's
/// `tcp_rmem[0]`).
pub const RECEIVE_FLOOR: usize = 4096;

/// What a connection may always hold of data to send, whatever the others hold (Linux's `tcp_wmem[0]`).
pub const SEND_FLOOR: usize = 4096;

/// `TcpConfig::receive_memory`'s and `send_memory`'s default: 1 GiB each.
pub const DEFAULT_LIMIT: usize = 1 << 30;

/// The bytes a stack's connections hold, and their limit; shared by the connections it is handed to.
#[derive(Clone, Debug)]
pub struct MemoryLimit(Rc<Pool>);

#[derive(Debug)]
struct Pool {
    limit: usize,
    held: Cell<usize>,
}

impl Default for MemoryLimit {
    fn default() -> Self {
        Self::new(DEFAULT_LIMIT)
    }
}

impl MemoryLimit {
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

    /// What is left under the limit.
    pub fn available(&self) -> usize {
        self.0.limit.saturating_sub(self.0.held.get())
    }
}

/// What one connection holds of a [`MemoryLimit`], given back when it is dropped.
#[derive(Debug)]
pub(crate) struct MemoryCharge {
    memory: MemoryLimit,
    bytes: usize,
}

impl MemoryCharge {
    pub(crate) fn new(memory: MemoryLimit) -> Self {
        Self { memory, bytes: 0 }
    }

    /// Whether `len` more bytes may be taken with `queued` bytes held: under the limit, or while less than
    /// `floor` is held (0: no floor).
    #[inline]
    pub(crate) fn admits(&self, len: usize, queued: usize, floor: usize) -> bool {
        queued < floor || self.memory.held() + len <= self.memory.limit()
    }

    /// Whether `len` more bytes fit with `queued` bytes held: under the limit, or within `floor`. The same as
    /// `len <= self.room(queued, floor)`, with the common case (under the limit) first.
    #[inline]
    pub(crate) fn fits(&self, len: usize, queued: usize, floor: usize) -> bool {
        self.memory.held() + len <= self.memory.limit() || queued + len <= floor
    }

    /// How many more bytes the connection may take with `queued` bytes held: what is left under the limit, or
    /// what is left of `floor` if that is more.
    #[inline]
    pub(crate) fn room(&self, queued: usize, floor: usize) -> usize {
        self.memory.available().max(floor.saturating_sub(queued))
    }

    /// What all the connections sharing the limit hold.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.memory.held()
    }

    /// What this connection holds.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The connection now holds `len` bytes more.
    #[inline]
    pub(crate) fn add(&mut self, len: usize) {
        let pool = &self.memory.0;
        pool.held.set(pool.held.get() + len);
        self.bytes += len;
    }

    /// The connection now holds `len` bytes fewer (at most what it holds).
    #[inline]
    pub(crate) fn remove(&mut self, len: usize) {
        let pool = &self.memory.0;
        pool.held.set(pool.held.get() - len);
        self.bytes -= len;
    }

    /// The connection now holds `bytes`.
    #[inline]
    pub(crate) fn set(&mut self, bytes: usize) {
        let pool = &self.memory.0;
        pool.held.set(pool.held.get() - self.bytes + bytes);
        self.bytes = bytes;
    }

    /// Moves to `memory`, taking what the connection holds with it.
    pub(crate) fn move_to(&mut self, memory: &MemoryLimit) {
        let bytes = self.bytes;
        self.set(0);
        self.memory = memory.clone();
        self.set(bytes);
    }
}

impl Drop for MemoryCharge {
    fn drop(&mut self) {
        self.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOOR: usize = RECEIVE_FLOOR;

    #[test]
    fn the_limit_binds_past_the_floor_and_drops_give_everything_back() {
        let memory = MemoryLimit::new(10_000);
        let (mut a, mut b) = (MemoryCharge::new(memory.clone()), MemoryCharge::new(memory.clone()));
        a.set(9_000);
        assert!(a.admits(1_000, 9_000, FLOOR) && !a.admits(1_001, 9_000, FLOOR));
        assert!(a.admits(1_000, 0, 0) && !a.admits(1_001, 0, 0));
        assert_eq!((a.room(9_000, FLOOR), memory.available()), (1_000, 1_000));
        // `fits` says what `room` says.
        for (len, queued) in [(1_000, 9_000), (1_001, 9_000), (1_001, 0), (FLOOR, 0), (FLOOR + 1, 0)] {
            assert_eq!(b.fits(len, queued, FLOOR), len <= b.room(queued, FLOOR), "{len} {queued}");
        }
        b.add(600);
        b.remove(100);
        assert_eq!((b.bytes(), memory.held()), (500, 9_500));
        b.remove(500);
        // Past the limit, a connection with less than its floor queued still takes data.
        a.set(12_000);
        assert!(b.admits(1_460, 0, FLOOR) && a.admits(1_460, FLOOR - 1, FLOOR));
        assert!(!b.admits(1, 0, 0), "no floor");
        assert_eq!((b.room(0, FLOOR), b.room(1_000, FLOOR), b.room(0, 0)), (FLOOR, FLOOR - 1_000, 0));
        b.set(FLOOR);
        assert!(!b.admits(1, FLOOR, FLOOR) && !a.admits(1, 12_000, FLOOR));
        assert_eq!((a.room(12_000, FLOOR), b.room(FLOOR, FLOOR), memory.available()), (0, 0, 0));
        assert_eq!(memory.held(), 12_000 + FLOOR);
        drop(a);
        assert_eq!(memory.held(), FLOOR);
        let other = MemoryLimit::new(100);
        b.move_to(&other);
        assert_eq!((memory.held(), other.held()), (0, FLOOR));
        drop(b);
        assert_eq!(other.held(), 0);
    }
}
