//! The interface table itself: [`PacketdrillInterface`], the `#[repr(C)]` mirror of packetdrill's
//! `struct packetdrill_interface`; [`packetdrill_interface_init`], which fills it and creates the shared state;
//! and `pd_free`, which destroys that state again.

use std::ffi::{CStr, c_char, c_int, c_longlong, c_uint, c_ulong, c_void};
use std::panic::catch_unwind;
use std::sync::{Condvar, Mutex};

use libc::{iovec, msghdr, pollfd, sockaddr, socklen_t, ssize_t, timeval};

use crate::clock::{pd_gettimeofday, pd_usleep};
use crate::control_calls::{pd_getsockopt, pd_setsockopt};
use crate::host::{Host, Settings};
use crate::io_calls::{
    pd_read, pd_readv, pd_recv, pd_recvfrom, pd_recvmsg, pd_send, pd_sendmsg, pd_sendto, pd_write, pd_writev,
};
use crate::netdev::{pd_netdev_receive, pd_netdev_send};
use crate::os_fd::close_os_fd;
use crate::poll::pd_poll;
use crate::socket_calls::{pd_accept, pd_bind, pd_close, pd_connect, pd_listen, pd_shutdown, pd_socket};
use crate::state::{SendHost, Shared};
use crate::unsupported::{pd_epoll_create, pd_epoll_ctl, pd_epoll_wait, pd_pipe, pd_splice};

/// packetdrill's `struct packetdrill_interface`: userdata, then one function pointer per call, in this order.
/// Every function takes `userdata` first and otherwise has the libc signature.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PacketdrillInterface {
    pub userdata: *mut c_void,
    pub free: Option<unsafe extern "C" fn(*mut c_void)>,
    pub socket: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int) -> c_int>,
    pub bind: Option<unsafe extern "C" fn(*mut c_void, c_int, *const sockaddr, socklen_t) -> c_int>,
    pub listen: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int>,
    pub accept: Option<unsafe extern "C" fn(*mut c_void, c_int, *mut sockaddr, *mut socklen_t) -> c_int>,
    pub connect: Option<unsafe extern "C" fn(*mut c_void, c_int, *const sockaddr, socklen_t) -> c_int>,
    pub read: Option<unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, usize) -> ssize_t>,
    pub readv: Option<unsafe extern "C" fn(*mut c_void, c_int, *const iovec, c_int) -> ssize_t>,
    pub recv: Option<unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, usize, c_int) -> ssize_t>,
    pub recvfrom: Option<
        unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, usize, c_int, *mut sockaddr, *mut socklen_t) -> ssize_t,
    >,
    pub recvmsg: Option<unsafe extern "C" fn(*mut c_void, c_int, *mut msghdr, c_int) -> ssize_t>,
    pub write: Option<unsafe extern "C" fn(*mut c_void, c_int, *const c_void, usize) -> ssize_t>,
    pub writev: Option<unsafe extern "C" fn(*mut c_void, c_int, *const iovec, c_int) -> ssize_t>,
    pub send: Option<unsafe extern "C" fn(*mut c_void, c_int, *const c_void, usize, c_int) -> ssize_t>,
    pub sendto: Option<
        unsafe extern "C" fn(*mut c_void, c_int, *const c_void, usize, c_int, *const sockaddr, socklen_t) -> ssize_t,
    >,
    pub sendmsg: Option<unsafe extern "C" fn(*mut c_void, c_int, *const msghdr, c_int) -> ssize_t>,
    pub fcntl: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, ...) -> c_int>,
    pub ioctl: Option<unsafe extern "C" fn(*mut c_void, c_int, c_ulong, ...) -> c_int>,
    pub close: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    pub shutdown: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int>,
    pub getsockopt:
        Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, *mut c_void, *mut socklen_t) -> c_int>,
    pub setsockopt: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, *const c_void, socklen_t) -> c_int>,
    pub poll: Option<unsafe extern "C" fn(*mut c_void, *mut pollfd, libc::nfds_t, c_int) -> c_int>,
    pub netdev_send: Option<unsafe extern "C" fn(*mut c_void, *const c_void, usize) -> c_int>,
    pub netdev_receive: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, *mut usize, *mut c_longlong) -> c_int>,
    pub usleep: Option<unsafe extern "C" fn(*mut c_void, libc::useconds_t) -> c_int>,
    pub gettimeofday: Option<unsafe extern "C" fn(*mut c_void, *mut timeval, *mut c_void) -> c_int>,
    pub epoll_create: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    pub epoll_ctl: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, *mut libc::epoll_event) -> c_int>,
    pub epoll_wait: Option<unsafe extern "C" fn(*mut c_void, c_int, *mut libc::epoll_event, c_int, c_int) -> c_int>,
    pub pipe: Option<unsafe extern "C" fn(*mut c_void, *mut c_int) -> c_int>,
    pub splice: Option<unsafe extern "C" fn(*mut c_void, c_int, *mut i64, c_int, *mut i64, usize, c_uint) -> ssize_t>,
}

