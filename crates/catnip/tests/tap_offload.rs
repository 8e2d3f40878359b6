//! Checksum offload and zero-copy transmit end to end on a port that offers both: DPDK's net_tap, whose kernel
//! side is a Linux interface in this namespace.
//!
//! ```text
//! catnip 10.97.0.1 -- DPDK net_tap0 ==== tap interface dtzc<n> 10.97.0.2/24 (Linux, std::net in a thread)
//! ```
//!
//! net_tap reports IPv4, TCP and UDP checksum offload on TX and RX and multi-segment TX, so catnip leaves
//! every TCP/UDP/IPv4 checksum to the port: the pseudo-header sums and offload flags it sets must be right, or
//! Linux drops what catnip sends (the tap driver completes the checksums in software from them). Checked:
//! 1. catnip sends 8 MiB to a Linux server, which answers their SHA-256 and 4 MiB of its own (checked by hash);
//!    payloads leave as attached mbufs (the device's zero-copy counter) and nothing stays pinned after close.
//! 2. UDP echo through a Linux socket, both directions checksummed by the port: 1 472 bytes, and 20 000 in IPv4
//!    fragments both ways.
//! 3. A UDP datagram with a wrong checksum, written to the tap interface through an AF_PACKET socket, is
//!    dropped by catnip on the driver's verdict (`rx_bad_checksum`) and not delivered; a correct one is.
//!
//! Needs root; when not root it prints SKIPPED and passes, unless `DPDK_SYS_REQUIRE_TESTS=1`.
#![cfg(feature = "dpdk")]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::process::Command;
use std::time::Duration;

use catnip::dpdk::DpdkConfig;
use inetstack::wire::{
    IpProtocol, MacAddress, checksum_from_sum, combine, ipv4_pseudo_header_sum, ones_complement_sum,
};
use pdpix::{LibOs, QValue, Sga, SocketDomain, SocketType};
use sha2::{Digest, Sha256};

mod common;

use common::skip::{not_root, skipped};

const CATNIP: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 1);
const LINUX: Ipv4Addr = Ipv4Addr::new(10, 97, 0, 2);
const TCP_PORT: u16 = 5101;
const UDP_PORT: u16 = 5102;
const CATNIP_UDP: u16 = 9;
const UP_BYTES: usize = 8 << 20;
const DOWN_BYTES: usize = 4 << 20;
const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));

type Libos = catnip::Catnip<catnip::dpdk::DpdkDevice>;

fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn run(libos: &mut Libos, qt: pdpix::QToken, what: &str) -> QValue {
    libos.wait(qt, TIMEOUT).unwrap_or_else(|e| panic!("{what}: {e}")).value.unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {}: {status}", args.join(" "));
}

#[test]
fn checksum_offload_and_zero_copy_over_tap() {
    if skipped("tap offload test", not_root("EAL and a tap interface")) {
        return;
    }
    let pid = std::process::id();
    let iface = format!("dtzc{}", pid % 100_000);
    let prefix = format!("catnip-tap-{pid}");
    let args = common::eal_args(&prefix, &format!("--vdev=net_tap0,iface={iface}"));
    let mut config = DpdkConfig::new(args, CATNIP, 24);
    config.device.port = Some("net_tap0".to_owned());
    let mut offloads = None;
    let mut mac = MacAddress::ZERO;
    let mut libos = catnip::dpdk::new_libos_with(&config, |port| {
        println!("port {} offloads: {:?}", port.port_name(), port.offloads());
        offloads = Some(port.offloads().clone());
        mac = port.mac();
        port
    })
    .unwrap_or_else(|e| panic!("catnip on net_tap: {e}"));
    let offloads = offloads.expect("the port was wrapped");
    assert!(offloads.tx_tcp && offloads.tx_udp && offloads.tx_ipv4, "net_tap offers TX checksums: {offloads:?}");
    assert!(offloads.rx_tcp && offloads.rx_udp && offloads.rx_ipv4, "net_tap offers RX checksums: {offloads:?}");
    assert!(offloads.multi_segs && offloads.cpu_copy, "{offloads:?}");
    ip(&["addr", "add", &format!("{LINUX}/24"), "dev", &iface]);
    ip(&["link", "set", &iface, "up"]);

    // 1. TCP both ways, every checksum left to the port.
    let listener = TcpListener::bind((LINUX, TCP_PORT)).expect("bind the Linux server");
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut got = vec![0u8; UP_BYTES];
        stream.read_exact(&mut got).expect("read the upload");
        stream.write_all(&Sha256::digest(&got)).expect("send the digest");
        stream.write_all(&pattern(DOWN_BYTES, 7)).expect("send the download");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).expect("read until catnip closes");
        rest.len()
    });
    let qd = libos.socket(SocketDomain::Inet, SocketType::Stream, 0).unwrap();
    let qt = libos.connect(qd, SocketAddrV4::new(LINUX, TCP_PORT)).unwrap();
    run(&mut libos, qt, "connect");
    let up = pattern(UP_BYTES, 3);
    for chunk in up.chunks(64 << 10) {
        let qt = libos.push(qd, &Sga::from_slice(chunk).unwrap()).unwrap();
        run(&mut libos, qt, "push");
    }
    let mut down = Vec::new();
    while down.len() < 32 + DOWN_BYTES {
        let qt = libos.pop(qd, None).unwrap();
        match run(&mut libos, qt, "pop") {
            QValue::Popped { sga, .. } if !sga.is_empty() => down.extend_from_slice(&sga.to_vec()),
            other => panic!("the stream ended early after {} bytes: {other:?}", down.len()),
        }
    }
    assert_eq!(down[..32], Sha256::digest(&up)[..], "Linux received exactly what catnip sent");
    assert!(down[32..] == pattern(DOWN_BYTES, 7)[..], "catnip received exactly what Linux sent");
    libos.close(qd).unwrap();
    assert_eq!(server.join().expect("the Linux server"), 0);
    println!("tcp: {UP_BYTES} bytes up and {DOWN_BYTES} down, both intact");

    // 2. UDP echo through Linux.
    let linux_udp = UdpSocket::bind((LINUX, UDP_PORT)).expect("bind the Linux UDP socket");
    linux_udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let udp = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
    libos.bind(udp, SocketAddrV4::new(CATNIP, CATNIP_UDP)).unwrap();
    // 1 472 bytes fill one frame; 20 000 travel in IPv4 fragments, made by catnip one way (Linux reassembles
    // them) and by Linux the other (catnip reassembles them, and checks the UDP checksum the port could not).
    for (size, salt) in [(1472, 11), (20_000, 12)] {
        let message = pattern(size, salt);
        let qt = libos.pushto(udp, &Sga::from_slice(&message).unwrap(), SocketAddrV4::new(LINUX, UDP_PORT)).unwrap();
        run(&mut libos, qt, "pushto");
        let mut buf = vec![0u8; 65_536];
        let (n, from) = loop {
            // DPDK's threads' signals may interrupt the wait.
            match linux_udp.recv_from(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                received => break received.expect("Linux receives catnip's datagram"),
            }
        };
        assert_eq!((&buf[..n], from), (&message[..], SocketAddrV4::new(CATNIP, CATNIP_UDP).into()));
        linux_udp.send_to(&buf[..n], from).unwrap();
        let qt = libos.pop(udp, None).unwrap();
        match run(&mut libos, qt, "udp pop") {
            QValue::Popped { sga, .. } => assert_eq!(sga.to_vec(), message),
            other => panic!("udp pop: {other:?}"),
        }
        println!("udp: {size} bytes each way, intact");
    }

    // 3. A corrupted datagram is dropped on the port's verdict; a correct one goes through.
    let linux_mac = interface_mac(&iface);
    inject_udp(&iface, linux_mac, mac, b"corrupted", true);
    inject_udp(&iface, linux_mac, mac, b"intact", false);
    let qt = libos.pop(udp, None).unwrap();
    match run(&mut libos, qt, "udp pop after injection") {
        QValue::Popped { sga, .. } => assert_eq!(sga.to_vec(), b"intact", "the corrupted datagram was delivered"),
        other => panic!("udp pop: {other:?}"),
    }
    libos.close(udp).unwrap();
    drop(libos);
    let stats = catnip::dpdk::final_stats().expect("the device was dropped");
    println!("device stats: {stats:?}");
    assert_eq!(stats.rx_bad_checksum, 1, "exactly the corrupted datagram was dropped for its checksum");
    assert!(stats.tx_zero_copy > 0, "payloads were attached, not copied");
    assert_eq!(catnip::dpdk::tx_pinned(), 0, "transmitted payloads still pinned after close");
    assert_eq!(catnip::dpdk::lent_mbufs(), 0, "received mbufs still lent after close");
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
}

