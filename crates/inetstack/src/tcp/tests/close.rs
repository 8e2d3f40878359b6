//! Closing: every path through FIN-WAIT-1/2, CLOSING, TIME-WAIT, CLOSE-WAIT and LAST-ACK, half-close, abort.

use std::collections::BTreeSet;
use std::time::Duration;

use super::util::{config, established, sga};
use crate::tcp::harness::{Harness, LinkFaults, Side};
use crate::tcp::{TcpConfig, TcpState};

/// Runs until both ends are closed (or `limit`), recording every state each end passed through.
fn run_recording(harness: &mut Harness, limit: Duration) -> (Vec<TcpState>, Vec<TcpState>) {
    let (mut seen_a, mut seen_b) = (vec![harness.a.state()], vec![harness.b().state()]);
    harness.run_until(limit, |h| {
        if seen_a.last() != Some(&h.a.state()) {
            seen_a.push(h.a.state());
        }
        if seen_b.last() != Some(&h.b().state()) {
            seen_b.push(h.b().state());
        }
        h.a.is_closed() && h.b().is_closed()
    });
    (seen_a, seen_b)
}

fn short_time_wait() -> TcpConfig {
    TcpConfig { time_wait: Duration::from_secs(2), ..config() }
}

#[test]
fn active_close_then_passive_close() {
    let mut harness = established(&short_time_wait(), &short_time_wait(), LinkFaults::default(), 30);
    harness.a.send(&sga(b"last words")).expect("send");
    harness.a.close(harness.clock());
    assert_eq!(harness.a.send(&sga(b"more")).map_err(|e| e.errno()), Err(libc::EPIPE));
    harness.run_for(Duration::from_millis(100));
    // B has the data and the end of stream; it is in CLOSE-WAIT until it closes too.
    assert_eq!(harness.b().state(), TcpState::CloseWait);
    assert_eq!(harness.a.state(), TcpState::FinWait2);
    assert_eq!(harness.b_mut().recv(100).expect("ok").expect("data").to_vec(), b"last words");
    assert!(harness.b_mut().recv(100).expect("ok").expect("eof").is_empty());
    harness.b_mut().send(&sga(b"reply after half-close")).expect("CLOSE-WAIT may still send");
    let now = harness.clock();
    harness.b_mut().close(now);
    let (seen_a, seen_b) = run_recording(&mut harness, Duration::from_secs(10));
    assert_eq!(seen_a, [TcpState::FinWait2, TcpState::TimeWait, TcpState::Closed]);
    assert_eq!(seen_b, [TcpState::LastAck, TcpState::Closed]);
    assert_eq!(harness.a.recv(100).expect("ok").expect("data").to_vec(), b"reply after half-close");
    assert!(harness.a.recv(100).expect("ok").expect("eof").is_empty());
    assert_eq!(harness.a.error(), None);
    assert_eq!(harness.b().error(), None);
}

#[test]
fn time_wait_lasts_two_msl() {
    let mut harness = established(&short_time_wait(), &short_time_wait(), LinkFaults::default(), 31);
    harness.a.close(harness.clock());
    harness.b_mut().recv(1).ok();
    harness.run_for(Duration::from_millis(50));
    let now = harness.clock();
    harness.b_mut().close(now);
    harness.run_until(Duration::from_secs(1), |h| h.a.state() == TcpState::TimeWait);
    let entered = harness.elapsed();
    harness.run_until(Duration::from_secs(10), |h| h.a.state() == TcpState::Closed);
    assert_eq!(harness.elapsed() - entered, Duration::from_secs(2));
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut harness = established(&short_time_wait(), &short_time_wait(), LinkFaults::default(), 32);
    harness.a.close(harness.clock());
    let now = harness.clock();
    harness.b_mut().close(now);
    let (seen_a, seen_b) = run_recording(&mut harness, Duration::from_secs(10));
    let expected = [TcpState::FinWait1, TcpState::Closing, TcpState::TimeWait, TcpState::Closed];
    assert_eq!(seen_a, expected);
    assert_eq!(seen_b, expected);
}

