//! inetstack: demikernel's own TCP/IP stack, sans-I/O.
//!
//! The stack is driven by received frames and the current time and hands frames to a device; it never sleeps,
//! spawns threads or reads a clock itself. Layers, bottom up:
//!
//! - [`wire`]: packet formats (Ethernet II, ARP, IPv4, ICMPv4, UDP, TCP): zero-copy views over byte slices and
//!   validated representations that parse and emit.
//! - [`device`] and [`phy`]: the `Device` trait frames go through; loopback, fault-injecting and pcap devices.
//! - [`stack`]: one host's stack: ARP, IPv4, ICMP, UDP sockets and the TCP demultiplexer.
//! - [`sim`]: a deterministic simulator of hosts on one Ethernet segment, with faults.
//! - [`hostile`]: one host with open sockets under arbitrary input, for the fuzzer and the tests.
//!
//! This crate contains no `unsafe` code.

#![forbid(unsafe_code)]

pub mod device;
pub mod hostile;
pub mod phy;
pub mod sim;
pub mod stack;
pub mod tcp;
pub mod wire;
