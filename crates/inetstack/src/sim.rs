//! A deterministic network simulator: hosts (each a `Stack`) on one shared Ethernet segment (a hub), a
//! virtual clock, propagation delay, and seeded faults (drop, duplicate, corrupt, reorder by jitter). No
//! threads and no real time: the same seed gives the same run, so any failure replays exactly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
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
    /// Frames put on the wire, and lost to faults.
    pub frames_sent: u64,
    pub frames_lost: u64,
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
            frames_sent: 0,
            frames_lost: 0,
            recorded: None,
        }
    }

    /// Keeps every frame put on the wire in `recorded` from now on.
    pub fn record_frames(mut self) -> Self {
        self.recorded = Some(Vec::new());
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
        if let Some(recorded) = self.recorded.as_mut() {
            recorded.push((self.now, from, frame.to_vec()));
        }
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
            let mut at = self.now + self.latency;
            if !self.jitter.is_zero() && self.rng.chance(self.faults.reorder) {
                at += self.jitter.mul_f64((self.rng.below(1000) as f64) / 1000.0);
            }
            self.seq += 1;
            self.in_flight.push(Reverse(InFlight { at, seq: self.seq, from, frame }));
        }
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
