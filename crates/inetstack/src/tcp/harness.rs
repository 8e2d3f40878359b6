//! A deterministic two-endpoint harness: connection A (active opener) and B (created by a pretend listener
//! when A's SYN arrives, as the demultiplexer would) joined by a simulated link with a virtual clock and a
//! seeded fault injector (loss, duplication, reordering, corruption, delay, optional bandwidth limit).
//!
//! Segments really cross the wire format: each is emitted with `TcpRepr::emit` and checksum, possibly
//! corrupted, then parsed again, so a corrupted segment is a checksum drop exactly as in the stack. No threads,
//! no real time: the same seed gives the same run. Test-only.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use runtime::{DemiBuffer, Sga};

use super::{Nanos, OutgoingSegment, TcpConfig, TcpConnection, TcpState, ecn_codepoint};
use crate::wire::{ChecksumCapabilities, SeqNumber, TcpFlags, TcpPacket, TcpRepr};

pub(crate) const ADDRESS_A: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
pub(crate) const ADDRESS_B: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
pub(crate) const ISS_A: SeqNumber = SeqNumber(0xffff_f000);
pub(crate) const ISS_B: SeqNumber = SeqNumber(0x1234_5678);
/// What A's and B's timestamp clocks read at time zero (A's is near the top of the range: a TSval of 1 from
/// a test's hand is newer than anything A sent).
pub(crate) const TS_OFFSET_A: u32 = ISS_A.0.rotate_left(13);
pub(crate) const TS_OFFSET_B: u32 = ISS_B.0.rotate_left(13);

/// splitmix64: small, seedable, good enough for fault schedules.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(&mut self, probability: f64) -> bool {
        probability > 0.0 && self.unit() < probability
    }
}

/// What the link does to segments in one direction.
#[derive(Clone, Debug)]
pub(crate) struct LinkFaults {
    pub(crate) loss: f64,
    pub(crate) duplicate: f64,
    /// Probability that a segment is held back by up to `reorder_delay` extra.
    pub(crate) reorder: f64,
    pub(crate) reorder_delay: Duration,
    pub(crate) corrupt: f64,
    pub(crate) latency: Duration,
    /// Bits per second; `None` is infinitely fast.
    pub(crate) bandwidth: Option<u64>,
    /// Segments the bottleneck queue holds before tail drop (with `bandwidth`).
    pub(crate) queue_limit: usize,
}

impl Default for LinkFaults {
    fn default() -> Self {
        Self {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(15),
            corrupt: 0.0,
            latency: Duration::from_millis(5),
            bandwidth: None,
            queue_limit: 64,
        }
    }
}

impl LinkFaults {
    pub(crate) fn lossy(loss: f64) -> Self {
        Self { loss, ..Self::default() }
    }
}

/// Which end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Side {
    A,
    B,
}

/// One segment as it was sent (before faults), for assertions.
#[derive(Clone, Debug)]
pub(crate) struct TraceEntry {
    pub(crate) at: Duration,
    pub(crate) from: Side,
    pub(crate) flags: TcpFlags,
    pub(crate) seq: SeqNumber,
    pub(crate) ack: Option<SeqNumber>,
    pub(crate) len: usize,
    pub(crate) window: u16,
    pub(crate) sack_blocks: usize,
    /// The first SACK block (a D-SACK block when it lies below the ACK or inside a later block), if any.
    pub(crate) first_sack_block: Option<(SeqNumber, SeqNumber)>,
    /// Sent ECN-capable (`OutgoingSegment::ect`).
    pub(crate) ect: bool,
}

/// Link-level tallies.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LinkStats {
    pub(crate) sent: u64,
    pub(crate) lost: u64,
    pub(crate) duplicated: u64,
    pub(crate) reordered: u64,
    pub(crate) corrupted: u64,
    pub(crate) queue_drops: u64,
    pub(crate) resets_from_closed_port: u64,
}

/// A segment on the link: when it arrives, its order, where it goes, its bytes, its IP-ECN field.
type Packet = Reverse<(Instant, u64, Side, Vec<u8>, u8)>;

/// Decides, per traced segment, whether the link drops it.
pub(crate) type DropFilter = Box<dyn FnMut(&TraceEntry) -> bool>;

/// Decides, per traced segment, whether the link marks it Congestion Experienced (ECN-capable ones only).
pub(crate) type MarkFilter = Box<dyn FnMut(&TraceEntry) -> bool>;

/// Decides, per traced segment, how much extra delay the link adds (scripted reordering).
pub(crate) type DelayFilter = Box<dyn FnMut(&TraceEntry) -> Duration>;

