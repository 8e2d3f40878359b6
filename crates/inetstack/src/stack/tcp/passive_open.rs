//! Passive opens: the listener a SYN is for, the half-open connection it makes (bounded by the listener's backlog)
//! or the SYN cookie sent in its place (`syn_cookies.rs`), the ACK that brings a cookie back, a SYN that reopens a
//! connection in TIME-WAIT (RFC 6191), and the move of a completed handshake to its listener's accept queue.

use std::net::SocketAddrV4;

use runtime::Sga;

use super::{Connection, TcpSocket, TcpSocketOptions, USED_COOKIES_KEPT};
use crate::stack::flow_hash::FlowKey;
use crate::stack::syn_cookies::{self, CookieKey};
use crate::stack::{Socket, SocketId, Stack};
use crate::tcp::{Nanos, OutgoingSegment, TcpConnection, Timestamps, ecn_codepoint};
use crate::wire::{SeqNumber, TcpRepr};

/// What an ACK to a listening port with no connection came to (`Stack::open_from_cookie`).
pub(super) enum CookieAck {
    /// It brought back a valid cookie: the connection made from it.
    Opened(SocketId),
    /// A valid cookie, but the listener's accept queue is full: dropped.
    AcceptQueueFull,
    /// Not a cookie of ours (or an expired one).
    Invalid,
}

impl Stack {
    /// The listener that takes connections to `local`: one bound to its port, on that address or on all.
    pub(super) fn listener_for(&self, local: SocketAddrV4) -> Option<SocketId> {
        self.tcp.listeners.get(&local.port()).copied().filter(|&lid| match self.socket(lid) {
            Ok(Socket::Tcp(TcpSocket::Listener(l))) => l.local.ip().is_unspecified() || l.local.ip() == local.ip(),
            _ => false,
        })
    }

    /// A new SYN for connection `id`: if the connection is in TIME-WAIT, let go by its application, the SYN
    /// newer than it (`TcpConnection::new_incarnation_iss`) and a listener has room, the old connection is
    /// forgotten and the SYN opens a new one, whose sequence numbers start beyond the old one's (RFC 1122
    /// §4.2.2.13, RFC 6191). Returns whether it did.
    #[cold]
    #[inline(never)]
    pub(super) fn reopen_from_time_wait(
        &mut self,
        id: SocketId,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr<'_>,
        ecn_field: u8,
    ) -> bool {
        let Some(lid) = self.listener_for(local) else { return false };
        let Ok(conn) = self.connection(id) else { return false };
        if conn.app_holds || conn.listener.is_some() {
            return false;
        }
        let Some(least_iss) = conn.tcb.new_incarnation_iss(syn) else { return false };
        if !matches!(self.socket(lid), Ok(Socket::Tcp(TcpSocket::Listener(l))) if l.has_room()) {
            return false;
        }
        self.reap(FlowKey { local, remote }, id);
        self.passive_open(lid, local, remote, syn, ecn_field, Some(least_iss));
        self.counters.tcp_time_wait_reopens += 1;
        true
    }

    /// A connection in SYN-RECEIVED for `syn`, counted against listener `lid`'s backlog, with an initial
    /// sequence number no less than `least_iss` if given; nothing if the backlog is full.
    pub(super) fn passive_open(
        &mut self,
        lid: SocketId,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        syn: &TcpRepr<'_>,
        ecn_field: u8,
        least_iss: Option<SeqNumber>,
    ) {
        let (cookies, now) = (self.config.syn_cookies, self.tcp_now);
        let Ok(Socket::Tcp(TcpSocket::Listener(listener))) = self.socket_mut(lid) else { return };
        if !listener.has_room() {
            // Nothing is allocated: the peer retries its SYN, or, where half-open handshakes fill the backlog
            // and the accept queue has room (not an application that stopped accepting), a SYN cookie answers.
            let cookie = cookies && listener.accept_queue.len() < listener.backlog;
            if cookie {
                listener.cookie_sent_at = now;
            }
            self.counters.tcp_syn_queue_full += 1;
            if cookie {
                self.send_syn_cookie(local, remote, syn);
            }
            return;
        }
        listener.embryonic += 1;
        let options = listener.options;
        let mut iss = self.initial_sequence_number(local, remote);
        if let Some(least) = least_iss
            && iss < least
        {
            iss = least;
        }
        let ts_offset = self.timestamp_offset(local, remote);
        let tcb = TcpConnection::accept(&self.config.tcp, local, remote, syn, ecn_field, iss, ts_offset, self.tcp_now);
        let id = self.add_passive_connection(lid, options, tcb);
        self.tcp.active.push(id);
    }

