//! Socket options on catnip: PDPIX's four (TCP_NODELAY, SO_KEEPALIVE, SO_LINGER, SO_REUSEADDR) mapped onto
//! the stack's per-socket `TcpSocketOptions`. Datagram sockets accept and report SO_LINGER, SO_KEEPALIVE and
//! SO_REUSEADDR without effect, as Linux does; TCP_NODELAY on them is ENOPROTOOPT, as on catnap.

use std::time::Duration;

use inetstack::stack::TcpSocketOptions;
use pdpix::{Fail, SocketOption, SocketOptionName, SocketType};

/// Idle time before keepalive probes once SO_KEEPALIVE is on (RFC 1122 §4.2.3.6: no less than two hours).
const KEEPALIVE_IDLE: Duration = Duration::from_secs(2 * 60 * 60);

pub(crate) fn apply(options: &mut TcpSocketOptions, option: SocketOption, kind: SocketType) -> Result<(), Fail> {
    match option {
        SocketOption::NoDelay(_) if kind == SocketType::Datagram => {
            return Err(Fail::new(libc::ENOPROTOOPT, "TCP_NODELAY on a datagram socket"));
        }
        SocketOption::NoDelay(on) => options.nodelay = on,
        SocketOption::KeepAlive(on) => options.keepalive = on.then_some(KEEPALIVE_IDLE),
        SocketOption::Linger(linger) => options.linger = linger,
        SocketOption::ReuseAddr(on) => options.reuse_addr = on,
    }
    Ok(())
}

pub(crate) fn read(options: &TcpSocketOptions, name: SocketOptionName, kind: SocketType) -> Result<SocketOption, Fail> {
    Ok(match name {
        SocketOptionName::NoDelay if kind == SocketType::Datagram => {
            return Err(Fail::new(libc::ENOPROTOOPT, "TCP_NODELAY on a datagram socket"));
        }
        SocketOptionName::NoDelay => SocketOption::NoDelay(options.nodelay),
        SocketOptionName::KeepAlive => SocketOption::KeepAlive(options.keepalive.is_some()),
        SocketOptionName::Linger => SocketOption::Linger(options.linger),
        SocketOptionName::ReuseAddr => SocketOption::ReuseAddr(options.reuse_addr),
    })
}
