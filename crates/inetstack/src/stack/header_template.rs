//! [`HeaderTemplate`]: the Ethernet + IPv4 + TCP header bytes that are the same on every segment of one
//! connection towards one next-hop MAC address, with their checksum contributions summed once, so that a
//! segment's headers are one copy plus the fields that change (lengths, IP ident, sequence and ACK numbers,
//! flags, window, options) and the checksums over those, instead of three representations emitted layer by
//! layer.
//!
//! The bytes written are exactly what [`EthernetRepr::emit`], [`Ipv4Repr::emit`] and [`TcpRepr::emit_header`]
//! write for the same segment (a test checks it): DF set, TOS 0 but for the ECN field (ECT(0) where the segment
//! asks for it), no IP options, urgent pointer 0. Only for
//! connection segments to a resolved unicast next hop; anything else (RSTs for unknown connections, frames
//! waiting for ARP, loopback) goes through the layered path. The segments of a
//! [`SegmentBatch`](crate::tcp::SegmentBatch) (timestamps their only option) are written field by field with [`HeaderTemplate::write_batched`], their checksum summed
//! from those fields and the payload, without an options encoder or a second pass over the header.
//!
//! [`EthernetRepr::emit`]: crate::wire::EthernetRepr::emit
//! [`Ipv4Repr::emit`]: crate::wire::Ipv4Repr::emit
//! [`TcpRepr::emit_header`]: crate::wire::TcpRepr::emit_header

use std::net::Ipv4Addr;

use crate::tcp::{BatchHeader, OutgoingSegment, ecn_codepoint};
use crate::wire::{
    ChecksumCapabilities, ETHERNET_HEADER_LEN, IPV4_MIN_HEADER_LEN, MacAddress, SeqNumber, TCP_MIN_HEADER_LEN,
    TcpFlags, WireError, checksum_from_sum, fold, ones_complement_sum,
};

/// Bytes of the fixed part: Ethernet, IPv4 without options, TCP without options.
pub(super) const FIXED_LEN: usize = ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN + TCP_MIN_HEADER_LEN;
const IP: usize = ETHERNET_HEADER_LEN;
const TCP: usize = IP + IPV4_MIN_HEADER_LEN;
const IP_PROTOCOL_TCP: u8 = 6;
const IP_DONT_FRAGMENT: u16 = 0x4000;
/// The timestamps option as written when it is the only one: NOP, NOP, kind 8, length 10, TSval, TSecr.
pub(super) const TIMESTAMPS_ONLY_LEN: usize = 12;
const TIMESTAMPS_PREFIX: [u8; 4] = [1, 1, 8, 10];

/// One connection's constant header bytes (see the module docs).
#[derive(Clone, Copy, Debug)]
pub(super) struct HeaderTemplate {
    bytes: [u8; FIXED_LEN],
    /// The next hop's MAC address the template was made for.
    dst_mac: MacAddress,
    /// Sum of the constant IPv4 header words (version to protocol, addresses), not folded.
    ip_sum: u32,
    /// Sum of the constant pseudo-header words (addresses, protocol), not folded.
    pseudo_sum: u32,
    /// Sum of the constant TCP header words (the ports), not folded.
    port_sum: u32,
}

/// Sum of the big-endian 16-bit words of an IPv4 address.
fn address_sum(ip: Ipv4Addr) -> u32 {
    let [a, b, c, d] = ip.octets();
    u32::from(u16::from_be_bytes([a, b])) + u32::from(u16::from_be_bytes([c, d]))
}

