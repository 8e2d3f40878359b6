//! The coroutine scheduler: every PDPIX operation is a `Future` here, and its slot is its qtoken.
//!
//! - Spawning polls the new coroutine at once, so an operation that can finish immediately (a send into a
//!   socket buffer, a pop from a non-empty queue) completes without a trip through the ready set.
//! - Wakers set a bit in a `ReadySet`; a poll round visits only the tasks whose bits are set.
//! - A slot's waker is made once and reused by every task that later occupies the slot: spawning allocates
//!   only the boxed coroutine, and polling allocates nothing.
//! - Results stay in their slot until taken (`take`) or, for tasks of a queue, until that queue is closed.
//!   Operations still running when their queue closes complete with ECANCELED.
//!
//! Not for: threads. A scheduler and its tasks belong to one thread, as in the paper (one libOS per core).

mod ready_set;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use ready_set::{CAPACITY, ReadySet};

use crate::{Fail, Opcode, QDesc, QResult, QToken, QValue};

/// The coroutine behind one qtoken.
pub type Operation = Pin<Box<dyn Future<Output = Result<QValue, Fail>>>>;

const NIL: u32 = u32::MAX;

/// Wakes one slot by marking it in the ready set.
struct SlotWaker {
    ready: Arc<ReadySet>,
    index: usize,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.ready.insert(self.index);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.insert(self.index);
    }
}

enum State {
    Free,
    Running(Operation),
    Done(Result<QValue, Fail>),
}

struct Slot {
    generation: u32,
    qd: Option<QDesc>,
    operation: Opcode,
    state: State,
    waker: Waker,
    /// Neighbours in the list of slots that belong to the same queue.
    prev: u32,
    next: u32,
}

/// See the module documentation.
pub struct Scheduler {
    ready: Arc<ReadySet>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Head of each queue's list of slots, indexed by queue descriptor.
    queue_heads: Vec<u32>,
    live: usize,
    max_live: usize,
    /// Tokens that completed since the last `drain_completed`, when tracking is on.
    completed: Option<Vec<QToken>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").field("live", &self.live).field("slots", &self.slots.len()).finish()
    }
}

impl Default for Scheduler {
    fn default() -> Self {
        Self::new(CAPACITY)
    }
}

impl Scheduler {
    /// A scheduler that holds at most `max_live` tasks (running or holding an untaken result).
    pub fn new(max_live: usize) -> Self {
        Self {
            ready: Arc::new(ReadySet::new()),
            slots: Vec::new(),
            free: Vec::new(),
            queue_heads: Vec::new(),
            live: 0,
            max_live: max_live.min(CAPACITY),
            completed: None,
        }
    }

    /// Tasks that are running or hold a result not yet taken.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Whether some task has been woken and waits for a poll round.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Starts `operation` on queue `qd`, polls it once, and returns its qtoken.
    pub fn spawn(&mut self, qd: QDesc, operation: Opcode, coroutine: Operation) -> Result<QToken, Fail> {
        let index = self.allocate(qd, operation, State::Running(coroutine))?;
        self.link(qd, index);
        let qt = self.token(index);
        self.poll_slot(index);
        Ok(qt)
    }

    /// Polls every task woken since the last round once. Returns how many were polled.
    pub fn poll_round(&mut self) -> usize {
        let ready = Arc::clone(&self.ready);
        let mut polled = 0;
        ready.drain(|index| {
            polled += 1;
            self.poll_slot(index as u32);
        });
        polled
    }

    /// Whether `qt`'s operation has finished. EINVAL for a token that is unknown or already taken.
    pub fn is_done(&self, qt: QToken) -> Result<bool, Fail> {
        let slot = self.slot(qt)?;
        Ok(matches!(slot.state, State::Done(_)))
    }

    /// Takes the result of a finished operation, retiring its qtoken. EAGAIN while it is still running,
    /// EINVAL for a token that is unknown or already taken.
    pub fn take(&mut self, qt: QToken) -> Result<QResult, Fail> {
        self.slot(qt)?;
        let index = qt.raw() as u32;
        let slot = &mut self.slots[index as usize];
        if !matches!(slot.state, State::Done(_)) {
            return Err(Fail::new(libc::EAGAIN, "operation still in progress"));
        }
        let State::Done(value) = std::mem::replace(&mut slot.state, State::Free) else { unreachable!() };
        let qd = slot.qd.take().expect("operations belong to a queue");
        let result = QResult { qd, qt, operation: slot.operation, value };
        self.unlink(qd, index);
        self.release(index);
        Ok(result)
    }

