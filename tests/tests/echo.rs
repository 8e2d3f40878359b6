//! TCP and UDP echo over loopback through the PDPIX trait: single, sequential, concurrent, and bulk.

use std::net::SocketAddrV4;
use std::time::Duration;

use demikernel::{QValue, Sga, SocketDomain, SocketType};
use demikernel_tests::{EchoServer, LOCALHOST, connect, expect_ok, new_libos, pop_exactly};
use sha2::{Digest, Sha256};

#[test]
fn tcp_echo_round_trips() {
    let server = EchoServer::start(SocketType::Stream);
    let mut libos = new_libos();
    let qd = connect(libos.as_mut(), server.addr);
    for size in [1, 64, 1500, 4096, 100_000] {
        let message: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
        let qt = libos.push(qd, &Sga::from_slice(&message).unwrap()).unwrap();
        assert!(matches!(expect_ok(libos.as_mut(), qt), QValue::Pushed));
        assert_eq!(pop_exactly(libos.as_mut(), qd, size), message);
    }
    assert_eq!(libos.getpeername(qd).unwrap(), server.addr);
    libos.close(qd).unwrap();
}

#[test]
fn udp_echo_round_trips_with_sender_address() {
    let server = EchoServer::start(SocketType::Datagram);
    let mut libos = new_libos();
    let qd = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
    libos.bind(qd, SocketAddrV4::new(LOCALHOST, 0)).unwrap();
    for size in [1, 512, 9000, 65_000] {
        let message = vec![size as u8; size];
        let qt = libos.pushto(qd, &Sga::from_slice(&message).unwrap(), server.addr).unwrap();
        expect_ok(libos.as_mut(), qt);
        let qt = libos.pop(qd, None).unwrap();
        match expect_ok(libos.as_mut(), qt) {
            QValue::Popped { sga, from } => {
                assert_eq!(sga.to_vec(), message);
                assert_eq!(from, Some(server.addr));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn udp_connect_sets_the_default_peer() {
    let server = EchoServer::start(SocketType::Datagram);
    let mut libos = new_libos();
    let qd = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
    let qt = libos.connect(qd, server.addr).unwrap();
    assert!(matches!(expect_ok(libos.as_mut(), qt), QValue::Connected));
    let qt = libos.push(qd, &Sga::from_slice(b"ping").unwrap()).unwrap();
    expect_ok(libos.as_mut(), qt);
    let qt = libos.pop(qd, None).unwrap();
    assert!(matches!(expect_ok(libos.as_mut(), qt), QValue::Popped { sga, .. } if sga.to_vec() == b"ping"));
}

#[test]
fn a_thousand_sequential_connections() {
    let server = EchoServer::start(SocketType::Stream);
    let mut libos = new_libos();
    for i in 0..1000u32 {
        let qd = connect(libos.as_mut(), server.addr);
        let message = i.to_be_bytes();
        let qt = libos.push(qd, &Sga::from_slice(&message).unwrap()).unwrap();
        expect_ok(libos.as_mut(), qt);
        assert_eq!(pop_exactly(libos.as_mut(), qd, 4), message);
        libos.close(qd).unwrap();
    }
}

#[test]
fn two_hundred_concurrent_connections() {
    let server = EchoServer::start(SocketType::Stream);
    let mut libos = new_libos();
    let qds: Vec<_> = (0..200)
        .map(|_| {
            let qd = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
            (qd, libos.connect(qd, server.addr).unwrap())
        })
        .collect();
    let results =
        libos.wait_all(&qds.iter().map(|&(_, qt)| qt).collect::<Vec<_>>(), Some(Duration::from_secs(30))).unwrap();
    assert!(results.iter().all(|r| matches!(r.value, Ok(QValue::Connected))));
    // Every connection sends at once; every reply must come back on its own connection.
    let pushes: Vec<_> = qds
        .iter()
        .enumerate()
        .map(|(i, &(qd, _))| {
            libos.push(qd, &Sga::from_slice(format!("connection {i:03}").as_bytes()).unwrap()).unwrap()
        })
        .collect();
    libos.wait_all(&pushes, Some(Duration::from_secs(30))).unwrap();
    for (i, &(qd, _)) in qds.iter().enumerate() {
        assert_eq!(pop_exactly(libos.as_mut(), qd, 14), format!("connection {i:03}").as_bytes());
    }
    for &(qd, _) in &qds {
        libos.close(qd).unwrap();
    }
}

#[test]
fn sixty_four_mebibytes_arrive_intact() {
    const TOTAL: usize = 64 << 20;
    let server = EchoServer::start(SocketType::Stream);
    let mut libos = new_libos();
    let qd = connect(libos.as_mut(), server.addr);
    // Pseudo-random data, pushed as 1 MiB multi-segment arrays while the echo streams back.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut data = vec![0u8; TOTAL];
    for chunk in data.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    let sent_hash = Sha256::digest(&data);
    let mut received = Sha256::new();
    let mut received_len = 0;
    let mut pushes = Vec::new();
    for (i, block) in data.chunks(1 << 20).enumerate() {
        let mut sga = Sga::new();
        for piece in block.chunks(300_000) {
            sga.push_segment(demikernel::DemiBuffer::from_slice(piece).unwrap());
        }
        pushes.push(libos.push(qd, &sga).unwrap());
        // Keep the echo drained so neither side's buffers fill up.
        while received_len + (8 << 20) < (i + 1) << 20 {
            let chunk = pop_some(libos.as_mut(), qd);
            received_len += chunk.len();
            received.update(&chunk);
        }
    }
    while received_len < TOTAL {
        let rest = pop_some(libos.as_mut(), qd);
        received_len += rest.len();
        received.update(&rest);
    }
    libos.wait_all(&pushes, Some(Duration::from_secs(60))).unwrap();
    assert_eq!(received_len, TOTAL);
    assert_eq!(received.finalize(), sent_hash);
}

fn pop_some(libos: &mut dyn demikernel::LibOs, qd: demikernel::QDesc) -> Vec<u8> {
    let qt = libos.pop(qd, None).unwrap();
    match expect_ok(libos, qt) {
        QValue::Popped { sga, .. } => sga.to_vec(),
        other => panic!("unexpected {other:?}"),
    }
}
