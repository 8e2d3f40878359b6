//! Packet formats: for each protocol, a zero-copy view over bytes and a validated representation.
//!
//! - A view (`EthernetFrame`, `ArpPacket`, `Ipv4Packet`, `Icmpv4Packet`, `UdpPacket`, `TcpPacket`) wraps any
//!   `T: AsRef<[u8]>`. Its only constructor, `new_checked`, validates lengths once; after that no getter can
//!   panic, whatever the bytes.
//! - A representation (`EthernetRepr`, `ArpRepr`, `Ipv4Repr`, `Icmpv4Repr`, `UdpRepr`, `TcpRepr`) holds only
//!   valid values: `parse(&view, ...)` checks fields and checksums and returns a [`WireError`] otherwise;
//!   `emit(&self, buf, ...)` writes `buffer_len()` bytes and generates checksums. [`ChecksumCapabilities`]
//!   turns verification or generation off per protocol for devices that offload them.
//! - [`TcpFrame`] parses the common TCP frame (Ethernet, IPv4, TCP) in one pass, for the receive fast path.
//! - [`dissect`] parses a whole frame down to its transport header, for tracing, tests and fuzzing.
//!
//! Not here: any state (ARP cache, sockets, counters) and any policy (which packets to accept or answer).

mod arp;
mod checksum;
pub mod dissect;
mod error;
mod ethernet;
mod field;
mod icmpv4;
mod ipv4;
mod seq_number;
mod tcp;
mod tcp_frame;
mod tcp_options;
mod udp;

#[cfg(test)]
mod mutation_tests;
#[cfg(test)]
mod samples;

pub use arp::{ARP_PACKET_LEN, ArpOperation, ArpPacket, ArpRepr};
pub(crate) use checksum::fold;
pub use checksum::{
    ChecksumCapabilities, ChecksumMode, checksum_from_sum, combine, ipv4_pseudo_header_sum, ones_complement_sum,
    sum_is_valid,
};
pub use error::WireError;
pub use ethernet::{ETHERNET_HEADER_LEN, EtherType, EthernetFrame, EthernetRepr, MacAddress};
pub use icmpv4::{
    DstUnreachable, ICMPV4_ERROR_QUOTE_LEN, ICMPV4_HEADER_LEN, Icmpv4Packet, Icmpv4Repr, TimeExceeded,
    is_icmp_error_type,
};
pub use ipv4::{IPV4_MAX_DATAGRAM_LEN, IPV4_MIN_HEADER_LEN, IpProtocol, Ipv4Packet, Ipv4Repr};
pub use seq_number::SeqNumber;
pub use tcp::{TCP_MIN_HEADER_LEN, TcpFlags, TcpPacket, TcpRepr};
pub use tcp_frame::TcpFrame;
pub use tcp_options::{
    SackBlock, SackBlocks, TCP_MAX_OPTIONS_LEN, TCP_MAX_SACK_BLOCKS, TCP_MAX_WINDOW_SCALE, TcpOption, TcpOptionIter,
    TcpOptions, TcpTimestamps,
};
pub use udp::{UDP_HEADER_LEN, UdpPacket, UdpRepr};
