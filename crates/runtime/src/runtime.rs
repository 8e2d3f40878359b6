//! `Runtime`: a scheduler, its timers and the device's event source, driven by `wait`.
//!
//! One poll round: read the clock once and fire due timers, poll the woken coroutines, and (when none were
//! ready, or every `DEVICE_POLL_INTERVAL` rounds) collect device events without blocking. When a round finds
//! nothing to do, `wait` spins for a bounded budget (waking a blocked thread costs tens of microseconds),
//! then blocks in the device's `Poller` until the earliest of the next timer, the caller's deadline, or a
//! device event.

use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::timer::{Timers, far_future};
use crate::{Fail, Opcode, Operation, QDesc, QResult, QToken, Scheduler};

/// Rounds between device polls while coroutines keep each other busy.
const DEVICE_POLL_INTERVAL: u32 = 32;

/// A device's event source: collects readiness events and wakes the coroutines they concern.
pub trait Poller {
    /// Collects events, blocking up to `timeout` (`Some(ZERO)`: do not block; `None`: until an event).
    /// Returns how many events were handled.
    fn poll(&self, timeout: Option<Duration>) -> Result<usize, Fail>;

    /// A file descriptor that becomes readable when `poll` has events (for embedding in another event loop).
    fn fd(&self) -> Option<i32> {
        None
    }
}

/// The poller of a runtime with no device: only timers and in-memory queues wake coroutines.
#[derive(Debug, Default)]
pub struct NoDevice;

impl Poller for NoDevice {
    fn poll(&self, timeout: Option<Duration>) -> Result<usize, Fail> {
        match timeout {
            Some(t) if t.is_zero() => {}
            Some(t) => std::thread::sleep(t),
            // Nothing can ever wake us: report it rather than sleeping forever.
            None => return Err(Fail::new(libc::EDEADLK, "waiting forever with no device and no timer")),
        }
        Ok(0)
    }
}

/// How `wait` behaves when idle.
#[derive(Clone, Debug)]
pub struct IdlePolicy {
    /// How long to spin before blocking in the device (zero: block at once).
    pub spin: Duration,
}

impl Default for IdlePolicy {
    fn default() -> Self {
        Self { spin: Duration::from_micros(50) }
    }
}

pub struct Runtime {
    scheduler: Scheduler,
    timers: Rc<Timers>,
    poller: Rc<dyn Poller>,
    idle: IdlePolicy,
    rounds: u32,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("scheduler", &self.scheduler).field("idle", &self.idle).finish()
    }
}

impl Runtime {
    pub fn new(poller: Rc<dyn Poller>, timers: Rc<Timers>, idle: IdlePolicy) -> Self {
        Self { scheduler: Scheduler::default(), timers, poller, idle, rounds: 0 }
    }

    /// A runtime with no device, on the system clock.
    pub fn without_device() -> Self {
        Self::new(Rc::new(NoDevice), Timers::system(), IdlePolicy::default())
    }

    pub fn timers(&self) -> &Rc<Timers> {
        &self.timers
    }

    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    pub fn scheduler_mut(&mut self) -> &mut Scheduler {
        &mut self.scheduler
    }

    pub fn poller(&self) -> &Rc<dyn Poller> {
        &self.poller
    }

    /// Starts an operation on `qd` (see `Scheduler::spawn`).
    pub fn spawn(&mut self, qd: QDesc, operation: Opcode, coroutine: Operation) -> Result<QToken, Fail> {
        self.scheduler.spawn(qd, operation, coroutine)
    }

    /// Runs one poll round without blocking. Returns whether anything happened (a timer fired, a
    /// coroutine ran, or the device reported an event).
    pub fn poll_once(&mut self) -> Result<bool, Fail> {
        self.round(None, false)
    }

