//! `Device`: what the stack sends Ethernet frames through and receives them from (a DPDK port, a simulated
//! link, a loopback queue). The stack never blocks on a device: `receive` returns what is there, and
//! `transmit` hands a frame back when the device is full, so nothing is dropped silently.

use runtime::{DemiBuffer, Fail, Sga};

use crate::wire::ChecksumCapabilities;

/// What a device can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceCapabilities {
    /// Largest IP datagram a frame may carry (the Ethernet payload), typically 1500.
    pub mtu: usize,
    /// Which checksums the device verifies and generates itself.
    pub checksums: ChecksumCapabilities,
    /// The device sends a frame of several buffers (the headers, then views of the application's data) as
    /// cheaply as one: a NIC that gathers them by DMA, or a device that copies every frame into its own memory
    /// anyway (a DPDK port, whose mbufs are its own). When false, the device sends a one-buffer frame as it is
    /// but copies a frame of several (an in-memory link, the simulator): then the stack, told so through
    /// [`StackConfig::gather`], writes each frame as one buffer. Either way a device must accept frames of
    /// several buffers.
    ///
    /// [`StackConfig::gather`]: crate::stack::StackConfig::gather
    pub gather: bool,
}

impl Default for DeviceCapabilities {
    fn default() -> Self {
        Self { mtu: 1500, checksums: ChecksumCapabilities::software(), gather: false }
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

/// The frame as one contiguous buffer, as a wire delivers it: a view of a single segment, or a copy of
/// several. ENOMEM if the copy cannot be allocated (the caller keeps the frame; nothing is sent empty).
pub fn flatten(frame: &Sga) -> Result<DemiBuffer, Fail> {
    match frame.segments() {
        [single] => Ok(single.clone()),
        _ => DemiBuffer::from_slice(&frame.to_vec()),
    }
}
