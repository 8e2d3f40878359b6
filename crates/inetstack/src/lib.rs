//! inetstack: demikernel's own TCP/IP stack, sans-I/O.
//!
//! The stack is driven by received frames and the current time and hands frames to a device; it never sleeps,
//! spawns threads or reads a clock itself. Layers, bottom up:
//!
//! - [`wire`]: packet formats (Ethernet II, ARP, IPv4, ICMPv4, UDP, TCP): zero-copy views over byte slices and
//!   validated representations that parse and emit.
//!
//! This crate contains no `unsafe` code.

#![forbid(unsafe_code)]

pub mod wire;
