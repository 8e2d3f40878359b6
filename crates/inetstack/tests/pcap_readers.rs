//! The pcap files `PcapSink` writes, read by the real readers: tcpdump and Wireshark's tshark decode a capture
//! of two stacks talking in the simulator (ARP, a TCP connection with options, data both ways, an orderly close,
//! a UDP datagram to a closed port and the ICMP error it draws, a UDP datagram in fragments one of which is lost
//! and the time-exceeded error that draws), find every frame, and verify every checksum;
//! Wireshark's TCP analysis finds nothing to warn about (no retransmission, hole or duplicate: it found a
//! loss probe chasing its flight and a message's tail resent for want of an ACK, both fixed).
//!
//! Without the readers installed the tests say so and pass, unless `INETSTACK_PCAP_READERS=required`, which
//! `ci/test.sh` sets after installing them: there a missing reader fails.

use std::cell::Cell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use inetstack::phy::{FaultConfig, PcapSink};
use inetstack::sim::Simulation;
use inetstack::stack::{Stack, StackConfig};
use inetstack::tcp::{RecvOutcome, TcpState};
use inetstack::wire::MacAddress;
use runtime::Sga;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 80;
const CLOSED_PORT: u16 = 9999;
const REQUEST: usize = 5000;
const RESPONSE: usize = 300;
const SECOND_REQUEST: usize = 2000;
/// A UDP datagram sent in three fragments.
const FRAGMENTED: usize = 4000;
/// Where the capture's clock starts (2023-11-14): records carry virtual time from here.
const EPOCH: Duration = Duration::from_secs(1_700_000_000);

/// What the capture holds, counted from the simulator's record of the wire.
struct Capture {
    path: PathBuf,
    frames: usize,
    tcp_segments: usize,
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn host(mac: u8, ip: Ipv4Addr, t0: Instant) -> Stack {
    Stack::new(StackConfig::new(MacAddress([2, 0, 0, 0, 0, mac]), ip, 24), t0).expect("stack")
}

/// Reads everything `id` has until `want` bytes arrived.
fn read(sim: &mut Simulation, host: usize, id: inetstack::stack::SocketId, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut slot = Sga::new();
    assert!(
        sim.run_until(Duration::from_secs(5), |s| {
            while s.hosts[host].tcp_recv_into(id, usize::MAX, &mut slot).expect("recv") == RecvOutcome::Data {
                got.extend_from_slice(&slot.to_vec());
            }
            got.len() >= want
        }),
        "{want} bytes did not arrive"
    );
    got
}

fn send(sim: &mut Simulation, host: usize, id: inetstack::stack::SocketId, data: &[u8]) {
    let now = sim.now();
    let sga = Sga::from_slice(data).expect("sga");
    assert_eq!(sim.hosts[host].tcp_send(now, id, &sga).expect("send"), data.len());
}

/// Runs the exchange in the simulator and writes every frame put on the wire to a pcap file.
fn capture(name: &str) -> Capture {
    let t0 = Instant::now();
    let hosts = vec![host(1, CLIENT, t0), host(2, SERVER, t0)];
    let mut sim = Simulation::new(hosts, t0, Duration::from_micros(100), FaultConfig::default(), 1).record_frames();
    let listener = sim.hosts[1].tcp_open();
    sim.hosts[1].tcp_bind(listener, SocketAddrV4::new(SERVER, PORT)).expect("bind");
    sim.hosts[1].tcp_listen(listener, 4).expect("listen");
    let client = sim.hosts[0].tcp_open();
    let now = sim.now();
    sim.hosts[0].tcp_connect(now, client, SocketAddrV4::new(SERVER, PORT)).expect("connect");
    let mut server = None;
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        server = server.or_else(|| s.hosts[1].tcp_accept(listener).expect("accept").map(|(id, _)| id));
        server.is_some() && s.hosts[0].tcp_state(client).expect("state") == TcpState::Established
    }));
    let server = server.expect("accepted");

    let request: Vec<u8> = (0..REQUEST).map(|i| (i % 251) as u8).collect();
    send(&mut sim, 0, client, &request);
    assert_eq!(read(&mut sim, 1, server, REQUEST), request);
    let response = vec![0x5a; RESPONSE];
    send(&mut sim, 1, server, &response);
    assert_eq!(read(&mut sim, 0, client, RESPONSE), response);
    // A message of one full and one partial segment, read 5 ms after it arrives: its ACK must not wait for
    // the delayed-ACK timer, or the sender's loss probe resends the partial segment (a retransmission tshark
    // reports).
    let second: Vec<u8> = (0..SECOND_REQUEST).map(|i| (i % 7) as u8).collect();
    send(&mut sim, 0, client, &second);
    sim.sleep(Duration::from_millis(5));
    assert_eq!(read(&mut sim, 1, server, SECOND_REQUEST), second);

    let udp = sim.hosts[0].udp_open();
    sim.hosts[0].udp_bind(udp, SocketAddrV4::new(CLIENT, 40000)).expect("udp bind");
    let now = sim.now();
    let datagram = Sga::from_slice(b"anyone there?").expect("sga");
    sim.hosts[0].udp_send(now, udp, &datagram, Some(SocketAddrV4::new(SERVER, CLOSED_PORT))).expect("udp send");
    sim.sleep(Duration::from_millis(10));
    // Three fragments, the last lost: 30 s later the server gives the datagram up and says so.
    let mut fragments = 0;
    sim.drop_filter = Some(inetstack::sim::DropFilter(Box::new(move |_, bytes| {
        let fragment = bytes[12..14] == [8, 0] && (bytes[20] & 0x3f != 0 || bytes[21] != 0);
        fragments += usize::from(fragment);
        fragment && fragments == 3
    })));
    let now = sim.now();
    let big = Sga::from_slice(&[0x11; FRAGMENTED]).expect("sga");
    sim.hosts[0].udp_send(now, udp, &big, Some(SocketAddrV4::new(SERVER, CLOSED_PORT))).expect("udp send");
    sim.sleep(Duration::from_secs(31));
    sim.drop_filter = None;
    assert_eq!(sim.hosts[1].counters().icmp_time_exceeded_out, 1);

    sim.hosts[0].close(client).expect("close");
    sim.sleep(Duration::from_millis(10));
    sim.hosts[1].close(server).expect("close");
    sim.sleep(Duration::from_millis(10));

    let recorded = sim.recorded.take().expect("recording");
    let tcp_segments = recorded.iter().filter(|(_, _, bytes)| bytes[12..14] == [8, 0] && bytes[23] == 6).count();
    let path = std::env::temp_dir().join(format!("inetstack-{name}-{}.pcap", std::process::id()));
    let clock = Rc::new(Cell::new(EPOCH));
    let stamp = Rc::clone(&clock);
    let file = std::fs::File::create(&path).expect("pcap file");
    let mut sink = PcapSink::new(Box::new(file), Box::new(move || stamp.get())).expect("pcap header");
    for (at, _, bytes) in &recorded {
        clock.set(EPOCH + at.duration_since(t0));
        sink.record(&[bytes]);
    }
    Capture { path, frames: recorded.len(), tcp_segments }
}

