//! A deterministic network simulator: hosts (each a `Stack`) on one shared Ethernet segment (a hub), a
//! virtual clock, propagation delay, seeded faults (drop, duplicate, corrupt, reorder by jitter) and, if asked,
//! a bandwidth limit on each host's link to the hub with a bounded queue in front of it, which may mark
//! ECN-capable datagrams Congestion Experienced once it holds a threshold of frames, and, if asked, a router
//! with a smaller MTU on the path, which drops the datagrams with Don't Fragment that do not fit it and may
//! answer each with an ICMP fragmentation-needed error (RFC 1191). No threads and no real time: the same seed
//! gives the same run, so any failure replays exactly.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use runtime::{DemiBuffer, Sga};

use crate::device::{Device, DeviceCapabilities, flatten};
use crate::phy::{FaultConfig, Rng};
use crate::stack::Stack;
use crate::tcp::ecn_codepoint;
use crate::wire::{
    ChecksumCapabilities, DstUnreachable, ETHERNET_HEADER_LEN, EtherType, EthernetFrame, EthernetRepr,
    ICMPV4_ERROR_QUOTE_LEN, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr, checksum_from_sum, ones_complement_sum,
};

/// The address the simulated router of [`Simulation::with_path_mtu`] sends its ICMP errors from (TEST-NET-1).
pub const ROUTER_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(192, 0, 2, 1);

/// A frame in flight: delivered to every host but its sender at `at`.
#[derive(Debug)]
struct InFlight {
    at: Instant,
    seq: u64,
    from: usize,
    frame: DemiBuffer,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Collects what a stack transmits during one step (also the sink the `hostile` harness transmits into).
#[derive(Default)]
pub(crate) struct Capture(pub(crate) Vec<Sga>);

impl Device for Capture {
    fn capabilities(&self) -> DeviceCapabilities {
        DeviceCapabilities::default()
    }
    fn receive(&mut self) -> Option<DemiBuffer> {
        None
    }
    fn transmit(&mut self, frame: Sga) -> Result<(), Sga> {
        self.0.push(frame);
        Ok(())
    }
}

#[derive(Debug)]
pub struct Simulation {
    pub hosts: Vec<Stack>,
    now: Instant,
    latency: Duration,
    /// Extra random delay (up to this much) per frame: frames overtake each other.
    jitter: Duration,
    faults: FaultConfig,
    rng: Rng,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    /// Each host's link to the hub, once [`Simulation::with_bandwidth`] set one.
    uplinks: Option<Uplinks>,
    /// Frames put on the wire, and lost to faults or to a full uplink queue.
    pub frames_sent: u64,
    pub frames_lost: u64,
    /// Of `frames_lost`, the frames a full uplink queue dropped.
    pub queue_drops: u64,
    /// ECN-capable datagrams an uplink queue marked Congestion Experienced.
    pub ce_marks: u64,
    /// Frames the uplink queues took, and the frames waiting ahead of each, summed (see [`Self::mean_queue`]).
    queued: u64,
    waiting_ahead: u64,
    /// Every frame put on the wire (before faults): when, from which host, its bytes; kept only once
    /// [`Simulation::record_frames`] asked for it, for tests that compare two runs frame for frame.
    pub recorded: Option<Vec<(Instant, usize, Vec<u8>)>>,
    /// Scripted loss: drops the frames (sending host, bytes) for which it returns true, before the queues.
    pub drop_filter: Option<DropFilter>,
    /// The router of [`Simulation::with_path_mtu`]: its MTU, and whether it answers a datagram it drops.
    path_mtu: Option<(usize, bool)>,
    /// Datagrams that router dropped as too big.
    pub mtu_drops: u64,
}

/// A test's choice of frames to lose (see [`Simulation::drop_filter`]).
pub struct DropFilter(pub Box<FrameChoice>);

/// Decides about a frame from its sending host and its bytes.
pub type FrameChoice = dyn FnMut(usize, &[u8]) -> bool;

impl std::fmt::Debug for DropFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DropFilter")
    }
}

impl Simulation {
    pub fn new(hosts: Vec<Stack>, start: Instant, latency: Duration, faults: FaultConfig, seed: u64) -> Self {
        Self {
            hosts,
            now: start,
            latency,
            jitter: Duration::ZERO,
            faults,
            rng: Rng::new(seed),
            in_flight: BinaryHeap::new(),
            seq: 0,
            uplinks: None,
            frames_sent: 0,
            frames_lost: 0,
            queue_drops: 0,
            ce_marks: 0,
            queued: 0,
            waiting_ahead: 0,
            recorded: None,
            drop_filter: None,
            path_mtu: None,
            mtu_drops: 0,
        }
    }

