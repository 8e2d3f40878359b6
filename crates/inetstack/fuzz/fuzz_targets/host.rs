//! The whole receive path of a host with open connections (see `inetstack::hostile`): whatever the input, the
//! stack must not panic, must deliver only the bytes injected at each sequence number, and must go quiet once
//! its sockets are closed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    inetstack::hostile::run(data);
});
