//! Raw bindings to the system DPDK (22.11 on Debian bookworm), for catnip, demikernel's DPDK libOS.
//!
//! - [`ffi`]: the bindings bindgen generates at build time from the DPDK headers that `pkg-config libdpdk` points
//!   at, limited to what a libOS uses: EAL and lcores, mbuf mempools, the ethdev control path (configure, queue
//!   setup, start/stop/close, MAC, device info, link, promiscuous mode), `struct rte_mbuf` with its `RTE_MBUF_F_*`
//!   flags, the `RTE_ETH_{RX,TX}_OFFLOAD_*` constants, and `rte_strerror`.
//! - `ffi::dpdk_shim_*`: DPDK's static-inline functions (mbuf alloc/free/prepend/append/adj/trim/chain, data
//!   pointer, refcounts, `rte_eth_rx_burst`/`rte_eth_tx_burst`, `rte_errno`, `rte_lcore_id`) compiled out of line
//!   by a small C shim (`csrc/shim.c`), since they have no symbol in DPDK's shared libraries. Each behaves exactly
//!   like the DPDK inline of the same name without the prefix; DPDK's documentation of that inline is the contract.
//! - Thin safe helpers: [`eal_init`] (builds a C argv from Rust strings), [`eal_cleanup`], [`errno`], [`strerror`]
//!   and [`DpdkError`].
//!
//! This crate is not the libOS: it has no mbuf-owning buffer type, no port abstraction and no policy. Everything in
//! [`ffi`] is `unsafe` to call and follows DPDK's rules, chiefly: EAL is initialised once per process and never
//! again after [`eal_cleanup`]; mbufs and mempools are raw pointers whose ownership the caller tracks (a transmitted
//! mbuf belongs to the driver; a received one to the caller, who must free it).
//!
//! Building needs DPDK (`ci/install-dpdk.sh`), which is why the workspace's default members leave this crate out.
//! Running needs either hugepages (`ci/hugepages.sh`) or EAL's `--no-huge -m <MiB>`; see `docs/catnip.md`.

mod eal;
mod error;

pub use eal::{eal_cleanup, eal_init};
pub use error::{DpdkError, errno, strerror};

/// The generated bindings, unedited (`$OUT_DIR/bindings.rs`, from `csrc/shim.h` and the DPDK headers it includes).
///
/// Lints are silenced here and only here: the names are DPDK's C names, some generated types (unions, bitfields)
/// cannot derive `Debug`, and the code is machine-written, so clippy's style advice does not apply. bindgen also
/// emits compile-time layout checks (size, alignment, field offsets) for every struct, so a mismatch between these
/// bindings and the headers fails the build rather than corrupting memory.
#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    dead_code,
    missing_debug_implementations,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::pedantic,
    clippy::undocumented_unsafe_blocks
)]
pub mod ffi {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}