impl Default for PacketdrillInterface {
    fn default() -> Self {
        Self {
            userdata: std::ptr::null_mut(),
            free: None,
            socket: None,
            bind: None,
            listen: None,
            accept: None,
            connect: None,
            read: None,
            readv: None,
            recv: None,
            recvfrom: None,
            recvmsg: None,
            write: None,
            writev: None,
            send: None,
            sendto: None,
            sendmsg: None,
            fcntl: None,
            ioctl: None,
            close: None,
            shutdown: None,
            getsockopt: None,
            setsockopt: None,
            poll: None,
            netdev_send: None,
            netdev_receive: None,
            usleep: None,
            gettimeofday: None,
            epoll_create: None,
            epoll_ctl: None,
            epoll_wait: None,
            pipe: None,
            splice: None,
        }
    }
}

// SAFETY: these two declarations match the definitions in `csrc/variadic.c` (compiled and linked in by
// `build.rs`) parameter for parameter: `int inetstack_pd_fcntl(void *, int, int, ...)` and
// `int inetstack_pd_ioctl(void *, int, unsigned long, ...)`.
unsafe extern "C" {
    fn inetstack_pd_fcntl(userdata: *mut c_void, fd: c_int, cmd: c_int, ...) -> c_int;
    fn inetstack_pd_ioctl(userdata: *mut c_void, fd: c_int, request: c_ulong, ...) -> c_int;
}

/// Fills `ifc` with the library's functions and a fresh stack configured by `flags` (see
/// [`Settings::parse`]). If `flags` cannot be parsed or the stack cannot start, `userdata` stays null (every
/// call then fails with EINVAL) and a message goes to stderr.
///
/// # Safety
/// `flags` must be null or a NUL-terminated string; `ifc` must be null or point to a writable interface struct.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn packetdrill_interface_init(flags: *const c_char, ifc: *mut PacketdrillInterface) {
    if ifc.is_null() {
        return;
    }
    let flags = if flags.is_null() {
        String::new()
    } else {
        // SAFETY: non-null `flags` is a NUL-terminated string (caller's contract).
        unsafe { CStr::from_ptr(flags) }.to_string_lossy().into_owned()
    };
    let userdata = catch_unwind(|| {
        let settings = Settings::parse(&flags).map_err(|e| eprintln!("inetstack-packetdrill: {e}")).ok()?;
        let host = Host::new(settings).map_err(|e| eprintln!("inetstack-packetdrill: stack: errno {e}")).ok()?;
        let shared = Box::new(Shared { host: Mutex::new(SendHost(host)), changed: Condvar::new() });
        Some(Box::into_raw(shared).cast::<c_void>())
    })
    .ok()
    .flatten()
    .unwrap_or(std::ptr::null_mut());
    let table = PacketdrillInterface {
        userdata,
        free: Some(pd_free),
        socket: Some(pd_socket),
        bind: Some(pd_bind),
        listen: Some(pd_listen),
        accept: Some(pd_accept),
        connect: Some(pd_connect),
        read: Some(pd_read),
        readv: Some(pd_readv),
        recv: Some(pd_recv),
        recvfrom: Some(pd_recvfrom),
        recvmsg: Some(pd_recvmsg),
        write: Some(pd_write),
        writev: Some(pd_writev),
        send: Some(pd_send),
        sendto: Some(pd_sendto),
        sendmsg: Some(pd_sendmsg),
        fcntl: Some(inetstack_pd_fcntl),
        ioctl: Some(inetstack_pd_ioctl),
        close: Some(pd_close),
        shutdown: Some(pd_shutdown),
        getsockopt: Some(pd_getsockopt),
        setsockopt: Some(pd_setsockopt),
        poll: Some(pd_poll),
        netdev_send: Some(pd_netdev_send),
        netdev_receive: Some(pd_netdev_receive),
        usleep: Some(pd_usleep),
        gettimeofday: Some(pd_gettimeofday),
        epoll_create: Some(pd_epoll_create),
        epoll_ctl: Some(pd_epoll_ctl),
        epoll_wait: Some(pd_epoll_wait),
        pipe: Some(pd_pipe),
        splice: Some(pd_splice),
    };
    // SAFETY: `ifc` is non-null and writable (caller's contract).
    unsafe { ifc.write(table) };
}