    /// Keeps every frame put on the wire in `recorded` from now on.
    pub fn record_frames(mut self) -> Self {
        self.recorded = Some(Vec::new());
        self
    }

    /// Gives every host's link to the hub `bits_per_second` (a frame of n bytes takes n * 8 bits to send) and
    /// a drop-tail queue of `queue_frames` frames (at least 1, the one being sent included) in front of it: a frame
    /// leaves when those ahead of it have, and is dropped if the queue is full when the host sends it.
    pub fn with_bandwidth(mut self, bits_per_second: u64, queue_frames: usize) -> Self {
        let lanes = (0..self.hosts.len()).map(|_| VecDeque::new()).collect();
        self.uplinks = Some(Uplinks {
            bits_per_second: bits_per_second.max(1),
            queue_frames: queue_frames.max(1),
            mark_threshold: None,
            lanes,
        });
        self
    }

    /// Makes the uplink queues (of [`Simulation::with_bandwidth`], called before) mark an ECN-capable IPv4
    /// datagram Congestion Experienced instead of only queueing it when `frames` or more wait ahead of it, as a
    /// switch with ECN marking at a threshold does (RFC 3168 §5; DCTCP's K). Other frames are dropped only when
    /// the queue is full, as before.
    pub fn with_ecn_marking(mut self, frames: usize) -> Self {
        if let Some(uplinks) = self.uplinks.as_mut() {
            uplinks.mark_threshold = Some(frames);
        }
        self
    }

    /// Puts a router whose next hop takes IPv4 datagrams of at most `mtu` bytes on every path: a bigger
    /// datagram with Don't Fragment is dropped (counted in `mtu_drops`), and if `icmp`, answered with an ICMP
    /// fragmentation-needed error naming `mtu` (RFC 1191 §4) from [`ROUTER_ADDR`], which reaches the sender one
    /// latency later; without `icmp` the path is a black hole for such datagrams. (Ours never lack DF: UDP
    /// datagrams are fragmented to the stack's own MTU, not to this one.)
    pub fn with_path_mtu(mut self, mtu: usize, icmp: bool) -> Self {
        self.path_mtu = Some((mtu, icmp));
        self
    }

    /// Makes `reorder` of the fault rate mean "delay by up to `jitter`", so frames overtake each other.
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// The mean number of frames a frame found waiting ahead of it in its uplink queue (0 without queues): the
    /// queueing delay in frames.
    pub fn mean_queue(&self) -> f64 {
        if self.queued == 0 { 0.0 } else { self.waiting_ahead as f64 / self.queued as f64 }
    }