#[test]
fn fin_and_ack_together_go_straight_to_time_wait() {
    // B closes as soon as it sees A's FIN, with delayed ACKs on: its FIN carries the ACK of A's FIN... but
    // the FIN is acknowledged at once (RFC 5681), so this is FIN-WAIT-1 -> FIN-WAIT-2 -> TIME-WAIT. Force the
    // combined case by having B close before A's FIN arrives while A's FIN is in flight.
    let mut harness = established(&short_time_wait(), &short_time_wait(), LinkFaults::default(), 33);
    harness.a.close(harness.clock());
    harness.flush();
    harness.run_for(Duration::from_millis(5));
    // A's FIN has just arrived at B and B has not answered yet: close now so the ACK and FIN share a segment.
    let now = harness.clock();
    harness.b_mut().close(now);
    let (seen_a, seen_b) = run_recording(&mut harness, Duration::from_secs(10));
    assert_eq!(seen_a, [TcpState::FinWait1, TcpState::TimeWait, TcpState::Closed]);
    assert_eq!(seen_b, [TcpState::LastAck, TcpState::Closed]);
}

#[test]
fn time_wait_reacknowledges_a_retransmitted_fin() {
    let mut harness = established(&short_time_wait(), &short_time_wait(), LinkFaults::default(), 34);
    harness.a.close(harness.clock());
    harness.run_for(Duration::from_millis(50));
    let now = harness.clock();
    harness.b_mut().close(now);
    // Lose A's ACK of B's FIN: B retransmits its FIN; A, in TIME-WAIT, acknowledges it again.
    let mut dropped = false;
    harness.filter = Some(Box::new(move |entry| {
        let drop = entry.from == Side::A && !dropped && entry.len == 0 && !entry.flags.fin();
        dropped |= drop;
        drop
    }));
    let since = harness.trace.len();
    let (seen_a, seen_b) = run_recording(&mut harness, Duration::from_secs(10));
    assert_eq!(seen_a, [TcpState::FinWait2, TcpState::TimeWait, TcpState::Closed]);
    assert_eq!(seen_b, [TcpState::LastAck, TcpState::Closed]);
    let fins_from_b = harness.trace[since..].iter().filter(|e| e.from == Side::B && e.flags.fin()).count();
    let acks_from_a = harness.trace[since..].iter().filter(|e| e.from == Side::A).count();
    assert_eq!(fins_from_b, 2, "the FIN was retransmitted");
    assert_eq!(acks_from_a, 2, "and acknowledged twice");
    assert_eq!(harness.b().error(), None);
}

#[test]
fn fin_waits_for_queued_data_and_is_retransmitted() {
    let mut harness = established(&short_time_wait(), &short_time_wait(), LinkFaults::lossy(0.3), 35);
    let data = vec![5u8; 50_000];
    harness.a.send(&sga(&data)).expect("send");
    harness.a.close(harness.clock());
    let mut received = Vec::new();
    let mut closed_b = false;
    let done = harness.run_until(Duration::from_secs(600), |h| {
        let now = h.clock();
        if let Some(b) = h.b.as_mut() {
            while let Ok(Some(chunk)) = b.recv(usize::MAX) {
                if chunk.is_empty() {
                    if !closed_b {
                        b.close(now);
                        closed_b = true;
                    }
                    break;
                }
                received.extend_from_slice(&chunk.to_vec());
            }
        }
        h.a.is_closed() && h.b().is_closed()
    });
    assert!(done, "{:?}", harness.states());
    assert_eq!(received, data);
    assert_eq!(harness.a.error(), None);
}

#[test]
fn fin_wait_2_times_out_if_the_peer_never_closes() {
    let config_a = TcpConfig { fin_wait2_timeout: Duration::from_secs(3), ..config() };
    let mut harness = established(&config_a, &config(), LinkFaults::default(), 36);
    harness.a.close(harness.clock());
    harness.run_until(Duration::from_secs(1), |h| h.a.state() == TcpState::FinWait2);
    harness.run_until(Duration::from_secs(10), |h| h.a.state() == TcpState::Closed);
    assert!(harness.elapsed() < Duration::from_secs(4));
    assert!(harness.a.is_closed());
}

