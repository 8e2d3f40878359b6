//! Output: polling the connections that are active or whose timer is due, writing what each sends into frames
//! (from its header template while its next hop is cached, the fast path's segments as they are decided), and
//! forgetting the finished ones the application let go.

use std::cmp::Reverse;
use std::net::Ipv4Addr;

use runtime::Fail;

use super::{PollScratch, TcpSocket};
use crate::device::flatten;
use crate::stack::flow_hash::FlowKey;
use crate::stack::frame_writer::{FrameSink, FrameWriter};
use crate::stack::header_template::HeaderTemplate;
use crate::stack::output::CachedHop;
use crate::stack::{Socket, SocketId, Stack, StackConfig};
use crate::tcp::{BatchHeader, Nanos, OutgoingSegment, SegmentBatch, TcpState, ecn_codepoint};
use crate::wire::{IpProtocol, MacAddress};

impl Stack {
    /// Queues one segment from `src` to `dst` (its payload is taken); `hop` is the sender's cached next hop and
    /// `template` its header template (`&mut None` for none): while the hop is valid, the headers are written
    /// from the template (made on first use, remade if the hop's MAC changed), else layer by layer.
    pub(super) fn emit_segment(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        segment: &mut OutgoingSegment,
        hop: &mut Option<CachedHop>,
        template: &mut Option<Box<HeaderTemplate>>,
    ) -> Result<(), Fail> {
        // The payload moves into the frame: one view (the common case) as is, several copied into one.
        let payload = std::mem::take(&mut segment.payload);
        let payload = match payload.into_single() {
            Ok(view) => Some(view),
            Err(none) if none.num_segments() == 0 => None,
            Err(views) => Some(flatten(&views)?),
        };
        if let Some(mac) = self.cached_hop_mac(hop) {
            let template = template_for(template, &self.config, mac, (src, dst), (segment.src_port, segment.dst_port));
            self.send_templated(template, segment, payload)?;
        } else {
            let header_len = segment.repr(&[]).header_len();
            let checksums = self.config.checksums;
            let tos = if segment.ect { ecn_codepoint::ECT0 } else { ecn_codepoint::NOT_ECT };
            self.send_ipv4_via(src, dst, IpProtocol::Tcp, tos, header_len, payload, hop, |header, src, payload| {
                segment.repr(payload).emit_header(header, src, dst, &checksums)
            })?;
        }
        self.counters.tcp_out += 1;
        Ok(())
    }

    /// Queues the segments of `batch` (emptied) by the layered path, each as [`Self::emit_segment`] would: what
    /// the fast path decided for a connection whose next hop was not cached (its first segments, or after the
    /// ARP table changed).
    pub(super) fn emit_batch(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        batch: &mut SegmentBatch,
        hop: &mut Option<CachedHop>,
        template: &mut Option<Box<HeaderTemplate>>,
    ) {
        let header = batch.header;
        for segment in batch.segments.drain(..) {
            self.emit_unbatched(src, dst, header.to_outgoing(segment), hop, template);
        }
    }

    /// A segment of a batch whose hop is not (or no longer) cached: the layered path, out of the hot loop.
    #[cold]
    #[inline(never)]
    pub(super) fn emit_unbatched(
        &mut self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mut segment: OutgoingSegment,
        hop: &mut Option<CachedHop>,
        template: &mut Option<Box<HeaderTemplate>>,
    ) {
        let _ = self.emit_segment(src, dst, &mut segment, hop, template);
    }

    /// Emits what a poll of connection `id` left in `scratch` (emptied): segments of the general path, or a
    /// batch of the fast path's made while the next hop was not cached. Out of line, and the hop and template
    /// are moved out of the connection only here: on the fast path's way, their copy to the stack and back
    /// was reloaded 16 bytes at a time, a store-forwarding stall per poll (perf annotate).
    ///
    /// A retransmission timeout (which always leaves a segment to emit here) is advice that delivery to the
    /// peer fails: the next hop's ARP entry is asked about again (RFC 1122 §2.3.2.1; see `ArpCache`).
    #[inline(never)]
    pub(super) fn emit_queued(&mut self, id: SocketId, scratch: &mut PollScratch) {
        let Ok(conn) = self.connection(id) else { return };
        let (local, remote) = (*conn.tcb.local().ip(), *conn.tcb.remote().ip());
        let timeouts = conn.tcb.counters().timeouts;
        if timeouts != conn.timeouts_advised {
            conn.timeouts_advised = timeouts;
            // A black hole is found at a timeout: connections to come start with the size that passes.
            if let Some(mtu) = conn.tcb.black_hole_mtu() {
                self.path_mtus.learn(remote, mtu, self.tcp_now, true);
            }
            self.advise_delivery_problem(remote);
        }
        let Ok(conn) = self.connection(id) else { return };
        let mut hop = conn.hop;
        let mut template = conn.template.take();
        if !scratch.batch.is_empty() {
            self.emit_batch(local, remote, &mut scratch.batch, &mut hop, &mut template);
        }
        for segment in &mut scratch.outgoing {
            // A datagram we cannot route or size is lost like any other: TCP retransmits or times out.
            let _ = self.emit_segment(local, remote, segment, &mut hop, &mut template);
        }
        scratch.outgoing.clear();
        if let Ok(conn) = self.connection(id) {
            conn.hop = hop;
            conn.template = template;
        }
    }

