//! Configuration: one TOML or YAML file, plus environment overrides.
//!
//! ```toml
//! libos = "catnap"          # or set DEMI_LIBOS
//! [catnap]
//! spin_us = 50              # how long an idle wait spins before blocking in epoll_wait
//! recv_buffer_size = 65536  # largest pop, bytes
//!
//! [catnip]                  # used when built with the `catnip` feature (DPDK)
//! eal_args = ["-l", "0", "--no-pci", "--in-memory", "--file-prefix=demi1", "--vdev=net_af_packet0,iface=dk0"]
//! port = "net_af_packet0"   # DPDK port name; the first available port if absent
//! ipv4 = "10.99.0.1"        # required
//! prefix_len = 24           # default 24
//! gateway = "10.99.0.254"   # optional
//! arp = [{ ipv4 = "10.99.0.2", mac = "02:00:00:00:00:02" }]   # static ARP entries, optional
//! link_timeout_ms = 5000    # how long to wait for the port's link (a memif server waits for its client)
//! pcap = "/tmp/catnip.pcap" # optional: record every frame the port sends and receives (tcpdump -r reads it)
//! pacing = true             # optional, default false: TCP paces its sends (for queues shallower than a window)
//! ecn = true                # optional, default false: TCP asks for and accepts ECN (RFC 3168)
//! accurate_ecn = true       # optional, default false: Accurate ECN (RFC 9768), classic ECN with a peer without it
//! black_hole_detection = false  # optional, default true: smaller segments after 3 timeouts in a row (RFC 4821)
//! recv_buffer_max = 4194304 # optional, default 6 MiB: TCP receive buffers grow from 256 KiB up to this while the
//!                           # reader keeps up; 0 turns the growth off
//! send_buffer_max = 4194304 # optional, default 4 MiB: TCP send buffers grow from 256 KiB up to this while the
//!                           # writer fills them; 0 turns the growth off
//! receive_memory = 268435456 # optional, default 1 GiB: all TCP connections' received data together, at most this
//! send_memory = 268435456   # optional, default 1 GiB: all TCP connections' data to send together, at most this
//! max_time_wait = 65536     # optional, default 65536: TCP connections in TIME-WAIT at once; past it they close
//! max_orphans = 65536       # optional, default 65536: TCP connections closed, not yet done; past it a close resets
//! congestion = "dctcp"      # optional: "cubic" (the default), "newreno" or "dctcp" (RFC 8257, asks for ECN)
//! ```
//! One process opens DPDK once: every catnip instance of a process (one at a time) must use the same
//! `eal_args` and `port`; the port stays open between instances (see `catnip::dpdk::shared`).
//! Unknown keys and bad values are errors (EINVAL) that name the key; nothing here panics (fuzzed: the `config`
//! target of `crates/demikernel/fuzz` parses TOML and YAML and checks both sections).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pdpix::Fail;
use serde::Deserialize;

/// Environment variable naming the libOS (overrides the file).
pub const ENV_LIBOS: &str = "DEMI_LIBOS";
/// Environment variable naming the configuration file.
pub const ENV_CONFIG: &str = "DEMI_CONFIG";

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Which libOS to run ("catnap" by default).
    pub libos: Option<String>,
    #[serde(default)]
    pub catnap: CatnapSection,
    #[serde(default)]
    pub catnip: CatnipSection,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CatnapSection {
    pub spin_us: u64,
    pub recv_buffer_size: usize,
}

impl Default for CatnapSection {
    fn default() -> Self {
        let defaults = catnap::CatnapConfig::default();
        Self { spin_us: defaults.spin.as_micros() as u64, recv_buffer_size: defaults.recv_buffer_size }
    }
}