#[test]
fn fin_wait_2_after_a_half_close_lasts_until_the_application_closes() {
    let config_a = TcpConfig { fin_wait2_timeout: Duration::from_secs(3), ..config() };
    let mut harness = established(&config_a, &config(), LinkFaults::default(), 38);
    harness.a.shutdown_write();
    harness.run_until(Duration::from_secs(1), |h| h.a.state() == TcpState::FinWait2);
    // The peer sends for longer than the timeout; A, still held by its application, reads it all.
    let mut received = 0;
    for _ in 0..10 {
        harness.b_mut().send(&sga(b"still talking")).expect("CLOSE-WAIT may send");
        harness.run_for(Duration::from_secs(1));
        while let Some(data) = harness.a.recv(usize::MAX).expect("A reads on").filter(|d| !d.is_empty()) {
            received += data.len();
        }
    }
    assert_eq!((harness.a.state(), received), (TcpState::FinWait2, 130));
    // Once the application lets go, the timeout runs from then.
    let released = harness.elapsed();
    harness.a.close(harness.clock());
    harness.run_until(Duration::from_secs(10), |h| h.a.state() == TcpState::Closed);
    assert_eq!(harness.elapsed() - released, Duration::from_secs(3));
    assert_eq!(harness.a.error(), None);
}

#[test]
fn abort_resets_the_peer() {
    let mut harness = established(&config(), &config(), LinkFaults::default(), 37);
    harness.b_mut().send(&sga(b"unread")).expect("send");
    harness.run_for(Duration::from_millis(20));
    harness.a.abort();
    assert_eq!(harness.a.state(), TcpState::Closed);
    assert!(!harness.a.is_closed(), "the RST is still to be sent");
    harness.run_for(Duration::from_millis(20));
    assert!(harness.a.is_closed());
    assert_eq!(harness.b().error().map(|e| e.errno()), Some(libc::ECONNRESET));
    assert_eq!(harness.b().state(), TcpState::Closed);
    assert_eq!(harness.b_mut().recv(10).err().map(|e| e.errno()), Some(libc::ECONNRESET));
    assert_eq!(harness.a.send(&sga(b"x")).map_err(|e| e.errno()), Err(libc::EPIPE));
    assert_eq!(harness.a.counters().resets_out, 1);
}

#[test]
fn every_state_is_reached() {
    let mut seen = BTreeSet::new();
    let mut record = |harness: &Harness| {
        seen.insert(format!("{}", harness.a.state()));
        if let Some(b) = harness.b.as_ref() {
            seen.insert(format!("{}", b.state()));
        }
    };
    for (seed, simultaneous) in [(40, false), (41, true)] {
        let mut harness = Harness::new(&short_time_wait(), &short_time_wait(), LinkFaults::default(), seed);
        harness.run_until(Duration::from_secs(1), |h| {
            record(h);
            h.b.as_ref().is_some_and(|b| b.state() == TcpState::Established)
        });
        harness.a.close(harness.clock());
        if simultaneous {
            let now = harness.clock();
            harness.b_mut().close(now);
        }
        let closed_at = harness.now;
        harness.run_until(Duration::from_secs(10), |h| {
            record(h);
            if h.b().state() == TcpState::CloseWait && h.now > closed_at + Duration::from_millis(50) {
                let now = h.clock();
                h.b_mut().close(now);
            }
            h.a.is_closed() && h.b().is_closed()
        });
        record(&harness);
    }
    let expected = [
        "CLOSE-WAIT",
        "CLOSED",
        "CLOSING",
        "ESTABLISHED",
        "FIN-WAIT-1",
        "FIN-WAIT-2",
        "LAST-ACK",
        "SYN-RECEIVED",
        "SYN-SENT",
        "TIME-WAIT",
    ];
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), expected);
}
