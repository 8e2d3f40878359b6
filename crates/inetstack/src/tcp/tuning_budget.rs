//! The memory that buffer auto-tuning (`autotune.rs`) may add, shared by all of a stack's connections
//! (`TcpConfig::autotune_budget`; Linux bounds its TCP buffers together the same way, `tcp_mem`): without it,
//! each tuned connection could hold its maximum, and a peer that sends fast to an application that reads in
//! bursts could make every connection do so.
//!
//! Each growth takes what it adds from the budget (less if the budget has less left: the buffer grows by what
//! was granted), and a connection gives back everything it took when it is dropped. A buffer never shrinks, so
//! nothing is given back earlier. Buffers at their configured sizes cost the budget nothing.

use std::cell::Cell;
use std::rc::Rc;

/// Bytes left for auto-tuning to add, shared by the connections it is handed to.
#[derive(Clone, Debug, Default)]
pub struct TuningBudget(Rc<Cell<usize>>);

impl TuningBudget {
    pub fn new(bytes: usize) -> Self {
        Self(Rc::new(Cell::new(bytes)))
    }

    /// What is left to grant.
    pub fn remaining(&self) -> usize {
        self.0.get()
    }
}

/// What one connection took from a budget, given back when it is dropped.
#[derive(Debug)]
pub(crate) struct Grant {
    budget: TuningBudget,
    bytes: usize,
}

impl Grant {
    pub(crate) fn new(budget: TuningBudget) -> Self {
        Self { budget, bytes: 0 }
    }

    /// Takes up to `wanted` bytes; returns how many were granted.
    pub(crate) fn take(&mut self, wanted: usize) -> usize {
        let granted = wanted.min(self.budget.remaining());
        self.budget.0.set(self.budget.remaining() - granted);
        self.bytes += granted;
        granted
    }

    /// Moves to `budget`, giving back what was taken from the old one and taking it again from the new one
    /// (all of it if the new one has it: a connection moves before it grows anything).
    pub(crate) fn move_to(&mut self, budget: &TuningBudget) {
        let held = std::mem::take(&mut self.bytes);
        self.budget.0.set(self.budget.remaining() + held);
        self.budget = budget.clone();
        self.take(held);
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.budget.0.set(self.budget.remaining() + self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_never_exceed_the_budget_and_come_back_when_dropped() {
        let budget = TuningBudget::new(100);
        let mut a = Grant::new(budget.clone());
        let mut b = Grant::new(budget.clone());
        assert_eq!(a.take(60), 60);
        assert_eq!(b.take(60), 40, "only what is left");
        assert_eq!(b.take(1), 0);
        assert_eq!(budget.remaining(), 0);
        drop(a);
        assert_eq!(budget.remaining(), 60);
        let other = TuningBudget::new(10);
        b.move_to(&other);
        assert_eq!((budget.remaining(), other.remaining()), (100, 0), "40 given back; 10 of them taken again");
        drop(b);
        assert_eq!(other.remaining(), 10);
    }
}
