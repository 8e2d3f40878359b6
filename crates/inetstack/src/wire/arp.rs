//! ARP for IPv4 over Ethernet (RFC 826): the zero-copy [`ArpPacket`] view and the [`ArpRepr`] representation.
//!
//! Only hardware type Ethernet (1) with protocol type IPv4 (0x0800) and operations request and reply; anything
//! else is `Unsupported`. Not for RARP or InARP, and not the ARP cache (that belongs to the interface layer).

use std::net::Ipv4Addr;

use super::WireError;
use super::ethernet::{MacAddress, read_mac};
use super::field::{output_prefix, read_u16, require_len, write_u16};

/// Length of an ARP packet for IPv4 over Ethernet.
pub const ARP_PACKET_LEN: usize = 28;
const HARDWARE_ETHERNET: u16 = 1;
const PROTOCOL_IPV4: u16 = 0x0800;

mod offsets {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

/// An ARP operation this stack handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    Request,
    Reply,
}

impl ArpOperation {
    fn code(self) -> u16 {
        match self {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
        }
    }
}

/// A read-only view of an ARP packet for IPv4 over Ethernet. [`ArpPacket::new_checked`] ensures the fixed
/// 28 bytes are present, so getters are in bounds; whether the type fields say Ethernet/IPv4 is checked by
/// [`ArpRepr::parse`]. Bytes after the 28 (Ethernet padding) are ignored.
#[derive(Debug, Clone, Copy)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// A view of `buffer`, or `Err(Truncated)` if it is shorter than an Ethernet/IPv4 ARP packet.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        require_len(buffer.as_ref(), ARP_PACKET_LEN)?;
        Ok(Self { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn hardware_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::HTYPE)
    }

    pub fn protocol_type(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::PTYPE)
    }

    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[offsets::HLEN]
    }

    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[offsets::PLEN]
    }

    /// The raw operation code (1 request, 2 reply).
    pub fn operation(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::OPER)
    }

    pub fn sender_hardware_addr(&self) -> MacAddress {
        read_mac(self.buffer.as_ref(), offsets::SHA)
    }

    pub fn sender_protocol_addr(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), offsets::SPA)
    }

    pub fn target_hardware_addr(&self) -> MacAddress {
        read_mac(self.buffer.as_ref(), offsets::THA)
    }

    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        read_ipv4(self.buffer.as_ref(), offsets::TPA)
    }
}

fn read_ipv4(bytes: &[u8], offset: usize) -> Ipv4Addr {
    Ipv4Addr::new(bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3])
}

/// A validated ARP request or reply for IPv4 over Ethernet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    pub operation: ArpOperation,
    pub sender_mac: MacAddress,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddress,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// The request or reply in `packet`; `Err(Unsupported)` for other hardware, protocols or operations.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<Self, WireError> {
        if packet.hardware_type() != HARDWARE_ETHERNET
            || packet.protocol_type() != PROTOCOL_IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(WireError::Unsupported);
        }
        let operation = match packet.operation() {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            _ => return Err(WireError::Unsupported),
        };
        Ok(Self {
            operation,
            sender_mac: packet.sender_hardware_addr(),
            sender_ip: packet.sender_protocol_addr(),
            target_mac: packet.target_hardware_addr(),
            target_ip: packet.target_protocol_addr(),
        })
    }

    /// Bytes [`ArpRepr::emit`] writes (no Ethernet padding).
    pub fn buffer_len(&self) -> usize {
        ARP_PACKET_LEN
    }

    /// Writes the packet at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let out = output_prefix(buf, ARP_PACKET_LEN)?;
        write_u16(out, offsets::HTYPE, HARDWARE_ETHERNET);
        write_u16(out, offsets::PTYPE, PROTOCOL_IPV4);
        out[offsets::HLEN] = 6;
        out[offsets::PLEN] = 4;
        write_u16(out, offsets::OPER, self.operation.code());
        out[offsets::SHA..offsets::SHA + 6].copy_from_slice(&self.sender_mac.0);
        out[offsets::SPA..offsets::SPA + 4].copy_from_slice(&self.sender_ip.octets());
        out[offsets::THA..offsets::THA + 6].copy_from_slice(&self.target_mac.0);
        out[offsets::TPA..offsets::TPA + 4].copy_from_slice(&self.target_ip.octets());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::samples::ARP_REQUEST as CAPTURED_REQUEST;

    #[test]
    fn parses_captured_request() {
        let packet = ArpPacket::new_checked(&CAPTURED_REQUEST[..]).expect("long enough");
        let repr = ArpRepr::parse(&packet).expect("valid");
        assert_eq!(
            repr,
            ArpRepr {
                operation: ArpOperation::Request,
                sender_mac: MacAddress([0x00, 0x0c, 0x29, 0x3e, 0x5b, 0x4a]),
                sender_ip: Ipv4Addr::new(192, 168, 1, 10),
                target_mac: MacAddress::ZERO,
                target_ip: Ipv4Addr::new(192, 168, 1, 1),
            }
        );
        let mut emitted = [0u8; ARP_PACKET_LEN];
        repr.emit(&mut emitted).expect("fits");
        assert_eq!(emitted[..], CAPTURED_REQUEST[..ARP_PACKET_LEN]);
    }

    #[test]
    fn round_trips_reply() {
        let repr = ArpRepr {
            operation: ArpOperation::Reply,
            sender_mac: MacAddress([2, 0, 0, 0, 0, 1]),
            sender_ip: Ipv4Addr::new(10, 0, 0, 1),
            target_mac: MacAddress([2, 0, 0, 0, 0, 2]),
            target_ip: Ipv4Addr::new(10, 0, 0, 2),
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf).expect("fits");
        assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).expect("ok")), Ok(repr));
        assert_eq!(repr.emit(&mut [0u8; 27]), Err(WireError::BufferTooSmall));
    }

    #[test]
    fn rejects_truncated_and_foreign_packets() {
        for len in 0..ARP_PACKET_LEN {
            assert_eq!(ArpPacket::new_checked(&CAPTURED_REQUEST[..len]).err(), Some(WireError::Truncated));
        }
        // Hardware type, protocol type, lengths and operation each make it unsupported.
        for (offset, value) in [(1, 6u8), (2, 0x86), (4, 8), (5, 16), (7, 3)] {
            let mut bytes = CAPTURED_REQUEST;
            bytes[offset] = value;
            let packet = ArpPacket::new_checked(&bytes[..]).expect("long enough");
            assert_eq!(ArpRepr::parse(&packet), Err(WireError::Unsupported), "byte {offset}");
        }
    }
}
