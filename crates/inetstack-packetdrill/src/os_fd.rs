//! The real OS descriptors (`eventfd`s) handed to packetdrill as socket descriptors, so that packetdrill may
//! treat them like any other descriptor.

use crate::host::Res;

/// A fresh close-on-exec `eventfd`, used as a socket's descriptor number.
pub(crate) fn new_os_fd() -> Res<i32> {
    // SAFETY: plain syscall wrapper with no pointer arguments.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 { Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EMFILE)) } else { Ok(fd) }
}

/// Closes a descriptor [`new_os_fd`] made.
pub(crate) fn close_os_fd(fd: i32) {
    // SAFETY: `close` takes no pointers; `fd` is an eventfd this library created and nobody else owns (every
    // caller passes one just made by `new_os_fd` or one the host's descriptor table still held).
    unsafe { libc::close(fd) };
}