    /// Detaches every task of `qd` from it: running operations complete with ECANCELED; results are kept
    /// until taken. Called when the queue closes.
    pub fn cancel_queue(&mut self, qd: QDesc) {
        let Some(&head) = self.queue_heads.get(qd.raw() as usize) else { return };
        let mut index = head;
        while index != NIL {
            let slot = &mut self.slots[index as usize];
            let next = slot.next;
            if matches!(slot.state, State::Running(_)) {
                // Dropping the coroutine here runs its destructors (deregistering from devices).
                let old =
                    std::mem::replace(&mut slot.state, State::Done(Err(Fail::new(libc::ECANCELED, "queue closed"))));
                drop(old);
                self.note_completed(index);
            }
            index = next;
        }
    }

    /// Turns on (or off) the list of completed tokens read by `drain_completed` (for event loops that
    /// complete many awaiting futures per iteration).
    pub fn track_completions(&mut self, on: bool) {
        self.completed = on.then(Vec::new);
    }

    /// Tokens completed since the last call (only when tracking is on), in completion order.
    pub fn drain_completed(&mut self, out: &mut Vec<QToken>) {
        if let Some(completed) = self.completed.as_mut() {
            out.append(completed);
        }
    }

    fn allocate(&mut self, qd: QDesc, operation: Opcode, state: State) -> Result<u32, Fail> {
        if self.live >= self.max_live {
            return Err(Fail::with_context(libc::ENOMEM, format!("{} operations in flight (the limit)", self.live)));
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = self.slots.len();
                self.ready.reserve(index);
                let waker = Waker::from(Arc::new(SlotWaker { ready: Arc::clone(&self.ready), index }));
                self.slots.push(Slot {
                    generation: 0,
                    qd: None,
                    operation,
                    state: State::Free,
                    waker,
                    prev: NIL,
                    next: NIL,
                });
                index as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.qd = Some(qd);
        slot.operation = operation;
        slot.state = state;
        self.live += 1;
        Ok(index)
    }

    fn release(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        slot.state = State::Free;
        slot.qd = None;
        slot.generation = slot.generation.wrapping_add(1);
        self.live -= 1;
        self.free.push(index);
    }

    fn token(&self, index: u32) -> QToken {
        QToken::from_raw(((self.slots[index as usize].generation as u64) << 32) | index as u64)
    }

    fn slot(&self, qt: QToken) -> Result<&Slot, Fail> {
        let index = qt.raw() as u32 as usize;
        let generation = (qt.raw() >> 32) as u32;
        match self.slots.get(index) {
            Some(slot) if slot.generation == generation && slot.qd.is_some() => Ok(slot),
            _ => Err(Fail::with_context(libc::EINVAL, format!("unknown or already consumed qtoken {qt:?}"))),
        }
    }

    fn poll_slot(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize) else { return };
        let mut cx = Context::from_waker(&slot.waker);
        match &mut slot.state {
            State::Running(coroutine) => {
                if let Poll::Ready(value) = coroutine.as_mut().poll(&mut cx) {
                    slot.state = State::Done(value);
                    self.note_completed(index);
                }
            }
            // A stale wake-up for a finished or reused slot.
            State::Free | State::Done(_) => {}
        }
    }

    fn note_completed(&mut self, index: u32) {
        let qt = self.token(index);
        if let Some(completed) = self.completed.as_mut() {
            completed.push(qt);
        }
    }

    fn link(&mut self, qd: QDesc, index: u32) {
        let q = qd.raw() as usize;
        if self.queue_heads.len() <= q {
            self.queue_heads.resize(q + 1, NIL);
        }
        let head = self.queue_heads[q];
        let slot = &mut self.slots[index as usize];
        slot.prev = NIL;
        slot.next = head;
        if head != NIL {
            self.slots[head as usize].prev = index;
        }
        self.queue_heads[q] = index;
    }

    fn unlink(&mut self, qd: QDesc, index: u32) {
        let (prev, next) = {
            let slot = &self.slots[index as usize];
            (slot.prev, slot.next)
        };
        if prev == NIL {
            self.queue_heads[qd.raw() as usize] = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        }
    }
}

#[cfg(test)]
mod tests;