/// Two connections over a simulated link.
pub(crate) struct Harness {
    pub(crate) start: Instant,
    pub(crate) now: Instant,
    pub(crate) a: TcpConnection,
    pub(crate) b: Option<TcpConnection>,
    pub(crate) config_b: TcpConfig,
    /// Whether B's port has a listener (else SYNs are answered with RST, like a closed port).
    pub(crate) listening: bool,
    pub(crate) faults_to_b: LinkFaults,
    pub(crate) faults_to_a: LinkFaults,
    pub(crate) stats: LinkStats,
    pub(crate) trace: Vec<TraceEntry>,
    /// Every segment as sent, bytes and all (options, checksum), with when and by whom, while `Some`.
    pub(crate) frames: Option<Vec<(Duration, Side, Vec<u8>)>>,
    /// Drops the segments for which it returns true (after tracing them), for scripted loss.
    pub(crate) filter: Option<DropFilter>,
    /// Marks the ECN-capable segments for which it returns true Congestion Experienced, as a router would.
    pub(crate) mark: Option<MarkFilter>,
    /// Holds back the segments for which it returns a delay, for scripted reordering.
    pub(crate) delay: Option<DelayFilter>,
    rng: Rng,
    in_flight: BinaryHeap<Packet>,
    order: u64,
    link_free_at: [Instant; 2],
}

