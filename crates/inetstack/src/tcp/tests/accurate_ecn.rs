//! Accurate ECN (RFC 9768): the handshake's encodings, the fallbacks to classic ECN and to none, every mark
//! counted and reported in the ACE field, the ACKs that keep the field from wrapping, a cleared field turning
//! ECN off, and DCTCP fed exactly by a receiver that is not DCTCP.

use std::time::Duration;

use super::util::{config, established, handshake_flags, segment, sga, transfer};
use crate::tcp::congestion::Controller;
use crate::tcp::harness::{ADDRESS_A, ADDRESS_B, Harness, LinkFaults, Side, TraceEntry};
use crate::tcp::{CongestionAlgorithm, CongestionControl, Nanos, TcpConfig, TcpConnection, ecn_codepoint};
use crate::wire::{SeqNumber, TcpFlags};

fn accurate() -> TcpConfig {
    TcpConfig { accurate_ecn: true, ..config() }
}

/// The ACE field of a traced segment (AE, CWR, ECE as bits 2, 1, 0).
fn ace(entry: &TraceEntry) -> u8 {
    let flags = entry.flags;
    u8::from(flags.contains(TcpFlags::AE)) << 2
        | u8::from(flags.contains(TcpFlags::CWR)) << 1
        | u8::from(flags.contains(TcpFlags::ECE))
}

#[test]
fn accurate_ecn_is_agreed_with_the_handshake_encodings_and_counters_start_at_five() {
    let mut harness = established(&accurate(), &accurate(), LinkFaults::default(), 1);
    assert_eq!(
        handshake_flags(&harness),
        (TcpFlags::SYN | TcpFlags::AE | TcpFlags::CWR | TcpFlags::ECE, TcpFlags::SYN | TcpFlags::CWR),
        "RFC 9768 §3.1.1: AE, CWR and ECE ask; a SYN-ACK of (0,1,0) answers a SYN that arrived Not-ECT (Table 2)"
    );
    assert!(harness.a.ecn.accurate && harness.b().ecn.accurate);
    assert!(harness.a.ecn.enabled && harness.b().ecn.enabled);
    let first_ack = harness.trace.iter().find(|e| e.from == Side::A && !e.flags.syn()).expect("ACK").clone();
    assert_eq!(ace(&first_ack), 0b010, "Table 4: the first ACK encodes the SYN-ACK's Not-ECT");
    let start = harness.trace.len();
    transfer(&mut harness, 100_000, usize::MAX);
    let entries = &harness.trace[start..];
    assert!(entries.iter().all(|e| ace(e) == 0b101), "no mark: every segment carries the counters' start, 5");
    assert!(entries.iter().filter(|e| e.len > 0).all(|e| e.ect), "new data is ECN-capable");
    assert!(entries.iter().filter(|e| e.len == 0).all(|e| !e.ect), "pure ACKs are not");
    assert_eq!(harness.a.counters().ecn_ce_reported, 0);
}

#[test]
fn a_listener_encodes_the_field_its_syn_arrived_with() {
    let syn = segment(SeqNumber(1000), None, TcpFlags::SYN | TcpFlags::AE | TcpFlags::CWR | TcpFlags::ECE, &[]);
    for (field, expected) in [
        (ecn_codepoint::NOT_ECT, TcpFlags::CWR),
        (ecn_codepoint::ECT1, TcpFlags::CWR | TcpFlags::ECE),
        (ecn_codepoint::ECT0, TcpFlags::AE),
        (ecn_codepoint::CE, TcpFlags::AE | TcpFlags::CWR),
    ] {
        let mut b =
            TcpConnection::accept(&accurate(), ADDRESS_B, ADDRESS_A, &syn, field, SeqNumber(5000), 0, Nanos::ZERO);
        let mut out = Vec::new();
        b.poll_transmit(Nanos::ZERO, &mut out);
        let syn_ack = out.iter().find(|s| s.flags.syn()).expect("SYN-ACK");
        assert_eq!(syn_ack.flags, TcpFlags::SYN | expected, "SYN with IP-ECN field {field:#04b}");
        assert!(!syn_ack.ect);
    }
}

#[test]
fn a_peer_that_speaks_rfc_3168_gets_classic_ecn_and_one_without_ecn_gets_none() {
    let classic = TcpConfig { ecn: true, ..config() };
    for (a, b, classic_agreed) in [
        (accurate(), classic.clone(), true),
        (classic, accurate(), true),
        (accurate(), config(), false),
        (config(), accurate(), false),
    ] {
        let mut harness = established(&a, &b, LinkFaults::default(), 2);
        let (syn, syn_ack) = handshake_flags(&harness);
        assert!(!harness.a.ecn.accurate && !harness.b().ecn.accurate, "{syn:?} answered by {syn_ack:?}");
        assert_eq!((harness.a.ecn.enabled, harness.b().ecn.enabled), (classic_agreed, classic_agreed));
        if classic_agreed {
            assert_eq!(syn_ack, TcpFlags::SYN | TcpFlags::ECE, "RFC 3168's answer");
        }
        let start = harness.trace.len();
        transfer(&mut harness, 20_000, usize::MAX);
        assert!(harness.trace[start..].iter().all(|e| !e.flags.contains(TcpFlags::AE)));
        assert!(harness.trace[start..].iter().filter(|e| e.len > 0).all(|e| e.ect == classic_agreed));
    }
}

