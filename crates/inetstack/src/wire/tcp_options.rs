//! TCP options: parsing the option bytes of a header into [`TcpOptions`] and writing them back.
//!
//! Handles End of Option List and No-Operation (RFC 9293), Maximum Segment Size (RFC 9293, RFC 6691),
//! Window Scale and Timestamps (RFC 7323), SACK-Permitted and SACK (RFC 2018). Other kinds are skipped by their
//! length. An option whose length byte is missing, under 2, runs past the header, or is wrong for its kind makes
//! the whole segment `Malformed`. Not for TCP Fast Open, MPTCP, TCP-AO or MD5 signatures (skipped as unknown).

use super::SeqNumber;
use super::WireError;
use super::field::{read_u16, read_u32, write_u16, write_u32};

/// Most bytes of options a TCP header can carry (60-byte header minus the fixed 20).
pub const TCP_MAX_OPTIONS_LEN: usize = 40;
/// Most SACK blocks one option can carry (2 + 4 * 8 = 34 bytes).
pub const TCP_MAX_SACK_BLOCKS: usize = 4;
/// Largest window scale shift (RFC 7323 §2.3); larger received values are treated as 14.
pub const TCP_MAX_WINDOW_SCALE: u8 = 14;

mod kind {
    pub const END_OF_LIST: u8 = 0;
    pub const NO_OPERATION: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

mod length {
    pub const MSS: usize = 4;
    pub const WINDOW_SCALE: usize = 3;
    pub const SACK_PERMITTED: usize = 2;
    pub const TIMESTAMPS: usize = 10;
    pub const SACK_BLOCK: usize = 8;
}

/// NOP, NOP, Timestamps: how the timestamps option leads a segment's options (RFC 7323 Appendix A).
const COMMON_TIMESTAMPS_HEAD: [u8; 4] =
    [kind::NO_OPERATION, kind::NO_OPERATION, kind::TIMESTAMPS, length::TIMESTAMPS as u8];
const COMMON_TIMESTAMPS_LEN: usize = 2 + length::TIMESTAMPS;
/// NOP, NOP, SACK (its length byte follows).
const COMMON_SACK_HEAD: [u8; 3] = [kind::NO_OPERATION, kind::NO_OPERATION, kind::SACK];

/// One SACK block: the received range `[left, right)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SackBlock {
    pub left: SeqNumber,
    pub right: SeqNumber,
}

/// The timestamps option (RFC 7323 §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpTimestamps {
    /// TSval: the sender's clock.
    pub value: u32,
    /// TSecr: the most recent TSval received from the peer.
    pub echo_reply: u32,
}

/// Up to four SACK blocks, stored inline (no allocation per segment). Aligned to 16 bytes: the blocks, written
/// as two 16-byte stores, are then copied with loads at the same offsets (at a 4-byte alignment the copy of an
/// enclosing header began 2 bytes earlier and each load straddled two stores, stalling store-to-load
/// forwarding on every received segment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(align(16))]
pub struct SackBlocks {
    blocks: [SackBlock; TCP_MAX_SACK_BLOCKS],
    len: u8,
}

impl SackBlocks {
    /// Blocks from a slice; `Err(TooLarge)` for more than four.
    pub fn from_slice(blocks: &[SackBlock]) -> Result<Self, WireError> {
        let mut sack = SackBlocks::default();
        for block in blocks {
            sack.push(*block)?;
        }
        Ok(sack)
    }

    /// Appends a block; `Err(TooLarge)` when four are already held.
    pub fn push(&mut self, block: SackBlock) -> Result<(), WireError> {
        let slot = self.blocks.get_mut(usize::from(self.len)).ok_or(WireError::TooLarge)?;
        *slot = block;
        self.len += 1;
        Ok(())
    }

    /// A SACK option (kind, length, blocks) that fills `bytes` after two NOPs, as [`TcpOptions::parse_common`]
    /// expects it; `None` for anything else. Out of line: only segments with SACK blocks (after a loss) get
    /// here, and the caller stays small enough to inline.
    #[inline(never)]
    fn parse_common(bytes: &[u8]) -> Option<Self> {
        let (head, blocks) = bytes.split_first_chunk::<4>()?;
        let well_formed = head[..3] == COMMON_SACK_HEAD
            && usize::from(head[3]) == 2 + blocks.len()
            && !blocks.is_empty()
            && blocks.len() % length::SACK_BLOCK == 0;
        if !well_formed {
            return None;
        }
        let mut sack = SackBlocks::default();
        for block in blocks.chunks_exact(length::SACK_BLOCK) {
            sack.push(SackBlock { left: SeqNumber(read_u32(block, 0)), right: SeqNumber(read_u32(block, 4)) }).ok()?;
        }
        Some(sack)
    }