impl HeaderTemplate {
    pub(super) fn new(
        (src_mac, dst_mac): (MacAddress, MacAddress),
        (src, dst): (Ipv4Addr, Ipv4Addr),
        (src_port, dst_port): (u16, u16),
        ttl: u8,
    ) -> Self {
        let mut bytes = [0u8; FIXED_LEN];
        bytes[..6].copy_from_slice(&dst_mac.octets());
        bytes[6..12].copy_from_slice(&src_mac.octets());
        bytes[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        bytes[IP] = 0x45;
        bytes[IP + 6..IP + 8].copy_from_slice(&IP_DONT_FRAGMENT.to_be_bytes());
        bytes[IP + 8] = ttl;
        bytes[IP + 9] = IP_PROTOCOL_TCP;
        bytes[IP + 12..IP + 16].copy_from_slice(&src.octets());
        bytes[IP + 16..IP + 20].copy_from_slice(&dst.octets());
        bytes[TCP..TCP + 2].copy_from_slice(&src_port.to_be_bytes());
        bytes[TCP + 2..TCP + 4].copy_from_slice(&dst_port.to_be_bytes());
        let ip_sum = 0x4500
            + u32::from(IP_DONT_FRAGMENT)
            + u32::from(u16::from_be_bytes([ttl, IP_PROTOCOL_TCP]))
            + address_sum(src)
            + address_sum(dst);
        let pseudo_sum = address_sum(src) + address_sum(dst) + u32::from(IP_PROTOCOL_TCP);
        let port_sum = u32::from(src_port) + u32::from(dst_port);
        Self { bytes, dst_mac, ip_sum, pseudo_sum, port_sum }
    }

    pub(super) fn dst_mac(&self) -> MacAddress {
        self.dst_mac
    }

    /// Copies the constant bytes into `fixed` (`FIXED_LEN` long) and fills the TOS byte (`ect`: the ECN field
    /// says ECT(0)), the IPv4 total length, identification and (unless offloaded) header checksum: what
    /// [`Self::write`] and [`Self::write_batched`] share.
    #[inline(always)]
    fn write_fixed(&self, fixed: &mut [u8], ect: bool, total_len: u16, ident: u16, caps: &ChecksumCapabilities) {
        fixed.copy_from_slice(&self.bytes);
        let tos = if ect { ecn_codepoint::ECT0 } else { ecn_codepoint::NOT_ECT };
        fixed[IP + 1] = tos;
        fixed[IP + 2..IP + 4].copy_from_slice(&total_len.to_be_bytes());
        fixed[IP + 4..IP + 6].copy_from_slice(&ident.to_be_bytes());
        if caps.ipv4.generate_on_tx() {
            // The TOS byte is the low half of the header's first word.
            let sum = fold(self.ip_sum + u32::from(tos) + u32::from(total_len) + u32::from(ident));
            fixed[IP + 10..IP + 12].copy_from_slice(&checksum_from_sum(sum).to_be_bytes());
        }
    }

    /// Writes the headers of `segment` (whose payload is `payload`) into `out`, which must be exactly
    /// `FIXED_LEN` plus the options' encoded length. `ident` is the IPv4 identification.
    pub(super) fn write(
        &self,
        out: &mut [u8],
        segment: &OutgoingSegment,
        payload: &[u8],
        ident: u16,
        caps: &ChecksumCapabilities,
    ) -> Result<(), WireError> {
        let tcp_len =
            out.len().checked_sub(ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN).ok_or(WireError::BufferTooSmall)?;
        let header_len = tcp_len;
        let tcp_len = u16::try_from(tcp_len + payload.len()).map_err(|_| WireError::TooLarge)?;
        let total_len = u16::try_from(usize::from(tcp_len) + IPV4_MIN_HEADER_LEN).map_err(|_| WireError::TooLarge)?;
        let (fixed, options) = out.split_at_mut_checked(FIXED_LEN).ok_or(WireError::BufferTooSmall)?;
        segment.options.emit(options)?;
        self.write_fixed(fixed, segment.ect, total_len, ident, caps);
        let tcp = &mut fixed[TCP..];
        tcp[4..8].copy_from_slice(&segment.seq_number.0.to_be_bytes());
        tcp[8..12].copy_from_slice(&segment.ack_number.map_or(0, |ack| ack.0).to_be_bytes());
        // Header length in 32-bit words (at most 15: the options were checked by `emit`).
        tcp[12] = segment.flags.offset_byte(header_len);
        let ack = if segment.ack_number.is_some() { TcpFlags::ACK } else { TcpFlags::empty() };
        tcp[13] = segment.flags.without(TcpFlags::ACK).union(ack).bits();
        tcp[14..16].copy_from_slice(&segment.window_len.to_be_bytes());
        if caps.tcp.generate_on_tx() {
            let header = ones_complement_sum(&out[TCP..]);
            let sum =
                self.pseudo_sum + u32::from(tcp_len) + u32::from(header) + u32::from(ones_complement_sum(payload));
            out[TCP + 16..TCP + 18].copy_from_slice(&checksum_from_sum(fold(sum)).to_be_bytes());
        }
        Ok(())
    }

    /// Writes the headers of the segment at `seq` with `flags` (ACK implied) and the fields of `header` (its
    /// payload is `payload`) into `out`, which must be exactly `FIXED_LEN` plus [`TIMESTAMPS_ONLY_LEN`] if the
    /// header carries timestamps: the bytes [`Self::write`] writes for the same segment as an
    /// `OutgoingSegment` (ECN-capable if `header.ect` and the segment carries data).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_batched(
        &self,
        out: &mut [u8],
        header: &BatchHeader,
        seq: SeqNumber,
        flags: TcpFlags,
        payload: &[u8],
        ident: u16,
        caps: &ChecksumCapabilities,
    ) -> Result<(), WireError> {
        let header_len =
            out.len().checked_sub(ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN).ok_or(WireError::BufferTooSmall)?;
        let options_len = if header.timestamps.is_some() { TIMESTAMPS_ONLY_LEN } else { 0 };
        if header_len != TCP_MIN_HEADER_LEN + options_len {
            return Err(WireError::BufferTooSmall);
        }
        let tcp_len = u16::try_from(header_len + payload.len()).map_err(|_| WireError::TooLarge)?;
        let total_len = u16::try_from(usize::from(tcp_len) + IPV4_MIN_HEADER_LEN).map_err(|_| WireError::TooLarge)?;
        let (fixed, options) = out.split_at_mut(FIXED_LEN);
        self.write_fixed(fixed, header.ect && !payload.is_empty(), total_len, ident, caps);
        let (seq, ack) = (seq.0, header.ack_number.0);
        let flags = flags.union(header.ecn_flags).union(TcpFlags::ACK);
        let offset_and_flags = [flags.offset_byte(header_len), flags.bits()];
        let tcp = &mut fixed[TCP..];
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&ack.to_be_bytes());
        tcp[12..14].copy_from_slice(&offset_and_flags);
        tcp[14..16].copy_from_slice(&header.window_len.to_be_bytes());
        // The checksum field and the urgent pointer are zero in the template.
        let mut sum = self.pseudo_sum
            + self.port_sum
            + u32::from(tcp_len)
            + (seq >> 16)
            + (seq & 0xffff)
            + (ack >> 16)
            + (ack & 0xffff)
            + u32::from(u16::from_be_bytes(offset_and_flags))
            + u32::from(header.window_len);
        if let Some(timestamps) = header.timestamps {
            let (value, echo) = (timestamps.value, timestamps.echo_reply);
            // One length check (`out` was checked above) instead of one per field.
            let options: &mut [u8; TIMESTAMPS_ONLY_LEN] = options.try_into().map_err(|_| WireError::BufferTooSmall)?;
            options[..4].copy_from_slice(&TIMESTAMPS_PREFIX);
            options[4..8].copy_from_slice(&value.to_be_bytes());
            options[8..].copy_from_slice(&echo.to_be_bytes());
            sum += 0x0101 + 0x080a + (value >> 16) + (value & 0xffff) + (echo >> 16) + (echo & 0xffff);
        }
        if caps.tcp.generate_on_tx() {
            let sum = fold(sum) as u32 + u32::from(ones_complement_sum(payload));
            fixed[TCP + 16..TCP + 18].copy_from_slice(&checksum_from_sum(fold(sum)).to_be_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::BatchSegment;
    use crate::wire::{
        EtherType, EthernetRepr, IpProtocol, Ipv4Repr, SackBlock, SackBlocks, TcpOptions, TcpTimestamps,
    };
    use runtime::Sga;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 168, 7, 200);
    const MACS: (MacAddress, MacAddress) =
        (MacAddress([2, 0, 0, 0, 0, 1]), MacAddress([0x52, 0x54, 0, 0xab, 0xcd, 0xef]));

    /// The headers as the layered path writes them.
    fn layered(segment: &OutgoingSegment, payload: &[u8], ident: u16, caps: &ChecksumCapabilities) -> Vec<u8> {
        let tcp = segment.repr(payload);
        let header_len = tcp.header_len();
        let mut out = vec![0u8; ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN + header_len];
        let ethernet = EthernetRepr { src_addr: MACS.0, dst_addr: MACS.1, ethertype: EtherType::Ipv4 };
        ethernet.emit(&mut out).unwrap();
        let ip = Ipv4Repr {
            src_addr: SRC,
            dst_addr: DST,
            protocol: IpProtocol::Tcp,
            payload_len: header_len + payload.len(),
            ttl: 64,
            tos: if segment.ect { ecn_codepoint::ECT0 } else { 0 },
            ident,
            dont_fragment: true,
        };
        ip.emit(&mut out[ETHERNET_HEADER_LEN..], caps).unwrap();
        tcp.emit_header(&mut out[TCP..], SRC, DST, caps).unwrap();
        out
    }

    #[test]
    fn writes_a_batched_segment_as_the_general_writer_writes_it() {
        let template = HeaderTemplate::new(MACS, (SRC, DST), (49152, 443), 64);
        let payloads: [&[u8]; 4] = [b"", b"x", b"odd", &[0x5a; 1448]];
        let timestamps =
            [None, Some(TcpTimestamps { value: 0xdead_beef, echo_reply: 77 }), Some(TcpTimestamps::default())];
        let caps = [
            ChecksumCapabilities::software(),
            ChecksumCapabilities::offloaded(),
            ChecksumCapabilities { tcp: crate::wire::ChecksumMode::Offloaded, ..ChecksumCapabilities::software() },
        ];
        for caps in caps {
            for (i, timestamps) in timestamps.into_iter().enumerate() {
                for (j, payload) in payloads.into_iter().enumerate() {
                    let flags = if j % 2 == 0 { TcpFlags::PSH } else { TcpFlags::empty() };
                    let header = BatchHeader {
                        src_port: 49152,
                        dst_port: 443,
                        ack_number: SeqNumber(u32::MAX - i as u32),
                        window_len: 0xfffe - j as u16,
                        timestamps,
                        ecn_flags: if i % 2 == 0 { TcpFlags::AE | TcpFlags::ECE } else { TcpFlags::empty() },
                        ect: i % 2 == 0,
                    };
                    let segment = BatchSegment { seq_number: SeqNumber(0xffff_0000 + j as u32), flags, payload: None };
                    let ident = 0xfff0 + (i * 4 + j) as u16;
                    let mut general = header.to_outgoing(BatchSegment { payload: None, ..segment });
                    general.ect = header.ect && !payload.is_empty();
                    let mut out = vec![0u8; FIXED_LEN + general.options.encoded_len().unwrap()];
                    let (seq, flags) = (segment.seq_number, segment.flags);
                    template.write_batched(&mut out, &header, seq, flags, payload, ident, &caps).unwrap();
                    assert_eq!(out, templated(&general, payload, ident, &caps), "{caps:?} {timestamps:?} {j}");
                }
            }
        }
    }

    fn templated(segment: &OutgoingSegment, payload: &[u8], ident: u16, caps: &ChecksumCapabilities) -> Vec<u8> {
        let template = HeaderTemplate::new(MACS, (SRC, DST), (segment.src_port, segment.dst_port), 64);
        let mut out = vec![0u8; FIXED_LEN + segment.options.encoded_len().unwrap()];
        template.write(&mut out, segment, payload, ident, caps).unwrap();
        out
    }

    #[test]
    fn writes_what_the_layered_path_writes() {
        let blocks = [
            SackBlock { left: SeqNumber(1000), right: SeqNumber(2000) },
            SackBlock { left: SeqNumber(u32::MAX - 5), right: SeqNumber(7) },
        ];
        let with_options = TcpOptions {
            timestamps: Some(TcpTimestamps { value: 0xdead_beef, echo_reply: 77 }),
            sack_blocks: SackBlocks::from_slice(&blocks).unwrap(),
            ..TcpOptions::default()
        };
        let syn = TcpOptions { mss: Some(1460), window_scale: Some(7), sack_permitted: true, ..with_options };
        let cases = [
            (TcpFlags::PSH, Some(SeqNumber(0x1234_5678)), with_options, 65535),
            (TcpFlags::empty(), Some(SeqNumber(0)), TcpOptions::default(), 0),
            (
                TcpFlags::FIN,
                Some(SeqNumber(u32::MAX)),
                TcpOptions { sack_blocks: SackBlocks::default(), ..with_options },
                9,
            ),
            (TcpFlags::SYN, None, syn, 1024),
            (TcpFlags::RST, None, TcpOptions::default(), 0),
        ];
        let payloads: [&[u8]; 3] = [b"", b"odd", &[0xa5; 1448]];
        for caps in [ChecksumCapabilities::software(), ChecksumCapabilities::offloaded()] {
            for (i, &(flags, ack_number, options, window_len)) in cases.iter().enumerate() {
                for payload in payloads {
                    let segment = OutgoingSegment {
                        src_port: 49152,
                        dst_port: 443,
                        seq_number: SeqNumber(0xffff_0000 + i as u32),
                        ack_number,
                        flags,
                        window_len,
                        options,
                        payload: Sga::new(),
                        ect: i % 2 == 1 && !payload.is_empty(),
                    };
                    let ident = 0xfff0 + i as u16;
                    assert_eq!(
                        templated(&segment, payload, ident, &caps),
                        layered(&segment, payload, ident, &caps),
                        "case {i}, {} payload bytes, {caps:?}",
                        payload.len()
                    );
                }
            }
        }
    }
}
