//! Memory: `DemiBuffer` (reference-counted, zero-copy views with header headroom), `BufferPool` (recycles
//! buffers so the datapath does not call the general allocator per operation) and `Sga` (a scatter-gather
//! array of buffers, the unit every push and pop carries).
//!
//! This is one of the few places in the tree that holds `unsafe` code: the raw storage behind a buffer, and the
//! pool's free list (reached without a `RefCell`'s borrow flag).

mod buffer;
mod pool;
mod sga;
mod storage;

pub use buffer::{DemiBuffer, MAX_BUFFER_LEN};
pub use pool::BufferPool;
pub use sga::{MAX_SGA_LEN, Sga};
pub use storage::ReleaseFn;
