//! Shared pieces of demikernel's benchmarks and measurement programs (see docs/benchmarks.md):
//!
//! - [`raw_echo`]: the anchor, a TCP echo pair on plain non-blocking sockets and epoll, straight on libc.
//! - [`catnap_echo`]: the same echo pair on catnap, written only against the PDPIX `LibOs` trait.
//! - [`Percentiles`]: p50/p90/p99/p99.9 of a set of samples, for the programs under `src/bin`.
//! - [`pin_current_thread`]: where a side of a latency measurement runs matters (see docs/benchmarks.md).
//!
//! Not for: correctness tests (they live beside the code they test and in `tests/`).

pub mod catnap_echo;
pub mod raw_echo;
mod stats;

pub use stats::Percentiles;

/// Restricts the calling thread to CPU `cpu`; `None` leaves it where the kernel puts it.
pub fn pin_current_thread(cpu: Option<usize>) -> std::io::Result<()> {
    let Some(cpu) = cpu else { return Ok(()) };
    if cpu >= rustix::thread::CpuSet::MAX_CPU {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("no CPU {cpu}")));
    }
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set).map_err(std::io::Error::from)
}
