//! The state `userdata` points to: the [`Host`] behind one `Mutex`, and the `Condvar` that blocking calls wait
//! on. Every call that may change something notifies it.

use std::ffi::{c_int, c_void};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::host::{Host, Res};

/// What `userdata` points to.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) host: Mutex<SendHost>,
    pub(crate) changed: Condvar,
}

/// The host, movable between threads.
#[derive(Debug)]
pub(crate) struct SendHost(pub(crate) Host);

// SAFETY: `Host` is `!Send` only because inetstack's buffers count references with `Rc`. Every buffer lives
// inside the `Host`, which is only ever touched through the `Mutex` in `Shared`, so no two threads touch a
// reference count at once; data leaves the lock only as copied `Vec<u8>`s.
unsafe impl Send for SendHost {}

/// The state behind `userdata`; EINVAL if it is null (init failed).
///
/// # Safety
/// `userdata` must be null or the pointer `packetdrill_interface_init` stored, not yet freed (`pd_free`): what
/// packetdrill hands every entry point, by the interface's contract.
pub(crate) unsafe fn shared<'a>(userdata: *mut c_void) -> Res<&'a Shared> {
    if userdata.is_null() {
        return Err(libc::EINVAL);
    }
    // SAFETY: non-null, so by this function's contract the `Box<Shared>` `packetdrill_interface_init` leaked,
    // which lives until `pd_free`.
    Ok(unsafe { &*userdata.cast::<Shared>() })
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, SendHost> {
        self.host.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the host and wakes every waiter (anything may have changed).
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Host) -> Res<T>) -> Res<T> {
        let mut host = self.lock();
        let result = f(&mut host.0);
        drop(host);
        self.changed.notify_all();
        result
    }

    /// Runs `f` until it stops answering EAGAIN, waiting for a change in between, unless `fd` is non-blocking.
    pub(crate) fn blocking<T>(&self, fd: c_int, mut f: impl FnMut(&mut Host) -> Res<T>) -> Res<T> {
        let mut host = self.lock();
        loop {
            match f(&mut host.0) {
                Err(libc::EAGAIN) if !host.0.is_nonblocking(fd)? => {
                    self.changed.notify_all();
                    host = self.changed.wait(host).unwrap_or_else(|p| p.into_inner());
                }
                result => {
                    drop(host);
                    self.changed.notify_all();
                    return result;
                }
            }
        }
    }
}
