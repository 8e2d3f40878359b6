//! Buffer auto-tuning. Receive buffer: it grows only while the application keeps up, never past
//! `recv_buffer_max`, with or without timestamps, and not at all without window scaling. Send buffer: it grows
//! only while the application fills it, never past `send_buffer_max`.

use std::time::Duration;

use super::util::{config, established, sga};
use crate::tcp::harness::{Harness, LinkFaults};
use crate::tcp::{TcpConfig, TuningBudget};

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

/// Nobody reads for a second, then the application reads as fast as data comes for three: B's buffer grows
/// only in the second part, to its most `within` the reading's start.
fn stall_then_keep_up(config: &TcpConfig, seed: u64, within: Duration) -> Harness {
    const MOST: usize = 512 << 10;
    let mut harness = established(config, config, path(), seed);
    let data = vec![7u8; 8 << 20];
    let mut sent = 0;
    // Nobody reads for a second: the window closes, and nothing grows.
    run(&mut harness, &data, &mut sent, false, Duration::from_secs(1));
    assert_eq!((harness.b().counters().recv_buffer_grown, harness.b().rcv_buffer), (0, 64 * 1024));
    // Then the application reads as fast as data comes: its first round reads the whole backlog, far more than
    // the 10 segments of the record so far, so the buffer takes a large step.
    let start = harness.now;
    while harness.b().rcv_buffer < MOST && harness.now - start < Duration::from_secs(3) {
        run(&mut harness, &data, &mut sent, true, Duration::from_millis(1));
    }
    let took = harness.now - start;
    assert!(took <= within, "at its most after {took:?}");
    // The counter counts growths, not the rounds that find the buffer at its most (as it once did).
    let grown = harness.b().counters().recv_buffer_grown;
    assert!(grown > 0);
    run(&mut harness, &data, &mut sent, true, Duration::from_secs(3));
    let b = harness.b();
    assert_eq!(b.counters().recv_buffer_grown, grown, "{:?}", b.counters());
    assert_eq!(b.rcv_buffer, MOST, "grown to recv_buffer_max (it would take more), not past it");
    harness
}

/// B's round-trip estimate for tuning.
fn round_trip(harness: &Harness) -> Duration {
    let tuning = harness.b().tuning.as_ref().expect("tuning");
    tuning.receive.as_ref().expect("receive tuning").round_trip().as_duration()
}

#[test]
fn the_buffer_grows_only_while_the_application_keeps_up_and_never_past_its_maximum() {
    // At its most one round trip (20 ms) after the reading began, in one step.
    stall_then_keep_up(&tuned(), 1, Duration::from_millis(40));
}

fn untimed() -> TcpConfig {
    TcpConfig { timestamps: false, ..tuned() }
}

#[test]
fn without_timestamps_the_round_trip_is_timed_by_windows() {
    // A peer that does not offer timestamps: the receiver times a window's arrival instead (the least time is
    // the path's 20 ms round trip), and grows the buffer the same way: at its most 40 ms after the reading
    // began, in one step.
    let harness = stall_then_keep_up(&untimed(), 2, Duration::from_millis(60));
    assert!(harness.b().timestamps.is_none());
    assert_eq!(round_trip(&harness), Duration::from_millis(20));
}

#[test]
fn without_timestamps_a_reader_that_trickles_times_no_round_trip_shorter_than_the_path() {
    // For a second B reads 2 KiB every 5 ms over a path that duplicates and reorders: its window is mostly shut,
    // and no window it offers arrives in less than the 20 ms round trip. Then it keeps up, and the buffer grows
    // to its most.
    let faults = LinkFaults { duplicate: 0.3, reorder: 0.3, reorder_delay: Duration::from_millis(15), ..path() };
    for seed in 0..3 {
        let mut harness = established(&untimed(), &untimed(), faults.clone(), seed);
        let data = vec![7u8; 8 << 20];
        let mut sent = 0;
        for _ in 0..200 {
            let end = harness.now + Duration::from_millis(5);
            harness.run_until(Duration::from_millis(5), |h| {
                if sent < data.len() {
                    sent += h.a.send(&sga(&data[sent..])).expect("send");
                }
                h.now >= end
            });
            harness.b_mut().recv(2048).expect("recv");
        }
        let rtt = round_trip(&harness);
        assert!(rtt >= Duration::from_millis(20) && rtt < Duration::from_millis(35), "seed {seed}: {rtt:?}");
        run(&mut harness, &data, &mut sent, true, Duration::from_secs(3));
        assert_eq!(harness.b().rcv_buffer, 512 << 10, "seed {seed}");
    }
}