    pub fn as_slice(&self) -> &[SackBlock] {
        &self.blocks[..usize::from(self.len)]
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The options of one segment, as the state machine uses them. If an option appears twice, the last one wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    /// The window scale shift, at most [`TCP_MAX_WINDOW_SCALE`].
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub sack_blocks: SackBlocks,
    pub timestamps: Option<TcpTimestamps>,
}

/// One option as it appears in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOption<'a> {
    EndOfList,
    NoOperation,
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    Sack(SackBlocks),
    Timestamps(TcpTimestamps),
    /// A kind this stack does not interpret, with its data (after kind and length).
    Unknown {
        kind: u8,
        data: &'a [u8],
    },
}

/// Iterates over the options in a header's option bytes. Yields `Err(Malformed)` once and then stops if an option
/// is malformed; stops after End of Option List.
#[derive(Clone, Debug)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptionIter<'a> {
    pub fn new(option_bytes: &'a [u8]) -> Self {
        Self { rest: option_bytes }
    }

    fn next_option(&mut self) -> Result<TcpOption<'a>, WireError> {
        let bytes = self.rest;
        let option_kind = bytes[0];
        match option_kind {
            kind::END_OF_LIST => {
                self.rest = &[];
                return Ok(TcpOption::EndOfList);
            }
            kind::NO_OPERATION => {
                self.rest = &bytes[1..];
                return Ok(TcpOption::NoOperation);
            }
            _ => {}
        }
        let len = usize::from(*bytes.get(1).ok_or(WireError::Malformed)?);
        if len < 2 {
            return Err(WireError::Malformed);
        }
        let option = bytes.get(..len).ok_or(WireError::Malformed)?;
        let data = &option[2..];
        self.rest = &bytes[len..];
        let parsed = match (option_kind, len) {
            (kind::MSS, length::MSS) => TcpOption::Mss(read_u16(data, 0)),
            (kind::WINDOW_SCALE, length::WINDOW_SCALE) => TcpOption::WindowScale(data[0].min(TCP_MAX_WINDOW_SCALE)),
            (kind::SACK_PERMITTED, length::SACK_PERMITTED) => TcpOption::SackPermitted,
            (kind::TIMESTAMPS, length::TIMESTAMPS) => {
                TcpOption::Timestamps(TcpTimestamps { value: read_u32(data, 0), echo_reply: read_u32(data, 4) })
            }
            (kind::SACK, _) if !data.is_empty() && data.len() % length::SACK_BLOCK == 0 => {
                let mut blocks = SackBlocks::default();
                for block in data.chunks_exact(length::SACK_BLOCK) {
                    let left = SeqNumber(read_u32(block, 0));
                    let right = SeqNumber(read_u32(block, 4));
                    // More than four blocks cannot fit in 40 bytes; `push` refusing is a malformed option.
                    blocks.push(SackBlock { left, right }).map_err(|_| WireError::Malformed)?;
                }
                TcpOption::Sack(blocks)
            }
            (kind::MSS | kind::WINDOW_SCALE | kind::SACK_PERMITTED | kind::TIMESTAMPS | kind::SACK, _) => {
                return Err(WireError::Malformed);
            }
            (other, _) => TcpOption::Unknown { kind: other, data },
        };
        Ok(parsed)
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let result = self.next_option();
        if result.is_err() {
            self.rest = &[];
        }
        Some(result)
    }
}

impl TcpOptions {
    /// The options in a header's option bytes.
    pub fn parse(option_bytes: &[u8]) -> Result<Self, WireError> {
        let mut options = TcpOptions::default();
        for option in TcpOptionIter::new(option_bytes) {
            match option? {
                TcpOption::Mss(mss) => options.mss = Some(mss),
                TcpOption::WindowScale(shift) => options.window_scale = Some(shift),
                TcpOption::SackPermitted => options.sack_permitted = true,
                TcpOption::Sack(blocks) => options.sack_blocks = blocks,
                TcpOption::Timestamps(timestamps) => options.timestamps = Some(timestamps),
                TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
            }
        }
        Ok(options)
    }

