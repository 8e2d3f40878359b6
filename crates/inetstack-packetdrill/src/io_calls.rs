//! The data entry points: `read`, `recv`, `recvfrom`, `readv`, `recvmsg` and `write`, `send`, `sendto`,
//! `writev`, `sendmsg`. Each variant reduces to one common read or write body, which blocks unless the socket is
//! non-blocking or MSG_DONTWAIT is given.
//!
//! Like every entry point, each takes packetdrill's `userdata`, which must be null or the pointer
//! `packetdrill_interface_init` stored (see [`shared`]); the `# Safety` sections list only what comes on top.

use std::ffi::{c_int, c_void};
use std::net::SocketAddrV4;

use libc::{iovec, msghdr, sockaddr, socklen_t, ssize_t};

use crate::c_memory::{capacity, copy_out, gather, input, read_optional_addr, scatter, write_addr};
use crate::errno::guard;
use crate::host::Res;
use crate::state::{Shared, shared};

/// The common body of the read calls: returns the data and the sender.
fn read_common(s: &Shared, fd: c_int, max: usize, flags: c_int) -> Res<(Vec<u8>, Option<SocketAddrV4>)> {
    let peek = flags & libc::MSG_PEEK != 0;
    if flags & libc::MSG_DONTWAIT != 0 {
        return s.with(|h| h.read(fd, max, peek));
    }
    s.blocking(fd, |h| h.read(fd, max, peek))
}

/// `read`: `recvfrom` without flags or address.
///
/// # Safety
/// `userdata` as for every entry point; `buf` writable for `count` bytes (null only if `count` is 0).
pub(crate) unsafe extern "C" fn pd_read(userdata: *mut c_void, fd: c_int, buf: *mut c_void, count: usize) -> ssize_t {
    // SAFETY: libc contract: `buf` is writable for `count` bytes.
    unsafe { pd_recvfrom(userdata, fd, buf, count, 0, std::ptr::null_mut(), std::ptr::null_mut()) }
}

/// `recv`: `recvfrom` without an address.
///
/// # Safety
/// `userdata` as for every entry point; `buf` writable for `len` bytes (null only if `len` is 0).
pub(crate) unsafe extern "C" fn pd_recv(
    userdata: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
) -> ssize_t {
    // SAFETY: libc contract: `buf` is writable for `len` bytes.
    unsafe { pd_recvfrom(userdata, fd, buf, len, flags, std::ptr::null_mut(), std::ptr::null_mut()) }
}

/// `recvfrom`: up to `len` bytes into `buf` (MSG_PEEK, MSG_DONTWAIT), and the sender into `addr` if known.
///
/// # Safety
/// `userdata` as for every entry point; `buf` writable for `len` bytes (null only if `len` is 0); `addr` and
/// `addrlen` both null or valid (`addr` for `*addrlen` bytes).
pub(crate) unsafe extern "C" fn pd_recvfrom(
    userdata: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    len: usize,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    guard(-1, || {
        if buf.is_null() && len > 0 {
            return Err(libc::EFAULT);
        }
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        let (data, from) = read_common(unsafe { shared(userdata) }?, fd, len, flags)?;
        // SAFETY: `data` holds at most `len` bytes and `buf` is writable for `len` (libc contract).
        unsafe { copy_out(buf, &data) };
        if let Some(from) = from {
            // SAFETY: libc contract: `addr`/`addrlen` are null or valid.
            unsafe { write_addr(addr, addrlen, from) };
        }
        Ok(data.len() as ssize_t)
    })
}

/// `readv`: as much as the entries hold, scattered over them.
///
/// # Safety
/// `userdata` as for every entry point; `iov` valid for `count` entries, each writable for its length.
pub(crate) unsafe extern "C" fn pd_readv(userdata: *mut c_void, fd: c_int, iov: *const iovec, count: c_int) -> ssize_t {
    guard(-1, || {
        // SAFETY: libc contract: `iov` is valid for `count` entries.
        let max = unsafe { capacity(iov, count) }?;
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        let (data, _) = read_common(unsafe { shared(userdata) }?, fd, max, 0)?;
        // SAFETY: `data` fits the entries' total capacity, and each entry is writable for its length (libc
        // contract).
        unsafe { scatter(iov, count, &data) };
        Ok(data.len() as ssize_t)
    })
}