#[test]
fn without_window_scaling_the_buffer_keeps_its_size() {
    for config in [TcpConfig { window_scale: false, ..tuned() }, TcpConfig { window_scale: false, ..untimed() }] {
        let mut harness = established(&config, &config, path(), 2);
        let data = vec![7u8; 2 << 20];
        let mut sent = 0;
        run(&mut harness, &data, &mut sent, true, Duration::from_secs(2));
        assert!(harness.b().tuning.as_ref().is_none_or(|t| t.receive.is_none()));
        assert_eq!((harness.b().counters().recv_buffer_grown, harness.b().rcv_buffer), (0, 64 * 1024));
    }
}

/// B reads everything it has; returns how much that is.
fn read_all(harness: &mut Harness) -> usize {
    let mut read = 0;
    while let Some(got) = harness.b_mut().recv(usize::MAX).expect("recv") {
        if got.is_empty() {
            break;
        }
        read += got.len();
    }
    read
}

/// A pushes all its buffer takes of `data` at every step and B reads everything, for `for_how_long`.
fn send_for(harness: &mut Harness, data: &[u8], for_how_long: Duration) -> usize {
    let (mut sent, mut read) = (0, 0);
    harness.run_until(for_how_long, |h| {
        if sent < data.len() {
            // At most 1 MiB at a time (more than the buffer ever takes): `sga` copies what it is given.
            sent += h.a.send(&sga(&data[sent..data.len().min(sent + (1 << 20))])).expect("send");
        }
        read += read_all(h);
        false
    });
    read
}

fn send_tuned() -> TcpConfig {
    TcpConfig { send_buffer: 64 * 1024, send_buffer_max: Some(512 << 10), ..config() }
}

fn large_receiver() -> TcpConfig {
    TcpConfig { recv_buffer: 4 << 20, ..config() }
}

#[test]
fn the_send_buffer_grows_only_while_the_application_fills_it_and_never_past_its_maximum() {
    let data = vec![7u8; 64 << 20];
    // An application that pushes 16 KiB every 100 ms never finds the buffer full: it keeps its size.
    let mut harness = established(&send_tuned(), &large_receiver(), path(), 3);
    let mut read = 0;
    for chunk in data.chunks(16 * 1024).take(20) {
        assert_eq!(harness.a.send(&sga(chunk)).expect("send"), chunk.len());
        harness.run_for(Duration::from_millis(100));
        read += read_all(&mut harness);
    }
    assert_eq!(read, 20 * 16 * 1024);
    assert_eq!((harness.a.counters().send_buffer_grown, harness.a.send_buffer.capacity()), (0, 64 * 1024));
    // One that pushes all it can fills it: the buffer follows the congestion window up to the most.
    let mut harness = established(&send_tuned(), &large_receiver(), path(), 4);
    let read = send_for(&mut harness, &data, Duration::from_secs(3));
    assert!(harness.a.counters().send_buffer_grown >= 3, "{:?}", harness.a.counters());
    assert_eq!(harness.a.send_buffer.capacity(), 512 << 10, "grown to send_buffer_max (it would take more)");
    // 64 KiB per 20 ms round trip would carry 9.8 MB in 3 s; 512 KiB carry the whole 64 MiB.
    assert!(read > 4 * 3 * 50 * (64 << 10), "{read}");
}

#[test]
fn without_a_maximum_a_full_send_buffer_keeps_its_size() {
    let config = TcpConfig { send_buffer_max: None, ..send_tuned() };
    let mut harness = established(&config, &large_receiver(), path(), 5);
    send_for(&mut harness, &vec![7u8; 8 << 20], Duration::from_secs(2));
    assert_eq!((harness.a.counters().send_buffer_grown, harness.a.send_buffer.capacity()), (0, 64 * 1024));
}

#[test]
fn connections_sharing_a_budget_grow_together_no_more_than_it_holds_and_give_it_back() {
    // Each receiver would grow from 64 KiB to 512 KiB (448 KiB more); the two share 600 KiB.
    let budget = TuningBudget::new(600 << 10);
    let mut harnesses: Vec<Harness> = (7..9).map(|seed| established(&tuned(), &tuned(), path(), seed)).collect();
    for harness in &mut harnesses {
        harness.b_mut().share_tuning_budget(&budget);
    }
    let data = vec![7u8; 8 << 20];
    let mut sent = [0, 0];
    for _ in 0..30 {
        for (harness, sent) in harnesses.iter_mut().zip(&mut sent) {
            run(harness, &data, sent, true, Duration::from_millis(100));
        }
    }
    let extra: Vec<usize> = harnesses.iter().map(|h| h.b().rcv_buffer - (64 << 10)).collect();
    assert_eq!(extra.iter().sum::<usize>(), 600 << 10, "both grew until the budget ran out: {extra:?}");
    assert!(extra.iter().all(|&e| e > 0), "{extra:?}");
    assert_eq!(budget.remaining(), 0);
    let first = extra[0];
    drop(harnesses.remove(0));
    assert_eq!(budget.remaining(), first, "a connection dropped gives back what it took");
}
