//! Ethernet II frames (RFC 894 for IPv4 over Ethernet): [`MacAddress`], [`EtherType`], the zero-copy
//! [`EthernetFrame`] view and the [`EthernetRepr`] header representation.
//!
//! Not for IEEE 802.3 length-field frames, 802.1Q VLAN tags or the frame check sequence (the device strips and
//! appends it). Padding of short frames to the 60-byte minimum is the device's or the caller's job.

use std::fmt;

use super::WireError;
use super::field::{output_prefix, read_u16, require_len, write_u16};

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddress(pub [u8; 6]);

impl MacAddress {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddress = MacAddress([0xff; 6]);
    /// 00:00:00:00:00:00, used as the unknown target of an ARP request.
    pub const ZERO: MacAddress = MacAddress([0; 6]);

    /// The six octets.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    /// The all-ones broadcast address.
    pub fn is_broadcast(self) -> bool {
        self == Self::BROADCAST
    }

    /// A group address (the I/G bit, which includes broadcast).
    pub fn is_multicast(self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// An individual (unicast) address that is not all zeros.
    pub fn is_unicast(self) -> bool {
        !self.is_multicast() && self != Self::ZERO
    }

    /// The address at the start of `bytes`, which must hold at least six (callers check lengths first).
    fn read(bytes: &[u8]) -> Self {
        let mut octets = [0u8; 6];
        octets.copy_from_slice(&bytes[..6]);
        MacAddress(octets)
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Reads a MAC address from a slice known to hold six bytes at `offset` (used by ARP too).
pub(crate) fn read_mac(bytes: &[u8], offset: usize) -> MacAddress {
    MacAddress::read(&bytes[offset..])
}

/// The protocol an Ethernet II frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EtherType {
    Ipv4,
    Arp,
    Ipv6,
    /// Any other value, kept so it can be counted or forwarded.
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(value: u16) -> Self {
        match value {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x86dd => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(value: EtherType) -> Self {
        match value {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Unknown(other) => other,
        }
    }
}

/// Length of an Ethernet II header: destination, source, EtherType.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Values below this in the type field are 802.3 lengths, not EtherTypes.
const MIN_ETHERTYPE: u16 = 0x0600;

mod offsets {
    pub const DST: usize = 0;
    pub const SRC: usize = 6;
    pub const ETHERTYPE: usize = 12;
}

/// A read-only view of an Ethernet II frame. Only [`EthernetFrame::new_checked`] builds one, so every getter is
/// in bounds. `T`'s `as_ref` must return the same slice every time (true of slices, `Vec` and buffers).
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// A view of `buffer`, or `Err(Truncated)` if it cannot hold an Ethernet header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        require_len(buffer.as_ref(), ETHERNET_HEADER_LEN)?;
        Ok(Self { buffer })
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst_addr(&self) -> MacAddress {
        read_mac(self.buffer.as_ref(), offsets::DST)
    }

    pub fn src_addr(&self) -> MacAddress {
        read_mac(self.buffer.as_ref(), offsets::SRC)
    }

    /// The raw type/length field (below 0x0600 it is an 802.3 length).
    pub fn ethertype_raw(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::ETHERTYPE)
    }

    pub fn ethertype(&self) -> EtherType {
        EtherType::from(self.ethertype_raw())
    }

    /// Everything after the header, including any padding up to the minimum frame size.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[ETHERNET_HEADER_LEN..]
    }
}

impl<'a> EthernetFrame<&'a [u8]> {
    /// The payload, borrowed for as long as the underlying bytes.
    pub fn payload_slice(&self) -> &'a [u8] {
        let bytes: &'a [u8] = self.buffer;
        &bytes[ETHERNET_HEADER_LEN..]
    }
}

