//! TCP segments (RFC 9293, formerly RFC 793): [`TcpFlags`], the zero-copy [`TcpPacket`] view and the
//! [`TcpRepr`] representation, with the checksum over the IPv4 pseudo-header. Options live in
//! [`super::tcp_options`]; sequence arithmetic in [`super::SeqNumber`].
//!
//! Not the state machine: whether a flag combination or a sequence number is acceptable is decided by the socket
//! layer. The AE bit (formerly NS, RFC 3540's historic nonce; Accurate ECN's since RFC 9768) is the low bit of
//! the data-offset byte; the reserved bits beside it are ignored on receive and zero on send.

use std::fmt;
use std::net::Ipv4Addr;

use super::checksum::{checksum_from_sum, combine, ipv4_pseudo_header_sum, ones_complement_sum, sum_is_valid};
use super::field::{output_prefix, read_u16, read_u32, require_len, write_u16, write_u32};
use super::tcp_options::{TCP_MAX_OPTIONS_LEN, TcpOptions};
use super::{ChecksumCapabilities, IpProtocol, SeqNumber, WireError};

/// Length of a TCP header without options.
pub const TCP_MIN_HEADER_LEN: usize = 20;

mod offsets {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// The control bits of a segment: the flags byte, and AE (bit 8, in the byte before it).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(u16);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);
    /// Accurate ECN's third feedback bit (RFC 9768 §3.2.2: AE, CWR and ECE together form the ACE counter).
    pub const AE: TcpFlags = TcpFlags(0x100);
    const NAMES: [(TcpFlags, &'static str); 9] = [
        (TcpFlags::FIN, "FIN"),
        (TcpFlags::SYN, "SYN"),
        (TcpFlags::RST, "RST"),
        (TcpFlags::PSH, "PSH"),
        (TcpFlags::ACK, "ACK"),
        (TcpFlags::URG, "URG"),
        (TcpFlags::ECE, "ECE"),
        (TcpFlags::CWR, "CWR"),
        (TcpFlags::AE, "AE"),
    ];

    /// No flags.
    pub const fn empty() -> Self {
        TcpFlags(0)
    }

    /// The flags of a header's flag byte (AE clear).
    pub const fn from_bits(bits: u8) -> Self {
        TcpFlags(bits as u16)
    }

    /// The flags of a header's data-offset byte (its low bit is AE) and flags byte.
    pub const fn from_header(offset_byte: u8, flags_byte: u8) -> Self {
        TcpFlags(((offset_byte & 1) as u16) << 8 | flags_byte as u16)
    }

    /// The header's flags byte (every flag but AE).
    pub const fn bits(self) -> u8 {
        self.0 as u8
    }

    /// The data-offset byte of a header `header_len` bytes long carrying these flags (AE in its low bit).
    pub const fn offset_byte(self, header_len: usize) -> u8 {
        ((header_len / 4) as u8) << 4 | (self.0 >> 8) as u8
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: TcpFlags) -> Self {
        TcpFlags(self.0 | other.0)
    }

    pub const fn without(self, other: TcpFlags) -> Self {
        TcpFlags(self.0 & !other.0)
    }

    pub fn syn(self) -> bool {
        self.contains(TcpFlags::SYN)
    }

    pub fn fin(self) -> bool {
        self.contains(TcpFlags::FIN)
    }

    pub fn rst(self) -> bool {
        self.contains(TcpFlags::RST)
    }

    pub fn psh(self) -> bool {
        self.contains(TcpFlags::PSH)
    }

    pub fn ack(self) -> bool {
        self.contains(TcpFlags::ACK)
    }

    pub fn urg(self) -> bool {
        self.contains(TcpFlags::URG)
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;

    fn bitor(self, other: TcpFlags) -> TcpFlags {
        self.union(other)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = TcpFlags::NAMES.iter().filter(|(flag, _)| self.contains(*flag)).map(|(_, name)| name);
        f.write_str("TcpFlags(")?;
        if let Some(first) = names.next() {
            f.write_str(first)?;
            for name in names {
                write!(f, "|{name}")?;
            }
        }
        f.write_str(")")
    }
}

/// A read-only view of a TCP segment (the IP payload). [`TcpPacket::new_checked`] ensures the data offset is at
/// least 5 words and within the buffer, so every getter is in bounds; options are checked by [`TcpRepr::parse`].
#[derive(Debug, Clone, Copy)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// A view of `buffer`: `Err(Truncated)` if it is shorter than the header its data offset declares,
    /// `Err(Malformed)` if the data offset is under 5 words.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let bytes = buffer.as_ref();
        require_len(bytes, TCP_MIN_HEADER_LEN)?;
        let header_len = usize::from(bytes[offsets::DATA_OFFSET] >> 4) * 4;
        if header_len < TCP_MIN_HEADER_LEN {
            return Err(WireError::Malformed);
        }
        require_len(bytes, header_len)?;
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

    pub fn seq_number(&self) -> SeqNumber {
        SeqNumber(read_u32(self.buffer.as_ref(), offsets::SEQ))
    }

    /// The acknowledgment field, meaningful only when the ACK flag is set.
    pub fn ack_number(&self) -> SeqNumber {
        SeqNumber(read_u32(self.buffer.as_ref(), offsets::ACK))
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[offsets::DATA_OFFSET] >> 4) * 4
    }

