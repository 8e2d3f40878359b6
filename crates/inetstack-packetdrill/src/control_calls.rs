//! The option and control entry points: `getsockopt`, `setsockopt`, and the Rust halves of the variadic `fcntl`
//! and `ioctl` (`csrc/variadic.c` takes their optional argument off the `va_list` and calls
//! [`inetstack_pd_fcntl_impl`]/[`inetstack_pd_ioctl_impl`]).
//!
//! Like every entry point, each takes packetdrill's `userdata`, which must be null or the pointer
//! `packetdrill_interface_init` stored (see [`shared`]).

use std::ffi::{c_int, c_long, c_ulong, c_void};

use libc::socklen_t;

use crate::c_memory::input;
use crate::errno::guard;
use crate::state::shared;

/// `getsockopt`: copies the option's value, truncated to `*len`, and sets `*len` to the bytes copied.
///
/// # Safety
/// `userdata` as for every entry point; `value` and `len` null or valid (`value` writable for `*len` bytes).
pub(crate) unsafe extern "C" fn pd_getsockopt(
    userdata: *mut c_void,
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    guard(-1, || {
        if value.is_null() || len.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        let bytes = unsafe { shared(userdata) }?.with(|h| h.getsockopt(fd, level, name))?;
        // SAFETY: `value` and `len` are non-null (checked above) and, by the libc contract, valid, `value` for
        // `*len` bytes; we copy at most that many, as bytes (no alignment needed), from our own `Vec`, which
        // cannot overlap the caller's buffer.
        unsafe {
            let n = (*len as usize).min(bytes.len());
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), value.cast::<u8>(), n);
            *len = n as socklen_t;
        }
        Ok(0)
    })
}

/// `setsockopt`.
///
/// # Safety
/// `userdata` as for every entry point; `value` null (only with `len == 0`) or readable for `len` bytes.
pub(crate) unsafe extern "C" fn pd_setsockopt(
    userdata: *mut c_void,
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: libc contract: `value` is readable for `len` bytes.
        let bytes = unsafe { input(value, len as usize) }?;
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        unsafe { shared(userdata) }?.with(|h| h.setsockopt(fd, level, name, bytes)).map(|()| 0)
    })
}

/// `fcntl` after the C glue took its optional argument: F_GETFL/F_SETFL (O_NONBLOCK), F_GETFD/F_SETFD.
///
/// # Safety
/// `userdata` must be null or the pointer `packetdrill_interface_init` stored, which is what the C glue passes
/// on.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn inetstack_pd_fcntl_impl(userdata: *mut c_void, fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    guard(-1, || {
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        unsafe { shared(userdata) }?.with(|h| match cmd {
            libc::F_GETFL => Ok(libc::O_RDWR | if h.is_nonblocking(fd)? { libc::O_NONBLOCK } else { 0 }),
            libc::F_SETFL => h.set_nonblocking(fd, arg as c_long as c_int & libc::O_NONBLOCK != 0).map(|()| 0),
            libc::F_GETFD => h.is_nonblocking(fd).map(|_| libc::FD_CLOEXEC),
            libc::F_SETFD => h.is_nonblocking(fd).map(|_| 0),
            _ => h.is_nonblocking(fd).and(Err(libc::EINVAL)),
        })
    })
}

/// `ioctl` after the C glue took its optional argument: FIONBIO and FIONREAD.
///
/// # Safety
/// `userdata` must be null or the pointer `packetdrill_interface_init` stored, and for FIONBIO and FIONREAD a
/// non-null `arg` must point to an `int`: what the C glue passes on from packetdrill.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn inetstack_pd_ioctl_impl(
    userdata: *mut c_void,
    fd: c_int,
    request: c_ulong,
    arg: *mut c_void,
) -> c_int {
    guard(-1, || {
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        let s = unsafe { shared(userdata) }?;
        if arg.is_null() {
            return Err(libc::EFAULT);
        }
        match request {
            libc::FIONBIO => {
                // SAFETY: `arg` is non-null (checked above) and FIONBIO's argument is a pointer to an int (ioctl
                // contract, trusted as documented above); `read_unaligned` needs no alignment.
                let on = unsafe { arg.cast::<c_int>().read_unaligned() } != 0;
                s.with(|h| h.set_nonblocking(fd, on)).map(|()| 0)
            }
            libc::FIONREAD => {
                let n = s.with(|h| h.bytes_readable(fd))?;
                // SAFETY: `arg` is non-null (checked above) and FIONREAD's argument is a pointer to a writable int
                // (ioctl contract, trusted as documented above); `write_unaligned` needs no alignment.
                unsafe { arg.cast::<c_int>().write_unaligned(n) };
                Ok(0)
            }
            _ => s.with(|h| h.is_nonblocking(fd)).and(Err(libc::ENOTTY)),
        }
    })
}
