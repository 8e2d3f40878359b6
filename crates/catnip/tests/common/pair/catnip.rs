//! The catnip side of a pair: starting catnip on the device under test, the server's TCP echo and bulk receive,
//! and the client's TCP part of the workload.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use catnip::dpdk::DpdkConfig;
use pdpix::{LibOs, QDesc, QValue, Sga, SocketDomain, SocketType};
use sha2::{Digest, Sha256};

use super::Roles;
use super::figures::{report_bulk, report_round_trips};
use super::workload::{CHUNK, Workload, pattern, time_round_trips};
use crate::common::listen;

pub type Libos = catnip::Catnip<catnip::dpdk::DpdkDevice>;

/// How long one pop or push may take.
pub const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));
/// The catnip server's TCP echo port.
pub const ECHO_PORT: u16 = 7;
/// The catnip server's bulk receive port.
pub const BULK_PORT: u16 = 5001;

/// EAL's arguments both sides start with: no PCI, hugepages without files left behind, lcore 0 on CPU `cpu`, and
/// the runtime directory `prefix`; the test adds its device.
pub fn eal_args(cpu: &str, prefix: &str) -> Vec<String> {
    let mut args: Vec<String> =
        ["--no-pci", "--no-telemetry", "--log-level=lib.eal:notice", "--in-memory"].map(str::to_owned).to_vec();
    args.push(format!("--lcores=0@{cpu}"));
    args.push(format!("--file-prefix={prefix}"));
    args
}

/// Starts catnip on DPDK with EAL's `args`, at `ip`/24 on the port `port`, waiting up to 30 s for its link;
/// `{prefix}_TCP_BUFFER_KIB` sets the TCP send and receive buffers, `{prefix}_TCP_TUNING=0` turns their
/// auto-tuning off (on by default), and `tune` changes the rest of the configuration. Prints the EAL arguments
/// and the port's offloads.
pub fn start(roles: &Roles, args: Vec<String>, ip: Ipv4Addr, port: &str, tune: impl FnOnce(&mut DpdkConfig)) -> Libos {
    println!("EAL args: {}", args.join(" "));
    let mut config = DpdkConfig::new(args, ip, 24);
    config.device.port = Some(port.to_owned());
    config.device.link_timeout = Duration::from_secs(30);
    if let Some(kib) = roles.usize_var("TCP_BUFFER_KIB") {
        config.tcp.recv_buffer = kib << 10;
        config.tcp.send_buffer = kib << 10;
    }
    if roles.usize_var("TCP_TUNING") == Some(0) {
        (config.tcp.recv_buffer_max, config.tcp.send_buffer_max) = (None, None);
    }
    tune(&mut config);
    let mtu = config.device.mtu;
    catnip::dpdk::new_libos_with(&config, |port| {
        println!("port {} (MTU {mtu}) offloads: {:?}", port.port_name(), port.offloads());
        port
    })
    .unwrap_or_else(|e| panic!("catnip on {port} at MTU {mtu}: {e}"))
}

fn accept<L: LibOs>(libos: &mut L, listener: QDesc) -> QDesc {
    let qt = libos.accept(listener).unwrap();
    match libos.wait(qt, Some(Duration::from_secs(60))).unwrap().value {
        Ok(QValue::Accepted { qd, .. }) => qd,
        other => panic!("accept: {other:?}"),
    }
}

/// Pops once; an empty `Sga` is the end of the stream.
fn pop<L: LibOs>(libos: &mut L, qd: QDesc) -> Sga {
    let qt = libos.pop(qd, None).unwrap();
    match libos.wait(qt, TIMEOUT).unwrap().value {
        Ok(QValue::Popped { sga, .. }) => sga,
        other => panic!("pop: {other:?}"),
    }
}

fn push<L: LibOs>(libos: &mut L, qd: QDesc, sga: &Sga) {
    let qt = libos.push(qd, sga).unwrap();
    libos.wait(qt, TIMEOUT).unwrap().value.expect("push");
}

/// Pops until `n` bytes have arrived.
fn recv_exactly<L: LibOs>(libos: &mut L, qd: QDesc, n: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let sga = pop(libos, qd);
        assert!(!sga.is_empty(), "stream ended after {} of {n} bytes", got.len());
        got.extend_from_slice(&sga.to_vec());
    }
    got
}

/// The server's TCP part: TCP echo on ECHO_PORT until the client closes, then a bulk receive of `bulk` bytes on
/// BULK_PORT (both listening from the start).
pub fn serve_tcp<L: LibOs>(libos: &mut L, bulk: usize) {
    let echo_listener = listen(libos, ECHO_PORT, 8);
    let bulk_listener = listen(libos, BULK_PORT, 8);
    let echoed = serve_echo(libos, echo_listener);
    println!("tcp echo: {echoed} bytes echoed");
    serve_bulk(libos, bulk_listener, bulk);
    println!("bulk: {} MiB received, hashed", bulk >> 20);
    libos.close(echo_listener).unwrap();
    libos.close(bulk_listener).unwrap();
}