    pub fn flags(&self) -> TcpFlags {
        let bytes = self.buffer.as_ref();
        TcpFlags::from_header(bytes[offsets::DATA_OFFSET], bytes[offsets::FLAGS])
    }

    /// The window field, before any window scaling.
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::CHECKSUM)
    }

    pub fn urgent_pointer(&self) -> u16 {
        read_u16(self.buffer.as_ref(), offsets::URGENT)
    }

    /// The raw option bytes (see [`super::TcpOptionIter`]).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[TCP_MIN_HEADER_LEN..self.header_len()]
    }

    /// The payload: everything after the header (the IP layer has already cut the buffer to its length).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    pub fn segment_len(&self) -> usize {
        self.payload().len() + usize::from(self.flags().syn()) + usize::from(self.flags().fin())
    }

    /// Whether the checksum is correct for a segment between `src` and `dst`; `false` for a segment too long
    /// for the pseudo-header's 16-bit length.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let segment = self.buffer.as_ref();
        let Ok(length) = u16::try_from(segment.len()) else { return false };
        let pseudo = ipv4_pseudo_header_sum(src, dst, IpProtocol::Tcp, length);
        sum_is_valid(combine(&[pseudo, ones_complement_sum(segment)]))
    }
}

/// A validated TCP segment; the payload is borrowed from the parsed bytes or from the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq_number: SeqNumber,
    /// The acknowledgment number; `Some` exactly when the ACK flag is set.
    pub ack_number: Option<SeqNumber>,
    /// Control bits other than ACK (which is `ack_number.is_some()`; an ACK in here is ignored on emit).
    pub flags: TcpFlags,
    /// The window field, already scaled down by the sender's window scale.
    pub window_len: u16,
    pub urgent_pointer: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// The segment in `packet`, sent from `src` to `dst`: `Err(Checksum)` on a bad checksum (when `caps.tcp`
    /// verifies), `Err(Malformed)` on malformed options.
    #[inline]
    pub fn parse(
        packet: &TcpPacket<&'a [u8]>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        caps: &ChecksumCapabilities,
    ) -> Result<Self, WireError> {
        if caps.tcp.verify_on_rx() && !packet.verify_checksum(src, dst) {
            return Err(WireError::Checksum);
        }
        let flags = packet.flags();
        let bytes: &'a [u8] = packet.buffer;
        Ok(Self {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: flags.ack().then(|| packet.ack_number()),
            flags: flags.without(TcpFlags::ACK),
            window_len: packet.window_len(),
            urgent_pointer: packet.urgent_pointer(),
            options: TcpOptions::parse(packet.options())?,
            payload: &bytes[packet.header_len()..],
        })
    }

    /// Header length with options. If the options cannot be encoded (over 40 bytes), emitting fails with
    /// `TooLarge` and this length is not meaningful.
    pub fn header_len(&self) -> usize {
        TCP_MIN_HEADER_LEN + self.options.encoded_len().unwrap_or(TCP_MAX_OPTIONS_LEN)
    }

    /// Bytes [`TcpRepr::emit`] writes: header, options and payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }

    /// Writes the header, options and a copy of the payload at the start of `buf`.
    pub fn emit(
        &self,
        buf: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        caps: &ChecksumCapabilities,
    ) -> Result<(), WireError> {
        let header_len = TCP_MIN_HEADER_LEN + self.options.encoded_len()?;
        let out = output_prefix(buf, header_len + self.payload.len())?;
        let (header, payload) = out.split_at_mut(header_len);
        payload.copy_from_slice(self.payload);
        self.emit_header(header, src, dst, caps)
    }

    /// Writes only the header and options into `header`; the checksum covers `self.payload` wherever it lives
    /// (for zero-copy transmission of a payload already in a device buffer).
    pub fn emit_header(
        &self,
        header: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        caps: &ChecksumCapabilities,
    ) -> Result<(), WireError> {
        let header_len = TCP_MIN_HEADER_LEN + self.options.encoded_len()?;
        let segment_len = u16::try_from(header_len + self.payload.len()).map_err(|_| WireError::TooLarge)?;
        let out = output_prefix(header, header_len)?;
        let (fixed, options) = out.split_at_mut(TCP_MIN_HEADER_LEN);
        write_u16(fixed, offsets::SRC_PORT, self.src_port);
        write_u16(fixed, offsets::DST_PORT, self.dst_port);
        write_u32(fixed, offsets::SEQ, self.seq_number.0);
        write_u32(fixed, offsets::ACK, self.ack_number.map_or(0, |ack| ack.0));
        // Header length in 32-bit words, at most 15.
        fixed[offsets::DATA_OFFSET] = self.flags.offset_byte(header_len);
        let ack = if self.ack_number.is_some() { TcpFlags::ACK } else { TcpFlags::empty() };
        fixed[offsets::FLAGS] = self.flags.without(TcpFlags::ACK).union(ack).bits();
        write_u16(fixed, offsets::WINDOW, self.window_len);
        write_u16(fixed, offsets::CHECKSUM, 0);
        write_u16(fixed, offsets::URGENT, self.urgent_pointer);
        self.options.emit(options)?;
        if caps.tcp.generate_on_tx() {
            let pseudo = ipv4_pseudo_header_sum(src, dst, IpProtocol::Tcp, segment_len);
            let sum = combine(&[pseudo, ones_complement_sum(out), ones_complement_sum(self.payload)]);
            write_u16(out, offsets::CHECKSUM, checksum_from_sum(sum));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp_options::{SackBlock, SackBlocks, TcpTimestamps};
    use crate::wire::{ChecksumMode, Ipv4Packet, samples};

    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const SERVER: Ipv4Addr = Ipv4Addr::new(93, 184, 216, 34);

    fn caps() -> ChecksumCapabilities {
        ChecksumCapabilities::software()
    }

    fn captured_syn() -> &'static [u8] {
        Ipv4Packet::new_checked(&samples::TCP_SYN[..]).expect("valid IP").payload_slice()
    }

    fn data_segment(payload: &[u8]) -> TcpRepr<'_> {
        let blocks = [SackBlock { left: SeqNumber(u32::MAX - 100), right: SeqNumber(300) }];
        TcpRepr {
            src_port: 80,
            dst_port: 54690,
            seq_number: SeqNumber(0xffff_fff0),
            ack_number: Some(SeqNumber(0x4a2b_3c4e)),
            flags: TcpFlags::PSH,
            window_len: 509,
            urgent_pointer: 0,
            options: TcpOptions {
                timestamps: Some(TcpTimestamps { value: 77, echo_reply: 0x009a_3b8c }),
                sack_blocks: SackBlocks::from_slice(&blocks).expect("one block"),
                ..TcpOptions::default()
            },
            payload,
        }
    }

    #[test]
    fn parses_captured_syn_and_reemits_it_exactly() {
        let bytes = captured_syn();
        let packet = TcpPacket::new_checked(bytes).expect("lengths ok");
        let repr = TcpRepr::parse(&packet, CLIENT, SERVER, &caps()).expect("valid");
        assert_eq!((repr.src_port, repr.dst_port), (54690, 80));
        assert_eq!(repr.seq_number, SeqNumber(0x4a2b_3c4d));
        assert_eq!(repr.ack_number, None);
        assert_eq!(repr.flags, TcpFlags::SYN);
        assert_eq!(repr.window_len, 64240);
        assert_eq!(repr.options.mss, Some(1460));
        assert_eq!(repr.options.window_scale, Some(7));
        assert!(repr.options.sack_permitted);
        assert_eq!(repr.options.timestamps, Some(TcpTimestamps { value: 0x009a_3b8c, echo_reply: 0 }));
        assert!(repr.payload.is_empty());
        assert_eq!(repr.segment_len(), 1);
        assert_eq!(packet.segment_len(), 1);
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out, CLIENT, SERVER, &caps()).expect("fits");
        assert_eq!(out, bytes);
    }

    #[test]
    fn data_segment_round_trips_and_header_can_be_emitted_apart() {
        let payload = b"GET / HTTP/1.1\r\n\r\n!";
        let repr = data_segment(payload);
        let mut whole = vec![0u8; repr.buffer_len()];
        repr.emit(&mut whole, SERVER, CLIENT, &caps()).expect("fits");
        let packet = TcpPacket::new_checked(&whole[..]).expect("lengths ok");
        assert_eq!(TcpRepr::parse(&packet, SERVER, CLIENT, &caps()), Ok(repr));
        assert!(packet.flags().ack() && packet.flags().psh());

        let mut header = vec![0u8; repr.header_len()];
        repr.emit_header(&mut header, SERVER, CLIENT, &caps()).expect("fits");
        assert_eq!(header[..], whole[..repr.header_len()]);
    }

    #[test]
    fn the_ae_bit_lives_in_the_data_offset_byte_and_the_reserved_bits_beside_it_are_ignored() {
        let mut repr = data_segment(b"x");
        repr.flags = TcpFlags::AE | TcpFlags::CWR | TcpFlags::PSH;
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out, SERVER, CLIENT, &caps()).expect("fits");
        assert_eq!((out[12], out[13]), (((repr.header_len() / 4) as u8) << 4 | 1, 0x80 | 0x10 | 0x08));
        let packet = TcpPacket::new_checked(&out[..]).expect("lengths ok");
        assert_eq!(TcpRepr::parse(&packet, SERVER, CLIENT, &caps()), Ok(repr));
        // The three reserved bits (RFC 9293's, beside AE) set by someone else: ignored, and zero when emitted.
        let mut reserved = out.clone();
        reserved[12] |= 0b1110;
        let fix = |bytes: &mut Vec<u8>| {
            bytes[16..18].fill(0);
            let length = u16::try_from(bytes.len()).expect("small");
            let pseudo = ipv4_pseudo_header_sum(SERVER, CLIENT, IpProtocol::Tcp, length);
            let sum = combine(&[pseudo, ones_complement_sum(bytes)]);
            bytes[16..18].copy_from_slice(&checksum_from_sum(sum).to_be_bytes());
        };
        fix(&mut reserved);
        let parsed =
            TcpRepr::parse(&TcpPacket::new_checked(&reserved[..]).expect("lengths ok"), SERVER, CLIENT, &caps());
        assert_eq!(parsed, Ok(repr));
        assert_eq!(format!("{:?}", TcpFlags::ECE | TcpFlags::AE), "TcpFlags(ECE|AE)");
    }

    #[test]
    fn ack_flag_follows_ack_number() {
        let mut repr = data_segment(&[]);
        repr.ack_number = None;
        repr.flags = TcpFlags::ACK | TcpFlags::FIN;
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out, SERVER, CLIENT, &caps()).expect("fits");
        let packet = TcpPacket::new_checked(&out[..]).expect("lengths ok");
        assert_eq!(packet.flags(), TcpFlags::FIN);
        let parsed = TcpRepr::parse(&packet, SERVER, CLIENT, &caps()).expect("valid");
        assert_eq!((parsed.ack_number, parsed.flags, parsed.segment_len()), (None, TcpFlags::FIN, 1));
        assert_eq!(format!("{:?}", TcpFlags::SYN | TcpFlags::ACK), "TcpFlags(SYN|ACK)");
    }

    #[test]
    fn checksum_covers_payload_and_pseudo_header_and_can_be_offloaded() {
        let repr = data_segment(b"x");
        let mut out = vec![0u8; repr.buffer_len()];
        repr.emit(&mut out, SERVER, CLIENT, &caps()).expect("fits");
        let last = out.len() - 1;
        out[last] ^= 0x20;
        let packet = TcpPacket::new_checked(&out[..]).expect("lengths ok");
        assert_eq!(TcpRepr::parse(&packet, SERVER, CLIENT, &caps()), Err(WireError::Checksum));
        let mut rx_offload = caps();
        rx_offload.tcp = ChecksumMode::GenerateOnly;
        assert!(TcpRepr::parse(&packet, SERVER, CLIENT, &rx_offload).is_ok());

        let packet = TcpPacket::new_checked(captured_syn()).expect("lengths ok");
        assert_eq!(TcpRepr::parse(&packet, CLIENT, Ipv4Addr::new(93, 184, 216, 35), &caps()), Err(WireError::Checksum));

        let mut tx_offload = caps();
        tx_offload.tcp = ChecksumMode::VerifyOnly;
        repr.emit(&mut out, SERVER, CLIENT, &tx_offload).expect("fits");
        assert_eq!(&out[16..18], &[0, 0]);
    }

    #[test]
    fn rejects_truncated_and_malformed_headers() {
        let bytes = captured_syn();
        for len in 0..bytes.len() {
            assert_eq!(TcpPacket::new_checked(&bytes[..len]).err(), Some(WireError::Truncated), "len {len}");
        }
        for data_offset in 0..5u8 {
            let mut bad = bytes.to_vec();
            bad[12] = data_offset << 4;
            assert_eq!(TcpPacket::new_checked(&bad[..]).err(), Some(WireError::Malformed));
        }
        // MSS option claiming length 5 inside a valid-length header.
        let mut bad_option = bytes.to_vec();
        bad_option[21] = 5;
        let packet = TcpPacket::new_checked(&bad_option[..]).expect("lengths ok");
        let offloaded = ChecksumCapabilities::offloaded();
        assert_eq!(TcpRepr::parse(&packet, CLIENT, SERVER, &offloaded), Err(WireError::Malformed));

        let repr = data_segment(b"abc");
        assert_eq!(repr.emit(&mut [0u8; 10], SERVER, CLIENT, &caps()), Err(WireError::BufferTooSmall));
        let too_many = [SackBlock::default(); 4];
        let oversized = TcpRepr {
            options: TcpOptions {
                mss: Some(1),
                window_scale: Some(1),
                sack_blocks: SackBlocks::from_slice(&too_many).expect("four"),
                ..repr.options
            },
            ..repr
        };
        assert_eq!(oversized.emit(&mut [0u8; 100], SERVER, CLIENT, &caps()), Err(WireError::TooLarge));
    }
}
