//! SYN cookies through the demultiplexer: a listener whose backlog a flood of spoofed SYNs filled still lets a
//! real client in, with its options, while a forged ACK gets nothing but a RST.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use runtime::{DemiBuffer, Sga};

use super::*;
use crate::phy::{FaultConfig, Rng};
use crate::sim::{DropFilter, Simulation};
use crate::tcp::{EcnMode, RecvOutcome, TcpConfig, TcpState};
use crate::wire::{
    ChecksumCapabilities, EtherType, EthernetRepr, IpProtocol, Ipv4Repr, MacAddress, SeqNumber, TcpFlags, TcpOptions,
    TcpRepr, TcpTimestamps,
};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const SERVER_MAC: MacAddress = MacAddress([2, 0, 0, 0, 0, 2]);
const PORT: u16 = 80;
const BACKLOG: usize = 4;

/// A client (with TCP timestamps or not) and a server (listening on `PORT` with a backlog of `BACKLOG`, SYN
/// cookies as given).
fn hosts(syn_cookies: bool, client_timestamps: bool, seed: u64) -> (Simulation, SocketId) {
    hosts_with(syn_cookies, client_timestamps, seed, |_| {})
}

/// [`hosts`], with `tcp` changing both ends' TCP configuration.
fn hosts_with(
    syn_cookies: bool,
    client_timestamps: bool,
    seed: u64,
    tcp: fn(&mut TcpConfig),
) -> (Simulation, SocketId) {
    let t0 = Instant::now();
    let hosts = [(1, CLIENT), (2, SERVER)]
        .map(|(mac, ip)| {
            let mut config = StackConfig::new(MacAddress([2, 0, 0, 0, 0, mac]), ip, 24);
            config.syn_cookies = syn_cookies;
            config.isn_secret = seed;
            tcp(&mut config.tcp);
            config.tcp.timestamps = client_timestamps || ip == SERVER;
            Stack::new(config, t0).expect("stack")
        })
        .into();
    let mut sim = Simulation::new(hosts, t0, Duration::from_millis(1), FaultConfig::default(), seed);
    let listener = sim.hosts[1].tcp_open();
    sim.hosts[1].tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).expect("bind");
    sim.hosts[1].tcp_listen(listener, BACKLOG).expect("listen");
    (sim, listener)
}

/// `tcp` from `src` to the server, as a frame with valid checksums.
fn frame(src: Ipv4Addr, tcp: &TcpRepr<'_>) -> DemiBuffer {
    let caps = ChecksumCapabilities::software();
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: SERVER,
        protocol: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        ttl: 64,
        tos: 0,
        ident: 1,
        dont_fragment: true,
    };
    let mut bytes = vec![0u8; 14 + 20 + tcp.buffer_len()];
    EthernetRepr { src_addr: MacAddress([2, 0, 0, 0, 0, 0x77]), dst_addr: SERVER_MAC, ethertype: EtherType::Ipv4 }
        .emit(&mut bytes)
        .expect("ethernet");
    ip.emit(&mut bytes[14..], &caps).expect("ip");
    tcp.emit(&mut bytes[34..], src, SERVER, &caps).expect("tcp");
    DemiBuffer::from_slice(&bytes).expect("frame")
}

fn segment(src_port: u16, seq: u32, ack: Option<u32>, flags: TcpFlags, options: TcpOptions) -> TcpRepr<'static> {
    TcpRepr {
        src_port,
        dst_port: PORT,
        seq_number: SeqNumber(seq),
        ack_number: ack.map(SeqNumber),
        flags,
        window_len: 65535,
        urgent_pointer: 0,
        options,
        payload: &[],
    }
}

