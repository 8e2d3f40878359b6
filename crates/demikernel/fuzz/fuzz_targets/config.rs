//! demikernel's configuration file (`demikernel::config`): the first byte picks the format (even: TOML, odd:
//! YAML; the seeds start with `T` or `Y`), the rest is the file's text. Whatever the text, parsing and then
//! checking both sections (catnap's, and catnip's without DPDK) give a value or an EINVAL error that names the
//! problem, never a panic; and what the checks accept holds what they promise: a catnip address that is a host
//! address, a prefix length in 1..=32, catnap values in range; checked catnip settings written back as a section
//! check to the same settings.
#![no_main]

use std::time::Duration;

use demikernel::Config;
use demikernel::config::{ArpEntry, CatnipSection};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&format, text)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let parsed = if format % 2 == 0 { Config::from_toml(text) } else { Config::from_yaml(text) };
    let config = match parsed {
        Ok(config) => config,
        Err(e) => {
            assert_eq!(e.errno(), libc::EINVAL, "{e}");
            assert!(e.cause().starts_with("bad configuration: "), "{e}");
            return;
        }
    };

    match config.catnap.to_config() {
        Ok(catnap) => {
            assert_eq!(catnap.recv_buffer_size, config.catnap.recv_buffer_size);
            assert!((1..=demikernel::MAX_SGA_LEN).contains(&catnap.recv_buffer_size));
            assert_eq!(catnap.spin, Duration::from_micros(config.catnap.spin_us));
            assert!(catnap.spin <= Duration::from_secs(1));
        }
        Err(e) => {
            assert_eq!(e.errno(), libc::EINVAL, "{e}");
            assert!(e.cause().starts_with("catnap."), "{e}");
        }
    }

    match config.catnip.validate() {
        Ok(settings) => {
            let ip = settings.ipv4;
            assert!(!ip.is_unspecified() && !ip.is_broadcast() && !ip.is_multicast(), "{ip}");
            assert!((1..=32).contains(&settings.prefix_len), "{}", settings.prefix_len);
            assert!(!settings.eal_args.is_empty());
            assert_eq!(settings.eal_args, config.catnip.eal_args);
            assert_eq!(settings.arp.len(), config.catnip.arp.len());
            if let Some(timeout) = settings.link_timeout {
                assert!(Duration::from_millis(1) <= timeout && timeout <= Duration::from_secs(600), "{timeout:?}");
            }
            assert!(settings.pcap.as_ref().is_none_or(|p| !p.as_os_str().is_empty()));
            assert_eq!(settings.pacing, config.catnip.pacing.unwrap_or(false));
            assert_eq!(settings.ecn, config.catnip.ecn.unwrap_or(false));
            assert_eq!(settings.accurate_ecn, config.catnip.accurate_ecn.unwrap_or(false));
            assert_eq!(settings.black_hole_detection, config.catnip.black_hole_detection.unwrap_or(true));
            assert_eq!(settings.congestion.name(), config.catnip.congestion.as_deref().unwrap_or("cubic"));
            for (max, key) in [
                (settings.recv_buffer_max, config.catnip.recv_buffer_max),
                (settings.send_buffer_max, config.catnip.send_buffer_max),
            ] {
                assert_eq!(max.map(|m| m as u64), key);
                assert!(max.is_none_or(|m| m == 0 || (256 << 10..=1 << 30).contains(&m)), "{max:?}");
            }
            for (limit, key) in [
                (settings.receive_memory, config.catnip.receive_memory),
                (settings.send_memory, config.catnip.send_memory),
            ] {
                assert_eq!(limit.map(|m| m as u64), key);
                assert!(limit.is_none_or(|m| (4096..=1 << 40).contains(&m)), "{settings:?}");
            }
            for (limit, key) in [
                (settings.max_time_wait, config.catnip.max_time_wait),
                (settings.max_orphans, config.catnip.max_orphans),
            ] {
                assert_eq!(limit.map(|m| m as u64), key);
                assert!(limit.is_none_or(|m| m <= 1 << 24), "{settings:?}");
            }
            // The settings in their canonical text check to themselves: addresses and MACs print as they parse.
            let section = CatnipSection {
                eal_args: settings.eal_args.clone(),
                port: settings.port.clone(),
                ipv4: Some(settings.ipv4.to_string()),
                prefix_len: Some(i64::from(settings.prefix_len)),
                gateway: settings.gateway.map(|g| g.to_string()),
                arp: settings
                    .arp
                    .iter()
                    .map(|(ipv4, mac)| ArpEntry {
                        ipv4: ipv4.to_string(),
                        mac: mac.map(|b| format!("{b:02x}")).join(":"),
                    })
                    .collect(),
                link_timeout_ms: settings.link_timeout.map(|t| u64::try_from(t.as_millis()).unwrap()),
                pcap: settings.pcap.as_ref().map(|p| p.to_str().unwrap().to_owned()),
                pacing: Some(settings.pacing),
                ecn: Some(settings.ecn),
                accurate_ecn: Some(settings.accurate_ecn),
                black_hole_detection: Some(settings.black_hole_detection),
                congestion: Some(settings.congestion.name().to_owned()),
                recv_buffer_max: settings.recv_buffer_max.map(|m| m as u64),
                send_buffer_max: settings.send_buffer_max.map(|m| m as u64),
                receive_memory: settings.receive_memory.map(|m| m as u64),
                send_memory: settings.send_memory.map(|m| m as u64),
                max_time_wait: settings.max_time_wait.map(|m| m as u64),
                max_orphans: settings.max_orphans.map(|m| m as u64),
            };
            assert_eq!(section.validate().expect("checked settings check again"), settings);
        }
        Err(e) => {
            assert_eq!(e.errno(), libc::EINVAL, "{e}");
            assert!(e.cause().starts_with("catnip."), "{e}");
        }
    }
});