#[test]
fn every_mark_is_counted_and_reported_and_a_classic_controller_cuts_once_per_window() {
    let mut harness = established(&accurate(), &accurate(), LinkFaults::default(), 3);
    transfer(&mut harness, 300_000, usize::MAX);
    let cwnd = harness.a.congestion.window();
    // Data segments 10, 11, 12 (a run) and 30 marked: four marks, in the same window.
    let mut count = 0;
    harness.mark = Some(Box::new(move |entry| {
        count += usize::from(entry.len > 0);
        entry.len > 0 && matches!(count, 10..=12 | 30)
    }));
    let start = harness.trace.len();
    transfer(&mut harness, 1_000_000, usize::MAX);
    assert_eq!(harness.b().counters().ecn_ce_received, 4);
    let a = *harness.a.counters();
    assert_eq!(a.ecn_ce_reported, 4, "each mark reported");
    assert_eq!((a.ecn_reductions, a.retransmits), (1, 0), "one reduction for a window's marks, nothing resent");
    let ssthresh = harness.a.congestion.slow_start_threshold();
    assert!(ssthresh < cwnd && ssthresh * 10 >= cwnd * 6, "CUBIC's 0.7: ssthresh {ssthresh} from cwnd {cwnd}");
    let from_b: Vec<_> = harness.trace[start..].iter().filter(|e| e.from == Side::B).collect();
    assert_eq!(from_b.last().map(|e| ace(e)), Some((5 + 4) % 8), "the count went from 5 to 9");
    assert!(harness.trace[start..].iter().all(|e| e.from == Side::B || ace(e) == 0b101), "B saw no mark");
}

#[test]
fn marks_on_small_segments_are_acknowledged_before_the_field_could_wrap() {
    // Twenty 100-byte segments in a row, all marked: without the ACKs the marks trigger, they would wait for the
    // delayed ACK (less than a full segment each) and the three-bit field would wrap.
    let nodelay = TcpConfig { nodelay: true, ..accurate() };
    let mut harness = established(&nodelay, &accurate(), LinkFaults::default(), 4);
    transfer(&mut harness, 50_000, usize::MAX);
    harness.mark = Some(Box::new(|entry| entry.len > 0));
    let start = harness.trace.len();
    let data = [0x42; 100];
    for _ in 0..20 {
        assert_eq!(harness.a.send(&sga(&data)).expect("send"), 100);
        harness.run_for(Duration::from_micros(1));
    }
    let mut received = 0;
    let done = harness.run_until(Duration::from_secs(5), |h| {
        while let Some(got) = h.b_mut().recv(usize::MAX).expect("recv") {
            if got.is_empty() {
                break;
            }
            received += got.len();
        }
        received == 2000
    });
    assert!(done);
    harness.run_for(Duration::from_millis(100));
    let marked = harness.b().counters().ecn_ce_received;
    assert!(marked >= 20, "{marked} marks");
    assert_eq!(harness.a.counters().ecn_ce_reported, marked, "every mark reported: the field never wrapped");
    let acks = harness.trace[start..].iter().filter(|e| e.from == Side::B).count();
    assert!(acks >= 10, "an ACK at least every second mark: {acks}");
}

#[test]
fn a_first_ack_whose_field_a_middlebox_cleared_turns_ecn_off_at_the_listener() {
    // Without timestamps, so that the ACK can be made again from the trace.
    let plain = TcpConfig { timestamps: false, ..accurate() };
    let mut harness = Harness::new(&plain, &plain, LinkFaults::default(), 5);
    harness.filter = Some(Box::new(|entry| entry.from == Side::A && !entry.flags.syn() && entry.len == 0));
    let done =
        harness.run_until(Duration::from_secs(1), |h| h.trace.iter().any(|e| e.from == Side::A && !e.flags.syn()));
    assert!(done);
    harness.filter = None;
    let ack = harness.trace.iter().find(|e| e.from == Side::A && !e.flags.syn()).expect("ACK").clone();
    assert_eq!(ace(&ack), 0b010);
    let mut cleared = segment(ack.seq, ack.ack, TcpFlags::empty(), &[]);
    (cleared.src_port, cleared.dst_port, cleared.window_len) = (ADDRESS_A.port(), ADDRESS_B.port(), ack.window);
    harness.inject(Side::B, &cleared);
    harness.run_for(Duration::from_millis(10));
    let b = harness.b();
    assert!(b.ecn.accurate && !b.ecn.enabled, "AccECN feedback stays, ECN-capable sending stops");
    let start = harness.trace.len();
    let data = vec![1; 30_000];
    let mut sent = 0;
    harness.run_until(Duration::from_secs(5), |h| {
        sent += h.b_mut().send(&sga(&data[sent..])).expect("send");
        sent == data.len() && h.b().counters().bytes_out >= 30_000
    });
    assert!(harness.trace[start..].iter().filter(|e| e.from == Side::B && e.len > 0).all(|e| !e.ect));
}

