//! [`TcpFrame`]: one pass over the headers of the common received frame — Ethernet II, IPv4 without options and
//! not a fragment, TCP with no options or the usual timestamps / SACK layout ([`TcpOptions::parse_common`]) —
//! reading every field at its fixed offset and verifying both checksums as the device's capabilities say. It is
//! the receive side's mirror of the output side's header template.
//!
//! Any other frame gives `None` and goes to the layered parsers ([`EthernetRepr`], [`Ipv4Repr`], [`TcpRepr`]),
//! which stay the reference: for every frame this accepts they produce the same fields and the same verdicts (a
//! test checks it), so a caller may take either.
//!
//! [`EthernetRepr`]: super::EthernetRepr
//! [`Ipv4Repr`]: super::Ipv4Repr

use std::net::Ipv4Addr;

use super::checksum::{fold, ones_complement_sum, ones_complement_sum_20, sum_is_valid};
use super::field::{read_u16, read_u32};
use super::{
    ChecksumCapabilities, ETHERNET_HEADER_LEN, EtherType, EthernetFrame, EthernetRepr, IPV4_MIN_HEADER_LEN, IpProtocol,
    Ipv4Packet, Ipv4Repr, MacAddress, SeqNumber, TCP_MIN_HEADER_LEN, TcpFlags, TcpOptions, TcpPacket, TcpRepr,
};

/// Where the IPv4 header starts.
const IP: usize = ETHERNET_HEADER_LEN;
/// Where the TCP header starts (the IPv4 header has no options).
const TCP: usize = IP + IPV4_MIN_HEADER_LEN;
/// Ethernet, IPv4 and TCP headers without options.
const FIXED_LEN: usize = TCP + TCP_MIN_HEADER_LEN;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
/// Version 4, header length 5 words.
const VERSION_4_NO_OPTIONS: u8 = 0x45;
const PROTOCOL_TCP: u8 = 6;
/// More Fragments and the fragment offset.
const FRAGMENT_BITS: u16 = 0x3fff;

/// A received TCP segment in the common layout, its headers parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFrame<'a> {
    pub dst_mac: MacAddress,
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    /// The IP header's ECN field (RFC 3168 §5: the TOS byte's low two bits).
    pub ecn: u8,
    /// The segment; its payload borrows the frame, cut at the IPv4 total length (no Ethernet padding).
    pub tcp: TcpRepr<'a>,
    /// Where the payload starts in the frame.
    pub payload_offset: usize,
}

impl<'a> TcpFrame<'a> {
    /// The frame's headers, if it is a TCP segment in the common layout with valid checksums (those `caps`
    /// leaves to software), and not a SYN without ACK; `None` for anything else, whatever the bytes.
    #[inline]
    pub fn parse(frame: &'a [u8], caps: &ChecksumCapabilities) -> Option<Self> {
        let head: &[u8; FIXED_LEN] = frame.first_chunk()?;
        if head[12..14] != ETHERTYPE_IPV4 || head[IP] != VERSION_4_NO_OPTIONS || head[IP + 9] != PROTOCOL_TCP {
            return None;
        }
        if read_u16(head, IP + 6) & FRAGMENT_BITS != 0 {
            return None;
        }
        let total_len = usize::from(read_u16(head, IP + 2));
        let segment = frame.get(TCP..IP + total_len)?;
        let header_len = usize::from(head[TCP + 12] >> 4) * 4;
        if header_len < TCP_MIN_HEADER_LEN || header_len > segment.len() {
            return None;
        }
        if caps.ipv4.verify_on_rx() && !sum_is_valid(ones_complement_sum_20(head[IP..].first_chunk()?)) {
            return None;
        }
        if caps.tcp.verify_on_rx() {
            // The pseudo-header (addresses, protocol, TCP length) as 16-bit words, then the segment.
            let word = |at: usize| u32::from(read_u16(head, at));
            let addresses = word(IP + 12) + word(IP + 14) + word(IP + 16) + word(IP + 18);
            let sum =
                addresses + u32::from(PROTOCOL_TCP) + segment.len() as u32 + u32::from(ones_complement_sum(segment));
            if !sum_is_valid(fold(sum)) {
                return None;
            }
        }
        let options = TcpOptions::parse_common(&segment[TCP_MIN_HEADER_LEN..header_len])?;
        let flags = TcpFlags::from_header(head[TCP + 12], head[TCP + 13]);
        // A SYN without ACK opens a connection (or may reopen one from TIME-WAIT): never the common case.
        if flags.syn() && !flags.ack() {
            return None;
        }
        let address = |at: usize| Ipv4Addr::from(read_u32(head, at));
        Some(Self {
            // Copied as one 6-byte block: built byte by byte, the address was stored in narrow pieces that
            // the comparison's wider loads then waited on (a store-forwarding stall; the hottest line once).
            dst_mac: MacAddress(*head.first_chunk::<6>()?),
            src_addr: address(IP + 12),
            dst_addr: address(IP + 16),
            ecn: head[IP + 1] & 0b11,
            tcp: TcpRepr {
                src_port: read_u16(head, TCP),
                dst_port: read_u16(head, TCP + 2),
                seq_number: SeqNumber(read_u32(head, TCP + 4)),
                ack_number: flags.ack().then(|| SeqNumber(read_u32(head, TCP + 8))),
                flags: flags.without(TcpFlags::ACK),
                window_len: read_u16(head, TCP + 14),
                urgent_pointer: read_u16(head, TCP + 18),
                options,
                payload: &segment[header_len..],
            },
            payload_offset: TCP + header_len,
        })
    }
}