/// 200 SYNs with options from addresses that never answer (no ARP reply), straight into the server.
fn flood(sim: &mut Simulation) {
    let mut rng = Rng::new(7);
    let options = TcpOptions {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some(TcpTimestamps { value: 1, echo_reply: 0 }),
        ..TcpOptions::default()
    };
    let now = sim.now();
    for i in 0..200u32 {
        let src = Ipv4Addr::new(10, 0, 0, 100 + (i % 100) as u8);
        let syn = segment(1024 + rng.below(60_000) as u16, rng.next_u64() as u32, None, TcpFlags::SYN, options);
        sim.hosts[1].receive(now, frame(src, &syn));
    }
}

/// Connects the client and, if the server accepts it within `limit`, moves 1 MB each way; returns the server's
/// connection, the client's and how long connecting took.
fn connect_and_transfer(
    sim: &mut Simulation,
    listener: SocketId,
    limit: Duration,
) -> Option<(SocketId, SocketId, Duration)> {
    let start = sim.now();
    let client = sim.hosts[0].tcp_open();
    sim.hosts[0].tcp_connect(start, client, SocketAddrV4::new(SERVER, PORT)).expect("connect");
    let mut server = None;
    let connected = sim.run_until(limit, |s| {
        server = server.or_else(|| s.hosts[1].tcp_accept(listener).expect("accept").map(|(id, _)| id));
        server.is_some() && s.hosts[0].tcp_state(client).expect("state") == TcpState::Established
    });
    if !connected {
        return None;
    }
    let server = server.expect("accepted");
    let took = sim.now() - start;
    let data: Vec<u8> = (0..1_000_000).map(|i| (i % 251) as u8).collect();
    let (mut sent, mut got) = ([0usize; 2], [Vec::new(), Vec::new()]);
    let ends = [(0, client), (1, server)];
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        let now = s.now();
        for (side, (host, id)) in ends.into_iter().enumerate() {
            if sent[side] < data.len() {
                let chunk = Sga::from_slice(&data[sent[side]..(sent[side] + 65536).min(data.len())]).expect("sga");
                sent[side] += s.hosts[host].tcp_send(now, id, &chunk).expect("send");
            }
            let mut slot = Sga::new();
            while s.hosts[host].tcp_recv_into(id, usize::MAX, &mut slot).expect("recv") == RecvOutcome::Data {
                got[side].extend_from_slice(&slot.to_vec());
            }
        }
        got.iter().all(|g| g.len() == data.len())
    }));
    assert!(got.iter().all(|g| *g == data), "both ways intact");
    Some((server, client, took))
}

#[test]
fn a_real_client_gets_past_a_syn_flood_with_its_options() {
    let (mut sim, listener) = hosts(true, true, 1);
    flood(&mut sim);
    let counters = *sim.hosts[1].counters();
    assert_eq!(counters.tcp_syn_queue_full, 200 - BACKLOG as u64, "the backlog holds {BACKLOG} half-open");
    assert_eq!(counters.tcp_syn_cookies_sent, 200 - BACKLOG as u64);
    let (server, _, took) = connect_and_transfer(&mut sim, listener, Duration::from_secs(5)).expect("connected");
    assert!(took < Duration::from_millis(10), "one round trip, not a SYN retry: {took:?}");
    assert_eq!(sim.hosts[1].counters().tcp_syn_cookies_accepted, 1);
    // The options rode in the timestamps: the client's window is scaled past 64 KiB, SACK and timestamps agreed.
    let Ok(Socket::Tcp(TcpSocket::Connection(conn))) = sim.hosts[1].socket(server) else { panic!("connection") };
    assert!(conn.tcb.send_window() > 65_535, "window scaling kept: {}", conn.tcb.send_window());
    assert_eq!(conn.tcb.send_mss(), 1448, "MSS 1460 less the timestamps option");
}

