//! packetdrill's shared-object interface over inetstack.
//!
//! packetdrill (`--so_filename=libinetstack_packetdrill.so`) `dlopen`s this library, calls
//! [`packetdrill_interface_init`] and then drives the stack through the function pointers of
//! [`PacketdrillInterface`]: libc-like socket calls, `netdev_send`/`netdev_receive` for raw IPv4 packets, and
//! `usleep`/`gettimeofday` on a virtual clock. The layout of the struct was written from the interface's
//! description (packetdrill's `packetdrill.h`); no packetdrill code is copied.
//!
//! - All state ([`host::Host`]) sits behind one `Mutex`; calls that block (`accept`, `read`, `write`, a
//!   blocking `connect`, `poll` with a timeout) wait on a `Condvar` that every injected packet, time advance
//!   and socket call notifies.
//! - Descriptors are real OS descriptors (`eventfd`), so packetdrill may close them itself.
//! - Errors are -1 with `errno` set; a panic never crosses the boundary (it becomes -1/EIO).
//! - `fcntl` and `ioctl` are variadic in C: they live in `csrc/variadic.c`, which calls
//!   `inetstack_pd_fcntl_impl`/`inetstack_pd_ioctl_impl` here.

pub mod host;

use std::ffi::{CStr, c_char, c_int, c_long, c_longlong, c_uint, c_ulong, c_void};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use host::{Errno, Host, Res, Settings};
use libc::{iovec, msghdr, pollfd, sockaddr, socklen_t, ssize_t, timeval};

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

/// What `userdata` points to.
#[derive(Debug)]
struct Shared {
    host: Mutex<SendHost>,
    changed: Condvar,
}

/// The host, movable between threads.
#[derive(Debug)]
struct SendHost(Host);

// SAFETY: `Host` is `!Send` only because inetstack's buffers count references with `Rc`. Every buffer lives
// inside the `Host`, which is only ever touched through the `Mutex` in `Shared`, so no two threads touch a
// reference count at once; data leaves the lock only as copied `Vec<u8>`s.
unsafe impl Send for SendHost {}

unsafe extern "C" {
    fn inetstack_pd_fcntl(userdata: *mut c_void, fd: c_int, cmd: c_int, ...) -> c_int;
    fn inetstack_pd_ioctl(userdata: *mut c_void, fd: c_int, request: c_ulong, ...) -> c_int;
}

fn set_errno(e: Errno) {
    // SAFETY: `__errno_location` returns the calling thread's errno, valid for the thread's lifetime.
    unsafe { *libc::__errno_location() = e };
}

