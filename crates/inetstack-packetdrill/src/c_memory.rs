//! Reading and writing the caller's memory: IPv4 socket addresses, iovec arrays and plain buffers. These are
//! the only places, with a few single-value reads and writes in the entry points, where raw pointers from
//! packetdrill are dereferenced; each states what it needs from its caller.

use std::ffi::{c_int, c_void};
use std::net::{Ipv4Addr, SocketAddrV4};

use libc::{iovec, sockaddr, socklen_t};

use crate::host::Res;

/// Reads an IPv4 socket address.
///
/// # Safety
/// `addr` must be null or valid for `len` bytes.
pub(crate) unsafe fn read_addr(addr: *const sockaddr, len: socklen_t) -> Res<SocketAddrV4> {
    if addr.is_null() {
        return Err(libc::EFAULT);
    }
    if (len as usize) < size_of::<libc::sockaddr_in>() {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller guarantees `len` readable bytes, and `len` covers a sockaddr_in; `read_unaligned`
    // needs no alignment, and every bit pattern is a valid sockaddr_in (plain integers).
    let sin = unsafe { std::ptr::read_unaligned(addr.cast::<libc::sockaddr_in>()) };
    if i32::from(sin.sin_family) != libc::AF_INET {
        return Err(libc::EAFNOSUPPORT);
    }
    Ok(SocketAddrV4::new(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)), u16::from_be(sin.sin_port)))
}

/// Reads an IPv4 socket address if there is one.
///
/// # Safety
/// As [`read_addr`].
pub(crate) unsafe fn read_optional_addr(addr: *const sockaddr, len: socklen_t) -> Res<Option<SocketAddrV4>> {
    if addr.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's contract, which is `read_addr`'s: `addr` is valid for `len` bytes.
    unsafe { read_addr(addr, len) }.map(Some)
}

/// Writes an IPv4 socket address, truncated to `*len`, and sets `*len` to its full size.
///
/// # Safety
/// `addr` and `len` must both be null or valid (`addr` for `*len` bytes).
pub(crate) unsafe fn write_addr(addr: *mut sockaddr, len: *mut socklen_t, value: SocketAddrV4) {
    if addr.is_null() || len.is_null() {
        return;
    }
    // SAFETY: zeroed is a valid sockaddr_in.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = value.port().to_be();
    sin.sin_addr.s_addr = u32::from(*value.ip()).to_be();
    let full = size_of::<libc::sockaddr_in>();
    // SAFETY: the caller guarantees `len` is valid and `addr` holds `*len` bytes; we copy at most that many, as
    // bytes (no alignment needed), from a local that cannot overlap the caller's buffer.
    unsafe {
        let n = (*len as usize).min(full);
        std::ptr::copy_nonoverlapping((&raw const sin).cast::<u8>(), addr.cast::<u8>(), n);
        *len = full as socklen_t;
    }
}

/// The bytes of an iovec array, gathered.
///
/// # Safety
/// `iov` must be valid for `count` entries, each valid for its length.
pub(crate) unsafe fn gather(iov: *const iovec, count: c_int) -> Res<Vec<u8>> {
    if count < 0 || (iov.is_null() && count > 0) {
        return Err(libc::EINVAL);
    }
    let mut out = Vec::new();
    for i in 0..count as usize {
        // SAFETY: the caller guarantees `count` entries (so `iov` is non-null here: `count > 0`).
        let v = unsafe { &*iov.add(i) };
        if v.iov_len > 0 {
            // SAFETY: the caller guarantees this entry's base is readable for its `iov_len` bytes, which are
            // more than zero, so the base is not null; the slice only lives until it is copied into `out`.
            out.extend_from_slice(unsafe { std::slice::from_raw_parts(v.iov_base.cast::<u8>(), v.iov_len) });
        }
    }
    Ok(out)
}

/// Scatters `data` over an iovec array.
///
/// # Safety
/// `iov` must be valid for `count` entries, each writable for its length.
pub(crate) unsafe fn scatter(iov: *const iovec, count: c_int, data: &[u8]) {
    let mut rest = data;
    for i in 0..count.max(0) as usize {
        if rest.is_empty() {
            break;
        }
        // SAFETY: the caller guarantees `count` writable entries.
        let v = unsafe { &*iov.add(i) };
        let n = v.iov_len.min(rest.len());
        // SAFETY: `n` is at most the entry's length, for which the caller guarantees its base is writable (a
        // zero-length entry copies nothing, and a zero-sized access is valid even through a null pointer); bytes
        // need no alignment, and `rest` is our own buffer, so the two cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(rest.as_ptr(), v.iov_base.cast::<u8>(), n) };
        rest = &rest[n..];
    }
}

/// Total capacity of an iovec array.
///
/// # Safety
/// `iov` must be valid for `count` entries.
pub(crate) unsafe fn capacity(iov: *const iovec, count: c_int) -> Res<usize> {
    if count < 0 || (iov.is_null() && count > 0) {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller guarantees `count` entries; only their `iov_len` fields are read.
    Ok((0..count as usize).map(|i| unsafe { (*iov.add(i)).iov_len }).sum())
}

/// Copies `data` into `buf` (at most `len` bytes, which `data` never exceeds).
///
/// # Safety
/// `buf` must be writable for `data.len()` bytes.
pub(crate) unsafe fn copy_out(buf: *mut c_void, data: &[u8]) {
    if !data.is_empty() {
        // SAFETY: the caller guarantees room for `data` (and `buf` is then non-null: `data` is not empty); bytes
        // need no alignment, and `data` is our own buffer, so the two cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), buf.cast::<u8>(), data.len()) };
    }
}

/// A borrowed input buffer.
///
/// # Safety
/// `buf` must be null (only with `len == 0`) or readable for `len` bytes, and not written while the returned
/// slice is in use.
pub(crate) unsafe fn input<'a>(buf: *const c_void, len: usize) -> Res<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if buf.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: `buf` is non-null and the caller guarantees `len` readable bytes, unchanged while borrowed.
    Ok(unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) })
}