    /// Registers `tcb`, a connection listener `lid` (whose socket `options` it takes) just opened.
    pub(super) fn add_passive_connection(
        &mut self,
        lid: SocketId,
        options: TcpSocketOptions,
        mut tcb: TcpConnection,
    ) -> SocketId {
        self.set_up(&mut tcb);
        tcb.set_nodelay(options.nodelay);
        tcb.set_keepalive(options.keepalive);
        let key = FlowKey { local: tcb.local(), remote: tcb.remote() };
        let conn = Connection {
            tcb,
            options,
            listener: Some(lid),
            app_holds: false,
            scheduled: Nanos::NEVER,
            hop: None,
            template: None,
            timeouts_advised: 0,
        };
        let id = self.insert_socket(Socket::Tcp(TcpSocket::Connection(Box::new(conn))));
        self.tcp.add_connection(key, id);
        id
    }

    /// Answers `syn` to a listener whose backlog is full with a SYN-ACK whose sequence number is a cookie
    /// (`syn_cookies.rs`), keeping nothing.
    #[cold]
    #[inline(never)]
    pub(super) fn send_syn_cookie(&mut self, local: SocketAddrV4, remote: SocketAddrV4, syn: &TcpRepr<'_>) {
        let now = self.tcp_now;
        let tsval = Timestamps::new(self.timestamp_offset(local, remote)).value(now);
        let (agreed, flags, options) = syn_cookies::syn_ack(&self.config.tcp, syn, tsval);
        let key = CookieKey { secret: self.tcp.isn_secret, local, remote, peer_isn: syn.seq_number };
        let mut syn_ack = OutgoingSegment {
            src_port: local.port(),
            dst_port: remote.port(),
            seq_number: key.cookie(agreed.mss, now),
            ack_number: Some(syn.seq_number + 1),
            flags,
            window_len: self.config.tcp.recv_buffer.min(usize::from(u16::MAX)) as u16,
            options,
            payload: Sga::new(),
            ect: false,
        };
        if self.emit_segment(*local.ip(), *remote.ip(), &mut syn_ack, &mut None, &mut None).is_ok() {
            self.counters.tcp_syn_cookies_sent += 1;
        }
    }

    /// A half-open connection `id` got an ACK of something else than its SYN-ACK. While its listener's cookies
    /// may be out, the ACK is judged as one to the listener, as Linux falls back from a request that refuses an
    /// ACK to the listener's cookie check: a valid cookie's connection replaces the half-open one (the peer had
    /// repeated its SYN after a cookie answered the first, and this connection was made from the repeat).
    /// `None` when no cookie may be out: the half-open connection answers, as RFC 9293 says.
    #[cold]
    #[inline(never)]
    pub(super) fn cookie_replaces_half_open(&mut self, id: SocketId, ack: &TcpRepr<'_>) -> Option<CookieAck> {
        let conn = self.connection(id).ok()?;
        let (lid, local, remote) = (conn.listener?, conn.tcb.local(), conn.tcb.remote());
        if !self.may_complete_a_cookie(lid, ack) {
            return None;
        }
        Some(self.open_from_cookie(lid, local, remote, ack, Some(id)))
    }

