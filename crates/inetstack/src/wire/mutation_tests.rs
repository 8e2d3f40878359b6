//! Robustness without cargo-fuzz: thousands of mutated and random byte strings through every parser, checking
//! that nothing panics and that whatever parses survives emit-then-parse unchanged.
//!
//! Deterministic (a fixed-seed xorshift), so a failure reproduces; the fuzz targets in `fuzz/` explore further.

use super::dissect::{Frame, FrameContents, Ipv4Datagram, Transport, check_frame_round_trip, check_ipv4_round_trip};
use super::samples;
use super::*;

/// Marsaglia's xorshift64: enough randomness for mutation, no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

fn seed_frames() -> Vec<Vec<u8>> {
    vec![
        samples::ethernet_frame(EtherType::Arp, &samples::ARP_REQUEST),
        samples::ethernet_frame(EtherType::Ipv4, &samples::TCP_SYN),
        samples::ethernet_frame(EtherType::Ipv4, &samples::ICMP_ECHO_REQUEST),
        samples::ethernet_frame(EtherType::Ipv4, &samples::DNS_QUERY),
        samples::ethernet_frame(EtherType::Ipv4, &samples::PORT_UNREACHABLE),
    ]
}

/// One random edit: flip bits, overwrite a byte with an edge value, truncate, extend, or splice.
fn mutate(rng: &mut XorShift, input: &mut Vec<u8>) {
    let at = rng.below(input.len());
    match rng.below(6) {
        0 if !input.is_empty() => input[at] ^= 1 << rng.below(8),
        1 if !input.is_empty() => input[at] = [0x00, 0x01, 0x02, 0x05, 0x0f, 0x7f, 0x80, 0xff][rng.below(8)],
        2 => input.truncate(at),
        3 => input.extend((0..rng.below(16)).map(|_| rng.byte())),
        4 if !input.is_empty() => input[at] = rng.byte(),
        _ => input.insert(at, rng.byte()),
    }
}

/// Calls every getter of every view `bytes` can be read as; they must not panic.
fn exercise_views(bytes: &[u8]) {
    if let Ok(frame) = EthernetFrame::new_checked(bytes) {
        let _ = (frame.dst_addr(), frame.src_addr(), frame.ethertype(), frame.payload().len());
    }
    if let Ok(arp) = ArpPacket::new_checked(bytes) {
        let _ = (arp.hardware_type(), arp.protocol_type(), arp.hardware_len(), arp.protocol_len(), arp.operation());
        let _ = (arp.sender_hardware_addr(), arp.sender_protocol_addr());
        let _ = (arp.target_hardware_addr(), arp.target_protocol_addr());
    }
    if let Ok(ip) = Ipv4Packet::new_checked(bytes) {
        let _ = (ip.version(), ip.header_len(), ip.tos(), ip.total_len(), ip.ident(), ip.is_fragment());
        let _ = (ip.ttl(), ip.protocol(), ip.checksum(), ip.src_addr(), ip.dst_addr(), ip.options().len());
        let _ = (ip.verify_checksum(), ip.payload().len(), ip.dont_fragment());
    }
    if let Ok(icmp) = Icmpv4Packet::new_checked(bytes) {
        let _ = (icmp.msg_type(), icmp.msg_code(), icmp.checksum(), icmp.echo_ident(), icmp.echo_seq_no());
        let _ = (icmp.verify_checksum(), icmp.data().len());
        let _ = Icmpv4Repr::parse(&icmp, &ChecksumCapabilities::offloaded());
    }
    let (src, dst) = (std::net::Ipv4Addr::new(10, 0, 0, 1), std::net::Ipv4Addr::new(10, 0, 0, 2));
    if let Ok(udp) = UdpPacket::new_checked(bytes) {
        let _ = (udp.src_port(), udp.dst_port(), udp.len(), udp.checksum(), udp.payload().len());
        let _ = udp.verify_checksum(src, dst);
    }
    if let Ok(tcp) = TcpPacket::new_checked(bytes) {
        let _ = (tcp.src_port(), tcp.dst_port(), tcp.seq_number(), tcp.ack_number(), tcp.flags());
        let _ = (tcp.window_len(), tcp.checksum(), tcp.urgent_pointer(), tcp.segment_len());
        let _ = (tcp.verify_checksum(src, dst), TcpOptionIter::new(tcp.options()).count());
        let _ = TcpRepr::parse(&tcp, src, dst, &ChecksumCapabilities::offloaded());
    }
    let _ = TcpOptions::parse(bytes);
}

