//! An ARP packet; whatever parses must emit and parse back to the same representation.
#![no_main]

use inetstack::wire::{ArpPacket, ArpRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = ArpPacket::new_checked(data) else { return };
    let Ok(repr) = ArpRepr::parse(&packet) else { return };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out).expect("a parsed ARP packet emits");
    let reparsed = ArpRepr::parse(&ArpPacket::new_checked(&out[..]).expect("emitted length is valid"));
    assert_eq!(reparsed, Ok(repr));
});
