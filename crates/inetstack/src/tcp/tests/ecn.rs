//! Explicit Congestion Notification (RFC 3168): negotiation, which segments go out ECN-capable, the echo of a
//! mark until CWR, and the sender's one reduction per window.

use std::time::Duration;

use super::util::{config, data_segments, established, handshake_flags, transfer};
use crate::tcp::congestion::Controller;
use crate::tcp::harness::{Harness, LinkFaults, Side};
use crate::tcp::{CongestionAlgorithm, CongestionControl, TcpConfig};
use crate::wire::TcpFlags;

fn ecn() -> TcpConfig {
    TcpConfig { ecn: true, ..config() }
}

#[test]
fn ecn_is_used_when_both_ends_ask_and_only_new_data_is_ecn_capable() {
    let mut harness = established(&ecn(), &ecn(), LinkFaults::default(), 1);
    assert_eq!(
        handshake_flags(&harness),
        (TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR, TcpFlags::SYN | TcpFlags::ECE),
        "RFC 3168 §6.1.1: an ECN-setup SYN, and a SYN-ACK with ECE alone"
    );
    assert!(harness.a.ecn.enabled && harness.b().ecn.enabled);
    let start = harness.trace.len();
    transfer(&mut harness, 100_000, usize::MAX);
    let entries = &harness.trace[start..];
    assert!(entries.iter().filter(|e| e.len > 0).all(|e| e.ect), "every data segment is ECN-capable");
    assert!(entries.iter().filter(|e| e.len == 0).all(|e| !e.ect), "pure ACKs are not");
    assert!(harness.trace[..start].iter().all(|e| !e.ect), "nor are the handshake's segments");
    assert!(entries.iter().all(|e| !e.flags.contains(TcpFlags::ECE) && !e.flags.contains(TcpFlags::CWR)));
}

#[test]
fn ecn_stays_off_unless_both_ends_agree() {
    for (a, b) in [(ecn(), config()), (config(), ecn())] {
        let mut harness = established(&a, &b, LinkFaults::default(), 2);
        let (syn, syn_ack) = handshake_flags(&harness);
        assert!(!syn_ack.contains(TcpFlags::ECE), "{syn:?} answered by {syn_ack:?}");
        assert!(!harness.a.ecn.enabled && !harness.b().ecn.enabled);
        let start = harness.trace.len();
        transfer(&mut harness, 20_000, usize::MAX);
        assert!(harness.trace[start..].iter().all(|e| !e.ect));
    }
}

#[test]
fn a_retransmitted_syn_offers_no_ecn() {
    let mut harness = Harness::new(&ecn(), &ecn(), LinkFaults::default(), 3);
    let mut dropped = false;
    harness.filter = Some(Box::new(move |entry| {
        let first_syn = entry.flags.syn() && entry.ack.is_none() && !dropped;
        dropped |= first_syn;
        first_syn
    }));
    let done = harness.run_until(Duration::from_secs(10), |h| h.states().1.is_some_and(|s| s.is_synchronized()));
    assert!(done);
    let syns: Vec<_> = harness.trace.iter().filter(|e| e.flags.syn() && e.ack.is_none()).map(|e| e.flags).collect();
    assert_eq!(syns, [TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR, TcpFlags::SYN]);
    assert!(!harness.a.ecn.enabled && !harness.b().ecn.enabled);
}

#[test]
fn a_mark_is_echoed_until_cwr_and_halves_the_window_once_without_a_retransmission() {
    let mut harness = established(&ecn(), &ecn(), LinkFaults::default(), 4);
    transfer(&mut harness, 300_000, usize::MAX);
    let cwnd = harness.a.congestion.window();
    let start = harness.trace.len();
    // The link marks two data segments of the same window: one reduction.
    let mut marked = 0;
    harness.mark = Some(Box::new(move |entry| {
        let mark = entry.from == Side::A && entry.len > 0 && (marked == 3 || marked == 6);
        marked += 1;
        mark
    }));
    transfer(&mut harness, 1_000_000, usize::MAX);
    let entries = &harness.trace[start..];
    let counters = *harness.a.counters();
    assert_eq!(harness.b().counters().ecn_ce_received, 2);
    assert_eq!((counters.ecn_reductions, counters.retransmits, counters.fast_retransmits), (1, 0, 0));
    // CUBIC's multiplicative decrease (0.7), from the window the mark found.
    let ssthresh = harness.a.congestion.slow_start_threshold();
    assert!(ssthresh < cwnd && ssthresh * 10 >= cwnd * 6, "ssthresh {ssthresh} from cwnd {cwnd}");
    // B echoes from the first marked segment until A's CWR arrives, then stops.
    let echoes: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].from == Side::B && entries[i].flags.contains(TcpFlags::ECE))
        .collect();
    let cwrs: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].from == Side::A && entries[i].flags.contains(TcpFlags::CWR))
        .collect();
    assert!(!echoes.is_empty());
    assert_eq!(cwrs.len(), 1, "one CWR, on the first new data after the reduction");
    let cwr = &entries[cwrs[0]];
    assert!(cwr.len > 0 && cwr.ect);
    assert!(echoes.iter().all(|&i| entries[i].ack.expect("ACK") <= cwr.seq), "no echo once CWR is acknowledged");
    let data = data_segments(&entries[..cwrs[0]]);
    assert!(data.iter().all(|e| !e.flags.contains(TcpFlags::CWR)));
}

