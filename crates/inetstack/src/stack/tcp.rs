//! The TCP demultiplexer: which connection, listener or nobody a segment is for.
//!
//! - Connections are found by their 4-tuple; a SYN for a listening port creates a connection in
//!   SYN-RECEIVED if the listener's backlog has room (the SYN queue and the accept queue together are bounded
//!   by the backlog, so a SYN flood cannot exhaust memory); once established it moves to the accept queue.
//! - Segments for nobody get a RST (RFC 9293 §3.10.7.1), never a RST for a RST.
//! - Initial sequence numbers follow RFC 6528: a keyed hash of the 4-tuple plus a 4 µs clock.
//! - Connections are polled for output only when something happened to them or their timer is due; closed
//!   connections the application has let go of are reaped.
//!
//! Passive opens (listeners, SYN cookies, a SYN reopening TIME-WAIT) are in `tcp/passive_open.rs`, polling and
//! emitting in `tcp/poll.rs`. The per-connection state machine is `crate::tcp::TcpConnection`.

use std::cmp::Reverse;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use runtime::{DemiBuffer, Fail, Sga};

use super::flow_hash::{FlowHash, FlowKey};
use super::header_template::HeaderTemplate;
use super::output::CachedHop;
use super::{Socket, SocketId, Stack};
use crate::tcp::{
    MemoryLimit, Nanos, OutgoingSegment, RecvOutcome, SegmentBatch, Slots, TcpConfig, TcpConnection, TcpState,
    TuningBudget, ecn_codepoint,
};
use crate::wire::{Ipv4Repr, SeqNumber, TcpFlags, TcpOptions, TcpPacket, TcpRepr, WireError};
use orphan::OrphanSocket;

mod orphan;
mod passive_open;
mod poll;

use passive_open::CookieAck;

/// Socket options of a TCP socket. Set on a listener, they are inherited by the connections it accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpSocketOptions {
    /// TCP_NODELAY.
    pub nodelay: bool,
    /// SO_KEEPALIVE: idle time before probes (`None`: off).
    pub keepalive: Option<Duration>,
    /// SO_LINGER: `Some(ZERO)` makes close reset the connection; other values close in order (the close
    /// never blocks: PDPIX's close returns at once and the stack finishes the handshake).
    pub linger: Option<Duration>,
    /// SO_REUSEADDR: bind may take a port held only by connections in TIME-WAIT.
    pub reuse_addr: bool,
}

/// A TCP socket as the application sees it.
#[derive(Debug)]
pub(super) enum TcpSocket {
    /// Created, maybe bound, neither listening nor connected.
    Idle {
        local: Option<SocketAddrV4>,
        options: TcpSocketOptions,
    },
    Listener(Listener),
    Connection(Box<Connection>),
    /// A connection the application let go of, in TIME-WAIT or FIN-WAIT-2, kept as a small record
    /// (`crate::tcp::OrphanRecord`) and woken into a whole connection for each segment that arrives for it
    /// (`stack/tcp/orphan.rs`).
    Orphan(Box<OrphanSocket>),
}

#[derive(Debug)]
pub(super) struct Listener {
    local: SocketAddrV4,
    options: TcpSocketOptions,
    backlog: usize,
    /// Handshakes in progress (SYN-RECEIVED).
    embryonic: usize,
    accept_queue: VecDeque<(SocketId, SocketAddrV4)>,
    /// When it last answered a SYN with a cookie ([`Nanos::NEVER`]: never).
    cookie_sent_at: Nanos,
    /// The cookies that made a connection lately (peer, cookie), the oldest first, at most
    /// [`USED_COOKIES_KEPT`]: a cookie makes one connection, not a second from a duplicate of its ACK that
    /// arrives once the first is gone.
    cookies_used: VecDeque<(SocketAddrV4, SeqNumber)>,
}

/// How many used cookies a listener remembers.
const USED_COOKIES_KEPT: usize = 64;

impl Listener {
    /// Whether the backlog (handshakes in progress and connections waiting for `accept` together) has room.
    fn has_room(&self) -> bool {
        self.embryonic + self.accept_queue.len() < self.backlog
    }
}

#[derive(Debug)]
pub(super) struct Connection {
    pub(super) tcb: TcpConnection,
    options: TcpSocketOptions,
    /// The listener whose backlog this connection counts against until accepted.
    listener: Option<SocketId>,
    /// Whether the application still holds the socket (else it is reaped once closed).
    app_holds: bool,
    /// The earliest deadline this connection has in the timer heap ([`Nanos::NEVER`]: none).
    scheduled: Nanos,
    /// The next hop's MAC address, remembered while the ARP table agrees (see `CachedHop`).
    hop: Option<CachedHop>,
    /// The constant header bytes towards that next hop, made at the first segment that found `hop` valid.
    template: Option<Box<HeaderTemplate>>,
    /// The connection's retransmission timeouts the ARP layer has been advised of (see `emit_queued`).
    timeouts_advised: u64,
}

