//! The packet entry points: `netdev_send` injects a raw IPv4 packet from packetdrill's remote side,
//! `netdev_receive` hands packetdrill the next packet the stack emitted.

use std::ffi::{c_int, c_longlong, c_void};

use crate::c_memory::{copy_out, input};
use crate::errno::guard;
use crate::state::shared;

/// `netdev_send`: packetdrill injects a raw IPv4 packet. 0 on success.
///
/// # Safety
/// `userdata` must be null or the pointer `packetdrill_interface_init` stored; `buf` readable for `count`
/// bytes (null only if `count` is 0).
pub(crate) unsafe extern "C" fn pd_netdev_send(userdata: *mut c_void, buf: *const c_void, count: usize) -> c_int {
    guard(-1, || {
        // SAFETY: packetdrill passes a packet of `count` bytes: `buf` is readable for that many (or `count` is 0).
        let packet = unsafe { input(buf, count) }?;
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        unsafe { shared(userdata) }?.with(|h| h.inject(packet)).map(|()| 0)
    })
}

/// `netdev_receive`: the next packet the stack emits (raw IPv4, cut to `*count`), its length in `*count` and its
/// virtual time in `*time_usecs`. 0 with `*count = 0` when nothing will ever be sent.
///
/// # Safety
/// `userdata` must be null or the pointer `packetdrill_interface_init` stored; `count` null or valid, and then
/// `buf` writable for `*count` bytes; `time_usecs` null or writable.
pub(crate) unsafe extern "C" fn pd_netdev_receive(
    userdata: *mut c_void,
    buf: *mut c_void,
    count: *mut usize,
    time_usecs: *mut c_longlong,
) -> c_int {
    guard(-1, || {
        if count.is_null() || (buf.is_null()) {
            return Err(libc::EFAULT);
        }
        // SAFETY: `count` is non-null (checked above) and packetdrill passes a valid, aligned in/out length.
        let room = unsafe { *count };
        // SAFETY: `userdata` is null or `packetdrill_interface_init`'s pointer (this entry point's contract).
        let next = unsafe { shared(userdata) }?.with(|h| Ok(h.next_packet()))?;
        let (len, at) = match next {
            Some((packet, at)) => {
                let n = packet.len().min(room);
                // SAFETY: `buf` is non-null (checked above) and writable for `room` bytes (packetdrill's
                // contract), and `n <= room`.
                unsafe { copy_out(buf, &packet[..n]) };
                (n, at)
            }
            None => (0, 0),
        };
        // SAFETY: `count` is valid (checked non-null above); `time_usecs` is null or valid.
        unsafe {
            *count = len;
            if !time_usecs.is_null() && len > 0 {
                *time_usecs = at as c_longlong;
            }
        }
        Ok(0)
    })
}