impl CatnapSection {
    /// Checks every value (EINVAL naming the key of the first bad one) and gives catnap's configuration.
    pub fn to_config(&self) -> Result<catnap::CatnapConfig, Fail> {
        if self.recv_buffer_size == 0 || self.recv_buffer_size > pdpix::MAX_SGA_LEN {
            return Err(Fail::with_context(
                libc::EINVAL,
                format!(
                    "catnap.recv_buffer_size = {} is out of range (1..={})",
                    self.recv_buffer_size,
                    pdpix::MAX_SGA_LEN
                ),
            ));
        }
        if self.spin_us > 1_000_000 {
            return Err(Fail::with_context(
                libc::EINVAL,
                format!("catnap.spin_us = {} exceeds one second", self.spin_us),
            ));
        }
        Ok(catnap::CatnapConfig {
            spin: Duration::from_micros(self.spin_us),
            recv_buffer_size: self.recv_buffer_size,
            ..catnap::CatnapConfig::default()
        })
    }
}

/// The `[catnip]` section as written; [`CatnipSection::validate`] checks it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CatnipSection {
    /// DPDK EAL's command line, without a program name.
    pub eal_args: Vec<String>,
    /// The DPDK port's name; the first available port when absent.
    pub port: Option<String>,
    pub ipv4: Option<String>,
    pub prefix_len: Option<i64>,
    pub gateway: Option<String>,
    /// Static ARP entries.
    pub arp: Vec<ArpEntry>,
    /// How long to wait for the port's link to come up, in milliseconds (default 5000).
    pub link_timeout_ms: Option<u64>,
    /// A pcap file to record every frame the port sends and receives in (created, or replaced).
    pub pcap: Option<String>,
    /// TCP paces its sends (inetstack's `TcpConfig::pacing`); off when absent.
    pub pacing: Option<bool>,
    /// TCP asks for and accepts Explicit Congestion Notification (inetstack's `TcpConfig::ecn`); off when absent.
    pub ecn: Option<bool>,
    /// TCP asks for and accepts Accurate ECN, every congestion mark reported (inetstack's `TcpConfig::accurate_ecn`,
    /// RFC 9768; classic ECN with a peer that answers RFC 3168's way); off when absent.
    pub accurate_ecn: Option<bool>,
    /// TCP makes its segments smaller after timeouts in a row, and probes back up (an MTU black hole: inetstack's
    /// `TcpConfig::black_hole_detection`); on when absent.
    pub black_hole_detection: Option<bool>,
    /// TCP's congestion controller: "cubic" (when absent), "newreno" or "dctcp".
    pub congestion: Option<String>,
    /// Receive-buffer auto-tuning up to this many bytes (inetstack's `TcpConfig::recv_buffer_max`); inetstack's
    /// default (6 MiB) when absent, off when 0.
    pub recv_buffer_max: Option<u64>,
    /// Send-buffer auto-tuning up to this many bytes (inetstack's `TcpConfig::send_buffer_max`); inetstack's
    /// default (4 MiB) when absent, off when 0.
    pub send_buffer_max: Option<u64>,
    /// What all TCP connections may hold of received data together, in bytes (inetstack's
    /// `TcpConfig::receive_memory`); 1 GiB when absent.
    pub receive_memory: Option<u64>,
    /// What all TCP connections may hold of data to send together, in bytes (inetstack's
    /// `TcpConfig::send_memory`); 1 GiB when absent.
    pub send_memory: Option<u64>,
    /// The most TCP connections in TIME-WAIT at once (inetstack's `TcpConfig::max_time_wait`); 65 536 when absent.
    pub max_time_wait: Option<u64>,
    /// The most TCP connections closed by the application and not yet closed nor in TIME-WAIT at once (inetstack's
    /// `TcpConfig::max_orphans`); 65 536 when absent.
    pub max_orphans: Option<u64>,
}

/// The most `max_time_wait` and `max_orphans` may be.
const MAX_CONNECTION_LIMIT: u64 = 1 << 24;

/// The bounds of `receive_memory` and `send_memory` (inetstack's: a connection's floor, 4 KiB, and
/// `tcp::MAX_MEMORY_LIMIT`, 1 TiB).
const MEMORY_LIMIT: std::ops::RangeInclusive<u64> = 4096..=1 << 40;

