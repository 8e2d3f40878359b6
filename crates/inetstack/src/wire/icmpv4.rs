//! ICMPv4 (RFC 792): the zero-copy [`Icmpv4Packet`] view and the [`Icmpv4Repr`] representation of the messages
//! this stack sends and acts on: echo request and reply, and the two errors, destination unreachable and time
//! exceeded, which quote the original IP header and the start of its payload so the error can be delivered to
//! the socket that caused it.
//!
//! Other types (redirect, timestamp...) parse as `Unsupported`. The next-hop MTU of "fragmentation needed" is
//! not kept: path MTU discovery is not implemented.

use super::checksum::{checksum_from_sum, combine, ones_complement_sum, sum_is_valid};
use super::field::{output_prefix, read_u16, require_len, write_u16};
use super::{ChecksumCapabilities, Ipv4Repr, WireError};

/// Length of the ICMP header: type, code, checksum and the four type-specific bytes.
pub const ICMPV4_HEADER_LEN: usize = 8;
/// Bytes of the original datagram's payload quoted after its header in errors we emit (RFC 792: 64 bits).
pub const ICMPV4_ERROR_QUOTE_LEN: usize = 8;

mod offsets {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const IDENT: usize = 4;
    pub const SEQ_NO: usize = 6;
    /// The next-hop MTU of a fragmentation-needed message (RFC 1191 §4), in the low half of the unused word.
    pub const NEXT_HOP_MTU: usize = 6;
}

mod message_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;
}

/// Whether an ICMP message of type `msg_type` is an error message (RFC 1122 §3.2.2: destination unreachable,
/// source quench, redirect, time exceeded, parameter problem), about which no ICMP error may be sent.
pub fn is_icmp_error_type(msg_type: u8) -> bool {
    use message_type::*;
    matches!(msg_type, DST_UNREACHABLE | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAMETER_PROBLEM)
}

/// Why a destination was unreachable (the code of a type 3 message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DstUnreachable {
    NetUnreachable,
    HostUnreachable,
    ProtocolUnreachable,
    PortUnreachable,
    FragmentationNeeded,
    SourceRouteFailed,
    /// Codes 6 and above (RFC 1122, RFC 1812: unknown networks, administratively prohibited...).
    Other(u8),
}

impl From<u8> for DstUnreachable {
    fn from(code: u8) -> Self {
        match code {
            0 => DstUnreachable::NetUnreachable,
            1 => DstUnreachable::HostUnreachable,
            2 => DstUnreachable::ProtocolUnreachable,
            3 => DstUnreachable::PortUnreachable,
            4 => DstUnreachable::FragmentationNeeded,
            5 => DstUnreachable::SourceRouteFailed,
            other => DstUnreachable::Other(other),
        }
    }
}

impl From<DstUnreachable> for u8 {
    fn from(reason: DstUnreachable) -> Self {
        match reason {
            DstUnreachable::NetUnreachable => 0,
            DstUnreachable::HostUnreachable => 1,
            DstUnreachable::ProtocolUnreachable => 2,
            DstUnreachable::PortUnreachable => 3,
            DstUnreachable::FragmentationNeeded => 4,
            DstUnreachable::SourceRouteFailed => 5,
            DstUnreachable::Other(code) => code,
        }
    }
}

/// Why a datagram's time ran out (the code of a type 11 message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeExceeded {
    /// Its TTL reached zero in transit (code 0, sent by routers).
    TtlExceeded,
    /// It arrived in fragments and was not whole in time (code 1, RFC 1122 §3.3.2).
    FragmentReassembly,
    /// Any other code.
    Other(u8),
}

impl From<u8> for TimeExceeded {
    fn from(code: u8) -> Self {
        match code {
            0 => TimeExceeded::TtlExceeded,
            1 => TimeExceeded::FragmentReassembly,
            other => TimeExceeded::Other(other),
        }
    }
}

impl From<TimeExceeded> for u8 {
    fn from(reason: TimeExceeded) -> Self {
        match reason {
            TimeExceeded::TtlExceeded => 0,
            TimeExceeded::FragmentReassembly => 1,
            TimeExceeded::Other(code) => code,
        }
    }
}

