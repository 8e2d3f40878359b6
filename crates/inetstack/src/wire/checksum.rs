//! The Internet checksum (RFC 1071), the IPv4 pseudo-header (RFC 768, RFC 9293), and [`ChecksumCapabilities`],
//! the switch that lets a device with checksum offload skip verifying or generating them in software.
//!
//! Not for CRCs (the Ethernet FCS is the device's business) nor for incremental checksum updates (RFC 1624).

use std::net::Ipv4Addr;

use multiversion::multiversion;

use super::IpProtocol;

/// Whether software verifies a protocol's checksum on receive and generates it on transmit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ChecksumMode {
    /// Verify on receive and generate on transmit (no offload).
    #[default]
    Software,
    /// Verify on receive; the device fills checksums on transmit (the field is written as zero).
    VerifyOnly,
    /// Generate on transmit; the device has already verified received checksums.
    GenerateOnly,
    /// The device does both.
    Offloaded,
}

impl ChecksumMode {
    /// Whether a received checksum must be checked in software.
    pub fn verify_on_rx(self) -> bool {
        matches!(self, ChecksumMode::Software | ChecksumMode::VerifyOnly)
    }

    /// Whether a transmitted checksum must be computed in software.
    pub fn generate_on_tx(self) -> bool {
        matches!(self, ChecksumMode::Software | ChecksumMode::GenerateOnly)
    }
}

/// What the device does for each checksum; the default is everything in software.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChecksumCapabilities {
    pub ipv4: ChecksumMode,
    pub icmpv4: ChecksumMode,
    pub udp: ChecksumMode,
    pub tcp: ChecksumMode,
}

impl ChecksumCapabilities {
    /// Every checksum in software.
    pub fn software() -> Self {
        Self::default()
    }

    /// Every checksum left to the device (also handy for tests that craft packets with arbitrary checksums).
    pub fn offloaded() -> Self {
        let mode = ChecksumMode::Offloaded;
        Self { ipv4: mode, icmpv4: mode, udp: mode, tcp: mode }
    }
}

/// The one's-complement sum of `data` as 16-bit big-endian words, folded to 16 bits (not complemented).
///
/// An odd trailing byte is padded with a zero byte. Sums of several pieces can be combined with [`combine`]
/// as long as every piece but the last has even length.
pub fn ones_complement_sum(data: &[u8]) -> u16 {
    // The folded native-order sum is the big-endian sum with its bytes swapped on a little-endian machine.
    u16::from_be(fold_u64(native_sum(data)))
}

/// The sum of `data` as native-order 32-bit words (an odd tail as 16-bit words) with carries deferred.
///
/// Two facts of RFC 1071 §2 make this fast: the sum may be taken in native byte order and swapped once at
/// the end (B), and carries may be deferred (C). So 32-bit native words are added into 64-bit accumulators
/// with plain adds: no carry is lost below 2^32 words (16 GiB), the additions are independent, and the
/// compiler vectorises the loop. (Adding 64-bit words with end-around carry, as before, made every add wait
/// for the previous one: 145 ns for 1460 B here, against 34 ns now.)
///
/// `multiversion` compiles this body twice, for the x86-64 baseline (SSE2) and for AVX2, and picks one from
/// the CPU's features on the first call: AVX2 widens 32-bit words to 64 bits four at a time instead of two,
/// 18 ns for 1460 B here against 34 ns (docs/benchmarks.md). Elsewhere only the portable body exists.
#[multiversion(targets("x86_64+avx2+avx"))]
fn native_sum(data: &[u8]) -> u64 {
    portable_native_sum(data)
}

