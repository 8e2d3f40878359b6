//! Build script: finds the system DPDK with `pkg-config libdpdk`, compiles the C shim (`csrc/shim.c`) with its
//! flags, links the DPDK shared libraries, and generates the Rust bindings with bindgen into `$OUT_DIR`.
//!
//! Flags are taken from pkg-config with one change: every `-march=...` is dropped. Debian's libdpdk.pc carries
//! `-march=corei7` (the CPU DPDK itself was built for), and a locally built DPDK often carries `-march=native`,
//! which would tie our objects to the build machine's CPU (and its tuning) for no gain: the shim only forwards
//! calls, and no struct layout or constant we bind depends on `-march`. In its place, on x86-64 only, we add
//! `-msse4.2`: DPDK's x86 headers do not compile without SSSE3 (rte_memcpy.h uses `_mm_alignr_epi8`), and SSE4.2
//! is DPDK's documented x86 minimum, which EAL enforces at start-up anyway, so this asks for nothing DPDK does not
//! already require.
//!
//! Linking is dynamic, against the `-l` libraries pkg-config lists. The poll-mode drivers (net_ring, net_null,
//! net_tap, net_memif, ...) are not linked: Debian's EAL loads them at run time from its plugin directory
//! (`/usr/lib/<triple>/dpdk/pmds-<abi>/`, compiled into librte_eal as `RTE_EAL_PMD_PATH`).

use std::env;
use std::path::PathBuf;
use std::process::Command;

const INSTALL_HINT: &str = "run `ci/install-dpdk.sh` as root (it installs Debian's dpdk, libdpdk-dev, pkg-config, \
     clang and libclang-dev), or point PKG_CONFIG_PATH at the directory holding libdpdk.pc";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc/shim.h");
    println!("cargo:rerun-if-changed=csrc/shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_SYSROOT_DIR");

    let version = pkg_config(&["--modversion"]);
    let cflags = portable_cflags(&pkg_config(&["--cflags"]));
    let libs = pkg_config(&["--libs"]);

    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let csrc = manifest_dir.join("csrc");

    // The shim first: cc prints `rustc-link-lib=static=dpdk_shim` and the linker must see it before the DPDK
    // shared libraries whose symbols it uses (rustc passes `--as-needed`, so order matters).
    // DPDK's include directories are passed as system directories (`-isystem`) so that warnings stay on for the
    // shim itself (and are errors) without reporting DPDK's own headers.
    let mut shim = cc::Build::new();
    shim.file(csrc.join("shim.c")).include(&csrc).opt_level(2).warnings(true).extra_warnings(true);
    shim.warnings_into_errors(true);
    for flag in &cflags {
        match flag.strip_prefix("-I") {
            Some(dir) => shim.flag("-isystem").flag(dir),
            None => shim.flag(flag),
        };
    }
    shim.compile("dpdk_shim");

    link_dpdk(&libs);
    generate_bindings(&csrc, &cflags);

    // Metadata for crates that depend on us (`DEP_DPDK_VERSION`, `DEP_DPDK_INCLUDE`, `DEP_DPDK_CFLAGS`).
    println!("cargo:version={}", version.trim());
    println!("cargo:include={}", csrc.display());
    println!("cargo:cflags={}", cflags.join(" "));
}