/// inetstack's TCP send and receive buffers (256 KiB): the least an auto-tuning maximum may be (but 0, off).
const TCP_BUFFER: u64 = 256 * 1024;
/// The most an auto-tuning maximum may be (inetstack's `tcp::MAX_BUFFER`, 1 GiB).
const MAX_TCP_BUFFER: u64 = 1 << 30;

/// One static ARP entry of the `[catnip]` section.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArpEntry {
    pub ipv4: String,
    pub mac: String,
}

/// The `[catnip]` section, checked: what catnip on DPDK is built from.
#[derive(Clone, Debug, PartialEq)]
pub struct CatnipSettings {
    pub eal_args: Vec<String>,
    pub port: Option<String>,
    pub ipv4: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub arp: Vec<(Ipv4Addr, [u8; 6])>,
    pub link_timeout: Option<Duration>,
    pub pcap: Option<PathBuf>,
    pub pacing: bool,
    pub ecn: bool,
    pub accurate_ecn: bool,
    pub black_hole_detection: bool,
    pub congestion: Congestion,
    /// `None`: inetstack's default; `Some(0)`: no auto-tuning.
    pub recv_buffer_max: Option<usize>,
    /// `None`: inetstack's default; `Some(0)`: no auto-tuning.
    pub send_buffer_max: Option<usize>,
    pub receive_memory: Option<usize>,
    pub send_memory: Option<usize>,
    pub max_time_wait: Option<usize>,
    pub max_orphans: Option<usize>,
}

/// TCP's congestion controller, as the `[catnip]` section names it (inetstack's `CongestionAlgorithm`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Congestion {
    #[default]
    Cubic,
    NewReno,
    Dctcp,
}