/// The reader `name` if installed; without it, a failure when `INETSTACK_PCAP_READERS=required`, else `None`.
fn reader(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        let required = std::env::var("INETSTACK_PCAP_READERS").is_ok_and(|v| v == "required");
        assert!(!required, "{name} is not installed and INETSTACK_PCAP_READERS=required");
        eprintln!("skipped: {name} is not installed (ci/test.sh installs it)");
    }
    found
}

/// Runs `program` with `args` and the capture's path last; returns its standard output, failing on an error.
fn run(program: &Path, args: &[&str], capture: &Capture) -> String {
    let output = Command::new(program).args(args).arg(&capture.path).output().expect("run the reader");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{} failed: {stderr}", program.display());
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn tcpdump_decodes_every_frame_and_finds_every_checksum_correct() {
    let Some(tcpdump) = reader("tcpdump") else { return };
    let capture = capture("tcpdump");
    let lines = run(&tcpdump, &["-nn", "-r"], &capture);
    let packets: Vec<&str> = lines.lines().collect();
    assert_eq!(packets.len(), capture.frames, "one line per frame:\n{lines}");
    let expect = [
        "ARP, Request who-has 10.0.0.2 tell 10.0.0.1",
        "ARP, Reply 10.0.0.2 is-at 02:00:00:00:00:02",
        "10.0.0.1.49152 > 10.0.0.2.80: Flags [S], seq",
        "10.0.0.2.80 > 10.0.0.1.49152: Flags [S.], seq",
        "options [mss 1460,sackOK,TS val",
        "10.0.0.1.49152 > 10.0.0.2.80: Flags [P.]",
        "10.0.0.2.80 > 10.0.0.1.49152: Flags [P.]",
        "10.0.0.1.49152 > 10.0.0.2.80: Flags [F.]",
        "10.0.0.2.80 > 10.0.0.1.49152: Flags [F.]",
        "10.0.0.1.40000 > 10.0.0.2.9999: UDP, length 13",
        "ICMP 10.0.0.2 udp port 9999 unreachable",
        "ICMP ip reassembly time exceeded",
    ];
    for text in expect {
        assert!(lines.contains(text), "tcpdump did not print {text:?}:\n{lines}");
    }
    // With -vv tcpdump verifies the IPv4 header checksum ("bad cksum" if wrong) and the TCP and UDP checksums
    // ("(correct)" or "(incorrect -> ...)").
    let verbose = run(&tcpdump, &["-nn", "-vv", "-r"], &capture);
    for bad in ["bad cksum", "incorrect", "truncated", "malformed"] {
        assert!(!verbose.contains(bad), "tcpdump reports {bad:?}:\n{verbose}");
    }
    let correct = verbose.matches("(correct)").count();
    assert_eq!(correct, capture.tcp_segments, "every TCP checksum verified:\n{verbose}");
    assert!(verbose.contains("10.0.0.1.40000 > 10.0.0.2.9999: [udp sum ok] UDP"), "UDP checksum:\n{verbose}");
}

#[test]
fn wireshark_decodes_every_frame_without_an_error_or_a_tcp_analysis_warning() {
    let Some(tshark) = reader("tshark") else { return };
    let capture = capture("tshark");
    let checks = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"];
    let mut args = checks.to_vec();
    args.extend(["-T", "fields", "-e", "frame.number", "-e", "_ws.col.Protocol", "-r"]);
    let frames = run(&tshark, &args, &capture);
    assert_eq!(frames.lines().count(), capture.frames, "every frame decoded:\n{frames}");
    let protocols: Vec<&str> = frames.lines().filter_map(|line| line.split('\t').nth(1)).collect();
    for protocol in ["ARP", "TCP", "UDP", "ICMP"] {
        assert!(protocols.contains(&protocol), "no {protocol} frame:\n{frames}");
    }
    // Malformed frames, bad checksums and TCP analysis problems (lost or unseen segments, retransmissions,
    // window violations) are all expert items of warning or error severity; a clean exchange has none.
    let mut args = checks.to_vec();
    args.extend(["-Y", "_ws.malformed || _ws.expert.severity >= \"Warning\"", "-r"]);
    let flagged = run(&tshark, &args, &capture);
    assert!(flagged.is_empty(), "tshark flags frames:\n{flagged}");
}
