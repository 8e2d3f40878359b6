//! Shared pieces of demikernel's benchmarks and measurement programs (see docs/benchmarks.md):
//!
//! - [`raw_echo`]: the anchor, a TCP echo pair on plain non-blocking sockets and epoll, straight on libc.
//! - [`catnap_echo`]: the same echo pair on catnap, written only against the PDPIX `LibOs` trait.
//! - [`Percentiles`]: p50/p90/p99/p99.9 of a set of samples, for the programs under `src/bin`.
//!
//! Not for: correctness tests (they live beside the code they test and in `tests/`).

pub mod catnap_echo;
pub mod raw_echo;
mod stats;

pub use stats::Percentiles;