/// Runs `f`, turning an error into `fail` with errno set and a panic into `fail` with EIO.
fn guard<T>(fail: T, f: impl FnOnce() -> Res<T>) -> T {
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

fn shared<'a>(userdata: *mut c_void) -> Res<&'a Shared> {
    if userdata.is_null() {
        return Err(libc::EINVAL);
    }
    // SAFETY: non-null userdata is the `Box<Shared>` `packetdrill_interface_init` leaked; it lives until `free`.
    Ok(unsafe { &*userdata.cast::<Shared>() })
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SendHost> {
        self.host.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the host and wakes every waiter (anything may have changed).
    fn with<T>(&self, f: impl FnOnce(&mut Host) -> Res<T>) -> Res<T> {
        let mut host = self.lock();
        let result = f(&mut host.0);
        drop(host);
        self.changed.notify_all();
        result
    }

    /// Runs `f` until it stops answering EAGAIN, waiting for a change in between, unless `fd` is non-blocking.
    fn blocking<T>(&self, fd: c_int, mut f: impl FnMut(&mut Host) -> Res<T>) -> Res<T> {
        let mut host = self.lock();
        loop {
            match f(&mut host.0) {
                Err(libc::EAGAIN) if !host.0.is_nonblocking(fd)? => {
                    self.changed.notify_all();
                    host = self.changed.wait(host).unwrap_or_else(|p| p.into_inner());
                }
                result => {
                    drop(host);
                    self.changed.notify_all();
                    return result;
                }
            }
        }
    }
}

fn new_os_fd() -> Res<i32> {
    // SAFETY: plain syscall wrapper with no pointer arguments.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 { Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EMFILE)) } else { Ok(fd) }
}

fn close_os_fd(fd: i32) {
    // SAFETY: `fd` is an eventfd this library created and nobody else owns.
    unsafe { libc::close(fd) };
}

/// Reads an IPv4 socket address.
///
/// # Safety
/// `addr` must be null or valid for `len` bytes.
unsafe fn read_addr(addr: *const sockaddr, len: socklen_t) -> Res<SocketAddrV4> {
    if addr.is_null() {
        return Err(libc::EFAULT);
    }
    if (len as usize) < size_of::<libc::sockaddr_in>() {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller guarantees `len` readable bytes, and `len` covers a sockaddr_in.
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
unsafe fn read_optional_addr(addr: *const sockaddr, len: socklen_t) -> Res<Option<SocketAddrV4>> {
    if addr.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's contract.
    unsafe { read_addr(addr, len) }.map(Some)
}

/// Writes an IPv4 socket address, truncated to `*len`, and sets `*len` to its full size.
///
/// # Safety
/// `addr` and `len` must both be null or valid (`addr` for `*len` bytes).
unsafe fn write_addr(addr: *mut sockaddr, len: *mut socklen_t, value: SocketAddrV4) {
    if addr.is_null() || len.is_null() {
        return;
    }
    // SAFETY: zeroed is a valid sockaddr_in.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = value.port().to_be();
    sin.sin_addr.s_addr = u32::from(*value.ip()).to_be();
    let full = size_of::<libc::sockaddr_in>();
    // SAFETY: the caller guarantees `len` is valid and `addr` holds `*len` bytes; we copy at most that many.
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
unsafe fn gather(iov: *const iovec, count: c_int) -> Res<Vec<u8>> {
    if count < 0 || (iov.is_null() && count > 0) {
        return Err(libc::EINVAL);
    }
    let mut out = Vec::new();
    for i in 0..count as usize {
        // SAFETY: the caller guarantees `count` entries, each valid for `iov_len` bytes.
        let v = unsafe { &*iov.add(i) };
        if v.iov_len > 0 {
            // SAFETY: as above.
            out.extend_from_slice(unsafe { std::slice::from_raw_parts(v.iov_base.cast::<u8>(), v.iov_len) });
        }
    }
    Ok(out)
}

/// Scatters `data` over an iovec array.
///
/// # Safety
/// `iov` must be valid for `count` entries, each writable for its length.
unsafe fn scatter(iov: *const iovec, count: c_int, data: &[u8]) {
    let mut rest = data;
    for i in 0..count.max(0) as usize {
        if rest.is_empty() {
            break;
        }
        // SAFETY: the caller guarantees `count` writable entries.
        let v = unsafe { &*iov.add(i) };
        let n = v.iov_len.min(rest.len());
        // SAFETY: `n` is at most the entry's length.
        unsafe { std::ptr::copy_nonoverlapping(rest.as_ptr(), v.iov_base.cast::<u8>(), n) };
        rest = &rest[n..];
    }
}

/// Total capacity of an iovec array.
///
/// # Safety
/// `iov` must be valid for `count` entries.
unsafe fn capacity(iov: *const iovec, count: c_int) -> Res<usize> {
    if count < 0 || (iov.is_null() && count > 0) {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller guarantees `count` entries.
    Ok((0..count as usize).map(|i| unsafe { (*iov.add(i)).iov_len }).sum())
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

unsafe extern "C" fn pd_free(userdata: *mut c_void) {
    let _ = catch_unwind(|| {
        if userdata.is_null() {
            return;
        }
        // SAFETY: `userdata` is the Box leaked by init, freed once here (packetdrill calls free once, last).
        let shared = unsafe { Box::from_raw(userdata.cast::<Shared>()) };
        let host = shared.host.into_inner().unwrap_or_else(|p| p.into_inner());
        for fd in host.0.open_fds() {
            close_os_fd(fd);
        }
    });
}

unsafe extern "C" fn pd_socket(userdata: *mut c_void, domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    guard(-1, || {
        let s = shared(userdata)?;
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

unsafe extern "C" fn pd_bind(userdata: *mut c_void, fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    guard(-1, || {
        let s = shared(userdata)?;
        // SAFETY: libc contract: `addr` is valid for `len` bytes.
        let addr = unsafe { read_addr(addr, len) }?;
        s.with(|h| h.bind(fd, addr)).map(|()| 0)
    })
}

unsafe extern "C" fn pd_listen(userdata: *mut c_void, fd: c_int, backlog: c_int) -> c_int {
    guard(-1, || shared(userdata)?.with(|h| h.listen(fd, backlog)).map(|()| 0))
}

unsafe extern "C" fn pd_accept(userdata: *mut c_void, fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    guard(-1, || {
        let (new_fd, peer) = shared(userdata)?.blocking(fd, |h| h.accept(fd, new_os_fd))?;
        // SAFETY: libc contract: `addr`/`len` are null or valid.
        unsafe { write_addr(addr, len, peer) };
        Ok(new_fd)
    })
}

unsafe extern "C" fn pd_connect(userdata: *mut c_void, fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    guard(-1, || {
        let s = shared(userdata)?;
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

/// The common body of the read calls: returns the data and the sender.
fn read_common(userdata: *mut c_void, fd: c_int, max: usize, flags: c_int) -> Res<(Vec<u8>, Option<SocketAddrV4>)> {
    let s = shared(userdata)?;
    let peek = flags & libc::MSG_PEEK != 0;
    if flags & libc::MSG_DONTWAIT != 0 {
        return s.with(|h| h.read(fd, max, peek));
    }
    s.blocking(fd, |h| h.read(fd, max, peek))
}

/// Copies `data` into `buf` (at most `len` bytes, which `data` never exceeds).
///
/// # Safety
/// `buf` must be writable for `data.len()` bytes.
unsafe fn copy_out(buf: *mut c_void, data: &[u8]) {
    if !data.is_empty() {
        // SAFETY: the caller guarantees room for `data`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), buf.cast::<u8>(), data.len()) };
    }
}

unsafe extern "C" fn pd_read(userdata: *mut c_void, fd: c_int, buf: *mut c_void, count: usize) -> ssize_t {
    // SAFETY: libc contract: `buf` is writable for `count` bytes.
    unsafe { pd_recvfrom(userdata, fd, buf, count, 0, std::ptr::null_mut(), std::ptr::null_mut()) }
}

unsafe extern "C" fn pd_recv(userdata: *mut c_void, fd: c_int, buf: *mut c_void, len: usize, flags: c_int) -> ssize_t {
    // SAFETY: libc contract: `buf` is writable for `len` bytes.
    unsafe { pd_recvfrom(userdata, fd, buf, len, flags, std::ptr::null_mut(), std::ptr::null_mut()) }
}

unsafe extern "C" fn pd_recvfrom(
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
        let (data, from) = read_common(userdata, fd, len, flags)?;
        // SAFETY: `data` holds at most `len` bytes and `buf` is writable for `len` (libc contract).
        unsafe { copy_out(buf, &data) };
        if let Some(from) = from {
            // SAFETY: libc contract: `addr`/`addrlen` are null or valid.
            unsafe { write_addr(addr, addrlen, from) };
        }
        Ok(data.len() as ssize_t)
    })
}

unsafe extern "C" fn pd_readv(userdata: *mut c_void, fd: c_int, iov: *const iovec, count: c_int) -> ssize_t {
    guard(-1, || {
        // SAFETY: libc contract: `iov` is valid for `count` entries.
        let max = unsafe { capacity(iov, count) }?;
        let (data, _) = read_common(userdata, fd, max, 0)?;
        // SAFETY: `data` fits the entries' total capacity.
        unsafe { scatter(iov, count, &data) };
        Ok(data.len() as ssize_t)
    })
}

unsafe extern "C" fn pd_recvmsg(userdata: *mut c_void, fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    guard(-1, || {
        if msg.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: libc contract: `msg` points to a valid msghdr.
        let m = unsafe { &mut *msg };
        if !m.msg_control.is_null() && m.msg_controllen > 0 {
            return Err(libc::EOPNOTSUPP); // no ancillary data
        }
        // SAFETY: libc contract: the iovec array is valid.
        let max = unsafe { capacity(m.msg_iov, m.msg_iovlen as c_int) }?;
        let (data, from) = read_common(userdata, fd, max, flags)?;
        // SAFETY: `data` fits the entries' total capacity.
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

fn write_common(userdata: *mut c_void, fd: c_int, data: &[u8], flags: c_int, to: Option<SocketAddrV4>) -> Res<usize> {
    let s = shared(userdata)?;
    if flags & libc::MSG_DONTWAIT != 0 {
        return s.with(|h| h.write(fd, data, to));
    }
    s.blocking(fd, |h| h.write(fd, data, to))
}

/// A borrowed input buffer.
///
/// # Safety
/// `buf` must be null (only with `len == 0`) or readable for `len` bytes.
unsafe fn input<'a>(buf: *const c_void, len: usize) -> Res<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if buf.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) })
}

unsafe extern "C" fn pd_write(userdata: *mut c_void, fd: c_int, buf: *const c_void, count: usize) -> ssize_t {
    // SAFETY: libc contract: `buf` is readable for `count` bytes.
    unsafe { pd_sendto(userdata, fd, buf, count, 0, std::ptr::null(), 0) }
}

unsafe extern "C" fn pd_send(
    userdata: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    len: usize,
    flags: c_int,
) -> ssize_t {
    // SAFETY: libc contract: `buf` is readable for `len` bytes.
    unsafe { pd_sendto(userdata, fd, buf, len, flags, std::ptr::null(), 0) }
}

unsafe extern "C" fn pd_sendto(
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
        write_common(userdata, fd, data, flags, to).map(|n| n as ssize_t)
    })
}

unsafe extern "C" fn pd_writev(userdata: *mut c_void, fd: c_int, iov: *const iovec, count: c_int) -> ssize_t {
    guard(-1, || {
        // SAFETY: libc contract: `iov` is valid for `count` readable entries.
        let data = unsafe { gather(iov, count) }?;
        write_common(userdata, fd, &data, 0, None).map(|n| n as ssize_t)
    })
}

unsafe extern "C" fn pd_sendmsg(userdata: *mut c_void, fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    guard(-1, || {
        if msg.is_null() {
            return Err(libc::EFAULT);
        }
        // SAFETY: libc contract: `msg` points to a valid msghdr.
        let m = unsafe { &*msg };
        if !m.msg_control.is_null() && m.msg_controllen > 0 {
            return Err(libc::EOPNOTSUPP); // no ancillary data
        }
        // SAFETY: libc contract: the iovec array is valid.
        let data = unsafe { gather(m.msg_iov, m.msg_iovlen as c_int) }?;
        // SAFETY: libc contract: `msg_name` is null or valid for `msg_namelen` bytes.
        let to = unsafe { read_optional_addr(m.msg_name.cast(), m.msg_namelen) }?;
        write_common(userdata, fd, &data, flags, to).map(|n| n as ssize_t)
    })
}

/// `fcntl` after the C glue took its optional argument: F_GETFL/F_SETFL (O_NONBLOCK), F_GETFD/F_SETFD.
#[unsafe(no_mangle)]
pub extern "C" fn inetstack_pd_fcntl_impl(userdata: *mut c_void, fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    guard(-1, || {
        shared(userdata)?.with(|h| match cmd {
            libc::F_GETFL => Ok(libc::O_RDWR | if h.is_nonblocking(fd)? { libc::O_NONBLOCK } else { 0 }),
            libc::F_SETFL => h.set_nonblocking(fd, arg as c_long as c_int & libc::O_NONBLOCK != 0).map(|()| 0),
            libc::F_GETFD => h.is_nonblocking(fd).map(|_| libc::FD_CLOEXEC),
            libc::F_SETFD => h.is_nonblocking(fd).map(|_| 0),
            _ => h.is_nonblocking(fd).and(Err(libc::EINVAL)),
        })
    })
}

/// `ioctl` after the C glue took its optional argument: FIONBIO and FIONREAD.
#[unsafe(no_mangle)]
pub extern "C" fn inetstack_pd_ioctl_impl(
    userdata: *mut c_void,
    fd: c_int,
    request: c_ulong,
    arg: *mut c_void,
) -> c_int {
    guard(-1, || {
        let s = shared(userdata)?;
        if arg.is_null() {
            return Err(libc::EFAULT);
        }
        match request {
            libc::FIONBIO => {
                // SAFETY: FIONBIO's argument is a pointer to an int (ioctl contract).
                let on = unsafe { arg.cast::<c_int>().read_unaligned() } != 0;
                s.with(|h| h.set_nonblocking(fd, on)).map(|()| 0)
            }
            libc::FIONREAD => {
                let n = s.with(|h| h.bytes_readable(fd))?;
                // SAFETY: FIONREAD's argument is a pointer to an int (ioctl contract).
                unsafe { arg.cast::<c_int>().write_unaligned(n) };
                Ok(0)
            }
            _ => s.with(|h| h.is_nonblocking(fd)).and(Err(libc::ENOTTY)),
        }
    })
}

unsafe extern "C" fn pd_close(userdata: *mut c_void, fd: c_int) -> c_int {
    guard(-1, || {
        shared(userdata)?.with(|h| h.close(fd))?;
        close_os_fd(fd);
        Ok(0)
    })
}

unsafe extern "C" fn pd_shutdown(userdata: *mut c_void, fd: c_int, how: c_int) -> c_int {
    guard(-1, || shared(userdata)?.with(|h| h.shutdown(fd, how)).map(|()| 0))
}

unsafe extern "C" fn pd_getsockopt(
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
        let bytes = shared(userdata)?.with(|h| h.getsockopt(fd, level, name))?;
        // SAFETY: libc contract: `len` is valid and `value` holds `*len` bytes; we copy at most that many.
        unsafe {
            let n = (*len as usize).min(bytes.len());
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), value.cast::<u8>(), n);
            *len = n as socklen_t;
        }
        Ok(0)
    })
}

unsafe extern "C" fn pd_setsockopt(
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
        shared(userdata)?.with(|h| h.setsockopt(fd, level, name, bytes)).map(|()| 0)
    })
}

/// `poll`: POLLIN/POLLOUT/POLLERR from the stack's readiness, POLLNVAL for unknown descriptors. With a
/// timeout and nothing ready it waits for a change (in real time, at most `timeout` ms; -1: until ready).
unsafe extern "C" fn pd_poll(userdata: *mut c_void, fds: *mut pollfd, nfds: libc::nfds_t, timeout: c_int) -> c_int {
    guard(-1, || {
        let s = shared(userdata)?;
        if fds.is_null() && nfds > 0 {
            return Err(libc::EFAULT);
        }
        let entries: &mut [pollfd] = if nfds == 0 {
            &mut []
        } else {
            // SAFETY: libc contract: `fds` is valid for `nfds` entries.
            unsafe { std::slice::from_raw_parts_mut(fds, nfds as usize) }
        };
        let deadline = (timeout > 0).then(|| std::time::Instant::now() + Duration::from_millis(timeout as u64));
        let mut host = s.lock();
        loop {
            let mut ready = 0;
            for entry in entries.iter_mut() {
                entry.revents = 0;
                if entry.fd < 0 {
                    continue;
                }
                match host.0.readiness(entry.fd) {
                    Ok(r) => {
                        if r.readable {
                            entry.revents |= entry.events & (libc::POLLIN | libc::POLLRDNORM);
                        }
                        if r.writable {
                            entry.revents |= entry.events & (libc::POLLOUT | libc::POLLWRNORM);
                        }
                        if r.error {
                            entry.revents |= libc::POLLERR;
                        }
                    }
                    Err(_) => entry.revents = libc::POLLNVAL,
                }
                if entry.revents != 0 {
                    ready += 1;
                }
            }
            if ready > 0 || timeout == 0 {
                return Ok(ready);
            }
            host = match deadline {
                None => s.changed.wait(host).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Ok(0);
                    }
                    s.changed.wait_timeout(host, left).unwrap_or_else(|p| p.into_inner()).0
                }
            };
        }
    })
}

/// `netdev_send`: packetdrill injects a raw IPv4 packet. 0 on success.
unsafe extern "C" fn pd_netdev_send(userdata: *mut c_void, buf: *const c_void, count: usize) -> c_int {
    guard(-1, || {
        // SAFETY: packetdrill passes a packet of `count` bytes.
        let packet = unsafe { input(buf, count) }?;
        shared(userdata)?.with(|h| h.inject(packet)).map(|()| 0)
    })
}

/// `netdev_receive`: the next packet the stack emits (raw IPv4, cut to `*count`), its length in `*count` and its
/// virtual time in `*time_usecs`. 0 with `*count = 0` when nothing will ever be sent.
unsafe extern "C" fn pd_netdev_receive(
    userdata: *mut c_void,
    buf: *mut c_void,
    count: *mut usize,
    time_usecs: *mut c_longlong,
) -> c_int {
    guard(-1, || {
        if count.is_null() || (buf.is_null()) {
            return Err(libc::EFAULT);
        }
        // SAFETY: packetdrill passes a valid in/out length.
        let room = unsafe { *count };
        let next = shared(userdata)?.with(|h| Ok(h.next_packet()))?;
        let (len, at) = match next {
            Some((packet, at)) => {
                let n = packet.len().min(room);
                // SAFETY: `buf` is writable for `room` bytes and `n <= room`.
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

unsafe extern "C" fn pd_usleep(userdata: *mut c_void, usecs: libc::useconds_t) -> c_int {
    guard(-1, || {
        shared(userdata)?.with(|h| {
            h.sleep(u64::from(usecs));
            Ok(0)
        })
    })
}

unsafe extern "C" fn pd_gettimeofday(userdata: *mut c_void, tv: *mut timeval, _tz: *mut c_void) -> c_int {
    guard(-1, || {
        let us = shared(userdata)?.with(|h| Ok(h.tick()))?;
        if !tv.is_null() {
            let value =
                timeval { tv_sec: (us / 1_000_000) as libc::time_t, tv_usec: (us % 1_000_000) as libc::suseconds_t };
            // SAFETY: non-null `tv` is writable (libc contract).
            unsafe { tv.write(value) };
        }
        Ok(0)
    })
}

unsafe extern "C" fn pd_epoll_create(_userdata: *mut c_void, _size: c_int) -> c_int {
    guard(-1, || Err(libc::ENOSYS))
}

unsafe extern "C" fn pd_epoll_ctl(_: *mut c_void, _: c_int, _: c_int, _: c_int, _: *mut libc::epoll_event) -> c_int {
    guard(-1, || Err(libc::ENOSYS))
}

unsafe extern "C" fn pd_epoll_wait(_: *mut c_void, _: c_int, _: *mut libc::epoll_event, _: c_int, _: c_int) -> c_int {
    guard(-1, || Err(libc::ENOSYS))
}

unsafe extern "C" fn pd_pipe(_userdata: *mut c_void, _fds: *mut c_int) -> c_int {
    guard(-1, || Err(libc::ENOSYS))
}

unsafe extern "C" fn pd_splice(
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

    #[test]
    fn flags_parse() {
        let s = Settings::parse("--local_ip=10.0.0.2 --remote_ip=192.0.2.1 --mss=1000 --initial_rto_ms=300").unwrap();
        assert_eq!(s.local_ip, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(s.tcp.mss, 1000);
        assert_eq!(s.tcp.initial_rto, Duration::from_millis(300));
        assert!(Settings::parse("--bogus=1").is_err());
        assert!(Settings::parse("").is_ok());
    }
}
