//! RACK-TLP (RFC 8985) observed on scripted flights: tail losses repaired by a loss probe, a lost
//! retransmission and a loss with too little data after it repaired without the RTO, and reordering within
//! the reordering window left alone. Each scenario also runs with `rack_tlp: false`, to show what RFC 6675
//! alone does with the same schedule.

use std::collections::HashSet;
use std::time::Duration;

use super::util::{config, data_segments, established, sent_by, sga};
use crate::tcp::TcpConfig;
use crate::tcp::harness::{Harness, LinkFaults, Side};
use crate::wire::SeqNumber;

const FLIGHT: usize = 10;

/// An established pair whose RTT (10 ms) is measured, with the given RACK-TLP setting.
fn warmed_up(rack_tlp: bool, seed: u64) -> Harness {
    let tcp = TcpConfig { rack_tlp, ..config() };
    let mut harness = established(&tcp, &tcp, LinkFaults::default(), seed);
    let mss = harness.a.send_mss();
    send_and_deliver(&mut harness, 2 * mss);
    harness
}

/// A sends `len` bytes; runs until B has read them all. Returns how long that took.
fn send_and_deliver(harness: &mut Harness, len: usize) -> Duration {
    let start = harness.elapsed();
    harness.a.send(&sga(&vec![7u8; len])).expect("send");
    let mut got = 0;
    let done = harness.run_until(Duration::from_secs(30), |h| {
        while let Ok(Some(data)) = h.b_mut().recv(usize::MAX) {
            got += data.len();
        }
        got == len
    });
    assert!(done, "{:?}", harness.states());
    harness.elapsed() - start
}

/// Drops the first transmission of A's data segments starting at the given sequence numbers, and their
/// first `retransmissions_lost` retransmissions.
fn drop_segments(harness: &mut Harness, victims: Vec<SeqNumber>, retransmissions_lost: usize) {
    let mut seen: Vec<(SeqNumber, usize)> = Vec::new();
    harness.filter = Some(Box::new(move |entry| {
        if entry.from != Side::A || entry.len == 0 || !victims.contains(&entry.seq) {
            return false;
        }
        let count = match seen.iter_mut().find(|(seq, _)| *seq == entry.seq) {
            Some((_, count)) => {
                *count += 1;
                *count
            }
            None => {
                seen.push((entry.seq, 0));
                0
            }
        };
        count <= retransmissions_lost
    }));
}

/// The last `lost` segments of a 10-segment flight are lost once.
fn tail_loss(lost: usize, rack_tlp: bool) -> (Harness, Duration) {
    let mut harness = warmed_up(rack_tlp, 300 + lost as u64);
    let mss = harness.a.send_mss();
    let first = harness.a.snd_nxt;
    let victims = (FLIGHT - lost..FLIGHT).map(|i| first + (i * mss) as u32).collect();
    drop_segments(&mut harness, victims, 0);
    let took = send_and_deliver(&mut harness, FLIGHT * mss);
    (harness, took)
}

#[test]
fn a_tail_loss_probe_repairs_the_last_segments_of_a_flight_before_the_rto() {
    for lost in 1..=3 {
        let (harness, took) = tail_loss(lost, true);
        let counters = harness.a.counters();
        let rto = harness.a.retransmission_timeout();
        eprintln!("tail loss of {lost}: delivered in {took:?} (RTO {rto:?}); {counters:?}");
        assert_eq!(counters.timeouts, 0, "lost {lost}: {counters:?}");
        assert_eq!(counters.tlp_probes, 1, "lost {lost}: one probe per episode");
        assert_eq!(counters.retransmits, lost as u64, "lost {lost}: only the lost segments went again");
        if lost == 1 {
            // One segment in flight: the PTO allows for a delayed ACK (+200 ms), so the probe goes when the
            // RTO would have, but in its place: no timeout, no collapse of the window to one segment.
            assert!(harness.a.congestion_window() > 2 * harness.a.send_mss());
        } else {
            // PTO = 2 SRTT (20 ms): the flight is whole after about 4 round trips, not after an RTO.
            assert!(took < Duration::from_millis(60), "lost {lost}: {took:?}");
        }
        let (without, slow) = tail_loss(lost, false);
        assert_eq!(without.a.counters().timeouts, 1, "RFC 6675 alone waits for the RTO");
        assert!(slow >= Duration::from_millis(200), "{slow:?}");
    }
}

#[test]
fn a_probe_that_repaired_a_loss_reduces_the_window() {
    let (mut harness, _) = tail_loss(2, true);
    let mss = harness.a.send_mss();
    let before = harness.a.congestion_window();
    harness.filter = None;
    // The probe's episode ends with the next ACK beyond it.
    send_and_deliver(&mut harness, mss);
    let counters = harness.a.counters();
    assert_eq!(counters.fast_retransmits, 1, "the probe's SACK started one recovery (the segment before it)");
    assert_eq!(counters.tlp_repaired_losses, 0, "that recovery's reduction answered the loss");
    assert!(harness.a.congestion_window() <= before + mss);
}