impl Harness {
    pub(crate) fn new(config_a: &TcpConfig, config_b: &TcpConfig, faults: LinkFaults, seed: u64) -> Self {
        let start = Instant::now();
        Self {
            start,
            now: start,
            a: TcpConnection::connect(config_a, ADDRESS_A, ADDRESS_B, ISS_A, TS_OFFSET_A, Nanos::ZERO),
            b: None,
            config_b: config_b.clone(),
            listening: true,
            faults_to_b: faults.clone(),
            faults_to_a: faults,
            stats: LinkStats::default(),
            trace: Vec::new(),
            frames: None,
            filter: None,
            mark: None,
            delay: None,
            rng: Rng::new(seed),
            in_flight: BinaryHeap::new(),
            order: 0,
            link_free_at: [start, start],
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// `now` as the connections count time (since `start`, the epoch).
    pub(crate) fn clock(&self) -> Nanos {
        Nanos::since(self.start, self.now)
    }

    /// The `Instant` of a connection's deadline, `None` if it never comes.
    pub(crate) fn instant(&self, deadline: Nanos) -> Option<Instant> {
        deadline.to_instant(self.start)
    }

    pub(crate) fn b(&self) -> &TcpConnection {
        self.b.as_ref().expect("B exists once A's SYN arrived")
    }

    pub(crate) fn b_mut(&mut self) -> &mut TcpConnection {
        self.b.as_mut().expect("B exists once A's SYN arrived")
    }

    /// Polls both ends at the current time and puts what they send on the link.
    pub(crate) fn flush(&mut self) {
        let mut out = Vec::new();
        let now = self.clock();
        self.a.poll_transmit(now, &mut out);
        for segment in out.drain(..) {
            self.transmit(Side::A, &segment);
        }
        if let Some(b) = self.b.as_mut() {
            b.poll_transmit(now, &mut out);
            for segment in out.drain(..) {
                self.transmit(Side::B, &segment);
            }
        }
    }

    fn transmit(&mut self, from: Side, segment: &OutgoingSegment) {
        let (src, dst) = match from {
            Side::A => (ADDRESS_A, ADDRESS_B),
            Side::B => (ADDRESS_B, ADDRESS_A),
        };
        let entry = TraceEntry {
            at: self.elapsed(),
            from,
            flags: segment.flags,
            seq: segment.seq_number,
            ack: segment.ack_number,
            len: segment.payload.len(),
            window: segment.window_len,
            sack_blocks: segment.options.sack_blocks.len(),
            first_sack_block: segment.options.sack_blocks.as_slice().first().map(|block| (block.left, block.right)),
            ect: segment.ect,
        };
        let dropped = self.filter.as_mut().is_some_and(|filter| filter(&entry));
        // The IP-ECN field: ECT(0) as sent, CE if the link marks it (never a segment that is not ECN-capable).
        let field = match (entry.ect, entry.ect && self.mark.as_mut().is_some_and(|mark| mark(&entry))) {
            (_, true) => ecn_codepoint::CE,
            (true, false) => ecn_codepoint::ECT0,
            _ => ecn_codepoint::NOT_ECT,
        };
        let extra = self.delay.as_mut().map_or(Duration::ZERO, |delay| delay(&entry));
        let at = entry.at;
        self.trace.push(entry);
        let payload = segment.payload.to_vec();
        let repr = segment.repr(&payload);
        let mut bytes = vec![0u8; repr.buffer_len()];
        repr.emit(&mut bytes, *src.ip(), *dst.ip(), &ChecksumCapabilities::software()).expect("valid segment");
        if let Some(frames) = self.frames.as_mut() {
            frames.push((at, from, bytes.clone()));
        }
        if dropped {
            self.stats.lost += 1;
            return;
        }
        self.put_on_link(from, bytes, extra, field);
    }

    fn put_on_link(&mut self, from: Side, bytes: Vec<u8>, extra: Duration, field: u8) {
        self.stats.sent += 1;
        let to = if from == Side::A { Side::B } else { Side::A };
        let faults = if to == Side::B { self.faults_to_b.clone() } else { self.faults_to_a.clone() };
        if self.rng.chance(faults.loss) {
            self.stats.lost += 1;
            return;
        }
        let copies = if self.rng.chance(faults.duplicate) { 2 } else { 1 };
        self.stats.duplicated += copies - 1;
        for _ in 0..copies {
            let mut copy = bytes.clone();
            if self.rng.chance(faults.corrupt) && !copy.is_empty() {
                let at = (self.rng.next_u64() % copy.len() as u64) as usize;
                copy[at] ^= 1 << (self.rng.next_u64() % 8);
                self.stats.corrupted += 1;
            }
            let mut departs = self.now;
            if let Some(bits_per_second) = faults.bandwidth {
                let lane = to as usize;
                let transmit = Duration::from_nanos(copy.len() as u64 * 8 * 1_000_000_000 / bits_per_second.max(1));
                let queued = self.link_free_at[lane].saturating_duration_since(self.now);
                if queued > transmit * faults.queue_limit as u32 {
                    self.stats.queue_drops += 1;
                    continue;
                }
                self.link_free_at[lane] = self.link_free_at[lane].max(self.now) + transmit;
                departs = self.link_free_at[lane];
            }
            let mut arrives = departs + faults.latency + extra;
            if self.rng.chance(faults.reorder) {
                self.stats.reordered += 1;
                arrives += faults.reorder_delay.mul_f64(self.rng.unit());
            }
            self.order += 1;
            self.in_flight.push(Reverse((arrives, self.order, to, copy, field)));
        }
    }

    /// Injects raw bytes towards `to` as if they came from the other end (for attack and conformance tests).
    pub(crate) fn inject(&mut self, to: Side, repr: &TcpRepr<'_>) {
        let (src, dst) = if to == Side::B { (ADDRESS_A, ADDRESS_B) } else { (ADDRESS_B, ADDRESS_A) };
        let mut bytes = vec![0u8; repr.buffer_len()];
        repr.emit(&mut bytes, *src.ip(), *dst.ip(), &ChecksumCapabilities::software()).expect("valid segment");
        self.deliver(to, &bytes, ecn_codepoint::NOT_ECT);
    }

    /// Hands `bytes` to `to`, with the IP-ECN field it arrived with (as the stack does).
    fn deliver(&mut self, to: Side, bytes: &[u8], field: u8) {
        let (src, dst) = if to == Side::B { (ADDRESS_A, ADDRESS_B) } else { (ADDRESS_B, ADDRESS_A) };
        let caps = ChecksumCapabilities::software();
        let Ok(packet) = TcpPacket::new_checked(bytes) else { return };
        let Ok(repr) = TcpRepr::parse(&packet, *src.ip(), *dst.ip(), &caps) else { return };
        let payload = DemiBuffer::from_slice(repr.payload).expect("alloc");
        let now = self.clock();
        match to {
            Side::A => {
                self.a.on_ecn_codepoint(now, field);
                self.a.on_segment(now, &repr, payload);
            }
            Side::B => match self.b.as_mut() {
                Some(b) => {
                    b.on_ecn_codepoint(now, field);
                    b.on_segment(now, &repr, payload);
                }
                None => self.answer_for_missing_b(&repr),
            },
        }
    }

    /// What a demultiplexer does with a segment for B before B exists: a SYN to a listener creates it; other
    /// segments, or any segment to a closed port, get a RST (RFC 9293 §3.10.7.1).
    fn answer_for_missing_b(&mut self, repr: &TcpRepr<'_>) {
        if self.listening && repr.flags.syn() && repr.ack_number.is_none() && !repr.flags.rst() {
            self.b = Some(TcpConnection::accept(
                &self.config_b,
                ADDRESS_B,
                ADDRESS_A,
                repr,
                ecn_codepoint::NOT_ECT,
                ISS_B,
                TS_OFFSET_B,
                self.clock(),
            ));
            return;
        }
        if repr.flags.rst() {
            return;
        }
        self.stats.resets_from_closed_port += 1;
        let (seq, ack) = match repr.ack_number {
            Some(ack) => (ack, None),
            None => (SeqNumber(0), Some(repr.seq_number + repr.segment_len() as u32)),
        };
        let reset = OutgoingSegment {
            src_port: ADDRESS_B.port(),
            dst_port: ADDRESS_A.port(),
            seq_number: seq,
            ack_number: ack,
            flags: TcpFlags::RST,
            window_len: 0,
            options: Default::default(),
            payload: Sga::new(),
            ect: false,
        };
        self.transmit(Side::B, &reset);
    }

    /// The next moment something happens: a delivery or a connection deadline.
    pub(crate) fn next_event(&self) -> Option<Instant> {
        let delivery = self.in_flight.peek().map(|Reverse((at, ..))| *at);
        let b_deadline = self.b.as_ref().map_or(Nanos::NEVER, TcpConnection::next_deadline);
        let deadline = self.instant(self.a.next_deadline().min(b_deadline));
        [delivery, deadline].into_iter().flatten().min()
    }

    /// Sends what is pending, advances the clock to the next event (never past `limit`) and delivers what
    /// arrives then. `false` when nothing will ever happen again.
    pub(crate) fn step_until(&mut self, limit: Instant) -> bool {
        self.flush();
        let Some(next) = self.next_event() else { return false };
        self.now = self.now.max(next.min(limit));
        while let Some(Reverse((at, ..))) = self.in_flight.peek() {
            if *at > self.now {
                break;
            }
            let Some(Reverse((_, _, to, bytes, field))) = self.in_flight.pop() else { break };
            self.deliver(to, &bytes, field);
        }
        true
    }

    /// One step with no time limit.
    pub(crate) fn step(&mut self) -> bool {
        self.step_until(self.now + Duration::from_secs(24 * 3600))
    }

    /// Steps until `done` holds, nothing more can happen, or `limit` of virtual time passes. Returns whether
    /// `done` held.
    pub(crate) fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Harness) -> bool) -> bool {
        let deadline = self.now + limit;
        for _ in 0..10_000_000u64 {
            if done(self) {
                return true;
            }
            if self.now >= deadline || !self.step_until(deadline) {
                return done(self);
            }
        }
        false
    }

