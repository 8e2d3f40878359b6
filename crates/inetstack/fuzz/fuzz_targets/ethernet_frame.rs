//! An Ethernet frame parsed all the way down (ARP, or IPv4 then ICMPv4/UDP/TCP), with and without checksum
//! verification; whatever parses must emit and parse back to the same frame. And whatever the receive fast
//! path's one-pass parse (`TcpFrame`) accepts, the layered parsers must accept with the same fields.
#![no_main]

use inetstack::wire::dissect::check_frame_round_trip;
use inetstack::wire::{ChecksumCapabilities, TcpFrame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = check_frame_round_trip(data, &ChecksumCapabilities::software());
    let _ = check_frame_round_trip(data, &ChecksumCapabilities::offloaded());
    TcpFrame::check_against_layered(data, &ChecksumCapabilities::software());
    TcpFrame::check_against_layered(data, &ChecksumCapabilities::offloaded());
});
