//! Addresses as in Python's `socket` module: `(host, port)` tuples, IPv4 only.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::errors::value_error;
use crate::number_args::Int;

/// Parses `(host, port)`: `""` is INADDR_ANY, `"localhost"` 127.0.0.1, any other name is resolved.
pub(crate) fn parse(addr: &Bound<'_, PyAny>) -> PyResult<SocketAddrV4> {
    let tuple = addr.cast::<PyTuple>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "an address is a (host, port) tuple, not {}",
            addr.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
        ))
    })?;
    if tuple.len() != 2 {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "an address is a (host, port) tuple, got {} items",
            tuple.len()
        )));
    }
    let host: String = tuple.get_item(0)?.extract()?;
    let Int(port) = tuple.get_item(1)?.extract()?;
    let port = u16::try_from(port).map_err(|_| value_error(format!("port must be 0-65535, not {port}")))?;
    Ok(SocketAddrV4::new(resolve(&host)?, port))
}

fn resolve(host: &str) -> PyResult<Ipv4Addr> {
    match host {
        "" | "0.0.0.0" => return Ok(Ipv4Addr::UNSPECIFIED),
        "localhost" => return Ok(Ipv4Addr::LOCALHOST),
        _ => {}
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(ip);
    }
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err(value_error(format!("{host:?} is an IPv6 address: only IPv4 (AF_INET) is supported")));
    }
    let found = (host, 0).to_socket_addrs().map_err(|e| value_error(format!("cannot resolve {host:?}: {e}")))?;
    found
        .filter_map(|a| match a {
            SocketAddr::V4(v4) => Some(*v4.ip()),
            SocketAddr::V6(_) => None,
        })
        .next()
        .ok_or_else(|| value_error(format!("{host:?} has no IPv4 address")))
}

/// `(host, port)` as Python wants it.
pub(crate) fn to_tuple<'py>(py: Python<'py>, addr: SocketAddrV4) -> PyResult<Bound<'py, PyTuple>> {
    (addr.ip().to_string(), addr.port()).into_pyobject(py)
}