    /// Runs one event: collects every host's output, delivers the next due frames, runs due timers.
    /// Returns false when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.collect_output();
        let Some(next) = self.next_event() else { return false };
        self.now = self.now.max(next);
        while self.in_flight.peek().is_some_and(|Reverse(f)| f.at <= self.now) {
            let Reverse(flight) = self.in_flight.pop().expect("peeked");
            for (i, host) in self.hosts.iter_mut().enumerate() {
                if i != flight.from {
                    host.receive(self.now, flight.frame.clone());
                }
            }
        }
        for host in &mut self.hosts {
            if host.next_deadline().is_some_and(|t| t <= self.now) {
                host.poll(self.now);
            }
        }
        self.collect_output();
        true
    }

    /// When the next event is due: the next frame's delivery or the earliest timer of a host (`None`: nothing is
    /// left to happen). Frames the hosts queued since the last step are not counted until it collects them.
    pub fn next_event(&self) -> Option<Instant> {
        let next_frame = self.in_flight.peek().map(|Reverse(f)| f.at);
        let next_timer = self.hosts.iter().filter_map(Stack::next_deadline).min();
        [next_frame, next_timer].into_iter().flatten().min()
    }

    /// Lets `duration` of virtual time pass: runs every event due in it, and no later one, then moves the clock
    /// to its end (as `usleep` does). It used to run the first event after the end too (a delayed ACK 40 ms
    /// on, say) and leave the clock there.
    pub fn sleep(&mut self, duration: Duration) {
        let end = self.now + duration;
        loop {
            self.collect_output();
            if self.next_event().is_none_or(|t| t > end) {
                break;
            }
            self.step();
        }
        self.now = self.now.max(end);
    }

    /// Steps until `done` holds (true) or virtual time passes `limit` / nothing is left (false).
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            if done(self) {
                return true;
            }
            if self.now > end || !self.step() {
                return done(self);
            }
        }
    }

    fn collect_output(&mut self) {
        for from in 0..self.hosts.len() {
            let mut capture = Capture::default();
            self.hosts[from].transmit(&mut capture);
            for frame in capture.0 {
                match flatten(&frame) {
                    Ok(contiguous) => self.put_on_wire(from, contiguous),
                    // No memory to copy the frame: the wire loses it, as a real one may.
                    Err(_) => {
                        self.frames_sent += 1;
                        self.frames_lost += 1;
                    }
                }
            }
        }
    }

    fn put_on_wire(&mut self, from: usize, mut frame: DemiBuffer) {
        self.frames_sent += 1;
        if self.drop_filter.as_mut().is_some_and(|filter| (filter.0)(from, &frame)) {
            self.frames_lost += 1;
            return;
        }
        if let Some((mtu, icmp)) = self.path_mtu
            && let Some(error) = too_big_for(&frame, mtu, icmp)
        {
            self.frames_lost += 1;
            self.mtu_drops += 1;
            if let Some(error) = error {
                // From the router (here: the hub, on behalf of the other hosts), back to the sender.
                let router = (from + 1) % self.hosts.len();
                if let Some(recorded) = self.recorded.as_mut() {
                    recorded.push((self.now, router, error.to_vec()));
                }
                self.seq += 1;
                self.in_flight.push(Reverse(InFlight {
                    at: self.now + self.latency,
                    seq: self.seq,
                    from: router,
                    frame: error,
                }));
            }
            return;
        }
        let departs = match self.uplinks.as_mut() {
            Some(uplinks) => {
                let queued = uplinks.enqueue(from, self.now, frame.len());
                let ahead = queued.map_or(0, |(_, ahead)| ahead);
                if queued.is_some() {
                    self.queued += 1;
                    self.waiting_ahead += ahead as u64;
                }
                if queued.is_some()
                    && uplinks.mark_threshold.is_some_and(|threshold| ahead >= threshold)
                    && let Some(marked) = mark_congestion_experienced(&frame)
                {
                    frame = marked;
                    self.ce_marks += 1;
                }
                queued.map(|(departs, _)| departs)
            }
            None => Some(self.now),
        };
        if let Some(recorded) = self.recorded.as_mut() {
            recorded.push((self.now, from, frame.to_vec()));
        }
        let Some(departs) = departs else {
            self.frames_lost += 1;
            self.queue_drops += 1;
            return;
        };
        if self.rng.chance(self.faults.drop) {
            self.frames_lost += 1;
            return;
        }
        let copies = if self.rng.chance(self.faults.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let mut frame = frame.clone();
            if self.rng.chance(self.faults.corrupt) && frame.len() > 14 {
                let mut bytes = frame.to_vec();
                let at = 14 + self.rng.below(bytes.len() - 14);
                bytes[at] ^= 1 << self.rng.below(8);
                frame = DemiBuffer::from_slice(&bytes).unwrap_or(frame);
            }
            let mut at = departs + self.latency;
            if !self.jitter.is_zero() && self.rng.chance(self.faults.reorder) {
                at += self.jitter.mul_f64((self.rng.below(1000) as f64) / 1000.0);
            }
            self.seq += 1;
            self.in_flight.push(Reverse(InFlight { at, seq: self.seq, from, frame }));
        }
    }
}

/// Whether the router of [`Simulation::with_path_mtu`] drops `frame` (an IPv4 datagram with Don't Fragment
/// longer than `mtu`): `None` if not, else the fragmentation-needed error it answers with (`Some(None)`
/// without `icmp`, or if the error could not be built).
fn too_big_for(frame: &[u8], mtu: usize, icmp: bool) -> Option<Option<DemiBuffer>> {
    let ip = Ipv4Packet::new_checked(frame.get(ETHERNET_HEADER_LEN..)?).ok()?;
    if frame.get(12..14)? != [0x08, 0x00] || !ip.dont_fragment() || ip.total_len() <= mtu {
        return None;
    }
    Some(icmp.then(|| fragmentation_needed(frame, u16::try_from(mtu).ok()?, None)).flatten())
}

