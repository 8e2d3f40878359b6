//! Bad input and bad call sequences: each gets its errno, none panics, and other queues are undisturbed.

use std::net::SocketAddrV4;
use std::time::Duration;

use demikernel::{LibOs, QDesc, QToken, QValue, Sga, SocketDomain, SocketOption, SocketOptionName, SocketType};
use demikernel_tests::{EchoServer, LOCALHOST, connect, expect_ok, new_libos, pop_exactly};

fn errno<T: std::fmt::Debug>(result: Result<T, demikernel::Fail>) -> i32 {
    result.expect_err("the call must fail").errno()
}

fn any_port() -> SocketAddrV4 {
    SocketAddrV4::new(LOCALHOST, 0)
}

fn tcp(libos: &mut dyn LibOs) -> QDesc {
    libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap()
}

/// A connection within one libOS: (client side, server side).
fn connected_pair(libos: &mut dyn LibOs) -> (QDesc, QDesc) {
    let listener = tcp(libos);
    libos.bind(listener, any_port()).unwrap();
    libos.listen(listener, 8).unwrap();
    let addr = libos.getsockname(listener).unwrap();
    let client = tcp(libos);
    let connect_qt = libos.connect(client, addr).unwrap();
    let accept_qt = libos.accept(listener).unwrap();
    let results = libos.wait_all(&[connect_qt, accept_qt], Some(Duration::from_secs(5))).unwrap();
    assert!(matches!(results[0].value, Ok(QValue::Connected)), "{results:?}");
    let Ok(QValue::Accepted { qd: server_side, .. }) = results[1].value else { panic!("{results:?}") };
    (client, server_side)
}

/// A bystander connection that must keep working whatever the other calls do.
struct Bystander {
    _server: EchoServer,
    qd: QDesc,
}

impl Bystander {
    fn new(libos: &mut dyn LibOs) -> Self {
        let server = EchoServer::start(SocketType::Stream);
        let qd = connect(libos, server.addr);
        Self { _server: server, qd }
    }

    fn still_works(&self, libos: &mut dyn LibOs) {
        let qt = libos.push(self.qd, &Sga::from_slice(b"still here").unwrap()).unwrap();
        expect_ok(libos, qt);
        assert_eq!(pop_exactly(libos, self.qd, 10), b"still here");
    }
}

#[test]
fn bad_queue_descriptors_are_ebadf() {
    let mut libos = new_libos();
    let bogus = QDesc::new(4242);
    assert_eq!(errno(libos.bind(bogus, any_port())), libc::EBADF);
    assert_eq!(errno(libos.listen(bogus, 1)), libc::EBADF);
    assert_eq!(errno(libos.accept(bogus)), libc::EBADF);
    assert_eq!(errno(libos.connect(bogus, SocketAddrV4::new(LOCALHOST, 1))), libc::EBADF);
    assert_eq!(errno(libos.push(bogus, &Sga::from_slice(b"x").unwrap())), libc::EBADF);
    assert_eq!(errno(libos.pop(bogus, None)), libc::EBADF);
    assert_eq!(errno(libos.close(bogus)), libc::EBADF);
    assert_eq!(errno(libos.getsockname(bogus)), libc::EBADF);
    let qd = tcp(libos.as_mut());
    libos.close(qd).unwrap();
    assert_eq!(errno(libos.close(qd)), libc::EBADF, "double close");
    assert_eq!(errno(libos.pop(qd, None)), libc::EBADF, "use after close");
}

#[test]
fn bad_socket_arguments_are_rejected() {
    let mut libos = new_libos();
    assert_eq!(errno(SocketDomain::try_from(libc::AF_INET6)), libc::EAFNOSUPPORT);
    assert_eq!(errno(SocketType::try_from(libc::SOCK_RAW)), libc::EPROTOTYPE);
    assert_eq!(errno(libos.socket(SocketDomain::Inet, SocketType::Stream, libc::IPPROTO_UDP)), libc::EPROTONOSUPPORT);
}