/// The body of [`native_sum`], inlined into each of its compilations.
///
/// Each 64-bit word read adds its low and its high 32-bit half into two 64-bit accumulators. The compiler
/// turns the mask and the shift back into widening loads, as for the 32-bit words read before, but unrolls
/// this loop over 128 bytes (16 accumulators): 1500 B in 13.9 ns against 15.2 ns for the 32-byte loop.
#[inline(always)]
fn portable_native_sum(data: &[u8]) -> u64 {
    let mut low = [0u64; 8];
    let mut high = [0u64; 8];
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        for ((low, high), word) in low.iter_mut().zip(high.iter_mut()).zip(block.chunks_exact(8)) {
            let word = u64::from_ne_bytes([word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7]]);
            *low += word & 0xffff_ffff;
            *high += word >> 32;
        }
    }
    let mut acc: u64 = low.iter().sum::<u64>() + high.iter().sum::<u64>();
    let mut words = blocks.remainder().chunks_exact(4);
    for word in &mut words {
        acc += u64::from(u32::from_ne_bytes([word[0], word[1], word[2], word[3]]));
    }
    let mut pairs = words.remainder().chunks_exact(2);
    for pair in &mut pairs {
        acc += u64::from(u16::from_ne_bytes([pair[0], pair[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    acc
}

/// [`ones_complement_sum`] of 20 bytes (an IPv4 header without options), unrolled: five native 32-bit words
/// added into one 64-bit accumulator, folded and swapped once, as the general function does per 32-byte block.
#[inline]
pub(crate) fn ones_complement_sum_20(bytes: &[u8; 20]) -> u16 {
    let word = |at: usize| u64::from(u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]));
    let acc = word(0) + word(4) + word(8) + word(12) + word(16);
    u16::from_be(fold_u64(acc))
}

/// The one's-complement sum of several partial sums.
pub fn combine(sums: &[u16]) -> u16 {
    fold_u64(sums.iter().map(|&sum| u64::from(sum)).sum())
}

/// The one's-complement sum of the IPv4 pseudo-header that the UDP and TCP checksums cover.
pub fn ipv4_pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, length: u16) -> u16 {
    let [s0, s1, s2, s3] = src.octets();
    let [d0, d1, d2, d3] = dst.octets();
    let [l0, l1] = length.to_be_bytes();
    ones_complement_sum(&[s0, s1, s2, s3, d0, d1, d2, d3, 0, u8::from(protocol), l0, l1])
}

/// The checksum to store for data whose one's-complement sum (with the checksum field zero) is `sum`.
pub fn checksum_from_sum(sum: u16) -> u16 {
    !sum
}

/// Whether data including its stored checksum field is intact, given its one's-complement sum.
pub fn sum_is_valid(sum: u16) -> bool {
    sum == 0xffff
}

/// Folds a 32-bit one's-complement sum of 16-bit words to 16 bits: two end-around carries suffice for any `u32`
/// (the first leaves at most 0x1fffe, the second at most 0xffff), without a loop. The one-pass parser and the
/// header template sum into a `u32` and use it directly.
#[inline]
pub(crate) fn fold(sum: u32) -> u16 {
    let sum = (sum & 0xffff) + (sum >> 16);
    ((sum & 0xffff) + (sum >> 16)) as u16
}

/// [`fold`] for the 64-bit accumulators of the general sums. A loop: it usually ends after two or three
/// carries, fewer instructions than a fixed reduction to 32 bits and then [`fold`].
fn fold_u64(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain definition: add 16-bit words, fold carries.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for pair in data.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            acc += u32::from(word);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
        assert_eq!(ones_complement_sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0xddf2);
    }

    #[test]
    fn agrees_with_reference_for_all_lengths_and_alignments() {
        let data: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80).collect();
        for start in 0..9 {
            for end in start..data.len() {
                assert_eq!(ones_complement_sum(&data[start..end]), reference_sum(&data[start..end]));
            }
        }
        let ones = [0xffu8; 1500];
        assert_eq!(ones_complement_sum(&ones), reference_sum(&ones));
    }

    /// Whichever compilation of [`native_sum`] the CPU picked (AVX2 on most x86-64 machines) agrees with the
    /// portable one, on lengths around every block boundary and on large pseudo-random inputs.
    #[test]
    fn the_dispatched_sum_is_the_portable_one() {
        let mut state = 7u64;
        let data: Vec<u8> = (0..70_000)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        for len in (0..200).chain([1460, 1461, 9000, 65_535, 70_000]) {
            for start in 0..4 {
                let bytes = &data[start..start + len.min(data.len() - start)];
                assert_eq!(native_sum(bytes), portable_native_sum(bytes), "length {len}, offset {start}");
            }
        }
        assert_eq!(ones_complement_sum(&data), reference_sum(&data));
    }

    #[test]
    fn the_unrolled_header_sum_is_the_general_one() {
        let mut state = 3u64;
        for _ in 0..10_000 {
            let mut header = [0u8; 20];
            for byte in &mut header {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                *byte = (state >> 56) as u8;
            }
            assert_eq!(ones_complement_sum_20(&header), ones_complement_sum(&header));
        }
        assert_eq!(ones_complement_sum_20(&[0xff; 20]), ones_complement_sum(&[0xff; 20]));
        assert_eq!(ones_complement_sum_20(&[0; 20]), 0);
    }

    #[test]
    fn fold_carries_any_u32_to_16_bits() {
        let by_loop = |mut sum: u32| {
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            sum as u16
        };
        let mut state = 11u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state
        };
        let edges = [0, 1, 0xffff, 0x1_0000, 0x1_fffe, 0x1_ffff, 0xffff_0000, 0xffff_fffe, u32::MAX];
        for sum in edges.into_iter().chain((0..10_000).map(|_| next() as u32)) {
            assert_eq!(fold(sum), by_loop(sum), "{sum:#x}");
        }
    }

    #[test]
    fn partial_sums_combine() {
        let data: Vec<u8> = (0..101u8).collect();
        let (head, tail) = data.split_at(40);
        assert_eq!(combine(&[ones_complement_sum(head), ones_complement_sum(tail)]), ones_complement_sum(&data));
    }

    #[test]
    fn capabilities_switches() {
        assert!(ChecksumMode::Software.verify_on_rx() && ChecksumMode::Software.generate_on_tx());
        assert!(ChecksumMode::VerifyOnly.verify_on_rx() && !ChecksumMode::VerifyOnly.generate_on_tx());
        assert!(!ChecksumMode::GenerateOnly.verify_on_rx() && ChecksumMode::GenerateOnly.generate_on_tx());
        assert!(!ChecksumMode::Offloaded.verify_on_rx() && !ChecksumMode::Offloaded.generate_on_tx());
        assert_eq!(ChecksumCapabilities::software().tcp, ChecksumMode::Software);
    }
}
