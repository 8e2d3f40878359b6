//! The entry points this library does not implement: `epoll_create`, `epoll_ctl`, `epoll_wait`, `pipe` and
//! `splice` all fail with -1 and ENOSYS, touching none of their arguments.

use std::ffi::{c_int, c_uint, c_void};

use libc::ssize_t;

use crate::errno::guard;

/// `epoll_create`: ENOSYS.
///
/// # Safety
/// None needed: no argument is read.
pub(crate) unsafe extern "C" fn pd_epoll_create(_userdata: *mut c_void, _size: c_int) -> c_int {
    guard(-1, || Err(libc::ENOSYS))
}

/// `epoll_ctl`: ENOSYS.
///
/// # Safety
/// None needed: no argument is read.
pub(crate) unsafe extern "C" fn pd_epoll_ctl(
    _: *mut c_void,
    _: c_int,
    _: c_int,
    _: c_int,
    _: *mut libc::epoll_event,
) -> c_int {
    guard(-1, || Err(libc::ENOSYS))
}

/// `epoll_wait`: ENOSYS.
///
/// # Safety
/// None needed: no argument is read.
pub(crate) unsafe extern "C" fn pd_epoll_wait(
    _: *mut c_void,
    _: c_int,
    _: *mut libc::epoll_event,
    _: c_int,
    _: c_int,
) -> c_int {
    guard(-1, || Err(libc::ENOSYS))
}

/// `pipe`: ENOSYS.
///
/// # Safety
/// None needed: no argument is read.
pub(crate) unsafe extern "C" fn pd_pipe(_userdata: *mut c_void, _fds: *mut c_int) -> c_int {
    guard(-1, || Err(libc::ENOSYS))
}

/// `splice`: ENOSYS.
///
/// # Safety
/// None needed: no argument is read.
pub(crate) unsafe extern "C" fn pd_splice(
    _: *mut c_void,
    _: c_int,
    _: *mut i64,
    _: c_int,
    _: *mut i64,
    _: usize,
    _: c_uint,
) -> ssize_t {
    guard(-1, || Err(libc::ENOSYS))
}
