//! Connections in TIME-WAIT that the application let go of, kept as small records (`crate::tcp::TimeWaitRecord`,
//! `tcp/time_wait.rs`) instead of whole connections: a connection goes to sleep as a record when it is polled
//! in TIME-WAIT with nothing pending, a segment for its 4-tuple wakes it into a whole connection (which takes
//! the segment and goes back to sleep at its next poll), and the record ends at TIME-WAIT's deadline.
//!
//! The record keeps its 4-tuple in the connection table, its socket slot, its TIME-WAIT slot and its deadline in
//! the timer heap, so ports, SO_REUSEADDR, `max_time_wait` and reopening by a newer SYN see it as the
//! connection it was.

use super::{Connection, FlowKey, TcpSocket, TcpSocketOptions};
use crate::stack::{Socket, SocketId, Stack};
use crate::tcp::{Nanos, TimeWaitRecord};

/// A socket whose connection sleeps in TIME-WAIT.
#[derive(Debug)]
pub(in crate::stack) struct TimeWaitSocket {
    pub(in crate::stack) record: TimeWaitRecord,
    /// The earliest deadline the timer heap holds for this socket (as `Connection::scheduled`).
    scheduled: Nanos,
}

impl Stack {
    /// Puts connection `id` to sleep as a record if it is in TIME-WAIT, let go of by the application, and has
    /// nothing pending (`TcpConnection::time_wait_record`); returns whether it did. Once per connection, off
    /// the hot path.
    #[cold]
    #[inline(never)]
    pub(super) fn sleep_in_time_wait(&mut self, id: SocketId) -> bool {
        let Ok(Socket::Tcp(socket)) = self.socket_mut(id) else { return false };
        let TcpSocket::Connection(conn) = socket else { return false };
        if conn.app_holds || conn.listener.is_some() {
            return false;
        }
        let Some(record) = conn.tcb.time_wait_record() else { return false };
        let (deadline, connection_scheduled) = (record.deadline(), conn.scheduled);
        let scheduled = connection_scheduled.min(deadline);
        *socket = TcpSocket::TimeWait(Box::new(TimeWaitSocket { record, scheduled }));
        if deadline < connection_scheduled {
            self.schedule(deadline, id);
        }
        self.counters.tcp_time_wait_records += 1;
        true
    }

    /// Wakes the record of `id` into a whole connection, to take a segment; returns whether `id` was a record.
    /// The woken connection is polled (and so goes back to sleep) after the segment.
    #[cold]
    #[inline(never)]
    pub(super) fn wake_from_time_wait(&mut self, id: SocketId) -> bool {
        let Ok(Socket::Tcp(socket)) = self.socket_mut(id) else { return false };
        if !matches!(socket, TcpSocket::TimeWait(_)) {
            return false;
        }
        let placeholder = TcpSocket::Idle { local: None, options: TcpSocketOptions::default() };
        let TcpSocket::TimeWait(sleeping) = std::mem::replace(socket, placeholder) else { return false };
        let TimeWaitSocket { record, scheduled } = *sleeping;
        let tcb = record.wake(&self.config.tcp, &self.tcp.receive_memory, &self.tcp.send_memory, self.tcp_now);
        let conn = Connection {
            tcb,
            options: TcpSocketOptions::default(),
            listener: None,
            app_holds: false,
            scheduled,
            hop: None,
            template: None,
            timeouts_advised: 0,
        };
        if let Ok(Socket::Tcp(socket)) = self.socket_mut(id) {
            *socket = TcpSocket::Connection(Box::new(conn));
        }
        self.tcp.active.push(id);
        self.counters.tcp_time_wait_wakes += 1;
        true
    }

    /// Record `id`'s timer came (`poll_tcp`): at its deadline the record ends, as the connection would close
    /// then, sending nothing; before it (the heap entry was one the connection had made), the deadline is
    /// put in the heap.
    #[cold]
    #[inline(never)]
    pub(super) fn poll_time_wait(&mut self, now: Nanos, id: SocketId) {
        let Ok(Socket::Tcp(TcpSocket::TimeWait(sleeping))) = self.socket_mut(id) else { return };
        let deadline = sleeping.record.deadline();
        if deadline <= now {
            let key = FlowKey { local: sleeping.record.local(), remote: sleeping.record.remote() };
            self.reap(key, id);
        } else if sleeping.scheduled <= now {
            // Every heap entry due by now has been taken: the one at `scheduled` is gone.
            sleeping.scheduled = deadline;
            self.schedule(deadline, id);
        }
    }
}
