//! Configuration: one TOML or YAML file, plus environment overrides.
//!
//! ```toml
//! libos = "catnap"          # or set DEMI_LIBOS
//! [catnap]
//! spin_us = 50              # how long an idle wait spins before blocking in epoll_wait
//! recv_buffer_size = 65536  # largest pop, bytes
//! ```
//! Unknown keys and bad values are errors (EINVAL) that name the key; nothing here panics.

use std::path::Path;
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
    pub(crate) fn to_config(&self) -> Result<catnap::CatnapConfig, Fail> {
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
    fn missing_files_are_errors() {
        let e = Config::from_file(Path::new("/nonexistent/demi.toml")).unwrap_err();
        assert_eq!(e.errno(), libc::ENOENT);
    }
}