    /// One round: fire due timers, poll woken coroutines, then collect device events (when no coroutine
    /// ran, or every `DEVICE_POLL_INTERVAL` rounds). With `block`, an idle round waits in the device until
    /// an event, the next timer or `deadline`: one device call, whether it blocks or not.
    fn round(&mut self, deadline: Option<Instant>, block: bool) -> Result<bool, Fail> {
        let fired = self.timers.refresh();
        let polled = self.scheduler.poll_round();
        self.rounds = self.rounds.wrapping_add(1);
        let idle = fired + polled == 0 && !self.scheduler.has_ready();
        if !idle && self.rounds % DEVICE_POLL_INTERVAL != 0 {
            return Ok(true);
        }
        let timeout = if idle && block { self.park_timeout(deadline) } else { Some(Duration::ZERO) };
        let events = self.poller.poll(timeout)?;
        if events > 0 {
            self.scheduler.poll_round();
        }
        Ok(!idle || events > 0)
    }

    /// How long an idle wait may block: until the next timer or `deadline` (`None`: until an event).
    fn park_timeout(&self, deadline: Option<Instant>) -> Option<Duration> {
        let until = match (self.timers.next_deadline(), deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        until.map(|t| t.saturating_duration_since(Instant::now()))
    }

    /// Waits for `qt` and returns its result. `None` waits forever; on expiry the error is ETIMEDOUT and the
    /// qtoken stays valid. EINVAL for an unknown or already consumed qtoken.
    pub fn wait(&mut self, qt: QToken, timeout: Option<Duration>) -> Result<QResult, Fail> {
        // Fast path: most pushes (and pops of data already there) finish when spawned.
        if self.scheduler.is_done(qt)? {
            return self.scheduler.take(qt);
        }
        self.wait_any(&[qt], timeout).map(|(_, result)| result)
    }

    /// Waits for the first of `qts` to complete; returns its index and result. Other tokens stay valid.
    pub fn wait_any(&mut self, qts: &[QToken], timeout: Option<Duration>) -> Result<(usize, QResult), Fail> {
        if qts.is_empty() {
            return Err(Fail::new(libc::EINVAL, "wait_any on no qtokens"));
        }
        let deadline = self.deadline(timeout);
        self.wait_until(deadline, |scheduler| {
            for (i, &qt) in qts.iter().enumerate() {
                if scheduler.is_done(qt)? {
                    return Ok(Some((i, scheduler.take(qt)?)));
                }
            }
            Ok(None)
        })
    }

    /// Waits for all of `qts`; returns their results in order. On expiry (ETIMEDOUT) no token is consumed.
    pub fn wait_all(&mut self, qts: &[QToken], timeout: Option<Duration>) -> Result<Vec<QResult>, Fail> {
        let mut sorted = qts.to_vec();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(Fail::new(libc::EINVAL, "wait_all on a repeated qtoken"));
        }
        let deadline = self.deadline(timeout);
        self.wait_until(deadline, |scheduler| {
            for &qt in qts {
                if !scheduler.is_done(qt)? {
                    return Ok(None);
                }
            }
            qts.iter().map(|&qt| scheduler.take(qt)).collect::<Result<Vec<_>, _>>().map(Some)
        })
    }