/// The ICMP fragmentation-needed error naming `next_hop_mtu` that a router at [`ROUTER_ADDR`] sends back
/// about the IPv4 datagram in Ethernet `frame`, quoting its header and first 8 bytes (with the quoted TCP
/// sequence number replaced by `forged_seq` if given, for tests of forged errors). `None` if `frame` is not
/// such a datagram.
pub(crate) fn fragmentation_needed(frame: &[u8], next_hop_mtu: u16, forged_seq: Option<u32>) -> Option<DemiBuffer> {
    let ethernet = EthernetFrame::new_checked(frame).ok()?;
    let ip = Ipv4Packet::new_checked(frame.get(ETHERNET_HEADER_LEN..)?).ok()?;
    // Not verified: stacks configured for checksum offload leave the header checksum to a device the simulator
    // does not have. The error itself is written with every checksum.
    let header = Ipv4Repr::parse(&ip, &ChecksumCapabilities::offloaded()).ok()?;
    let payload = ip.payload();
    let mut data = payload[..payload.len().min(ICMPV4_ERROR_QUOTE_LEN)].to_vec();
    if let (Some(seq), Some(quoted)) = (forged_seq, data.get_mut(4..8)) {
        quoted.copy_from_slice(&seq.to_be_bytes());
    }
    let error =
        Icmpv4Repr::DstUnreachable { reason: DstUnreachable::FragmentationNeeded, next_hop_mtu, header, data: &data };
    let outer = Ipv4Repr {
        src_addr: ROUTER_ADDR,
        dst_addr: header.src_addr,
        protocol: IpProtocol::Icmp,
        payload_len: error.buffer_len(),
        ttl: 64,
        tos: 0,
        ident: 0,
        dont_fragment: false,
    };
    let caps = ChecksumCapabilities::software();
    let mut bytes = vec![0u8; ETHERNET_HEADER_LEN + outer.total_len()];
    EthernetRepr { src_addr: ethernet.dst_addr(), dst_addr: ethernet.src_addr(), ethertype: EtherType::Ipv4 }
        .emit(&mut bytes)
        .ok()?;
    outer.emit(&mut bytes[ETHERNET_HEADER_LEN..], &caps).ok()?;
    error.emit(&mut bytes[ETHERNET_HEADER_LEN + outer.buffer_len()..], &caps).ok()?;
    DemiBuffer::from_slice(&bytes).ok()
}

/// `frame` with its IPv4 header's ECN field set to Congestion Experienced (and the header checksum made
/// anew), if it is an ECN-capable IPv4 datagram; `None` otherwise.
fn mark_congestion_experienced(frame: &[u8]) -> Option<DemiBuffer> {
    const IP: usize = 14;
    let ecn = *frame.get(IP + 1)? & ecn_codepoint::MASK;
    if frame.get(12..14)? != [0x08, 0x00] || ecn == ecn_codepoint::NOT_ECT || ecn == ecn_codepoint::CE {
        return None;
    }
    let header_len = usize::from(frame[IP] & 0x0f) * 4;
    let mut bytes = frame.to_vec();
    bytes[IP + 1] |= ecn_codepoint::CE;
    let header = bytes.get_mut(IP..IP + header_len)?;
    header[10..12].fill(0);
    let checksum = checksum_from_sum(ones_complement_sum(header));
    header[10..12].copy_from_slice(&checksum.to_be_bytes());
    DemiBuffer::from_slice(&bytes).ok()
}

/// The hosts' links to the hub: one rate for all, and each host's queue.
#[derive(Debug)]
struct Uplinks {
    bits_per_second: u64,
    queue_frames: usize,
    /// Frames waiting ahead of an ECN-capable datagram at which it is marked CE ([`Simulation::with_ecn_marking`]).
    mark_threshold: Option<usize>,
    /// Per host, when each frame in its queue will have left (the last is when the link is next free).
    lanes: Vec<VecDeque<Instant>>,
}

