//! What the tests against Linux share: the addresses, the namespace with its veth pair (set up by
//! `ci/netns.sh`, removed on drop), processes inside it, and hugepage detection.
//!
//! Each test binary uses a different subset, hence `dead_code` is allowed here (and only here).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::Ipv4Addr;
use std::process::{Child, ChildStdout, Command, Stdio};

pub const CATNIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
pub const LINUX: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
pub const NAMESPACE: &str = "demipeer";
pub const PYTHON: &str = "/usr/bin/python3";

/// Whether EAL can use hugepages here (mounted, enough free); `DPDK_SYS_NO_HUGE=1` forces `--no-huge`.
pub fn hugepages_usable() -> bool {
    if std::env::var("DPDK_SYS_NO_HUGE").as_deref() == Ok("1") {
        return false;
    }
    let mounted = std::fs::read_to_string("/proc/mounts").is_ok_and(|m| {
        m.lines().any(|l| l.split_whitespace().nth(1) == Some("/dev/hugepages") && l.contains("hugetlbfs"))
    });
    let free = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines().find_map(|l| l.strip_prefix("HugePages_Free:").and_then(|v| v.trim().parse::<u64>().ok()))
    });
    mounted && free.is_some_and(|f| f >= 256)
}

/// The veth pair and namespace, removed when dropped (also when a scenario panics).
pub struct Namespace;

impl Namespace {
    pub fn up() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ci/netns.sh");
        let status = Command::new(script).arg("up").status().expect("run ci/netns.sh up");
        assert!(status.success(), "ci/netns.sh up failed: {status}");
        Self
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../ci/netns.sh");
        let _ = Command::new(script).arg("down").status();
    }
}

/// A process in the namespace, with its stdout piped.
pub fn in_namespace(args: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", NAMESPACE])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    (child, stdout)
}

/// Reads the child's "ready" line (its socket is bound).
pub fn wait_ready(stdout: &mut BufReader<ChildStdout>) {
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read the peer's stdout");
    assert_eq!(line.trim(), "ready", "the Linux peer did not start");
}

/// Everything the child prints after that.
pub fn rest_of(mut stdout: BufReader<ChildStdout>) -> String {
    let mut text = String::new();
    stdout.read_to_string(&mut text).expect("read the peer's stdout");
    text
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
