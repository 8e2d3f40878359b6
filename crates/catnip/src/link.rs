//! `MemoryLink`: two devices joined by in-memory queues, one per direction, for running two catnip
//! instances (on two threads) against each other without a NIC. A receiver can block until a frame arrives
//! or a deadline passes, so an idle instance sleeps instead of spinning.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use inetstack::device::{Device, DeviceCapabilities};
use runtime::{DemiBuffer, Sga};

/// Frames waiting in one direction (as plain bytes: `DemiBuffer`s stay on their thread).
#[derive(Debug, Default)]
struct Queue {
    frames: Mutex<VecDeque<Vec<u8>>>,
    arrived: Condvar,
}

/// Frames a direction holds before transmit reports the device full.
const LINK_CAPACITY: usize = 4096;

/// One end of a link.
#[derive(Debug)]
pub struct MemoryLink {
    rx: Arc<Queue>,
    tx: Arc<Queue>,
}

impl MemoryLink {
    /// Two connected ends.
    pub fn pair() -> (Self, Self) {
        let (a, b) = (Arc::new(Queue::default()), Arc::new(Queue::default()));
        (Self { rx: Arc::clone(&a), tx: Arc::clone(&b) }, Self { rx: b, tx: a })
    }

    /// Blocks until a frame is waiting or `timeout` passes (`None`: until a frame).
    pub fn wait_for_frame(&self, timeout: Option<Duration>) {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut frames = self.rx.frames.lock().unwrap_or_else(|e| e.into_inner());
        while frames.is_empty() {
            match deadline {
                None => frames = self.rx.arrived.wait(frames).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return;
                    }
                    frames = self.rx.arrived.wait_timeout(frames, left).unwrap_or_else(|e| e.into_inner()).0;
                }
            }
        }
    }
}

impl Device for MemoryLink {
    /// Every frame is copied into the link's queue, so one of several buffers costs no more (`gather`).
    fn capabilities(&self) -> DeviceCapabilities {
        DeviceCapabilities { gather: true, ..DeviceCapabilities::default() }
    }

    fn receive(&mut self) -> Option<DemiBuffer> {
        let bytes = self.rx.frames.lock().unwrap_or_else(|e| e.into_inner()).pop_front()?;
        DemiBuffer::from_slice(&bytes).ok()
    }

    fn transmit(&mut self, frame: Sga) -> Result<(), Sga> {
        let mut frames = self.tx.frames.lock().unwrap_or_else(|e| e.into_inner());
        if frames.len() >= LINK_CAPACITY {
            return Err(frame);
        }
        frames.push_back(frame.to_vec());
        self.tx.arrived.notify_one();
        Ok(())
    }
}
