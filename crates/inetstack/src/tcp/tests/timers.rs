//! Timers: RTO per RFC 6298 with backoff and give-up, RTT measurement with and without timestamps, keepalive.

use std::time::Duration;

use super::util::{config, data_segments, established, sent_by, sga};
use crate::tcp::harness::{LinkFaults, Side};
use crate::tcp::{Nanos, TcpConfig, TcpState};

#[test]
fn rtt_is_measured_with_timestamps() {
    let mut harness = established(&config(), &config(), LinkFaults::default(), 50);
    harness.a.send(&sga(&vec![0u8; 200_000])).expect("send");
    harness.run_for(Duration::from_secs(1));
    let srtt = harness.a.smoothed_rtt().expect("measured");
    // 10 ms of path plus at most one delayed-ACK wait on some samples.
    assert!(srtt >= Duration::from_millis(10) && srtt < Duration::from_millis(30), "{srtt:?}");
    assert!(harness.a.counters().rtt_samples >= 3);
    assert_eq!(harness.a.retransmission_timeout(), Duration::from_millis(200), "clamped to min_rto");
}

#[test]
fn rtt_is_measured_without_timestamps_by_timing_segments() {
    let plain = TcpConfig { timestamps: false, ..config() };
    let mut harness = established(&plain, &plain, LinkFaults::default(), 51);
    assert_eq!(harness.a.send_mss(), 1460);
    harness.a.send(&sga(&vec![0u8; 200_000])).expect("send");
    harness.run_for(Duration::from_secs(1));
    let srtt = harness.a.smoothed_rtt().expect("measured");
    assert!(srtt >= Duration::from_millis(10) && srtt < Duration::from_millis(60), "{srtt:?}");
    let samples = harness.a.counters().rtt_samples;
    assert!((3..200).contains(&samples), "one timed segment at a time: {samples}");
}

#[test]
fn rto_backs_off_exponentially_and_gives_up() {
    // RACK-TLP off: its loss probe would take the place of the first RTO (RFC 8985 §7.2 caps the PTO there).
    let config_a = TcpConfig { max_retransmits: 5, rack_tlp: false, ..config() };
    let mut harness = established(&config_a, &config(), LinkFaults::default(), 52);
    harness.faults_to_b.loss = 1.0;
    let since = harness.trace.len();
    harness.a.send(&sga(b"into the void")).expect("send");
    harness.run_until(Duration::from_secs(600), |h| h.a.state() == TcpState::Closed);
    let sends: Vec<Duration> = data_segments(&sent_by(&harness, Side::A, since)).iter().map(|e| e.at).collect();
    assert_eq!(sends.len(), 6, "the original and five retransmissions");
    let gaps: Vec<u128> = sends.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    // RTO 200 ms after the handshake's sample (10 ms RTT, floored), doubling each time.
    assert_eq!(gaps, [200, 400, 800, 1600, 3200]);
    assert_eq!(harness.a.error().map(|e| e.errno()), Some(libc::ETIMEDOUT));
    assert_eq!(harness.a.counters().timeouts, 6);
    assert_eq!(harness.a.recv(10).err().map(|e| e.errno()), Some(libc::ETIMEDOUT));
    let (readable, writable) = harness.a.readiness();
    assert!(readable && writable);
}

#[test]
fn rto_is_capped_at_max_rto() {
    let config_a = TcpConfig { max_retransmits: 8, max_rto: Duration::from_secs(2), rack_tlp: false, ..config() };
    let mut harness = established(&config_a, &config(), LinkFaults::default(), 53);
    harness.faults_to_b.loss = 1.0;
    let since = harness.trace.len();
    harness.a.send(&sga(b"x")).expect("send");
    harness.run_until(Duration::from_secs(600), |h| h.a.state() == TcpState::Closed);
    let sends: Vec<Duration> = data_segments(&sent_by(&harness, Side::A, since)).iter().map(|e| e.at).collect();
    let gaps: Vec<u128> = sends.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    assert_eq!(gaps, [200, 400, 800, 1600, 2000, 2000, 2000, 2000]);
}

