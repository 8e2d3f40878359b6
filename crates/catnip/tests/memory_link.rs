//! catnip end to end through PDPIX: two instances (two threads, as two hosts would be) on an in-memory
//! Ethernet link, each running its own inetstack. TCP and UDP echo, a bulk transfer checked by SHA-256, and
//! the same misuse errors catnap gives.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::mpsc;
use std::time::Duration;

use catnip::{Catnip, MemoryLink};
use inetstack::stack::StackConfig;
use inetstack::wire::MacAddress;
use pdpix::{LibOs, QDesc, QValue, Sga, SocketDomain, SocketOption, SocketOptionName, SocketType};
use sha2::{Digest, Sha256};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 7, 0, 2);
const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));

fn host(link: MemoryLink, ip: Ipv4Addr, last: u8) -> Catnip<MemoryLink> {
    let config = StackConfig::new(MacAddress([2, 0, 0, 0, 7, last]), ip, 24);
    Catnip::new(config, link, Duration::from_micros(20)).expect("catnip starts")
}

/// Runs `server` on its own thread with the other end of a link; returns the client's libOS.
fn with_server(server: impl FnOnce(Catnip<MemoryLink>, mpsc::Sender<()>) + Send + 'static) -> Catnip<MemoryLink> {
    let (a, b) = MemoryLink::pair();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || server(host(b, SERVER, 2), ready_tx));
    ready_rx.recv_timeout(Duration::from_secs(10)).expect("server ready");
    host(a, CLIENT, 1)
}

/// A TCP echo server on port 7 that serves until its peer closes, `connections` times.
fn tcp_echo_server(connections: usize) -> impl FnOnce(Catnip<MemoryLink>, mpsc::Sender<()>) + Send + 'static {
    move |mut libos, ready| {
        let listener = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        libos.bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7)).unwrap();
        libos.listen(listener, 16).unwrap();
        ready.send(()).unwrap();
        for _ in 0..connections {
            let qt = libos.accept(listener).unwrap();
            let Ok(QValue::Accepted { qd, .. }) = libos.wait(qt, None).unwrap().value else { panic!("accept") };
            loop {
                let qt = libos.pop(qd, None).unwrap();
                let Ok(QValue::Popped { sga, .. }) = libos.wait(qt, None).unwrap().value else { break };
                if sga.is_empty() {
                    break;
                }
                let qt = libos.push(qd, &sga).unwrap();
                libos.wait(qt, None).unwrap().value.unwrap();
            }
            libos.close(qd).unwrap();
        }
        // Linger so the last FIN handshake completes before the thread (and its stack) goes away.
        let q = libos.queue().unwrap();
        let qt = libos.pop(q, None).unwrap();
        let _ = libos.wait(qt, Some(Duration::from_millis(300)));
    }
}

fn connect(libos: &mut Catnip<MemoryLink>) -> QDesc {
    let qd = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    let qt = libos.connect(qd, SocketAddrV4::new(SERVER, 7)).unwrap();
    let result = libos.wait(qt, TIMEOUT).unwrap();
    assert!(matches!(result.value, Ok(QValue::Connected)), "{result:?}");
    qd
}

