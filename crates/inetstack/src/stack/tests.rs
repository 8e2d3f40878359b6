//! Stack behaviour in the simulator: ARP, ICMP, UDP, routing and the drop counters.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use runtime::{DemiBuffer, Sga};

use super::*;
use crate::phy::FaultConfig;
use crate::sim::Simulation;
use crate::wire::{
    ArpOperation, ArpRepr, ChecksumCapabilities, ETHERNET_HEADER_LEN, EthernetRepr, MacAddress, TcpPacket, TcpRepr,
};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const MAC_A: MacAddress = MacAddress([2, 0, 0, 0, 0, 1]);
const MAC_B: MacAddress = MacAddress([2, 0, 0, 0, 0, 2]);

fn pair(faults: FaultConfig, seed: u64) -> Simulation {
    pair_configured(faults, seed, |_| {})
}

/// `pair` with both stacks' configurations changed by `configure` first.
/// The stacks make no announcements of their addresses at start (`ArpConfig::announcements`, tested on its
/// own), so that the frames on the wire are the test's.
fn pair_configured(faults: FaultConfig, seed: u64, configure: impl Fn(&mut StackConfig)) -> Simulation {
    let t0 = Instant::now();
    let [a, b] = [(MAC_A, A), (MAC_B, B)].map(|(mac, ip)| {
        let mut config = StackConfig::new(mac, ip, 24);
        config.arp.announcements = 0;
        configure(&mut config);
        Stack::new(config, t0).unwrap()
    });
    Simulation::new(vec![a, b], t0, Duration::from_micros(10), faults, seed)
}

fn bound_udp(stack: &mut Stack, port: u16) -> SocketId {
    let id = stack.udp_open();
    stack.udp_bind(id, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)).unwrap();
    id
}

#[test]
fn arp_resolves_then_ping_is_answered() {
    let mut sim = pair(FaultConfig::default(), 1);
    let now = sim.now();
    sim.hosts[0].ping(now, B, 7, 1, b"hello").unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[0].echo_replies.len() == 1));
    let reply = sim.hosts[0].take_echo_reply().unwrap();
    assert_eq!((reply.from, reply.ident, reply.seq_no, &reply.data[..]), (B, 7, 1, &b"hello"[..]));
    assert_eq!(sim.hosts[0].counters().arp_requests_out, 1);
    assert_eq!(sim.hosts[1].counters().arp_replies_out, 1);
    assert_eq!(sim.hosts[1].counters().icmp_echo_replies_out, 1);
    // B learned A from A's request: its reply needed no request of its own.
    assert_eq!(sim.hosts[1].counters().arp_requests_out, 0);
}

#[test]
fn udp_datagrams_carry_data_and_sender() {
    let mut sim = pair(FaultConfig::default(), 2);
    let server = bound_udp(&mut sim.hosts[1], 7000);
    let client = bound_udp(&mut sim.hosts[0], 0);
    let client_port = sim.hosts[0].local_addr(client).unwrap().unwrap().port();
    assert!(sim.hosts[0].config().ephemeral_ports.contains(&client_port));
    let now = sim.now();
    let mut sga = Sga::from_slice(b"multi").unwrap();
    sga.push_segment(DemiBuffer::from_slice(b"-segment").unwrap());
    sim.hosts[0].udp_send(now, client, &sga, Some(SocketAddrV4::new(B, 7000))).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[1].readiness(server).unwrap().0));
    let mut touched = Vec::new();
    sim.hosts[1].take_touched(&mut touched);
    assert!(touched.contains(&server));
    let (data, from) = sim.hosts[1].udp_recv(server, 65536).unwrap().unwrap();
    assert_eq!(data.to_vec(), b"multi-segment");
    assert_eq!(from, SocketAddrV4::new(A, client_port));
    assert!(sim.hosts[1].udp_recv(server, 100).unwrap().is_none());
}

#[test]
fn udp_datagrams_larger_than_the_mtu_travel_in_fragments() {
    // Both ways, over a link that reorders and duplicates frames: every datagram arrives whole, once.
    let faults = FaultConfig { duplicate: 0.1, reorder: 0.3, ..FaultConfig::default() };
    let mut sim = pair(faults, 31).with_jitter(Duration::from_micros(200));
    let server = bound_udp(&mut sim.hosts[1], 7000);
    let client = bound_udp(&mut sim.hosts[0], 7001);
    let sizes = [1473usize, 4000, 20_000, 65_507];
    for (from, to, id, port) in [(0, 1, client, 7000), (1, 0, server, 7001)] {
        let peer = if to == 1 { B } else { A };
        for (i, &len) in sizes.iter().enumerate() {
            let data: Vec<u8> = (0..len).map(|b| ((b + i) % 251) as u8).collect();
            let now = sim.now();
            sim.hosts[from]
                .udp_send(now, id, &Sga::from_slice(&data).unwrap(), Some(SocketAddrV4::new(peer, port)))
                .unwrap();
            let receiver = if to == 1 { server } else { client };
            assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[to].readiness(receiver).unwrap().0), "{len}");
            let (got, _) = sim.hosts[to].udp_recv(receiver, 65_536).unwrap().unwrap();
            assert_eq!(got.to_vec(), data, "{len} bytes whole");
            sim.run_until(Duration::from_millis(5), |_| false);
            assert!(sim.hosts[to].udp_recv(receiver, 65_536).unwrap().is_none(), "{len}: once, duplicates or not");
        }
    }
    // Fragments of 1 480 bytes (1 500 less the IPv4 header, a multiple of 8).
    let fragments: u64 = sizes.iter().map(|len| (8 + len).div_ceil(1480) as u64).sum();
    for host in &sim.hosts {
        assert_eq!(host.counters().ip_fragments_out, fragments);
        assert_eq!(host.counters().ip_reassembled, sizes.len() as u64);
    }
    let now = sim.now();
    let too_big = Sga::from_slice(&vec![0u8; 65_508]).unwrap();
    let error = sim.hosts[0].udp_send(now, client, &too_big, Some(SocketAddrV4::new(B, 7000))).unwrap_err();
    assert_eq!(error.errno(), libc::EMSGSIZE);
}

/// A UDP datagram of `len` bytes from A's port 5000 to B's port 7000, as Ethernet frames of IPv4 fragments of at
/// most 1 480 bytes each, with a correct UDP checksum; `corrupt` flips a payload byte of the second fragment.
fn udp_fragments(len: usize, corrupt: bool) -> Vec<DemiBuffer> {
    let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let udp = crate::wire::UdpRepr { src_port: 5000, dst_port: 7000, payload: &payload };
    let mut datagram = vec![0u8; 8 + len];
    udp.emit_header(&mut datagram[..8], A, B, &ChecksumCapabilities::software()).unwrap();
    datagram[8..].copy_from_slice(&payload);
    let mut frames = Vec::new();
    for (i, piece) in datagram.chunks(1480).enumerate() {
        let ip = crate::wire::Ipv4Repr {
            src_addr: A,
            dst_addr: B,
            protocol: crate::wire::IpProtocol::Udp,
            payload_len: piece.len(),
            ttl: 64,
            tos: 0,
            ident: 99,
            dont_fragment: false,
        };
        let mut frame = vec![0u8; 14 + 20 + piece.len()];
        EthernetRepr { src_addr: MAC_A, dst_addr: MAC_B, ethertype: crate::wire::EtherType::Ipv4 }
            .emit(&mut frame)
            .unwrap();
        let more = (i + 1) * 1480 < datagram.len();
        ip.emit_fragment(&mut frame[14..], i * 1480, more, &ChecksumCapabilities::software()).unwrap();
        frame[34..].copy_from_slice(piece);
        if corrupt && i == 1 {
            frame[100] ^= 0x40;
        }
        frames.push(DemiBuffer::from_slice(&frame).unwrap());
    }
    frames
}

#[test]
fn a_rebuilt_datagram_is_checksummed_in_software_even_where_the_device_checks_checksums() {
    // The device verified each fragment's IP header, but none of them holds the whole UDP datagram.
    let t0 = Instant::now();
    let mut config = StackConfig::new(MAC_B, B, 24);
    config.checksums = ChecksumCapabilities::offloaded();
    let mut stack = Stack::new(config, t0).unwrap();
    let server = bound_udp(&mut stack, 7000);
    for frame in udp_fragments(3000, true) {
        stack.receive(t0, frame);
    }
    assert!(stack.udp_recv(server, 65_536).unwrap().is_none(), "the corrupted datagram is not delivered");
    assert_eq!((stack.counters().ip_reassembled, stack.counters().drop_checksum), (1, 1));
    for frame in udp_fragments(3000, false) {
        stack.receive(t0, frame);
    }
    let (data, _) = stack.udp_recv(server, 65_536).unwrap().expect("the intact one is");
    assert_eq!(data.len(), 3000);
}

#[test]
fn a_datagram_missing_a_fragment_is_given_up_after_the_reassembly_timeout() {
    // The second of three fragments is lost: the first came, so the sender is told (RFC 1122 §3.3.2); when the
    // first is the one lost, nobody is.
    for lost in [2, 1] {
        let mut sim = pair(FaultConfig::default(), 32);
        let server = bound_udp(&mut sim.hosts[1], 7000);
        let client = bound_udp(&mut sim.hosts[0], 0);
        let mut fragments = 0;
        sim.drop_filter = Some(crate::sim::DropFilter(Box::new(move |from, bytes| {
            let fragment = from == 0 && bytes.len() > 34 && bytes[12..14] == [0x08, 0x00] && bytes[14 + 9] == 17;
            fragments += usize::from(fragment);
            fragment && fragments == lost
        })));
        let now = sim.now();
        sim.hosts[0]
            .udp_send(now, client, &Sga::from_slice(&[7u8; 4000]).unwrap(), Some(SocketAddrV4::new(B, 7000)))
            .unwrap();
        sim.sleep(Duration::from_secs(29));
        assert!(sim.hosts[1].udp_recv(server, 65_536).unwrap().is_none());
        assert_eq!(sim.hosts[1].counters().drop_fragment, 0, "still waiting");
        sim.sleep(Duration::from_secs(2));
        assert_eq!(sim.hosts[1].counters().drop_fragment, 2, "the two that came, given up");
        assert_eq!(sim.hosts[1].next_deadline(), None, "nothing left to wait for");
        let told = u64::from(lost != 1);
        assert_eq!(sim.hosts[1].counters().icmp_time_exceeded_out, told, "lost fragment {lost}");
        assert_eq!(sim.hosts[0].counters().icmp_time_exceeded_in, told, "lost fragment {lost}");
        // As on Linux without IP_RECVERR, the UDP socket is not told.
        assert!(!sim.hosts[0].readiness(client).unwrap().0, "the UDP socket is not told");
    }
}

