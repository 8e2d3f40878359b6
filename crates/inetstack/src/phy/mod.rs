//! Devices for testing and tooling: a loopback queue, a fault injector and a pcap writer that wrap any device.

mod fault;
mod loopback;
mod pcap;

pub use fault::{FaultConfig, FaultInjector, Rng};
pub use loopback::Loopback;
pub use pcap::{PcapSink, PcapWriter};