    /// The options of the layouts nearly every segment of an established connection carries, read at fixed
    /// offsets: none; NOP, NOP, Timestamps; NOP, NOP, SACK; or Timestamps then SACK, each SACK option with as
    /// many blocks as fit (what this stack and Linux send). `None` for any other layout, and then
    /// [`TcpOptions::parse`], the reference, decides; wherever this gives `Some`, `parse` gives the same.
    ///
    /// Always inline (into the receive fast path): out of line, the options came back through memory, written
    /// field by field with narrow stores and then copied out with wide loads, which stalled store-to-load
    /// forwarding on the copy (a fifth of the receive path's samples in request-response).
    #[inline(always)]
    pub fn parse_common(bytes: &[u8]) -> Option<Self> {
        let (timestamps, rest) = match bytes.split_first_chunk::<COMMON_TIMESTAMPS_LEN>() {
            Some((timestamps, after)) if timestamps[..4] == COMMON_TIMESTAMPS_HEAD => {
                (Some(TcpTimestamps { value: read_u32(timestamps, 4), echo_reply: read_u32(timestamps, 8) }), after)
            }
            _ => (None, bytes),
        };
        let sack_blocks = if rest.is_empty() { SackBlocks::default() } else { SackBlocks::parse_common(rest)? };
        Some(TcpOptions { mss: None, window_scale: None, sack_permitted: false, sack_blocks, timestamps })
    }

    /// Bytes the options take when written, a multiple of 4; `Err(TooLarge)` if over 40.
    ///
    /// Options are laid out 4-byte aligned with NOPs, as common stacks send them (MSS; SACK-Permitted with
    /// Timestamps; NOP, Window Scale; NOP, NOP, SACK). When that does not fit, they are packed without NOPs.
    pub fn encoded_len(&self) -> Result<usize, WireError> {
        let aligned = self.aligned_len();
        if aligned <= TCP_MAX_OPTIONS_LEN {
            return Ok(aligned);
        }
        let packed = self.packed_len().next_multiple_of(4);
        if packed <= TCP_MAX_OPTIONS_LEN { Ok(packed) } else { Err(WireError::TooLarge) }
    }

    fn sack_len(&self) -> usize {
        if self.sack_blocks.is_empty() { 0 } else { 2 + length::SACK_BLOCK * self.sack_blocks.len() }
    }

    fn aligned_len(&self) -> usize {
        let mss = if self.mss.is_some() { 4 } else { 0 };
        let sack_permitted_and_timestamps = match (self.sack_permitted, self.timestamps.is_some()) {
            (_, true) => 12,
            (true, false) => 4,
            (false, false) => 0,
        };
        let window_scale = if self.window_scale.is_some() { 4 } else { 0 };
        let sack = if self.sack_blocks.is_empty() { 0 } else { 2 + self.sack_len() };
        mss + sack_permitted_and_timestamps + window_scale + sack
    }

    fn packed_len(&self) -> usize {
        self.mss.map_or(0, |_| length::MSS)
            + self.window_scale.map_or(0, |_| length::WINDOW_SCALE)
            + if self.sack_permitted { length::SACK_PERMITTED } else { 0 }
            + self.timestamps.map_or(0, |_| length::TIMESTAMPS)
            + self.sack_len()
    }

    /// Writes the options into `out`, which must be exactly [`TcpOptions::encoded_len`] bytes.
    pub(crate) fn emit(&self, out: &mut [u8]) -> Result<(), WireError> {
        let expected = self.encoded_len()?;
        if out.len() != expected {
            return Err(WireError::BufferTooSmall);
        }
        let aligned = expected == self.aligned_len();
        let mut writer = OptionWriter { out, at: 0 };
        if let Some(mss) = self.mss {
            writer.option(kind::MSS, |data| write_u16(data, 0, mss), length::MSS);
        }
        match (self.sack_permitted, self.timestamps) {
            (sack_permitted, Some(timestamps)) => {
                if sack_permitted {
                    writer.option(kind::SACK_PERMITTED, |_| {}, length::SACK_PERMITTED);
                } else if aligned {
                    writer.nops(2);
                }
                writer.option(
                    kind::TIMESTAMPS,
                    |data| {
                        write_u32(data, 0, timestamps.value);
                        write_u32(data, 4, timestamps.echo_reply);
                    },
                    length::TIMESTAMPS,
                );
            }
            (true, None) => {
                if aligned {
                    writer.nops(2);
                }
                writer.option(kind::SACK_PERMITTED, |_| {}, length::SACK_PERMITTED);
            }
            (false, None) => {}
        }
        if let Some(shift) = self.window_scale {
            if aligned {
                writer.nops(1);
            }
            writer.option(kind::WINDOW_SCALE, |data| data[0] = shift.min(TCP_MAX_WINDOW_SCALE), length::WINDOW_SCALE);
        }
        if !self.sack_blocks.is_empty() {
            if aligned {
                writer.nops(2);
            }
            let blocks = self.sack_blocks;
            writer.option(
                kind::SACK,
                |data| {
                    for (chunk, block) in data.chunks_exact_mut(length::SACK_BLOCK).zip(blocks.as_slice()) {
                        write_u32(chunk, 0, block.left.0);
                        write_u32(chunk, 4, block.right.0);
                    }
                },
                self.sack_len(),
            );
        }
        // Packed layouts end with End of Option List padding.
        writer.out[writer.at..].fill(kind::END_OF_LIST);
        Ok(())
    }
}

