//! The error convention at the C boundary: -1 (or another failure value) with `errno` set, and no panic
//! crossing into packetdrill.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::host::{Errno, Res};

fn set_errno(e: Errno) {
    // SAFETY: `__errno_location` returns the calling thread's errno, valid for the thread's lifetime.
    unsafe { *libc::__errno_location() = e };
}

/// Runs `f`, turning an error into `fail` with errno set and a panic into `fail` with EIO.
pub(crate) fn guard<T>(fail: T, f: impl FnOnce() -> Res<T>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            set_errno(e);
            fail
        }
        Err(_) => {
            set_errno(libc::EIO);
            fail
        }
    }
}
