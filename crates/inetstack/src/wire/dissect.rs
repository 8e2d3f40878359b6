//! Whole packets: parse an Ethernet frame (or a bare IPv4 datagram) through every layer into one value, and
//! emit such a value back into bytes.
//!
//! For tracing, tests that craft or check packets, and fuzzing the parsers end to end. The receive path of the
//! stack parses layer by layer instead, so it can stop early and count drops per layer.

use super::{
    ArpPacket, ArpRepr, ChecksumCapabilities, EtherType, EthernetFrame, EthernetRepr, IPV4_MAX_DATAGRAM_LEN,
    Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr, UdpPacket, UdpRepr, WireError,
};

/// What an IPv4 datagram carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport<'a> {
    Icmpv4(Icmpv4Repr<'a>),
    Udp(UdpRepr<'a>),
    Tcp(TcpRepr<'a>),
    /// A protocol this stack does not parse, with the raw payload.
    Other {
        protocol: IpProtocol,
        payload: &'a [u8],
    },
}

impl Transport<'_> {
    /// Bytes the transport message takes when emitted.
    pub fn buffer_len(&self) -> usize {
        match self {
            Transport::Icmpv4(icmp) => icmp.buffer_len(),
            Transport::Udp(udp) => udp.buffer_len(),
            Transport::Tcp(tcp) => tcp.buffer_len(),
            Transport::Other { payload, .. } => payload.len(),
        }
    }

    /// The protocol number the IPv4 header must carry.
    pub fn protocol(&self) -> IpProtocol {
        match self {
            Transport::Icmpv4(_) => IpProtocol::Icmp,
            Transport::Udp(_) => IpProtocol::Udp,
            Transport::Tcp(_) => IpProtocol::Tcp,
            Transport::Other { protocol, .. } => *protocol,
        }
    }
}

/// An IPv4 datagram parsed down to its transport message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Datagram<'a> {
    pub header: Ipv4Repr,
    pub transport: Transport<'a>,
}

impl<'a> Ipv4Datagram<'a> {
    /// Parses an IPv4 datagram (a raw IP packet, as packetdrill and TUN devices deliver them).
    pub fn parse(bytes: &'a [u8], caps: &ChecksumCapabilities) -> Result<Self, WireError> {
        let packet = Ipv4Packet::new_checked(bytes)?;
        let header = Ipv4Repr::parse(&packet, caps)?;
        let payload = packet.payload_slice();
        let (src, dst) = (header.src_addr, header.dst_addr);
        let transport = match header.protocol {
            IpProtocol::Icmp => Transport::Icmpv4(Icmpv4Repr::parse(&Icmpv4Packet::new_checked(payload)?, caps)?),
            IpProtocol::Udp => Transport::Udp(UdpRepr::parse(&UdpPacket::new_checked(payload)?, src, dst, caps)?),
            IpProtocol::Tcp => Transport::Tcp(TcpRepr::parse(&TcpPacket::new_checked(payload)?, src, dst, caps)?),
            protocol @ IpProtocol::Unknown(_) => Transport::Other { protocol, payload },
        };
        Ok(Self { header, transport })
    }

    /// The same datagram with the header's payload length and protocol set from the transport message, as
    /// [`Ipv4Datagram::emit`] writes them (a parsed datagram may differ: trailing bytes after a UDP datagram,
    /// TCP options re-encoded in fewer bytes).
    pub fn normalized(self) -> Self {
        let header =
            Ipv4Repr { payload_len: self.transport.buffer_len(), protocol: self.transport.protocol(), ..self.header };
        Self { header, ..self }
    }

    /// Bytes [`Ipv4Datagram::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        self.header.buffer_len() + self.transport.buffer_len()
    }

    /// Writes the whole datagram at the start of `buf` (payload length and protocol come from the transport).
    pub fn emit(&self, buf: &mut [u8], caps: &ChecksumCapabilities) -> Result<(), WireError> {
        let header = self.normalized().header;
        let out = buf.get_mut(..self.buffer_len()).ok_or(WireError::BufferTooSmall)?;
        let (ip_bytes, payload) = out.split_at_mut(header.buffer_len());
        header.emit(ip_bytes, caps)?;
        let (src, dst) = (header.src_addr, header.dst_addr);
        match &self.transport {
            Transport::Icmpv4(icmp) => icmp.emit(payload, caps),
            Transport::Udp(udp) => udp.emit(payload, src, dst, caps),
            Transport::Tcp(tcp) => tcp.emit(payload, src, dst, caps),
            Transport::Other { payload: bytes, .. } => {
                payload.copy_from_slice(bytes);
                Ok(())
            }
        }
    }
}

/// What an Ethernet frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameContents<'a> {
    Arp(ArpRepr),
    Ipv4(Ipv4Datagram<'a>),
    /// An EtherType this stack does not parse (IPv6 among them), with the raw payload.
    Other {
        payload: &'a [u8],
    },
}

