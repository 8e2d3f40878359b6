//! A TCP segment with options; whatever parses must emit and parse back to the same representation. Also walks
//! the raw option iterator, which must stop at the first malformed option.
#![no_main]

use std::net::Ipv4Addr;

use inetstack::wire::{ChecksumCapabilities, TcpOptionIter, TcpPacket, TcpRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (src, dst) = (Ipv4Addr::new(192, 168, 1, 10), Ipv4Addr::new(93, 184, 216, 34));
    let Ok(packet) = TcpPacket::new_checked(data) else { return };
    let options: Vec<_> = TcpOptionIter::new(packet.options()).collect();
    assert!(options.iter().filter(|option| option.is_err()).count() <= 1);
    let _ = (packet.segment_len(), packet.flags(), packet.payload().len());
    let software = ChecksumCapabilities::software();
    let _ = TcpRepr::parse(&packet, src, dst, &software);
    let Ok(repr) = TcpRepr::parse(&packet, src, dst, &ChecksumCapabilities::offloaded()) else { return };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out, src, dst, &software).expect("a parsed TCP segment emits");
    let reparsed =
        TcpRepr::parse(&TcpPacket::new_checked(&out[..]).expect("emitted length is valid"), src, dst, &software);
    assert_eq!(reparsed, Ok(repr));
});
