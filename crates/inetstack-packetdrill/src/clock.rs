//! The virtual clock's entry points: `usleep` advances it (firing the timers due on the way), `gettimeofday`
//! reads it (and moves it forward by 1 µs).

use std::ffi::{c_int, c_void};

use libc::timeval;

use crate::errno::guard;
use crate::state::shared;

/// `usleep`: advances the virtual clock by `usecs`.
///
/// # Safety
/// `userdata` must be null or the pointer `packetdrill_interface_init` stored.
pub(crate) unsafe extern "C" fn pd_usleep(userdata: *mut c_void, usecs: libc::useconds_t) -> c_int {
    guard(-1, || {
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        unsafe { shared(userdata) }?.with(|h| {
            h.sleep(u64::from(usecs));
            Ok(0)
        })
    })
}

/// `gettimeofday`: the virtual time; the timezone argument is ignored.
///
/// # Safety
/// `userdata` must be null or the pointer `packetdrill_interface_init` stored; `tv` null or writable.
pub(crate) unsafe extern "C" fn pd_gettimeofday(userdata: *mut c_void, tv: *mut timeval, _tz: *mut c_void) -> c_int {
    guard(-1, || {
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        let us = unsafe { shared(userdata) }?.with(|h| Ok(h.tick()))?;
        if !tv.is_null() {
            let value =
                timeval { tv_sec: (us / 1_000_000) as libc::time_t, tv_usec: (us % 1_000_000) as libc::suseconds_t };
            // SAFETY: non-null `tv` is writable (libc contract).
            unsafe { tv.write(value) };
        }
        Ok(0)
    })
}
