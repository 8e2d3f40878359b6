//! Socket argument types: domains, types and options, validated from their POSIX integer forms.

use std::time::Duration;

use runtime::Fail;

/// Address family. Only IPv4 is supported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketDomain {
    Inet,
}

impl TryFrom<i32> for SocketDomain {
    type Error = Fail;
    fn try_from(domain: i32) -> Result<Self, Fail> {
        match domain {
            libc::AF_INET => Ok(Self::Inet),
            other => Err(Fail::with_context(
                libc::EAFNOSUPPORT,
                format!("address family {other} is not supported (only AF_INET)"),
            )),
        }
    }
}

/// Stream (TCP) or datagram (UDP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketType {
    Stream,
    Datagram,
}

impl SocketType {
    /// Checks a protocol number against this type: 0 or the matching IPPROTO.
    pub fn check_protocol(self, protocol: i32) -> Result<(), Fail> {
        match (self, protocol) {
            (_, 0) | (Self::Stream, libc::IPPROTO_TCP) | (Self::Datagram, libc::IPPROTO_UDP) => Ok(()),
            _ => Err(Fail::with_context(libc::EPROTONOSUPPORT, format!("protocol {protocol} does not fit {self:?}"))),
        }
    }
}

impl TryFrom<i32> for SocketType {
    type Error = Fail;
    fn try_from(socket_type: i32) -> Result<Self, Fail> {
        match socket_type {
            libc::SOCK_STREAM => Ok(Self::Stream),
            libc::SOCK_DGRAM => Ok(Self::Datagram),
            other => Err(Fail::with_context(libc::EPROTOTYPE, format!("socket type {other} is not supported"))),
        }
    }
}

/// A socket option and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketOption {
    /// SO_LINGER: `None` off; `Some(t)` close waits up to `t` for unsent data (zero: reset at once).
    Linger(Option<Duration>),
    /// TCP_NODELAY: send small segments at once (no Nagle coalescing).
    NoDelay(bool),
    /// SO_KEEPALIVE: probe idle connections.
    KeepAlive(bool),
    /// SO_REUSEADDR: bind to a local address still in TIME_WAIT.
    ReuseAddr(bool),
}

impl SocketOption {
    pub fn name(&self) -> SocketOptionName {
        match self {
            Self::Linger(_) => SocketOptionName::Linger,
            Self::NoDelay(_) => SocketOptionName::NoDelay,
            Self::KeepAlive(_) => SocketOptionName::KeepAlive,
            Self::ReuseAddr(_) => SocketOptionName::ReuseAddr,
        }
    }
}

/// Which option `getsockopt` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketOptionName {
    Linger,
    NoDelay,
    KeepAlive,
    ReuseAddr,
}

impl SocketOptionName {
    /// From POSIX `(level, name)`: ENOPROTOOPT for options PDPIX does not carry.
    pub fn from_posix(level: i32, name: i32) -> Result<Self, Fail> {
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_LINGER) => Ok(Self::Linger),
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => Ok(Self::KeepAlive),
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => Ok(Self::ReuseAddr),
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => Ok(Self::NoDelay),
            _ => {
                Err(Fail::with_context(libc::ENOPROTOOPT, format!("socket option ({level}, {name}) is not supported")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_values_are_validated() {
        assert_eq!(SocketDomain::try_from(libc::AF_INET).unwrap(), SocketDomain::Inet);
        assert_eq!(SocketDomain::try_from(libc::AF_INET6).unwrap_err().errno(), libc::EAFNOSUPPORT);
        assert_eq!(SocketType::try_from(libc::SOCK_STREAM).unwrap(), SocketType::Stream);
        assert_eq!(SocketType::try_from(libc::SOCK_RAW).unwrap_err().errno(), libc::EPROTOTYPE);
        assert!(SocketType::Stream.check_protocol(libc::IPPROTO_TCP).is_ok());
        assert_eq!(SocketType::Stream.check_protocol(libc::IPPROTO_UDP).unwrap_err().errno(), libc::EPROTONOSUPPORT);
        assert_eq!(
            SocketOptionName::from_posix(libc::IPPROTO_TCP, libc::TCP_NODELAY).unwrap(),
            SocketOptionName::NoDelay
        );
        assert_eq!(
            SocketOptionName::from_posix(libc::SOL_SOCKET, libc::SO_RCVBUF).unwrap_err().errno(),
            libc::ENOPROTOOPT
        );
        assert_eq!(SocketOption::NoDelay(true).name(), SocketOptionName::NoDelay);
    }
}
