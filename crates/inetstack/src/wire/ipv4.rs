//! IPv4 (RFC 791): [`IpProtocol`], the zero-copy [`Ipv4Packet`] view and the [`Ipv4Repr`] header representation.
//!
//! Header options are accepted and skipped (never interpreted, never emitted). Fragments are recognised and
//! refused with [`WireError::Fragmented`] so the stack can count and drop them: reassembly is not implemented,
//! and neither is fragmentation on emit (the stack sends with Don't Fragment and an MSS that fits the MTU).

use std::net::Ipv4Addr;

use super::checksum::{checksum_from_sum, ones_complement_sum, sum_is_valid};
use super::field::{output_prefix, read_u16, require_len, write_u16};
use super::{ChecksumCapabilities, WireError};

/// The protocol an IPv4 datagram carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    Icmp,
    Tcp,
    Udp,
    /// Any other protocol number.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(value: u8) -> Self {
        match value {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(value: IpProtocol) -> Self {
        match value {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Unknown(other) => other,
        }
    }
}

/// Length of an IPv4 header without options.
pub const IPV4_MIN_HEADER_LEN: usize = 20;
/// Largest total length an IPv4 datagram can declare.
pub const IPV4_MAX_DATAGRAM_LEN: usize = 65535;

mod offsets {
    pub const VERSION_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAGMENT: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

const FLAG_DONT_FRAGMENT: u16 = 0x4000;
const FLAG_MORE_FRAGMENTS: u16 = 0x2000;
const FRAGMENT_OFFSET_MASK: u16 = 0x1fff;

/// A read-only view of an IPv4 datagram. [`Ipv4Packet::new_checked`] ensures the header length and total length
/// fields are consistent with each other and with the buffer, so every getter is in bounds. Bytes past the total
/// length (Ethernet padding) are outside [`Ipv4Packet::payload`].
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// A view of `buffer`: `Err(Truncated)` if it is shorter than the header or the declared total length,
    /// `Err(Malformed)` if the header length is under 20 bytes or exceeds the total length.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let bytes = buffer.as_ref();
        let header_len = check_header(bytes)?;
        let total_len = usize::from(read_u16(bytes, offsets::TOTAL_LEN));
        if total_len < header_len {
            return Err(WireError::Malformed);
        }
        require_len(bytes, total_len)?;
        Ok(Self { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[offsets::VERSION_IHL] >> 4
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[offsets::VERSION_IHL] & 0x0f) * 4
    }

    /// The type-of-service byte (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[offsets::TOS]
    }

    pub fn total_len(&self) -> usize {
        usize::from(read_u16(self.buffer.as_ref(), offsets::TOTAL_LEN))
    }

    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::IDENT)
    }

    pub fn dont_fragment(&self) -> bool {
        read_u16(self.buffer.as_ref(), offsets::FLAGS_FRAGMENT) & FLAG_DONT_FRAGMENT != 0
    }

    pub fn more_fragments(&self) -> bool {
        read_u16(self.buffer.as_ref(), offsets::FLAGS_FRAGMENT) & FLAG_MORE_FRAGMENTS != 0
    }

    /// Fragment offset in bytes.
    pub fn fragment_offset(&self) -> usize {
        usize::from(read_u16(self.buffer.as_ref(), offsets::FLAGS_FRAGMENT) & FRAGMENT_OFFSET_MASK) * 8
    }

    /// Whether this datagram is a piece of a larger one (more fragments follow, or it is not the first).
    pub fn is_fragment(&self) -> bool {
        self.more_fragments() || self.fragment_offset() != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[offsets::TTL]
    }

    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[offsets::PROTOCOL])
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        read_addr(self.buffer.as_ref(), offsets::SRC)
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        read_addr(self.buffer.as_ref(), offsets::DST)
    }

    /// The raw option bytes (empty without options). Never interpreted by this stack.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[IPV4_MIN_HEADER_LEN..self.header_len()]
    }

    /// Whether the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        sum_is_valid(ones_complement_sum(&self.buffer.as_ref()[..self.header_len()]))
    }

    /// The payload: from the end of the header to the total length.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len()]
    }
}

