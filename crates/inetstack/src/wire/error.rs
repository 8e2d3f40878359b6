//! Why a packet could not be parsed or emitted: [`WireError`], and its mapping to an errno ([`runtime::Fail`]).
//!
//! For the wire layer only. Errors of the protocol state machines (a refused connection, a timeout) are not here.

use std::fmt;

use runtime::Fail;

/// Why bytes could not be read as a packet, or a representation could not be written as one.
///
/// Small and `Copy` so the receive path can count drops by reason without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The bytes end before a header, or before a length field says they should.
    Truncated,
    /// A field holds a value the format forbids (a bad version, header length or option length).
    Malformed,
    /// A checksum does not match the bytes it covers.
    Checksum,
    /// Valid, but not something this stack handles (an 802.3 frame, an ARP for another protocol, an ICMP type).
    Unsupported,
    /// An IPv4 fragment. Fragments are not reassembled; the stack drops them and counts them.
    Fragmented,
    /// Emitting: the output buffer is shorter than the representation's `buffer_len()`.
    BufferTooSmall,
    /// Emitting: a length does not fit its field (TCP options over 40 bytes, an IPv4 datagram over 65535 bytes).
    TooLarge,
}

impl WireError {
    /// The errno this error surfaces as, where a caller needs one.
    pub fn errno(self) -> i32 {
        match self {
            WireError::Truncated | WireError::Malformed | WireError::Checksum => libc::EINVAL,
            WireError::Unsupported | WireError::Fragmented => libc::EOPNOTSUPP,
            WireError::BufferTooSmall => libc::ENOBUFS,
            WireError::TooLarge => libc::EMSGSIZE,
        }
    }

    /// A short description for people.
    pub fn description(self) -> &'static str {
        match self {
            WireError::Truncated => "packet truncated",
            WireError::Malformed => "malformed packet",
            WireError::Checksum => "bad checksum",
            WireError::Unsupported => "unsupported packet",
            WireError::Fragmented => "IPv4 fragment (reassembly not implemented)",
            WireError::BufferTooSmall => "output buffer too small for packet",
            WireError::TooLarge => "packet field too large to encode",
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for WireError {}

impl From<WireError> for Fail {
    fn from(error: WireError) -> Self {
        Fail::new(error.errno(), error.description())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_errno_through_fail() {
        let fail: Fail = WireError::Truncated.into();
        assert_eq!(fail.errno(), libc::EINVAL);
        assert_eq!(fail.cause(), "packet truncated");
        assert_eq!(Fail::from(WireError::Fragmented).errno(), libc::EOPNOTSUPP);
        assert_eq!(Fail::from(WireError::BufferTooSmall).errno(), libc::ENOBUFS);
        assert_eq!(Fail::from(WireError::TooLarge).errno(), libc::EMSGSIZE);
        assert_eq!(WireError::Checksum.to_string(), "bad checksum");
    }
}
