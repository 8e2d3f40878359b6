//! Time: a clock read at most once per poll round, and a queue of timers that wake sleeping coroutines.
//!
//! `Timers` is shared (`Rc`) between the runtime, which advances it, and coroutines, which sleep on it.
//! Insert is O(log n); cancel is O(1) (the heap entry goes stale and is skipped, and the heap is compacted
//! when stale entries outnumber live ones, so cancelled timers never accumulate).
//!
//! The clock is either the system's monotonic clock (`Timers::system`) or driven by hand
//! (`Timers::manual`), which makes timer behaviour deterministic in tests and simulations.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

struct Entry {
    generation: u32,
    waker: Option<Waker>,
    armed: bool,
}

#[derive(Default)]
struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    entries: Vec<Entry>,
    free: Vec<u32>,
    armed: usize,
}

impl TimerQueue {
    fn insert(&mut self, deadline: Instant, waker: Waker) -> (u32, u32) {
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.entries.push(Entry { generation: 0, waker: None, armed: false });
                (self.entries.len() - 1) as u32
            }
        };
        let entry = &mut self.entries[id as usize];
        entry.waker = Some(waker);
        entry.armed = true;
        self.armed += 1;
        self.heap.push(Reverse((deadline, id, entry.generation)));
        (id, entry.generation)
    }

    fn is_current(&self, id: u32, generation: u32) -> bool {
        self.entries.get(id as usize).is_some_and(|e| e.generation == generation && e.armed)
    }

    fn update_waker(&mut self, id: u32, generation: u32, waker: &Waker) {
        if self.is_current(id, generation) {
            let slot = &mut self.entries[id as usize].waker;
            if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                *slot = Some(waker.clone());
            }
        }
    }

    /// Frees an entry (fired or not). Its heap item, if any, goes stale.
    fn remove(&mut self, id: u32, generation: u32) {
        let Some(entry) = self.entries.get_mut(id as usize) else { return };
        if entry.generation != generation {
            return;
        }
        if entry.armed {
            self.armed -= 1;
        }
        entry.armed = false;
        entry.waker = None;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(id);
        if self.heap.len() > 64 && self.heap.len() > 2 * self.armed {
            let entries = &self.entries;
            self.heap
                .retain(|Reverse((_, id, g))| entries[*id as usize].generation == *g && entries[*id as usize].armed);
        }
    }

    fn fire_due(&mut self, now: Instant) -> usize {
        let mut fired = 0;
        while let Some(&Reverse((deadline, id, generation))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if self.is_current(id, generation) {
                let entry = &mut self.entries[id as usize];
                entry.armed = false;
                self.armed -= 1;
                if let Some(waker) = entry.waker.take() {
                    waker.wake();
                }
                fired += 1;
            }
        }
        fired
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, id, generation))) = self.heap.peek() {
            if self.is_current(id, generation) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }
}

/// The clock and the timer queue of one runtime.
pub struct Timers {
    now: Cell<Instant>,
    manual: bool,
    queue: RefCell<TimerQueue>,
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers").field("manual", &self.manual).field("armed", &self.queue.borrow().armed).finish()
    }
}

impl Timers {
    /// Timers on the system's monotonic clock.
    pub fn system() -> Rc<Self> {
        Rc::new(Self { now: Cell::new(Instant::now()), manual: false, queue: RefCell::default() })
    }

    /// Timers on a clock that only moves when `advance_to` is called.
    pub fn manual(start: Instant) -> Rc<Self> {
        Rc::new(Self { now: Cell::new(start), manual: true, queue: RefCell::default() })
    }

    /// The time of the current poll round.
    pub fn now(&self) -> Instant {
        self.now.get()
    }

    /// Reads the system clock (unless manual) and fires every due timer. Returns how many fired.
    pub fn refresh(&self) -> usize {
        if !self.manual {
            self.now.set(Instant::now());
        }
        self.queue.borrow_mut().fire_due(self.now.get())
    }

    /// Moves a manual clock forward (never backward) and fires every due timer.
    pub fn advance_to(&self, now: Instant) -> usize {
        if now > self.now.get() {
            self.now.set(now);
        }
        self.queue.borrow_mut().fire_due(self.now.get())
    }