fn receive_exactly(libos: &mut Catnip<MemoryLink>, qd: QDesc, len: usize, hasher: &mut Sha256) {
    let mut got = 0;
    while got < len {
        let qt = libos.pop(qd, None).unwrap();
        match libos.wait(qt, TIMEOUT).unwrap().value.unwrap() {
            QValue::Popped { sga, .. } => {
                assert!(!sga.is_empty(), "stream ended after {got} of {len} bytes");
                for segment in sga.segments() {
                    hasher.update(&segment[..]);
                }
                got += sga.len();
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn tcp_echo_and_bulk_transfer_by_hash() {
    let mut libos = with_server(tcp_echo_server(1));
    let qd = connect(&mut libos);
    assert_eq!(libos.getpeername(qd).unwrap(), SocketAddrV4::new(SERVER, 7));
    for size in [1, 100, 1460, 5000, 70_000] {
        let message: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let qt = libos.push(qd, &Sga::from_slice(&message).unwrap()).unwrap();
        libos.wait(qt, TIMEOUT).unwrap().value.unwrap();
        let mut expected = Sha256::new();
        expected.update(&message);
        let mut got = Sha256::new();
        receive_exactly(&mut libos, qd, size, &mut got);
        assert_eq!(got.finalize(), expected.finalize(), "{size}-byte echo");
    }
    // 16 MiB through the echo, pushed in 256 KiB arrays while the replies are drained.
    const TOTAL: usize = 16 << 20;
    let mut sent_hash = Sha256::new();
    let mut received_hash = Sha256::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut received = 0;
    for _ in 0..TOTAL / (256 << 10) {
        let mut block = vec![0u8; 256 << 10];
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        sent_hash.update(&block);
        let qt = libos.push(qd, &Sga::from_slice(&block).unwrap()).unwrap();
        libos.wait(qt, TIMEOUT).unwrap().value.unwrap();
        receive_exactly(&mut libos, qd, block.len(), &mut received_hash);
        received += block.len();
    }
    assert_eq!(received, TOTAL);
    assert_eq!(received_hash.finalize(), sent_hash.finalize());
    // The connection's counters: every byte received once; sent at least once (a loss probe may send one again
    // while the server's thread is not scheduled).
    let counters = libos.tcp_counters(qd).unwrap();
    let echoed = (TOTAL + [1, 100, 1460, 5000, 70_000].iter().sum::<usize>()) as u64;
    assert_eq!(counters.bytes_in, echoed, "{counters:?}");
    assert!(counters.bytes_out >= echoed && counters.segments_in > 0, "{counters:?}");
    let udp = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
    assert_eq!(libos.tcp_counters(udp).unwrap_err().errno(), libc::EOPNOTSUPP);
    libos.close(qd).unwrap();
    assert_eq!(libos.tcp_counters(qd).unwrap_err().errno(), libc::EBADF);
}

#[test]
fn udp_echo_with_sender_address() {
    let mut libos = with_server(|mut libos, ready| {
        let qd = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
        libos.bind(qd, SocketAddrV4::new(SERVER, 9)).unwrap();
        ready.send(()).unwrap();
        for _ in 0..6 {
            let qt = libos.pop(qd, None).unwrap();
            if let Ok(QValue::Popped { sga, from: Some(from) }) = libos.wait(qt, TIMEOUT).unwrap().value {
                let qt = libos.pushto(qd, &sga, from).unwrap();
                libos.wait(qt, TIMEOUT).unwrap().value.unwrap();
            }
        }
    });
    let qd = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
    libos.bind(qd, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let local = libos.getsockname(qd).unwrap();
    assert_ne!(local.port(), 0);
    // Up to 1 472 bytes a datagram is one frame; larger ones travel in IPv4 fragments, both ways.
    for size in [1, 512, 1472, 2000, 20_000, 65_507] {
        let message: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let qt = libos.pushto(qd, &Sga::from_slice(&message).unwrap(), SocketAddrV4::new(SERVER, 9)).unwrap();
        libos.wait(qt, TIMEOUT).unwrap().value.unwrap();
        let qt = libos.pop(qd, None).unwrap();
        match libos.wait(qt, TIMEOUT).unwrap().value.unwrap() {
            QValue::Popped { sga, from } => {
                assert_eq!(sga.to_vec(), message);
                assert_eq!(from, Some(SocketAddrV4::new(SERVER, 9)));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Bigger than any IPv4 datagram: a clear error.
    let qt = libos.pushto(qd, &Sga::from_slice(&[0; 65_508]).unwrap(), SocketAddrV4::new(SERVER, 9)).unwrap();
    assert_eq!(libos.wait(qt, TIMEOUT).unwrap().error().map(|e| e.errno()), Some(libc::EMSGSIZE));
}

#[test]
fn misuse_gets_the_errors_catnap_gives() {
    let mut libos = with_server(|mut libos, ready| {
        ready.send(()).unwrap();
        // Answer ARP and RSTs for a while.
        let q = libos.queue().unwrap();
        let qt = libos.pop(q, None).unwrap();
        let _ = libos.wait(qt, Some(Duration::from_secs(2)));
    });
    let errno = |r: Result<_, pdpix::Fail>| r.map(|_: ()| ()).unwrap_err().errno();
    let bogus = QDesc::new(999);
    assert_eq!(libos.pop(bogus, None).unwrap_err().errno(), libc::EBADF);
    let tcp = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    assert_eq!(errno(libos.listen(tcp, 1)), libc::EDESTADDRREQ);
    assert_eq!(libos.push(tcp, &Sga::from_slice(b"x").unwrap()).unwrap_err().errno(), libc::ENOTCONN);
    assert_eq!(libos.pop(tcp, None).unwrap_err().errno(), libc::ENOTCONN);
    assert_eq!(libos.accept(tcp).unwrap_err().errno(), libc::EINVAL);
    libos.bind(tcp, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000)).unwrap();
    assert_eq!(errno(libos.bind(tcp, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5001))), libc::EINVAL);
    libos.listen(tcp, 4).unwrap();
    assert_eq!(libos.push(tcp, &Sga::from_slice(b"x").unwrap()).unwrap_err().errno(), libc::EOPNOTSUPP);
    let udp = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
    assert_eq!(errno(libos.listen(udp, 1)), libc::EOPNOTSUPP);
    assert_eq!(libos.push(udp, &Sga::from_slice(b"x").unwrap()).unwrap_err().errno(), libc::EDESTADDRREQ);
    assert_eq!(libos.pop(udp, None).unwrap_err().errno(), libc::EDESTADDRREQ);
    assert_eq!(libos.push(udp, &Sga::new()).unwrap_err().errno(), libc::EINVAL);
    // Socket options round-trip as on catnap; TCP_NODELAY on UDP is ENOPROTOOPT.
    let fresh = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    for option in [
        SocketOption::NoDelay(true),
        SocketOption::KeepAlive(true),
        SocketOption::ReuseAddr(true),
        SocketOption::Linger(Some(Duration::from_secs(3))),
        SocketOption::Linger(None),
    ] {
        libos.setsockopt(fresh, option).unwrap();
        assert_eq!(libos.getsockopt(fresh, option.name()).unwrap(), option);
    }
    assert_eq!(errno(libos.setsockopt(udp, SocketOption::NoDelay(true))), libc::ENOPROTOOPT);
    libos.setsockopt(udp, SocketOption::ReuseAddr(true)).unwrap();
    assert_eq!(libos.getsockopt(udp, SocketOptionName::ReuseAddr).unwrap(), SocketOption::ReuseAddr(true));
    // A closed port refuses.
    let refused = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    let qt = libos.connect(refused, SocketAddrV4::new(SERVER, 4444)).unwrap();
    assert_eq!(libos.wait(qt, TIMEOUT).unwrap().error().map(|e| e.errno()), Some(libc::ECONNREFUSED));
    // Closing cancels what is pending.
    let accept = libos.accept(tcp).unwrap();
    assert_eq!(libos.wait(accept, Some(Duration::from_millis(10))).unwrap_err().errno(), libc::ETIMEDOUT);
    libos.close(tcp).unwrap();
    assert_eq!(libos.wait(accept, TIMEOUT).unwrap().error().map(|e| e.errno()), Some(libc::ECANCELED));
    assert_eq!(errno(libos.close(tcp)), libc::EBADF);
}

/// Pushes made back to back on one stream, each larger than the send buffer, arrive whole and in the order they
/// were made (a later push must not slip into the stream between an earlier one's pieces). Client and server
/// are one instance, over 127.0.0.1 (the stack's internal loopback; nothing goes on the link).
#[test]
fn concurrent_pushes_on_one_stream_keep_their_order() {
    let (link, _other_end) = MemoryLink::pair();
    let mut libos = host(link, CLIENT, 1);
    let localhost = Ipv4Addr::LOCALHOST;
    let listener = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    libos.bind(listener, SocketAddrV4::new(localhost, 0)).unwrap();
    libos.listen(listener, 4).unwrap();
    let port = libos.getsockname(listener).unwrap().port();
    let accept = libos.accept(listener).unwrap();
    let client = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    let qt = libos.connect(client, SocketAddrV4::new(localhost, port)).unwrap();
    libos.wait(qt, TIMEOUT).unwrap().value.unwrap();
    let Ok(QValue::Accepted { qd: server, .. }) = libos.wait(accept, TIMEOUT).unwrap().value else { panic!("accept") };
    assert_eq!(libos.getsockname(server).unwrap(), SocketAddrV4::new(localhost, port));

    const PUSHES: usize = 8;
    const LEN: usize = 256 * 1024;
    let pushes: Vec<_> =
        (0..PUSHES).map(|i| libos.push(client, &Sga::from_slice(&vec![i as u8; LEN]).unwrap()).unwrap()).collect();
    let mut received = Vec::with_capacity(PUSHES * LEN);
    while received.len() < PUSHES * LEN {
        let qt = libos.pop(server, None).unwrap();
        let Ok(QValue::Popped { sga, .. }) = libos.wait(qt, TIMEOUT).unwrap().value else { panic!("pop") };
        assert!(!sga.is_empty(), "stream ended after {} bytes", received.len());
        received.extend_from_slice(&sga.to_vec());
    }
    for result in libos.wait_all(&pushes, TIMEOUT).unwrap() {
        result.value.unwrap();
    }
    for (i, chunk) in received.chunks(LEN).enumerate() {
        let wrong = chunk.iter().position(|&b| b != i as u8);
        assert_eq!(wrong, None, "push {i} interleaved with another at byte {:?} of it", wrong);
    }
}
