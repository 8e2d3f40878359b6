//! A raw IPv4 datagram (as packetdrill or a TUN device hands it over) parsed down to its transport message, with
//! and without checksum verification; whatever parses must emit and parse back to the same datagram.
#![no_main]

use inetstack::wire::dissect::check_ipv4_round_trip;
use inetstack::wire::{ChecksumCapabilities, Ipv4Packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Ipv4Packet::new_checked(data) {
        let _ = (packet.options().len(), packet.payload().len(), packet.is_fragment(), packet.verify_checksum());
    }
    let _ = check_ipv4_round_trip(data, &ChecksumCapabilities::software());
    let _ = check_ipv4_round_trip(data, &ChecksumCapabilities::offloaded());
});