impl Congestion {
    /// Every controller with its name in the configuration file.
    pub const NAMES: [(&'static str, Congestion); 3] =
        [("cubic", Congestion::Cubic), ("newreno", Congestion::NewReno), ("dctcp", Congestion::Dctcp)];

    /// Its name in the configuration file.
    pub fn name(self) -> &'static str {
        Self::NAMES.iter().find(|(_, c)| *c == self).map_or("cubic", |(name, _)| name)
    }
}

fn bad(what: String) -> Fail {
    Fail::with_context(libc::EINVAL, what)
}

fn parse_ipv4(key: &str, text: &str) -> Result<Ipv4Addr, Fail> {
    text.parse().map_err(|_| bad(format!("{key} = {text:?} is not an IPv4 address")))
}

fn parse_mac(key: &str, text: &str) -> Result<[u8; 6], Fail> {
    let error = || bad(format!("{key} = {text:?} is not a MAC address (like 02:00:00:00:00:01)"));
    let mut mac = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for byte in &mut mac {
        let part = parts.next().filter(|p| p.len() == 2).ok_or_else(error)?;
        *byte = u8::from_str_radix(part, 16).map_err(|_| error())?;
    }
    if parts.next().is_some() {
        return Err(error());
    }
    Ok(mac)
}

impl CatnipSection {
    /// Checks every value, naming the key of the first bad one.
    pub fn validate(&self) -> Result<CatnipSettings, Fail> {
        if self.eal_args.is_empty() {
            return Err(bad(
                "catnip.eal_args is empty: catnip needs DPDK's EAL arguments, including a device (--vdev=...)".into(),
            ));
        }
        let ipv4 = self.ipv4.as_deref().ok_or_else(|| bad("catnip.ipv4 is missing: catnip needs an address".into()))?;
        let ipv4 = parse_ipv4("catnip.ipv4", ipv4)?;
        if ipv4.is_unspecified() || ipv4.is_broadcast() || ipv4.is_multicast() {
            return Err(bad(format!("catnip.ipv4 = \"{ipv4}\" cannot be a host address")));
        }
        let prefix_len = match self.prefix_len {
            None => 24,
            Some(n @ 1..=32) => n as u8,
            Some(n) => return Err(bad(format!("catnip.prefix_len = {n} is not in 1..=32"))),
        };
        let gateway = self.gateway.as_deref().map(|g| parse_ipv4("catnip.gateway", g)).transpose()?;
        let arp = self
            .arp
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let ipv4 = parse_ipv4(&format!("catnip.arp[{i}].ipv4"), &entry.ipv4)?;
                let mac = parse_mac(&format!("catnip.arp[{i}].mac"), &entry.mac)?;
                Ok((ipv4, mac))
            })
            .collect::<Result<_, Fail>>()?;
        let link_timeout = match self.link_timeout_ms {
            None => None,
            Some(ms @ 1..=600_000) => Some(Duration::from_millis(ms)),
            Some(ms) => return Err(bad(format!("catnip.link_timeout_ms = {ms} is not in 1..=600000"))),
        };
        let pcap = match self.pcap.as_deref() {
            None => None,
            Some("") => return Err(bad("catnip.pcap is empty: name a file, or leave the key out".into())),
            Some(path) => Some(PathBuf::from(path)),
        };
        let congestion = match self.congestion.as_deref() {
            None => Congestion::default(),
            Some(name) => Congestion::NAMES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c).ok_or_else(|| {
                bad(format!("catnip.congestion = {name:?} is not one of \"cubic\", \"newreno\", \"dctcp\""))
            })?,
        };
        let buffer_max = |key: &str, value: Option<u64>| match value {
            None => Ok(None),
            Some(n @ (0 | TCP_BUFFER..=MAX_TCP_BUFFER)) => Ok(Some(n as usize)),
            Some(n) => {
                Err(bad(format!("catnip.{key} = {n} is neither 0 (off) nor in {TCP_BUFFER}..={MAX_TCP_BUFFER}")))
            }
        };
        let recv_buffer_max = buffer_max("recv_buffer_max", self.recv_buffer_max)?;
        let send_buffer_max = buffer_max("send_buffer_max", self.send_buffer_max)?;
        let memory_limit = |key: &str, value: Option<u64>| match value {
            None => Ok(None),
            Some(n) if MEMORY_LIMIT.contains(&n) => Ok(Some(n as usize)),
            Some(n) => {
                let (min, max) = (MEMORY_LIMIT.start(), MEMORY_LIMIT.end());
                Err(bad(format!("catnip.{key} = {n} is not in {min}..={max}")))
            }
        };
        let receive_memory = memory_limit("receive_memory", self.receive_memory)?;
        let send_memory = memory_limit("send_memory", self.send_memory)?;
        let connection_limit = |key: &str, value: Option<u64>| match value {
            None => Ok(None),
            Some(n @ 0..=MAX_CONNECTION_LIMIT) => Ok(Some(n as usize)),
            Some(n) => Err(bad(format!("catnip.{key} = {n} is not in 0..={MAX_CONNECTION_LIMIT}"))),
        };
        let max_time_wait = connection_limit("max_time_wait", self.max_time_wait)?;
        let max_orphans = connection_limit("max_orphans", self.max_orphans)?;
        Ok(CatnipSettings {
            eal_args: self.eal_args.clone(),
            port: self.port.clone(),
            ipv4,
            prefix_len,
            gateway,
            arp,
            link_timeout,
            pcap,
            pacing: self.pacing.unwrap_or(false),
            ecn: self.ecn.unwrap_or(false),
            accurate_ecn: self.accurate_ecn.unwrap_or(false),
            black_hole_detection: self.black_hole_detection.unwrap_or(true),
            congestion,
            recv_buffer_max,
            send_buffer_max,
            receive_memory,
            send_memory,
            max_time_wait,
            max_orphans,
        })
    }

    /// The checked section as catnip's DPDK configuration, and the pcap file to record to if it names one.
    #[cfg(feature = "catnip")]
    pub(crate) fn to_config(&self) -> Result<(catnip::dpdk::DpdkConfig, Option<PathBuf>), Fail> {
        let settings = self.validate()?;
        let mut config = catnip::dpdk::DpdkConfig::new(settings.eal_args, settings.ipv4, settings.prefix_len);
        config.device.port = settings.port;
        if let Some(timeout) = settings.link_timeout {
            config.device.link_timeout = timeout;
        }
        config.gateway = settings.gateway;
        config.static_arp = settings.arp.into_iter().map(|(ip, mac)| (ip, catnip::dpdk::MacAddress(mac))).collect();
        config.tcp.pacing = settings.pacing;
        config.tcp.ecn = settings.ecn;
        config.tcp.accurate_ecn = settings.accurate_ecn;
        config.tcp.black_hole_detection = settings.black_hole_detection;
        let maximum = |key: Option<usize>, default: Option<usize>| match key {
            None => default,
            Some(0) => None,
            Some(max) => Some(max),
        };
        config.tcp.recv_buffer_max = maximum(settings.recv_buffer_max, config.tcp.recv_buffer_max);
        config.tcp.send_buffer_max = maximum(settings.send_buffer_max, config.tcp.send_buffer_max);
        if let Some(limit) = settings.receive_memory {
            config.tcp.receive_memory = limit;
        }
        if let Some(limit) = settings.send_memory {
            config.tcp.send_memory = limit;
        }
        if let Some(limit) = settings.max_time_wait {
            config.tcp.max_time_wait = limit;
        }
        if let Some(limit) = settings.max_orphans {
            config.tcp.max_orphans = limit;
        }
        config.tcp.congestion = match settings.congestion {
            Congestion::Cubic => catnip::dpdk::CongestionAlgorithm::Cubic,
            Congestion::NewReno => catnip::dpdk::CongestionAlgorithm::NewReno,
            Congestion::Dctcp => catnip::dpdk::CongestionAlgorithm::Dctcp,
        };
        Ok((config, settings.pcap))
    }
}

