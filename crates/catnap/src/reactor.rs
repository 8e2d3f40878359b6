//! `EpollReactor`: catnap's device. Sockets register once (edge-triggered, read and write interest). Each
//! socket's `Readiness` remembers whether it may be readable / writable: an operation that meets EAGAIN clears
//! the flag and parks its waker; an epoll event sets the flag and wakes the parked operations. An operation
//! whose flag is clear does not try the system call at all (in an echo server the next request is never there
//! yet: trying anyway costs a failed `recv` per request). It is the runtime's `Poller`, so an idle `wait` blocks in `epoll_wait`, and its epoll fd is what
//! an embedding event loop (Python's asyncio) watches.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::task::Waker;
use std::time::Duration;

use runtime::{Fail, Poller};
use rustix::event::{Timespec, epoll};

/// Events taken from the kernel per `epoll_wait`.
const EVENT_BATCH: usize = 256;

/// Tasks waiting for one socket to become readable or writable.
#[derive(Debug)]
pub(crate) struct Readiness {
    readers: RefCell<Vec<Waker>>,
    writers: RefCell<Vec<Waker>>,
    /// Whether the socket may be readable (data, a connection, end of stream or an error); unknown is true.
    readable: Cell<bool>,
    writable: Cell<bool>,
    /// Whether epoll reported the peer's end of stream (or an error): reads will never block again.
    read_closed: Cell<bool>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self {
            readers: RefCell::default(),
            writers: RefCell::default(),
            readable: Cell::new(true),
            writable: Cell::new(true),
            read_closed: Cell::new(false),
        }
    }
}

impl Readiness {
    pub(crate) fn is_readable(&self) -> bool {
        self.readable.get()
    }

    pub(crate) fn is_writable(&self) -> bool {
        self.writable.get()
    }

    /// The last read met EAGAIN: wait for epoll before trying again.
    pub(crate) fn clear_readable(&self) {
        self.readable.set(false);
    }

    /// A stream read returned less than asked: the receive queue was drained, and new data will raise a new
    /// epoll edge. Unless the peer's FIN (or an error) was already reported: then the next read returns at
    /// once (end of stream) and no edge will come, so the flag stays set.
    pub(crate) fn clear_readable_after_short_read(&self) {
        if !self.read_closed.get() {
            self.readable.set(false);
        }
    }

    /// The last write (or a connect in progress) met EAGAIN / EINPROGRESS.
    pub(crate) fn clear_writable(&self) {
        self.writable.set(false);
    }

    pub(crate) fn wait_readable(&self, waker: &Waker) {
        park(&self.readers, waker);
    }

    pub(crate) fn wait_writable(&self, waker: &Waker) {
        park(&self.writers, waker);
    }

    /// Wakes the tasks waiting to read (the next in line may now proceed).
    pub(crate) fn wake_readers(&self) {
        self.readers.borrow_mut().drain(..).for_each(Waker::wake);
    }

    pub(crate) fn wake_writers(&self) {
        self.writers.borrow_mut().drain(..).for_each(Waker::wake);
    }
}

fn park(list: &RefCell<Vec<Waker>>, waker: &Waker) {
    let mut list = list.borrow_mut();
    if !list.iter().any(|w| w.will_wake(waker)) {
        list.push(waker.clone());
    }
}

pub(crate) struct EpollReactor {
    epoll: OwnedFd,
    registered: RefCell<Vec<Option<Rc<Readiness>>>>,
    free: RefCell<Vec<u32>>,
    events: RefCell<Vec<epoll::Event>>,
}

impl std::fmt::Debug for EpollReactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpollReactor").field("epoll", &self.epoll).finish()
    }
}

impl EpollReactor {
    pub(crate) fn new() -> Result<Self, Fail> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|e| os_fail(e, "epoll_create1"))?;
        Ok(Self {
            epoll,
            registered: RefCell::default(),
            free: RefCell::default(),
            events: RefCell::new(Vec::with_capacity(EVENT_BATCH)),
        })
    }

    /// Watches `fd` (edge-triggered); returns the key to deregister with and its readiness.
    pub(crate) fn register(&self, fd: BorrowedFd<'_>) -> Result<(u32, Rc<Readiness>), Fail> {
        let readiness = Rc::new(Readiness::default());
        let mut registered = self.registered.borrow_mut();
        let key = match self.free.borrow_mut().pop() {
            Some(key) => key,
            None => {
                registered.push(None);
                (registered.len() - 1) as u32
            }
        };
        let flags = epoll::EventFlags::IN | epoll::EventFlags::OUT | epoll::EventFlags::RDHUP | epoll::EventFlags::ET;
        if let Err(e) = epoll::add(&self.epoll, fd, epoll::EventData::new_u64(key as u64), flags) {
            self.free.borrow_mut().push(key);
            return Err(os_fail(e, "epoll_ctl(ADD)"));
        }
        registered[key as usize] = Some(Rc::clone(&readiness));
        Ok((key, readiness))
    }

    /// Forgets a socket. Its fd must be closed (or removed from epoll) by the caller.
    pub(crate) fn deregister(&self, key: u32, fd: BorrowedFd<'_>) {
        // Ignore errors: the fd may already be gone from the set.
        let _ = epoll::delete(&self.epoll, fd);
        if let Some(slot) = self.registered.borrow_mut().get_mut(key as usize)
            && slot.take().is_some()
        {
            self.free.borrow_mut().push(key);
        }
    }
}

impl Poller for EpollReactor {
    fn poll(&self, timeout: Option<Duration>) -> Result<usize, Fail> {
        let timespec = timeout.map(|t| Timespec::try_from(t).unwrap_or(Timespec { tv_sec: i64::MAX / 2, tv_nsec: 0 }));
        let mut events = self.events.borrow_mut();
        events.clear();
        match epoll::wait(&self.epoll, rustix::buffer::spare_capacity(&mut *events), timespec.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(0),
            Err(e) => return Err(os_fail(e, "epoll_wait")),
        }
        let registered = self.registered.borrow();
        for event in events.iter() {
            let Some(Some(readiness)) = registered.get(event.data.u64() as usize) else { continue };
            let flags = event.flags;
            let broken = flags.intersects(epoll::EventFlags::ERR | epoll::EventFlags::HUP);
            if broken || flags.contains(epoll::EventFlags::RDHUP) {
                readiness.read_closed.set(true);
            }
            if broken || flags.intersects(epoll::EventFlags::IN | epoll::EventFlags::RDHUP) {
                readiness.readable.set(true);
                readiness.wake_readers();
            }
            if broken || flags.contains(epoll::EventFlags::OUT) {
                readiness.writable.set(true);
                readiness.wake_writers();
            }
        }
        Ok(events.len())
    }

    fn fd(&self) -> Option<i32> {
        Some(self.epoll.as_fd().as_raw_fd())
    }
}

/// A `Fail` for an errno returned by a system call.
pub(crate) fn os_fail(errno: rustix::io::Errno, call: &'static str) -> Fail {
    Fail::from_errno(errno.raw_os_error(), call)
}