    /// Forgets a finished connection the application let go (once per connection: out of the hot loop).
    #[cold]
    #[inline(never)]
    pub(super) fn reap(&mut self, key: FlowKey, id: SocketId) {
        self.tcp.remove_connection(&key, id);
        self.remove_socket(id);
    }

    /// Puts a connection's deadline in the timer heap.
    pub(super) fn schedule(&mut self, at: Nanos, id: SocketId) {
        self.tcp.timers.push(Reverse((at, id, at.to_instant(self.epoch))));
    }

    /// Polls active and due connections for output, and reaps the finished ones the application let go.
    pub(in crate::stack) fn poll_tcp(&mut self) {
        let now = self.tcp_now;
        while self.tcp.timers.peek().is_some_and(|Reverse((t, ..))| *t <= now) {
            let Reverse((at, id, _)) = self.tcp.timers.pop().expect("peeked");
            if let Ok(conn) = self.connection(id)
                && conn.scheduled == at
            {
                conn.scheduled = Nanos::NEVER;
            }
            self.tcp.active.push(id);
        }
        self.tcp.active.sort_unstable();
        self.tcp.active.dedup();
        let mut scratch = self.tcp.scratch.take().unwrap_or_default();
        // Walked by index, in place (a connection marked active during the walk is polled too), then emptied.
        let mut next = 0;
        while let Some(&id) = self.tcp.active.get(next) {
            next += 1;
            self.poll_connection(now, id, &mut scratch);
        }
        self.tcp.active.clear();
        self.tcp.scratch = Some(scratch);
    }

    /// Polls one connection for output (see [`Self::poll_tcp`]). With its next hop cached, the fast path
    /// writes each segment into a frame as it decides it ([`FrameSink`]); everything else is queued as
    /// segments and emitted after.
    #[inline(always)]
    pub(super) fn poll_connection(&mut self, now: Nanos, id: SocketId, scratch: &mut PollScratch) {
        // The connection and the parts frames are written with, borrowed apart.
        let Stack { sockets, frame_pool, outbox, ip_ident, config, counters, arp, now: clock, .. } = self;
        let Some(Some(Socket::Tcp(TcpSocket::Connection(conn)))) = sockets.get_mut(id.0 as usize) else {
            return self.poll_orphan(now, id);
        };
        let (local, remote) = (conn.tcb.local(), conn.tcb.remote());
        if let Some(mac) = CachedHop::valid_mac(&conn.hop, arp, *clock) {
            let addresses = (*local.ip(), *remote.ip());
            let template = template_for(&mut conn.template, config, mac, addresses, (local.port(), remote.port()));
            let mut sink = FrameSink {
                writer: FrameWriter {
                    frame_pool,
                    outbox,
                    ip_ident,
                    checksums: &config.checksums,
                    mtu: config.mtu,
                    gather: config.gather,
                },
                template,
                sent: &mut counters.tcp_out,
                header: BatchHeader::default(),
            };
            conn.tcb.poll_transmit_batched(now, &mut scratch.outgoing, &mut sink);
        } else {
            conn.tcb.poll_transmit_batched(now, &mut scratch.outgoing, &mut scratch.batch);
        }
        let handshake = conn.listener.is_some();
        if !scratch.batch.is_empty() || !scratch.outgoing.is_empty() {
            self.emit_queued(id, scratch);
        }
        self.touched.push(id);
        if handshake {
            self.settle_handshake(id);
        }
        let Ok(conn) = self.connection(id) else { return };
        if conn.tcb.is_closed() && !conn.app_holds && conn.listener.is_none() {
            let key = FlowKey { local: conn.tcb.local(), remote: conn.tcb.remote() };
            self.reap(key, id);
            return;
        }
        // An orphan (the application let go of it) that only waits for its end sleeps as a record; one with only
        // its FIN left gives back its spare memory.
        let waits = !conn.app_holds
            && match conn.tcb.state() {
                TcpState::TimeWait | TcpState::FinWait2 => true,
                TcpState::FinWait1 | TcpState::Closing | TcpState::LastAck => {
                    conn.tcb.release_if_only_fin_left();
                    false
                }
                _ => false,
            };
        if let Some(at) = conn.reschedule() {
            self.schedule(at, id);
        }
        if waits {
            self.sleep_orphan(id);
        }
    }
}

/// The header template towards `mac`: `template` as it is, or made anew (on first use, or when the next hop's
/// MAC changed).
#[inline]
fn template_for<'a>(
    template: &'a mut Option<Box<HeaderTemplate>>,
    config: &StackConfig,
    mac: MacAddress,
    addresses: (Ipv4Addr, Ipv4Addr),
    ports: (u16, u16),
) -> &'a HeaderTemplate {
    if template.as_ref().is_some_and(|t| t.dst_mac() != mac) {
        *template = None;
    }
    template.get_or_insert_with(|| new_template(config, mac, addresses, ports))
}

/// A connection's first template, or one for a new next-hop MAC address: rare, so out of line.
#[cold]
#[inline(never)]
fn new_template(
    config: &StackConfig,
    mac: MacAddress,
    addresses: (Ipv4Addr, Ipv4Addr),
    ports: (u16, u16),
) -> Box<HeaderTemplate> {
    Box::new(HeaderTemplate::new((config.mac, mac), addresses, ports, config.ttl))
}
