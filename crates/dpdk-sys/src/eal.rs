//! Starting and stopping DPDK's Environment Abstraction Layer (EAL) from Rust strings.
//!
//! EAL can be initialised once per process: a second [`eal_init`] fails with `EALREADY`, and after
//! [`eal_cleanup`] it cannot be initialised again. Which arguments to pass on these machines (`--no-pci`,
//! `--in-memory`, `--file-prefix`, hugepages or `--no-huge -m`) is explained in `docs/catnip.md`.

use std::ffi::{CString, c_char, c_int};

use crate::error::DpdkError;
use crate::ffi;

/// Initialises EAL with `args` as its command line; `args[0]` is the program name (any string), as for `main`.
/// Returns how many arguments EAL consumed (all of them when there is no `--` separator).
///
/// The C strings and the argv array are leaked on purpose: `rte_eal_init` permutes argv with getopt and may keep
/// pointers into it for the life of the process, and since EAL is initialised at most once per process, this costs
/// a few hundred bytes once.
///
/// Errors: an argument containing a NUL byte (`EINVAL`), more than `c_int::MAX` arguments (`E2BIG`), or whatever
/// `rte_eal_init` leaves in `rte_errno` (`EALREADY` on a second call, `EINVAL` for a bad argument, `ENOMEM`
/// without enough (huge)page memory, ...). On failure EAL prints its own diagnostics to stderr.
pub fn eal_init(args: &[&str]) -> Result<usize, DpdkError> {
    const FUNCTION: &str = "rte_eal_init";
    let argc = c_int::try_from(args.len()).map_err(|_| DpdkError::new(FUNCTION, libc::E2BIG))?;
    let mut argv: Vec<*mut c_char> = Vec::with_capacity(args.len() + 1);
    for arg in args {
        let arg = CString::new(*arg).map_err(|_| DpdkError::new(FUNCTION, libc::EINVAL))?;
        argv.push(arg.into_raw());
    }
    // C's argv is NULL-terminated; getopt relies on it.
    argv.push(std::ptr::null_mut());
    let argv: &'static mut [*mut c_char] = argv.leak();

    // SAFETY: argv holds argc valid, NUL-terminated, writable C strings followed by NULL, all leaked so they
    // outlive EAL. rte_eal_init guards itself against being called twice (it returns -1 with EALREADY).
    let consumed = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
    if consumed < 0 {
        return Err(DpdkError::from_rte_errno(FUNCTION));
    }
    // rte_eal_init returns the count of parsed arguments, at most argc, so the conversion cannot fail.
    Ok(usize::try_from(consumed).unwrap_or(args.len()))
}

/// Releases what EAL allocated (memory, lcore threads, devices still attached). Call it once, last.
///
/// # Safety
///
/// After this call no DPDK function may be called by any thread, and no pointer obtained from DPDK (mbufs,
/// mempools, anything in EAL memory) may be used: the memory behind them is unmapped. Ports should be stopped and
/// closed and mempools freed before, and no other thread may be inside a DPDK call.
pub unsafe fn eal_cleanup() -> Result<(), DpdkError> {
    // SAFETY: the caller guarantees that nothing uses DPDK now or later (see `# Safety`).
    let ret = unsafe { ffi::rte_eal_cleanup() };
    if ret < 0 { Err(DpdkError::new("rte_eal_cleanup", ret)) } else { Ok(()) }
}