fn interface_mac(iface: &str) -> MacAddress {
    let text = std::fs::read_to_string(format!("/sys/class/net/{iface}/address")).expect("read the tap's MAC");
    let mut octets = [0u8; 6];
    for (o, part) in octets.iter_mut().zip(text.trim().split(':')) {
        *o = u8::from_str_radix(part, 16).expect("a MAC octet");
    }
    MacAddress(octets)
}

/// Writes one Ethernet frame carrying a UDP datagram from Linux's address to catnip's port 9 onto the tap
/// interface through an AF_PACKET socket, with a correct checksum or one off by one.
fn inject_udp(iface: &str, src: MacAddress, dst: MacAddress, payload: &[u8], corrupt: bool) {
    let udp_len = 8 + payload.len();
    let mut frame = Vec::new();
    frame.extend_from_slice(&dst.octets());
    frame.extend_from_slice(&src.octets());
    frame.extend_from_slice(&0x0800u16.to_be_bytes());
    let mut ipv4 = [0u8; 20];
    ipv4[0] = 0x45;
    ipv4[2..4].copy_from_slice(&((20 + udp_len) as u16).to_be_bytes());
    ipv4[8] = 64;
    ipv4[9] = 17;
    ipv4[12..16].copy_from_slice(&LINUX.octets());
    ipv4[16..20].copy_from_slice(&CATNIP.octets());
    let sum = checksum_from_sum(ones_complement_sum(&ipv4));
    ipv4[10..12].copy_from_slice(&sum.to_be_bytes());
    frame.extend_from_slice(&ipv4);
    let mut udp = Vec::new();
    udp.extend_from_slice(&UDP_PORT.to_be_bytes());
    udp.extend_from_slice(&CATNIP_UDP.to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let pseudo = ipv4_pseudo_header_sum(LINUX, CATNIP, IpProtocol::Udp, udp_len as u16);
    let mut sum = checksum_from_sum(combine(&[pseudo, ones_complement_sum(&udp)]));
    if corrupt {
        sum = sum.wrapping_add(1).max(1);
    }
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    frame.extend_from_slice(&udp);

    let name = std::ffi::CString::new(iface).unwrap();
    // SAFETY: if_nametoindex reads a NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert!(index > 0, "no interface {iface}");
    // SAFETY: plain socket creation; the descriptor is closed below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid starting point.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_ifindex = index as i32;
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&dst.octets());
    // SAFETY: `frame` and `addr` are valid for the lengths given; the descriptor is ours.
    let sent = unsafe {
        libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    let error = std::io::Error::last_os_error();
    // SAFETY: closing our own descriptor once.
    unsafe { libc::close(fd) };
    assert_eq!(sent, frame.len() as isize, "AF_PACKET sendto: {error}");
}
