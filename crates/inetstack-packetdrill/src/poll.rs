//! The `poll` entry point: readiness from the stack, and waiting for a change when nothing is ready.

use std::ffi::{c_int, c_void};
use std::time::Duration;

use libc::pollfd;

use crate::errno::guard;
use crate::state::shared;

/// `poll`: POLLIN/POLLOUT/POLLERR from the stack's readiness, POLLNVAL for unknown descriptors. With a
/// timeout and nothing ready it waits for a change (in real time, at most `timeout` ms; -1: until ready).
///
/// # Safety
/// `userdata` must be null or the pointer `packetdrill_interface_init` stored; `fds` must be valid for `nfds`
/// entries (it may be null only when `nfds` is 0), not touched by anyone else during the call.
pub(crate) unsafe extern "C" fn pd_poll(
    userdata: *mut c_void,
    fds: *mut pollfd,
    nfds: libc::nfds_t,
    timeout: c_int,
) -> c_int {
    guard(-1, || {
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        let s = unsafe { shared(userdata) }?;
        if fds.is_null() && nfds > 0 {
            return Err(libc::EFAULT);
        }
        let entries: &mut [pollfd] = if nfds == 0 {
            &mut []
        } else {
            // SAFETY: `fds` is non-null (checked above) and, by the libc contract, valid and aligned for `nfds`
            // entries that nobody else touches during the call.
            unsafe { std::slice::from_raw_parts_mut(fds, nfds as usize) }
        };
        let deadline = (timeout > 0).then(|| std::time::Instant::now() + Duration::from_millis(timeout as u64));
        let mut host = s.lock();
        loop {
            let mut ready = 0;
            for entry in entries.iter_mut() {
                entry.revents = 0;
                if entry.fd < 0 {
                    continue;
                }
                match host.0.readiness(entry.fd) {
                    Ok(r) => {
                        if r.readable {
                            entry.revents |= entry.events & (libc::POLLIN | libc::POLLRDNORM);
                        }
                        if r.writable {
                            entry.revents |= entry.events & (libc::POLLOUT | libc::POLLWRNORM);
                        }
                        if r.error {
                            entry.revents |= libc::POLLERR;
                        }
                    }
                    Err(_) => entry.revents = libc::POLLNVAL,
                }
                if entry.revents != 0 {
                    ready += 1;
                }
            }
            if ready > 0 || timeout == 0 {
                return Ok(ready);
            }
            host = match deadline {
                None => s.changed.wait(host).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Ok(0);
                    }
                    s.changed.wait_timeout(host, left).unwrap_or_else(|p| p.into_inner()).0
                }
            };
        }
    })
}