#[test]
fn closed_ports_answer_with_port_unreachable() {
    let mut sim = pair(FaultConfig::default(), 3);
    let client = bound_udp(&mut sim.hosts[0], 0);
    let now = sim.now();
    sim.hosts[0].udp_send(now, client, &Sga::from_slice(b"anyone?").unwrap(), Some(SocketAddrV4::new(B, 9))).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[0].readiness(client).unwrap().0));
    let error = sim.hosts[0].udp_recv(client, 100).unwrap_err();
    assert_eq!(error.errno(), libc::ECONNREFUSED);
    assert_eq!(sim.hosts[1].counters().icmp_unreachable_out, 1);
}

/// An ARP reply to A saying that B is at `mac`.
fn arp_reply_from_b(mac: MacAddress) -> DemiBuffer {
    let reply =
        ArpRepr { operation: ArpOperation::Reply, sender_mac: mac, sender_ip: B, target_mac: MAC_A, target_ip: A };
    let mut frame = vec![0; ETHERNET_HEADER_LEN + reply.buffer_len()];
    EthernetRepr { src_addr: mac, dst_addr: MAC_A, ethertype: EtherType::Arp }.emit(&mut frame).unwrap();
    reply.emit(&mut frame[ETHERNET_HEADER_LEN..]).unwrap();
    DemiBuffer::from_slice(&frame).unwrap()
}

#[test]
fn a_starting_stack_announces_its_address_and_a_peer_holding_an_old_mac_takes_the_new_one() {
    use crate::wire::{ArpPacket, EthernetFrame};
    // A knows B at B's old MAC address (B's ARP reply, before B restarted on another NIC).
    let mut sim = pair(FaultConfig::default(), 41);
    let old = arp_reply_from_b(MacAddress([2, 0, 0, 0, 0, 0x0b]));
    let t0 = sim.now();
    sim.hosts[0].receive(t0, old.clone());
    // B starts again with its default ARP settings: two announcements, 2 s apart.
    let mut config = StackConfig::new(MAC_B, B, 24);
    config.arp.announcements = ArpConfig::default().announcements;
    sim.hosts[1] = Stack::new(config, t0).unwrap();
    let mut wire = crate::phy::Loopback::new(8);
    let announcements = |wire: &mut crate::phy::Loopback| -> usize {
        let mut n = 0;
        while let Some(frame) = wire.receive() {
            let ethernet = EthernetFrame::new_checked(&frame[..]).unwrap();
            let arp = ArpRepr::parse(&ArpPacket::new_checked(ethernet.payload()).unwrap()).unwrap();
            assert_eq!(ethernet.dst_addr(), MacAddress::BROADCAST);
            assert_eq!((arp.operation, arp.sender_mac, arp.sender_ip), (ArpOperation::Request, MAC_B, B));
            assert_eq!((arp.target_mac, arp.target_ip), (MacAddress::ZERO, B), "RFC 5227 §2.3's announcement");
            n += 1;
        }
        n
    };
    assert_eq!(sim.hosts[1].next_deadline(), Some(t0), "the first is due at once");
    sim.hosts[1].poll(t0);
    sim.hosts[1].transmit(&mut wire);
    assert_eq!(announcements(&mut wire), 1);
    assert_eq!(sim.hosts[1].next_deadline(), Some(t0 + Duration::from_secs(2)));
    sim.hosts[1].poll(t0 + Duration::from_secs(2));
    sim.hosts[1].transmit(&mut wire);
    assert_eq!(announcements(&mut wire), 1);
    assert_eq!(sim.hosts[1].next_deadline(), None, "two, then quiet");
    assert_eq!(sim.hosts[1].counters().arp_announcements_out, 2);
    // On the wire, A takes B's new address from the announcement: its first datagram to B goes there, with
    // no request of its own.
    let mut sim = pair(FaultConfig::default(), 42);
    sim.hosts[0].receive(t0, old);
    let mut config = StackConfig::new(MAC_B, B, 24);
    config.arp.announcements = 1;
    let now = sim.now();
    sim.hosts[1] = Stack::new(config, now).unwrap();
    let server = bound_udp(&mut sim.hosts[1], 7000);
    sim.run_until(Duration::from_millis(10), |_| false);
    let client = bound_udp(&mut sim.hosts[0], 0);
    let now = sim.now();
    sim.hosts[0].udp_send(now, client, &Sga::from_slice(b"new").unwrap(), Some(SocketAddrV4::new(B, 7000))).unwrap();
    assert!(sim.run_until(Duration::from_millis(10), |s| s.hosts[1].readiness(server).unwrap().0));
    assert_eq!(sim.hosts[0].counters().arp_requests_out, 0, "the announcement, not a request, corrected A");
}

#[test]
fn a_host_claiming_our_address_is_answered_with_an_announcement_at_most_every_ten_seconds() {
    // RFC 5227 §2.4: an impostor announces B's address from its own MAC; A, which knows B, takes it.
    let mut sim = pair(FaultConfig::default(), 43);
    let server = bound_udp(&mut sim.hosts[1], 7000);
    let client = bound_udp(&mut sim.hosts[0], 0);
    let send = |sim: &mut Simulation, what: &[u8]| {
        let now = sim.now();
        sim.hosts[0].udp_send(now, client, &Sga::from_slice(what).unwrap(), Some(SocketAddrV4::new(B, 7000))).unwrap();
    };
    send(&mut sim, b"before");
    assert!(sim.run_until(Duration::from_millis(10), |s| s.hosts[1].udp_recv(server, 100).unwrap().is_some()));
    let impostor = MacAddress([2, 0, 0, 0, 0, 0x66]);
    let claim = ArpRepr {
        operation: ArpOperation::Request,
        sender_mac: impostor,
        sender_ip: B,
        target_mac: MacAddress::ZERO,
        target_ip: B,
    };
    let mut frame = vec![0; ETHERNET_HEADER_LEN + claim.buffer_len()];
    EthernetRepr { src_addr: impostor, dst_addr: MacAddress::BROADCAST, ethertype: EtherType::Arp }
        .emit(&mut frame)
        .unwrap();
    claim.emit(&mut frame[ETHERNET_HEADER_LEN..]).unwrap();
    let claim = DemiBuffer::from_slice(&frame).unwrap();
    let (start, replies) = (sim.now(), sim.hosts[1].counters().arp_replies_out);
    // Claims at 0, 5 and 11 s: defended at once, not again within 10 s, then again.
    for (at, defences) in [(0, 1), (5, 1), (11, 2)] {
        let when = start + Duration::from_secs(at);
        let now = sim.now();
        if when > now {
            sim.sleep(when - now);
        }
        let t = sim.now();
        sim.hosts[0].receive(t, claim.clone());
        sim.hosts[1].receive(t, claim.clone());
        sim.run_until(Duration::from_millis(10), |_| false);
        let c = sim.hosts[1].counters();
        assert_eq!((c.arp_announcements_out, c.arp_replies_out - replies), (defences, 0), "at {at} s: {c:?}");
        if defences > (at > 0) as u64 {
            // A defence just went out and put A right: A's next datagram reaches B, not the impostor.
            send(&mut sim, b"after");
            let arrived = |s: &mut Simulation| s.hosts[1].udp_recv(server, 100).unwrap().is_some();
            assert!(sim.run_until(Duration::from_millis(10), arrived), "at {at} s");
        }
    }
    assert_eq!(sim.hosts[1].counters().arp_conflicts, 3);
    let now = sim.now();
    assert_eq!(sim.hosts[1].arp.lookup(now, B), None, "our own address is not learned");
}

#[test]
fn arp_retries_through_loss() {
    // Half the frames are lost: ARP must retry until the datagram gets through (or give up cleanly).
    let mut sim = pair(FaultConfig { drop: 0.5, ..FaultConfig::default() }, 4);
    let server = bound_udp(&mut sim.hosts[1], 7000);
    let client = bound_udp(&mut sim.hosts[0], 0);
    let now = sim.now();
    sim.hosts[0].udp_send(now, client, &Sga::from_slice(b"x").unwrap(), Some(SocketAddrV4::new(B, 7000))).unwrap();
    let delivered = sim.run_until(Duration::from_secs(30), |s| s.hosts[1].readiness(server).unwrap().0);
    let c = *sim.hosts[0].counters();
    assert!(delivered || c.drop_arp_unresolved == 1, "{c:?}");
    assert!(c.arp_requests_out >= 1 && c.arp_requests_out <= 5, "{c:?}");
    assert_eq!(sim.hosts[0].next_deadline(), None, "nothing left pending");
}

#[test]
fn unresolvable_hosts_are_given_up_and_counted() {
    let mut sim = pair(FaultConfig::default(), 5);
    let client = bound_udp(&mut sim.hosts[0], 0);
    let now = sim.now();
    for _ in 0..3 {
        sim.hosts[0]
            .udp_send(
                now,
                client,
                &Sga::from_slice(b"x").unwrap(),
                Some(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 99), 1)),
            )
            .unwrap();
    }
    sim.run_until(Duration::from_secs(60), |_| false);
    let c = sim.hosts[0].counters();
    assert_eq!(c.arp_requests_out, 5);
    assert_eq!(c.drop_arp_unresolved, 3);
}