impl Connection {
    /// The deadline to add to the timer heap, if the connection's earliest one moved earlier than what the heap
    /// holds for it. One heap entry per connection at most (two while a deadline moves earlier): a deadline that
    /// moved later is found when the earlier entry fires, and re-armed then. Inline: called for every segment
    /// received and every connection polled.
    #[inline]
    fn reschedule(&mut self) -> Option<Nanos> {
        let at = self.tcb.next_deadline();
        if at < self.scheduled {
            self.scheduled = at;
            return Some(at);
        }
        None
    }
}

/// Everything the demultiplexer keeps beside the socket table.
#[derive(Debug, Default)]
pub(super) struct TcpTables {
    connections: HashMap<FlowKey, SocketId, FlowHash>,
    /// How many entries of `connections` hold each local port, so that choosing or checking a port does not scan
    /// every connection.
    connection_ports: HashMap<u16, u32, FlowHash>,
    listeners: HashMap<u16, SocketId, FlowHash>,
    /// Ports bound by sockets that are not (yet) listening or connected.
    bound: HashMap<u16, SocketId, FlowHash>,
    /// Connections to poll for output at the next opportunity.
    active: Vec<SocketId>,
    /// Connections' deadlines, earliest first, each with its `Instant` (made once, when pushed: the stack's
    /// `next_deadline`, asked every round, then converts nothing).
    timers: BinaryHeap<Reverse<(Nanos, SocketId, Option<Instant>)>>,
    /// `poll_tcp`'s scratch space, kept to spare allocations per poll (made at the first poll). Out of the
    /// tables while a poll runs, by one pointer: the poll emits through `&mut Stack`.
    scratch: Option<Box<PollScratch>>,
    isn_secret: u64,
    /// What auto-tuning may add to all the connections' buffers (`TcpConfig::autotune_budget`).
    tuning_budget: TuningBudget,
    /// What all the connections hold of received data, and its limit (`TcpConfig::receive_memory`).
    receive_memory: MemoryLimit,
    /// What all the connections hold of data to send, and its limit (`TcpConfig::send_memory`).
    send_memory: MemoryLimit,
    /// The connections' TIME-WAIT slots (`TcpConfig::max_time_wait`).
    time_wait_slots: Slots,
    /// The slots of the connections the application closed that are not yet closed nor in TIME-WAIT
    /// (`TcpConfig::max_orphans`).
    orphan_slots: Slots,
}

/// The segments one connection emits in a poll: by the general path, or batched by the fast path (the batch's
/// header is written afresh by every batch).
#[derive(Debug, Default)]
struct PollScratch {
    outgoing: Vec<OutgoingSegment>,
    batch: SegmentBatch,
}

impl TcpTables {
    pub(super) fn new(isn_secret: u64, tcp: &TcpConfig) -> Self {
        Self {
            isn_secret,
            tuning_budget: TuningBudget::new(tcp.autotune_budget),
            receive_memory: MemoryLimit::new(tcp.receive_memory),
            send_memory: MemoryLimit::new(tcp.send_memory),
            time_wait_slots: Slots::new(tcp.max_time_wait),
            orphan_slots: Slots::new(tcp.max_orphans),
            ..Self::default()
        }
    }

    /// How many connections the demultiplexer knows (tests: nothing may be left behind).
    #[cfg(test)]
    pub(super) fn connection_count(&self) -> usize {
        self.connections.len()
    }

    fn port_in_use(&self, port: u16) -> bool {
        self.listeners.contains_key(&port)
            || self.bound.contains_key(&port)
            || self.connection_ports.contains_key(&port)
    }

    /// Connections holding `port`, for SO_REUSEADDR's check (a scan, but only of a port some connection holds).
    fn connections_on(&self, port: u16) -> impl Iterator<Item = SocketId> + '_ {
        let held = self.connection_ports.contains_key(&port);
        self.connections.iter().filter(move |(key, _)| held && key.local.port() == port).map(|(_, &id)| id)
    }

    fn add_connection(&mut self, key: FlowKey, id: SocketId) {
        if self.connections.insert(key, id).is_none() {
            *self.connection_ports.entry(key.local.port()).or_default() += 1;
        }
    }

    /// Forgets `key` if `id` holds it (never another connection's entry).
    fn remove_connection(&mut self, key: &FlowKey, id: SocketId) {
        if self.connections.get(key) == Some(&id)
            && self.connections.remove(key).is_some()
            && let std::collections::hash_map::Entry::Occupied(mut count) =
                self.connection_ports.entry(key.local.port())
        {
            *count.get_mut() -= 1;
            if *count.get() == 0 {
                count.remove();
            }
        }
    }
}

#[cold]
fn not_tcp(id: SocketId) -> Fail {
    Fail::with_context(libc::EPROTOTYPE, format!("{id:?} is not a TCP socket"))
}

#[cold]
fn not_a_connection(socket: &TcpSocket) -> Fail {
    match socket {
        TcpSocket::Listener(_) => Fail::new(libc::EOPNOTSUPP, "operation on a listening socket"),
        _ => Fail::new(libc::ENOTCONN, "socket is not connected"),
    }
}

