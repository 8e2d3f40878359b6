//! Connections the application let go of that only wait for their end (TIME-WAIT, or FIN-WAIT-2 waiting for the
//! peer's FIN), kept as small records (`crate::tcp::OrphanRecord`, `tcp/orphan.rs`) instead of whole
//! connections: a connection goes to sleep as a record when it is polled in one of those states with nothing
//! pending, a segment for its 4-tuple wakes it into a whole connection (which takes the segment and goes back to
//! sleep at its next poll), and the record ends at its deadline.
//!
//! The record keeps its 4-tuple in the connection table, its socket slot, its TIME-WAIT slot and its deadline in
//! the timer heap, so ports, SO_REUSEADDR, `max_time_wait` and reopening by a newer SYN see it as the
//! connection it was.

use super::{Connection, FlowKey, TcpSocket, TcpSocketOptions};
use crate::stack::{Socket, SocketId, Stack};
use crate::tcp::{Nanos, OrphanRecord};

/// A socket whose connection sleeps as an orphan record.
#[derive(Debug)]
pub(in crate::stack) struct OrphanSocket {
    pub(in crate::stack) record: OrphanRecord,
    /// The earliest deadline the timer heap holds for this socket (as `Connection::scheduled`).
    scheduled: Nanos,
}

impl Stack {
    /// Puts connection `id` to sleep as a record if it is in TIME-WAIT or FIN-WAIT-2, let go of by the
    /// application, and has nothing pending (`TcpConnection::orphan_record`); returns whether it did. Off the hot
    /// path.
    #[cold]
    #[inline(never)]
    pub(super) fn sleep_orphan(&mut self, id: SocketId) -> bool {
        let Ok(Socket::Tcp(socket)) = self.socket_mut(id) else { return false };
        let TcpSocket::Connection(conn) = socket else { return false };
        if conn.app_holds || conn.listener.is_some() {
            return false;
        }
        let Some(record) = conn.tcb.orphan_record() else { return false };
        let (deadline, connection_scheduled) = (record.deadline(), conn.scheduled);
        let scheduled = connection_scheduled.min(deadline);
        *socket = TcpSocket::Orphan(Box::new(OrphanSocket { record, scheduled }));
        if deadline < connection_scheduled {
            self.schedule(deadline, id);
        }
        self.counters.tcp_orphan_records += 1;
        true
    }

    /// Wakes the record of `id` into a whole connection, to take a segment; returns whether `id` was a record.
    /// The woken connection is polled (and so goes back to sleep) after the segment.
    #[cold]
    #[inline(never)]
    pub(super) fn wake_orphan(&mut self, id: SocketId) -> bool {
        let Ok(Socket::Tcp(socket)) = self.socket_mut(id) else { return false };
        if !matches!(socket, TcpSocket::Orphan(_)) {
            return false;
        }
        let placeholder = TcpSocket::Idle { local: None, options: TcpSocketOptions::default() };
        let TcpSocket::Orphan(sleeping) = std::mem::replace(socket, placeholder) else { return false };
        let OrphanSocket { record, scheduled } = *sleeping;
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
        self.counters.tcp_orphan_wakes += 1;
        true
    }

    /// Record `id`'s timer came (`poll_tcp`): at its deadline the record ends, as the connection would close
    /// then, sending nothing; before it (the heap entry was one the connection had made), the deadline is
    /// put in the heap.
    #[cold]
    #[inline(never)]
    pub(super) fn poll_orphan(&mut self, now: Nanos, id: SocketId) {
        let Ok(Socket::Tcp(TcpSocket::Orphan(sleeping))) = self.socket_mut(id) else { return };
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