#[test]
fn retransmission_recovers_after_an_outage() {
    let mut harness = established(&config(), &config(), LinkFaults::default(), 54);
    harness.faults_to_b.loss = 1.0;
    harness.a.send(&sga(&vec![1u8; 20_000])).expect("send");
    harness.run_for(Duration::from_secs(3));
    harness.faults_to_b.loss = 0.0;
    let mut got = 0;
    let done = harness.run_until(Duration::from_secs(30), |h| {
        while let Ok(Some(data)) = h.b_mut().recv(usize::MAX) {
            got += data.len();
        }
        got == 20_000
    });
    assert!(done);
    assert!(harness.a.counters().timeouts >= 3);
    assert_eq!(harness.a.error(), None);
}

#[test]
fn keepalive_probes_an_idle_peer_and_detects_its_death() {
    let keepalive = TcpConfig {
        keepalive: Some(Duration::from_secs(10)),
        keepalive_interval: Duration::from_secs(1),
        keepalive_probes: 3,
        ..config()
    };
    let mut harness = established(&keepalive, &config(), LinkFaults::default(), 55);
    harness.run_for(Duration::from_secs(35));
    assert_eq!(harness.a.state(), TcpState::Established);
    let probes = harness.a.counters().keepalive_probes;
    assert_eq!(probes, 3, "one probe per 10 s of idleness, each answered");
    // The peer disappears: three unanswered probes a second apart, then ETIMEDOUT.
    harness.faults_to_b.loss = 1.0;
    let went_dark = harness.elapsed();
    harness.run_until(Duration::from_secs(60), |h| h.a.state() == TcpState::Closed);
    assert_eq!(harness.a.error().map(|e| e.errno()), Some(libc::ETIMEDOUT));
    assert!(harness.elapsed() - went_dark <= Duration::from_secs(14));
    assert_eq!(harness.a.counters().keepalive_probes, 6);
}

#[test]
fn next_deadline_tracks_the_earliest_timer() {
    let mut harness = established(&config(), &config(), LinkFaults::default(), 56);
    assert_eq!(harness.a.next_deadline(), Nanos::NEVER, "idle, no keepalive: nothing to wait for");
    harness.faults_to_b.loss = 1.0;
    harness.a.send(&sga(b"x")).expect("send");
    harness.flush();
    assert_eq!(harness.a.next_deadline(), harness.clock().saturating_add(Nanos::from_millis(200)));
}

/// RFC 1122 §4.2.3.9: an ICMP unreachable on a synchronized connection is a soft error. The connection keeps
/// retransmitting; if it then times out, the application learns the ICMP error instead of ETIMEDOUT.
#[test]
fn a_soft_icmp_error_is_reported_when_the_connection_times_out() {
    let config_a = TcpConfig { max_retransmits: 3, ..config() };
    let mut harness = established(&config_a, &config(), LinkFaults::default(), 57);
    harness.faults_to_b.loss = 1.0;
    harness.a.send(&sga(b"into the void")).expect("send");
    harness.run_for(Duration::from_millis(100));
    harness.a.on_icmp_unreachable(runtime::Fail::new(libc::EHOSTUNREACH, "host unreachable"));
    assert_eq!(harness.a.state(), TcpState::Established, "a soft error does not abort");
    harness.run_until(Duration::from_secs(60), |h| h.a.state() == TcpState::Closed);
    assert_eq!(harness.a.error().map(|e| e.errno()), Some(libc::EHOSTUNREACH));
}

/// A soft error is forgotten once the path works again (new data acknowledged): a later timeout is ETIMEDOUT.
#[test]
fn a_soft_icmp_error_is_forgotten_once_data_is_acknowledged() {
    let config_a = TcpConfig { max_retransmits: 3, ..config() };
    let mut harness = established(&config_a, &config(), LinkFaults::default(), 58);
    harness.a.on_icmp_unreachable(runtime::Fail::new(libc::EHOSTUNREACH, "host unreachable"));
    harness.a.send(&sga(b"this one arrives")).expect("send");
    harness.run_for(Duration::from_millis(100));
    harness.faults_to_b.loss = 1.0;
    harness.a.send(&sga(b"into the void")).expect("send");
    harness.run_until(Duration::from_secs(60), |h| h.a.state() == TcpState::Closed);
    assert_eq!(harness.a.error().map(|e| e.errno()), Some(libc::ETIMEDOUT));
}