/// Segments 4 and 6 of a 10-segment flight are lost, and so is the first retransmission of segment 4. No
/// new data follows.
fn lost_retransmission(rack_tlp: bool) -> (Harness, Duration) {
    let mut harness = warmed_up(rack_tlp, 310);
    let mss = harness.a.send_mss();
    let first = harness.a.snd_nxt;
    let victims = [first + (3 * mss) as u32, first + (5 * mss) as u32];
    let victim = victims[0];
    let mut drops: HashSet<(SeqNumber, usize)> = HashSet::new();
    harness.filter = Some(Box::new(move |entry| {
        if entry.from != Side::A || entry.len == 0 || !victims.contains(&entry.seq) {
            return false;
        }
        let times = (0..).find(|n| !drops.contains(&(entry.seq, *n))).unwrap_or(0);
        drops.insert((entry.seq, times));
        times == 0 || (entry.seq == victim && times == 1)
    }));
    let took = send_and_deliver(&mut harness, FLIGHT * mss);
    (harness, took)
}

#[test]
fn a_lost_retransmission_with_no_new_data_after_it_is_resent_without_the_rto() {
    let (harness, took) = lost_retransmission(true);
    let counters = harness.a.counters();
    eprintln!("lost retransmission: {took:?}; {counters:?}");
    assert_eq!(counters.timeouts, 0, "{counters:?}");
    assert_eq!(counters.lost_retransmits, 1, "{counters:?}");
    assert_eq!(counters.retransmits, 3, "segment 4 twice, segment 6 once");
    assert!(took < Duration::from_millis(60), "{took:?}");
    let (without, slow) = lost_retransmission(false);
    assert_eq!(without.a.counters().timeouts, 1, "{:?}", without.a.counters());
    assert!(slow >= Duration::from_millis(200), "{slow:?}");
}

/// Segment 8 of a 10-segment flight is lost: only two segments are SACKed after it, too few for DupThresh,
/// and nothing more is sent.
fn loss_with_two_segments_after_it(rack_tlp: bool) -> (Harness, Duration) {
    let mut harness = warmed_up(rack_tlp, 320);
    let mss = harness.a.send_mss();
    let victim = harness.a.snd_nxt + (7 * mss) as u32;
    drop_segments(&mut harness, vec![victim], 0);
    let took = send_and_deliver(&mut harness, FLIGHT * mss);
    (harness, took)
}

#[test]
fn the_reordering_timer_marks_a_segment_lost_when_too_few_follow_it_for_dupthresh() {
    let (harness, took) = loss_with_two_segments_after_it(true);
    let counters = harness.a.counters();
    eprintln!("reordering timer: {took:?}; {counters:?}");
    assert_eq!(counters.timeouts, 0, "{counters:?}");
    assert_eq!(counters.tlp_probes, 0, "the reordering timer (reo_wnd = min_RTT / 4) fires first");
    assert_eq!((counters.rack_lost_segments, counters.retransmits), (1, 1));
    assert!(took < Duration::from_millis(30), "{took:?}");
    let (without, slow) = loss_with_two_segments_after_it(false);
    assert_eq!(without.a.counters().timeouts, 1, "{:?}", without.a.counters());
    assert!(slow >= Duration::from_millis(200), "{slow:?}");
}

/// Two flights of 10 segments; in each, one segment is held back 1 ms (less than the reordering window,
/// min_RTT / 4 = 2.5 ms): the 9th in the first flight, the 3rd in the second.
fn reordered_flights(rack_tlp: bool) -> Harness {
    let mut harness = warmed_up(rack_tlp, 330);
    let mss = harness.a.send_mss();
    let base = harness.a.snd_nxt;
    let late = [base + (8 * mss) as u32, base + ((FLIGHT + 2) * mss) as u32];
    harness.delay = Some(Box::new(move |entry| {
        let hold = entry.from == Side::A && entry.len > 0 && late.contains(&entry.seq);
        if hold { Duration::from_millis(1) } else { Duration::ZERO }
    }));
    let since = harness.trace.len();
    send_and_deliver(&mut harness, FLIGHT * mss);
    send_and_deliver(&mut harness, FLIGHT * mss);
    // B has everything once the late segment lands; A hears of it a round trip later.
    harness.run_for(Duration::from_millis(100));
    assert!(data_segments(&sent_by(&harness, Side::A, since)).len() >= 2 * FLIGHT);
    harness
}

#[test]
fn reordering_within_the_reordering_window_is_not_a_loss() {
    let harness = reordered_flights(true);
    let counters = harness.a.counters();
    eprintln!("reordering: {counters:?}");
    assert_eq!(counters.retransmits, 0, "no spurious retransmission: {counters:?}");
    assert_eq!(counters.rack_lost_segments, 0);
    assert_eq!(counters.fast_retransmits, 0);
    // RFC 6675 alone: seven segments SACKed above the late one in the second flight make it `IsLost`.
    let without = reordered_flights(false);
    assert_eq!(without.a.counters().retransmits, 1, "{:?}", without.a.counters());
}

