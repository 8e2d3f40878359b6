//! `Loopback`: a device whose transmitted frames come back as received frames, in order. Bounded: when
//! `capacity` frames are waiting, transmit hands the frame back.

use std::collections::VecDeque;

use runtime::{DemiBuffer, Sga};

use crate::device::{Device, DeviceCapabilities, flatten};

#[derive(Debug)]
pub struct Loopback {
    queue: VecDeque<DemiBuffer>,
    capacity: usize,
    capabilities: DeviceCapabilities,
}

impl Loopback {
    pub fn new(capacity: usize) -> Self {
        Self { queue: VecDeque::new(), capacity, capabilities: DeviceCapabilities::default() }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

impl Device for Loopback {
    fn capabilities(&self) -> DeviceCapabilities {
        self.capabilities
    }

    fn receive(&mut self) -> Option<DemiBuffer> {
        self.queue.pop_front()
    }

    fn transmit(&mut self, frame: Sga) -> Result<(), Sga> {
        if self.queue.len() >= self.capacity {
            return Err(frame);
        }
        match flatten(&frame) {
            Ok(contiguous) => {
                self.queue.push_back(contiguous);
                Ok(())
            }
            Err(_) => Err(frame),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_back_in_order_and_capacity_is_enforced() {
        let mut lo = Loopback::new(2);
        lo.transmit(Sga::from_slice(b"one").unwrap()).unwrap();
        let mut two = Sga::from_slice(b"t").unwrap();
        two.push_segment(DemiBuffer::from_slice(b"wo").unwrap());
        lo.transmit(two).unwrap();
        let rejected = lo.transmit(Sga::from_slice(b"three").unwrap()).unwrap_err();
        assert_eq!(rejected.to_vec(), b"three");
        assert_eq!(&lo.receive().unwrap()[..], b"one");
        assert_eq!(&lo.receive().unwrap()[..], b"two");
        assert!(lo.receive().is_none());
    }
}