    /// Earliest armed deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.borrow_mut().next_deadline()
    }

    /// Timers armed and not yet fired.
    pub fn armed(&self) -> usize {
        self.queue.borrow().armed
    }

    /// A future that completes once the clock reaches `deadline`.
    pub fn sleep_until(self: &Rc<Self>, deadline: Instant) -> Sleep {
        Sleep { timers: Rc::clone(self), deadline, entry: None }
    }

    /// A future that completes `duration` from now (the system clock is read afresh, as the round's time
    /// may be stale after the application ran for a while; a manual clock is not).
    pub fn sleep(self: &Rc<Self>, duration: Duration) -> Sleep {
        let now = if self.manual { self.now() } else { Instant::now() };
        let deadline = now.checked_add(duration).unwrap_or_else(far_future);
        self.sleep_until(deadline)
    }
}

/// A deadline no timer reaches (about 30 years ahead): what "forever" becomes when arithmetic overflows.
pub fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(30 * 365 * 24 * 3600)
}

/// See `Timers::sleep_until`. Dropping it cancels the timer.
pub struct Sleep {
    timers: Rc<Timers>,
    deadline: Instant,
    entry: Option<(u32, u32)>,
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).finish()
    }
}

impl Sleep {
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Moves the deadline (re-arming the timer), as a retransmission timer does.
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
    }

    fn cancel(&mut self) {
        if let Some((id, generation)) = self.entry.take() {
            self.timers.queue.borrow_mut().remove(id, generation);
        }
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.timers.now() >= this.deadline {
            this.cancel();
            return Poll::Ready(());
        }
        let mut queue = this.timers.queue.borrow_mut();
        match this.entry {
            Some((id, generation)) if queue.is_current(id, generation) => {
                queue.update_waker(id, generation, cx.waker())
            }
            _ => {
                if let Some((id, generation)) = this.entry.take() {
                    queue.remove(id, generation);
                }
                this.entry = Some(queue.insert(this.deadline, cx.waker().clone()));
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    fn poll(sleep: &mut Sleep, waker: &Waker) -> Poll<()> {
        Pin::new(sleep).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn sleeps_fire_at_their_deadline_in_order() {
        let t0 = Instant::now();
        let timers = Timers::manual(t0);
        let (count, waker) = counting_waker();
        let mut late = timers.sleep(Duration::from_millis(20));
        let mut early = timers.sleep(Duration::from_millis(10));
        assert!(poll(&mut late, &waker).is_pending());
        assert!(poll(&mut early, &waker).is_pending());
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(timers.advance_to(t0 + Duration::from_millis(9)), 0);
        assert_eq!(timers.advance_to(t0 + Duration::from_millis(10)), 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(poll(&mut early, &waker).is_ready());
        assert!(poll(&mut late, &waker).is_pending());
        assert_eq!(timers.advance_to(t0 + Duration::from_secs(1)), 1);
        assert!(poll(&mut late, &waker).is_ready());
        assert_eq!(timers.armed(), 0);
    }

    #[test]
    fn dropping_a_sleep_cancels_it() {
        let t0 = Instant::now();
        let timers = Timers::manual(t0);
        let (count, waker) = counting_waker();
        let mut s = timers.sleep(Duration::from_millis(5));
        assert!(poll(&mut s, &waker).is_pending());
        drop(s);
        assert_eq!(timers.armed(), 0);
        assert_eq!(timers.next_deadline(), None);
        timers.advance_to(t0 + Duration::from_secs(1));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn reset_moves_the_deadline() {
        let t0 = Instant::now();
        let timers = Timers::manual(t0);
        let (_count, waker) = counting_waker();
        let mut s = timers.sleep(Duration::from_millis(5));
        assert!(poll(&mut s, &waker).is_pending());
        s.reset(t0 + Duration::from_millis(50));
        assert!(poll(&mut s, &waker).is_pending());
        assert_eq!(timers.advance_to(t0 + Duration::from_millis(10)), 0);
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(50)));
    }

    #[test]
    fn cancelled_timers_do_not_accumulate() {
        let timers = Timers::manual(Instant::now());
        let (_count, waker) = counting_waker();
        for i in 0..100_000u64 {
            let mut s = timers.sleep(Duration::from_secs(10 + i));
            assert!(poll(&mut s, &waker).is_pending());
        }
        assert!(timers.queue.borrow().heap.len() <= 130);
        assert!(timers.queue.borrow().entries.len() <= 2);
    }

    #[test]
    fn huge_durations_mean_forever_not_a_panic() {
        let timers = Timers::system();
        let s = timers.sleep(Duration::MAX);
        assert!(s.deadline() > Instant::now() + Duration::from_secs(3600));
    }
}