    /// Runs for `duration` of virtual time (the clock ends there even if nothing happens).
    pub(crate) fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        self.run_until(duration, |h| h.now >= end);
        self.now = self.now.max(end);
    }

    pub(crate) fn states(&self) -> (TcpState, Option<TcpState>) {
        (self.a.state(), self.b.as_ref().map(TcpConnection::state))
    }
}

/// A one-way bulk transfer from A to B driven by the application calls, then an orderly close of both ends.
pub(crate) struct BulkTransfer {
    pub(crate) data: Vec<u8>,
    pub(crate) sent: usize,
    pub(crate) received: Vec<u8>,
    pub(crate) eof: bool,
    pub(crate) chunk: usize,
}

impl BulkTransfer {
    pub(crate) fn new(len: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0xdead_beef);
        let data = (0..len).map(|_| rng.next_u64() as u8).collect();
        Self { data, sent: 0, received: Vec::new(), eof: false, chunk: 64 * 1024 }
    }

    /// One round of application work on both ends; true when the data arrived whole and both ends closed.
    pub(crate) fn pump(&mut self, harness: &mut Harness) -> bool {
        let now = harness.clock();
        if harness.a.state() == TcpState::Established || harness.a.state() == TcpState::CloseWait {
            while self.sent < self.data.len() {
                let end = (self.sent + self.chunk).min(self.data.len());
                let sga = Sga::from_slice(&self.data[self.sent..end]).expect("alloc");
                match harness.a.send(&sga) {
                    Ok(0) | Err(_) => break,
                    Ok(accepted) => self.sent += accepted,
                }
            }
            if self.sent == self.data.len() {
                harness.a.close(harness.clock());
            }
        }
        if let Some(b) = harness.b.as_mut() {
            while let Ok(Some(sga)) = b.recv(usize::MAX) {
                if sga.is_empty() {
                    if !self.eof {
                        b.close(now);
                    }
                    self.eof = true;
                    break;
                }
                self.received.extend_from_slice(&sga.to_vec());
            }
        }
        self.eof && harness.a.state() == TcpState::TimeWait && harness.b().is_closed()
    }
}
