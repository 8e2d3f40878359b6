//! `Network`: the stack, its device and the coroutines waiting on sockets, shared by catnip's operations
//! and by the runtime (as its `Poller`). One `pump` moves every waiting frame into the stack, runs the
//! stack's due timers, hands its output to the device, and wakes exactly the operations whose sockets changed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::task::Waker;
use std::time::{Duration, Instant};

use inetstack::device::Device;
use inetstack::stack::{SocketId, Stack};
use runtime::{Fail, Poller, Timers};

/// A device catnip can drive: it may be able to sleep until a frame arrives (an in-memory link) or not
/// (a poll-mode NIC, where waiting means spinning).
pub trait NetDevice: Device {
    /// Blocks until a frame may be waiting or `timeout` passes. Poll-mode devices return at once.
    fn wait(&self, timeout: Option<Duration>);
}

impl NetDevice for crate::MemoryLink {
    fn wait(&self, timeout: Option<Duration>) {
        self.wait_for_frame(timeout);
    }
}

/// Fault injection on catnip's side of any device (inetstack's seeded drop, duplicate, corrupt, reorder).
/// Waiting is the wrapped device's: a pump calls `receive` until it returns `None`, which the injector only does
/// once it holds no duplicate or reordered frame back, so nothing is left ready when the network waits.
impl<D: NetDevice> NetDevice for inetstack::phy::FaultInjector<D> {
    fn wait(&self, timeout: Option<Duration>) {
        self.inner().wait(timeout);
    }
}

/// A pcap recording of any device (inetstack's `PcapWriter`); waiting is the wrapped device's.
impl<D: NetDevice> NetDevice for inetstack::phy::PcapWriter<D> {
    fn wait(&self, timeout: Option<Duration>) {
        self.inner().wait(timeout);
    }
}

#[derive(Debug)]
pub(crate) struct Inner<D> {
    pub(crate) stack: Stack,
    device: D,
    waiters: HashMap<SocketId, Vec<Waker>>,
    touched: Vec<SocketId>,
}

#[derive(Debug)]
pub(crate) struct Network<D> {
    inner: RefCell<Inner<D>>,
    /// The runtime's clock: device pumps run inside poll rounds and use the round's time (one clock read per
    /// round, as the runtime promises); operations read the clock themselves (`with_stack`).
    timers: Rc<Timers>,
}

impl<D: NetDevice> Network<D> {
    pub(crate) fn new(stack: Stack, device: D, timers: Rc<Timers>) -> Self {
        Self { inner: RefCell::new(Inner { stack, device, waiters: HashMap::new(), touched: Vec::new() }), timers }
    }

    /// Runs `f` on the stack, then sends what it queued and wakes whoever it concerns.
    pub(crate) fn with_stack<R>(&self, f: impl FnOnce(&mut Stack, Instant) -> R) -> R {
        let now = Instant::now();
        let mut inner = self.inner.borrow_mut();
        let result = f(&mut inner.stack, now);
        inner.flush(now);
        result
    }

    /// Parks `waker` until socket `id` changes.
    pub(crate) fn wait_on(&self, id: SocketId, waker: &Waker) {
        let mut inner = self.inner.borrow_mut();
        let list = inner.waiters.entry(id).or_default();
        if !list.iter().any(|w| w.will_wake(waker)) {
            list.push(waker.clone());
        }
    }

    /// Wakes whoever waits on socket `id` now.
    pub(crate) fn wake(&self, id: SocketId) {
        let waiters = self.inner.borrow_mut().waiters.remove(&id);
        waiters.into_iter().flatten().for_each(Waker::wake);
    }

    /// Forgets the waiters of a closed socket.
    pub(crate) fn forget(&self, id: SocketId) {
        self.inner.borrow_mut().waiters.remove(&id);
    }

    /// Receives, runs timers, transmits, wakes, at the current round's time. Returns how many frames arrived.
    fn pump(&self) -> usize {
        let now = self.timers.now();
        let mut inner = self.inner.borrow_mut();
        let mut received = 0;
        while let Some(frame) = inner.device.receive() {
            inner.stack.receive(now, frame);
            received += 1;
        }
        inner.flush(now);
        received
    }
}

impl<D: NetDevice> Inner<D> {
    fn flush(&mut self, now: Instant) {
        if self.stack.next_deadline().is_some_and(|t| t <= now) {
            self.stack.poll(now);
        }
        let Self { stack, device, waiters, touched } = self;
        stack.transmit(device);
        stack.take_touched(touched);
        for id in touched.drain(..) {
            if let Some(list) = waiters.get_mut(&id) {
                list.drain(..).for_each(Waker::wake);
            }
        }
    }
}

impl<D: NetDevice> Poller for Network<D> {
    fn poll(&self, timeout: Option<Duration>) -> Result<usize, Fail> {
        let received = self.pump();
        if received > 0 || timeout.is_some_and(|t| t.is_zero()) {
            return Ok(received);
        }
        // Sleep no longer than the stack's next timer (retransmission, delayed ACK, ARP retry...).
        let stack_timer = {
            let inner = self.inner.borrow();
            inner.stack.next_deadline().map(|t| t.saturating_duration_since(self.timers.now()))
        };
        let wait = match (timeout, stack_timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.inner.borrow().device.wait(wait);
        // The wait may have been long: the frames it brought are stamped with the time now.
        self.timers.refresh();
        Ok(self.pump())
    }
}