#[test]
fn static_arp_entries_need_no_request() {
    let t0 = Instant::now();
    let mut config = StackConfig::new(MAC_A, A, 24);
    config.arp.static_entries = vec![(B, MAC_B)];
    let a = Stack::new(config, t0).unwrap();
    let b = Stack::new(StackConfig::new(MAC_B, B, 24), t0).unwrap();
    let mut sim = Simulation::new(vec![a, b], t0, Duration::from_micros(10), FaultConfig::default(), 6);
    let server = bound_udp(&mut sim.hosts[1], 7000);
    let client = bound_udp(&mut sim.hosts[0], 0);
    sim.hosts[0].udp_send(t0, client, &Sga::from_slice(b"x").unwrap(), Some(SocketAddrV4::new(B, 7000))).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[1].readiness(server).unwrap().0));
    assert_eq!(sim.hosts[0].counters().arp_requests_out, 0);
}

#[test]
fn routing_errors_and_limits() {
    let mut sim = pair(FaultConfig::default(), 7);
    let id = bound_udp(&mut sim.hosts[0], 5000);
    let now = sim.now();
    let far = SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 1), 9);
    let e = sim.hosts[0].udp_send(now, id, &Sga::from_slice(b"x").unwrap(), Some(far)).unwrap_err();
    assert_eq!(e.errno(), libc::ENETUNREACH);
    // Larger than the MTU goes in fragments; larger than a datagram can be is EMSGSIZE.
    let big = Sga::from_buffer(DemiBuffer::new(65_508).unwrap());
    let e = sim.hosts[0].udp_send(now, id, &big, Some(SocketAddrV4::new(B, 9))).unwrap_err();
    assert_eq!(e.errno(), libc::EMSGSIZE);
    let e = sim.hosts[0].udp_send(now, id, &Sga::from_slice(b"x").unwrap(), None).unwrap_err();
    assert_eq!(e.errno(), libc::EDESTADDRREQ);
    let other = sim.hosts[0].udp_open();
    let e = sim.hosts[0].udp_bind(other, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000)).unwrap_err();
    assert_eq!(e.errno(), libc::EADDRINUSE);
    let e = sim.hosts[0].udp_bind(other, SocketAddrV4::new(B, 1)).unwrap_err();
    assert_eq!(e.errno(), libc::EADDRNOTAVAIL);
    sim.hosts[0].close(id).unwrap();
    assert_eq!(sim.hosts[0].close(id).unwrap_err().errno(), libc::EBADF);
    sim.hosts[0].udp_bind(other, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5000)).unwrap();
}

#[test]
fn sending_to_ourselves_loops_back() {
    let mut sim = pair(FaultConfig::default(), 8);
    let server = bound_udp(&mut sim.hosts[0], 7000);
    let client = bound_udp(&mut sim.hosts[0], 0);
    let now = sim.now();
    sim.hosts[0].udp_send(now, client, &Sga::from_slice(b"me").unwrap(), Some(SocketAddrV4::new(A, 7000))).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[0].readiness(server).unwrap().0));
    assert_eq!(sim.frames_sent, 0, "nothing went on the wire");
}

#[test]
fn the_loopback_network_is_ours_and_never_on_the_wire() {
    let mut sim = pair(FaultConfig::default(), 18);
    let lo = Ipv4Addr::LOCALHOST;
    let host = &mut sim.hosts[0];
    // Bind to 127.0.0.1 (and any 127.x) as on Linux; other hosts' addresses are still refused.
    let listener = host.tcp_open();
    host.tcp_bind(listener, SocketAddrV4::new(lo, 0)).unwrap();
    let port = host.local_addr(listener).unwrap().unwrap().port();
    host.tcp_listen(listener, 4).unwrap();
    let other = host.tcp_open();
    assert_eq!(host.tcp_bind(other, SocketAddrV4::new(B, 0)).unwrap_err().errno(), libc::EADDRNOTAVAIL);
    host.tcp_bind(other, SocketAddrV4::new(Ipv4Addr::new(127, 1, 2, 3), 0)).unwrap();
    // A connection to 127.0.0.1 leaves from 127.0.0.1 and is accepted with that address on both ends.
    let client = host.tcp_open();
    let now = sim.now();
    sim.hosts[0].tcp_connect(now, client, SocketAddrV4::new(lo, port)).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[0].readiness(listener).unwrap().0));
    let (server, peer) = sim.hosts[0].tcp_accept(listener).unwrap().unwrap();
    assert_eq!(*peer.ip(), lo);
    assert_eq!(sim.hosts[0].local_addr(client).unwrap().map(|a| *a.ip()), Some(lo));
    assert_eq!(sim.hosts[0].local_addr(server).unwrap(), Some(SocketAddrV4::new(lo, port)));
    // A listener bound to 127.0.0.1 does not take connections to our other address: those are refused.
    let stray = sim.hosts[0].tcp_open();
    let now = sim.now();
    sim.hosts[0].tcp_connect(now, stray, SocketAddrV4::new(A, port)).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[0].tcp_error(stray).unwrap().is_some()));
    assert_eq!(sim.hosts[0].tcp_error(stray).unwrap().unwrap().errno(), libc::ECONNREFUSED);
    // UDP to 127.0.0.1 from an unbound socket, and the reply, stay on the internal loopback.
    let echo = sim.hosts[0].udp_open();
    sim.hosts[0].udp_bind(echo, SocketAddrV4::new(lo, 7000)).unwrap();
    let udp = sim.hosts[0].udp_open();
    let now = sim.now();
    sim.hosts[0].udp_send(now, udp, &Sga::from_slice(b"lo").unwrap(), Some(SocketAddrV4::new(lo, 7000))).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[0].readiness(echo).unwrap().0));
    let (_, from) = sim.hosts[0].udp_recv(echo, 100).unwrap().unwrap();
    assert_eq!(*from.ip(), lo);
    assert_eq!(sim.frames_sent, 0, "nothing went on the wire");
}

#[test]
fn loopback_datagrams_from_the_wire_are_dropped() {
    // B sends to A a datagram whose destination is 127.0.0.1, by hand: A must not take it for itself.
    let mut sim = pair(FaultConfig::default(), 19);
    let server = sim.hosts[0].udp_open();
    sim.hosts[0].udp_bind(server, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 7000)).unwrap();
    let mut frame = vec![0u8; 14 + 20 + 8 + 2];
    let ethernet = EthernetRepr { src_addr: MAC_B, dst_addr: MAC_A, ethertype: crate::wire::EtherType::Ipv4 };
    ethernet.emit(&mut frame).unwrap();
    let checksums = sim.hosts[0].config().checksums;
    let ip = crate::wire::Ipv4Repr {
        src_addr: B,
        dst_addr: Ipv4Addr::LOCALHOST,
        protocol: crate::wire::IpProtocol::Udp,
        payload_len: 10,
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_fragment: true,
    };
    ip.emit(&mut frame[14..], &checksums).unwrap();
    let udp = crate::wire::UdpRepr { src_port: 1234, dst_port: 7000, payload: b"hi" };
    udp.emit_header(&mut frame[34..], B, Ipv4Addr::LOCALHOST, &checksums).unwrap();
    frame[42..].copy_from_slice(b"hi");
    let before = sim.hosts[0].counters().drop_not_for_us;
    let now = sim.now();
    sim.hosts[0].receive(now, DemiBuffer::from_slice(&frame).unwrap());
    assert_eq!(sim.hosts[0].counters().drop_not_for_us, before + 1);
    assert!(!sim.hosts[0].readiness(server).unwrap().0);
}

#[test]
fn garbage_frames_are_counted_never_fatal() {
    let t0 = Instant::now();
    let mut stack = Stack::new(StackConfig::new(MAC_A, A, 24), t0).unwrap();
    let mut rng = crate::phy::Rng::new(99);
    for len in 0..2000 {
        let mut bytes: Vec<u8> = (0..len % 200).map(|_| rng.next_u64() as u8).collect();
        if bytes.len() >= 14 && len % 2 == 0 {
            bytes[..6].copy_from_slice(&MAC_A.octets());
            bytes[12..14].copy_from_slice(&[0x08, if len % 4 == 0 { 0x00 } else { 0x06 }]);
        }
        stack.receive(t0, DemiBuffer::from_slice(&bytes).unwrap());
    }
    let c = stack.counters();
    assert_eq!(c.frames_in, 2000);
    assert!(c.drop_malformed + c.drop_not_for_us + c.drop_unsupported + c.drop_checksum > 1500, "{c:?}");
}

#[test]
fn corrupted_frames_fail_their_checksums() {
    let mut sim = pair(FaultConfig { corrupt: 1.0, ..FaultConfig::default() }, 9);
    let _server = bound_udp(&mut sim.hosts[1], 7000);
    let client = bound_udp(&mut sim.hosts[0], 0);
    let now = sim.now();
    let mut s = sim;
    s.hosts[0].udp_send(now, client, &Sga::from_slice(&[7; 200]).unwrap(), Some(SocketAddrV4::new(B, 7000))).unwrap();
    s.run_until(Duration::from_secs(5), |_| false);
    let c = s.hosts[1].counters();
    assert_eq!(c.udp_in, 0, "no corrupted datagram is delivered");
    assert!(c.drop_checksum + c.drop_malformed + c.drop_not_for_us + c.drop_unsupported >= 1, "{c:?}");
}

/// A TCP server on B and a client on A; returns (sim, listener, client).
fn tcp_pair(faults: FaultConfig, seed: u64) -> (Simulation, SocketId, SocketId) {
    tcp_pair_configured(faults, seed, |_| {})
}

/// `tcp_pair` with both stacks' configurations changed by `configure` first.
fn tcp_pair_configured(
    faults: FaultConfig,
    seed: u64,
    configure: impl Fn(&mut StackConfig),
) -> (Simulation, SocketId, SocketId) {
    let mut sim = pair_configured(faults, seed, configure);
    let listener = sim.hosts[1].tcp_open();
    sim.hosts[1].tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap();
    sim.hosts[1].tcp_listen(listener, 8).unwrap();
    let client = sim.hosts[0].tcp_open();
    let now = sim.now();
    sim.hosts[0].tcp_connect(now, client, SocketAddrV4::new(B, 80)).unwrap();
    (sim, listener, client)
}