#[test]
fn a_cookie_answers_a_request_for_accurate_ecn_with_classic_ecn_which_both_ends_then_use() {
    // The cookie keeps one ECN bit: its SYN-ACK can only say ECE (RFC 3168), which the client takes as such.
    let (mut sim, listener) = hosts_with(true, true, 9, |tcp| tcp.accurate_ecn = true);
    flood(&mut sim);
    let (server, client, _) = connect_and_transfer(&mut sim, listener, Duration::from_secs(5)).expect("connected");
    assert_eq!(sim.hosts[1].counters().tcp_syn_cookies_accepted, 1);
    for (host, id) in [(1, server), (0, client)] {
        let Ok(Socket::Tcp(TcpSocket::Connection(conn))) = sim.hosts[host].socket(id) else { panic!("connection") };
        assert_eq!(conn.tcb.ecn_mode(), EcnMode::Classic, "host {host}");
    }
    // Without the flood, the same two agree Accurate ECN.
    let (mut sim, listener) = hosts_with(true, true, 9, |tcp| tcp.accurate_ecn = true);
    let (server, _, _) = connect_and_transfer(&mut sim, listener, Duration::from_secs(5)).expect("connected");
    let Ok(Socket::Tcp(TcpSocket::Connection(conn))) = sim.hosts[1].socket(server) else { panic!("connection") };
    assert_eq!(conn.tcb.ecn_mode(), EcnMode::Accurate { sending: true });
}

#[test]
fn without_syn_cookies_the_flood_locks_the_client_out() {
    let (mut sim, listener) = hosts(false, true, 2);
    flood(&mut sim);
    assert_eq!(sim.hosts[1].counters().tcp_syn_cookies_sent, 0);
    assert!(connect_and_transfer(&mut sim, listener, Duration::from_secs(10)).is_none(), "its SYNs are dropped");
}

#[test]
fn an_ack_without_a_valid_cookie_opens_nothing() {
    let (mut sim, listener) = hosts(true, true, 3);
    flood(&mut sim);
    let now = sim.now();
    let mut rng = Rng::new(11);
    for _ in 0..100 {
        let guess = segment(40_000, 1000, Some(rng.next_u64() as u32), TcpFlags::empty(), TcpOptions::default());
        sim.hosts[1].receive(now, frame(CLIENT, &guess));
    }
    let counters = *sim.hosts[1].counters();
    assert_eq!((counters.tcp_syn_cookies_invalid, counters.tcp_syn_cookies_accepted), (100, 0));
    assert_eq!(counters.tcp_rst_out, 0, "dropped while cookies may be out, as Linux drops them");
    assert!(sim.hosts[1].tcp_accept(listener).expect("accept").is_none());
    // Once no cookie can still be valid, such an ACK gets the RST of a segment to no connection.
    sim.sleep(Duration::from_secs(130));
    let now = sim.now();
    let guess = segment(40_000, 1000, Some(12345), TcpFlags::empty(), TcpOptions::default());
    sim.hosts[1].receive(now, frame(CLIENT, &guess));
    let later = *sim.hosts[1].counters();
    assert_eq!((later.tcp_syn_cookies_invalid, later.tcp_rst_out - counters.tcp_rst_out), (100, 1));
}

