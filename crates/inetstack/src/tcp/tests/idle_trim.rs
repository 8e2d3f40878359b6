//! Spare queue capacity given back once a connection idles (`tcp/idle_trim.rs`): after a transfer, not while
//! data is in flight, and never armed by small requests and responses.

use std::time::Duration;

use super::util::{config, established, sga, transfer};
use crate::tcp::Nanos;
use crate::tcp::harness::{Harness, LinkFaults};

fn pair() -> Harness {
    established(&config(), &config(), LinkFaults::default(), 3)
}

#[test]
fn a_connection_that_idles_a_second_after_a_transfer_gives_back_its_spare_capacity() {
    let mut harness = pair();
    transfer(&mut harness, 400_000, 64 * 1024);
    let grown = harness.a.sent_segments.capacity();
    assert!(grown > 16, "the flight grew the records to {grown}");
    assert!(!harness.a.timers.trim.is_never(), "the flight's acknowledgment started the timer");
    // Half a second in: still kept (a connection that sends again soon reuses it).
    harness.run_for(Duration::from_millis(500));
    assert_eq!(harness.a.sent_segments.capacity(), grown);
    harness.run_for(Duration::from_millis(600));
    assert_eq!(harness.a.sent_segments.capacity(), 0);
    assert!(harness.a.timers.trim.is_never(), "stopped once done");
    // And the connection works as before.
    transfer(&mut harness, 100_000, 64 * 1024);
}

#[test]
fn a_reader_that_fell_behind_gets_its_receive_queue_back_once_idle() {
    let mut harness = pair();
    let data = vec![7u8; 200_000];
    let mut sent = 0;
    // B does not read while A sends: its receive queue grows to hold the window.
    harness.run_until(Duration::from_secs(5), |h| {
        if sent < data.len() {
            sent += h.a.send(&sga(&data[sent..])).expect("send");
        }
        false
    });
    let b = harness.b_mut();
    let mut read = 0;
    while let Some(got) = b.recv(usize::MAX).expect("recv") {
        if got.is_empty() {
            break;
        }
        read += got.len();
    }
    assert!(read > 0 && b.receive_queue.spare_capacity() > 16, "{read} read");
    harness.run_for(Duration::from_millis(1100));
    assert_eq!(harness.b().receive_queue.spare_capacity(), 0);
}

#[test]
fn a_connection_with_data_in_flight_keeps_its_queues() {
    // A keeps sending into a lossy link for two seconds: the timer, started by a flight fully acknowledged,
    // finds data in flight when it fires, stops, and never trims while the transfer runs.
    let mut harness = established(&config(), &config(), LinkFaults::lossy(0.02), 4);
    let data = vec![7u8; 64 * 1024];
    let mut trimmed_while_busy = false;
    let mut largest = 0;
    let end = harness.now + Duration::from_secs(2);
    harness.run_until(Duration::from_secs(2), |h| {
        h.a.send(&sga(&data)).expect("send");
        while let Ok(Some(got)) = h.b_mut().recv(usize::MAX) {
            if got.is_empty() {
                break;
            }
        }
        let capacity = h.a.sent_segments.capacity();
        trimmed_while_busy |= capacity < largest / 2 && h.a.snd_max != h.a.snd_una;
        largest = largest.max(capacity);
        h.now >= end
    });
    assert!(largest > 16);
    assert!(!trimmed_while_busy);
}

#[test]
fn small_requests_and_responses_never_start_the_timer() {
    let mut harness = pair();
    for _ in 0..200 {
        harness.a.send(&sga(&[1u8; 64])).expect("send");
        super::util::run_until_b_read(&mut harness, 64, Duration::from_secs(1));
        harness.b_mut().send(&sga(&[2u8; 64])).expect("send");
        let mut got = 0;
        harness.run_until(Duration::from_secs(1), |h| {
            while let Ok(Some(data)) = h.a.recv(usize::MAX) {
                if data.is_empty() {
                    break;
                }
                got += data.len();
            }
            got == 64
        });
        assert_eq!(harness.a.timers.trim, Nanos::NEVER);
        assert_eq!(harness.b().timers.trim, Nanos::NEVER);
    }
}
