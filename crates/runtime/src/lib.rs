//! demikernel's runtime: what every library OS shares.
//!
//! - [`Scheduler`]: coroutines whose slots are qtokens; ready tasks found in time proportional to their number.
//! - [`Timers`]: a clock read once per poll round and a cancelable timer queue.
//! - [`memory`]: `DemiBuffer`, `BufferPool`, `Sga`.
//! - [`Runtime`]: scheduler + timers + the device's `Poller` + an idle policy; `wait`, `wait_any`, `wait_all`.
//! - [`QueueTable`] and [`MemoryQueue`]: queue descriptors, and the in-memory queue every libOS offers.
//!
//! No tokio, no other executor, no threads.

mod fail;
pub mod memory;
mod memory_queue;
mod queue_table;
mod runtime;
mod scheduler;
pub mod timer;
mod types;

pub use fail::{Fail, errno_name};
pub use memory::{BufferPool, DemiBuffer, MAX_BUFFER_LEN, MAX_SGA_LEN, ReleaseFn, Sga};
pub use memory_queue::{DEFAULT_MEMORY_QUEUE_CAPACITY, MemoryQueue};
pub use queue_table::{MAX_QUEUES, Queue, QueueTable};
pub use runtime::{IdlePolicy, NoDevice, Poller, Runtime};
pub use scheduler::{Operation, Scheduler};
pub use timer::{Sleep, Timers};
pub use types::{Opcode, QDesc, QResult, QToken, QValue};