/// Appends options to a buffer sized by [`TcpOptions::encoded_len`].
struct OptionWriter<'b> {
    out: &'b mut [u8],
    at: usize,
}

impl OptionWriter<'_> {
    fn nops(&mut self, count: usize) {
        self.out[self.at..self.at + count].fill(kind::NO_OPERATION);
        self.at += count;
    }

    fn option(&mut self, option_kind: u8, write_data: impl FnOnce(&mut [u8]), len: usize) {
        let option = &mut self.out[self.at..self.at + len];
        option[0] = option_kind;
        // Option lengths are at most 34.
        option[1] = len as u8;
        write_data(&mut option[2..]);
        self.at += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options of a Linux SYN: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
    const LINUX_SYN_OPTIONS: [u8; 20] = [
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x9a, 0x3b, 0x8c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03,
        0x03, 0x07,
    ];

    fn emit(options: &TcpOptions) -> Vec<u8> {
        let mut out = vec![0u8; options.encoded_len().expect("fits")];
        options.emit(&mut out).expect("sized by encoded_len");
        out
    }

    #[test]
    fn parses_and_reproduces_linux_syn_layout() {
        let options = TcpOptions::parse(&LINUX_SYN_OPTIONS).expect("valid");
        assert_eq!(options.mss, Some(1460));
        assert!(options.sack_permitted);
        assert_eq!(options.timestamps, Some(TcpTimestamps { value: 0x009a_3b8c, echo_reply: 0 }));
        assert_eq!(options.window_scale, Some(7));
        assert!(options.sack_blocks.is_empty());
        assert_eq!(emit(&options), LINUX_SYN_OPTIONS);
    }

    #[test]
    fn parses_sack_blocks_after_nops() {
        let bytes = [
            1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0xff, 0xff, 0xff, 0xf0, 0, 0,
            0, 16,
        ];
        let options = TcpOptions::parse(&bytes).expect("valid");
        let blocks = options.sack_blocks.as_slice();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[1], SackBlock { left: SeqNumber(0xffff_fff0), right: SeqNumber(16) });
        assert_eq!(emit(&options), bytes, "NOP NOP TS, NOP NOP SACK is also the aligned layout we emit");
    }

    #[test]
    fn skips_unknown_stops_at_end_of_list_and_clamps_window_scale() {
        // Fast Open cookie (34), then window scale 20, EOL, then garbage that must not be read.
        let bytes = [34, 6, 1, 2, 3, 4, 3, 3, 20, 0, 0xff, 0x00, 0x17];
        let options = TcpOptions::parse(&bytes).expect("valid");
        assert_eq!(options, TcpOptions { window_scale: Some(14), ..TcpOptions::default() });
        let kinds: Vec<_> = TcpOptionIter::new(&bytes).map(|option| option.expect("valid")).collect();
        assert_eq!(kinds[0], TcpOption::Unknown { kind: 34, data: &[1, 2, 3, 4] });
        assert_eq!(kinds.len(), 3);
    }

    #[test]
    fn last_duplicate_wins() {
        let options = TcpOptions::parse(&[2, 4, 0, 100, 2, 4, 0, 200]).expect("valid");
        assert_eq!(options.mss, Some(200));
    }

    #[test]
    fn rejects_malformed_lengths() {
        let cases: [&[u8]; 14] = [
            &[2],                         // kind without length
            &[2, 0, 0, 0],                // length 0
            &[2, 1, 0, 0],                // length 1
            &[2, 5, 0, 0, 0, 0],          // MSS of length 5
            &[2, 4, 5],                   // MSS cut short
            &[3, 2],                      // window scale without its shift
            &[3, 4, 7, 0],                // window scale of length 4
            &[4, 3, 0],                   // SACK-permitted with data
            &[8, 8, 0, 0, 0, 0, 0, 0],    // timestamps of length 8
            &[5, 2],                      // SACK with no blocks
            &[5, 9, 0, 0, 0, 0, 0, 0, 0], // SACK with a partial block
            &[99, 3],                     // unknown option running past the end
            &[1, 1, 99, 40],              // unknown option longer than the options
            &[
                5, 42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0,
            ], // five blocks
        ];
        for bytes in cases {
            assert_eq!(TcpOptions::parse(bytes), Err(WireError::Malformed), "{bytes:?}");
        }
    }

    /// Wherever the fixed-offset parse gives options, the general parse gives the same: every layout emitted here
    /// and random byte strings built from option-like pieces.
    #[test]
    fn the_common_layouts_parse_as_the_general_parser_does() {
        let timestamps = Some(TcpTimestamps { value: 7, echo_reply: u32::MAX });
        let block = |i: u32| SackBlock { left: SeqNumber(i), right: SeqNumber(i + 100) };
        let mut common = 0;
        for sack in 0..=4 {
            for ts in [None, timestamps] {
                let blocks: Vec<SackBlock> = (0..sack).map(block).collect();
                let options = TcpOptions {
                    timestamps: ts,
                    sack_blocks: SackBlocks::from_slice(&blocks).unwrap(),
                    ..TcpOptions::default()
                };
                let Ok(bytes) = options.encoded_len().map(|_| emit(&options)) else { continue };
                if let Some(parsed) = TcpOptions::parse_common(&bytes) {
                    assert_eq!(parsed, options);
                    common += 1;
                }
            }
        }
        assert_eq!(common, 9, "none, timestamps, SACK with 1-4 blocks alone or 1-3 after timestamps");
        let pieces: [&[u8]; 8] =
            [&[1], &[0], &[1, 1, 8, 10], &[1, 1, 5, 10], &[1, 1, 5, 18], &[8, 10], &[5, 2], &[0xa5; 8]];
        let mut state = 1u64;
        for _ in 0..20_000 {
            let mut bytes = Vec::new();
            while bytes.len() < 40 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let pick = (state >> 33) as usize;
                if pick % 9 == 8 {
                    break;
                }
                bytes.extend_from_slice(pieces[pick % 8]);
            }
            bytes.truncate(40);
            if let Some(parsed) = TcpOptions::parse_common(&bytes) {
                assert_eq!(TcpOptions::parse(&bytes), Ok(parsed), "{bytes:?}");
            }
        }
    }

    #[test]
    fn every_combination_round_trips() {
        let block = |n: u32| SackBlock { left: SeqNumber(n * 1000), right: SeqNumber(n * 1000 + 500) };
        for mask in 0..16u32 {
            for sack_count in 0..=TCP_MAX_SACK_BLOCKS {
                let blocks: Vec<SackBlock> = (0..sack_count as u32).map(block).collect();
                let options = TcpOptions {
                    mss: (mask & 1 != 0).then_some(536),
                    window_scale: (mask & 2 != 0).then_some(9),
                    sack_permitted: mask & 4 != 0,
                    timestamps: (mask & 8 != 0).then_some(TcpTimestamps { value: 1, echo_reply: u32::MAX }),
                    sack_blocks: SackBlocks::from_slice(&blocks).expect("at most four"),
                };
                match options.encoded_len() {
                    Ok(len) => {
                        assert_eq!(len % 4, 0);
                        assert!(len <= TCP_MAX_OPTIONS_LEN);
                        assert_eq!(TcpOptions::parse(&emit(&options)), Ok(options), "{options:?}");
                    }
                    Err(error) => {
                        assert_eq!(error, WireError::TooLarge);
                        assert!(options.packed_len() > TCP_MAX_OPTIONS_LEN, "{options:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn packs_when_aligned_layout_does_not_fit() {
        // MSS (4) + timestamps (10) + three SACK blocks (26) is exactly 40 bytes packed, 44 aligned.
        let blocks = [SackBlock { left: SeqNumber(1), right: SeqNumber(2) }; 3];
        let options = TcpOptions {
            mss: Some(1460),
            timestamps: Some(TcpTimestamps { value: 5, echo_reply: 6 }),
            sack_blocks: SackBlocks::from_slice(&blocks).expect("three"),
            ..TcpOptions::default()
        };
        assert_eq!(options.encoded_len(), Ok(40));
        assert_eq!(TcpOptions::parse(&emit(&options)), Ok(options));
        assert_eq!(SackBlocks::from_slice(&[SackBlock::default(); 5]), Err(WireError::TooLarge));
        assert_eq!(options.emit(&mut [0u8; 36]), Err(WireError::BufferTooSmall));
    }
}