impl Stack {
    /// When `poll` must next run for TCP: now if connections wait to be polled, else the earliest timer.
    pub(super) fn tcp_next_deadline(&self) -> Option<Instant> {
        if !self.tcp.active.is_empty() {
            return Some(self.now);
        }
        self.tcp.timers.peek().and_then(|Reverse((_, _, at))| *at)
    }

    pub fn tcp_open(&mut self) -> SocketId {
        self.insert_socket(Socket::Tcp(TcpSocket::Idle { local: None, options: TcpSocketOptions::default() }))
    }

    #[inline]
    fn tcp_socket(&mut self, id: SocketId) -> Result<&mut TcpSocket, Fail> {
        match self.socket_mut(id)? {
            Socket::Tcp(tcp) => Ok(tcp),
            _ => Err(not_tcp(id)),
        }
    }

    /// The connection `id` names (inline: every segment and socket call goes through it).
    #[inline]
    fn connection(&mut self, id: SocketId) -> Result<&mut Connection, Fail> {
        match self.tcp_socket(id)? {
            TcpSocket::Connection(c) => Ok(c),
            other => Err(not_a_connection(other)),
        }
    }

    fn allocate_tcp_port(&mut self) -> Result<u16, Fail> {
        let tables = &self.tcp;
        self.tcp_ephemeral
            .allocate(|p| tables.port_in_use(p))
            .ok_or_else(|| Fail::new(libc::EADDRINUSE, "no ephemeral TCP port left"))
    }

    /// Binds to `local` (our address or 0.0.0.0; port 0 for an ephemeral port).
    pub fn tcp_bind(&mut self, id: SocketId, local: SocketAddrV4) -> Result<SocketAddrV4, Fail> {
        if !self.our_addr(*local.ip()) {
            return Err(Fail::with_context(libc::EADDRNOTAVAIL, format!("{} is not our address", local.ip())));
        }
        let options = match self.tcp_socket(id)? {
            TcpSocket::Idle { local: None, options } => *options,
            _ => return Err(Fail::new(libc::EINVAL, "socket is already bound")),
        };
        let port = match local.port() {
            0 => self.allocate_tcp_port()?,
            port if self.tcp_port_taken(port, options.reuse_addr) => {
                return Err(Fail::with_context(libc::EADDRINUSE, format!("TCP port {port} is in use")));
            }
            port => port,
        };
        let bound = SocketAddrV4::new(*local.ip(), port);
        *self.tcp_socket(id)? = TcpSocket::Idle { local: Some(bound), options };
        self.tcp.bound.insert(port, id);
        Ok(bound)
    }

    /// Whether bind may not take `port`: in use, unless `reuse_addr` and only TIME-WAIT connections hold it.
    fn tcp_port_taken(&self, port: u16, reuse_addr: bool) -> bool {
        if self.tcp.listeners.contains_key(&port) || self.tcp.bound.contains_key(&port) {
            return true;
        }
        self.tcp.connections_on(port).any(|id| {
            let time_wait = match self.socket(id) {
                Ok(Socket::Tcp(TcpSocket::Connection(c))) => c.tcb.state() == TcpState::TimeWait,
                Ok(Socket::Tcp(TcpSocket::Orphan(o))) => o.record.state() == TcpState::TimeWait,
                _ => false,
            };
            !(reuse_addr && time_wait)
        })
    }

    /// Sets a TCP socket's options (on a connection at once; on a listener for the connections it accepts).
    pub fn tcp_set_options(&mut self, id: SocketId, options: TcpSocketOptions) -> Result<(), Fail> {
        match self.tcp_socket(id)? {
            TcpSocket::Idle { options: o, .. } => *o = options,
            TcpSocket::Listener(listener) => listener.options = options,
            TcpSocket::Orphan(_) => return Err(Fail::new(libc::ENOTCONN, "socket is closed")),
            TcpSocket::Connection(conn) => {
                conn.options = options;
                conn.tcb.set_nodelay(options.nodelay);
                conn.tcb.set_keepalive(options.keepalive);
                self.tcp.active.push(id);
            }
        }
        Ok(())
    }

    pub fn tcp_options(&mut self, id: SocketId) -> Result<TcpSocketOptions, Fail> {
        Ok(match self.tcp_socket(id)? {
            TcpSocket::Idle { options, .. } => *options,
            TcpSocket::Listener(listener) => listener.options,
            TcpSocket::Connection(conn) => conn.options,
            TcpSocket::Orphan(_) => TcpSocketOptions::default(),
        })
    }

    /// Accepts connections on a bound socket; at most `backlog` may be in the handshake or waiting for accept.
    pub fn tcp_listen(&mut self, id: SocketId, backlog: usize) -> Result<(), Fail> {
        let (local, options) = match self.tcp_socket(id)? {
            TcpSocket::Idle { local: Some(local), options } => (*local, *options),
            TcpSocket::Idle { local: None, .. } => return Err(Fail::new(libc::EDESTADDRREQ, "listen before bind")),
            TcpSocket::Listener(listener) => {
                listener.backlog = backlog.max(1);
                return Ok(());
            }
            TcpSocket::Connection(_) | TcpSocket::Orphan(_) => {
                return Err(Fail::new(libc::EINVAL, "listen on a connected socket"));
            }
        };
        self.tcp.bound.remove(&local.port());
        self.tcp.listeners.insert(local.port(), id);
        let listener = Listener {
            local,
            options,
            backlog: backlog.max(1),
            embryonic: 0,
            accept_queue: VecDeque::new(),
            cookie_sent_at: Nanos::NEVER,
            cookies_used: VecDeque::new(),
        };
        *self.tcp_socket(id)? = TcpSocket::Listener(listener);
        Ok(())
    }

