//! packetdrill's shared-object interface over inetstack.
//!
//! packetdrill (`--so_filename=libinetstack_packetdrill.so`) `dlopen`s this library, calls
//! [`packetdrill_interface_init`] and then drives the stack through the function pointers of
//! [`PacketdrillInterface`]: libc-like socket calls, `netdev_send`/`netdev_receive` for raw IPv4 packets, and
//! `usleep`/`gettimeofday` on a virtual clock. The layout of the struct was written from the interface's
//! description (packetdrill's `packetdrill.h`); no packetdrill code is copied.
//!
//! - All state ([`host::Host`]) sits behind one `Mutex`; calls that block (`accept`, `read`, `write`, a
//!   blocking `connect`, `poll` with a timeout) wait on a `Condvar` that every injected packet, time advance
//!   and socket call notifies.
//! - Descriptors are real OS descriptors (`eventfd`), so packetdrill may close them itself.
//! - Errors are -1 with `errno` set; a panic never crosses the boundary (it becomes -1/EIO).
//! - `fcntl` and `ioctl` are variadic in C: they live in `csrc/variadic.c`, which calls
//!   [`inetstack_pd_fcntl_impl`]/[`inetstack_pd_ioctl_impl`] (in `control_calls.rs`).
//!
//! Files: `interface.rs` (the struct, `packetdrill_interface_init` and `free`), `state.rs` (the shared state,
//! its lock and condition variable), `errno.rs` (errors and panics at the boundary), `os_fd.rs` (the eventfd
//! descriptors), `c_memory.rs` (reading and writing the caller's addresses, iovecs and buffers), then the entry
//! points: `socket_calls.rs`, `control_calls.rs` (get/setsockopt, fcntl, ioctl), `poll.rs`, `io_calls.rs` (the
//! read and write family), `netdev.rs`, `clock.rs` and `unsupported.rs` (epoll, pipe, splice). `host.rs` is the
//! safe state machine underneath.

pub mod host;

mod c_memory;
mod clock;
mod control_calls;
mod errno;
mod interface;
mod io_calls;
mod netdev;
mod os_fd;
mod poll;
mod socket_calls;
mod state;
mod unsupported;

pub use control_calls::{inetstack_pd_fcntl_impl, inetstack_pd_ioctl_impl};
pub use interface::{PacketdrillInterface, packetdrill_interface_init};
