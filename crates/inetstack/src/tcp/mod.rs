//! TCP: the per-connection state machine (RFC 9293), sans-I/O.
//!
//! A [`TcpConnection`] is created by an active open ([`TcpConnection::connect`]) or by a listener that
//! received a SYN ([`TcpConnection::accept`]), and is then driven by three kinds of calls: segments that
//! arrive for its 4-tuple ([`TcpConnection::on_segment`]), the passage of time ([`TcpConnection::poll_transmit`]
//! at or after [`TcpConnection::next_deadline`]), and the application (`send`, `recv`, `shutdown_write`, `close`, `abort`).
//! It reads no clock and performs no I/O: what it wants sent comes out of `poll_transmit` as
//! [`OutgoingSegment`]s whose payloads are views of the application's buffers.
//!
//! What is implemented, with the RFCs, is listed in `docs/inetstack.md` (section "TCP"). Layout:
//! - [`config`], [`state`], [`counters`], [`segment`]: the public types;
//! - `connection` (state and application calls), `input` (with `predict`, its header prediction for the common
//!   segment), `ack`, `recovery`, `rack`, `receive`, `output` (with `fast_output`, its fast path for the common
//!   case), `timers`: the state machine, one concern per file;
//! - `send_buffer`, `sent_segments`, `receive_queue`, `reassembly`, `scoreboard`, `rtt`, `timestamps`, `rate_limit`: the data
//!   structures it uses; [`Nanos`]: its time (integer nanoseconds since the stack's epoch); [`congestion`]: the
//!   congestion controllers behind a trait;
//! - `harness` and `tests` (test builds only): two connections over a simulated, faulty link.
//!
//! Not here: the demultiplexer (4-tuple lookup, listeners, SYN and accept queues, RSTs for unknown
//! connections, ISNs, ephemeral ports), which owns connections and calls into them.

mod ack;
mod autotune;
mod black_hole;
pub mod config;
pub mod congestion;
mod connection;
pub mod counters;
mod ecn;
mod fast_output;
mod idle_trim;
mod input;
pub(crate) mod memory_limit;
mod min_rtt;
mod mtu_probe;
mod nanos;
mod orphan;
mod output;
mod pacing;
mod path_mtu;
mod predict;
mod rack;
mod rate_limit;
mod reassembly;
mod receive;
mod receive_queue;
mod recovery;
mod reopen;
mod rtt;
mod scoreboard;
pub mod segment;
mod send_buffer;
mod sent_segments;
mod slots;
mod spurious_timeout;
pub mod state;
mod timers;
mod timestamps;
mod tuning_budget;
mod undo;

#[cfg(test)]
mod harness;
#[cfg(test)]
mod tests;

pub use black_hole::{BLACK_HOLE_BASE_MTU, BLACK_HOLE_TIMEOUTS};
pub use config::{CongestionAlgorithm, TcpConfig};
pub use congestion::{CongestionControl, Cubic, Dctcp, NewReno};
pub use connection::{RecvOutcome, TcpConnection};
pub use counters::{TcpCounters, TcpDropCounters};
pub use ecn::EcnMode;
pub(crate) use ecn::codepoint as ecn_codepoint;
#[cfg(test)]
pub(crate) use fast_output::fast_path_taken;
pub use memory_limit::MemoryLimit;
pub use mtu_probe::{RESEARCH_INTERVAL, SEARCH_DONE_WITHIN};
pub use nanos::Nanos;
pub(crate) use orphan::OrphanRecord;
pub use path_mtu::{MIN_PATH_MTU, PATH_MTU_LIFETIME};
pub use segment::{BatchHeader, BatchSegment, OutgoingSegment, SegmentBatch, SegmentSink};
pub use slots::Slots;
pub use state::TcpState;
pub(crate) use timestamps::Timestamps;
pub use tuning_budget::TuningBudget;