#[test]
fn a_lost_ack_of_a_cookie_is_made_good_by_the_first_data_segment_resent() {
    // The client's third ACK and its first data segment are lost: its next segments cannot bring the cookie
    // back (their sequence numbers are past the ISN's next) and are dropped, not reset; the retransmission of
    // the first data segment does, and the connection is made.
    let (mut sim, listener) = hosts(true, true, 5);
    flood(&mut sim);
    let mut client_segments = 0;
    sim.drop_filter = Some(DropFilter(Box::new(move |from, bytes| {
        let tcp = from == 0 && bytes.len() > 34 && bytes[12..14] == [0x08, 0x00] && bytes[14 + 9] == 6;
        client_segments += usize::from(tcp);
        tcp && (client_segments == 2 || client_segments == 3)
    })));
    let start = sim.now();
    let client = sim.hosts[0].tcp_open();
    sim.hosts[0].tcp_connect(start, client, SocketAddrV4::new(SERVER, PORT)).expect("connect");
    assert!(
        sim.run_until(Duration::from_secs(1), |s| s.hosts[0].tcp_state(client).expect("state")
            == TcpState::Established)
    );
    let data: Vec<u8> = (0..5000).map(|i| (i % 251) as u8).collect();
    let now = sim.now();
    assert_eq!(sim.hosts[0].tcp_send(now, client, &Sga::from_slice(&data).expect("sga")).expect("send"), 5000);
    let (mut server, mut got) = (None, Vec::new());
    assert!(sim.run_until(Duration::from_secs(10), |s| {
        server = server.or_else(|| s.hosts[1].tcp_accept(listener).expect("accept").map(|(id, _)| id));
        let Some(server) = server else { return false };
        let mut slot = Sga::new();
        while s.hosts[1].tcp_recv_into(server, usize::MAX, &mut slot).expect("recv") == RecvOutcome::Data {
            got.extend_from_slice(&slot.to_vec());
        }
        got.len() == data.len()
    }));
    assert_eq!(got, data);
    let counters = *sim.hosts[1].counters();
    assert_eq!(counters.tcp_syn_cookies_accepted, 1, "{counters:?}");
    assert!(counters.tcp_syn_cookies_invalid > 0, "the later segments came first: {counters:?}");
    assert_eq!(counters.tcp_rst_out, 0, "{counters:?}");
    assert!(sim.hosts[0].tcp_error(client).expect("socket").is_none());
}

#[test]
fn a_cookie_makes_one_connection_not_a_second_from_a_late_duplicate_of_its_ack() {
    let (mut sim, listener) = hosts(true, true, 6);
    flood(&mut sim);
    // The client's third ACK, kept to be played again once the connection is gone.
    let mut client_segments = 0;
    let third_ack = std::rc::Rc::new(std::cell::RefCell::new(None));
    let kept = third_ack.clone();
    sim.drop_filter = Some(DropFilter(Box::new(move |from, bytes| {
        if from == 0 && bytes.len() > 34 && bytes[12..14] == [0x08, 0x00] && bytes[14 + 9] == 6 {
            client_segments += 1;
            if client_segments == 2 {
                *kept.borrow_mut() = Some(bytes.to_vec());
            }
        }
        false
    })));
    let (server, client, _) = connect_and_transfer(&mut sim, listener, Duration::from_secs(5)).expect("connected");
    // The client closes first, so the server's side ends in LAST-ACK and is forgotten (no TIME-WAIT).
    sim.hosts[0].close(client).expect("close");
    sim.sleep(Duration::from_millis(50));
    sim.hosts[1].close(server).expect("close");
    sim.sleep(Duration::from_secs(1));
    assert!(sim.hosts[1].socket(server).is_err(), "the server's connection is gone");
    let ack = third_ack.borrow().clone().expect("kept");
    let now = sim.now();
    sim.hosts[1].receive(now, DemiBuffer::from_slice(&ack).expect("frame"));
    let counters = *sim.hosts[1].counters();
    assert_eq!((counters.tcp_syn_cookies_accepted, counters.tcp_syn_cookies_invalid), (1, 1), "{counters:?}");
    assert!(sim.hosts[1].tcp_accept(listener).expect("accept").is_none());
}

#[test]
fn without_timestamps_a_cookie_keeps_only_the_mss() {
    // Nothing to carry the other options: the SYN-ACK offers no window scaling and no SACK, and the connection
    // runs without them (a window of at most 64 KiB).
    let (mut sim, listener) = hosts(true, false, 4);
    flood(&mut sim);
    let (server, _, _) = connect_and_transfer(&mut sim, listener, Duration::from_secs(5)).expect("connected");
    assert_eq!(sim.hosts[1].counters().tcp_syn_cookies_accepted, 1);
    let Ok(Socket::Tcp(TcpSocket::Connection(conn))) = sim.hosts[1].socket(server) else { panic!("connection") };
    assert!(conn.tcb.send_window() <= 65_535, "no window scaling: {}", conn.tcb.send_window());
    assert_eq!(conn.tcb.send_mss(), 1460);
}

