//! An ICMPv4 message (echo, or destination unreachable quoting an IP header); whatever parses must emit and
//! parse back to the same representation.
#![no_main]

use inetstack::wire::{ChecksumCapabilities, Icmpv4Packet, Icmpv4Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Icmpv4Packet::new_checked(data) else { return };
    let _ = (packet.echo_ident(), packet.echo_seq_no(), packet.data().len());
    let software = ChecksumCapabilities::software();
    let _ = Icmpv4Repr::parse(&packet, &software);
    let Ok(repr) = Icmpv4Repr::parse(&packet, &ChecksumCapabilities::offloaded()) else { return };
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut out, &software).expect("a parsed ICMP message emits");
    let reparsed = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&out[..]).expect("emitted length is valid"), &software);
    assert_eq!(reparsed, Ok(repr));
});