/// An established `tcp_pair`: (sim, client, server side).
fn established_pair(seed: u64) -> (Simulation, SocketId, SocketId) {
    established_pair_configured(seed, |_| {})
}

/// `established_pair` with both stacks' configurations changed by `configure` first.
fn established_pair_configured(seed: u64, configure: impl Fn(&mut StackConfig)) -> (Simulation, SocketId, SocketId) {
    let (mut sim, listener, client) = tcp_pair_configured(FaultConfig::default(), seed, configure);
    let mut server = None;
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        server = server.or_else(|| s.hosts[1].tcp_accept(listener).unwrap());
        server.is_some() && s.hosts[0].tcp_state(client).unwrap() == crate::tcp::TcpState::Established
    }));
    (sim, client, server.unwrap().0)
}

#[test]
fn data_for_a_connection_the_application_closed_is_reset() {
    // The server closes without reading; the client's data then can never be read: RST, as Linux does.
    let (mut sim, client, server) = established_pair(20);
    sim.hosts[1].close(server).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[0].tcp_recv(client, 10).unwrap().is_some()));
    let now = sim.now();
    sim.hosts[0].tcp_send(now, client, &Sga::from_slice(b"nobody reads this").unwrap()).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[0].tcp_error(client).unwrap().is_some()));
    assert_eq!(sim.hosts[0].tcp_error(client).unwrap().unwrap().errno(), libc::ECONNRESET);
}

#[test]
fn tcp_recv_into_replaces_the_callers_array_and_reports_what_it_found() {
    use crate::tcp::RecvOutcome;
    let (mut sim, client, server) = established_pair(21);
    // Whatever the slot held before a read is dropped, whatever the outcome.
    let mut slot = Sga::from_slice(b"stale").unwrap();
    assert_eq!(sim.hosts[1].tcp_recv_into(server, usize::MAX, &mut slot).unwrap(), RecvOutcome::NotYet);
    assert!(slot.is_empty() && slot.num_segments() == 0);
    let now = sim.now();
    sim.hosts[0].tcp_send(now, client, &Sga::from_slice(b"hello, world").unwrap()).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[1].readiness(server).unwrap().0));
    // A read of at most 0 bytes takes nothing.
    assert_eq!(sim.hosts[1].tcp_recv_into(server, 0, &mut slot).unwrap(), RecvOutcome::NotYet);
    slot = Sga::from_slice(b"stale").unwrap();
    assert_eq!(sim.hosts[1].tcp_recv_into(server, 5, &mut slot).unwrap(), RecvOutcome::Data);
    assert_eq!(slot.to_vec(), b"hello");
    assert_eq!(sim.hosts[1].tcp_recv_into(server, usize::MAX, &mut slot).unwrap(), RecvOutcome::Data);
    assert_eq!(slot.to_vec(), b", world");
    // The peer's FIN: end of stream (the slot left empty), again at every read, as `tcp_recv` says.
    sim.hosts[0].close(client).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| {
        s.hosts[1].tcp_recv_into(server, usize::MAX, &mut slot).unwrap() == RecvOutcome::EndOfStream
    }));
    assert!(slot.is_empty());
    assert!(sim.hosts[1].tcp_recv(server, usize::MAX).unwrap().is_some_and(|d| d.is_empty()));
}

/// Keeps the frames a stack transmits, as the stack hands them over.
struct Capture(Vec<Sga>);

impl crate::device::Device for Capture {
    fn capabilities(&self) -> crate::device::DeviceCapabilities {
        crate::device::DeviceCapabilities::default()
    }
    fn receive(&mut self) -> Option<DemiBuffer> {
        None
    }
    fn transmit(&mut self, frame: Sga) -> Result<(), Sga> {
        self.0.push(frame);
        Ok(())
    }
}

#[test]
fn small_payloads_are_copied_behind_the_headers_larger_ones_sent_as_views() {
    // On a device that gathers: a view of the application's buffer for payloads over INLINE_PAYLOAD.
    for (len, inline) in [(1, true), (INLINE_PAYLOAD, true), (INLINE_PAYLOAD + 1, false), (1000, false)] {
        let (mut sim, client, _) = established_pair_configured(22, |config| config.gather = true);
        let (frame, data) = send_one(&mut sim, client, len);
        if inline {
            assert_eq!(frame.num_segments(), 1, "{len} B: one buffer, the payload copied behind the headers");
        } else {
            assert_eq!(frame.num_segments(), 2, "{len} B: the headers, then the payload");
            assert_eq!(frame.segments()[1].as_ptr(), data.as_ptr(), "{len} B: a view of the application's buffer");
        }
    }
}

#[test]
fn every_payload_is_copied_behind_the_headers_for_a_device_that_does_not_gather() {
    // The default: one buffer per frame, whatever the payload's size, its checksum right.
    let mss = usize::from(crate::tcp::TcpConfig::default().mss);
    for len in [1, INLINE_PAYLOAD + 1, 1000, mss - 12] {
        let (mut sim, client, _) = established_pair(23);
        let (frame, _) = send_one(&mut sim, client, len);
        assert_eq!(frame.num_segments(), 1, "{len} B: one buffer");
        let bytes = frame.to_vec();
        let ip = Ipv4Packet::new_checked(&bytes[ETHERNET_HEADER_LEN..]).unwrap();
        let caps = ChecksumCapabilities::software();
        let ip_repr = Ipv4Repr::parse(&ip, &caps).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        let tcp = TcpRepr::parse(&tcp, ip_repr.src_addr, ip_repr.dst_addr, &caps).expect("valid checksums");
        assert_eq!(tcp.payload, &vec![len as u8; len][..], "{len} B");
    }
}

/// Sends `len` bytes (each `len as u8`) from `client` of host 0 and takes the one frame that carries them, as
/// the stack hands it to the device; returns it and the application's buffer.
fn send_one(sim: &mut Simulation, client: SocketId, len: usize) -> (Sga, DemiBuffer) {
    let now = sim.now();
    let host = &mut sim.hosts[0];
    let data = DemiBuffer::from_slice(&vec![len as u8; len]).unwrap();
    assert_eq!(host.tcp_send(now, client, &Sga::from_buffer(data.clone())).unwrap(), len);
    host.poll(now);
    let mut device = Capture(Vec::new());
    assert_eq!(host.transmit(&mut device), 1, "{len} B: one segment");
    let frame = device.0.pop().unwrap();
    assert!(frame.to_vec().ends_with(&data), "{len} B: the payload ends the frame");
    (frame, data)
}

#[test]
fn closing_with_unread_data_resets() {
    let (mut sim, client, server) = established_pair(21);
    let now = sim.now();
    sim.hosts[0].tcp_send(now, client, &Sga::from_slice(b"unread").unwrap()).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[1].readiness(server).unwrap().0));
    sim.hosts[1].close(server).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[0].tcp_error(client).unwrap().is_some()));
    assert_eq!(sim.hosts[0].tcp_error(client).unwrap().unwrap().errno(), libc::ECONNRESET);
}

#[test]
fn a_half_closed_connection_reads_on_past_the_fin_wait_2_timeout() {
    // shutdown(SHUT_WR) keeps the socket: its FIN-WAIT-2 lasts as long as the peer sends (RFC 9293 §3.6: the
    // side that closed receives until the other closes too); `fin_wait2_timeout` bounds it only from the
    // application's close, as Linux's tcp_fin_timeout bounds only orphans. It used to run from the ACK of the
    // FIN and cut the stream 3 s into the server's 10 s of data (reads then failed with ENOTCONN, and the
    // server's data was dropped unanswered; found by `duplex_close_tests`, seed 2).
    let (mut sim, client, server) =
        established_pair_configured(22, |c| c.tcp.fin_wait2_timeout = Duration::from_secs(3));
    let now = sim.now();
    sim.hosts[0].tcp_shutdown_write(now, client).unwrap();
    let mut got = Vec::new();
    for second in 0..10u8 {
        sim.sleep(Duration::from_secs(1));
        let now = sim.now();
        sim.hosts[1].tcp_send(now, server, &Sga::from_slice(&[second; 100]).unwrap()).unwrap();
        let arrived = sim.run_until(Duration::from_secs(1), |s| {
            let data = s.hosts[0].tcp_recv(client, usize::MAX).expect("the half-closed client reads on");
            got.extend(data.map(|d| d.to_vec()).unwrap_or_default());
            got.len() == 100 * (usize::from(second) + 1)
        });
        assert!(arrived, "second {second}: the server's data arrives");
    }
    assert_eq!(sim.hosts[0].tcp_state(client).unwrap(), crate::tcp::TcpState::FinWait2);
    assert_eq!(sim.hosts[1].tcp_state(server).unwrap(), crate::tcp::TcpState::CloseWait);
    // The application lets go while the server is silent: FIN-WAIT-2 now lasts 3 s more at most.
    let released = sim.now();
    sim.hosts[0].close(client).unwrap();
    assert!(sim.run_until(Duration::from_secs(10), |s| s.hosts[0].tcp.connection_count() == 0));
    assert_eq!(sim.now() - released, Duration::from_secs(3));
}

fn transfer(faults: FaultConfig, seed: u64, total: usize) -> (Duration, StackCounters) {
    let (mut sim, listener, client) = tcp_pair(faults, seed);
    let mut server = None;
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        if server.is_none() {
            server = s.hosts[1].tcp_accept(listener).unwrap();
        }
        server.is_some() && s.hosts[0].tcp_state(client).unwrap() == crate::tcp::TcpState::Established
    }));
    let (server, peer) = server.unwrap();
    assert_eq!(*peer.ip(), A);
    let data: Vec<u8> = (0..total).map(|i| (i * 31 % 251) as u8).collect();
    let mut sent = 0;
    let mut received = Vec::with_capacity(total);
    let start = sim.now();
    let done = sim.run_until(Duration::from_secs(600), |s| {
        if sent < total {
            let chunk = Sga::from_slice(&data[sent..(sent + 65536).min(total)]).unwrap();
            let now = s.now();
            sent += s.hosts[0].tcp_send(now, client, &chunk).unwrap();
        }
        while let Some(sga) = s.hosts[1].tcp_recv(server, usize::MAX).unwrap() {
            assert!(!sga.is_empty(), "no early end of stream");
            received.extend_from_slice(&sga.to_vec());
        }
        received.len() == total
    });
    assert!(done, "only {} of {total} bytes arrived", received.len());
    assert!(received == data, "bytes differ");
    let took = sim.now() - start;
    // Orderly close both ways; both ends must finish.
    sim.hosts[0].close(client).unwrap();
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.hosts[1].tcp_recv(server, 10).unwrap().is_some_and(|d| d.is_empty())
    }));
    sim.hosts[1].close(server).unwrap();
    sim.run_until(Duration::from_secs(300), |_| false);
    (took, *sim.hosts[0].counters())
}

