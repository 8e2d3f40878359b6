//! The packetdrill shared object's flags (`--so_flags`, `inetstack_packetdrill::host::Settings::parse`) and the
//! stack they build (`Host::new`): any text is settings or an error message, never a panic; settings give a
//! host or EINVAL (the stack's own checks, e.g. an MTU outside 576..=9216). A host then does what every script
//! starts with, under those settings: a TCP socket (its buffer sizes read back as non-negative ints) connects
//! and its SYN goes out, and the clock runs on to two retransmissions of it (initial RTO and backoff).
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};

use inetstack_packetdrill::host::{Host, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(flags) = std::str::from_utf8(data) else { return };
    let settings = match Settings::parse(flags) {
        Ok(settings) => settings,
        Err(message) => {
            assert!(!message.is_empty());
            return;
        }
    };
    let mut host = match Host::new(settings.clone()) {
        Ok(host) => host,
        Err(errno) => {
            assert_eq!(errno, libc::EINVAL, "{settings:?}");
            return;
        }
    };
    assert!((576..=9216).contains(&host.settings().mtu));

    let fd = 3;
    host.socket(fd, libc::AF_INET, libc::SOCK_STREAM, 0).expect("a TCP socket opens");
    for name in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        let value = host.getsockopt(fd, libc::SOL_SOCKET, name).expect("buffer sizes read back");
        assert!(i32::from_ne_bytes(value.try_into().unwrap()) >= 0);
    }
    let remote = if settings.local_ip == Ipv4Addr::new(192, 0, 2, 1) { [192, 0, 2, 2] } else { [192, 0, 2, 1] };
    if host.connect(fd, SocketAddrV4::new(remote.into(), 8080)) != Err(libc::EINPROGRESS) {
        return;
    }
    let (syn, _) = host.next_packet().expect("the SYN goes out");
    assert_eq!(syn[16..20], remote, "the SYN goes to the remote");
    for _ in 0..2 {
        if host.next_packet().is_none() {
            break;
        }
    }
});