    /// The next established connection, if one is waiting.
    pub fn tcp_accept(&mut self, id: SocketId) -> Result<Option<(SocketId, SocketAddrV4)>, Fail> {
        match self.tcp_socket(id)? {
            TcpSocket::Listener(listener) => Ok(listener.accept_queue.pop_front()),
            _ => Err(Fail::new(libc::EINVAL, "accept on a socket that is not listening")),
        }
    }

    /// Starts an active open to `remote`. EADDRNOTAVAIL if the socket's port, bound with SO_REUSEADDR over
    /// connections in TIME-WAIT, would make the 4-tuple of one of them (the socket stays bound).
    pub fn tcp_connect(&mut self, now: Instant, id: SocketId, remote: SocketAddrV4) -> Result<(), Fail> {
        self.advance(now);
        if remote.port() == 0 || remote.ip().is_unspecified() || remote.ip().is_broadcast() {
            return Err(Fail::with_context(libc::EINVAL, format!("cannot connect to {remote}")));
        }
        let (local, options) = match self.tcp_socket(id)? {
            TcpSocket::Idle { local, options } => (*local, *options),
            TcpSocket::Listener(_) => return Err(Fail::new(libc::EOPNOTSUPP, "connect on a listening socket")),
            TcpSocket::Connection(c) if c.tcb.state() == TcpState::SynSent => {
                return Err(Fail::new(libc::EALREADY, "connect already in progress"));
            }
            TcpSocket::Connection(_) | TcpSocket::Orphan(_) => {
                return Err(Fail::new(libc::EISCONN, "socket is already connected"));
            }
        };
        let port = match local {
            Some(local) => local.port(),
            None => self.allocate_tcp_port()?,
        };
        // The bound address, or the one a datagram to `remote` leaves from (127.0.0.1 towards loopback).
        let ip = match local {
            Some(local) if !local.ip().is_unspecified() => *local.ip(),
            _ => self.source_for(*remote.ip()),
        };
        let bound = local.is_some();
        let local = SocketAddrV4::new(ip, port);
        // A port bound with SO_REUSEADDR over connections in TIME-WAIT may name one of their 4-tuples: that
        // connection still holds it (its late segments are its own), as Linux refuses without `tcp_tw_reuse`.
        if self.tcp.connections.contains_key(&FlowKey { local, remote }) {
            return Err(Fail::with_context(
                libc::EADDRNOTAVAIL,
                format!("{local} to {remote} is held by a connection in TIME-WAIT"),
            ));
        }
        if bound {
            self.tcp.bound.remove(&port);
        }
        let iss = self.initial_sequence_number(local, remote);
        let ts_offset = self.timestamp_offset(local, remote);
        let mut tcb = TcpConnection::connect(&self.config.tcp, local, remote, iss, ts_offset, self.tcp_now);
        self.set_up(&mut tcb);
        tcb.set_nodelay(options.nodelay);
        tcb.set_keepalive(options.keepalive);
        let conn = Connection {
            tcb,
            options,
            listener: None,
            app_holds: true,
            scheduled: Nanos::NEVER,
            hop: None,
            template: None,
            timeouts_advised: 0,
        };
        *self.tcp_socket(id)? = TcpSocket::Connection(Box::new(conn));
        self.tcp.add_connection(FlowKey { local, remote }, id);
        self.tcp.active.push(id);
        Ok(())
    }

    /// Queues data; returns how many bytes the send buffer took. Inline (across crates too): the call, its
    /// prologue and the returned `Result` cost more than the work of a send to an open connection.
    #[inline]
    pub fn tcp_send(&mut self, now: Instant, id: SocketId, sga: &Sga) -> Result<usize, Fail> {
        self.advance(now);
        let tcb = &mut self.connection(id)?.tcb;
        let idle = tcb.nothing_to_send();
        let n = tcb.send(sga)?;
        if n > 0 {
            if idle {
                self.send_at_once(id);
            } else {
                self.tcp.active.push(id);
            }
        }
        Ok(n)
    }

    /// Polls a connection that had nothing to send before the application's send: what the next poll would
    /// send for it (nothing in flight, so neither Nagle nor the congestion window holds the data back) goes
    /// into the outbox now, without the active list and the poll. Data queued behind data already queued
    /// waits for the poll, which sends it in as few segments as the windows allow.
    #[inline(never)]
    fn send_at_once(&mut self, id: SocketId) {
        let mut scratch = self.tcp.scratch.take().unwrap_or_default();
        self.poll_connection(self.tcp_now, id, &mut scratch);
        self.tcp.scratch = Some(scratch);
    }

