//! What the two-process catnip tests (`memif.rs`, `vhost.rs`) share. Each test binary re-runs itself as a server
//! and a client pinned to two CPUs, first as two catnip processes over the device under test, then as two
//! processes over Linux loopback with `std::net`, and prints both sets of figures side by side.
//!
//! This file holds the contract between the parent and its children (which role a child runs and with which
//! parameters); `parent` is the parent's bookkeeping, `workload` what every client runs against its server,
//! `figures` what a client reports, `catnip` and `linux` the two implementations of the server and the client.

pub mod catnip;
pub mod figures;
pub mod linux;
pub mod parent;
pub mod workload;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How a test names its children's roles and parameters: a child runs only the test function `role`, with the
/// variable `{prefix}_ROLE` naming its part (`catnip-server`, `linux-client`, ...) and each parameter `NAME` in
/// `{prefix}_{NAME}`.
pub struct Roles {
    /// The prefix of the variables, such as `CATNIP_MEMIF`.
    pub prefix: &'static str,
    /// How long a child may run before the parent kills it.
    pub child_limit: Duration,
}

impl Roles {
    /// Whether this process is a child (then the parent's test function does nothing).
    pub fn in_child(&self) -> bool {
        std::env::var_os(format!("{}_ROLE", self.prefix)).is_some()
    }

    /// The role this process runs, if it is a child. A child also dies with its parent, even if the parent is
    /// killed outright (its guards cannot run then).
    pub fn current(&self) -> Option<String> {
        let role = std::env::var(format!("{}_ROLE", self.prefix)).ok()?;
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and no pointers.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        Some(role)
    }

    /// The parameter `name` this child was given (empty if none).
    pub fn var(&self, name: &str) -> String {
        std::env::var(format!("{}_{name}", self.prefix)).unwrap_or_default()
    }

    /// The parameter `name` as a number, if it is set to one.
    pub fn usize_var(&self, name: &str) -> Option<usize> {
        self.var(name).parse().ok()
    }

    /// Spawns this test binary again to run `role` with the parameters `vars`, its stdout piped.
    pub fn spawn(&self, role: &str, vars: &[(&str, &str)]) -> Child {
        let exe = std::env::current_exe().expect("current_exe");
        let mut command = Command::new(exe);
        command.args(["role", "--exact", "--nocapture", "--test-threads=1"]).stdout(Stdio::piped());
        command.env(format!("{}_ROLE", self.prefix), role);
        for (name, value) in vars {
            command.env(format!("{}_{name}", self.prefix), value);
        }
        command.spawn().unwrap_or_else(|e| panic!("spawn {role}: {e}"))
    }
}

/// The two CPUs to pin the server and the client to (the same one on a 1-CPU machine).
pub fn cpus() -> (String, String) {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    ("0".to_owned(), if n > 1 { "1" } else { "0" }.to_owned())
}

/// Pins the calling thread to CPU `cpu`.
pub fn pin(cpu: &str) {
    let cpu: usize = cpu.parse().expect("a CPU number");
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and sched_setaffinity get a valid pointer and its
    // size; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set), 0, "pin to CPU {cpu}");
    }
}
