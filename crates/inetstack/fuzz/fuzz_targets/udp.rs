//! A UDP datagram; whatever parses must emit and parse back to the same representation.
#![no_main]

use std::net::Ipv4Addr;

use inetstack::wire::{ChecksumCapabilities, UdpPacket, UdpRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (src, dst) = (Ipv4Addr::new(192, 168, 1, 10), Ipv4Addr::new(8, 8, 8, 8));
    let Ok(packet) = UdpPacket::new_checked(data) else { return };
    let software = ChecksumCapabilities::software();
    let _ = UdpRepr::parse(&packet, src, dst, &software);
    let Ok(repr) = UdpRepr::parse(&packet, src, dst, &ChecksumCapabilities::offloaded()) else { return };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out, src, dst, &software).expect("a parsed UDP datagram emits");
    let reparsed =
        UdpRepr::parse(&UdpPacket::new_checked(&out[..]).expect("emitted length is valid"), src, dst, &software);
    assert_eq!(reparsed, Ok(repr));
});