/// Runs `pkg-config <args> libdpdk` and returns its standard output; panics with the install hint if pkg-config is
/// missing or does not know libdpdk.
fn pkg_config(args: &[&str]) -> String {
    let output = Command::new("pkg-config").args(args).arg("libdpdk").output().unwrap_or_else(|e| {
        panic!("\n\ndpdk-sys: cannot run pkg-config ({e}): DPDK is needed to build this crate; {INSTALL_HINT}\n\n")
    });
    if !output.status.success() {
        panic!(
            "\n\ndpdk-sys: `pkg-config {} libdpdk` failed: DPDK is not installed (or not visible to pkg-config); \
             {INSTALL_HINT}\npkg-config said: {}\n",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).expect("pkg-config printed non-UTF-8 output")
}

/// Splits pkg-config's cflags into arguments and drops the CPU-specific ones (see the module documentation).
/// pkg-config's output for libdpdk has no quoted arguments, so splitting on whitespace is exact.
fn portable_cflags(cflags: &str) -> Vec<String> {
    let mut flags: Vec<String> =
        cflags.split_whitespace().filter(|flag| !flag.starts_with("-march=")).map(str::to_owned).collect();
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        flags.push("-msse4.2".to_owned());
    }
    flags
}

/// Emits the link directives for pkg-config's `--libs`: `-L` becomes a search path, `-l` a dynamic library.
/// `-Wl,--as-needed` is dropped: rustc already links with `--as-needed` on Linux, so the libraries we list but never
/// call (libdpdk.pc lists all of DPDK) do not become run-time dependencies.
fn link_dpdk(libs: &str) {
    for arg in libs.split_whitespace() {
        if let Some(dir) = arg.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = arg.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        } else if arg != "-Wl,--as-needed" && arg != "-pthread" {
            println!("cargo:warning=dpdk-sys: ignoring pkg-config link flag `{arg}`");
        }
    }
}