impl<'a> Ipv4Packet<&'a [u8]> {
    /// The payload, borrowed for as long as the underlying bytes.
    pub fn payload_slice(&self) -> &'a [u8] {
        let bytes: &'a [u8] = self.buffer;
        &bytes[self.header_len()..self.total_len()]
    }
}

/// Checks what every IPv4 header, complete or quoted, must satisfy and returns its length.
fn check_header(bytes: &[u8]) -> Result<usize, WireError> {
    require_len(bytes, IPV4_MIN_HEADER_LEN)?;
    let header_len = usize::from(bytes[offsets::VERSION_IHL] & 0x0f) * 4;
    if header_len < IPV4_MIN_HEADER_LEN {
        return Err(WireError::Malformed);
    }
    require_len(bytes, header_len)?;
    Ok(header_len)
}

fn read_addr(bytes: &[u8], offset: usize) -> Ipv4Addr {
    Ipv4Addr::new(bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3])
}

/// A validated IPv4 header of an unfragmented datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: IpProtocol,
    /// Length of the payload (total length minus header length).
    pub payload_len: usize,
    pub ttl: u8,
    /// The type-of-service byte (DSCP and ECN).
    pub tos: u8,
    pub ident: u16,
    pub dont_fragment: bool,
}

impl Ipv4Repr {
    /// The header of `packet`: `Err(Malformed)` unless version 4, `Err(Checksum)` on a bad header checksum
    /// (when `caps.ipv4` verifies), `Err(Fragmented)` for a fragment.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>, caps: &ChecksumCapabilities) -> Result<Self, WireError> {
        if packet.version() != 4 {
            return Err(WireError::Malformed);
        }
        if caps.ipv4.verify_on_rx() && !packet.verify_checksum() {
            return Err(WireError::Checksum);
        }
        if packet.is_fragment() {
            return Err(WireError::Fragmented);
        }
        Ok(Self::from_view_fields(packet, packet.total_len() - packet.header_len()))
    }

    /// The header quoted in an ICMP error, and the bytes after it: only the header itself must be present and
    /// well formed; the quoted datagram is cut short, fragments are allowed and the checksum is not checked.
    pub(crate) fn parse_quoted(bytes: &[u8]) -> Result<(Self, &[u8]), WireError> {
        let header_len = check_header(bytes)?;
        let view = Ipv4Packet { buffer: bytes };
        if view.version() != 4 {
            return Err(WireError::Malformed);
        }
        let payload_len = view.total_len().checked_sub(header_len).ok_or(WireError::Malformed)?;
        Ok((Self::from_view_fields(&view, payload_len), &bytes[header_len..]))
    }

    #[inline]
    fn from_view_fields<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>, payload_len: usize) -> Self {
        Self {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len,
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            dont_fragment: packet.dont_fragment(),
        }
    }

    /// Bytes of header [`Ipv4Repr::emit`] writes (always 20: options are never emitted).
    pub fn buffer_len(&self) -> usize {
        IPV4_MIN_HEADER_LEN
    }

    /// Header plus payload.
    pub fn total_len(&self) -> usize {
        IPV4_MIN_HEADER_LEN + self.payload_len
    }

    /// Writes the header at the start of `buf` (the payload goes after it), with the header checksum if
    /// `caps.ipv4` generates it and zero otherwise. `Err(TooLarge)` if the total length exceeds 65535.
    pub fn emit(&self, buf: &mut [u8], caps: &ChecksumCapabilities) -> Result<(), WireError> {
        self.emit_with_fragment_field(buf, if self.dont_fragment { FLAG_DONT_FRAGMENT } else { 0 }, caps)
    }

    /// [`Ipv4Repr::emit`] for a fragment (RFC 791 §3.2): the payload is the piece at byte `offset` of the
    /// datagram (a multiple of 8), with More Fragments set if `more`; Don't Fragment is never set.
    /// `Err(Malformed)` for an offset that is not a multiple of 8 or does not fit the field.
    pub fn emit_fragment(
        &self,
        buf: &mut [u8],
        offset: usize,
        more: bool,
        caps: &ChecksumCapabilities,
    ) -> Result<(), WireError> {
        let units = u16::try_from(offset / 8).ok().filter(|&u| offset % 8 == 0 && u <= FRAGMENT_OFFSET_MASK);
        let units = units.ok_or(WireError::Malformed)?;
        self.emit_with_fragment_field(buf, units | if more { FLAG_MORE_FRAGMENTS } else { 0 }, caps)
    }

    fn emit_with_fragment_field(
        &self,
        buf: &mut [u8],
        flags_and_offset: u16,
        caps: &ChecksumCapabilities,
    ) -> Result<(), WireError> {
        let total_len = u16::try_from(self.total_len()).map_err(|_| WireError::TooLarge)?;
        let out = output_prefix(buf, IPV4_MIN_HEADER_LEN)?;
        out[offsets::VERSION_IHL] = 0x45;
        out[offsets::TOS] = self.tos;
        write_u16(out, offsets::TOTAL_LEN, total_len);
        write_u16(out, offsets::IDENT, self.ident);
        write_u16(out, offsets::FLAGS_FRAGMENT, flags_and_offset);
        out[offsets::TTL] = self.ttl;
        out[offsets::PROTOCOL] = u8::from(self.protocol);
        write_u16(out, offsets::CHECKSUM, 0);
        out[offsets::SRC..offsets::SRC + 4].copy_from_slice(&self.src_addr.octets());
        out[offsets::DST..offsets::DST + 4].copy_from_slice(&self.dst_addr.octets());
        if caps.ipv4.generate_on_tx() {
            let checksum = checksum_from_sum(ones_complement_sum(out));
            write_u16(out, offsets::CHECKSUM, checksum);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ChecksumMode;
    use crate::wire::samples;

    /// A captured header (the worked example of IPv4 header checksums): 192.168.0.1 -> 192.168.0.199, UDP.
    const CAPTURED_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
        0x00, 0xc7,
    ];

    fn caps() -> ChecksumCapabilities {
        ChecksumCapabilities::software()
    }

    #[test]
    fn parses_captured_header_and_reproduces_its_checksum() {
        let mut datagram = CAPTURED_HEADER.to_vec();
        datagram.resize(0x73, 0);
        let packet = Ipv4Packet::new_checked(&datagram[..]).expect("lengths ok");
        let repr = Ipv4Repr::parse(&packet, &caps()).expect("valid");
        assert_eq!(repr.src_addr, Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(repr.dst_addr, Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(repr.protocol, IpProtocol::Udp);
        assert_eq!(repr.payload_len, 0x73 - 20);
        assert!(repr.dont_fragment);
        let mut emitted = [0u8; 20];
        repr.emit(&mut emitted, &caps()).expect("fits");
        assert_eq!(emitted, CAPTURED_HEADER);
    }

    #[test]
    fn ignores_ethernet_padding() {
        let mut padded = samples::DNS_QUERY.to_vec();
        padded.extend_from_slice(&[0xee; 7]);
        let packet = Ipv4Packet::new_checked(&padded[..]).expect("lengths ok");
        assert_eq!(packet.payload().len(), samples::DNS_QUERY.len() - 20);
        assert!(Ipv4Repr::parse(&packet, &caps()).is_ok());
    }

    #[test]
    fn skips_options() {
        // The captured header with a 4-byte option (NOP NOP NOP EOL): IHL 6, total length grown by 4.
        let mut bytes = CAPTURED_HEADER.to_vec();
        bytes[0] = 0x46;
        bytes[3] += 4;
        bytes.extend_from_slice(&[1, 1, 1, 0]);
        bytes.resize(0x77, 0xab);
        bytes[10..12].copy_from_slice(&[0, 0]);
        let checksum = checksum_from_sum(ones_complement_sum(&bytes[..24]));
        bytes[10..12].copy_from_slice(&checksum.to_be_bytes());
        let packet = Ipv4Packet::new_checked(&bytes[..]).expect("lengths ok");
        assert_eq!(packet.options(), &[1, 1, 1, 0]);
        assert_eq!(packet.payload().len(), 0x73 - 20);
        assert!(packet.payload().iter().all(|&b| b == 0xab));
        let repr = Ipv4Repr::parse(&packet, &caps()).expect("valid");
        assert_eq!(repr.payload_len, 0x73 - 20);
    }

    #[test]
    fn round_trips() {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(10, 0, 0, 2),
            protocol: IpProtocol::Unknown(253),
            payload_len: 3,
            ttl: 1,
            tos: 0x2e,
            ident: 0xbeef,
            dont_fragment: false,
        };
        let mut buf = vec![0u8; repr.total_len()];
        repr.emit(&mut buf, &caps()).expect("fits");
        let packet = Ipv4Packet::new_checked(&buf[..]).expect("lengths ok");
        assert_eq!(Ipv4Repr::parse(&packet, &caps()), Ok(repr));
    }

    #[test]
    fn refuses_fragments() {
        for flags_fragment in [0x2000u16, 0x0001, 0x2010, 0x5fff] {
            let mut bytes = CAPTURED_HEADER.to_vec();
            bytes.resize(0x73, 0);
            bytes[6..8].copy_from_slice(&flags_fragment.to_be_bytes());
            let packet = Ipv4Packet::new_checked(&bytes[..]).expect("lengths ok");
            assert!(packet.is_fragment());
            let offloaded = ChecksumCapabilities::offloaded();
            assert_eq!(Ipv4Repr::parse(&packet, &offloaded), Err(WireError::Fragmented));
        }
    }

    #[test]
    fn checksum_switch() {
        let mut bytes = CAPTURED_HEADER.to_vec();
        bytes.resize(0x73, 0);
        bytes[11] ^= 0x01;
        let packet = Ipv4Packet::new_checked(&bytes[..]).expect("lengths ok");
        assert_eq!(Ipv4Repr::parse(&packet, &caps()), Err(WireError::Checksum));
        let mut offload = caps();
        offload.ipv4 = ChecksumMode::GenerateOnly;
        assert!(Ipv4Repr::parse(&packet, &offload).is_ok());

        let repr = Ipv4Repr::parse(&packet, &offload).expect("valid");
        let mut out = [0xffu8; 20];
        offload.ipv4 = ChecksumMode::VerifyOnly;
        repr.emit(&mut out, &offload).expect("fits");
        assert_eq!(&out[10..12], &[0, 0]);
    }

    #[test]
    fn rejects_bad_lengths_and_versions() {
        let mut bytes = CAPTURED_HEADER.to_vec();
        bytes.resize(0x73, 0);
        for len in 0..0x73 {
            assert_eq!(Ipv4Packet::new_checked(&bytes[..len]).err(), Some(WireError::Truncated), "len {len}");
        }
        for ihl in 0..5u8 {
            let mut short_ihl = bytes.clone();
            short_ihl[0] = 0x40 | ihl;
            assert_eq!(Ipv4Packet::new_checked(&short_ihl[..]).err(), Some(WireError::Malformed));
        }
        let mut long_ihl = bytes.clone();
        long_ihl[0] = 0x4f;
        long_ihl[2..4].copy_from_slice(&40u16.to_be_bytes());
        assert_eq!(Ipv4Packet::new_checked(&long_ihl[..]).err(), Some(WireError::Malformed));
        let mut v6 = bytes.clone();
        v6[0] = 0x65;
        let packet = Ipv4Packet::new_checked(&v6[..]).expect("lengths ok");
        assert_eq!(Ipv4Repr::parse(&packet, &ChecksumCapabilities::offloaded()), Err(WireError::Malformed));
        let huge = Ipv4Repr { payload_len: IPV4_MAX_DATAGRAM_LEN, ..Ipv4Repr::parse_quoted(&bytes).expect("ok").0 };
        assert_eq!(huge.emit(&mut [0u8; 20], &caps()), Err(WireError::TooLarge));
        assert_eq!(huge.emit(&mut [0u8; 19], &caps()), Err(WireError::TooLarge));
        let small = Ipv4Repr { payload_len: 0, ..huge };
        assert_eq!(small.emit(&mut [0u8; 19], &caps()), Err(WireError::BufferTooSmall));
    }
}