    /// In-order data (at most `max_len` bytes): `Ok(None)` if none yet, an empty array at end of stream.
    pub fn tcp_recv(&mut self, id: SocketId, max_len: usize) -> Result<Option<Sga>, Fail> {
        let mut out = Sga::new();
        match self.tcp_recv_into(id, max_len, &mut out)? {
            RecvOutcome::Data => Ok(Some(out)),
            RecvOutcome::EndOfStream => Ok(Some(Sga::new())),
            RecvOutcome::NotYet => Ok(None),
        }
    }

    /// [`tcp_recv`](Self::tcp_recv) into the caller's array, which is cleared and then, on
    /// [`RecvOutcome::Data`], holds the data. The data is written once into `out` and only a small outcome
    /// is returned: returning the 64-byte `Result<Option<Sga>, Fail>` by value, built before the
    /// window-update check, went through a stack copy with a store-forwarding stall (most of `tcp_recv`'s
    /// cost in the request-response profile). Inline (across crates too), so that a read loop tests the
    /// outcome without the `Result` being stored and reloaded.
    #[inline]
    pub fn tcp_recv_into(&mut self, id: SocketId, max_len: usize, out: &mut Sga) -> Result<RecvOutcome, Fail> {
        let tcb = &mut self.connection(id)?.tcb;
        let outcome = tcb.recv_into(max_len, out);
        // Reading changes only the receive window: poll the connection if that made a window update due (when
        // it has anything else to send it is already active or waiting on an event of its own), or if emptying
        // the queue started the idle trim timer (`tcp/idle_trim.rs`), which the poll schedules.
        if tcb.owes_ack() || tcb.take_timer_armed_by_read() {
            self.tcp.active.push(id);
        }
        outcome
    }

    /// What buffer auto-tuning may still add to the stack's connections (`TcpConfig::autotune_budget` less what
    /// its connections took).
    pub fn tcp_autotune_budget_left(&self) -> usize {
        self.tcp.tuning_budget.remaining()
    }

    /// What the stack's connections hold of received data, in order or out of order (bounded by
    /// `TcpConfig::receive_memory`, give or take a few KiB per connection: `tcp/memory_limit.rs`).
    pub fn tcp_receive_memory_held(&self) -> usize {
        self.tcp.receive_memory.held()
    }

    /// What the stack's connections hold of data to send or to be acknowledged (bounded by
    /// `TcpConfig::send_memory`, give or take 4 KiB per connection: `tcp/memory_limit.rs`).
    pub fn tcp_send_memory_held(&self) -> usize {
        self.tcp.send_memory.held()
    }

    /// How many of the stack's connections are in TIME-WAIT (at most `TcpConfig::max_time_wait`).
    pub fn tcp_time_wait_count(&self) -> usize {
        self.tcp.time_wait_slots.taken()
    }

    /// How many of the stack's connections are orphans: closed by the application, not yet closed nor in
    /// TIME-WAIT (at most `TcpConfig::max_orphans`).
    pub fn tcp_orphan_count(&self) -> usize {
        self.tcp.orphan_slots.taken()
    }

    /// The connection's counters (segments, bytes, retransmissions, drops by reason...).
    pub fn tcp_counters(&mut self, id: SocketId) -> Result<crate::tcp::TcpCounters, Fail> {
        Ok(*self.connection(id)?.tcb.counters())
    }

    pub fn tcp_state(&mut self, id: SocketId) -> Result<TcpState, Fail> {
        match self.tcp_socket(id)? {
            TcpSocket::Connection(c) => Ok(c.tcb.state()),
            TcpSocket::Orphan(o) => Ok(o.record.state()),
            TcpSocket::Listener(_) => Ok(TcpState::Listen),
            TcpSocket::Idle { .. } => Ok(TcpState::Closed),
        }
    }

    /// The connection's error (refused, reset, timed out), if it failed.
    pub fn tcp_error(&mut self, id: SocketId) -> Result<Option<Fail>, Fail> {
        match self.tcp_socket(id)? {
            TcpSocket::Connection(c) => Ok(c.tcb.error()),
            _ => Ok(None),
        }
    }

    /// The connected peer.
    pub fn tcp_peer(&mut self, id: SocketId) -> Result<SocketAddrV4, Fail> {
        Ok(self.connection(id)?.tcb.remote())
    }

    /// An ICMP destination-unreachable quoting one of our segments from `local` to `remote`.
    pub(super) fn tcp_unreachable(&mut self, local: SocketAddrV4, remote: SocketAddrV4, error: Fail) {
        let Some(&id) = self.tcp.connections.get(&FlowKey { local, remote }) else { return };
        if let Ok(conn) = self.connection(id) {
            conn.tcb.on_icmp_unreachable(error);
            self.tcp.active.push(id);
            self.touched.push(id);
        }
    }

