//! `StackConfig`: the addresses and knobs of one stack instance.

use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use runtime::Fail;

use super::arp_cache::ArpConfig;
use crate::tcp::TcpConfig;
use crate::wire::{ChecksumCapabilities, MacAddress};

#[derive(Clone, Debug, PartialEq)]
pub struct StackConfig {
    pub mac: MacAddress,
    pub ipv4: Ipv4Addr,
    /// Length of the local network's prefix (24 for a /24).
    pub prefix_len: u8,
    /// Next hop for addresses outside the local network; without one they are unreachable.
    pub gateway: Option<Ipv4Addr>,
    /// Largest IP datagram per frame.
    pub mtu: usize,
    /// Checksums the device handles itself (the stack skips them).
    pub checksums: ChecksumCapabilities,
    /// Whether the device sends frames of several buffers as cheaply as one ([`DeviceCapabilities::gather`]).
    /// If so, a payload longer than 128 bytes goes to the device as a view of the application's buffer (zero
    /// copy). If not (the default), every payload is copied behind its headers, so that the frame is one buffer:
    /// the device would copy a frame of several, and the stack's copy leaves the payload in cache for its
    /// checksum.
    ///
    /// [`DeviceCapabilities::gather`]: crate::device::DeviceCapabilities::gather
    pub gather: bool,
    pub arp: ArpConfig,
    /// Datagrams a UDP socket holds before dropping new ones.
    pub udp_queue_len: usize,
    /// Ports handed out for port-0 binds and connects.
    pub ephemeral_ports: RangeInclusive<u16>,
    pub ttl: u8,
    /// ICMP error messages (destination unreachable) the stack sends per second at most, as Linux's
    /// `net.ipv4.icmp_msgs_per_sec` (RFC 1812 §4.3.2.8): a flood of datagrams to closed ports cannot make it
    /// answer each one. Each second's budget is this less a secret random part of up to a quarter of it (see
    /// `icmp_budget.rs`). 0: it sends none.
    pub icmp_errors_per_second: u32,
    pub tcp: TcpConfig,
    /// A listener whose backlog is full answers SYNs with SYN cookies (RFC 4987 §3.6, `stack/syn_cookies.rs`)
    /// instead of dropping them. On by default, as Linux's `tcp_syncookies = 1`.
    pub syn_cookies: bool,
    /// Key of the RFC 6528 initial-sequence-number hash and of the ICMP error budget's draws. Random by default;
    /// fixed in tests for replay.
    pub isn_secret: u64,
}

impl StackConfig {
    /// A configuration with defaults for everything but the addresses.
    pub fn new(mac: MacAddress, ipv4: Ipv4Addr, prefix_len: u8) -> Self {
        Self {
            mac,
            ipv4,
            prefix_len,
            gateway: None,
            mtu: 1500,
            checksums: ChecksumCapabilities::software(),
            gather: false,
            arp: ArpConfig::default(),
            udp_queue_len: 1024,
            ephemeral_ports: 49152..=65535,
            ttl: 64,
            icmp_errors_per_second: 1000,
            tcp: TcpConfig::default(),
            syn_cookies: true,
            isn_secret: random_secret(),
        }
    }

    pub fn validate(&self) -> Result<(), Fail> {
        let bad = |what: String| Err(Fail::with_context(libc::EINVAL, what));
        if !self.mac.is_unicast() {
            return bad(format!("mac {:?} is not a unicast address", self.mac));
        }
        if self.ipv4.is_unspecified() || self.ipv4.is_broadcast() || self.ipv4.is_multicast() {
            return bad(format!("ipv4 {} cannot be a host address", self.ipv4));
        }
        if self.prefix_len == 0 || self.prefix_len > 32 {
            return bad(format!("prefix_len {} is not in 1..=32", self.prefix_len));
        }
        if !(576..=9216).contains(&self.mtu) {
            return bad(format!("mtu {} is not in 576..=9216", self.mtu));
        }
        if self.ephemeral_ports.is_empty() || *self.ephemeral_ports.start() == 0 {
            return bad(format!("ephemeral_ports {:?} is empty or includes 0", self.ephemeral_ports));
        }
        if self.ttl == 0 {
            return bad("ttl must be positive".to_owned());
        }
        self.tcp.validate()
    }

    pub(crate) fn netmask(&self) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(self.prefix_len)).unwrap_or(0)
    }

    /// Whether `ip` is on the local network.
    pub fn is_local(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.netmask() == u32::from(self.ipv4) & self.netmask()
    }

    /// The local network's broadcast address.
    pub fn subnet_broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.ipv4) | !self.netmask())
    }
}

/// A random 64-bit value from the standard library's randomly keyed hasher (no extra dependency).
fn random_secret() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x6528);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_and_computes_the_subnet() {
        let config = StackConfig::new(MacAddress([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(10, 0, 0, 1), 24);
        config.validate().unwrap();
        assert!(config.is_local(Ipv4Addr::new(10, 0, 0, 200)));
        assert!(!config.is_local(Ipv4Addr::new(10, 0, 1, 1)));
        assert_eq!(config.subnet_broadcast(), Ipv4Addr::new(10, 0, 0, 255));
        let mut bad = config.clone();
        bad.mac = MacAddress::BROADCAST;
        assert!(bad.validate().unwrap_err().cause().contains("mac"));
        let mut bad = config.clone();
        bad.prefix_len = 33;
        assert!(bad.validate().unwrap_err().cause().contains("prefix_len"));
        let mut bad = config;
        bad.mtu = 100;
        assert_eq!(bad.validate().unwrap_err().errno(), libc::EINVAL);
    }
}