#[test]
fn tcp_handshake_transfer_and_close_through_the_demultiplexer() {
    let (took, counters) = transfer(FaultConfig::default(), 11, 1 << 20);
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(counters.tcp_out > 700, "{counters:?}");
}

#[test]
fn tcp_survives_loss_duplication_reordering_and_corruption() {
    for (seed, faults) in [
        (12, FaultConfig { drop: 0.02, ..FaultConfig::default() }),
        (13, FaultConfig { drop: 0.05, duplicate: 0.05, reorder: 0.05, corrupt: 0.02 }),
    ] {
        transfer(faults, seed, 256 * 1024);
    }
}

#[test]
fn tcp_to_a_closed_port_is_reset_and_refused() {
    let mut sim = pair(FaultConfig::default(), 14);
    let client = sim.hosts[0].tcp_open();
    let now = sim.now();
    sim.hosts[0].tcp_connect(now, client, SocketAddrV4::new(B, 81)).unwrap();
    assert!(sim.run_until(Duration::from_secs(5), |s| s.hosts[0].tcp_error(client).unwrap().is_some()));
    assert_eq!(sim.hosts[0].tcp_error(client).unwrap().unwrap().errno(), libc::ECONNREFUSED);
    assert_eq!(sim.hosts[1].counters().tcp_rst_out, 1);
}

#[test]
fn tcp_backlog_bounds_the_syn_queue() {
    // Without SYN cookies (`syn_cookie_tests.rs` has them): SYNs beyond the backlog are dropped.
    let mut sim = pair_configured(FaultConfig::default(), 15, |config| config.syn_cookies = false);
    let listener = sim.hosts[1].tcp_open();
    sim.hosts[1].tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap();
    sim.hosts[1].tcp_listen(listener, 2).unwrap();
    let now = sim.now();
    let clients: Vec<_> = (0..5)
        .map(|_| {
            let c = sim.hosts[0].tcp_open();
            sim.hosts[0].tcp_connect(now, c, SocketAddrV4::new(B, 80)).unwrap();
            c
        })
        .collect();
    sim.run_until(Duration::from_millis(100), |_| false);
    assert_eq!(sim.hosts[1].counters().tcp_syn_queue_full, 3);
    let established =
        clients.iter().filter(|&&c| sim.hosts[0].tcp_state(c).unwrap() == crate::tcp::TcpState::Established).count();
    assert_eq!(established, 2);
    // Accepting makes room: the others get in on their SYN retries.
    let mut accepted = 0;
    assert!(sim.run_until(Duration::from_secs(30), |s| {
        while s.hosts[1].tcp_accept(listener).unwrap().is_some() {
            accepted += 1;
        }
        accepted == 5
    }));
}

#[test]
fn tcp_ports_and_misuse() {
    let mut sim = pair(FaultConfig::default(), 16);
    let h = &mut sim.hosts[0];
    let a = h.tcp_open();
    h.tcp_bind(a, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap();
    let b = h.tcp_open();
    assert_eq!(h.tcp_bind(b, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap_err().errno(), libc::EADDRINUSE);
    assert_eq!(h.tcp_bind(a, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 81)).unwrap_err().errno(), libc::EINVAL);
    assert_eq!(h.tcp_listen(b, 1).unwrap_err().errno(), libc::EDESTADDRREQ);
    assert_eq!(h.tcp_accept(a).unwrap_err().errno(), libc::EINVAL);
    let now = Instant::now();
    assert_eq!(h.tcp_send(now, a, &Sga::from_slice(b"x").unwrap()).unwrap_err().errno(), libc::ENOTCONN);
    h.tcp_listen(a, 1).unwrap();
    assert_eq!(h.tcp_send(now, a, &Sga::from_slice(b"x").unwrap()).unwrap_err().errno(), libc::EOPNOTSUPP);
    assert_eq!(h.tcp_connect(now, a, SocketAddrV4::new(B, 1)).unwrap_err().errno(), libc::EOPNOTSUPP);
    let u = h.udp_open();
    assert_eq!(h.tcp_listen(u, 1).unwrap_err().errno(), libc::EPROTOTYPE);
    h.close(a).unwrap();
    h.tcp_bind(b, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap();
}

#[test]
fn tcp_socket_options_apply_inherit_and_shape_close() {
    let mut sim = pair(FaultConfig::default(), 17);
    let listener = sim.hosts[1].tcp_open();
    let options = TcpSocketOptions { nodelay: true, keepalive: Some(Duration::from_secs(30)), ..Default::default() };
    sim.hosts[1].tcp_set_options(listener, options).unwrap();
    sim.hosts[1].tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap();
    sim.hosts[1].tcp_listen(listener, 4).unwrap();
    assert_eq!(sim.hosts[1].tcp_options(listener).unwrap(), options, "bind and listen keep the options");
    let client = sim.hosts[0].tcp_open();
    let linger0 = TcpSocketOptions { linger: Some(Duration::ZERO), ..Default::default() };
    sim.hosts[0].tcp_set_options(client, linger0).unwrap();
    let now = sim.now();
    sim.hosts[0].tcp_connect(now, client, SocketAddrV4::new(B, 80)).unwrap();
    let mut server = None;
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        server = server.or_else(|| s.hosts[1].tcp_accept(listener).unwrap());
        server.is_some()
    }));
    let (server, _) = server.unwrap();
    assert_eq!(sim.hosts[1].tcp_options(server).unwrap(), options, "accepted connections inherit");
    // SO_LINGER 0: close resets instead of the FIN handshake.
    sim.hosts[0].close(client).unwrap();
    assert!(sim.run_until(Duration::from_secs(5), |s| s.hosts[1].tcp_error(server).unwrap().is_some()));
    assert_eq!(sim.hosts[1].tcp_error(server).unwrap().unwrap().errno(), libc::ECONNRESET);
}

#[test]
fn so_reuseaddr_takes_a_port_held_in_time_wait() {
    let (mut sim, listener, client) = tcp_pair(FaultConfig::default(), 18);
    let mut server = None;
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        server = server.or_else(|| s.hosts[1].tcp_accept(listener).unwrap());
        server.is_some()
    }));
    let (server, _) = server.unwrap();
    // The server closes first, so its side ends in TIME-WAIT holding port 80.
    sim.hosts[1].close(server).unwrap();
    sim.hosts[1].close(listener).unwrap();
    assert!(sim.run_until(Duration::from_secs(5), |s| s.hosts[0].tcp_recv(client, 10).unwrap().is_some()));
    sim.hosts[0].close(client).unwrap();
    // Stop in TIME-WAIT (running on would reach its 2 MSL end, when the connection is reaped).
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        s.hosts[1].tcp_state(server).is_ok_and(|st| st == crate::tcp::TcpState::TimeWait)
    }));
    let again = sim.hosts[1].tcp_open();
    let e = sim.hosts[1].tcp_bind(again, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap_err();
    assert_eq!(e.errno(), libc::EADDRINUSE, "TIME-WAIT holds the port");
    sim.hosts[1].tcp_set_options(again, TcpSocketOptions { reuse_addr: true, ..Default::default() }).unwrap();
    sim.hosts[1].tcp_bind(again, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap();
    // After 2 MSL the connection is reaped and the port is free for anyone.
    sim.run_until(Duration::from_secs(120), |_| false);
    assert!(sim.hosts[1].tcp_state(server).is_err(), "reaped");
}

/// A client that closes first keeps its 4-tuple in TIME-WAIT. SO_REUSEADDR lets a new socket bind the port, but
/// not connect to the same peer while that connection holds the 4-tuple: both in the connection table, the old
/// one's end at 2 MSL took the new one's entry with it, and the new connection answered its peer with RSTs.
#[test]
fn connecting_over_a_four_tuple_in_time_wait_is_refused_until_it_ends() {
    let mut sim = pair(FaultConfig::default(), 78);
    let listener = sim.hosts[1].tcp_open();
    sim.hosts[1].tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap();
    sim.hosts[1].tcp_listen(listener, 8).unwrap();
    let reuse = TcpSocketOptions { reuse_addr: true, ..Default::default() };
    let connect_from_6000 = |sim: &mut Simulation, socket: SocketId| {
        let now = sim.now();
        sim.hosts[0].tcp_connect(now, socket, SocketAddrV4::new(B, 80))
    };
    let accept = |sim: &mut Simulation, client: SocketId| {
        let mut server = None;
        assert!(sim.run_until(Duration::from_secs(5), |s| {
            server = server.or_else(|| s.hosts[1].tcp_accept(listener).unwrap());
            server.is_some() && s.hosts[0].tcp_state(client).unwrap() == crate::tcp::TcpState::Established
        }));
        server.unwrap().0
    };
    let first = sim.hosts[0].tcp_open();
    sim.hosts[0].tcp_set_options(first, reuse).unwrap();
    sim.hosts[0].tcp_bind(first, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 6000)).unwrap();
    connect_from_6000(&mut sim, first).unwrap();
    let server = accept(&mut sim, first);
    sim.hosts[0].close(first).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[1].tcp_recv(server, 10).unwrap().is_some()));
    sim.hosts[1].close(server).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[0].tcp_time_wait_count() == 1));

    let second = sim.hosts[0].tcp_open();
    sim.hosts[0].tcp_set_options(second, reuse).unwrap();
    sim.hosts[0].tcp_bind(second, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 6000)).unwrap();
    let e = connect_from_6000(&mut sim, second).unwrap_err();
    assert_eq!(e.errno(), libc::EADDRNOTAVAIL, "{e}");
    assert_eq!(sim.hosts[0].local_addr(second).unwrap().map(|a| a.port()), Some(6000), "still bound");
    // Once TIME-WAIT ends (2 MSL) the same socket connects, and the connection carries data both ways.
    assert!(sim.run_until(Duration::from_secs(70), |s| s.hosts[0].tcp_time_wait_count() == 0));
    connect_from_6000(&mut sim, second).unwrap();
    let server = accept(&mut sim, second);
    let now = sim.now();
    sim.hosts[0].tcp_send(now, second, &Sga::from_slice(b"ping").unwrap()).unwrap();
    sim.hosts[1].tcp_send(now, server, &Sga::from_slice(b"pong").unwrap()).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[1].tcp_recv(server, 10).unwrap().is_some()));
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[0].tcp_recv(second, 10).unwrap().is_some()));
    assert_eq!(sim.hosts[0].counters().tcp_rst_out, 0);
}

