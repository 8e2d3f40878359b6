//! UDP (RFC 768): the zero-copy [`UdpPacket`] view and the [`UdpRepr`] representation, with the checksum over
//! the IPv4 pseudo-header.
//!
//! A received checksum of zero means the sender computed none (allowed over IPv4) and is accepted. Not for
//! UDP-Lite, and ports are not policed here (port 0 is the socket layer's business).

use std::net::Ipv4Addr;

use super::checksum::{checksum_from_sum, combine, ipv4_pseudo_header_sum, ones_complement_sum, sum_is_valid};
use super::field::{output_prefix, read_u16, require_len, write_u16};
use super::{ChecksumCapabilities, IpProtocol, WireError};

/// Length of the UDP header.
pub const UDP_HEADER_LEN: usize = 8;

mod offsets {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// A read-only view of a UDP datagram (the IP payload). [`UdpPacket::new_checked`] ensures the length field is
/// at least the header and at most the buffer, so every getter is in bounds.
#[derive(Debug, Clone, Copy)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// A view of `buffer`: `Err(Truncated)` if it is shorter than the header or the length field,
    /// `Err(Malformed)` if the length field is shorter than the header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let bytes = buffer.as_ref();
        require_len(bytes, UDP_HEADER_LEN)?;
        let length = usize::from(read_u16(bytes, offsets::LENGTH));
        if length < UDP_HEADER_LEN {
            return Err(WireError::Malformed);
        }
        require_len(bytes, length)?;
        Ok(Self { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::DST_PORT)
    }

    /// The length field: header plus payload.
    pub fn len(&self) -> usize {
        usize::from(read_u16(self.buffer.as_ref(), offsets::LENGTH))
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == UDP_HEADER_LEN
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::CHECKSUM)
    }

    /// Whether the checksum is correct for a datagram between `src` and `dst` (a zero checksum, "none
    /// computed", counts as correct).
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let datagram = &self.buffer.as_ref()[..self.len()];
        // The length fits in u16: it was read from a u16 field.
        let pseudo = ipv4_pseudo_header_sum(src, dst, IpProtocol::Udp, self.len() as u16);
        sum_is_valid(combine(&[pseudo, ones_complement_sum(datagram)]))
    }

    /// The payload, up to the length field (bytes past it are ignored).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[UDP_HEADER_LEN..self.len()]
    }
}