#[test]
fn a_mark_during_each_window_reduces_each_window() {
    let mut harness = established(&ecn(), &ecn(), LinkFaults::default(), 5);
    transfer(&mut harness, 200_000, usize::MAX);
    // Every 40th data segment marked: a mark in (nearly) every window, one reduction each.
    let mut count = 0;
    harness.mark = Some(Box::new(move |entry| {
        count += 1;
        entry.from == Side::A && entry.len > 0 && count % 40 == 0
    }));
    transfer(&mut harness, 2_000_000, usize::MAX);
    let a = harness.a.counters();
    let marks = harness.b().counters().ecn_ce_received;
    assert!(a.ecn_reductions >= 3 && a.ecn_reductions <= marks, "{} reductions, {marks} marks", a.ecn_reductions);
    assert_eq!((a.retransmits, a.timeouts), (0, 0), "marks cost no data");
}

#[test]
fn ecn_flags_on_a_connection_that_did_not_agree_are_ignored() {
    let mut harness = established(&config(), &config(), LinkFaults::default(), 6);
    transfer(&mut harness, 50_000, usize::MAX);
    let now = harness.clock();
    harness.b_mut().on_ecn_codepoint(now, crate::tcp::ecn_codepoint::CE);
    let start = harness.trace.len();
    transfer(&mut harness, 50_000, usize::MAX);
    assert_eq!(harness.b().counters().ecn_ce_received, 0);
    assert!(harness.trace[start..].iter().all(|e| !e.flags.contains(TcpFlags::ECE)));
}

fn dctcp() -> TcpConfig {
    TcpConfig { congestion: CongestionAlgorithm::Dctcp, ..config() }
}

#[test]
fn dctcp_asks_for_ecn_and_its_receiver_echoes_each_mark_exactly() {
    let mut harness = established(&dctcp(), &dctcp(), LinkFaults::default(), 7);
    assert_eq!(handshake_flags(&harness).1, TcpFlags::SYN | TcpFlags::ECE, "ECN agreed without `ecn`");
    assert!(harness.a.ecn.dctcp && harness.b().ecn.dctcp);
    transfer(&mut harness, 300_000, usize::MAX);
    let start = harness.trace.len();
    // Three data segments in a row marked, in the middle of a window.
    let mut count = 0;
    harness.mark = Some(Box::new(move |_| {
        count += 1;
        (20..23).contains(&count)
    }));
    transfer(&mut harness, 1_000_000, usize::MAX);
    let entries = &harness.trace[start..];
    let data: Vec<_> = entries.iter().filter(|e| e.from == Side::A && e.len > 0).collect();
    let (first, last) = (data[19].seq, data[21].seq + data[21].len as u32);
    assert_eq!(harness.b().counters().ecn_ce_received, 3);
    let acks: Vec<_> = entries.iter().filter(|e| e.from == Side::B).collect();
    let echoed: Vec<_> = acks.iter().filter(|e| e.flags.contains(TcpFlags::ECE)).collect();
    assert!(!echoed.is_empty());
    for ack in &acks {
        let number = ack.ack.expect("ACK");
        let covers_marked = number > first && number <= last;
        assert_eq!(ack.flags.contains(TcpFlags::ECE), covers_marked, "ACK of {number:?}; marked [{first:?}, {last:?})");
    }
    assert_eq!(harness.a.counters().ecn_reductions, 1);
}

/// A harness after 5 MB from A to B with every `every`th data segment marked, and how long that took.
fn marked_run(congestion: CongestionAlgorithm, every: u32) -> (Harness, Duration) {
    let config = TcpConfig { congestion, ecn: true, ..config() };
    let mut harness = established(&config, &config, LinkFaults::default(), 8);
    let mut count = 0;
    harness.mark = Some(Box::new(move |_| {
        count += 1;
        count % every == 0
    }));
    let start = harness.elapsed();
    transfer(&mut harness, 5_000_000, usize::MAX);
    let took = harness.elapsed() - start;
    (harness, took)
}

#[test]
fn dctcp_cuts_its_window_by_the_fraction_of_bytes_marked() {
    // One data segment in 20 marked, uniformly: DCTCP's alpha settles near the marked fraction (0.086 here: an
    // ACK covers up to two segments) and each cut takes alpha / 2 of the window; NewReno with ECN halves it for
    // every window with a mark. 5 MB took 3.1 s against 6.5 s, with twice the window at the end.
    let (dctcp, dctcp_took) = marked_run(CongestionAlgorithm::Dctcp, 20);
    let (reno, reno_took) = marked_run(CongestionAlgorithm::NewReno, 20);
    let Controller::Dctcp(controller) = &dctcp.a.congestion else { panic!("DCTCP") };
    let alpha = controller.alpha();
    let windows = (dctcp.a.congestion.window(), reno.a.congestion.window());
    eprintln!("DCTCP alpha {alpha:.3}, {dctcp_took:?}; NewReno {reno_took:?}; windows {windows:?}");
    assert!((0.02..0.12).contains(&alpha), "alpha {alpha}");
    for harness in [&dctcp, &reno] {
        let counters = harness.a.counters();
        assert!(counters.ecn_reductions > 5, "{counters:?}");
        assert_eq!(counters.retransmits, 0, "{counters:?}");
    }
    assert!(windows.0 > 3 * windows.1 / 2, "{windows:?}");
    assert!(dctcp_took.as_secs_f64() < 0.7 * reno_took.as_secs_f64(), "{dctcp_took:?} against {reno_took:?}");
}