    /// An ICMP fragmentation-needed error quoting our segment `quoted_seq` from `local` to `remote`: the path
    /// takes `mtu` bytes (`TcpConnection::on_path_mtu`). The connection is polled to resend at the new size.
    /// The stack remembers the MTU for connections to come (`path_mtu_cache.rs`) once a connection took it.
    pub(super) fn tcp_path_mtu(&mut self, local: SocketAddrV4, remote: SocketAddrV4, mtu: u16, quoted_seq: SeqNumber) {
        let Some(&id) = self.tcp.connections.get(&FlowKey { local, remote }) else { return };
        let now = self.tcp_now;
        if let Ok(conn) = self.connection(id)
            && conn.tcb.on_path_mtu(now, mtu, quoted_seq)
        {
            self.tcp.active.push(id);
            self.path_mtus.learn(*remote.ip(), mtu.max(crate::tcp::MIN_PATH_MTU), now, false);
        }
    }

    /// An ICMP error that does not end a connection (time exceeded) quoting one of our segments from `local` to
    /// `remote`: kept to explain a later timeout (`TcpConnection::on_icmp_soft_error`).
    pub(super) fn tcp_soft_error(&mut self, local: SocketAddrV4, remote: SocketAddrV4, error: Fail) {
        let Some(&id) = self.tcp.connections.get(&FlowKey { local, remote }) else { return };
        if let Ok(conn) = self.connection(id) {
            conn.tcb.on_icmp_soft_error(error);
        }
    }

    /// Half-close (`shutdown(SHUT_WR)`): a FIN after the queued data; the socket stays readable and held by
    /// the application. ENOTCONN unless connected.
    pub fn tcp_shutdown_write(&mut self, now: Instant, id: SocketId) -> Result<(), Fail> {
        self.advance(now);
        self.connection(id)?.tcb.shutdown_write();
        self.tcp.active.push(id);
        Ok(())
    }

    /// Sends a RST and forgets the connection at once (SO_LINGER with a zero timeout).
    pub fn tcp_abort(&mut self, now: Instant, id: SocketId) -> Result<(), Fail> {
        self.advance(now);
        self.connection(id)?.tcb.abort();
        self.tcp.active.push(id);
        Ok(())
    }

    /// Closes a TCP socket: listeners reset their pending connections; connections close in order (FIN after
    /// queued data) and live on in the stack until the close completes.
    pub(super) fn tcp_release(&mut self, id: SocketId) -> Result<(), Fail> {
        let now = self.tcp_now; // `close` takes no time: the stack's clock at its last event
        match self.tcp_socket(id)? {
            TcpSocket::Idle { local, .. } => {
                if let Some(local) = *local {
                    self.tcp.bound.remove(&local.port());
                }
                self.remove_socket(id);
            }
            TcpSocket::Listener(listener) => {
                let port = listener.local.port();
                let queued: Vec<SocketId> = listener.accept_queue.drain(..).map(|(c, _)| c).collect();
                self.tcp.listeners.remove(&port);
                // Connections still in the handshake or never accepted are reset.
                let orphans: Vec<SocketId> = self
                    .tcp
                    .connections
                    .values()
                    .copied()
                    .filter(|&c| matches!(self.socket(c), Ok(Socket::Tcp(TcpSocket::Connection(conn))) if conn.listener == Some(id)))
                    .chain(queued)
                    .collect();
                for c in orphans {
                    if let Ok(conn) = self.connection(c) {
                        conn.tcb.abort();
                        conn.app_holds = false;
                        conn.listener = None;
                        self.tcp.active.push(c);
                    }
                }
                self.remove_socket(id);
            }
            // Let go of already: nothing to do.
            TcpSocket::Orphan(_) => {}
            TcpSocket::Connection(conn) => {
                // Unread data is lost: tell the peer with a RST rather than a FIN (RFC 2525 §2.17, as Linux).
                if conn.options.linger == Some(Duration::ZERO) || conn.tcb.buffered_receive().0 > 0 {
                    conn.tcb.abort();
                } else {
                    conn.tcb.close(now);
                }
                conn.app_holds = false;
                self.tcp.active.push(id);
            }
        }
        Ok(())
    }

    pub(super) fn tcp_readiness(&self, tcp: &TcpSocket) -> (bool, bool) {
        match tcp {
            TcpSocket::Idle { .. } => (false, false),
            TcpSocket::Listener(listener) => (!listener.accept_queue.is_empty(), false),
            TcpSocket::Connection(c) => c.tcb.readiness(),
            // As the connection: in TIME-WAIT the end of the stream is readable; nothing can be sent.
            TcpSocket::Orphan(o) => (o.record.state() == TcpState::TimeWait, false),
        }
    }

    pub(super) fn tcp_local(&self, tcp: &TcpSocket) -> Option<SocketAddrV4> {
        match tcp {
            TcpSocket::Idle { local, .. } => *local,
            TcpSocket::Listener(listener) => Some(listener.local),
            TcpSocket::Connection(c) => Some(c.tcb.local()),
            TcpSocket::Orphan(o) => Some(o.record.local()),
        }
    }

    /// What the timestamp clock of a connection between these addresses reads at time zero: a keyed hash of the
    /// two addresses (not the ports), so one clock runs on across every connection with a peer, as Linux keeps
    /// one per pair of hosts (see `TcpConnection::connect`).
    fn timestamp_offset(&self, local: SocketAddrV4, remote: SocketAddrV4) -> u32 {
        let mut hasher = DefaultHasher::new();
        (self.tcp.isn_secret, "timestamps", local.ip(), remote.ip()).hash(&mut hasher);
        hasher.finish() as u32
    }