/// Everything a fuzz target would do with one input.
fn exercise(bytes: &[u8]) {
    exercise_views(bytes);
    for caps in [ChecksumCapabilities::software(), ChecksumCapabilities::offloaded()] {
        let _ = check_frame_round_trip(bytes, &caps);
        let _ = check_ipv4_round_trip(bytes, &caps);
        if let Some(ip_payload) = bytes.get(ETHERNET_HEADER_LEN..) {
            let _ = check_ipv4_round_trip(ip_payload, &caps);
        }
    }
}

#[test]
fn seeds_parse_and_round_trip() {
    for frame in seed_frames() {
        check_frame_round_trip(&frame, &ChecksumCapabilities::software()).expect("a sample must parse");
    }
    for datagram in
        [&samples::TCP_SYN[..], &samples::ICMP_ECHO_REQUEST, &samples::DNS_QUERY, &samples::PORT_UNREACHABLE]
    {
        check_ipv4_round_trip(datagram, &ChecksumCapabilities::software()).expect("a sample must parse");
    }
}

#[test]
fn every_truncation_of_every_sample_is_an_error_not_a_panic() {
    for frame in seed_frames() {
        for len in 0..frame.len() {
            let is_padded_arp = frame[12..14] == [0x08, 0x06] && len >= ETHERNET_HEADER_LEN + ARP_PACKET_LEN;
            let result = Frame::parse(&frame[..len], &ChecksumCapabilities::offloaded());
            assert_eq!(result.is_ok(), is_padded_arp, "len {len} of {frame:02x?}");
            exercise(&frame[..len]);
        }
    }
}

#[test]
fn mutated_samples_never_panic_and_round_trip() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let seeds = seed_frames();
    let mut parsed_deep = 0;
    for iteration in 0..6000 {
        let mut input = seeds[iteration % seeds.len()].clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut input);
        }
        exercise(&input);
        if let Ok(Frame { contents: FrameContents::Ipv4(Ipv4Datagram { transport, .. }), .. }) =
            Frame::parse(&input, &ChecksumCapabilities::offloaded())
            && !matches!(transport, Transport::Other { .. })
        {
            parsed_deep += 1;
        }
    }
    // Most mutations keep the frame parseable down to the transport layer; if none did, the test tests nothing.
    assert!(parsed_deep > 1000, "only {parsed_deep} mutated frames parsed to the transport layer");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    for _ in 0..3000 {
        let len = rng.below(128);
        let mut input: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        // Make some of them look like IPv4 and TCP to get past the first checks.
        if len > 34 && rng.below(2) == 0 {
            input[12..14].copy_from_slice(&[0x08, 0x00]);
            input[14] = 0x45;
        }
        exercise(&input);
    }
}

#[test]
fn largest_datagram_whose_options_grow_when_reencoded_is_not_a_failure() {
    // A 65535-byte TCP/IPv4 datagram whose options (SACK-permitted, one SACK block) are packed into 12 bytes;
    // our aligned layout takes 16, so the re-emitted datagram cannot fit and emit says so.
    let options = [4u8, 2, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2];
    let mut datagram = vec![0u8; IPV4_MAX_DATAGRAM_LEN];
    datagram[..20].copy_from_slice(&samples::TCP_SYN[..20]);
    datagram[2..4].copy_from_slice(&u16::MAX.to_be_bytes());
    datagram[20..40].copy_from_slice(&samples::TCP_SYN[20..40]);
    datagram[32] = 8 << 4;
    datagram[40..52].copy_from_slice(&options);
    let offloaded = ChecksumCapabilities::offloaded();
    let parsed = Ipv4Datagram::parse(&datagram, &offloaded).expect("valid with checksums offloaded");
    let mut out = vec![0u8; parsed.buffer_len()];
    assert_eq!(parsed.emit(&mut out, &offloaded), Err(WireError::TooLarge));
    assert_eq!(check_ipv4_round_trip(&datagram, &offloaded), Ok(()));
}

#[test]
fn fuzz_seed_corpus_is_valid_and_round_trips() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let read_dir = |target: &str| {
        let dir = std::fs::read_dir(seeds.join(target)).expect("seed directory exists");
        dir.map(|entry| std::fs::read(entry.expect("readable entry").path()).expect("readable seed"))
            .collect::<Vec<_>>()
    };
    let software = ChecksumCapabilities::software();
    let frames = read_dir("ethernet_frame");
    assert!(frames.len() >= 6);
    for frame in frames {
        check_frame_round_trip(&frame, &software).expect("an Ethernet seed parses with checksums");
    }
    for datagram in read_dir("ipv4_datagram") {
        check_ipv4_round_trip(&datagram, &software).expect("an IPv4 seed parses with checksums");
    }
}
