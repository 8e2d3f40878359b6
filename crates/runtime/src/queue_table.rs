//! `QueueTable`: the queue descriptors of one libOS instance and what each one names.
//!
//! A descriptor is a small integer, as a file descriptor is; freed numbers are reused. Unknown descriptors
//! are EBADF.

use crate::{Fail, MemoryQueue, QDesc};

/// Descriptors can be at most this many at once (as `RLIMIT_NOFILE` bounds file descriptors).
pub const MAX_QUEUES: usize = 1 << 20;

#[derive(Debug)]
pub struct QueueTable<Q> {
    slots: Vec<Option<Q>>,
    free: Vec<u32>,
    len: usize,
}

impl<Q> Default for QueueTable<Q> {
    fn default() -> Self {
        Self { slots: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<Q> QueueTable<Q> {
    /// Adds a queue and returns its descriptor. EMFILE once `MAX_QUEUES` are open.
    pub fn insert(&mut self, queue: Q) -> Result<QDesc, Fail> {
        let index = match self.free.pop() {
            Some(index) => index as usize,
            None if self.slots.len() < MAX_QUEUES => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(Fail::new(libc::EMFILE, "too many open queues")),
        };
        self.slots[index] = Some(queue);
        self.len += 1;
        Ok(QDesc::new(index as u32))
    }

    pub fn get(&self, qd: QDesc) -> Result<&Q, Fail> {
        self.slots.get(qd.raw() as usize).and_then(Option::as_ref).ok_or_else(|| bad_qd(qd))
    }

    pub fn get_mut(&mut self, qd: QDesc) -> Result<&mut Q, Fail> {
        self.slots.get_mut(qd.raw() as usize).and_then(Option::as_mut).ok_or_else(|| bad_qd(qd))
    }

    /// Removes a queue; its descriptor may be handed out again.
    pub fn remove(&mut self, qd: QDesc) -> Result<Q, Fail> {
        let queue = self.slots.get_mut(qd.raw() as usize).and_then(Option::take).ok_or_else(|| bad_qd(qd))?;
        self.free.push(qd.raw());
        self.len -= 1;
        Ok(queue)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Descriptors and queues, in descriptor order.
    pub fn iter(&self) -> impl Iterator<Item = (QDesc, &Q)> {
        self.slots.iter().enumerate().filter_map(|(i, q)| q.as_ref().map(|q| (QDesc::new(i as u32), q)))
    }
}

/// What a libOS's queue descriptor names: one of its sockets, or an in-memory queue (which every libOS
/// offers the same way).
#[derive(Clone, Debug)]
pub enum Queue<S> {
    Socket(S),
    Memory(MemoryQueue),
}

impl<S: Clone> QueueTable<Queue<S>> {
    /// The queue `qd` names (a cheap clone: sockets and memory queues are shared handles).
    pub fn queue(&self, qd: QDesc) -> Result<Queue<S>, Fail> {
        self.get(qd).cloned()
    }

    /// The socket `qd` names: ENOTSOCK for an in-memory queue.
    pub fn socket(&self, qd: QDesc) -> Result<S, Fail> {
        match self.get(qd)? {
            Queue::Socket(socket) => Ok(socket.clone()),
            Queue::Memory(_) => Err(Fail::with_context(libc::ENOTSOCK, format!("queue {qd} is not a socket"))),
        }
    }
}

fn bad_qd(qd: QDesc) -> Fail {
    Fail::with_context(libc::EBADF, format!("bad queue descriptor {qd}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_and_reuse() {
        let mut table = QueueTable::default();
        let a = table.insert("a").unwrap();
        let b = table.insert("b").unwrap();
        assert_ne!(a, b);
        assert_eq!(*table.get(a).unwrap(), "a");
        assert_eq!(table.remove(a).unwrap(), "a");
        assert_eq!(table.get(a).unwrap_err().errno(), libc::EBADF);
        assert_eq!(table.remove(a).unwrap_err().errno(), libc::EBADF);
        assert_eq!(table.insert("c").unwrap(), a, "numbers are reused");
        assert_eq!(table.len(), 2);
        assert_eq!(table.get_mut(QDesc::new(1000)).unwrap_err().errno(), libc::EBADF);
        assert_eq!(table.iter().count(), 2);
    }

    #[test]
    fn sockets_and_memory_queues_are_told_apart() {
        let mut table = QueueTable::default();
        let socket = table.insert(Queue::Socket(7)).unwrap();
        let memory = table.insert(Queue::Memory(MemoryQueue::default())).unwrap();
        assert_eq!(table.socket(socket).unwrap(), 7);
        assert_eq!(table.socket(memory).unwrap_err().errno(), libc::ENOTSOCK);
        assert!(matches!(table.queue(memory).unwrap(), Queue::Memory(_)));
        assert_eq!(table.socket(QDesc::new(9)).unwrap_err().errno(), libc::EBADF);
    }
}
