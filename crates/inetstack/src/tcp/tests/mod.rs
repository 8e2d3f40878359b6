//! Scenario tests of the TCP state machine over the two-endpoint harness, one file per theme.

mod accurate_ecn;
mod autotune;
mod close;
mod congestion;
mod ecn;
mod fast_path;
mod handshake;
mod idle_trim;
mod loss;
mod orphan_record;
mod prediction;
mod properties;
mod rack;
mod robustness;
mod timers;
mod transfer;
pub(crate) mod util;