/// Generates `$OUT_DIR/bindings.rs` from `csrc/shim.h` (which includes the DPDK headers), keeping only what a
/// libOS needs: EAL and lcores, mbuf pools, the ethdev control path, the mbuf structure and its flags, the ethdev
/// offload constants, and the shim's functions. Everything those items mention is pulled in with them.
fn generate_bindings(csrc: &std::path::Path, cflags: &[String]) {
    const FUNCTIONS: &[&str] = &[
        // EAL, lcores and errors.
        "rte_eal_init",
        "rte_eal_cleanup",
        "rte_eal_process_type",
        "rte_eal_has_hugepages",
        "rte_strerror",
        "rte_socket_id",
        "rte_lcore_count",
        "rte_lcore_is_enabled",
        "rte_lcore_to_socket_id",
        "rte_get_main_lcore",
        "rte_get_next_lcore",
        "rte_eal_remote_launch",
        "rte_eal_wait_lcore",
        "rte_eal_mp_wait_lcore",
        // Mempools of mbufs.
        "rte_pktmbuf_pool_create",
        "rte_mempool_free",
        "rte_mempool_lookup",
        "rte_mempool_avail_count",
        "rte_mempool_in_use_count",
        // ethdev control path.
        "rte_eth_dev_count_avail",
        "rte_eth_dev_is_valid_port",
        "rte_eth_find_next",
        "rte_eth_dev_get_name_by_port",
        "rte_eth_dev_get_port_by_name",
        "rte_eth_dev_socket_id",
        "rte_eth_dev_info_get",
        "rte_eth_dev_configure",
        "rte_eth_dev_adjust_nb_rx_tx_desc",
        "rte_eth_rx_queue_setup",
        "rte_eth_tx_queue_setup",
        "rte_eth_dev_start",
        "rte_eth_dev_stop",
        "rte_eth_dev_close",
        "rte_eth_macaddr_get",
        "rte_eth_link_get",
        "rte_eth_link_get_nowait",
        "rte_eth_link_to_str",
        "rte_eth_promiscuous_enable",
        "rte_eth_promiscuous_disable",
        "rte_eth_promiscuous_get",
        "rte_eth_dev_set_mtu",
        "rte_eth_dev_get_mtu",
        "rte_eth_stats_get",
        // Devices behind ports (their arguments), and DPDK's memory map (is an address DPDK memory? its IOVA).
        "rte_dev_devargs",
        "rte_dev_name",
        "rte_mem_virt2memseg_list",
        "rte_mem_virt2iova",
        "rte_eal_iova_mode",
        // The shim (static inlines made callable).
        "dpdk_shim_.*",
    ];
    const TYPES: &[&str] = &[
        "rte_mbuf",
        "rte_mempool",
        "rte_ether_addr",
        "rte_ether_hdr",
        "rte_eth_conf",
        "rte_eth_rxconf",
        "rte_eth_txconf",
        "rte_eth_dev_info",
        "rte_eth_link",
        "rte_eth_stats",
        "rte_proc_type_t",
        "rte_devargs",
        "rte_mbuf_ext_shared_info",
        "rte_ipv4_hdr",
    ];
    const CONSTANTS: &[&str] = &[
        "RTE_MBUF_F_.*",
        "RTE_ETH_RX_OFFLOAD_.*",
        "RTE_ETH_TX_OFFLOAD_.*",
        "RTE_ETH_LINK_.*",
        "RTE_ETH_SPEED_NUM_.*",
        "RTE_ETH_NAME_MAX_LEN",
        "RTE_ETHER_.*",
        "RTE_MBUF_DEFAULT_BUF_SIZE",
        "RTE_MBUF_DEFAULT_DATAROOM",
        "RTE_PKTMBUF_HEADROOM",
        "RTE_MBUF_MAX_NB_SEGS",
        "RTE_MEMPOOL_CACHE_MAX_SIZE",
        "RTE_MAX_ETHPORTS",
        "RTE_MAX_LCORE",
        "RTE_MAX_QUEUES_PER_PORT",
        "SOCKET_ID_ANY",
        "LCORE_ID_ANY",
        "E_RTE_.*",
        "RTE_MAX_ERRNO",
    ];

    let mut builder = bindgen::Builder::default()
        .header(csrc.join("shim.h").to_string_lossy())
        .clang_args(cflags)
        .clang_arg(format!("-I{}", csrc.display()))
        // Offload constants are written with the function-like macro RTE_BIT64, which bindgen's own macro
        // evaluator cannot expand: let clang evaluate those.
        .clang_macro_fallback()
        // C enums become a type alias plus constants named as in C (`RTE_ETH_MQ_RX_NONE: rte_eth_rx_mq_mode`),
        // never Rust enums: a value DPDK adds later must not be undefined behaviour in Rust.
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .derive_default(true)
        .generate_cstr(true)
        .layout_tests(true)
        .parse_callbacks(Box::new(ConstantTypes))
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for f in FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    for t in TYPES {
        builder = builder.allowlist_type(t);
    }
    for c in CONSTANTS {
        builder = builder.allowlist_var(c);
    }

    let bindings = builder
        .generate()
        .unwrap_or_else(|e| panic!("\n\ndpdk-sys: bindgen failed on the DPDK headers ({e}); {INSTALL_HINT}\n\n"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("bindings.rs");
    bindings.write_to_file(&out).unwrap_or_else(|e| panic!("dpdk-sys: cannot write {}: {e}", out.display()));
}

/// Gives macro constants the type of the field they are used with, so callers need no casts: offload flags are
/// `u64` like `rte_eth_rxmode::offloads`, mbuf flags `u64` like `rte_mbuf::ol_flags` (bindgen would pick `u32`
/// for the small ones), EtherTypes are `u16`.
#[derive(Debug)]
struct ConstantTypes;

impl bindgen::callbacks::ParseCallbacks for ConstantTypes {
    fn int_macro(&self, name: &str, _value: i64) -> Option<bindgen::callbacks::IntKind> {
        use bindgen::callbacks::IntKind;
        if name.starts_with("RTE_ETH_RX_OFFLOAD_")
            || name.starts_with("RTE_ETH_TX_OFFLOAD_")
            || name.starts_with("RTE_MBUF_F_")
        {
            Some(IntKind::U64)
        } else if name.starts_with("RTE_ETHER_TYPE_") {
            Some(IntKind::U16)
        } else {
            None
        }
    }
}
