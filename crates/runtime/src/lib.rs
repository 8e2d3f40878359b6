//! demikernel's runtime: what every library OS shares.
//!
//! - [`Scheduler`]: coroutines whose slots are qtokens; ready tasks found in time proportional to their number.
//! - [`timer`]: a clock read once per poll round and a cancelable timer queue.
//! - [`memory`]: `DemiBuffer`, `BufferPool`, `Sga`.
//! - [`Runtime`]: scheduler + timers + an idle policy; implements `wait`, `wait_any`, `wait_all`.
//! - [`QueueTable`] and [`MemoryQueue`]: queue descriptors, and the in-memory queue every libOS offers.
//!
//! No tokio, no other executor, no threads.

mod fail;
pub mod memory;
mod scheduler;
mod types;

pub use fail::{Fail, errno_name};
pub use memory::{BufferPool, DemiBuffer, MAX_SGA_LEN, Sga};
pub use scheduler::{Background, Operation, Scheduler};
pub use types::{Opcode, QDesc, QResult, QToken, QValue};
