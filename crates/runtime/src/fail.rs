//! The one error type of demikernel: an errno plus a human-readable cause.
//!
//! Every public call in every crate returns `Result<_, Fail>`. The errno is what crosses the C and Python
//! boundaries (positive codes in C, `OSError` subclasses in Python); the cause is for people reading logs.

use std::borrow::Cow;
use std::fmt;

/// An errno-style error with context. Cheap to build for static causes (no allocation).
#[derive(Clone, PartialEq, Eq)]
pub struct Fail {
    errno: i32,
    cause: Cow<'static, str>,
}

impl Fail {
    /// An error with a fixed description.
    pub const fn new(errno: i32, cause: &'static str) -> Self {
        Self { errno, cause: Cow::Borrowed(cause) }
    }

    /// An error whose description is built at run time (names a qd, a key, an address...).
    pub fn with_context(errno: i32, cause: String) -> Self {
        Self { errno, cause: Cow::Owned(cause) }
    }

    /// The error of the last failed libc call, with `what` naming the call.
    pub fn last_os_error(what: &'static str) -> Self {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
        Self::from_errno(errno, what)
    }

    /// An error for an errno returned by the OS, with `what` naming the call.
    pub fn from_errno(errno: i32, what: &'static str) -> Self {
        Self::with_context(errno, format!("{what}: {}", std::io::Error::from_raw_os_error(errno)))
    }

    /// The errno value (always positive).
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// What went wrong, for people.
    pub fn cause(&self) -> &str {
        &self.cause
    }

    /// The symbolic name of the errno (`"EBADF"`), or `"E?"` for values this crate does not name.
    pub fn errno_name(&self) -> &'static str {
        errno_name(self.errno)
    }
}

/// The symbolic name of an errno value.
pub fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::ENOSPC => "ENOSPC",
        libc::EPIPE => "EPIPE",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::EDESTADDRREQ => "EDESTADDRREQ",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::EPROTOTYPE => "EPROTOTYPE",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::ECONNRESET => "ECONNRESET",
        libc::ENOBUFS => "ENOBUFS",
        libc::EISCONN => "EISCONN",
        libc::ENOTCONN => "ENOTCONN",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EALREADY => "EALREADY",
        libc::EINPROGRESS => "EINPROGRESS",
        libc::ECANCELED => "ECANCELED",
        _ => "E?",
    }
}

impl fmt::Debug for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fail({} {}: {})", self.errno_name(), self.errno, self.cause)
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.errno_name(), self.errno, self.cause)
    }
}

impl std::error::Error for Fail {}

impl From<Fail> for std::io::Error {
    fn from(fail: Fail) -> Self {
        std::io::Error::new(std::io::Error::from_raw_os_error(fail.errno).kind(), fail.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_errno_and_cause() {
        let fail = Fail::new(libc::EBADF, "no such queue");
        assert_eq!(fail.errno(), libc::EBADF);
        assert_eq!(fail.errno_name(), "EBADF");
        assert!(fail.to_string().contains("no such queue"));
    }

    #[test]
    fn from_errno_names_the_call() {
        let fail = Fail::from_errno(libc::ECONNREFUSED, "connect");
        assert_eq!(fail.errno(), libc::ECONNREFUSED);
        assert!(fail.cause().starts_with("connect:"));
    }
}
