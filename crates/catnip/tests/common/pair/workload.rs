//! What every client runs against its server, the same over catnip and over Linux loopback: TCP echo of several
//! sizes checked byte for byte, timed 64-byte round trips, and a bulk transfer whose SHA-256 the server sends
//! back with the time from its first to its last byte.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Untimed round trips before the timed ones.
pub const WARMUP: usize = 200;
/// Push (or write) size in the bulk transfer.
pub const CHUNK: usize = 256 << 10;
/// The seed of the bulk transfer's bytes.
const BULK_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// The sizes of one test's TCP part.
pub struct Workload {
    /// The TCP echo sizes, each checked byte for byte (the seed of each pattern is its size).
    pub echo_sizes: &'static [usize],
    /// How many timed 64-byte TCP round trips.
    pub round_trips: usize,
    /// Bytes in the bulk transfer.
    pub bulk: usize,
}

impl Workload {
    /// A workload whose bulk size is `{prefix}_BULK_MIB` MiB (default 64).
    pub fn new(roles: &super::Roles, echo_sizes: &'static [usize], round_trips: usize) -> Self {
        Self { echo_sizes, round_trips, bulk: roles.usize_var("BULK_MIB").unwrap_or(64) << 20 }
    }

    /// The bulk transfer's bytes and their SHA-256.
    pub fn bulk_data(&self) -> (Vec<u8>, Vec<u8>) {
        let data = pattern(self.bulk, BULK_SEED);
        let digest = Sha256::digest(&data).to_vec();
        (data, digest)
    }
}

/// `n` pseudo-random bytes from `seed` (xorshift), the same on both sides.
pub fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = vec![0u8; n.next_multiple_of(8)];
    for chunk in out.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Runs `round_trip` WARMUP times untimed, then `n` times timed; returns the `n` times.
pub fn time_round_trips(n: usize, mut round_trip: impl FnMut()) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for i in 0..WARMUP + n {
        let start = Instant::now();
        round_trip();
        if i >= WARMUP {
            times.push(start.elapsed());
        }
    }
    times
}
