//! The parent's bookkeeping: the children it spawns and the files they leave (removed when the test ends, also on
//! a panic), waiting for a pair of children while echoing their output, and the Linux loopback pair.

use std::io::{BufRead, BufReader, Read};
use std::process::Child;
use std::time::{Duration, Instant};

use super::Roles;
use super::figures::Figures;

/// Kills children and removes files and directories when the test ends, also on a panic.
#[derive(Default)]
pub struct Cleanup {
    /// Each running child with the role it runs.
    pub children: Vec<(String, Child)>,
    pub files: Vec<String>,
    pub dirs: Vec<String>,
}

impl Cleanup {
    /// Spawns a child in `role` (see `Roles::spawn`) and keeps it here.
    pub fn spawn(&mut self, roles: &Roles, role: &str, vars: &[(&str, &str)]) {
        self.children.push((role.to_owned(), roles.spawn(role, vars)));
    }

    /// Waits up to 30 s for the last child spawned, `who`, to create `socket`.
    pub fn wait_for_socket(&mut self, socket: &str, who: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::path::Path::new(socket).exists() {
            assert!(Instant::now() < deadline, "{who} did not create {socket} within 30 s");
            let (_, child) = self.children.last_mut().expect("a child");
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!("{who} exited early: {status}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The load average, for the figures' context.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|l| l.trim().to_owned()).unwrap_or_default()
}

/// Waits for `child` up to `limit`; kills it past that. How it ended if not successfully (its exit code or
/// the signal that killed it, which a child that crashes prints nothing about).
fn wait_child(child: &mut Child, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return if status.success() { Ok(()) } else { Err(status.to_string()) };
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("killed after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the pair `what`, the last two children (a server and a client, in either order), each up to
/// `limit`. Their output is echoed line by line, each from its own thread so that no pipe fills, and marked with
/// the side (`[server]` or `[client]`); returns the figures they printed as `RESULT key value` lines.
pub fn finish_pair(guard: &mut Cleanup, what: &str, limit: Duration) -> Figures {
    let at = guard.children.len() - 2;
    let mut readers = Vec::new();
    for (role, child) in &mut guard.children[at..] {
        let out = child.stdout.take().expect("piped");
        // The side is the last word of the role ("catnip-server" is a server).
        let side = role.rsplit('-').next().unwrap_or_default().to_owned();
        readers.push(std::thread::spawn(move || {
            let mut figures = Figures::default();
            let mut reported = false;
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                println!("  [{side}] {line}");
                reported |= figures.record(&line);
            }
            reported.then_some(figures)
        }));
    }
    let ends: Vec<Result<(), String>> =
        guard.children[at..].iter_mut().map(|(_, child)| wait_child(child, limit)).collect();
    let figures: Vec<Option<Figures>> = readers.into_iter().map(|r| r.join().expect("reader")).collect();
    guard.children.truncate(at);
    assert!(ends.iter().all(Result::is_ok), "{what}: a side failed (how each ended: {ends:?})");
    figures.into_iter().flatten().next().unwrap_or_else(|| panic!("{what}: no figures"))
}

/// The Linux pair over loopback, server and client pinned as the catnip pair is; `spin`: non-blocking sockets
/// polled in a loop (as catnip polls), else blocking ones. The server prints `ready` and its ports, which the
/// client is given.
pub fn linux_pair(guard: &mut Cleanup, roles: &Roles, spin: bool) -> Figures {
    let (cpu_server, cpu_client) = super::cpus();
    let spin_var = if spin { "1" } else { "0" };
    guard.spawn(roles, "linux-server", &[("CPU", &cpu_server), ("SPIN", spin_var)]);
    // Read the "ready <ports>" line a byte at a time, so that nothing after it is buffered here and lost.
    let (_, server) = guard.children.last_mut().expect("the server");
    let stdout = server.stdout.as_mut().expect("piped");
    let mut line = Vec::new();
    let ports = loop {
        let mut byte = [0u8];
        assert_eq!(stdout.read(&mut byte).expect("read the Linux server's stdout"), 1, "the Linux server exited");
        if byte[0] != b'\n' {
            line.push(byte[0]);
            continue;
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        line.clear();
        // The test harness prints "test role ... " on the same line first.
        if let Some(at) = text.find("ready ") {
            break text[at + "ready ".len()..].trim().to_owned();
        }
    };
    guard.spawn(roles, "linux-client", &[("CPU", &cpu_client), ("SPIN", spin_var), ("PORTS", &ports)]);
    let what = if spin { "Linux loopback, spinning" } else { "Linux loopback, blocking" };
    finish_pair(guard, what, roles.child_limit)
}