/// A validated Ethernet II header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    pub src_addr: MacAddress,
    pub dst_addr: MacAddress,
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// The header of `frame`; `Err(Unsupported)` for an 802.3 length-field frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<Self, WireError> {
        if frame.ethertype_raw() < MIN_ETHERTYPE {
            return Err(WireError::Unsupported);
        }
        Ok(Self { src_addr: frame.src_addr(), dst_addr: frame.dst_addr(), ethertype: frame.ethertype() })
    }

    /// Bytes [`EthernetRepr::emit`] writes: the header only; the payload follows it.
    pub fn buffer_len(&self) -> usize {
        ETHERNET_HEADER_LEN
    }

    /// Writes the header at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let out = output_prefix(buf, ETHERNET_HEADER_LEN)?;
        out[offsets::DST..offsets::DST + 6].copy_from_slice(&self.dst_addr.0);
        out[offsets::SRC..offsets::SRC + 6].copy_from_slice(&self.src_addr.0);
        write_u16(out, offsets::ETHERTYPE, u16::from(self.ethertype));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Ethernet header of a captured ARP request (broadcast from 00:0c:29:3e:5b:4a).
    const ARP_FRAME_HEADER: [u8; 14] =
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x0c, 0x29, 0x3e, 0x5b, 0x4a, 0x08, 0x06];

    #[test]
    fn parses_captured_header() {
        let frame = EthernetFrame::new_checked(&ARP_FRAME_HEADER[..]).expect("long enough");
        let repr = EthernetRepr::parse(&frame).expect("valid");
        assert_eq!(repr.dst_addr, MacAddress::BROADCAST);
        assert_eq!(repr.src_addr, MacAddress([0x00, 0x0c, 0x29, 0x3e, 0x5b, 0x4a]));
        assert_eq!(repr.ethertype, EtherType::Arp);
        assert!(frame.payload().is_empty());
        assert_eq!(repr.src_addr.to_string(), "00:0c:29:3e:5b:4a");
    }

    #[test]
    fn round_trips() {
        let repr = EthernetRepr {
            src_addr: MacAddress([2, 0, 0, 0, 0, 1]),
            dst_addr: MacAddress([2, 0, 0, 0, 0, 2]),
            ethertype: EtherType::Unknown(0x88b5),
        };
        let mut buf = [0u8; 20];
        repr.emit(&mut buf).expect("fits");
        let frame = EthernetFrame::new_checked(&buf[..]).expect("long enough");
        assert_eq!(EthernetRepr::parse(&frame), Ok(repr));
        assert_eq!(frame.payload().len(), 6);
    }

    #[test]
    fn rejects_short_and_8023_frames_and_small_buffers() {
        for len in 0..ETHERNET_HEADER_LEN {
            assert_eq!(EthernetFrame::new_checked(&ARP_FRAME_HEADER[..len]).err(), Some(WireError::Truncated));
        }
        let mut ieee8023 = ARP_FRAME_HEADER;
        ieee8023[12..14].copy_from_slice(&100u16.to_be_bytes());
        let frame = EthernetFrame::new_checked(&ieee8023[..]).expect("long enough");
        assert_eq!(EthernetRepr::parse(&frame), Err(WireError::Unsupported));
        let repr = EthernetRepr::parse(&EthernetFrame::new_checked(&ARP_FRAME_HEADER[..]).expect("ok")).expect("ok");
        assert_eq!(repr.emit(&mut [0u8; 13]), Err(WireError::BufferTooSmall));
    }

    #[test]
    fn address_classes() {
        assert!(MacAddress::BROADCAST.is_broadcast() && MacAddress::BROADCAST.is_multicast());
        assert!(MacAddress([0x01, 0x00, 0x5e, 0, 0, 1]).is_multicast());
        assert!(MacAddress([0x02, 0, 0, 0, 0, 1]).is_unicast());
        assert!(!MacAddress::ZERO.is_unicast());
        assert_eq!(EtherType::from(0x0800), EtherType::Ipv4);
        assert_eq!(u16::from(EtherType::Ipv6), 0x86dd);
    }
}
