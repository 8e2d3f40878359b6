//! The hash the stack's tables use (connections by 4-tuple, listeners and UDP sockets by port, ARP entries by
//! address): keyed, so that a peer choosing addresses and ports cannot aim its packets at one bucket, and cheap,
//! because every received segment and every transmitted one looks something up.
//!
//! Each word written is mixed by a folded multiply: the 128-bit product of (state XOR word) and a secret odd key,
//! its two halves XORed together. Both keys are drawn per table from the standard library's random source. This
//! is the construction of several fast keyed hashes (it is not a cryptographic PRF: it defends against inputs
//! chosen without knowledge of the key, which is what a remote peer has). Std's SipHash-1-3 cost ~25 ns per
//! 4-tuple here; this costs a few.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Builds [`FlowHasher`]s with this table's secret keys.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FlowHash {
    seed: u64,
    key: u64,
}

impl Default for FlowHash {
    fn default() -> Self {
        let random = RandomState::new();
        Self { seed: random.hash_one(0x5eed_u64), key: random.hash_one(0x0bad_cafe_u64) | 1 }
    }
}

impl BuildHasher for FlowHash {
    type Hasher = FlowHasher;

    #[inline(always)]
    fn build_hasher(&self) -> FlowHasher {
        FlowHasher { state: self.seed, key: self.key }
    }

    /// As the provided method, but always inline: every segment in and out hashes its 4-tuple, and the
    /// compiler, left to choose, sometimes made this a call of its own (3% of request/response time).
    #[inline(always)]
    #[allow(clippy::manual_hash_one)] // this is `hash_one` itself
    fn hash_one<T: std::hash::Hash>(&self, value: T) -> u64 {
        let mut hasher = self.build_hasher();
        value.hash(&mut hasher);
        hasher.finish()
    }
}

/// One hash computation (see the module docs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FlowHasher {
    state: u64,
    key: u64,
}

#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

impl Hasher for FlowHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }

    fn write_u16(&mut self, value: u16) {
        self.write_u64(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    #[inline(always)]
    fn write_u64(&mut self, value: u64) {
        self.state = folded_multiply(self.state ^ value, self.key);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    #[inline(always)]
    fn finish(&self) -> u64 {
        // One more round, so the last word written also reaches every output bit.
        folded_multiply(self.state, self.key.rotate_left(29))
    }
}

/// A connection's 4-tuple as a table key, hashed as two words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FlowKey {
    pub(crate) local: std::net::SocketAddrV4,
    pub(crate) remote: std::net::SocketAddrV4,
}

impl std::hash::Hash for FlowKey {
    #[inline(always)]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let word = |a: &std::net::SocketAddrV4| (u64::from(a.ip().to_bits()) << 16) | u64::from(a.port());
        state.write_u64(word(&self.local));
        state.write_u64(word(&self.remote));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;
    use std::net::{Ipv4Addr, SocketAddrV4};

    use super::*;

    fn key(port: u16) -> FlowKey {
        FlowKey {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), port),
        }
    }

    /// Keys differing in one field spread over the buckets: 65 536 ports, no two alike in 64 bits, and the
    /// low 12 bits (a 4 096-bucket table) used evenly.
    #[test]
    fn ports_spread_over_the_buckets() {
        let hash = FlowHash::default();
        let hashes: Vec<u64> = (0..=u16::MAX).map(|port| hash.hash_one(key(port))).collect();
        assert_eq!(hashes.iter().collect::<HashSet<_>>().len(), hashes.len());
        let mut buckets = vec![0u32; 4096];
        for h in &hashes {
            buckets[(*h & 4095) as usize] += 1;
        }
        // 16 per bucket on average; a fair hash keeps every bucket well under 3x that.
        assert!(buckets.iter().all(|&n| n < 48), "max bucket {}", buckets.iter().max().unwrap());
    }

    /// Two tables get different keys: a collision found against one says nothing about another.
    #[test]
    fn keys_differ_per_table() {
        let (a, b) = (FlowHash::default(), FlowHash::default());
        assert_ne!(a.hash_one(key(1)), b.hash_one(key(1)));
    }
}