#[test]
fn wrong_queue_kinds_are_rejected() {
    let mut libos = new_libos();
    let memory = libos.queue().unwrap();
    assert_eq!(errno(libos.bind(memory, any_port())), libc::ENOTSOCK);
    assert_eq!(errno(libos.accept(memory)), libc::ENOTSOCK);
    assert_eq!(
        errno(libos.pushto(memory, &Sga::from_slice(b"x").unwrap(), SocketAddrV4::new(LOCALHOST, 9))),
        libc::ENOTSOCK
    );
    let udp = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
    libos.bind(udp, any_port()).unwrap();
    assert_eq!(errno(libos.listen(udp, 8)), libc::EOPNOTSUPP);
    assert_eq!(errno(libos.accept(udp)), libc::EOPNOTSUPP);
    assert_eq!(errno(libos.push(udp, &Sga::from_slice(b"x").unwrap())), libc::EDESTADDRREQ);
    let stream = tcp(libos.as_mut());
    assert_eq!(
        errno(libos.pushto(stream, &Sga::from_slice(b"x").unwrap(), SocketAddrV4::new(LOCALHOST, 9))),
        libc::EOPNOTSUPP
    );
    assert_eq!(errno(libos.setsockopt(udp, SocketOption::NoDelay(true))), libc::ENOPROTOOPT);
    assert_eq!(errno(libos.creat("/tmp/x")), libc::ENOTSUP);
}

#[test]
fn state_machine_violations_are_rejected() {
    let mut libos = new_libos();
    let by = Bystander::new(libos.as_mut());
    let qd = tcp(libos.as_mut());
    assert_eq!(errno(libos.listen(qd, 8)), libc::EDESTADDRREQ, "listen before bind");
    assert_eq!(errno(libos.accept(qd)), libc::EINVAL, "accept before listen");
    assert_eq!(errno(libos.push(qd, &Sga::from_slice(b"x").unwrap())), libc::ENOTCONN);
    assert_eq!(errno(libos.pop(qd, None)), libc::ENOTCONN);
    libos.bind(qd, any_port()).unwrap();
    assert_eq!(errno(libos.bind(qd, any_port())), libc::EINVAL, "bind twice");
    libos.listen(qd, 8).unwrap();
    assert_eq!(errno(libos.push(qd, &Sga::from_slice(b"x").unwrap())), libc::EOPNOTSUPP, "push on a listener");
    assert_eq!(errno(libos.pop(qd, None)), libc::EOPNOTSUPP, "pop on a listener");
    assert_eq!(errno(libos.connect(qd, SocketAddrV4::new(LOCALHOST, 9))), libc::EOPNOTSUPP, "connect on a listener");
    assert_eq!(errno(libos.getpeername(qd)), libc::ENOTCONN);
    assert_eq!(errno(libos.listen(by.qd, 8)), libc::EINVAL, "listen on a connected socket");
    assert_eq!(errno(libos.connect(by.qd, SocketAddrV4::new(LOCALHOST, 9))), libc::EISCONN);
    let fresh = tcp(libos.as_mut());
    assert_eq!(errno(libos.connect(fresh, SocketAddrV4::new(LOCALHOST, 0))), libc::EINVAL, "connect to port 0");
    by.still_works(libos.as_mut());
}

