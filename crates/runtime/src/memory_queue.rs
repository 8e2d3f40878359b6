//! `MemoryQueue`: the in-memory queue (`queue()`) every libOS offers, for passing scatter-gather arrays
//! between coroutines of one application. Push appends (zero-copy: the array's segments are shared), pop
//! takes the oldest array, or its first `max_len` bytes. The queue holds at most `capacity` arrays; a push
//! to a full queue waits for a pop.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use crate::{Fail, QValue, Sga};

/// Arrays a queue holds by default before pushes wait.
pub const DEFAULT_MEMORY_QUEUE_CAPACITY: usize = 4096;

#[derive(Debug)]
struct Inner {
    items: VecDeque<Sga>,
    capacity: usize,
    waiting_pops: Vec<Waker>,
    waiting_pushes: Vec<Waker>,
}

/// See the module documentation. Clones share one queue.
#[derive(Clone, Debug)]
pub struct MemoryQueue {
    inner: Rc<RefCell<Inner>>,
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_MEMORY_QUEUE_CAPACITY)
    }
}

impl MemoryQueue {
    pub fn with_capacity(capacity: usize) -> Self {
        let inner = Inner {
            items: VecDeque::new(),
            capacity: capacity.max(1),
            waiting_pops: Vec::new(),
            waiting_pushes: Vec::new(),
        };
        Self { inner: Rc::new(RefCell::new(inner)) }
    }

    /// Arrays waiting to be popped.
    pub fn len(&self) -> usize {
        self.inner.borrow().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The push coroutine: validates now, appends once there is room.
    pub fn push(&self, sga: &Sga) -> Result<impl Future<Output = Result<QValue, Fail>> + 'static, Fail> {
        sga.check_pushable()?;
        let inner = Rc::clone(&self.inner);
        let mut sga = Some(sga.clone());
        Ok(poll_fn(move |cx| {
            let mut q = inner.borrow_mut();
            if q.items.len() >= q.capacity {
                q.waiting_pushes.push(cx.waker().clone());
                return Poll::Pending;
            }
            q.items.push_back(sga.take().expect("polled after completion"));
            q.waiting_pops.drain(..).for_each(Waker::wake);
            Poll::Ready(Ok(QValue::Pushed))
        }))
    }

    /// The pop coroutine: waits for an array and takes it, or its first `max_len` bytes.
    pub fn pop(&self, max_len: Option<usize>) -> Result<impl Future<Output = Result<QValue, Fail>> + 'static, Fail> {
        if max_len == Some(0) {
            return Err(Fail::new(libc::EINVAL, "pop of at most 0 bytes"));
        }
        let inner = Rc::clone(&self.inner);
        Ok(poll_fn(move |cx| {
            let mut q = inner.borrow_mut();
            let Some(front) = q.items.front_mut() else {
                q.waiting_pops.push(cx.waker().clone());
                return Poll::Pending;
            };
            let sga = match max_len {
                Some(n) if front.len() > n => front.split_front(n)?,
                _ => q.items.pop_front().expect("front exists"),
            };
            q.waiting_pushes.drain(..).for_each(Waker::wake);
            Poll::Ready(Ok(QValue::Popped { sga, from: None }))
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::task::{Context, Waker};

    use super::*;

    fn poll_now<F: Future>(f: F) -> Poll<F::Output> {
        pin!(f).as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    fn popped(v: Poll<Result<QValue, Fail>>) -> Vec<u8> {
        match v {
            Poll::Ready(Ok(QValue::Popped { sga, .. })) => sga.to_vec(),
            other => panic!("not a pop result: {other:?}"),
        }
    }

    #[test]
    fn fifo_with_partial_pops() {
        let q = MemoryQueue::default();
        assert!(poll_now(q.push(&Sga::from_slice(b"hello").unwrap()).unwrap()).is_ready());
        assert!(poll_now(q.push(&Sga::from_slice(b"world").unwrap()).unwrap()).is_ready());
        assert_eq!(popped(poll_now(q.pop(Some(2)).unwrap())), b"he");
        assert_eq!(popped(poll_now(q.pop(None).unwrap())), b"llo");
        assert_eq!(popped(poll_now(q.pop(Some(100)).unwrap())), b"world");
        assert!(poll_now(q.pop(None).unwrap()).is_pending());
    }

    #[test]
    fn bad_arguments_are_rejected() {
        let q = MemoryQueue::default();
        assert_eq!(q.push(&Sga::new()).err().unwrap().errno(), libc::EINVAL);
        assert_eq!(q.pop(Some(0)).err().unwrap().errno(), libc::EINVAL);
    }

    #[test]
    fn full_queues_make_pushes_wait() {
        let q = MemoryQueue::with_capacity(1);
        let sga = Sga::from_slice(b"x").unwrap();
        assert!(poll_now(q.push(&sga).unwrap()).is_ready());
        let mut blocked = Box::pin(q.push(&sga).unwrap());
        let cx = &mut Context::from_waker(Waker::noop());
        assert!(blocked.as_mut().poll(cx).is_pending());
        assert_eq!(popped(poll_now(q.pop(None).unwrap())), b"x");
        assert!(blocked.as_mut().poll(cx).is_ready());
        assert_eq!(q.len(), 1);
    }
}
