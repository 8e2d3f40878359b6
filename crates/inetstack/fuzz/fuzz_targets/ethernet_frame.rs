//! An Ethernet frame parsed all the way down (ARP, or IPv4 then ICMPv4/UDP/TCP), with and without checksum
//! verification; whatever parses must emit and parse back to the same frame.
#![no_main]

use inetstack::wire::ChecksumCapabilities;
use inetstack::wire::dissect::check_frame_round_trip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = check_frame_round_trip(data, &ChecksumCapabilities::software());
    let _ = check_frame_round_trip(data, &ChecksumCapabilities::offloaded());
});
