//! `demikernel::from_config` builds catnip on real DPDK from a `[catnip]` section (feature `catnip`), here on a
//! net_tap port whose kernel side has an address: a Linux UDP socket and catnip exchange datagrams, with ARP
//! resolved by the kernel and answered by catnip, and the section's `pcap` file records those frames.
//!
//! One test function: DPDK's EAL initialises once per process. Needs root; when not root it prints SKIPPED and
//! passes, unless `DPDK_SYS_REQUIRE_TESTS=1` (`ci/dpdk-tests.sh`).
#![cfg(feature = "catnip")]

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use demikernel::{Config, QValue, Sga, SocketDomain, SocketType};

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(10));

#[test]
fn from_config_builds_catnip_on_dpdk() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        let reason = format!("needs root (euid is {euid}): EAL and net_tap need it");
        if std::env::var("DPDK_SYS_REQUIRE_TESTS").as_deref() == Ok("1") {
            panic!("DPDK tests required (DPDK_SYS_REQUIRE_TESTS=1) but cannot run: {reason}");
        }
        println!("SKIPPED demikernel catnip test: {reason}");
        return;
    }
    let pid = std::process::id();
    let iface = format!("demitap{}", pid % 100_000);
    let pcap_path = std::env::temp_dir().join(format!("demikernel-test-{pid}.pcap"));
    let memory =
        if hugepages_mounted() { "\"--in-memory\"" } else { "\"--no-huge\", \"-m\", \"512\", \"--no-shconf\"" };
    let text = format!(
        "libos = \"catnip\"\n[catnip]\neal_args = [\"-l\", \"0\", \"--no-pci\", \"--no-telemetry\", \
         \"--file-prefix=demikernel-test-{pid}\", {memory}, \"--vdev=net_tap0,iface={iface}\"]\n\
         port = \"net_tap0\"\nipv4 = \"10.98.0.1\"\nprefix_len = 24\npcap = \"{pcap}\"\n",
        pcap = pcap_path.display()
    );
    println!("{text}");
    let config = Config::from_toml(&text).unwrap();
    let mut libos = demikernel::from_config(&config).unwrap_or_else(|e| panic!("catnip from config: {e}"));
    assert_eq!(libos.name(), "catnip");
    // The kernel's side of the tap gets the peer address.
    let run = |args: &[&str]| assert!(Command::new("ip").args(args).status().unwrap().success(), "ip {args:?}");
    run(&["addr", "add", "10.98.0.2/24", "dev", &iface]);
    run(&["link", "set", &iface, "up"]);

    let qd = libos.socket(SocketDomain::Inet, SocketType::Datagram, 0).unwrap();
    libos.bind(qd, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 9)).unwrap();
    let linux = UdpSocket::bind("10.98.0.2:0").unwrap();
    linux.set_nonblocking(true).unwrap();
    let pop = libos.pop(qd, None).unwrap();
    // The kernel resolves 10.98.0.1 by ARP first; catnip answers while it waits for the datagram.
    linux.send_to(b"hello catnip", "10.98.0.1:9").unwrap();
    let result = libos.wait(pop, TIMEOUT).unwrap();
    let Ok(QValue::Popped { sga, from: Some(from) }) = result.value else { panic!("pop: {result:?}") };
    assert_eq!(sga.to_vec(), b"hello catnip");
    assert_eq!(
        from,
        linux
            .local_addr()
            .map(|a| match a {
                std::net::SocketAddr::V4(a) => a,
                other => panic!("{other}"),
            })
            .unwrap()
    );
    let qt = libos.pushto(qd, &Sga::from_slice(b"hello Linux").unwrap(), from).unwrap();
    libos.wait(qt, TIMEOUT).unwrap().value.unwrap();
    let mut buf = [0u8; 64];
    let start = Instant::now();
    let got = loop {
        match linux.recv_from(&mut buf) {
            Ok((n, peer)) => break (n, peer),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(start.elapsed() < Duration::from_secs(10), "no reply from catnip");
                // Keep catnip polling (it may need to resolve the kernel's MAC first).
                let q = libos.queue().unwrap();
                let qt = libos.pop(q, None).unwrap();
                let _ = libos.wait(qt, Some(Duration::from_millis(1)));
                libos.close(q).unwrap();
            }
            Err(e) => panic!("recv: {e}"),
        }
    };
    assert_eq!(&buf[..got.0], b"hello Linux");
    assert_eq!(got.1.to_string(), "10.98.0.1:9");
    println!("UDP through demikernel::from_config(catnip) on net_tap: both ways ok");
    libos.close(qd).unwrap();
    drop(libos);
    let _ = std::fs::remove_dir(format!("/var/run/dpdk/demikernel-test-{pid}"));

    // The pcap file holds what went both ways: the kernel's ARP request and catnip's reply, both datagrams.
    let frames = pcap_frames(&std::fs::read(&pcap_path).unwrap());
    std::fs::remove_file(&pcap_path).unwrap();
    let arp = |operation: u8| frames.iter().any(|f| f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[21] == operation);
    assert!(arp(1) && arp(2), "an ARP request and a reply in {} frames", frames.len());
    for payload in [&b"hello catnip"[..], b"hello Linux"] {
        assert!(frames.iter().any(|f| f.ends_with(payload)), "a frame carrying {payload:?}");
    }
    println!("pcap: {} frames recorded", frames.len());
}

/// The frames of a classic pcap file (microsecond timestamps, link type Ethernet), checking its layout.
fn pcap_frames(file: &[u8]) -> Vec<Vec<u8>> {
    let word = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap());
    assert!(file.len() >= 24, "a pcap header");
    assert_eq!((word(0), word(20)), (0xa1b2_c3d4, 1), "pcap magic and link type Ethernet");
    let (mut frames, mut at) = (Vec::new(), 24);
    while at < file.len() {
        let (captured, len) = (word(at + 8) as usize, word(at + 12) as usize);
        assert_eq!(captured, len, "whole frames");
        frames.push(file[at + 16..at + 16 + captured].to_vec());
        at += 16 + captured;
    }
    frames
}

fn hugepages_mounted() -> bool {
    std::env::var("DPDK_SYS_NO_HUGE").as_deref() != Ok("1")
        && std::fs::read_to_string("/proc/mounts").is_ok_and(|m| m.lines().any(|l| l.contains("/dev/hugepages")))
        && std::fs::read_to_string("/proc/meminfo").is_ok_and(|m| {
            m.lines().any(|l| {
                l.strip_prefix("HugePages_Free:").and_then(|v| v.trim().parse::<u64>().ok()).is_some_and(|f| f >= 256)
            })
        })
}