    fn initial_sequence_number(&self, local: SocketAddrV4, remote: SocketAddrV4) -> SeqNumber {
        let mut hasher = DefaultHasher::new();
        (self.tcp.isn_secret, local, remote).hash(&mut hasher);
        let clock = (self.tcp_now.as_nanos() / 4000) as u32;
        SeqNumber((hasher.finish() as u32).wrapping_add(clock))
    }

    /// Tests: the demultiplexer agrees with the sockets. Every entry names a connection (or a sleeping record)
    /// of that 4-tuple, the per-port counts match the entries, and every connection not yet closed is the entry
    /// of its 4-tuple (two under one 4-tuple would share one entry, and the first reaped would take it).
    #[cfg(test)]
    pub(crate) fn check_tcp_tables(&self) {
        let mut ports: HashMap<u16, u32> = HashMap::new();
        for (key, &id) in &self.tcp.connections {
            let tuple = match self.socket(id) {
                Ok(Socket::Tcp(TcpSocket::Connection(c))) => (c.tcb.local(), c.tcb.remote()),
                Ok(Socket::Tcp(TcpSocket::Orphan(o))) => (o.record.local(), o.record.remote()),
                other => panic!("{key:?} names {id:?}, not a connection: {other:?}"),
            };
            assert_eq!(tuple, (key.local, key.remote), "{id:?} is filed under another 4-tuple");
            *ports.entry(key.local.port()).or_default() += 1;
        }
        let counted: HashMap<u16, u32> = self.tcp.connection_ports.iter().map(|(&port, &n)| (port, n)).collect();
        assert_eq!(ports, counted, "per-port counts");
        for (index, socket) in self.sockets.iter().enumerate() {
            let key = match socket {
                Some(Socket::Tcp(TcpSocket::Connection(c))) if c.tcb.state() != TcpState::Closed => {
                    FlowKey { local: c.tcb.local(), remote: c.tcb.remote() }
                }
                Some(Socket::Tcp(TcpSocket::Orphan(o))) => {
                    FlowKey { local: o.record.local(), remote: o.record.remote() }
                }
                _ => continue,
            };
            let entry = self.tcp.connections.get(&key);
            assert_eq!(
                entry.map(|id| id.0 as usize),
                Some(index),
                "socket {index} ({key:?}) is not its 4-tuple's entry"
            );
        }
    }

    /// Tests: the (ISS, IRS) of connection `id`, if it is one the application holds.
    #[cfg(test)]
    pub(crate) fn tcp_initial_sequence_numbers(&mut self, id: SocketId) -> Option<(u32, u32)> {
        let (iss, irs) = self.connection(id).ok()?.tcb.initial_sequence_numbers();
        Some((iss.0, irs.0))
    }

    /// The connection with this 4-tuple, if any.
    #[inline]
    pub(super) fn tcp_connection_for(&self, local: SocketAddrV4, remote: SocketAddrV4) -> Option<SocketId> {
        self.tcp.connections.get(&FlowKey { local, remote }).copied()
    }

    pub(super) fn receive_tcp(&mut self, ip: &Ipv4Repr, datagram: DemiBuffer) -> Result<(), WireError> {
        let packet = TcpPacket::new_checked(&datagram[..])?;
        let header_len = packet.header_len();
        let repr = TcpRepr::parse(&packet, ip.src_addr, ip.dst_addr, &self.config.checksums)?;
        self.counters.tcp_in += 1;
        if !self.is_own(ip.dst_addr) {
            return Ok(()); // no TCP to broadcast addresses
        }
        let local = SocketAddrV4::new(ip.dst_addr, repr.dst_port);
        let remote = SocketAddrV4::new(ip.src_addr, repr.src_port);
        let mut payload = datagram.clone();
        payload.adjust(header_len).map_err(|_| WireError::Truncated)?;
        let new_syn = repr.flags.syn() && repr.ack_number.is_none() && !repr.flags.rst();
        let ecn_field = ip.tos & ecn_codepoint::MASK;
        if let Some(id) = self.tcp_connection_for(local, remote) {
            if matches!(self.socket(id), Ok(Socket::Tcp(TcpSocket::Orphan(_)))) {
                self.wake_orphan(id);
            }
            if new_syn && self.reopen_from_time_wait(id, local, remote, &repr, ecn_field) {
                return Ok(());
            }
            self.segment_for_connection(id, &repr, payload, ecn_field);
            return Ok(());
        }
        match self.listener_for(local) {
            Some(lid) if new_syn => {
                self.passive_open(lid, local, remote, &repr, ecn_field, None);
                Ok(())
            }
            Some(lid) if self.may_complete_a_cookie(lid, &repr) => {
                match self.open_from_cookie(lid, local, remote, &repr, None) {
                    CookieAck::Opened(id) => self.segment_for_connection(id, &repr, payload, ecn_field),
                    // Dropped, as Linux drops them while its cookies may be out: if the ACK that brought the
                    // cookie was lost, a later segment does not bring it (its sequence number is not the ISN's
                    // next), and a RST would kill a connection the peer's retransmission of its first segment
                    // can still make; a full accept queue may have room when the peer resends.
                    CookieAck::AcceptQueueFull | CookieAck::Invalid => {}
                }
                Ok(())
            }
            // A segment for no connection (or a non-SYN for a listening port): RST, unless it is a RST.
            _ => {
                self.send_reset(ip, &repr);
                Ok(())
            }
        }
    }