impl Uplinks {
    /// Queues a frame of `len` bytes that host `from` sends at `now`: when it will have left and how many frames
    /// wait ahead of it, or `None` if the queue is full (tail drop).
    fn enqueue(&mut self, from: usize, now: Instant, len: usize) -> Option<(Instant, usize)> {
        let lane = &mut self.lanes[from];
        while lane.front().is_some_and(|&left| left <= now) {
            lane.pop_front();
        }
        if lane.len() >= self.queue_frames {
            return None;
        }
        let bits = len as u128 * 8;
        let sending = Duration::from_nanos((bits * 1_000_000_000 / u128::from(self.bits_per_second)) as u64);
        let starts = lane.back().map_or(now, |&free| free.max(now));
        let ahead = lane.len();
        lane.push_back(starts + sending);
        Some((starts + sending, ahead))
    }
}

/// The seeds a seeded test runs: `<prefix>_CASES` of them (default `default_cases`) from `<prefix>_SEED`
/// (default 1), so that a long run, or the replay of one failing seed, needs no rebuild.
#[cfg(test)]
pub(crate) fn seeds(prefix: &str, default_cases: u64) -> std::ops::Range<u64> {
    let var = |name: &str, default: u64| {
        std::env::var(format!("{prefix}_{name}")).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let first = var("SEED", 1);
    first..first + var("CASES", default_cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uplink_paces_frames_at_its_rate_and_drops_when_its_queue_is_full() {
        let t0 = Instant::now();
        let ms = Duration::from_millis(1);
        // 1500-byte frames at 12 Mbit/s: 1 ms each. A queue of 2 frames.
        let mut uplinks = Uplinks {
            bits_per_second: 12_000_000,
            queue_frames: 2,
            mark_threshold: None,
            lanes: vec![VecDeque::new(); 2],
        };
        assert_eq!(uplinks.enqueue(0, t0, 1500), Some((t0 + ms, 0)));
        assert_eq!(uplinks.enqueue(0, t0, 1500), Some((t0 + 2 * ms, 1)), "behind the first");
        assert_eq!(uplinks.enqueue(0, t0, 1500), None, "the queue is full");
        assert_eq!(uplinks.enqueue(1, t0, 750), Some((t0 + ms / 2, 0)), "each host has its own link");
        // Once the first frame has left there is room again, behind the second.
        assert_eq!(uplinks.enqueue(0, t0 + ms, 1500), Some((t0 + 3 * ms, 1)));
        // An idle link sends at once.
        assert_eq!(uplinks.enqueue(0, t0 + 10 * ms, 150), Some((t0 + 10 * ms + ms / 10, 0)));
    }

    #[test]
    fn a_queue_marks_only_ecn_capable_ipv4_datagrams_and_keeps_their_checksum_valid() {
        use crate::wire::{ChecksumCapabilities, EtherType, EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr};
        let frame = |tos: u8| {
            let mut bytes = vec![0u8; 14 + 20 + 8];
            let ethernet = EthernetRepr {
                src_addr: crate::wire::MacAddress([2, 0, 0, 0, 0, 1]),
                dst_addr: crate::wire::MacAddress([2, 0, 0, 0, 0, 2]),
                ethertype: EtherType::Ipv4,
            };
            ethernet.emit(&mut bytes).unwrap();
            let ip = Ipv4Repr {
                src_addr: std::net::Ipv4Addr::new(10, 0, 0, 1),
                dst_addr: std::net::Ipv4Addr::new(10, 0, 0, 2),
                protocol: IpProtocol::Udp,
                payload_len: 8,
                ttl: 64,
                tos,
                ident: 7,
                dont_fragment: true,
            };
            ip.emit(&mut bytes[14..], &ChecksumCapabilities::software()).unwrap();
            bytes
        };
        for tos in [0b10, 0b01, 0xb8 | 0b10] {
            let marked = mark_congestion_experienced(&frame(tos)).expect("ECN-capable: marked");
            let view = Ipv4Packet::new_checked(&marked[14..]).unwrap();
            let ip = Ipv4Repr::parse(&view, &ChecksumCapabilities::software()).expect("the checksum still holds");
            assert_eq!(ip.tos, tos | 0b11, "CE, and the DSCP kept");
            assert_eq!(marked[34..], frame(tos)[34..], "nothing else changed");
        }
        assert!(mark_congestion_experienced(&frame(0)).is_none(), "not ECN-capable");
        assert!(mark_congestion_experienced(&frame(0b11)).is_none(), "marked already");
        let mut arp = frame(0b10);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(mark_congestion_experienced(&arp).is_none(), "not IPv4");
        assert!(mark_congestion_experienced(&[0u8; 10]).is_none(), "too short");
    }
}
