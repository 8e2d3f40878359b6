//! A deterministic network simulator: hosts (each a `Stack`) on one shared Ethernet segment (a hub), a
//! virtual clock, propagation delay, seeded faults (drop, duplicate, corrupt, reorder by jitter) and, if asked,
//! a bandwidth limit on each host's link to the hub with a bounded queue in front of it. No threads and no
//! real time: the same seed gives the same run, so any failure replays exactly.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use runtime::{DemiBuffer, Sga};

use crate::device::{Device, DeviceCapabilities, flatten};
use crate::phy::{FaultConfig, Rng};
use crate::stack::Stack;

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
    /// Every frame put on the wire (before faults): when, from which host, its bytes; kept only once
    /// [`Simulation::record_frames`] asked for it, for tests that compare two runs frame for frame.
    pub recorded: Option<Vec<(Instant, usize, Vec<u8>)>>,
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
            recorded: None,
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
        self.uplinks =
            Some(Uplinks { bits_per_second: bits_per_second.max(1), queue_frames: queue_frames.max(1), lanes });
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

    fn put_on_wire(&mut self, from: usize, frame: DemiBuffer) {
        self.frames_sent += 1;
        let departs = match self.uplinks.as_mut() {
            Some(uplinks) => uplinks.enqueue(from, self.now, frame.len()),
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

/// The hosts' links to the hub: one rate for all, and each host's queue.
#[derive(Debug)]
struct Uplinks {
    bits_per_second: u64,
    queue_frames: usize,
    /// Per host, when each frame in its queue will have left (the last is when the link is next free).
    lanes: Vec<VecDeque<Instant>>,
}

impl Uplinks {
    /// Queues a frame of `len` bytes that host `from` sends at `now`: when it will have left, or `None` if
    /// the queue is full (tail drop).
    fn enqueue(&mut self, from: usize, now: Instant, len: usize) -> Option<Instant> {
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
        lane.push_back(starts + sending);
        Some(starts + sending)
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
        let mut uplinks = Uplinks { bits_per_second: 12_000_000, queue_frames: 2, lanes: vec![VecDeque::new(); 2] };
        assert_eq!(uplinks.enqueue(0, t0, 1500), Some(t0 + ms));
        assert_eq!(uplinks.enqueue(0, t0, 1500), Some(t0 + 2 * ms), "behind the first");
        assert_eq!(uplinks.enqueue(0, t0, 1500), None, "the queue is full");
        assert_eq!(uplinks.enqueue(1, t0, 750), Some(t0 + ms / 2), "each host has its own link");
        // Once the first frame has left there is room again, behind the second.
        assert_eq!(uplinks.enqueue(0, t0 + ms, 1500), Some(t0 + 3 * ms));
        // An idle link sends at once.
        assert_eq!(uplinks.enqueue(0, t0 + 10 * ms, 150), Some(t0 + 10 * ms + ms / 10));
    }
}