#[test]
fn bind_conflicts_are_eaddrinuse() {
    let mut libos = new_libos();
    let a = tcp(libos.as_mut());
    libos.bind(a, any_port()).unwrap();
    libos.listen(a, 8).unwrap();
    let taken = libos.getsockname(a).unwrap();
    assert_ne!(taken.port(), 0, "a port-0 bind reads back the chosen port");
    let b = tcp(libos.as_mut());
    assert_eq!(errno(libos.bind(b, taken)), libc::EADDRINUSE);
    // INADDR_ANY works.
    let c = tcp(libos.as_mut());
    libos.bind(c, SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0)).unwrap();
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    let mut libos = new_libos();
    // Find a port nobody listens on: bind, read it back, close.
    let probe = tcp(libos.as_mut());
    libos.bind(probe, any_port()).unwrap();
    let port = libos.getsockname(probe).unwrap().port();
    libos.close(probe).unwrap();
    let qd = tcp(libos.as_mut());
    let qt = libos.connect(qd, SocketAddrV4::new(LOCALHOST, port)).unwrap();
    let result = libos.wait(qt, Some(Duration::from_secs(5))).unwrap();
    assert_eq!(result.error().map(|e| e.errno()), Some(libc::ECONNREFUSED), "{result:?}");
}

#[test]
fn bad_scatter_gather_arrays_are_einval() {
    let mut libos = new_libos();
    let by = Bystander::new(libos.as_mut());
    assert_eq!(errno(libos.push(by.qd, &Sga::new())), libc::EINVAL, "empty push");
    let mut huge = Sga::new();
    let segment = demikernel::DemiBuffer::new(64 << 20).unwrap();
    for _ in 0..17 {
        huge.push_segment(segment.clone());
    }
    assert_eq!(errno(libos.push(by.qd, &huge)), libc::EINVAL, "oversized push");
    assert_eq!(errno(libos.pop(by.qd, Some(0))), libc::EINVAL, "zero-length pop");
    assert_eq!(errno(libos.sgaalloc(0)), libc::EINVAL);
    assert_eq!(errno(libos.sgaalloc(usize::MAX)), libc::ENOMEM);
    let sga = libos.sgaalloc(1 << 20).unwrap();
    assert_eq!(sga.len(), 1 << 20);
    libos.sgafree(sga).unwrap();
    by.still_works(libos.as_mut());
}

#[test]
fn bogus_and_consumed_qtokens_are_einval() {
    let mut libos = new_libos();
    assert_eq!(errno(libos.wait(QToken::from_raw(0xffff_0000_1234), Some(Duration::ZERO))), libc::EINVAL);
    let q = libos.queue().unwrap();
    let qt = libos.push(q, &Sga::from_slice(b"x").unwrap()).unwrap();
    libos.wait(qt, None).unwrap();
    assert_eq!(errno(libos.wait(qt, None)), libc::EINVAL, "a result is returned once");
    assert_eq!(errno(libos.wait_any(&[], None)), libc::EINVAL);
}

#[test]
fn timeouts_leave_tokens_valid() {
    let mut libos = new_libos();
    let by = Bystander::new(libos.as_mut());
    let qt = libos.pop(by.qd, None).unwrap();
    assert_eq!(errno(libos.wait(qt, Some(Duration::from_millis(10)))), libc::ETIMEDOUT);
    assert_eq!(errno(libos.wait(qt, Some(Duration::ZERO))), libc::ETIMEDOUT);
    let push = libos.push(by.qd, &Sga::from_slice(b"late").unwrap()).unwrap();
    expect_ok(libos.as_mut(), push);
    assert!(matches!(expect_ok(libos.as_mut(), qt), QValue::Popped { sga, .. } if sga.to_vec() == b"late"));
}

#[test]
fn closing_cancels_pending_operations() {
    let mut libos = new_libos();
    let by = Bystander::new(libos.as_mut());
    let server = EchoServer::start(SocketType::Stream);
    let qd = connect(libos.as_mut(), server.addr);
    let pops = [libos.pop(qd, None).unwrap(), libos.pop(qd, None).unwrap()];
    let listener = tcp(libos.as_mut());
    libos.bind(listener, any_port()).unwrap();
    libos.listen(listener, 8).unwrap();
    let accept = libos.accept(listener).unwrap();
    let memory = libos.queue().unwrap();
    let memory_pop = libos.pop(memory, None).unwrap();
    libos.close(qd).unwrap();
    let close = libos.async_close(listener).unwrap();
    libos.close(memory).unwrap();
    for qt in pops.into_iter().chain([accept, memory_pop]) {
        let result = libos.wait(qt, Some(Duration::from_secs(1))).unwrap();
        assert_eq!(result.error().map(|e| e.errno()), Some(libc::ECANCELED), "{result:?}");
    }
    assert!(matches!(expect_ok(libos.as_mut(), close), QValue::Closed));
    by.still_works(libos.as_mut());
}