/// 20 MB from A (DCTCP) to B (CUBIC, not DCTCP), every 20th data segment marked, with Accurate ECN or
/// classic ECN: DCTCP's alpha (from 1, RFC 8257, it needs some 50 round trips to settle), and the time it took.
fn dctcp_to_a_cubic_receiver(accurate_ecn: bool) -> (f64, Duration) {
    let sender = TcpConfig { congestion: CongestionAlgorithm::Dctcp, accurate_ecn, ..config() };
    let receiver = TcpConfig { ecn: true, accurate_ecn, ..config() };
    let mut harness = established(&sender, &receiver, LinkFaults::default(), 6);
    assert_eq!(harness.a.ecn.accurate, accurate_ecn);
    let mut count = 0;
    harness.mark = Some(Box::new(move |_| {
        count += 1;
        count % 20 == 0
    }));
    let start = harness.elapsed();
    transfer(&mut harness, 20_000_000, usize::MAX);
    let Controller::Dctcp(controller) = &harness.a.congestion else { panic!("DCTCP") };
    assert_eq!(harness.a.counters().retransmits, 0);
    let (a, b) = (harness.a.counters(), harness.b().counters());
    assert_eq!(a.ecn_ce_reported, if accurate_ecn { b.ecn_ce_received } else { 0 });
    assert!(a.ecn_reductions > 20, "{a:?}");
    (controller.alpha(), harness.elapsed() - start)
}

#[test]
fn dctcp_learns_each_mark_from_a_receiver_that_is_not_dctcp() {
    // A classic receiver echoes ECE from a mark until the sender's CWR, a round trip of ACKs: DCTCP takes
    // nearly every byte for marked. Accurate ECN reports the marks themselves: alpha near the marked fraction.
    let (exact, exact_took) = dctcp_to_a_cubic_receiver(true);
    let (classic, classic_took) = dctcp_to_a_cubic_receiver(false);
    eprintln!("alpha {exact:.3} in {exact_took:?} with Accurate ECN, {classic:.3} in {classic_took:?} with RFC 3168");
    assert!((0.02..0.12).contains(&exact), "alpha {exact}");
    assert!(classic > 2.0 * exact, "classic ECN's alpha {classic} against {exact}");
    assert!(exact_took < classic_took, "{exact_took:?} against {classic_took:?}");
}

#[test]
fn a_lost_handshake_ack_leaves_the_first_data_segment_to_complete_it_with_a_count() {
    // A's ACK of the SYN-ACK (the handshake encoding) is lost; its first data segment, carrying the count (5),
    // completes B's handshake: not a cleared field, and every mark after it is counted.
    let mut harness = Harness::new(&accurate(), &accurate(), LinkFaults::default(), 7);
    let mut dropped = false;
    harness.filter = Some(Box::new(move |entry| {
        let first_ack = entry.from == Side::A && !entry.flags.syn() && entry.len == 0 && !dropped;
        dropped |= first_ack;
        first_ack
    }));
    let mut count = 0;
    harness.mark = Some(Box::new(move |entry| {
        count += usize::from(entry.len > 0);
        entry.len > 0 && count % 10 == 0
    }));
    let a_open = harness.run_until(Duration::from_secs(1), |h| h.a.state() == crate::tcp::TcpState::Established);
    assert!(a_open && harness.b().state() == crate::tcp::TcpState::SynReceived, "{:?}", harness.states());
    transfer(&mut harness, 200_000, usize::MAX);
    let b = harness.b();
    assert_eq!(b.ecn_mode(), crate::tcp::EcnMode::Accurate { sending: true });
    assert!(b.counters().ecn_ce_received >= 10);
    assert_eq!(harness.a.counters().ecn_ce_reported, b.counters().ecn_ce_received);
}

#[test]
fn a_retransmitted_syn_asks_for_accurate_ecn_once_more_and_a_later_one_not() {
    let asking = TcpFlags::SYN | TcpFlags::AE | TcpFlags::CWR | TcpFlags::ECE;
    for (lost, agreed) in [(1, true), (2, false)] {
        let mut harness = Harness::new(&accurate(), &accurate(), LinkFaults::default(), 8);
        let mut dropped = 0;
        harness.filter = Some(Box::new(move |entry| {
            let drop = entry.flags.syn() && entry.ack.is_none() && dropped < lost;
            dropped += usize::from(drop);
            drop
        }));
        let done = harness.run_until(Duration::from_secs(10), |h| h.states().1.is_some_and(|s| s.is_synchronized()));
        assert!(done);
        let syns: Vec<_> = harness.trace.iter().filter(|e| e.flags.syn() && e.ack.is_none()).map(|e| e.flags).collect();
        let expected: &[TcpFlags] = if lost == 1 { &[asking, asking] } else { &[asking, asking, TcpFlags::SYN] };
        assert_eq!(syns, expected);
        assert_eq!(harness.b().ecn.accurate, agreed, "{lost} SYN(s) lost");
    }
}