/// A path faster than the timestamps' millisecond tick: with or without timestamps, SRTT is the RTT measured on
/// the stack's clock, not 0; so the loss probe (PTO = 2 SRTT) waits for the flight's ACK instead of resending
/// its last segment in the instant the flight leaves (which it did while SRTT came from the timestamps alone).
#[test]
fn on_a_sub_millisecond_path_the_rtt_is_measured_and_no_probe_chases_its_flight() {
    let latency = Duration::from_micros(50);
    for timestamps in [true, false] {
        let tcp = TcpConfig { timestamps, ..config() };
        let faults = LinkFaults { latency, ..LinkFaults::default() };
        let mut harness = established(&tcp, &tcp, faults, 7);
        let mss = harness.a.send_mss();
        for flight in [2 * mss, 3 * mss + 100, 10 * mss, mss + 100] {
            send_and_deliver(&mut harness, flight);
        }
        let srtt = harness.a.smoothed_rtt().expect("measured");
        assert!(srtt >= 2 * latency && srtt < 4 * latency, "timestamps {timestamps}: SRTT {srtt:?}");
        let counters = harness.a.counters();
        assert_eq!((counters.tlp_probes, counters.retransmits), (0, 0), "timestamps {timestamps}: {counters:?}");
    }
}

/// Persistent reordering: 30% of A's segments arrive up to 8 ms late on a 10 ms round trip, longer than the
/// reordering window of min_RTT / 4 (2.5 ms). The first late segments are taken for lost and resent; their
/// D-SACKs widen the window (RFC 8985 §6.2 step 4), so the rest of the transfer resends almost nothing.
#[test]
fn d_sacks_widen_the_reordering_window_under_persistent_reordering() {
    let mut harness = established(&config(), &config(), LinkFaults::default(), 31);
    harness.faults_to_b = LinkFaults { reorder: 0.3, reorder_delay: Duration::from_millis(8), ..LinkFaults::default() };
    let total = 4 << 20;
    let resent = retransmits_of_a_transfer(&mut harness, total);
    let segments = (total / harness.a.send_mss()) as u64;
    assert!(resent * 100 < segments, "{resent} of {segments} resent: {:?}", harness.a.counters());
}

/// A sends `total` bytes and B reads them; returns A's retransmissions meanwhile.
fn retransmits_of_a_transfer(harness: &mut Harness, total: usize) -> u64 {
    let before = harness.a.counters().retransmits;
    let (mut sent, mut got) = (0, 0);
    let chunk = vec![7u8; 64 * 1024];
    assert!(harness.run_until(Duration::from_secs(60), |h| {
        if sent < total {
            sent += h.a.send(&sga(&chunk[..(total - sent).min(chunk.len())])).expect("send");
        }
        while let Ok(Some(data)) = h.b_mut().recv(usize::MAX) {
            got += data.len();
        }
        got == total
    }));
    harness.a.counters().retransmits - before
}

/// The path gets longer after `idle`: from a 0.2 ms round trip to 40 ms, with 30% of A's segments up to 8 ms
/// late. Returns A's retransmissions in 2 MiB sent over the longer path.
fn after_the_path_got_longer(idle: Duration) -> u64 {
    let short = LinkFaults { latency: Duration::from_micros(100), ..LinkFaults::default() };
    let mut harness = established(&config(), &config(), short, 12);
    assert_eq!(retransmits_of_a_transfer(&mut harness, 1 << 20), 0);
    harness.run_for(idle);
    let long = LinkFaults { latency: Duration::from_millis(20), ..LinkFaults::default() };
    harness.faults_to_a = long.clone();
    harness.faults_to_b = LinkFaults { reorder: 0.3, reorder_delay: Duration::from_millis(8), ..long };
    let resent = retransmits_of_a_transfer(&mut harness, 2 << 20);
    eprintln!("after {idle:?} idle: {resent} resent; {:?}", harness.a.counters());
    resent
}

/// RACK.min_RTT is the least RTT of the last 5 minutes: once they have passed, a path that got longer is measured
/// as it is, and its reordering window (min_RTT / 4 = 10 ms) covers segments 8 ms late: 5 of the 1 449 segments
/// resent (the first late ones, before reordering was seen and while the window is zero). Within the 5 minutes
/// the old 0.2 ms minimum holds, as a minimum over the connection's life would keep it for good: a window of
/// 0.05 ms, which D-SACKs widen by as little per round trip; 578 segments resent.
#[test]
fn a_path_that_got_longer_has_its_minimum_rtt_measured_anew_after_five_minutes() {
    let segments = (2 << 20) / 1448;
    let stale = after_the_path_got_longer(Duration::from_secs(60));
    let fresh = after_the_path_got_longer(Duration::from_secs(301));
    assert!(fresh * 100 < segments, "{fresh} resent with a fresh minimum");
    assert!(stale > 20 * fresh.max(1), "{stale} resent with the old minimum, {fresh} with a fresh one");
}