/// A validated UDP datagram; the payload is borrowed from the parsed bytes or from the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// The datagram in `packet`, sent from `src` to `dst`: `Err(Checksum)` on a bad checksum (when `caps.udp`
    /// verifies).
    pub fn parse(
        packet: &UdpPacket<&'a [u8]>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        caps: &ChecksumCapabilities,
    ) -> Result<Self, WireError> {
        if caps.udp.verify_on_rx() && !packet.verify_checksum(src, dst) {
            return Err(WireError::Checksum);
        }
        let bytes: &'a [u8] = packet.buffer;
        Ok(Self {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload: &bytes[UDP_HEADER_LEN..packet.len()],
        })
    }

    /// Bytes [`UdpRepr::emit`] writes: header and payload.
    pub fn buffer_len(&self) -> usize {
        UDP_HEADER_LEN + self.payload.len()
    }

    /// Writes the header and a copy of the payload at the start of `buf`.
    pub fn emit(
        &self,
        buf: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        caps: &ChecksumCapabilities,
    ) -> Result<(), WireError> {
        let out = output_prefix(buf, self.buffer_len())?;
        let (header, payload) = out.split_at_mut(UDP_HEADER_LEN);
        payload.copy_from_slice(self.payload);
        self.emit_header(header, src, dst, caps)
    }

    /// Writes only the 8-byte header into `header`; the checksum covers `self.payload` wherever it lives (for
    /// zero-copy transmission of a payload already in a device buffer).
    pub fn emit_header(
        &self,
        header: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        caps: &ChecksumCapabilities,
    ) -> Result<(), WireError> {
        let length = u16::try_from(self.buffer_len()).map_err(|_| WireError::TooLarge)?;
        let out = output_prefix(header, UDP_HEADER_LEN)?;
        write_u16(out, offsets::SRC_PORT, self.src_port);
        write_u16(out, offsets::DST_PORT, self.dst_port);
        write_u16(out, offsets::LENGTH, length);
        write_u16(out, offsets::CHECKSUM, 0);
        if caps.udp.generate_on_tx() {
            let pseudo = ipv4_pseudo_header_sum(src, dst, IpProtocol::Udp, length);
            let sum = combine(&[pseudo, ones_complement_sum(out), ones_complement_sum(self.payload)]);
            // A computed checksum of zero is sent as all ones: zero on the wire means "none computed".
            let checksum = match checksum_from_sum(sum) {
                0 => 0xffff,
                checksum => checksum,
            };
            write_u16(out, offsets::CHECKSUM, checksum);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Ipv4Packet, samples};

    const HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const RESOLVER: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);

    fn caps() -> ChecksumCapabilities {
        ChecksumCapabilities::software()
    }

    fn dns_query_udp() -> &'static [u8] {
        Ipv4Packet::new_checked(&samples::DNS_QUERY[..]).expect("valid IP").payload_slice()
    }

    #[test]
    fn parses_captured_dns_query_and_reemits_it_exactly() {
        let bytes = dns_query_udp();
        let packet = UdpPacket::new_checked(bytes).expect("lengths ok");
        let repr = UdpRepr::parse(&packet, HOST, RESOLVER, &caps()).expect("valid");
        assert_eq!((repr.src_port, repr.dst_port, repr.payload.len()), (50000, 53, 29));
        assert_eq!(&repr.payload[13..20], b"example");
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out, HOST, RESOLVER, &caps()).expect("fits");
        assert_eq!(out, bytes);
        // The checksum covers the pseudo-header: swapping the addresses keeps the sum, another address breaks it.
        assert_eq!(UdpRepr::parse(&packet, RESOLVER, HOST, &caps()).ok(), Some(repr));
        assert_eq!(UdpRepr::parse(&packet, HOST, Ipv4Addr::new(8, 8, 4, 4), &caps()), Err(WireError::Checksum));
    }

    #[test]
    fn round_trips_with_split_header_and_zero_checksum() {
        let repr = UdpRepr { src_port: 1, dst_port: 65535, payload: &[0xde, 0xad, 0xbe] };
        let mut header = [0u8; UDP_HEADER_LEN];
        repr.emit_header(&mut header, HOST, RESOLVER, &caps()).expect("fits");
        let mut joined = header.to_vec();
        joined.extend_from_slice(repr.payload);
        let packet = UdpPacket::new_checked(&joined[..]).expect("lengths ok");
        assert_eq!(UdpRepr::parse(&packet, HOST, RESOLVER, &caps()), Ok(repr));

        joined[6..8].copy_from_slice(&[0, 0]);
        let packet = UdpPacket::new_checked(&joined[..]).expect("lengths ok");
        assert_eq!(UdpRepr::parse(&packet, HOST, RESOLVER, &caps()), Ok(repr), "zero checksum means none");
    }

    #[test]
    fn computed_zero_checksum_is_sent_as_all_ones() {
        // Find a payload whose checksum computes to zero, then check it goes out as 0xffff and parses.
        let found = (0..=u16::MAX).find_map(|word| {
            let payload = word.to_be_bytes();
            let repr = UdpRepr { src_port: 7, dst_port: 7, payload: &payload };
            let mut out = [0u8; 10];
            repr.emit(&mut out, HOST, RESOLVER, &caps()).ok()?;
            (out[6..8] == [0xff, 0xff]).then_some(out)
        });
        let out = found.expect("some payload sums to zero");
        let packet = UdpPacket::new_checked(&out[..]).expect("lengths ok");
        assert!(UdpRepr::parse(&packet, HOST, RESOLVER, &caps()).is_ok());
    }

    #[test]
    fn rejects_truncated_and_malformed_and_corrupt() {
        let bytes = dns_query_udp();
        for len in 0..bytes.len() {
            assert_eq!(UdpPacket::new_checked(&bytes[..len]).err(), Some(WireError::Truncated), "len {len}");
        }
        for length in 0..UDP_HEADER_LEN as u16 {
            let mut bad = bytes.to_vec();
            bad[4..6].copy_from_slice(&length.to_be_bytes());
            assert_eq!(UdpPacket::new_checked(&bad[..]).err(), Some(WireError::Malformed));
        }
        let mut corrupt = bytes.to_vec();
        corrupt[20] ^= 0x01;
        let packet = UdpPacket::new_checked(&corrupt[..]).expect("lengths ok");
        assert_eq!(UdpRepr::parse(&packet, HOST, RESOLVER, &caps()), Err(WireError::Checksum));
        assert!(UdpRepr::parse(&packet, HOST, RESOLVER, &ChecksumCapabilities::offloaded()).is_ok());

        let huge = vec![0u8; 65535 - 7];
        let repr = UdpRepr { src_port: 1, dst_port: 2, payload: &huge };
        assert_eq!(repr.emit_header(&mut [0u8; 8], HOST, RESOLVER, &caps()), Err(WireError::TooLarge));
        assert_eq!(repr.emit(&mut [0u8; 8], HOST, RESOLVER, &caps()), Err(WireError::BufferTooSmall));
    }
}