/// `recvmsg`: `readv` with flags and the sender in `msg_name`; ancillary data is EOPNOTSUPP.
///
/// # Safety
/// `userdata` as for every entry point; `msg` null or a valid, writable msghdr whose iovec array is valid and
/// writable, and whose `msg_name` is null or writable for `msg_namelen` bytes.
pub(crate) unsafe extern "C" fn pd_recvmsg(
    userdata: *mut c_void,
    fd: c_int,
    msg: *mut msghdr,
    flags: c_int,
) -> ssize_t {
    guard(-1, || {
        if msg.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: `msg` is non-null (checked above) and, by the libc contract, points to a valid, aligned msghdr
        // that nobody else touches during the call.
        let m = unsafe { &mut *msg };
        if !m.msg_control.is_null() && m.msg_controllen > 0 {
            return Err(libc::EOPNOTSUPP); // no ancillary data
        }
        // SAFETY: libc contract: `msg_iov` is valid for `msg_iovlen` entries, each for its length.
        let max = unsafe { capacity(m.msg_iov, m.msg_iovlen as c_int) }?;
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        let (data, from) = read_common(unsafe { shared(userdata) }?, fd, max, flags)?;
        // SAFETY: `data` fits the entries' total capacity, and each entry is writable for its length (libc
        // contract).
        unsafe { scatter(m.msg_iov, m.msg_iovlen as c_int, &data) };
        m.msg_flags = 0;
        if let Some(from) = from {
            let mut len = m.msg_namelen;
            // SAFETY: libc contract: `msg_name` is null or valid for `msg_namelen` bytes.
            unsafe { write_addr(m.msg_name.cast(), &mut len, from) };
            m.msg_namelen = len;
        } else {
            m.msg_namelen = 0;
        }
        Ok(data.len() as ssize_t)
    })
}

/// The common body of the write calls: returns how many bytes were queued.
fn write_common(s: &Shared, fd: c_int, data: &[u8], flags: c_int, to: Option<SocketAddrV4>) -> Res<usize> {
    if flags & libc::MSG_DONTWAIT != 0 {
        return s.with(|h| h.write(fd, data, to));
    }
    s.blocking(fd, |h| h.write(fd, data, to))
}

/// `write`: `sendto` without flags or address.
///
/// # Safety
/// `userdata` as for every entry point; `buf` readable for `count` bytes (null only if `count` is 0).
pub(crate) unsafe extern "C" fn pd_write(
    userdata: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    count: usize,
) -> ssize_t {
    // SAFETY: libc contract: `buf` is readable for `count` bytes.
    unsafe { pd_sendto(userdata, fd, buf, count, 0, std::ptr::null(), 0) }
}

/// `send`: `sendto` without an address.
///
/// # Safety
/// `userdata` as for every entry point; `buf` readable for `len` bytes (null only if `len` is 0).
pub(crate) unsafe extern "C" fn pd_send(
    userdata: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> ssize_t {
    // SAFETY: libc contract: `buf` is readable for `len` bytes.
    unsafe { pd_sendto(userdata, fd, buf, len, flags, std::ptr::null(), 0) }
}

/// `sendto`: `len` bytes from `buf` (MSG_DONTWAIT), to `addr` if given.
///
/// # Safety
/// `userdata` as for every entry point; `buf` readable for `len` bytes (null only if `len` is 0); `addr` null
/// or valid for `addrlen` bytes.
pub(crate) unsafe extern "C" fn pd_sendto(
    userdata: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    len: usize,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: libc contract: `buf` is readable for `len` bytes.
        let data = unsafe { input(buf, len) }?;
        // SAFETY: libc contract: `addr` is null or valid for `addrlen` bytes.
        let to = unsafe { read_optional_addr(addr, addrlen) }?;
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        write_common(unsafe { shared(userdata) }?, fd, data, flags, to).map(|n| n as ssize_t)
    })
}

/// `writev`: the entries' bytes, gathered.
///
/// # Safety
/// `userdata` as for every entry point; `iov` valid for `count` entries, each readable for its length.
pub(crate) unsafe extern "C" fn pd_writev(
    userdata: *mut c_void,
    fd: c_int,
    iov: *const iovec,
    count: c_int,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: libc contract: `iov` is valid for `count` readable entries.
        let data = unsafe { gather(iov, count) }?;
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        write_common(unsafe { shared(userdata) }?, fd, &data, 0, None).map(|n| n as ssize_t)
    })
}

/// `sendmsg`: `writev` with flags and the destination in `msg_name`; ancillary data is EOPNOTSUPP.
///
/// # Safety
/// `userdata` as for every entry point; `msg` null or a valid msghdr whose iovec array is valid and readable,
/// and whose `msg_name` is null or valid for `msg_namelen` bytes.
pub(crate) unsafe extern "C" fn pd_sendmsg(
    userdata: *mut c_void,
    fd: c_int,
    msg: *const msghdr,
    flags: c_int,
) -> ssize_t {
    guard(-1, || {
        if msg.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: `msg` is non-null (checked above) and, by the libc contract, points to a valid, aligned msghdr
        // that nobody writes during the call.
        let m = unsafe { &*msg };
        if !m.msg_control.is_null() && m.msg_controllen > 0 {
            return Err(libc::EOPNOTSUPP); // no ancillary data
        }
        // SAFETY: libc contract: `msg_iov` is valid for `msg_iovlen` entries, each for its length.
        let data = unsafe { gather(m.msg_iov, m.msg_iovlen as c_int) }?;
        // SAFETY: libc contract: `msg_name` is null or valid for `msg_namelen` bytes.
        let to = unsafe { read_optional_addr(m.msg_name.cast(), m.msg_namelen) }?;
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        write_common(unsafe { shared(userdata) }?, fd, &data, flags, to).map(|n| n as ssize_t)
    })
}
