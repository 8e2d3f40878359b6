//! DPDK's error numbers: reading `rte_errno`, turning a number into DPDK's message, and a typed error for helpers.
//!
//! DPDK reports errors two ways: control-path functions return `-errno` directly (`rte_eth_dev_configure` returns
//! `-EINVAL`), and functions returning a pointer or a count set the per-thread `rte_errno` (`rte_eal_init`,
//! `rte_pktmbuf_pool_create`). Both kinds of number are plain `errno` values or DPDK's own `E_RTE_*` codes
//! (from 1000 up), and [`strerror`] names both.

use std::ffi::CStr;
use std::fmt;

use crate::ffi;

/// A DPDK error: a positive errno value (or an `E_RTE_*` code) and the call that returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpdkError {
    /// The DPDK function that failed, e.g. `"rte_eal_init"`.
    pub function: &'static str,
    /// The positive error number (`libc::E*` or `ffi::E_RTE_*`).
    pub errno: i32,
}

impl DpdkError {
    /// An error from `function`, given the number it reported, positive or negative (DPDK returns `-errno`).
    pub fn new(function: &'static str, errno: i32) -> Self {
        Self { function, errno: errno.saturating_abs() }
    }

    /// An error from `function` taken from the calling thread's `rte_errno` (for calls that set it).
    pub fn from_rte_errno(function: &'static str) -> Self {
        Self::new(function, errno())
    }
}

impl fmt::Display for DpdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {} (errno {})", self.function, strerror(self.errno), self.errno)
    }
}

impl std::error::Error for DpdkError {}

/// The calling thread's `rte_errno`: the error number left by the last DPDK call on this thread that sets it.
pub fn errno() -> i32 {
    // SAFETY: the shim reads a thread-local int; it has no preconditions and works before EAL is initialised.
    unsafe { ffi::dpdk_shim_errno() }
}

/// DPDK's message for an error number (positive or negative), covering both `errno` values and `E_RTE_*` codes.
pub fn strerror(errnum: i32) -> String {
    // SAFETY: rte_strerror accepts any int and works before EAL is initialised. It returns a pointer to either a
    // static string or a per-thread buffer, which stays valid until the next rte_strerror call on this thread; we
    // copy it out before returning, and nothing else runs on this thread in between.
    let message = unsafe { CStr::from_ptr(ffi::rte_strerror(errnum.saturating_abs())) };
    message.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_names_errno_and_dpdk_codes() {
        assert_eq!(strerror(libc::ENODEV), strerror(-libc::ENODEV));
        assert!(strerror(libc::ENODEV).contains("No such device"), "{}", strerror(libc::ENODEV));
        let secondary = i32::try_from(ffi::E_RTE_SECONDARY).expect("E_RTE_SECONDARY fits an i32");
        assert!(strerror(secondary).contains("secondary"), "{}", strerror(secondary));
    }

    #[test]
    fn rte_errno_is_per_thread_and_writable() {
        // SAFETY: writes this thread's rte_errno; no preconditions.
        unsafe { ffi::dpdk_shim_set_errno(libc::EAGAIN) };
        assert_eq!(errno(), libc::EAGAIN);
        std::thread::spawn(|| assert_eq!(errno(), 0)).join().expect("thread panicked");
        let error = DpdkError::from_rte_errno("test");
        assert_eq!(error.errno, libc::EAGAIN);
        assert!(error.to_string().starts_with("test failed: "), "{error}");
        assert_eq!(DpdkError::new("x", -libc::EINVAL).errno, libc::EINVAL);
    }
}
