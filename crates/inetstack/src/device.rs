//! `Device`: what the stack sends Ethernet frames through and receives them from (a DPDK port, a simulated
//! link, a loopback queue). The stack never blocks on a device: `receive` returns what is there, and
//! `transmit` hands a frame back when the device is full, so nothing is dropped silently.

use runtime::{DemiBuffer, Sga};

use crate::wire::ChecksumCapabilities;

/// What a device can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceCapabilities {
    /// Largest IP datagram a frame may carry (the Ethernet payload), typically 1500.
    pub mtu: usize,
    /// Which checksums the device verifies and generates itself.
    pub checksums: ChecksumCapabilities,
}

impl Default for DeviceCapabilities {
    fn default() -> Self {
        Self { mtu: 1500, checksums: ChecksumCapabilities::software() }
    }
}

/// A device that moves whole Ethernet frames.
pub trait Device {
    fn capabilities(&self) -> DeviceCapabilities;

    /// The next received frame, if one is waiting.
    fn receive(&mut self) -> Option<DemiBuffer>;

    /// Queues a frame (its segments, in order, form one Ethernet frame). When the device cannot take it now,
    /// the frame comes back as the error, to be retried after the device drains. A device may hold accepted
    /// frames back to send them in a batch: it must then send them (or keep them for the next flush) on
    /// `flush`, never drop them.
    fn transmit(&mut self, frame: Sga) -> Result<(), Sga>;

    /// Sends frames `transmit` held back for batching. The stack calls it at the end of each transmit pass.
    fn flush(&mut self) {}
}

impl<D: Device + ?Sized> Device for &mut D {
    fn capabilities(&self) -> DeviceCapabilities {
        (**self).capabilities()
    }
    fn receive(&mut self) -> Option<DemiBuffer> {
        (**self).receive()
    }
    fn transmit(&mut self, frame: Sga) -> Result<(), Sga> {
        (**self).transmit(frame)
    }
    fn flush(&mut self) {
        (**self).flush()
    }
}

/// One contiguous copy of a multi-segment frame, as a wire delivers it.
pub fn flatten(frame: &Sga) -> DemiBuffer {
    match frame.segments() {
        [single] => single.clone(),
        _ => DemiBuffer::from_slice(&frame.to_vec()).unwrap_or_else(|_| DemiBuffer::new(0).expect("empty buffer")),
    }
}