#[test]
fn a_half_open_connection_from_a_repeated_syn_gives_way_to_the_cookie_its_first_syn_got() {
    // A listener with a backlog of one, full: the client's SYN gets a cookie. The slot then frees, and a repeat
    // of the client's SYN (the network's duplicate) makes a half-open connection with another ISS. The client's
    // segments acknowledge the cookie: a later one (which cannot bring the cookie back) is dropped, not reset, and
    // the one that brings it makes the connection in place of the half-open one.
    let t0 = Instant::now();
    let client_mac = MacAddress([2, 0, 0, 0, 0, 1]);
    let mut config = StackConfig::new(SERVER_MAC, SERVER, 24);
    config.arp.static_entries = vec![(CLIENT, client_mac), (Ipv4Addr::new(10, 0, 0, 100), client_mac)];
    config.isn_secret = 7;
    let mut server = Stack::new(config, t0).expect("stack");
    let listener = server.tcp_open();
    server.tcp_bind(listener, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).expect("bind");
    server.tcp_listen(listener, 1).expect("listen");
    let sent = |server: &mut Stack| {
        let mut capture = crate::sim::Capture::default();
        server.transmit(&mut capture);
        capture.0.iter().map(|frame| crate::device::flatten(frame).expect("frame").to_vec()).collect::<Vec<_>>()
    };
    let spoofed = Ipv4Addr::new(10, 0, 0, 100);
    let plain = TcpOptions { mss: Some(1460), ..TcpOptions::default() };
    server.receive(t0, frame(spoofed, &segment(1000, 5000, None, TcpFlags::SYN, plain)));
    sent(&mut server);
    server.receive(t0, frame(CLIENT, &segment(40_000, 9000, None, TcpFlags::SYN, plain)));
    let syn_ack = sent(&mut server).pop().expect("the cookie's SYN-ACK");
    let cookie = u32::from_be_bytes(syn_ack[38..42].try_into().unwrap());
    assert_eq!(server.counters().tcp_syn_cookies_sent, 1);
    // The spoofed handshake ends (a RST at its next sequence number), freeing the backlog.
    server.receive(t0, frame(spoofed, &segment(1000, 5001, None, TcpFlags::RST, TcpOptions::default())));
    server.poll(t0);
    sent(&mut server);
    // The repeated SYN: a half-open connection, with an ISS of its own.
    server.receive(t0, frame(CLIENT, &segment(40_000, 9000, None, TcpFlags::SYN, plain)));
    server.poll(t0);
    let half_open_syn_ack = sent(&mut server).pop().expect("the half-open connection's SYN-ACK");
    assert_ne!(u32::from_be_bytes(half_open_syn_ack[38..42].try_into().unwrap()), cookie);
    // A later segment of the client (its first one lost): dropped, not reset.
    let data = [7u8; 100];
    let later = TcpRepr { payload: &data, ..segment(40_000, 9101, Some(cookie + 1), TcpFlags::empty(), plain) };
    server.receive(t0, frame(CLIENT, &TcpRepr { options: TcpOptions::default(), ..later }));
    server.poll(t0);
    assert!(sent(&mut server).iter().all(|f| f[47] & 0x04 == 0), "no RST");
    // The one that brings the cookie back.
    let first = TcpRepr { payload: &data, ..segment(40_000, 9001, Some(cookie + 1), TcpFlags::empty(), plain) };
    server.receive(t0, frame(CLIENT, &TcpRepr { options: TcpOptions::default(), ..first }));
    server.poll(t0);
    assert!(sent(&mut server).iter().all(|f| f[47] & 0x04 == 0), "no RST");
    let (id, peer) = server.tcp_accept(listener).expect("accept").expect("the cookie's connection");
    assert_eq!(peer, SocketAddrV4::new(CLIENT, 40_000));
    let got = server.tcp_recv(id, 1000).expect("recv").expect("data");
    assert_eq!(got.to_vec(), data);
    assert_eq!(server.counters().tcp_syn_cookies_accepted, 1);
}