#[test]
fn a_push_too_big_for_the_socket_buffer_is_cancelled_by_close() {
    let mut libos = new_libos();
    let (client, _server_side) = connected_pair(libos.as_mut());
    // Nobody reads: 256 MiB cannot fit in the socket buffers, so the push stays pending.
    let push = libos.push(client, &Sga::from_buffer(demikernel::DemiBuffer::new(256 << 20).unwrap())).unwrap();
    assert_eq!(errno(libos.wait(push, Some(Duration::from_millis(50)))), libc::ETIMEDOUT);
    libos.close(client).unwrap();
    let result = libos.wait(push, Some(Duration::from_secs(1))).unwrap();
    assert_eq!(result.error().map(|e| e.errno()), Some(libc::ECANCELED));
}

#[test]
fn socket_options_round_trip() {
    let mut libos = new_libos();
    let qd = tcp(libos.as_mut());
    for option in [
        SocketOption::NoDelay(true),
        SocketOption::KeepAlive(true),
        SocketOption::ReuseAddr(true),
        SocketOption::Linger(Some(Duration::from_secs(3))),
        SocketOption::Linger(None),
    ] {
        libos.setsockopt(qd, option).unwrap();
        assert_eq!(libos.getsockopt(qd, option.name()).unwrap(), option);
    }
    assert_eq!(libos.getsockopt(qd, SocketOptionName::NoDelay).unwrap(), SocketOption::NoDelay(true));
}

#[test]
fn peer_reset_is_reported_not_fatal() {
    let mut libos = new_libos();
    let (client, server_side) = connected_pair(libos.as_mut());
    // Linger 0 makes close send a RST.
    libos.setsockopt(client, SocketOption::Linger(Some(Duration::ZERO))).unwrap();
    libos.close(client).unwrap();
    let qt = libos.pop(server_side, None).unwrap();
    let result = libos.wait(qt, Some(Duration::from_secs(5))).unwrap();
    assert_eq!(result.error().map(|e| e.errno()), Some(libc::ECONNRESET), "{result:?}");
}

#[test]
fn end_of_stream_after_a_short_read_is_seen() {
    // Regression: a short read used to mark a socket "drained, wait for epoll" even when epoll had already
    // reported the peer's FIN, so the pop after it waited forever for an edge that never comes.
    let mut libos = new_libos();
    let (client, server_side) = connected_pair(libos.as_mut());
    let qt = libos.push(client, &Sga::from_slice(b"abcdef").unwrap()).unwrap();
    expect_ok(libos.as_mut(), qt);
    libos.close(client).unwrap();
    // Let epoll report the data and the FIN before anything reads.
    let idle = libos.queue().unwrap();
    let never = libos.pop(idle, None).unwrap();
    assert_eq!(errno(libos.wait(never, Some(Duration::from_millis(20)))), libc::ETIMEDOUT);
    assert_eq!(pop_exactly(libos.as_mut(), server_side, 1), b"a");
    let qt = libos.pop(server_side, Some(100)).unwrap();
    assert!(matches!(expect_ok(libos.as_mut(), qt), QValue::Popped { sga, .. } if sga.to_vec() == b"bcdef"));
    let qt = libos.pop(server_side, None).unwrap();
    let result = libos.wait(qt, Some(Duration::from_secs(2))).expect("end of stream, not a hang");
    assert!(matches!(&result.value, Ok(QValue::Popped { sga, .. }) if sga.is_empty()), "{result:?}");
}
