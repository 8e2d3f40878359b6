//! The process's DPDK port as a resource that outlives one catnip instance.
//!
//! EAL initialises once per process and never again after `rte_eal_cleanup` (see [`DpdkDevice::new`]), yet a
//! program (the Python package's tests make a fresh `LibOS("catnip")` per test) may want catnip, shut it down
//! and want it again. [`new_libos_shared`] opens EAL and the port the first time a thread asks; when that
//! catnip instance is dropped, its [`SharedDpdkDevice`] parks the open port in a thread-local slot instead of
//! closing it, and the next [`new_libos_shared`] on the same thread, with the same device settings, runs a
//! fresh stack and runtime on it. The port is closed (and EAL cleaned up) when the thread exits.
//!
//! Rules, each a clear error rather than a surprise:
//! - one instance at a time per process: a second one while the first is alive fails with `EBUSY`;
//! - the same [`DpdkDeviceConfig`] every time: other EAL arguments or another port fail with `EINVAL`
//!   (EAL cannot be initialised again with them);
//! - one thread: DPDK's per-lcore state belongs to the thread that initialised EAL, so another thread gets
//!   `EALREADY` from [`DpdkDevice::new`].
//!
//! Frames from an earlier instance: the parked port's transmit batch is flushed when it is parked, and every
//! frame waiting in its receive ring is discarded when it is taken again, so a new stack never sees a frame
//! that arrived for the old one while nobody was polling. Frames a remote peer sends later for the old
//! instance's connections reach the new stack as segments for unknown connections, which it answers with a
//! RST, as a rebooted host does.

use std::cell::RefCell;
use std::time::Duration;

use inetstack::device::{Device, DeviceCapabilities};
use pdpix::{Fail, Sga};
use runtime::DemiBuffer;

use super::{DpdkConfig, DpdkDevice, DpdkDeviceConfig};
use crate::{Catnip, NetDevice};

/// The thread's DPDK port, between and during catnip instances.
#[derive(Debug, Default)]
enum Slot {
    /// Never opened on this thread.
    #[default]
    Empty,
    /// Open, and used by a live instance (opened with these settings).
    Lent(DpdkDeviceConfig),
    /// Open and idle, waiting for the next instance.
    Parked(DpdkDeviceConfig, Box<DpdkDevice>),
}

thread_local! {
    static SLOT: RefCell<Slot> = const { RefCell::new(Slot::Empty) };
}

/// The thread's DPDK port, lent to one catnip instance: everything is [`DpdkDevice`]'s, except that dropping
/// it parks the open port for the next [`new_libos_shared`] instead of closing it.
#[derive(Debug)]
pub struct SharedDpdkDevice {
    /// Always `Some` until `Drop` takes it.
    device: Option<DpdkDevice>,
}

impl SharedDpdkDevice {
    /// The thread's port, opened with `config` the first time (initialising EAL) and reused afterwards.
    pub fn acquire(config: &DpdkDeviceConfig) -> Result<Self, Fail> {
        let parked = SLOT.with_borrow_mut(|slot| match std::mem::take(slot) {
            Slot::Empty => {
                *slot = Slot::Lent(config.clone());
                Ok(None)
            }
            Slot::Lent(opened) => {
                *slot = Slot::Lent(opened);
                Err(Fail::new(
                    libc::EBUSY,
                    "this process's DPDK port is in use by another catnip instance: one at a time (shut it down first)",
                ))
            }
            Slot::Parked(opened, device) if opened == *config => {
                *slot = Slot::Lent(opened);
                Ok(Some(*device))
            }
            Slot::Parked(opened, device) => {
                let error = Fail::with_context(
                    libc::EINVAL,
                    format!(
                        "this process already opened DPDK with other settings (EAL arguments {:?}, port {:?}); EAL \
                         initialises once per process, so every catnip instance of a process must use the same \
                         EAL arguments and port",
                        opened.eal_args, opened.port
                    ),
                );
                *slot = Slot::Parked(opened, device);
                Err(error)
            }
        })?;
        let device = match parked {
            Some(mut device) => {
                // Whatever arrived while the port was parked was meant for the previous instance.
                while device.receive().is_some() {}
                device
            }
            None => DpdkDevice::new(config).inspect_err(|_| SLOT.with_borrow_mut(|slot| *slot = Slot::Empty))?,
        };
        Ok(Self { device: Some(device) })
    }

    fn get(&self) -> &DpdkDevice {
        self.device.as_ref().expect("present until dropped")
    }

    fn get_mut(&mut self) -> &mut DpdkDevice {
        self.device.as_mut().expect("present until dropped")
    }

    /// The port's device (its MAC, name and counters).
    pub fn device(&self) -> &DpdkDevice {
        self.get()
    }
}

impl Device for SharedDpdkDevice {
    fn capabilities(&self) -> DeviceCapabilities {
        self.get().capabilities()
    }

    fn receive(&mut self) -> Option<DemiBuffer> {
        self.get_mut().receive()
    }

    fn transmit(&mut self, frame: Sga) -> Result<(), Sga> {
        self.get_mut().transmit(frame)
    }

    fn flush(&mut self) {
        self.get_mut().flush();
    }
}

impl NetDevice for SharedDpdkDevice {
    fn wait(&self, timeout: Option<Duration>) {
        self.get().wait(timeout);
    }
}

impl Drop for SharedDpdkDevice {
    fn drop(&mut self) {
        let Some(mut device) = self.device.take() else { return };
        device.flush();
        // At thread exit the slot may already be gone: then the device closes the port itself (dropped here).
        let _ = SLOT.try_with(|slot| {
            let mut slot = slot.borrow_mut();
            match std::mem::take(&mut *slot) {
                Slot::Lent(config) => *slot = Slot::Parked(config, Box::new(device)),
                // Not lent from this slot (cannot happen: `acquire` is the only constructor): close it.
                other => *slot = other,
            }
        });
    }
}

/// catnip on the thread's shared DPDK port: as [`super::new_libos`], but the port (and EAL) stay open when the
/// instance is dropped, for the next call on this thread with the same `config.device` (see the module docs).
/// The stack, its sockets and the runtime are new each time; the MAC address is the port's.
pub fn new_libos_shared(config: &DpdkConfig) -> Result<Catnip<SharedDpdkDevice>, Fail> {
    new_libos_shared_with(config, |device| device)
}

/// As [`new_libos_shared`], with the port's device wrapped by `wrap` before the stack runs on it, as
/// [`super::new_libos_with`] does: in a [`crate::PcapWriter`] to record every frame, for instance.
pub fn new_libos_shared_with<D: NetDevice + 'static>(
    config: &DpdkConfig,
    wrap: impl FnOnce(SharedDpdkDevice) -> D,
) -> Result<Catnip<D>, Fail> {
    let device = SharedDpdkDevice::acquire(&config.device)?;
    let mac = device.device().mac();
    super::build(config, mac, wrap(device))
}