impl TcpFrame<'_> {
    /// Test support: whether the one-pass parse accepts `bytes`; when it does, the layered parsers must accept
    /// them too and find the same fields, else this panics (what tests and the `ethernet_frame` fuzz target want
    /// to hear about).
    #[doc(hidden)]
    pub fn check_against_layered(bytes: &[u8], caps: &ChecksumCapabilities) -> bool {
        let Some(fast) = TcpFrame::parse(bytes, caps) else { return false };
        let (dst_mac, src_addr, dst_addr, ecn, tcp, payload_offset) =
            layered(bytes, caps).unwrap_or_else(|| panic!("the layered parsers refused {bytes:02x?}"));
        let layered = TcpFrame { dst_mac, src_addr, dst_addr, ecn, tcp, payload_offset };
        assert_eq!(fast, layered, "the one-pass parse disagrees with the layered parsers");
        true
    }
}

/// What the layered parsers make of `bytes`: (destination MAC, addresses, ECN field, segment, payload offset).
fn layered<'a>(
    bytes: &'a [u8],
    caps: &ChecksumCapabilities,
) -> Option<(MacAddress, Ipv4Addr, Ipv4Addr, u8, TcpRepr<'a>, usize)> {
    let ethernet = EthernetRepr::parse(&EthernetFrame::new_checked(bytes).ok()?).ok()?;
    if ethernet.ethertype != EtherType::Ipv4 {
        return None;
    }
    let view = Ipv4Packet::new_checked(&bytes[IP..]).ok()?;
    let ip = Ipv4Repr::parse(&view, caps).ok()?;
    if ip.protocol != IpProtocol::Tcp {
        return None;
    }
    let start = IP + view.header_len();
    let packet = TcpPacket::new_checked(&bytes[start..start + ip.payload_len]).ok()?;
    let tcp = TcpRepr::parse(&packet, ip.src_addr, ip.dst_addr, caps).ok()?;
    Some((ethernet.dst_addr, ip.src_addr, ip.dst_addr, ip.tos & 0b11, tcp, start + packet.header_len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{EtherType, EthernetRepr, IpProtocol, Ipv4Repr, SackBlock, SackBlocks, TcpTimestamps};

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// splitmix64, for reproducible mutations.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// A frame as the layered emitters write it, with `padding` bytes of Ethernet padding after the datagram.
    fn frame(tcp: &TcpRepr<'_>, ident: u16, padding: usize) -> Vec<u8> {
        let caps = ChecksumCapabilities::software();
        let ip = Ipv4Repr {
            src_addr: SRC,
            dst_addr: DST,
            protocol: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            ttl: 64,
            tos: 0,
            ident,
            dont_fragment: ident % 2 == 0,
        };
        let mut out = vec![0u8; ETHERNET_HEADER_LEN + ip.total_len() + padding];
        let ethernet = EthernetRepr {
            src_addr: MacAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: MacAddress([2, 0, 0, 0, 0, 2]),
            ethertype: EtherType::Ipv4,
        };
        ethernet.emit(&mut out).unwrap();
        ip.emit(&mut out[IP..], &caps).unwrap();
        tcp.emit(&mut out[TCP..], SRC, DST, &caps).unwrap();
        out
    }

    fn segments() -> Vec<(TcpRepr<'static>, &'static str)> {
        let timestamps = Some(TcpTimestamps { value: 0xdead_beef, echo_reply: 42 });
        let blocks = |n: usize| {
            let all: Vec<SackBlock> = (0..n as u32)
                .map(|i| SackBlock { left: SeqNumber(1000 * i + 1), right: SeqNumber(1000 * i + 500) })
                .collect();
            SackBlocks::from_slice(&all).unwrap()
        };
        let base = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq_number: SeqNumber(0x1234_5678),
            ack_number: Some(SeqNumber(0x9abc_def0)),
            flags: TcpFlags::PSH,
            window_len: 4321,
            urgent_pointer: 0,
            options: TcpOptions::default(),
            payload: b"",
        };
        let mut out = Vec::new();
        for payload in [&b""[..], b"x", b"hello, world", &[0xa5; 1448]] {
            for options in [
                TcpOptions::default(),
                TcpOptions { timestamps, ..TcpOptions::default() },
                TcpOptions { timestamps, sack_blocks: blocks(1), ..TcpOptions::default() },
                TcpOptions { timestamps, sack_blocks: blocks(3), ..TcpOptions::default() },
                TcpOptions { sack_blocks: blocks(4), ..TcpOptions::default() },
            ] {
                let payload: &'static [u8] = Box::leak(payload.to_vec().into_boxed_slice());
                out.push((TcpRepr { options, payload, ..base }, "common"));
            }
            let syn = TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps,
                ..TcpOptions::default()
            };
            out.push((
                TcpRepr { flags: TcpFlags::SYN, ack_number: None, options: syn, payload: b"", ..base },
                "SYN options",
            ));
            out.push((TcpRepr { flags: TcpFlags::FIN | TcpFlags::RST, urgent_pointer: 9, ..base }, "common"));
        }
        out
    }

    /// Every frame the one-pass parse accepts, the layered parsers accept with the same fields: the common frames
    /// as written, and thousands of mutations of them (flipped bytes, cut or padded lengths), checksums verified
    /// or not.
    #[test]
    fn agrees_with_the_layered_parsers() {
        let mut rng = Rng(7);
        let mut accepted = 0;
        for caps in [ChecksumCapabilities::software(), ChecksumCapabilities::offloaded()] {
            for (i, (segment, kind)) in segments().into_iter().enumerate() {
                let clean = frame(&segment, i as u16, i % 3 * 5);
                let parsed = TcpFrame::parse(&clean, &caps);
                assert_eq!(parsed.is_some(), kind == "common", "{kind} segment {i}: {segment:?}");
                for round in 0..400 {
                    let mut bytes = clean.clone();
                    if round > 0 {
                        for _ in 0..1 + rng.below(3) {
                            let at = rng.below(bytes.len());
                            bytes[at] =
                                if rng.below(2) == 0 { bytes[at] ^ (1 << rng.below(8)) } else { rng.next() as u8 };
                        }
                        match rng.below(6) {
                            0 => bytes.truncate(rng.below(bytes.len() + 1)),
                            1 => bytes.extend((0..rng.below(20)).map(|_| rng.next() as u8)),
                            _ => {}
                        }
                    }
                    if TcpFrame::check_against_layered(&bytes, &caps) {
                        accepted += 1;
                    }
                }
            }
        }
        assert!(accepted > 1000, "enough accepted frames compared ({accepted})");
    }

    #[test]
    fn refuses_what_is_not_the_common_layout() {
        let caps = ChecksumCapabilities::software();
        let (segment, _) = segments()[1];
        let clean = frame(&segment, 2, 0);
        assert!(TcpFrame::parse(&clean, &caps).is_some());
        let refused = |change: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = clean.clone();
            change(&mut bytes);
            TcpFrame::parse(&bytes, &caps).is_none()
        };
        assert!(refused(&|b| b[12] = 0x86), "not IPv4");
        assert!(refused(&|b| b[IP] = 0x46), "IPv4 options");
        assert!(refused(&|b| b[IP + 6] |= 0x20), "more fragments");
        assert!(refused(&|b| b[IP + 7] = 1), "a fragment's offset");
        assert!(refused(&|b| b[IP + 9] = 17), "UDP");
        assert!(refused(&|b| b[IP + 10] ^= 1), "IPv4 checksum");
        assert!(refused(&|b| *b.last_mut().unwrap() ^= 1), "TCP checksum");
        assert!(refused(&|b| b.truncate(b.len() - 1)), "shorter than the total length");
        assert!(refused(&|b| b[TCP + 12] = 0x40), "data offset under 5 words");
        assert!(refused(&|b| b[TCP + 12] = 0xf0), "data offset past the segment");
        let offloaded = ChecksumCapabilities::offloaded();
        let mut bad_sums = clean.clone();
        bad_sums[IP + 10] ^= 1;
        bad_sums[TCP + 16] ^= 1;
        assert!(TcpFrame::parse(&bad_sums, &offloaded).is_some(), "checksums left to the device");
    }
}
