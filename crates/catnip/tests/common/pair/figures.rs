//! What a client reports: it prints each figure on a `RESULT key value` line beside its human-readable line, and
//! the parent collects those lines into `Figures`.

use std::time::Duration;

/// The figures one client reports (the UDP ones only where the test has a UDP part).
#[derive(Debug, Default)]
pub struct Figures {
    pub tcp_p50: f64,
    pub tcp_p99: f64,
    pub udp_p50: f64,
    pub udp_p99: f64,
    pub bulk_mbps: f64,
}

impl Figures {
    /// Takes the figure of a `RESULT key value` line; returns whether `line` was one.
    pub fn record(&mut self, line: &str) -> bool {
        let mut words = line.split_whitespace();
        if words.next() != Some("RESULT") {
            return false;
        }
        let key = words.next().unwrap_or_default();
        let value: f64 = words.next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
        match key {
            "tcp_p50_us" => self.tcp_p50 = value,
            "tcp_p99_us" => self.tcp_p99 = value,
            "udp_p50_us" => self.udp_p50 = value,
            "udp_p99_us" => self.udp_p99 = value,
            "bulk_MBps" => self.bulk_mbps = value,
            _ => {}
        }
        true
    }
}

/// Prints the median and 99th percentile of 64-byte round trips over `protocol` ("TCP" or "UDP").
pub fn report_round_trips(protocol: &str, mut times: Vec<Duration>) {
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let (p50, p99) = (us(times[times.len() / 2]), us(times[times.len() * 99 / 100]));
    println!("{protocol}: {} round trips of 64 B, p50 {p50:.1} us, p99 {p99:.1} us", times.len());
    println!("RESULT {}_p50_us {p50:.2}", protocol.to_lowercase());
    println!("RESULT {}_p99_us {p99:.2}", protocol.to_lowercase());
}

/// Checks the server's bulk reply (the SHA-256 of the `n` bytes it received, then the nanoseconds from first to
/// last byte) against `digest`, and prints the throughput.
pub fn report_bulk(n: usize, reply: &[u8], digest: &[u8]) {
    assert_eq!(&reply[..32], digest, "the server's SHA-256 of the bulk data differs from the client's");
    let nanos = u64::from_le_bytes(reply[32..40].try_into().unwrap());
    let mbps = n as f64 / (nanos as f64 / 1e9) / 1e6;
    println!("bulk: {} MiB, SHA-256 equal, {:.3} s first to last byte, {mbps:.0} MB/s", n >> 20, nanos as f64 / 1e9);
    println!("RESULT bulk_MBps {mbps:.1}");
}