    /// Whether `segment`, to listener `lid` with no connection, may complete a cookie's handshake: ACK set, no
    /// SYN or RST, and the listener sent a cookie within the time one stays valid (else the segment gets the
    /// RST any segment to no connection gets).
    pub(super) fn may_complete_a_cookie(&self, lid: SocketId, segment: &TcpRepr<'_>) -> bool {
        let Ok(Socket::Tcp(TcpSocket::Listener(listener))) = self.socket(lid) else { return false };
        let recent = self.tcp_now.saturating_sub(listener.cookie_sent_at) <= syn_cookies::LIFETIME;
        !listener.cookie_sent_at.is_never()
            && recent
            && segment.ack_number.is_some()
            && !segment.flags.syn()
            && !segment.flags.rst()
    }

    /// What the ACK `ack` to listener `lid` completes, if it brings back a valid cookie and the listener's
    /// accept queue has room (the cookie stands in for the backlog's half-open entries, not for the connections
    /// waiting for `accept`): a connection in SYN-RECEIVED with the SYN-ACK sent, for `ack` to establish. It
    /// takes the place of the half-open connection `replacing`, if given (which then goes, with its place in the
    /// backlog), once it can be made.
    #[cold]
    #[inline(never)]
    pub(super) fn open_from_cookie(
        &mut self,
        lid: SocketId,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        ack: &TcpRepr<'_>,
        replacing: Option<SocketId>,
    ) -> CookieAck {
        let key = CookieKey { secret: self.tcp.isn_secret, local, remote, peer_isn: ack.seq_number - 1 };
        let cookie = ack.ack_number.unwrap_or(ack.seq_number) - 1;
        let Some(mss) = key.check(cookie, self.tcp_now) else {
            self.counters.tcp_syn_cookies_invalid += 1;
            return CookieAck::Invalid;
        };
        let Ok(Socket::Tcp(TcpSocket::Listener(listener))) = self.socket_mut(lid) else { return CookieAck::Invalid };
        if listener.cookies_used.contains(&(remote, cookie)) {
            self.counters.tcp_syn_cookies_invalid += 1;
            return CookieAck::Invalid;
        }
        if listener.accept_queue.len() >= listener.backlog {
            self.counters.tcp_syn_queue_full += 1;
            return CookieAck::AcceptQueueFull;
        }
        if listener.cookies_used.len() == USED_COOKIES_KEPT {
            listener.cookies_used.pop_front();
        }
        listener.cookies_used.push_back((remote, cookie));
        listener.embryonic += 1;
        let options = listener.options;
        if let Some(half_open) = replacing {
            listener.embryonic = listener.embryonic.saturating_sub(1);
            self.reap(FlowKey { local, remote }, half_open);
        }
        let syn = syn_cookies::syn_for(ack, &syn_cookies::handshake(mss, ack));
        let ts_offset = self.timestamp_offset(local, remote);
        let mut tcb = TcpConnection::accept(
            &self.config.tcp,
            local,
            remote,
            &syn,
            ecn_codepoint::NOT_ECT,
            cookie,
            ts_offset,
            self.tcp_now,
        );
        tcb.syn_ack_was_sent();
        let id = self.add_passive_connection(lid, options, tcb);
        self.counters.tcp_syn_cookies_accepted += 1;
        CookieAck::Opened(id)
    }

    /// Moves a passively opened connection whose handshake completed to its listener's accept queue, or
    /// releases its place in the backlog if the handshake failed.
    pub(super) fn settle_handshake(&mut self, id: SocketId) {
        let Ok(conn) = self.connection(id) else { return };
        let Some(lid) = conn.listener else { return };
        let state = conn.tcb.state();
        let remote = conn.tcb.remote();
        let established = state.is_synchronized();
        let failed = conn.tcb.is_closed() || conn.tcb.error().is_some();
        if !established && !failed {
            return;
        }
        conn.listener = None;
        if established && !failed {
            conn.app_holds = true;
        }
        if let Ok(Socket::Tcp(TcpSocket::Listener(listener))) = self.socket_mut(lid) {
            listener.embryonic = listener.embryonic.saturating_sub(1);
            if established && !failed {
                listener.accept_queue.push_back((id, remote));
                self.touched.push(lid);
            }
        }
    }
}
