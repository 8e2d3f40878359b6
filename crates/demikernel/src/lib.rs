//! demikernel: a datapath OS for microsecond-scale systems. This crate picks a library OS by name or
//! configuration and hands it out behind the one PDPIX trait, `LibOs`, which it re-exports with its types.
//!
//! ```no_run
//! let mut libos = demikernel::new_libos("catnap").unwrap();
//! let qd = libos.queue().unwrap();
//! let qt = libos.push(qd, &demikernel::Sga::from_slice(b"hello").unwrap()).unwrap();
//! libos.wait(qt, None).unwrap();
//! ```

pub mod config;

pub use config::Config;
pub use pdpix::*;

/// One library OS this build knows of.
#[derive(Clone, Copy, Debug)]
pub struct LibOsInfo {
    pub name: &'static str,
    /// Whether this build contains it (Cargo feature).
    pub compiled: bool,
    pub description: &'static str,
}

/// Every libOS of the project, compiled into this build or not.
pub const LIBOSES: &[LibOsInfo] = &[
    LibOsInfo { name: "catnap", compiled: true, description: "POSIX sockets and epoll (runs anywhere)" },
    LibOsInfo {
        name: "catnip",
        compiled: cfg!(feature = "catnip"),
        description: "DPDK and demikernel's own TCP/IP stack (Cargo feature `catnip`)",
    },
    LibOsInfo { name: "catmint", compiled: false, description: "RDMA verbs (not built yet)" },
    LibOsInfo { name: "cattree", compiled: false, description: "log-structured storage queues (not built yet)" },
];

/// The libOS used when neither the caller, the file nor `DEMI_LIBOS` names one.
pub const DEFAULT_LIBOS: &str = "catnap";

/// A libOS by name, with default settings.
pub fn new_libos(name: &str) -> Result<Box<dyn LibOs>, Fail> {
    from_config(&Config { libos: Some(name.to_owned()), ..Config::default() })
}

/// A libOS as `config` describes it.
pub fn from_config(config: &Config) -> Result<Box<dyn LibOs>, Fail> {
    let name = config.libos.as_deref().unwrap_or(DEFAULT_LIBOS);
    match name {
        "catnap" => Ok(Box::new(catnap::Catnap::new(config.catnap.to_config()?)?)),
        #[cfg(feature = "catnip")]
        "catnip" => catnip_from(&config.catnip),
        other => match LIBOSES.iter().find(|l| l.name == other) {
            Some(info) => Err(Fail::with_context(
                libc::ENOTSUP,
                format!("libOS {other:?} is not in this build: {}", info.description),
            )),
            None => {
                let known: Vec<_> = LIBOSES.iter().map(|l| l.name).collect();
                Err(Fail::with_context(libc::EINVAL, format!("unknown libOS {other:?} (known: {})", known.join(", "))))
            }
        },
    }
}

/// catnip as the `[catnip]` section describes it, recording to its `pcap` file if it names one. The port and
/// EAL outlive the instance (EAL starts once per process): the next catnip of this thread with the same
/// `[catnip]` device settings reuses them with a fresh stack.
#[cfg(feature = "catnip")]
fn catnip_from(section: &config::CatnipSection) -> Result<Box<dyn LibOs>, Fail> {
    let (dpdk, pcap) = section.to_config()?;
    let Some(path) = pcap else {
        return Ok(Box::new(catnip::dpdk::new_libos_shared(&dpdk)?));
    };
    let sink = catnip::PcapSink::create(&path).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        Fail::with_context(errno, format!("catnip.pcap: cannot create {}: {e}", path.display()))
    })?;
    Ok(Box::new(catnip::dpdk::new_libos_shared_with(&dpdk, |device| catnip::PcapWriter::new(device, sink))?))
}

/// A libOS as the environment describes it (`DEMI_CONFIG`, `DEMI_LIBOS`; see [`config`]).
pub fn from_env() -> Result<Box<dyn LibOs>, Fail> {
    from_config(&Config::from_env()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_catnap_and_names_what_it_cannot_build() {
        assert_eq!(new_libos("catnap").unwrap().name(), "catnap");
        let e = new_libos("catnip").err().unwrap();
        if cfg!(feature = "catnip") {
            // Built, but it needs an address and EAL arguments: checked before DPDK is touched.
            assert_eq!(e.errno(), libc::EINVAL);
            assert!(e.cause().contains("catnip.eal_args"), "{e}");
        } else {
            assert_eq!(e.errno(), libc::ENOTSUP);
            assert!(e.cause().contains("catnip"));
        }
        assert_eq!(LIBOSES.iter().find(|l| l.name == "catnip").map(|l| l.compiled), Some(cfg!(feature = "catnip")));
        let e = new_libos("catnop").err().unwrap();
        assert_eq!(e.errno(), libc::EINVAL);
        assert!(e.cause().contains("catnop") && e.cause().contains("catnap"));
    }
}
