//! catnip on DPDK (feature `dpdk`): a [`DpdkDevice`] that moves Ethernet frames through one DPDK port, and
//! [`new_libos`], which initialises EAL, opens the port and runs catnip's stack on it.
//!
//! One process hosts at most one DPDK catnip: DPDK's EAL initialises once per process and cannot start again
//! after `rte_eal_cleanup`, so a second [`DpdkDevice::new`] in the same process fails with `EALREADY`, even after
//! the first device was dropped. [`new_libos_shared`] lifts the "after" part: it keeps the port (and EAL) open
//! in a thread-local slot between instances, so one thread can run catnip, drop it and run a fresh one on the
//! same port (one at a time; see [`shared`]).
//!
//! This module is the device adapter only: the port ([`DpdkDevice`]), its offloads ([`PortOffloads`]: checksums,
//! multi-segment transmit) and zero-copy transmit (`tx.rs`). Received frames reach the stack without a copy,
//! transmitted payloads leave without one where the port allows it; see `docs/catnip.md`.

mod device;
mod offload;
pub mod shared;
mod tx;

use std::net::Ipv4Addr;
use std::time::Duration;

pub use device::{DEFAULT_MTU, DpdkDevice, DpdkDeviceConfig, DpdkStats, MAX_MTU, final_stats, lent_mbufs};
use inetstack::stack::StackConfig;
pub use inetstack::tcp::{CongestionAlgorithm, TcpConfig};
pub use inetstack::wire::MacAddress;
pub use offload::{PortOffloads, RxVerdict};
use pdpix::Fail;
pub use shared::{SharedDpdkDevice, new_libos_shared, new_libos_shared_with};
pub use tx::tx_pinned;

use crate::{Catnip, NetDevice};

/// What [`new_libos`] needs: EAL arguments and the port, and the stack's addresses.
#[derive(Clone, Debug, PartialEq)]
pub struct DpdkConfig {
    /// EAL and port settings.
    pub device: DpdkDeviceConfig,
    /// This host's address.
    pub ipv4: Ipv4Addr,
    /// Length of the local network's prefix (24 for a /24).
    pub prefix_len: u8,
    /// Next hop for addresses outside the local network.
    pub gateway: Option<Ipv4Addr>,
    /// ARP entries that never expire and are never overwritten by what the network says.
    pub static_arp: Vec<(Ipv4Addr, MacAddress)>,
    /// TCP parameters (buffer sizes, MSS, congestion control, ...); inetstack's defaults unless changed. The
    /// MSS follows the port's MTU: inetstack's default (1460) becomes MTU - 40, and a larger one is lowered to it.
    pub tcp: TcpConfig,
}

impl DpdkConfig {
    /// A configuration with `eal_args` (without a program name) and the address `ipv4/prefix_len`; everything
    /// else at its default.
    pub fn new(eal_args: Vec<String>, ipv4: Ipv4Addr, prefix_len: u8) -> Self {
        Self {
            device: DpdkDeviceConfig::new(eal_args),
            ipv4,
            prefix_len,
            gateway: None,
            static_arp: Vec::new(),
            tcp: TcpConfig::default(),
        }
    }
}

/// Initialises EAL, opens and starts the port, and returns catnip running on it. The MAC address is the port's;
/// checksums and MTU follow the device's capabilities.
pub fn new_libos(config: &DpdkConfig) -> Result<Catnip<DpdkDevice>, Fail> {
    new_libos_with(config, |device| device)
}

/// As [`new_libos`], with the port's device wrapped by `wrap` before the stack runs on it: for instance in
/// inetstack's `FaultInjector`, to drop, duplicate, corrupt and reorder frames on catnip's side of a real port
/// (`FaultInjector::new(device, rx_faults, tx_faults, seed)`). The MAC address is read from the port first.
pub fn new_libos_with<D: NetDevice + 'static>(
    config: &DpdkConfig,
    wrap: impl FnOnce(DpdkDevice) -> D,
) -> Result<Catnip<D>, Fail> {
    let port = DpdkDevice::new(&config.device)?;
    let mac = port.mac();
    build(config, mac, wrap(port))
}

/// The stack `config` describes, with MAC `mac`, on `device` (its MTU and checksum capabilities).
fn build<D: NetDevice + 'static>(config: &DpdkConfig, mac: MacAddress, device: D) -> Result<Catnip<D>, Fail> {
    let caps = inetstack::device::Device::capabilities(&device);
    let mut stack = StackConfig::new(mac, config.ipv4, config.prefix_len);
    stack.gateway = config.gateway;
    stack.mtu = caps.mtu;
    stack.checksums = caps.checksums;
    stack.arp.static_entries = config.static_arp.clone();
    stack.tcp = config.tcp.clone();
    stack.tcp.mss = mss_for(caps.mtu, config.tcp.mss);
    stack.validate()?;
    // Poll mode: an idle wait spins in the device anyway, so there is nothing to gain from a spin budget.
    Catnip::new(stack, device, Duration::ZERO)
}

/// The TCP MSS on a link with IP MTU `mtu` (IPv4 and TCP headers without options take 40 bytes): `configured`
/// if it was changed from inetstack's default and fits, else the most the MTU allows.
fn mss_for(mtu: usize, configured: u16) -> u16 {
    let most = u16::try_from(mtu.saturating_sub(40)).unwrap_or(u16::MAX);
    if configured == TcpConfig::default().mss { most } else { configured.min(most) }
}

#[cfg(test)]
mod tests {
    use super::mss_for;

    #[test]
    fn mss_follows_the_mtu() {
        assert_eq!(mss_for(1500, 1460), 1460);
        assert_eq!(mss_for(9000, 1460), 8960);
        assert_eq!(mss_for(9000, 4000), 4000);
        assert_eq!(mss_for(1500, 8960), 1460);
        assert_eq!(mss_for(576, 1460), 536);
    }
}