#[test]
fn a_peer_that_restarted_resets_the_connection_on_our_next_segment() {
    // B restarts (a fresh stack at the same addresses): its connection is gone, so A's next data gets a RST
    // (RFC 9293 §3.10.7.1) and A's application an ECONNRESET, not a silent wait.
    let (mut sim, client, _server) = established_pair(25);
    let now = sim.now();
    sim.hosts[1] = Stack::new(StackConfig::new(MAC_B, B, 24), now).unwrap();
    sim.hosts[0].tcp_send(now, client, &Sga::from_slice(b"anyone there?").unwrap()).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[0].tcp_error(client).unwrap().is_some()));
    assert_eq!(sim.hosts[0].tcp_error(client).unwrap().unwrap().errno(), libc::ECONNRESET);
    assert_eq!(sim.hosts[1].counters().tcp_rst_out, 1);
}

#[test]
fn keepalive_finds_a_peer_that_restarted_while_the_connection_was_idle() {
    let (mut sim, client, _server) = established_pair(26);
    let keepalive = TcpSocketOptions { keepalive: Some(Duration::from_secs(10)), ..TcpSocketOptions::default() };
    sim.hosts[0].tcp_set_options(client, keepalive).unwrap();
    let now = sim.now();
    sim.hosts[1] = Stack::new(StackConfig::new(MAC_B, B, 24), now).unwrap();
    assert!(sim.run_until(Duration::from_secs(30), |s| s.hosts[0].tcp_error(client).unwrap().is_some()));
    assert_eq!(sim.hosts[0].tcp_error(client).unwrap().unwrap().errno(), libc::ECONNRESET);
    assert!(sim.now() - now >= Duration::from_secs(10), "not before the idle time");
}

/// Connects from A:5000 to B:80 and waits until B accepted and A is established (at most `limit`); returns
/// (client, server) and how long it took.
fn connect_from_5000(sim: &mut Simulation, listener: SocketId, limit: Duration) -> (SocketId, SocketId, Duration) {
    let start = sim.now();
    let client = sim.hosts[0].tcp_open();
    sim.hosts[0].tcp_bind(client, SocketAddrV4::new(A, 5000)).unwrap();
    sim.hosts[0].tcp_connect(start, client, SocketAddrV4::new(B, 80)).unwrap();
    let mut server = None;
    let established = sim.run_until(limit, |s| {
        server = server.or_else(|| s.hosts[1].tcp_accept(listener).unwrap());
        server.is_some() && s.hosts[0].tcp_state(client).unwrap() == crate::tcp::TcpState::Established
    });
    assert!(established, "the connection was made within {limit:?}");
    (client, server.unwrap().0, sim.now() - start)
}

/// A connection from A:5000 to B:80 that the server closed first: B's side is left in TIME-WAIT, A's is gone.
/// Returns the simulation (recording frames from the start), B's listener and B's TIME-WAIT socket.
fn server_side_in_time_wait(seed: u64, configure: impl Fn(&mut StackConfig)) -> (Simulation, SocketId, SocketId) {
    let mut sim = pair_configured(FaultConfig::default(), seed, configure).record_frames();
    let listener = sim.hosts[1].tcp_open();
    sim.hosts[1].tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap();
    sim.hosts[1].tcp_listen(listener, 8).unwrap();
    let (client, server, _) = connect_from_5000(&mut sim, listener, Duration::from_secs(5));
    let now = sim.now();
    sim.hosts[0].tcp_send(now, client, &Sga::from_slice(b"some data, so that RCV.NXT moves").unwrap()).unwrap();
    // Read before closing: unread data would make the close a RST.
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[1].tcp_recv(server, 100).unwrap().is_some()));
    sim.hosts[1].close(server).unwrap();
    assert!(sim.run_until(Duration::from_secs(5), |s| s.hosts[0].tcp_recv(client, 10).unwrap().is_some()));
    sim.hosts[0].close(client).unwrap();
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        s.hosts[1].tcp_state(server).is_ok_and(|st| st == crate::tcp::TcpState::TimeWait)
            && s.hosts[0].tcp_state(client).is_err()
    }));
    (sim, listener, server)
}

#[test]
fn a_client_reconnecting_from_the_same_port_reopens_a_connection_in_time_wait_at_once() {
    // The client connects again from the same port while the server's side waits in TIME-WAIT. The SYN is newer
    // than the old connection (its timestamp, or without timestamps its sequence number), so the server opens
    // the new connection at once (RFC 6191, RFC 1122 §4.2.2.13) instead of answering with a challenge ACK, which
    // costs the client a RST and a second before its SYN is retried.
    for timestamps in [true, false] {
        let (mut sim, listener, old) = server_side_in_time_wait(27, |c| c.tcp.timestamps = timestamps);
        // Without timestamps the new SYN must be beyond the old RCV.NXT: the ISN clock (4 us, RFC 6528) must
        // have moved past the old connection's data, which this simulation sends in well under a millisecond.
        sim.sleep(Duration::from_millis(10));
        let (client, server, took) = connect_from_5000(&mut sim, listener, Duration::from_secs(5));
        assert!(took < Duration::from_millis(1), "timestamps {timestamps}: {took:?}");
        assert!(sim.hosts[1].tcp_state(old).is_err() || old == server, "the old connection was forgotten");
        assert_eq!(sim.hosts[0].counters().tcp_rst_out, 0, "no RST was needed");
        assert_eq!(sim.hosts[1].counters().tcp_time_wait_reopens, 1);
        // The new connection works, and its sequence numbers start beyond the old one's.
        let now = sim.now();
        sim.hosts[1].tcp_send(now, server, &Sga::from_slice(b"new").unwrap()).unwrap();
        assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[0].tcp_recv(client, 10).unwrap().is_some()));
    }
}

#[test]
fn an_old_duplicate_syn_does_not_reopen_a_connection_in_time_wait() {
    // The first connection's own SYN, delivered again during TIME-WAIT: older than the connection (both its
    // timestamp and its sequence number), so TIME-WAIT stays and answers it with an ACK (RFC 9293, RFC 5961).
    for timestamps in [true, false] {
        let (mut sim, _listener, old) = server_side_in_time_wait(28, |c| c.tcp.timestamps = timestamps);
        let wire = sim.recorded.take().unwrap();
        let (_, _, syn) = wire
            .iter()
            .find(|(_, host, bytes)| *host == 0 && bytes.len() > 54 && bytes[47] == 0x02)
            .expect("the first SYN");
        let now = sim.now();
        sim.hosts[1].receive(now, DemiBuffer::from_slice(syn).unwrap());
        assert_eq!(sim.hosts[1].tcp_state(old).unwrap(), crate::tcp::TcpState::TimeWait, "timestamps {timestamps}");
    }
}

#[test]
fn a_connection_asleep_orphan_acknowledges_a_retransmitted_fin() {
    // The server's side of a connection it closed first sleeps in TIME-WAIT as a small record
    // (`stack/tcp/orphan.rs`). The client's FIN arriving again (as if the server's last ACK was lost) wakes it:
    // it acknowledges the FIN again, and goes back to sleep.
    let (mut sim, _listener, old) = server_side_in_time_wait(29, |_| {});
    assert_eq!(sim.hosts[1].counters().tcp_orphan_records, 1, "asleep once in TIME-WAIT");
    assert_eq!(sim.hosts[1].tcp_state(old).unwrap(), crate::tcp::TcpState::TimeWait);
    let wire = sim.recorded.replace(Vec::new()).unwrap();
    let tcp_field = |bytes: &[u8], at: usize| u32::from_be_bytes(bytes[34 + at..38 + at].try_into().unwrap());
    let (_, _, fin) = wire.iter().rev().find(|(_, host, bytes)| *host == 0 && bytes[47] & 0x01 != 0).expect("the FIN");
    let fin_seq = tcp_field(fin, 4);
    let now = sim.now();
    sim.hosts[1].receive(now, DemiBuffer::from_slice(fin).unwrap());
    sim.sleep(Duration::from_millis(5));
    // Woken by the FIN and asleep again after its ACK, then woken by the client's RST (below).
    let counters = sim.hosts[1].counters();
    assert_eq!((counters.tcp_orphan_wakes, counters.tcp_orphan_records), (2, 2));
    let answers: Vec<&Vec<u8>> =
        sim.recorded.as_ref().unwrap().iter().filter(|(_, host, _)| *host == 1).map(|(_, _, b)| b).collect();
    assert!(
        answers.iter().any(|bytes| bytes[47] == 0x10 && tcp_field(bytes, 8) == fin_seq.wrapping_add(1)),
        "the FIN acknowledged again"
    );
    // The client, long gone, answers that ACK with a RST, which ends TIME-WAIT at once (RFC 9293; Linux
    // too); without it the record would have ended 2 MSL after the FIN.
    assert!(sim.hosts[1].tcp_state(old).is_err(), "reaped after the client's RST");
    assert_eq!(sim.hosts[1].tcp_time_wait_count(), 0);
}