    fn deadline(&self, timeout: Option<Duration>) -> Option<Instant> {
        timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future))
    }

    /// The wait loop: runs rounds until `check` yields a value. While idle it spins (non-blocking device
    /// polls) for the spin budget, then blocks in the device.
    fn wait_until<T>(
        &mut self,
        deadline: Option<Instant>,
        mut check: impl FnMut(&mut Scheduler) -> Result<Option<T>, Fail>,
    ) -> Result<T, Fail> {
        let mut idle_since: Option<Instant> = None;
        loop {
            if let Some(value) = check(&mut self.scheduler)? {
                return Ok(value);
            }
            let spinning =
                !self.idle.spin.is_zero() && idle_since.is_none_or(|since| self.timers.now() - since < self.idle.spin);
            let busy = self.round(deadline, !spinning)?;
            if let Some(value) = check(&mut self.scheduler)? {
                return Ok(value);
            }
            let now = self.timers.now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(Fail::new(libc::ETIMEDOUT, "wait timed out"));
            }
            if busy {
                idle_since = None;
            } else if spinning {
                idle_since.get_or_insert(now);
                std::hint::spin_loop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryQueue, QValue, Sga};

    fn runtime() -> Runtime {
        Runtime::new(Rc::new(NoDevice), Timers::system(), IdlePolicy { spin: Duration::ZERO })
    }

    const QD: QDesc = QDesc::new(0);

    #[test]
    fn wait_returns_completed_results_once() {
        let mut rt = runtime();
        let qt = rt.spawn(QD, Opcode::Push, Box::pin(async { Ok(QValue::Pushed) })).unwrap();
        assert_eq!(rt.wait(qt, None).unwrap().opcode(), Opcode::Push);
        assert_eq!(rt.wait(qt, None).unwrap_err().errno(), libc::EINVAL);
        assert_eq!(rt.wait(QToken::from_raw(77), Some(Duration::ZERO)).unwrap_err().errno(), libc::EINVAL);
    }

    #[test]
    fn timeouts_leave_the_qtoken_valid() {
        let mut rt = runtime();
        let q = MemoryQueue::default();
        let pop = rt.spawn(QD, Opcode::Pop, Box::pin(q.pop(None).unwrap())).unwrap();
        let started = Instant::now();
        assert_eq!(rt.wait(pop, Some(Duration::from_millis(20))).unwrap_err().errno(), libc::ETIMEDOUT);
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(rt.wait(pop, Some(Duration::ZERO)).unwrap_err().errno(), libc::ETIMEDOUT);
        let push = rt.spawn(QD, Opcode::Push, Box::pin(q.push(&Sga::from_slice(b"x").unwrap()).unwrap())).unwrap();
        let (i, r) = rt.wait_any(&[pop, push], None).unwrap();
        let rest = [pop, push][1 - i];
        assert_eq!(rt.wait_any(&[pop, push], None).unwrap_err().errno(), libc::EINVAL, "consumed token");
        let other = rt.wait(rest, None).unwrap();
        let results = [r, other];
        assert!(results.iter().any(|r| matches!(&r.value, Ok(QValue::Popped { sga, .. }) if sga.to_vec() == b"x")));
    }

    #[test]
    fn sleeping_coroutines_wake_on_time() {
        let mut rt = runtime();
        let timers = Rc::clone(rt.timers());
        let qt = rt
            .spawn(
                QD,
                Opcode::Push,
                Box::pin(async move {
                    timers.sleep(Duration::from_millis(15)).await;
                    Ok(QValue::Pushed)
                }),
            )
            .unwrap();
        let started = Instant::now();
        rt.wait(qt, Some(Duration::from_secs(5))).unwrap();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(15) && took < Duration::from_secs(1), "took {took:?}");
    }

    #[test]
    fn wait_all_consumes_nothing_on_timeout() {
        let mut rt = runtime();
        let q = MemoryQueue::default();
        let done = rt.spawn(QD, Opcode::Push, Box::pin(q.push(&Sga::from_slice(b"a").unwrap()).unwrap())).unwrap();
        let empty = MemoryQueue::default();
        let pending = rt.spawn(QD, Opcode::Pop, Box::pin(empty.pop(None).unwrap())).unwrap();
        assert_eq!(rt.wait_all(&[done, pending], Some(Duration::from_millis(1))).unwrap_err().errno(), libc::ETIMEDOUT);
        assert!(rt.scheduler().is_done(done).unwrap());
        assert_eq!(rt.wait_all(&[done, done], None).unwrap_err().errno(), libc::EINVAL);
        let popper = rt.spawn(QD, Opcode::Pop, Box::pin(q.pop(None).unwrap())).unwrap();
        let results = rt.wait_all(&[done, popper], None).unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(rt.wait_any(&[], None).unwrap_err().errno(), libc::EINVAL);
    }

    #[test]
    fn waiting_forever_on_nothing_is_an_error_not_a_hang() {
        let mut rt = runtime();
        let q = MemoryQueue::default();
        let pop = rt.spawn(QD, Opcode::Pop, Box::pin(q.pop(None).unwrap())).unwrap();
        assert_eq!(rt.wait(pop, None).unwrap_err().errno(), libc::EDEADLK);
    }
}