/// An Ethernet frame parsed through every layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub ethernet: EthernetRepr,
    pub contents: FrameContents<'a>,
}

impl<'a> Frame<'a> {
    /// Parses an Ethernet II frame and everything in it.
    pub fn parse(bytes: &'a [u8], caps: &ChecksumCapabilities) -> Result<Self, WireError> {
        let frame = EthernetFrame::new_checked(bytes)?;
        let ethernet = EthernetRepr::parse(&frame)?;
        let payload = frame.payload_slice();
        let contents = match ethernet.ethertype {
            EtherType::Arp => FrameContents::Arp(ArpRepr::parse(&ArpPacket::new_checked(payload)?)?),
            EtherType::Ipv4 => FrameContents::Ipv4(Ipv4Datagram::parse(payload, caps)?),
            EtherType::Ipv6 | EtherType::Unknown(_) => FrameContents::Other { payload },
        };
        Ok(Self { ethernet, contents })
    }

    /// The same frame as [`Frame::emit`] writes it (see [`Ipv4Datagram::normalized`]; ARP padding dropped).
    pub fn normalized(self) -> Self {
        match self.contents {
            FrameContents::Ipv4(datagram) => Self { contents: FrameContents::Ipv4(datagram.normalized()), ..self },
            FrameContents::Arp(_) | FrameContents::Other { .. } => self,
        }
    }

    /// Bytes [`Frame::emit`] writes (no padding to the 60-byte minimum).
    pub fn buffer_len(&self) -> usize {
        self.ethernet.buffer_len()
            + match &self.contents {
                FrameContents::Arp(arp) => arp.buffer_len(),
                FrameContents::Ipv4(datagram) => datagram.buffer_len(),
                FrameContents::Other { payload } => payload.len(),
            }
    }

    /// Writes the whole frame at the start of `buf`.
    pub fn emit(&self, buf: &mut [u8], caps: &ChecksumCapabilities) -> Result<(), WireError> {
        let out = buf.get_mut(..self.buffer_len()).ok_or(WireError::BufferTooSmall)?;
        let (header, payload) = out.split_at_mut(self.ethernet.buffer_len());
        self.ethernet.emit(header)?;
        match &self.contents {
            FrameContents::Arp(arp) => arp.emit(payload),
            FrameContents::Ipv4(datagram) => datagram.emit(payload, caps),
            FrameContents::Other { payload: bytes } => {
                payload.copy_from_slice(bytes);
                Ok(())
            }
        }
    }
}

/// Test support: parses `bytes` as a frame with `rx_caps`, and if that succeeds, emits it with checksums, parses
/// the result and checks it is the same frame. `Err` only when the input does not parse; a round-trip mismatch or
/// emit failure panics, which is what tests and fuzz targets want to hear about.
#[doc(hidden)]
pub fn check_frame_round_trip(bytes: &[u8], rx_caps: &ChecksumCapabilities) -> Result<(), WireError> {
    let caps = ChecksumCapabilities::software();
    let frame = Frame::parse(bytes, rx_caps)?.normalized();
    if let FrameContents::Ipv4(datagram) = frame.contents
        && exceeds_ipv4_limit(&datagram)
    {
        return Ok(());
    }
    let mut out = vec![0u8; frame.buffer_len()];
    if let Err(error) = frame.emit(&mut out, &caps) {
        panic!("a parsed frame failed to emit ({error}): {frame:?}");
    }
    let reparsed = Frame::parse(&out, &caps);
    assert_eq!(reparsed, Ok(frame), "emit then parse changed the frame");
    Ok(())
}

/// Test support: as [`check_frame_round_trip`], for a bare IPv4 datagram.
#[doc(hidden)]
pub fn check_ipv4_round_trip(bytes: &[u8], rx_caps: &ChecksumCapabilities) -> Result<(), WireError> {
    let caps = ChecksumCapabilities::software();
    let datagram = Ipv4Datagram::parse(bytes, rx_caps)?.normalized();
    if exceeds_ipv4_limit(&datagram) {
        return Ok(());
    }
    let mut out = vec![0u8; datagram.buffer_len()];
    if let Err(error) = datagram.emit(&mut out, &caps) {
        panic!("a parsed datagram failed to emit ({error}): {datagram:?}");
    }
    assert_eq!(Ipv4Datagram::parse(&out, &caps), Ok(datagram), "emit then parse changed the datagram");
    Ok(())
}

/// Whether re-encoding made a datagram too long for IPv4 (TCP options re-laid out with NOPs can take a few more
/// bytes than a tightly packed original), so emitting it must fail with `TooLarge` and there is nothing to compare.
fn exceeds_ipv4_limit(datagram: &Ipv4Datagram<'_>) -> bool {
    datagram.buffer_len() > IPV4_MAX_DATAGRAM_LEN
}