#[test]
fn a_connection_asleep_orphan_ends_after_two_msl() {
    let (mut sim, _listener, old) = server_side_in_time_wait(30, |c| c.tcp.time_wait = Duration::from_secs(3));
    assert_eq!(sim.hosts[1].counters().tcp_orphan_records, 1);
    assert_eq!(sim.hosts[1].tcp_time_wait_count(), 1, "the record holds the TIME-WAIT slot");
    sim.sleep(Duration::from_millis(2900));
    assert_eq!(sim.hosts[1].tcp_state(old).unwrap(), crate::tcp::TcpState::TimeWait);
    sim.sleep(Duration::from_millis(200));
    assert!(sim.hosts[1].tcp_state(old).is_err(), "reaped at its deadline");
    assert_eq!(sim.hosts[1].tcp_time_wait_count(), 0);
    assert_eq!(sim.hosts[1].counters().tcp_orphan_wakes, 0);
}

#[test]
fn a_connection_let_go_of_in_fin_wait_2_sleeps_until_the_peer_closes() {
    // The server closes first and lets go; the client does not close yet: the server's side waits in FIN-WAIT-2
    // for the client's FIN, asleep as a record. The client's FIN wakes it into TIME-WAIT, where it sleeps again;
    // a client that never closes leaves it to `fin_wait2_timeout`.
    for client_closes in [true, false] {
        let mut sim = pair_configured(FaultConfig::default(), 31, |c| {
            c.tcp.fin_wait2_timeout = Duration::from_secs(5);
            c.tcp.time_wait = Duration::from_secs(2);
        });
        let listener = sim.hosts[1].tcp_open();
        sim.hosts[1].tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap();
        sim.hosts[1].tcp_listen(listener, 8).unwrap();
        let (client, server, _) = connect_from_5000(&mut sim, listener, Duration::from_secs(5));
        sim.hosts[1].close(server).unwrap();
        assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[0].tcp_recv(client, 10).unwrap().is_some()));
        sim.sleep(Duration::from_millis(100));
        assert_eq!(sim.hosts[1].tcp_state(server).unwrap(), crate::tcp::TcpState::FinWait2);
        assert_eq!(sim.hosts[1].counters().tcp_orphan_records, 1, "asleep in FIN-WAIT-2");
        if client_closes {
            sim.hosts[0].close(client).unwrap();
            sim.sleep(Duration::from_millis(100));
            assert_eq!(sim.hosts[1].tcp_state(server).unwrap(), crate::tcp::TcpState::TimeWait);
            let counters = sim.hosts[1].counters();
            assert_eq!((counters.tcp_orphan_wakes, counters.tcp_orphan_records), (1, 2), "asleep again in TIME-WAIT");
            assert!(sim.hosts[0].tcp_state(client).is_err(), "the client closed cleanly");
            sim.sleep(Duration::from_secs(2));
        } else {
            sim.sleep(Duration::from_secs(5));
        }
        assert!(sim.hosts[1].tcp_state(server).is_err(), "reaped at the deadline (client closes: {client_closes})");
        assert_eq!(sim.hosts[1].tcp_time_wait_count(), 0);
    }
}

/// A stack at A connecting to B's port 80 (B answers nothing) and the frame of the SYN it sent.
fn syn_sent(t0: Instant, config: impl FnOnce(&mut StackConfig)) -> (Stack, SocketId, DemiBuffer) {
    use crate::phy::Loopback;
    let mut stack_config = StackConfig::new(MAC_A, A, 24);
    stack_config.arp.static_entries = vec![(B, MAC_B)];
    stack_config.arp.announcements = 0;
    config(&mut stack_config);
    let mut a = Stack::new(stack_config, t0).unwrap();
    let client = a.tcp_open();
    a.tcp_connect(t0, client, SocketAddrV4::new(B, 80)).unwrap();
    a.poll(t0);
    let mut wire = Loopback::new(8);
    a.transmit(&mut wire);
    let syn = wire.receive().expect("the SYN");
    (a, client, syn)
}

/// The frame of the ICMP error from B that `error` makes of the datagram in `frame`: its IP header and first
/// 8 bytes quoted, as a router or host does.
fn icmp_error_about(
    frame: &[u8],
    error: impl FnOnce(crate::wire::Ipv4Repr, &[u8]) -> crate::wire::Icmpv4Repr<'_>,
) -> DemiBuffer {
    use crate::wire::{
        ETHERNET_HEADER_LEN, EtherType, EthernetRepr, ICMPV4_ERROR_QUOTE_LEN, IpProtocol, Ipv4Packet, Ipv4Repr,
    };
    let ip = Ipv4Packet::new_checked(&frame[ETHERNET_HEADER_LEN..]).unwrap();
    let quoted_header = Ipv4Repr::parse(&ip, &Default::default()).unwrap();
    let icmp = error(quoted_header, &ip.payload()[..ICMPV4_ERROR_QUOTE_LEN]);
    let outer = Ipv4Repr {
        src_addr: B,
        dst_addr: A,
        protocol: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_fragment: false,
    };
    let mut bytes = vec![0u8; ETHERNET_HEADER_LEN + outer.total_len()];
    EthernetRepr { src_addr: MAC_B, dst_addr: MAC_A, ethertype: EtherType::Ipv4 }.emit(&mut bytes).unwrap();
    outer.emit(&mut bytes[ETHERNET_HEADER_LEN..], &Default::default()).unwrap();
    icmp.emit(&mut bytes[ETHERNET_HEADER_LEN + 20..], &Default::default()).unwrap();
    DemiBuffer::from_slice(&bytes).unwrap()
}

#[test]
fn in_syn_sent_an_unreachable_aborts_and_the_other_icmp_errors_do_not() {
    // RFC 1122 §4.2.3.9: port unreachable is a hard error for an active open (as on Linux); time exceeded is a
    // soft one, reported only if the connection then times out; fragmentation needed is path MTU discovery's,
    // never an error (and one about a SYN is bogus: no router drops a datagram smaller than its next hop's MTU).
    use crate::tcp::TcpState;
    use crate::wire::{DstUnreachable, Icmpv4Repr, Ipv4Repr, TimeExceeded};
    type Error = for<'a> fn(Ipv4Repr, &'a [u8]) -> Icmpv4Repr<'a>;
    let cases: [(Error, Option<i32>, Option<i32>); 3] = [
        (
            |header, data| Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::PortUnreachable,
                next_hop_mtu: 0,
                header,
                data,
            },
            Some(libc::ECONNREFUSED),
            None,
        ),
        (
            |header, data| Icmpv4Repr::TimeExceeded { reason: TimeExceeded::TtlExceeded, header, data },
            None,
            Some(libc::EHOSTUNREACH),
        ),
        (
            |header, data| Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::FragmentationNeeded,
                next_hop_mtu: 1000,
                header,
                data,
            },
            None,
            Some(libc::ETIMEDOUT),
        ),
    ];
    for (error, at_once, after_timeout) in cases {
        let t0 = Instant::now();
        let (mut a, client, syn) = syn_sent(t0, |c| c.tcp.syn_retries = 1);
        a.receive(t0, icmp_error_about(&syn, error));
        let errno = |a: &mut Stack| a.tcp_error(client).unwrap().map(|e| e.errno());
        assert_eq!(errno(&mut a), at_once);
        if at_once.is_some() {
            assert_eq!(a.tcp_state(client).unwrap(), TcpState::Closed);
            continue;
        }
        assert_eq!(a.tcp_state(client).unwrap(), TcpState::SynSent);
        let counters = a.counters();
        assert_eq!(counters.icmp_time_exceeded_in + counters.icmp_frag_needed_in, 1);
        assert_eq!(a.tcp_counters(client).unwrap().path_mtu_reductions, 0, "bogus: not below the SYN's length");
        let mut now = t0;
        while a.tcp_state(client).unwrap() == TcpState::SynSent {
            now = a.next_deadline().expect("a SYN timer");
            a.poll(now);
        }
        assert!(now - t0 >= Duration::from_secs(1), "it kept trying");
        assert_eq!(errno(&mut a), after_timeout, "the error a timeout reports");
    }
}

#[test]
fn a_connection_follows_its_peer_to_a_new_mac_address() {
    // Connections remember their next hop's MAC address (`CachedHop`); an ARP update must still win.
    let (mut sim, client, _server) = established_pair(22);
    // No Nagle, so that the second segment goes out while the first is unacknowledged.
    let nodelay = TcpSocketOptions { nodelay: true, ..TcpSocketOptions::default() };
    sim.hosts[0].tcp_set_options(client, nodelay).unwrap();
    let data_frame_dst = |sim: &mut Simulation| {
        let now = sim.now();
        sim.hosts[0].tcp_send(now, client, &Sga::from_slice(b"ping").unwrap()).unwrap();
        sim.hosts[0].poll(now);
        let frame = sim.hosts[0].outbox.pop_back().expect("the data segment");
        sim.hosts[0].outbox.clear();
        MacAddress(frame.segments()[0][..6].try_into().unwrap())
    };
    assert_eq!(data_frame_dst(&mut sim), MAC_B);
    let moved = MacAddress([2, 0, 0, 0, 0, 0x42]);
    let now = sim.now();
    sim.hosts[0].receive(now, arp_reply_from_b(moved));
    assert_eq!(data_frame_dst(&mut sim), moved, "the cached next hop gave way to the ARP table");
}

