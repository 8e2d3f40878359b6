//! The socket lifecycle entry points: `socket`, `bind`, `listen`, `accept`, `connect`, `shutdown`, `close`.
//!
//! Like every entry point, each takes packetdrill's `userdata`, which must be null or the pointer
//! `packetdrill_interface_init` stored (see [`shared`]); the `# Safety` sections list only what comes on top.

use std::ffi::{c_int, c_void};

use libc::{sockaddr, socklen_t};

use crate::c_memory::{read_addr, write_addr};
use crate::errno::guard;
use crate::os_fd::{close_os_fd, new_os_fd};
use crate::state::shared;

/// `socket`: a new TCP or UDP socket on a fresh descriptor.
///
/// # Safety
/// `userdata` as for every entry point; nothing else.
pub(crate) unsafe extern "C" fn pd_socket(userdata: *mut c_void, domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        let s = unsafe { shared(userdata) }?;
        let fd = new_os_fd()?;
        match s.with(|h| h.socket(fd, domain, ty, protocol)) {
            Ok(()) => Ok(fd),
            Err(e) => {
                close_os_fd(fd);
                Err(e)
            }
        }
    })
}

/// `bind`.
///
/// # Safety
/// `userdata` as for every entry point; `addr` null or valid for `len` bytes.
pub(crate) unsafe extern "C" fn pd_bind(
    userdata: *mut c_void,
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        let s = unsafe { shared(userdata) }?;
        // SAFETY: libc contract: `addr` is valid for `len` bytes.
        let addr = unsafe { read_addr(addr, len) }?;
        s.with(|h| h.bind(fd, addr)).map(|()| 0)
    })
}

/// `listen`.
///
/// # Safety
/// `userdata` as for every entry point; nothing else.
pub(crate) unsafe extern "C" fn pd_listen(userdata: *mut c_void, fd: c_int, backlog: c_int) -> c_int {
    // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
    guard(-1, || unsafe { shared(userdata) }?.with(|h| h.listen(fd, backlog)).map(|()| 0))
}

/// `accept`: waits for a connection unless the listener is non-blocking.
///
/// # Safety
/// `userdata` as for every entry point; `addr` and `len` both null or valid (`addr` for `*len` bytes).
pub(crate) unsafe extern "C" fn pd_accept(
    userdata: *mut c_void,
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        let (new_fd, peer) = unsafe { shared(userdata) }?.blocking(fd, |h| h.accept(fd, new_os_fd))?;
        // SAFETY: libc contract: `addr`/`len` are null or valid.
        unsafe { write_addr(addr, len, peer) };
        Ok(new_fd)
    })
}

/// `connect`: EINPROGRESS on a non-blocking socket; on a blocking one, waits for the handshake's result.
///
/// # Safety
/// `userdata` as for every entry point; `addr` null or valid for `len` bytes.
pub(crate) unsafe extern "C" fn pd_connect(
    userdata: *mut c_void,
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        let s = unsafe { shared(userdata) }?;
        // SAFETY: libc contract: `addr` is valid for `len` bytes.
        let addr = unsafe { read_addr(addr, len) }?;
        match s.with(|h| h.connect(fd, addr)) {
            Err(libc::EINPROGRESS) if !s.with(|h| h.is_nonblocking(fd))? => {
                s.blocking(fd, |h| h.connect_result(fd)).map(|()| 0)
            }
            result => result.map(|()| 0),
        }
    })
}

/// `close`: closes the socket and its descriptor.
///
/// # Safety
/// `userdata` as for every entry point; nothing else.
pub(crate) unsafe extern "C" fn pd_close(userdata: *mut c_void, fd: c_int) -> c_int {
    guard(-1, || {
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        unsafe { shared(userdata) }?.with(|h| h.close(fd))?;
        close_os_fd(fd);
        Ok(0)
    })
}

/// `shutdown`.
///
/// # Safety
/// `userdata` as for every entry point; nothing else.
pub(crate) unsafe extern "C" fn pd_shutdown(userdata: *mut c_void, fd: c_int, how: c_int) -> c_int {
    // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
    guard(-1, || unsafe { shared(userdata) }?.with(|h| h.shutdown(fd, how)).map(|()| 0))
}