/// `free`: destroys the state `packetdrill_interface_init` created and closes every descriptor still open.
///
/// # Safety
/// `userdata` must be null or the pointer `packetdrill_interface_init` stored, not freed before; no other call
/// may be running or come after it (packetdrill calls `free` once, last).
unsafe extern "C" fn pd_free(userdata: *mut c_void) {
    let _ = catch_unwind(|| {
        if userdata.is_null() {
            return;
        }
        // SAFETY: `userdata` is the Box leaked by init, freed once here (packetdrill calls free once, last, so no
        // other call still holds a reference obtained from it).
        let shared = unsafe { Box::from_raw(userdata.cast::<Shared>()) };
        let host = shared.host.into_inner().unwrap_or_else(|p| p.into_inner());
        for fd in host.0.open_fds() {
            close_os_fd(fd);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_layout_is_one_pointer_per_field_in_order() {
        use std::mem::offset_of;
        assert_eq!(size_of::<PacketdrillInterface>(), 33 * 8);
        let offsets = [
            offset_of!(PacketdrillInterface, userdata),
            offset_of!(PacketdrillInterface, free),
            offset_of!(PacketdrillInterface, socket),
            offset_of!(PacketdrillInterface, bind),
            offset_of!(PacketdrillInterface, listen),
            offset_of!(PacketdrillInterface, accept),
            offset_of!(PacketdrillInterface, connect),
            offset_of!(PacketdrillInterface, read),
            offset_of!(PacketdrillInterface, readv),
            offset_of!(PacketdrillInterface, recv),
            offset_of!(PacketdrillInterface, recvfrom),
            offset_of!(PacketdrillInterface, recvmsg),
            offset_of!(PacketdrillInterface, write),
            offset_of!(PacketdrillInterface, writev),
            offset_of!(PacketdrillInterface, send),
            offset_of!(PacketdrillInterface, sendto),
            offset_of!(PacketdrillInterface, sendmsg),
            offset_of!(PacketdrillInterface, fcntl),
            offset_of!(PacketdrillInterface, ioctl),
            offset_of!(PacketdrillInterface, close),
            offset_of!(PacketdrillInterface, shutdown),
            offset_of!(PacketdrillInterface, getsockopt),
            offset_of!(PacketdrillInterface, setsockopt),
            offset_of!(PacketdrillInterface, poll),
            offset_of!(PacketdrillInterface, netdev_send),
            offset_of!(PacketdrillInterface, netdev_receive),
            offset_of!(PacketdrillInterface, usleep),
            offset_of!(PacketdrillInterface, gettimeofday),
            offset_of!(PacketdrillInterface, epoll_create),
            offset_of!(PacketdrillInterface, epoll_ctl),
            offset_of!(PacketdrillInterface, epoll_wait),
            offset_of!(PacketdrillInterface, pipe),
            offset_of!(PacketdrillInterface, splice),
        ];
        for (i, offset) in offsets.into_iter().enumerate() {
            assert_eq!(offset, i * 8, "field {i}");
        }
    }
}