impl Config {
    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, Fail> {
        toml::from_str(text)
            .map_err(|e| Fail::with_context(libc::EINVAL, format!("bad configuration: {}", e.message())))
    }

    /// Parses YAML text.
    pub fn from_yaml(text: &str) -> Result<Self, Fail> {
        serde_yaml_ng::from_str(text).map_err(|e| Fail::with_context(libc::EINVAL, format!("bad configuration: {e}")))
    }

    /// Reads a file; `.yaml`/`.yml` files are YAML, anything else TOML.
    pub fn from_file(path: &Path) -> Result<Self, Fail> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Fail::with_context(e.raw_os_error().unwrap_or(libc::EIO), format!("cannot read {}: {e}", path.display()))
        })?;
        let yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
        let parsed = if yaml { Self::from_yaml(&text) } else { Self::from_toml(&text) };
        parsed.map_err(|e| Fail::with_context(e.errno(), format!("{}: {}", path.display(), e.cause())))
    }

    /// The file named by `DEMI_CONFIG` (or defaults), with `DEMI_LIBOS` applied on top.
    pub fn from_env() -> Result<Self, Fail> {
        let mut config = match std::env::var_os(ENV_CONFIG) {
            Some(path) if !path.is_empty() => Self::from_file(Path::new(&path))?,
            _ => Self::default(),
        };
        if let Some(name) = std::env::var(ENV_LIBOS).ok().filter(|n| !n.is_empty()) {
            config.libos = Some(name);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_toml_and_yaml() {
        let toml = Config::from_toml("libos = \"catnap\"\n[catnap]\nspin_us = 0\n").unwrap();
        assert_eq!(toml.libos.as_deref(), Some("catnap"));
        assert_eq!(toml.catnap.spin_us, 0);
        assert_eq!(toml.catnap.recv_buffer_size, CatnapSection::default().recv_buffer_size);
        let yaml = Config::from_yaml("libos: catnap\ncatnap:\n  spin_us: 0\n").unwrap();
        assert_eq!(yaml, toml);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = Config::from_toml("lisbos = \"catnap\"").unwrap_err();
        assert_eq!(e.errno(), libc::EINVAL);
        assert!(e.cause().contains("lisbos"), "{e}");
        let e = Config::from_toml("[catnap]\nspin_us = \"fast\"").unwrap_err();
        assert!(e.cause().contains("invalid type"), "{e}");
        let e = Config::from_yaml("catnap:\n  recv_bufer_size: 1\n").unwrap_err();
        assert!(e.cause().contains("recv_bufer_size"), "{e}");
        let e = Config::from_toml("[catnap]\nrecv_buffer_size = 0").unwrap().catnap.to_config().unwrap_err();
        assert!(e.cause().contains("catnap.recv_buffer_size"), "{e}");
    }

    #[test]
    fn catnip_section_is_checked_key_by_key() {
        let text = "[catnip]\neal_args = [\"--no-pci\", \"--vdev=net_tap0\"]\nipv4 = \"10.99.0.1\"\n\
                    gateway = \"10.99.0.254\"\narp = [{ ipv4 = \"10.99.0.2\", mac = \"02:00:00:00:00:02\" }]\n";
        let settings = Config::from_toml(text).unwrap().catnip.validate().unwrap();
        assert_eq!(settings.ipv4, Ipv4Addr::new(10, 99, 0, 1));
        assert_eq!(settings.prefix_len, 24);
        assert_eq!(settings.gateway, Some(Ipv4Addr::new(10, 99, 0, 254)));
        assert_eq!(settings.arp, vec![(Ipv4Addr::new(10, 99, 0, 2), [2, 0, 0, 0, 0, 2])]);
        assert_eq!((settings.pcap.as_ref(), settings.pacing, settings.ecn), (None, false, false));
        let with_pcap = Config::from_toml(&format!("{text}pcap = \"/tmp/catnip.pcap\"\n")).unwrap();
        assert_eq!(with_pcap.catnip.validate().unwrap().pcap, Some(PathBuf::from("/tmp/catnip.pcap")));
        let with_pacing = Config::from_toml(&format!("{text}pacing = true\n")).unwrap();
        assert!(with_pacing.catnip.validate().unwrap().pacing);
        let e = Config::from_toml(&format!("{text}pacing = 1\n")).unwrap_err();
        assert!(e.cause().contains("invalid type"), "{e}");
        let with_ecn = Config::from_toml(&format!("{text}ecn = true\n")).unwrap();
        assert!(with_ecn.catnip.validate().unwrap().ecn);
        let e = Config::from_toml(&format!("{text}ecn = \"yes\"\n")).unwrap_err();
        assert!(e.cause().contains("invalid type"), "{e}");
        assert!(!settings.accurate_ecn, "off by default");
        let accurate = Config::from_toml(&format!("{text}accurate_ecn = true\n")).unwrap();
        assert!(accurate.catnip.validate().unwrap().accurate_ecn);
        assert!(settings.black_hole_detection, "on by default");
        let without = Config::from_toml(&format!("{text}black_hole_detection = false\n")).unwrap();
        assert!(!without.catnip.validate().unwrap().black_hole_detection);
        assert_eq!(settings.congestion, Congestion::Cubic);
        for (name, congestion) in Congestion::NAMES {
            let config = Config::from_toml(&format!("{text}congestion = \"{name}\"\n")).unwrap();
            assert_eq!(config.catnip.validate().unwrap().congestion, congestion);
            assert_eq!(congestion.name(), name);
        }
        assert_eq!((settings.recv_buffer_max, settings.send_buffer_max), (None, None), "inetstack's defaults");
        let tuned = Config::from_toml(&format!(
            "{text}recv_buffer_max = 4194304
send_buffer_max = 0
"
        ))
        .unwrap();
        let tuned = tuned.catnip.validate().unwrap();
        assert_eq!((tuned.recv_buffer_max, tuned.send_buffer_max), (Some(4 << 20), Some(0)));
        assert_eq!(settings.receive_memory, None, "inetstack's default");
        let limited = Config::from_toml(&format!("{text}receive_memory = 4096\n")).unwrap();
        assert_eq!(limited.catnip.validate().unwrap().receive_memory, Some(4096));
        assert_eq!(settings.send_memory, None, "inetstack's default");
        let limited = Config::from_toml(&format!("{text}send_memory = 1099511627776\n")).unwrap();
        assert_eq!(limited.catnip.validate().unwrap().send_memory, Some(1 << 40));
        assert_eq!(settings.max_time_wait, None, "inetstack's default");
        let limited = Config::from_toml(&format!("{text}max_time_wait = 0\n")).unwrap();
        assert_eq!(limited.catnip.validate().unwrap().max_time_wait, Some(0));
        assert_eq!(settings.max_orphans, None, "inetstack's default");
        let limited = Config::from_toml(&format!("{text}max_orphans = 16777216\n")).unwrap();
        assert_eq!(limited.catnip.validate().unwrap().max_orphans, Some(1 << 24));
        let yaml = "catnip:\n  eal_args: [--no-pci, --vdev=net_tap0]\n  ipv4: 10.99.0.1\n  gateway: 10.99.0.254\n  \
                    arp:\n    - { ipv4: 10.99.0.2, mac: \"02:00:00:00:00:02\" }\n";
        assert_eq!(Config::from_yaml(yaml).unwrap().catnip.validate().unwrap(), settings);

        let error = |text: &str| Config::from_toml(text).and_then(|c| c.catnip.validate().map(|_| ())).unwrap_err();
        let base = "[catnip]\neal_args = [\"--no-pci\"]\nipv4 = \"10.99.0.1\"\n";
        for (extra, key) in [
            ("prefix_len = 33", "catnip.prefix_len"),
            ("gateway = \"10.99.0\"", "catnip.gateway"),
            ("arp = [{ ipv4 = \"10.99.0.2\", mac = \"02:00:00:00:00\" }]", "catnip.arp[0].mac"),
            ("arp = [{ ipv4 = \"x\", mac = \"02:00:00:00:00:02\" }]", "catnip.arp[0].ipv4"),
            ("arp = [{ ipv4 = \"10.99.0.2\", mak = \"02:00:00:00:00:02\" }]", "mak"),
            ("eal_arg = []", "eal_arg"),
            ("link_timeout_ms = 0", "catnip.link_timeout_ms"),
            ("pcap = \"\"", "catnip.pcap"),
            ("congestion = \"bbr\"", "catnip.congestion"),
            ("congestion = \"Cubic\"", "catnip.congestion"),
            ("recv_buffer_max = 262143", "catnip.recv_buffer_max"),
            ("send_buffer_max = 1073741825", "catnip.send_buffer_max"),
            ("send_buffer_max = -1", "invalid value"),
            ("receive_memory = 4095", "catnip.receive_memory"),
            ("receive_memory = 1099511627777", "catnip.receive_memory"),
            ("send_memory = 4095", "catnip.send_memory"),
            ("send_memory = 1099511627777", "catnip.send_memory"),
            ("max_time_wait = 16777217", "catnip.max_time_wait"),
            ("max_time_wait = -1", "invalid value"),
            ("max_orphans = 16777217", "catnip.max_orphans"),
        ] {
            let e = error(&format!("{base}{extra}"));
            assert_eq!(e.errno(), libc::EINVAL);
            assert!(e.cause().contains(key), "{extra}: {e}");
        }
        assert!(error("[catnip]\nipv4 = \"10.99.0.1\"").cause().contains("catnip.eal_args"));
        assert!(error("[catnip]\neal_args = [\"-l\"]").cause().contains("catnip.ipv4"));
        assert!(error("[catnip]\neal_args = [\"-l\"]\nipv4 = \"255.255.255.255\"").cause().contains("catnip.ipv4"));
    }

    /// The bounds of the auto-tuning maxima are inetstack's: its default buffer and its largest; those of the limits
    /// on received data and on data to send too.
    #[cfg(feature = "catnip")]
    #[test]
    fn buffer_maxima_take_what_inetstack_takes() {
        let mut tcp = catnip::dpdk::DpdkConfig::new(Vec::new(), Ipv4Addr::new(10, 99, 0, 1), 24).tcp;
        assert_eq!((tcp.recv_buffer as u64, tcp.send_buffer as u64), (TCP_BUFFER, TCP_BUFFER));
        for max in [TCP_BUFFER, MAX_TCP_BUFFER] {
            (tcp.recv_buffer_max, tcp.send_buffer_max) = (Some(max as usize), Some(max as usize));
            assert!(tcp.validate().is_ok(), "{max}");
        }
        tcp.send_buffer_max = Some(MAX_TCP_BUFFER as usize + 1);
        assert!(tcp.validate().is_err());
        let text = "[catnip]\neal_args = [\"--no-pci\"]\nipv4 = \"10.99.0.1\"\n";
        let (config, _) = Config::from_toml(text).unwrap().catnip.to_config().unwrap();
        let defaults = catnip::dpdk::DpdkConfig::new(Vec::new(), Ipv4Addr::new(10, 99, 0, 1), 24).tcp;
        assert_eq!((config.tcp.recv_buffer_max, config.tcp.send_buffer_max), (Some(6 << 20), Some(4 << 20)));
        assert_eq!(
            (config.tcp.recv_buffer_max, config.tcp.send_buffer_max),
            (defaults.recv_buffer_max, defaults.send_buffer_max)
        );
        let (config, _) = Config::from_toml(&format!("{text}recv_buffer_max = 1048576\nsend_buffer_max = 2097152"))
            .unwrap()
            .catnip
            .to_config()
            .unwrap();
        assert_eq!((config.tcp.recv_buffer_max, config.tcp.send_buffer_max), (Some(1 << 20), Some(2 << 20)));
        let (config, _) = Config::from_toml(&format!("{text}recv_buffer_max = 0\nsend_buffer_max = 0"))
            .unwrap()
            .catnip
            .to_config()
            .unwrap();
        assert_eq!((config.tcp.recv_buffer_max, config.tcp.send_buffer_max), (None, None), "0: off");
        // The limits on received data and on data to send: inetstack takes the keys' bounds, and not one byte
        // past them.
        for (limit, valid) in [
            (*MEMORY_LIMIT.start(), true),
            (*MEMORY_LIMIT.end(), true),
            (MEMORY_LIMIT.start() - 1, false),
            (MEMORY_LIMIT.end() + 1, false),
        ] {
            let mut receive = catnip::dpdk::DpdkConfig::new(Vec::new(), Ipv4Addr::new(10, 99, 0, 1), 24).tcp;
            let mut send = receive.clone();
            (receive.receive_memory, send.send_memory) = (limit as usize, limit as usize);
            assert_eq!((receive.validate().is_ok(), send.validate().is_ok()), (valid, valid), "{limit}");
        }
        let limits = format!("{text}\nreceive_memory = 65536\nsend_memory = 32768");
        let (config, _) = Config::from_toml(&limits).unwrap().catnip.to_config().unwrap();
        assert_eq!((config.tcp.receive_memory, config.tcp.send_memory), (65536, 32768));
        let text = format!("{text}\nmax_time_wait = 100\nmax_orphans = 200");
        let (config, _) = Config::from_toml(&text).unwrap().catnip.to_config().unwrap();
        assert_eq!((config.tcp.max_time_wait, config.tcp.max_orphans), (100, 200));
    }

    #[test]
    fn missing_files_are_errors() {
        let e = Config::from_file(Path::new("/nonexistent/demi.toml")).unwrap_err();
        assert_eq!(e.errno(), libc::ENOENT);
    }
}