#[test]
fn a_wrong_arp_entry_is_corrected_after_a_retransmission_timeout() {
    // A learns a wrong MAC address for B (a reply corrupted on the way did this in a seeded run, 48312), so its
    // SYNs go to nobody. Its first timeout asks about B again (RFC 1122 §2.3.2.1, higher-layer advice): B's
    // reply corrects the entry and the next SYN gets through, instead of when the entry expires (60 s).
    let (mut sim, listener, client) = tcp_pair_configured(FaultConfig::default(), 23, |_| {});
    let wrong = MacAddress([2, 0, 0, 0, 0x40, 2]);
    let t0 = sim.now();
    sim.hosts[0].receive(t0, arp_reply_from_b(wrong));
    let mut server = None;
    assert!(sim.run_until(Duration::from_secs(4), |s| {
        server = server.or_else(|| s.hosts[1].tcp_accept(listener).unwrap());
        server.is_some() && s.hosts[0].tcp_state(client).unwrap() == crate::tcp::TcpState::Established
    }));
    let elapsed = sim.now() - t0;
    // The first SYN (0 s) and its retransmission (1 s) went to the wrong address; the next one (3 s) got in.
    assert!(elapsed > Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(sim.hosts[0].tcp_counters(client).unwrap().timeouts, 2);
    // Each timeout asked (they are 2 s apart, more than `REVALIDATION_INTERVAL`); no other request was needed.
    let a = *sim.hosts[0].counters();
    assert_eq!((a.arp_revalidations, a.arp_requests_out), (2, 2), "{a:?}");
}

#[test]
fn a_busy_connection_keeps_its_next_hop_through_arp_expiry() {
    // Entries expire every 100 ms here; a bulk sender has a 256 KiB window (181 segments) in flight on a
    // 4 ms round trip. An entry in use turns stale and is polled (a request to the peer's own MAC address)
    // while segments keep going to it; the reply refreshes it. Before, the entry was dropped at expiry, the window's
    // worth of segments queued behind a broadcast request, and the queue (64 frames) dropped the rest:
    // losses and a window cut every expiry (117 frames at once in a longer run).
    let t0 = Instant::now();
    let [a, b] = [(MAC_A, A), (MAC_B, B)].map(|(mac, ip)| {
        let mut config = StackConfig::new(mac, ip, 24);
        config.arp.entry_ttl = Duration::from_millis(100);
        Stack::new(config, t0).unwrap()
    });
    let mut sim = Simulation::new(vec![a, b], t0, Duration::from_millis(2), FaultConfig::default(), 25);
    let listener = sim.hosts[1].tcp_open();
    sim.hosts[1].tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).unwrap();
    sim.hosts[1].tcp_listen(listener, 8).unwrap();
    let client = sim.hosts[0].tcp_open();
    sim.hosts[0].tcp_connect(t0, client, SocketAddrV4::new(B, 80)).unwrap();
    let mut server = None;
    assert!(sim.run_until(Duration::from_secs(1), |s| {
        server = server.or_else(|| s.hosts[1].tcp_accept(listener).unwrap().map(|(id, _)| id));
        server.is_some() && s.hosts[0].tcp_state(client).unwrap() == crate::tcp::TcpState::Established
    }));
    let server = server.unwrap();
    let chunk = Sga::from_slice(&[7; 65536]).unwrap();
    let (mut slot, mut received) = (Sga::new(), 0);
    let end = sim.now() + Duration::from_millis(450);
    sim.run_until(Duration::from_secs(1), |s| {
        let now = s.now();
        s.hosts[0].tcp_send(now, client, &chunk).unwrap();
        while s.hosts[1].tcp_recv_into(server, usize::MAX, &mut slot).unwrap() == crate::tcp::RecvOutcome::Data {
            received += slot.len();
        }
        now >= end
    });
    assert!(received > 10 << 20, "{received} bytes");
    let (a, b) = (*sim.hosts[0].counters(), *sim.hosts[1].counters());
    assert_eq!((a.drop_arp_unresolved, b.drop_arp_unresolved), (0, 0), "{a:?}\n{b:?}");
    // Each side's entry went stale while in use and was polled; the answers kept them (a connection then
    // goes on with the entry it holds until the end of its grace, so there is one poll each here).
    assert!(a.arp_polls >= 1 && b.arp_polls >= 1, "{a:?}\n{b:?}");
    assert_eq!(a.arp_requests_out + b.arp_requests_out, 1, "only the first resolution broadcast");
    let tcp = sim.hosts[0].tcp_counters(client).unwrap();
    assert_eq!((tcp.retransmits, tcp.timeouts), (0, 0), "{tcp:?}");
}

#[test]
fn retransmission_timeouts_do_not_ask_about_a_static_entry() {
    // Static entries are the configuration's: no timeout makes the stack ask about them.
    let (mut sim, _listener, client) = tcp_pair_configured(FaultConfig::default(), 24, |config| {
        config.arp.static_entries = vec![(B, MAC_B), (A, MAC_A)];
    });
    // B takes another address, so A's SYNs go unanswered.
    sim.hosts[1] = Stack::new(StackConfig::new(MAC_B, Ipv4Addr::new(10, 0, 0, 99), 24), sim.now()).unwrap();
    assert!(!sim.run_until(Duration::from_secs(8), |s| s.hosts[0].tcp_state(client).unwrap()
        == crate::tcp::TcpState::Established));
    let counters = sim.hosts[0].tcp_counters(client).unwrap();
    assert!(counters.timeouts >= 3, "{counters:?}");
    let a = *sim.hosts[0].counters();
    assert_eq!((a.arp_revalidations, a.arp_requests_out), (0, 0), "{a:?}");
}

#[test]
fn an_ephemeral_port_held_by_a_connection_is_free_again_once_it_is_reaped() {
    // One ephemeral port: a second connect finds it held (the per-port connection count), until the first
    // connection is reset and reaped.
    let t0 = Instant::now();
    let mut config = StackConfig::new(MAC_A, A, 24);
    config.ephemeral_ports = 50000..=50000;
    let mut stack = Stack::new(config, t0).unwrap();
    let first = stack.tcp_open();
    stack.tcp_connect(t0, first, SocketAddrV4::new(B, 80)).unwrap();
    assert_eq!(stack.local_addr(first).unwrap().unwrap().port(), 50000);
    let second = stack.tcp_open();
    assert_eq!(stack.tcp_connect(t0, second, SocketAddrV4::new(B, 81)).unwrap_err().errno(), libc::EADDRINUSE);
    let linger0 = TcpSocketOptions { linger: Some(Duration::ZERO), ..Default::default() };
    stack.tcp_set_options(first, linger0).unwrap();
    stack.close(first).unwrap();
    stack.poll(t0);
    stack.tcp_connect(t0, second, SocketAddrV4::new(B, 81)).unwrap();
    assert_eq!(stack.local_addr(second).unwrap().unwrap().port(), 50000);
}

#[test]
fn a_segment_whose_ack_is_delayed_is_not_polled_but_acknowledged_on_time() {
    let (mut sim, client, server) = established_pair(21);
    let now = sim.now();
    sim.hosts[0].tcp_send(now, client, &Sga::from_slice(b"one small segment").unwrap()).unwrap();
    assert!(sim.run_until(Duration::from_secs(1), |s| s.hosts[1].readiness(server).unwrap().0));
    // The server owes only a delayed ACK: nothing to poll now, the timer is its next deadline.
    let (now, sent) = (sim.now(), sim.hosts[1].counters().tcp_out);
    let deadline = sim.hosts[1].next_deadline().expect("the delayed ACK is armed");
    assert!(deadline > now && deadline <= now + Duration::from_millis(40), "{deadline:?} vs {now:?}");
    assert!(sim.run_until(Duration::from_millis(60), |s| s.hosts[1].counters().tcp_out == sent + 1));
}

/// A flood of datagrams to a closed port is answered with at most `icmp_errors_per_second` port unreachables
/// per second (RFC 1812 §4.3.2.8), at least three quarters of it; the rest are counted, and the budget comes
/// back the next second.
#[test]
fn icmp_errors_are_rate_limited() {
    let t0 = Instant::now();
    let a = Stack::new(StackConfig::new(MAC_A, A, 24), t0).unwrap();
    let mut config = StackConfig::new(MAC_B, B, 24);
    config.icmp_errors_per_second = 8;
    config.udp_queue_len = 64;
    let b = Stack::new(config, t0).unwrap();
    let mut sim = Simulation::new(vec![a, b], t0, Duration::from_micros(10), FaultConfig::default(), 9);
    let client = bound_udp(&mut sim.hosts[0], 0);
    let closed = Some(SocketAddrV4::new(B, 9));
    let flood = |sim: &mut Simulation, n: usize| {
        for _ in 0..n {
            let now = sim.now();
            sim.hosts[0].udp_send(now, client, &Sga::from_slice(b"x").unwrap(), closed).unwrap();
        }
        sim.sleep(Duration::from_millis(10));
    };
    flood(&mut sim, 20);
    let first = *sim.hosts[1].counters();
    assert!((6..=8).contains(&first.icmp_unreachable_out), "{first:?}");
    assert_eq!(first.icmp_unreachable_out + first.icmp_errors_suppressed, 20, "{first:?}");
    sim.sleep(Duration::from_secs(1));
    flood(&mut sim, 3);
    let c = *sim.hosts[1].counters();
    assert_eq!(c.icmp_unreachable_out, first.icmp_unreachable_out + 3, "{c:?}");
    assert_eq!(c.icmp_errors_suppressed, first.icmp_errors_suppressed, "{c:?}");
}

#[test]
fn the_simulators_sleep_runs_the_events_due_in_it_and_no_later_one() {
    // B's ACK of a small segment waits for the 40 ms delayed-ACK timer: a 5 ms sleep ends at 5 ms, before it.
    let (mut sim, client, _server) = established_pair(26);
    let start = sim.now();
    sim.hosts[0].tcp_send(start, client, &Sga::from_slice(b"hello").unwrap()).unwrap();
    let acks_before = sim.hosts[0].tcp_counters(client).unwrap().segments_in;
    sim.sleep(Duration::from_millis(5));
    assert_eq!(sim.now() - start, Duration::from_millis(5));
    assert_eq!(sim.hosts[0].tcp_counters(client).unwrap().segments_in, acks_before, "the ACK is not due yet");
    sim.sleep(Duration::from_millis(40));
    assert_eq!(sim.now() - start, Duration::from_millis(45));
    assert_eq!(sim.hosts[0].tcp_counters(client).unwrap().segments_in, acks_before + 1, "now it came");
}
