//! Receive-buffer auto-tuning: the buffer grows only while the application keeps up, never past
//! `recv_buffer_max`, and not at all without timestamps (no round trip to measure with).

use std::time::Duration;

use super::util::{config, established, sga};
use crate::tcp::TcpConfig;
use crate::tcp::harness::{Harness, LinkFaults};

fn tuned() -> TcpConfig {
    TcpConfig { recv_buffer: 64 * 1024, recv_buffer_max: Some(512 << 10), send_buffer: 4 << 20, ..config() }
}

/// 10 ms each way: a window of 64 KiB holds a sender to 3 MB/s.
fn path() -> LinkFaults {
    LinkFaults { latency: Duration::from_millis(10), ..LinkFaults::default() }
}

/// A sends `len` bytes while B reads only when `reading`; runs for `for_how_long`, returns what B read.
fn run(harness: &mut Harness, data: &[u8], sent: &mut usize, reading: bool, for_how_long: Duration) -> usize {
    let mut read = 0;
    let end = harness.now + for_how_long;
    harness.run_until(for_how_long, |h| {
        if *sent < data.len() {
            *sent += h.a.send(&sga(&data[*sent..])).expect("send");
        }
        while reading && let Some(got) = h.b_mut().recv(usize::MAX).expect("recv") {
            if got.is_empty() {
                break;
            }
            read += got.len();
        }
        h.now >= end
    });
    read
}

#[test]
fn the_buffer_grows_only_while_the_application_keeps_up_and_never_past_its_maximum() {
    let mut harness = established(&tuned(), &tuned(), path(), 1);
    let data = vec![7u8; 8 << 20];
    let mut sent = 0;
    // Nobody reads for a second: the window closes, and nothing grows.
    run(&mut harness, &data, &mut sent, false, Duration::from_secs(1));
    assert_eq!((harness.b().counters().recv_buffer_grown, harness.b().rcv_buffer), (0, 64 * 1024));
    // Then the application reads as fast as data comes: the buffer grows, a round trip at a time, to the most.
    run(&mut harness, &data, &mut sent, true, Duration::from_secs(3));
    let b = harness.b();
    assert!(b.counters().recv_buffer_grown >= 3, "{:?}", b.counters());
    assert_eq!(b.rcv_buffer, 512 << 10, "grown to recv_buffer_max (it would take more), not past it");
}

#[test]
fn without_timestamps_or_window_scaling_the_buffer_keeps_its_size() {
    for config in [TcpConfig { timestamps: false, ..tuned() }, TcpConfig { window_scale: false, ..tuned() }] {
        let mut harness = established(&config, &config, path(), 2);
        let data = vec![7u8; 2 << 20];
        let mut sent = 0;
        run(&mut harness, &data, &mut sent, true, Duration::from_secs(2));
        assert!(harness.b().autotune.is_none());
        assert_eq!((harness.b().counters().recv_buffer_grown, harness.b().rcv_buffer), (0, 64 * 1024));
    }
}
