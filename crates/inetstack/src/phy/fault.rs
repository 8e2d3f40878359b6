//! `FaultInjector`: wraps a device and, with seeded randomness, drops, duplicates, corrupts and reorders
//! frames in both directions. Deterministic: the same seed and the same traffic give the same faults. Used by
//! the simulator and by catnip's tests against Linux (this kernel has no netem).

use std::collections::VecDeque;

use runtime::{DemiBuffer, Sga};

use crate::device::{Device, DeviceCapabilities};

/// A small xorshift generator: deterministic, no dependencies, good enough for fault decisions.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// True with probability `p` (0.0..=1.0).
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// One of `options` (not empty), each as likely.
    pub fn pick<T: Copy>(&mut self, options: &[T]) -> T {
        options[self.below(options.len())]
    }
}

/// Fault rates, each a probability per frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FaultConfig {
    pub drop: f64,
    pub duplicate: f64,
    /// Flip one byte (after the Ethernet header, so checksums catch it).
    pub corrupt: f64,
    /// Hold a frame back and deliver it after the next one.
    pub reorder: f64,
}

/// Counts of what was done, for test assertions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounters {
    pub dropped: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    pub reordered: u64,
}

#[derive(Debug)]
pub struct FaultInjector<D> {
    inner: D,
    rx: FaultConfig,
    tx: FaultConfig,
    rng: Rng,
    /// Received frames ready for the stack (duplicates and released reordered frames).
    ready: VecDeque<DemiBuffer>,
    held_rx: Option<DemiBuffer>,
    held_tx: Option<Sga>,
    pub counters: FaultCounters,
}

impl<D: Device> FaultInjector<D> {
    pub fn new(inner: D, rx: FaultConfig, tx: FaultConfig, seed: u64) -> Self {
        Self {
            inner,
            rx,
            tx,
            rng: Rng::new(seed),
            ready: VecDeque::new(),
            held_rx: None,
            held_tx: None,
            counters: FaultCounters::default(),
        }
    }

    pub fn inner(&self) -> &D {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// A copy of the frame with one bit flipped past the Ethernet header (`None`: no memory for the copy,
    /// and the frame goes on unchanged).
    fn corrupt(&mut self, mut bytes: Vec<u8>) -> Option<DemiBuffer> {
        if bytes.len() > 14 {
            let at = 14 + self.rng.below(bytes.len() - 14);
            bytes[at] ^= 1 << self.rng.below(8);
        }
        DemiBuffer::from_slice(&bytes).ok()
    }
}

impl<D: Device> Device for FaultInjector<D> {
    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }

    fn receive(&mut self) -> Option<DemiBuffer> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Some(frame);
            }
            let Some(mut frame) = self.inner.receive() else {
                // Nothing new: release a held frame rather than sit on it.
                return self.held_rx.take();
            };
            if self.rng.chance(self.rx.drop) {
                self.counters.dropped += 1;
                continue;
            }
            if self.rng.chance(self.rx.corrupt) {
                self.counters.corrupted += 1;
                frame = self.corrupt(frame.to_vec()).unwrap_or(frame);
            }
            if self.rng.chance(self.rx.duplicate) {
                self.counters.duplicated += 1;
                self.ready.push_back(frame.clone());
            }
            if self.held_rx.is_none() && self.rng.chance(self.rx.reorder) {
                self.counters.reordered += 1;
                self.held_rx = Some(frame);
                continue;
            }
            if let Some(held) = self.held_rx.take() {
                self.ready.push_back(held);
            }
            return Some(frame);
        }
    }

    fn transmit(&mut self, frame: Sga) -> Result<(), Sga> {
        if self.rng.chance(self.tx.drop) {
            self.counters.dropped += 1;
            return Ok(());
        }
        let mut frame = frame;
        if self.rng.chance(self.tx.corrupt) {
            self.counters.corrupted += 1;
            if let Some(corrupted) = self.corrupt(frame.to_vec()) {
                frame = Sga::from_buffer(corrupted);
            }
        }
        if self.rng.chance(self.tx.duplicate) {
            self.counters.duplicated += 1;
            self.inner.transmit(frame.clone())?;
        }
        if self.held_tx.is_none() && self.rng.chance(self.tx.reorder) {
            self.counters.reordered += 1;
            self.held_tx = Some(frame);
            return Ok(());
        }
        self.inner.transmit(frame)?;
        if let Some(held) = self.held_tx.take()
            && let Err(held) = self.inner.transmit(held)
        {
            self.held_tx = Some(held);
        }
        Ok(())
    }

    fn flush(&mut self) {
        self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phy::Loopback;

    fn run(config: FaultConfig, seed: u64) -> (Vec<Vec<u8>>, FaultCounters) {
        let mut dev = FaultInjector::new(Loopback::new(10_000), config, FaultConfig::default(), seed);
        for i in 0..1000u32 {
            let mut frame = vec![0u8; 14];
            frame.extend_from_slice(&i.to_be_bytes());
            dev.inner_mut().transmit(Sga::from_slice(&frame).unwrap()).unwrap();
        }
        let mut out = Vec::new();
        while let Some(frame) = dev.receive() {
            out.push(frame.to_vec());
        }
        (out, dev.counters)
    }

    #[test]
    fn faults_happen_at_roughly_their_rates_and_deterministically() {
        let config = FaultConfig { drop: 0.1, duplicate: 0.05, corrupt: 0.05, reorder: 0.05 };
        let (a, counters) = run(config, 7);
        let (b, _) = run(config, 7);
        assert_eq!(a, b, "same seed, same faults");
        assert!((60..=140).contains(&counters.dropped), "{counters:?}");
        assert!(counters.duplicated > 20 && counters.corrupted > 20 && counters.reordered > 20, "{counters:?}");
        assert_eq!(a.len() as u64, 1000 - counters.dropped + counters.duplicated);
    }

    #[test]
    fn no_faults_means_identity() {
        let (frames, counters) = run(FaultConfig::default(), 1);
        assert_eq!(counters, FaultCounters::default());
        assert_eq!(frames.len(), 1000);
        assert!(frames.windows(2).all(|w| w[0] < w[1]));
    }
}