    /// Hands a segment to connection `id` (`payload`: the zero-copy view of its data; `ce`: its IP header
    /// was marked Congestion Experienced), then polls the connection or only schedules its deadlines, and
    /// settles a handshake it completed.
    #[inline]
    pub(super) fn segment_for_connection(
        &mut self,
        id: SocketId,
        repr: &TcpRepr<'_>,
        payload: DemiBuffer,
        ecn_field: u8,
    ) {
        let now = self.tcp_now;
        let mut quiet = None;
        if let Ok(conn) = self.connection(id)
            && conn.listener.is_some()
            && conn.tcb.refuses_handshake_ack(repr)
        {
            match self.cookie_replaces_half_open(id, repr) {
                Some(CookieAck::Opened(cookie_connection)) => {
                    return self.segment_for_connection(cookie_connection, repr, payload, ecn_field);
                }
                // While cookies may be out, such an ACK is the listener's to judge, which drops what it cannot
                // take (see `receive_tcp`): not reset by the half-open connection.
                Some(CookieAck::AcceptQueueFull | CookieAck::Invalid) => return,
                None => {}
            }
        }
        let Ok(conn) = self.connection(id) else {
            // A connection asleep as an orphan record (`stack/tcp/orphan.rs`): woken to take the segment.
            if self.wake_orphan(id) {
                self.segment_for_connection(id, repr, payload, ecn_field);
            }
            return;
        };
        conn.tcb.on_ecn_codepoint(now, ecn_field);
        conn.tcb.on_segment(now, repr, payload);
        let handshake = conn.listener.is_some();
        // Data for a connection the application closed can never be read: reset it (RFC 1122
        // §4.2.2.13; Linux and BSD do the same), so the peer's sends fail instead of filling a window
        // nobody drains.
        if !conn.app_holds && conn.listener.is_none() && conn.tcb.buffered_receive().0 > 0 {
            conn.tcb.abort();
        }
        // Nothing to send (a segment whose ACK is delayed, say): no poll, only its deadlines.
        if conn.tcb.is_quiet() && !handshake {
            quiet = Some(conn.reschedule());
        }
        match quiet {
            Some(Some(at)) => self.schedule(at, id),
            Some(None) => {}
            None => self.tcp.active.push(id),
        }
        self.touched.push(id);
        if handshake {
            self.settle_handshake(id);
        }
    }

    /// What every new connection takes from the stack: the stack's auto-tuning budget, its limits on received
    /// data and on data to send, its TIME-WAIT and orphan slots, and what it knows of the path MTU.
    fn set_up(&self, tcb: &mut TcpConnection) {
        tcb.share_tuning_budget(&self.tcp.tuning_budget);
        tcb.share_receive_memory(&self.tcp.receive_memory);
        tcb.share_send_memory(&self.tcp.send_memory);
        tcb.share_time_wait_slots(&self.tcp.time_wait_slots);
        tcb.share_orphan_slots(&self.tcp.orphan_slots);
        self.start_with_known_path_mtu(tcb);
    }

    /// A new connection to a destination whose path MTU the stack knows (`path_mtu_cache.rs`) starts with
    /// segments that fit: as learned from ICMP until the entry's end, or after a black hole from the size that
    /// passes, probing for more.
    fn start_with_known_path_mtu(&self, tcb: &mut TcpConnection) {
        match self.path_mtus.get(*tcb.remote().ip(), self.tcp_now) {
            Some(known) if known.black_hole => tcb.start_after_black_hole(self.tcp_now, known.mtu),
            Some(known) => tcb.start_with_path_mtu(known.mtu, known.expires),
            None => {}
        }
    }

    /// RFC 9293 §3.10.7.1: the reset for a segment that belongs to no connection.
    fn send_reset(&mut self, ip: &Ipv4Repr, segment: &TcpRepr<'_>) {
        if segment.flags.rst() {
            return;
        }
        let (seq_number, ack_number) = match segment.ack_number {
            Some(ack) => (ack, None),
            None => (SeqNumber(0), Some(segment.seq_number + segment.segment_len() as u32)),
        };
        let mut rst = OutgoingSegment {
            src_port: segment.dst_port,
            dst_port: segment.src_port,
            seq_number,
            ack_number,
            flags: TcpFlags::RST,
            window_len: 0,
            options: TcpOptions::default(),
            payload: Sga::new(),
            ect: false,
        };
        if self.emit_segment(ip.dst_addr, ip.src_addr, &mut rst, &mut None, &mut None).is_ok() {
            self.counters.tcp_rst_out += 1;
        }
    }
}
