//! Whether a DPDK test can run here. One that cannot prints SKIPPED and passes, unless `DPDK_SYS_REQUIRE_TESTS=1`
//! (as in `ci/dpdk-tests.sh`), where it fails.

/// Why the test cannot run, if the process is not root; `needs` says what root is needed for.
pub fn not_root(needs: &str) -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    (euid != 0).then(|| format!("needs root (euid is {euid}) for {needs}"))
}

/// Whether the test `name` must be skipped because of `reason` (none: it runs). Prints SKIPPED with the reason,
/// or panics if the DPDK tests are required.
pub fn skipped(name: &str, reason: Option<String>) -> bool {
    let Some(reason) = reason else { return false };
    if std::env::var("DPDK_SYS_REQUIRE_TESTS").as_deref() == Ok("1") {
        panic!("DPDK tests required (DPDK_SYS_REQUIRE_TESTS=1) but cannot run: {reason}");
    }
    println!("SKIPPED {name}: {reason}");
    true
}

/// Why a test against Linux in the namespace cannot run here, if it cannot: it needs root, and Python for the
/// Linux side.
pub fn cannot_run_against_linux() -> Option<String> {
    not_root("EAL, network namespaces and veth pairs").or_else(|| {
        let python = super::PYTHON;
        (!std::path::Path::new(python).exists())
            .then(|| format!("{python} is missing (the Linux side of the test is Python)"))
    })
}