/// The server's TCP echo: accepts one connection on `listener` and echoes until the client closes; returns the
/// bytes echoed.
fn serve_echo<L: LibOs>(libos: &mut L, listener: QDesc) -> usize {
    let qd = accept(libos, listener);
    let mut echoed = 0;
    loop {
        let sga = pop(libos, qd);
        if sga.is_empty() {
            break;
        }
        echoed += sga.len();
        push(libos, qd, &sga);
    }
    libos.close(qd).unwrap();
    echoed
}

/// The server's bulk receive: accepts one connection on `listener`, receives `n` bytes, answers their SHA-256
/// and the nanoseconds from first to last byte, and waits for the client to close. Every page of the receive
/// buffer is touched before the clock starts (the Linux servers do the same): on this VM, faulting in and
/// zeroing fresh pages cost the receiver more than the network, which would measure the hypervisor.
fn serve_bulk<L: LibOs>(libos: &mut L, listener: QDesc, n: usize) {
    let qd = accept(libos, listener);
    let mut data = vec![1u8; n];
    data.clear();
    let mut first = None;
    while data.len() < n {
        let sga = pop(libos, qd);
        assert!(!sga.is_empty(), "bulk stream ended after {} of {n} bytes", data.len());
        first.get_or_insert_with(Instant::now);
        for segment in sga.segments() {
            data.extend_from_slice(segment);
        }
    }
    let nanos = first.expect("bytes arrived").elapsed().as_nanos() as u64;
    assert_eq!(data.len(), n, "exactly {n} bytes");
    let mut reply = Sha256::digest(&data).to_vec();
    reply.extend_from_slice(&nanos.to_le_bytes());
    push(libos, qd, &Sga::from_slice(&reply).unwrap());
    assert!(pop(libos, qd).is_empty(), "the client closes after the bulk reply");
    libos.close(qd).unwrap();
}

/// Connects to `server`. The server may not be listening yet a moment after its link came up: a refused
/// connection is retried for up to about 10 s.
fn connect<L: LibOs>(libos: &mut L, server: SocketAddrV4) -> QDesc {
    for _ in 0..1000 {
        let qd = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
        let qt = libos.connect(qd, server).unwrap();
        match libos.wait(qt, TIMEOUT).unwrap().value {
            Ok(QValue::Connected) => return qd,
            Err(e) if e.errno() == libc::ECONNREFUSED => {
                libos.close(qd).unwrap();
                std::thread::sleep(Duration::from_millis(10));
            }
            other => panic!("connect: {other:?}"),
        }
    }
    panic!("the server never listened on {server}")
}

/// The client's TCP part of `workload` against the catnip server at `server_ip`, printing its figures.
pub fn run_tcp_client<L: LibOs>(libos: &mut L, server_ip: Ipv4Addr, workload: &Workload) {
    let qd = connect(libos, SocketAddrV4::new(server_ip, ECHO_PORT));
    for &size in workload.echo_sizes {
        let data = pattern(size, size as u64);
        // Receive while the push is in flight: a large echo would otherwise fill both directions' windows.
        let qt = libos.push(qd, &Sga::from_slice(&data).unwrap()).unwrap();
        assert_eq!(recv_exactly(libos, qd, size), data, "{size}-byte echo");
        libos.wait(qt, TIMEOUT).unwrap().value.expect("push");
        println!("tcp echo {size} bytes ok");
    }
    let message = Sga::from_slice(&[b'x'; 64]).unwrap();
    let times = time_round_trips(workload.round_trips, || {
        push(libos, qd, &message);
        recv_exactly(libos, qd, 64);
    });
    libos.close(qd).unwrap();
    report_round_trips("TCP", times);

    // Bulk: the data is written once into a buffer from sgaalloc, and pushed as views of it, CHUNK bytes each
    // (no copy on push: with zero-copy transmit the device sends these very bytes), as the Linux client writes
    // slices of one vector. The buffer is freed (sgafree) before the transfer ends: the stack's references keep
    // the bytes alive until they are acknowledged.
    let n = workload.bulk;
    let (data, digest) = workload.bulk_data();
    let mut buffer = libos.sgaalloc(n).unwrap();
    assert_eq!(buffer.num_segments(), 1, "catnip's sgaalloc gives one segment");
    buffer.segments_mut()[0].as_mut_slice().expect("a new buffer is ours").copy_from_slice(&data);
    drop(data);
    let qd = connect(libos, SocketAddrV4::new(server_ip, BULK_PORT));
    while !buffer.is_empty() {
        let chunk = buffer.split_front(CHUNK.min(buffer.len())).unwrap();
        push(libos, qd, &chunk);
    }
    libos.sgafree(buffer).unwrap();
    let reply = recv_exactly(libos, qd, 40);
    libos.close(qd).unwrap();
    report_bulk(n, &reply, &digest);
}

/// Runs the stack for 50 ms, waiting on the UDP socket `udp` (which nothing more arrives on), so that the last
/// frames leave before the port closes; then closes `udp`.
pub fn linger<L: LibOs>(libos: &mut L, udp: QDesc) {
    let deadline = Instant::now() + Duration::from_millis(50);
    while Instant::now() < deadline {
        let qt = libos.pop(udp, None).unwrap();
        let _ = libos.wait(qt, Some(Duration::from_millis(5)));
    }
    libos.close(udp).unwrap();
}