/// A read-only view of an ICMPv4 message (the whole IP payload). [`Icmpv4Packet::new_checked`] ensures the
/// 8-byte header is present, so every getter is in bounds.
#[derive(Debug, Clone, Copy)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// A view of `buffer`, or `Err(Truncated)` if it is shorter than the ICMP header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        require_len(buffer.as_ref(), ICMPV4_HEADER_LEN)?;
        Ok(Self { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[offsets::TYPE]
    }

    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[offsets::CODE]
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::CHECKSUM)
    }

    /// The identifier of an echo message.
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::IDENT)
    }

    /// The sequence number of an echo message.
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::SEQ_NO)
    }

    /// Whether the checksum over the whole message is correct.
    pub fn verify_checksum(&self) -> bool {
        sum_is_valid(ones_complement_sum(self.buffer.as_ref()))
    }

    /// Everything after the 8-byte header: echo data, or the quoted datagram of an error.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[ICMPV4_HEADER_LEN..]
    }
}

/// A validated ICMPv4 message of a type this stack handles. Data is borrowed from the parsed bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Icmpv4Repr<'a> {
    EchoRequest {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq_no: u16,
        data: &'a [u8],
    },
    /// A destination-unreachable error about a datagram whose header was `header`; `data` is the start of that
    /// datagram's payload (for UDP and TCP, the ports are its first four bytes).
    DstUnreachable {
        reason: DstUnreachable,
        /// For [`DstUnreachable::FragmentationNeeded`], the MTU of the next hop (RFC 1191 §4; 0 from a router
        /// older than RFC 1191); 0 for the other codes (parsed as 0 whatever the field holds).
        next_hop_mtu: u16,
        header: Ipv4Repr,
        data: &'a [u8],
    },
    /// A time-exceeded error about a datagram whose header was `header` (for fragments, the first one's), with
    /// the start of its payload in `data`, as for [`Icmpv4Repr::DstUnreachable`].
    TimeExceeded {
        reason: TimeExceeded,
        header: Ipv4Repr,
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// The message in `packet`: `Err(Checksum)` on a bad checksum (when `caps.icmpv4` verifies),
    /// `Err(Unsupported)` for other types or a nonzero echo code, errors of the quoted header for an error.
    pub fn parse(packet: &Icmpv4Packet<&'a [u8]>, caps: &ChecksumCapabilities) -> Result<Self, WireError> {
        if caps.icmpv4.verify_on_rx() && !packet.verify_checksum() {
            return Err(WireError::Checksum);
        }
        let bytes: &'a [u8] = packet.buffer;
        let data = &bytes[ICMPV4_HEADER_LEN..];
        match (packet.msg_type(), packet.msg_code()) {
            (message_type::ECHO_REQUEST, 0) => {
                Ok(Icmpv4Repr::EchoRequest { ident: packet.echo_ident(), seq_no: packet.echo_seq_no(), data })
            }
            (message_type::ECHO_REPLY, 0) => {
                Ok(Icmpv4Repr::EchoReply { ident: packet.echo_ident(), seq_no: packet.echo_seq_no(), data })
            }
            (message_type::DST_UNREACHABLE, code) => {
                let (header, quoted_payload) = Ipv4Repr::parse_quoted(data)?;
                let reason = DstUnreachable::from(code);
                let next_hop_mtu = match reason {
                    DstUnreachable::FragmentationNeeded => read_u16(bytes, offsets::NEXT_HOP_MTU),
                    _ => 0,
                };
                Ok(Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, header, data: quoted_payload })
            }
            (message_type::TIME_EXCEEDED, code) => {
                let (header, quoted_payload) = Ipv4Repr::parse_quoted(data)?;
                Ok(Icmpv4Repr::TimeExceeded { reason: TimeExceeded::from(code), header, data: quoted_payload })
            }
            _ => Err(WireError::Unsupported),
        }
    }

    /// The message's type and code fields.
    fn type_and_code(&self) -> (u8, u8) {
        match *self {
            Icmpv4Repr::EchoRequest { .. } => (message_type::ECHO_REQUEST, 0),
            Icmpv4Repr::EchoReply { .. } => (message_type::ECHO_REPLY, 0),
            Icmpv4Repr::DstUnreachable { reason, .. } => (message_type::DST_UNREACHABLE, u8::from(reason)),
            Icmpv4Repr::TimeExceeded { reason, .. } => (message_type::TIME_EXCEEDED, u8::from(reason)),
        }
    }

    /// Bytes [`Icmpv4Repr::emit`] writes: the whole message.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => ICMPV4_HEADER_LEN + data.len(),
            Icmpv4Repr::DstUnreachable { header, data, .. } | Icmpv4Repr::TimeExceeded { header, data, .. } => {
                ICMPV4_HEADER_LEN + header.buffer_len() + data.len()
            }
        }
    }

    /// Writes the message at the start of `buf`, with its checksum if `caps.icmpv4` generates it.
    pub fn emit(&self, buf: &mut [u8], caps: &ChecksumCapabilities) -> Result<(), WireError> {
        let out = output_prefix(buf, self.buffer_len())?;
        let (header_bytes, body) = out.split_at_mut(ICMPV4_HEADER_LEN);
        let (msg_type, code) = self.type_and_code();
        header_bytes[offsets::TYPE] = msg_type;
        header_bytes[offsets::CODE] = code;
        match *self {
            Icmpv4Repr::EchoRequest { ident, seq_no, data } | Icmpv4Repr::EchoReply { ident, seq_no, data } => {
                write_u16(header_bytes, offsets::IDENT, ident);
                write_u16(header_bytes, offsets::SEQ_NO, seq_no);
                body.copy_from_slice(data);
            }
            Icmpv4Repr::DstUnreachable { header, data, .. } | Icmpv4Repr::TimeExceeded { header, data, .. } => {
                header_bytes[offsets::IDENT..].fill(0);
                if let Icmpv4Repr::DstUnreachable {
                    reason: DstUnreachable::FragmentationNeeded, next_hop_mtu, ..
                } = *self
                {
                    write_u16(header_bytes, offsets::NEXT_HOP_MTU, next_hop_mtu);
                }
                // The quoted header always carries its own checksum, as the original did.
                let (quoted_header, quoted_payload) = body.split_at_mut(header.buffer_len());
                header.emit(quoted_header, &ChecksumCapabilities::software())?;
                quoted_payload.copy_from_slice(data);
            }
        }
        write_u16(header_bytes, offsets::CHECKSUM, 0);
        if caps.icmpv4.generate_on_tx() {
            let sum = combine(&[ones_complement_sum(header_bytes), ones_complement_sum(body)]);
            write_u16(header_bytes, offsets::CHECKSUM, checksum_from_sum(sum));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::wire::samples;
    use crate::wire::{IpProtocol, Ipv4Packet};

    fn caps() -> ChecksumCapabilities {
        ChecksumCapabilities::software()
    }

    fn icmp_of(datagram: &[u8]) -> &[u8] {
        Ipv4Packet::new_checked(datagram).expect("valid IP").payload_slice()
    }

    #[test]
    fn parses_captured_echo_request_and_reemits_it_exactly() {
        let bytes = icmp_of(&samples::ICMP_ECHO_REQUEST);
        let packet = Icmpv4Packet::new_checked(bytes).expect("long enough");
        let repr = Icmpv4Repr::parse(&packet, &caps()).expect("valid");
        let Icmpv4Repr::EchoRequest { ident, seq_no, data } = repr else { panic!("not an echo request: {repr:?}") };
        assert_eq!((ident, seq_no, data.len()), (0x1a2b, 1, 56));
        assert_eq!(data[16..], (0x10..0x38).collect::<Vec<u8>>()[..]);
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out, &caps()).expect("fits");
        assert_eq!(out, bytes);
    }

    #[test]
    fn parses_captured_port_unreachable() {
        let bytes = icmp_of(&samples::PORT_UNREACHABLE);
        let packet = Icmpv4Packet::new_checked(bytes).expect("long enough");
        let repr = Icmpv4Repr::parse(&packet, &caps()).expect("valid");
        let Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, header, data } = repr else {
            panic!("not unreachable: {repr:?}")
        };
        assert_eq!((reason, next_hop_mtu), (DstUnreachable::PortUnreachable, 0));
        assert_eq!(header.protocol, IpProtocol::Udp);
        assert_eq!(header.src_addr, Ipv4Addr::new(192, 168, 1, 10));
        assert_eq!(header.dst_addr, Ipv4Addr::new(8, 8, 8, 8));
        assert_eq!(header.payload_len, samples::DNS_QUERY.len() - 20);
        assert_eq!(data, &samples::DNS_QUERY[20..28]);
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out, &caps()).expect("fits");
        assert_eq!(out, bytes);
    }

    #[test]
    fn fragmentation_needed_carries_the_next_hop_mtu() {
        let quoted = Ipv4Packet::new_checked(&samples::DNS_QUERY[..]).expect("datagram");
        let header = Ipv4Repr::parse(&quoted, &caps()).expect("valid");
        let data = &samples::DNS_QUERY[20..28];
        let repr = Icmpv4Repr::DstUnreachable {
            reason: DstUnreachable::FragmentationNeeded,
            next_hop_mtu: 1280,
            header,
            data,
        };
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out, &caps()).expect("fits");
        assert_eq!(&out[..2], &[3, 4]);
        assert_eq!(&out[4..8], &[0, 0, 0x05, 0x00], "RFC 1191: unused, then the next-hop MTU");
        let packet = Icmpv4Packet::new_checked(&out[..]).expect("long enough");
        assert_eq!(Icmpv4Repr::parse(&packet, &caps()), Ok(repr));
        // Another code's unused word is not an MTU.
        out[1] = 1;
        out[2..4].fill(0);
        let packet = Icmpv4Packet::new_checked(&out[..]).expect("long enough");
        let Ok(Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, .. }) =
            Icmpv4Repr::parse(&packet, &ChecksumCapabilities::offloaded())
        else {
            panic!("unreachable")
        };
        assert_eq!((reason, next_hop_mtu), (DstUnreachable::HostUnreachable, 0));
    }

    #[test]
    fn time_exceeded_round_trips_with_its_code_and_quote() {
        let quoted = Ipv4Packet::new_checked(&samples::DNS_QUERY[..]).expect("datagram");
        let header = Ipv4Repr::parse(&quoted, &caps()).expect("valid");
        for (reason, code) in
            [(TimeExceeded::TtlExceeded, 0u8), (TimeExceeded::FragmentReassembly, 1), (TimeExceeded::Other(7), 7)]
        {
            let repr = Icmpv4Repr::TimeExceeded { reason, header, data: &samples::DNS_QUERY[20..28] };
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut out, &caps()).expect("fits");
            assert_eq!((out[0], out[1]), (11, code));
            assert_eq!(&out[4..8], &[0; 4], "unused");
            assert_eq!(&out[8..36], &samples::DNS_QUERY[..28], "the original header and 8 bytes, as sent");
            let packet = Icmpv4Packet::new_checked(&out[..]).expect("long enough");
            assert_eq!(Icmpv4Repr::parse(&packet, &caps()), Ok(repr));
        }
        assert!(is_icmp_error_type(11) && is_icmp_error_type(3) && !is_icmp_error_type(8) && !is_icmp_error_type(0));
    }

    #[test]
    fn echo_reply_round_trips_and_checksum_switch_works() {
        let repr = Icmpv4Repr::EchoReply { ident: 7, seq_no: 0xffff, data: b"odd" };
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out, &caps()).expect("fits");
        let packet = Icmpv4Packet::new_checked(&out[..]).expect("long enough");
        assert_eq!(Icmpv4Repr::parse(&packet, &caps()), Ok(repr));

        out[9] ^= 0x40;
        let packet = Icmpv4Packet::new_checked(&out[..]).expect("long enough");
        assert_eq!(Icmpv4Repr::parse(&packet, &caps()), Err(WireError::Checksum));
        assert!(Icmpv4Repr::parse(&packet, &ChecksumCapabilities::offloaded()).is_ok());
        repr.emit(&mut out, &ChecksumCapabilities::offloaded()).expect("fits");
        assert_eq!(&out[2..4], &[0, 0]);
    }

    #[test]
    fn rejects_truncated_malformed_and_unknown_messages() {
        let bytes = icmp_of(&samples::PORT_UNREACHABLE);
        for len in 0..ICMPV4_HEADER_LEN {
            assert_eq!(Icmpv4Packet::new_checked(&bytes[..len]).err(), Some(WireError::Truncated));
        }
        let offloaded = ChecksumCapabilities::offloaded();
        // A quoted header cut short is truncated; one with a bad IHL or version is malformed.
        for len in ICMPV4_HEADER_LEN..ICMPV4_HEADER_LEN + 20 {
            let packet = Icmpv4Packet::new_checked(&bytes[..len]).expect("header present");
            assert_eq!(Icmpv4Repr::parse(&packet, &offloaded), Err(WireError::Truncated), "len {len}");
        }
        for first_byte in [0x44u8, 0x55, 0x4f] {
            let mut bad = bytes.to_vec();
            bad[8] = first_byte;
            let packet = Icmpv4Packet::new_checked(&bad[..]).expect("header present");
            assert!(Icmpv4Repr::parse(&packet, &offloaded).is_err(), "first byte {first_byte:#x}");
        }
        for (msg_type, code) in [(5u8, 1u8), (8, 1), (0, 9), (13, 0), (12, 0)] {
            let mut other = bytes.to_vec();
            other[0] = msg_type;
            other[1] = code;
            let packet = Icmpv4Packet::new_checked(&other[..]).expect("header present");
            assert_eq!(Icmpv4Repr::parse(&packet, &offloaded), Err(WireError::Unsupported));
        }
        let repr = Icmpv4Repr::EchoRequest { ident: 1, seq_no: 2, data: &[0; 4] };
        assert_eq!(repr.emit(&mut [0u8; 11], &caps()), Err(WireError::BufferTooSmall));
    }
}
