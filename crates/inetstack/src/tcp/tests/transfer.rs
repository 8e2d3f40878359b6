//! Data transfer without loss: segmentation, Nagle, delayed ACKs, window scaling, the advertised window's
//! right edge, zero windows and persist probes.

use std::time::Duration;

use super::util::{config, data_segments, established, pure_acks, sent_by, sga};
use crate::tcp::harness::{BulkTransfer, LinkFaults, Side};
use crate::tcp::{TcpConfig, TcpState};

#[test]
fn large_send_is_segmented_to_the_mss() {
    let mut harness = established(&config(), &config(), LinkFaults::default(), 10);
    let since = harness.trace.len();
    let data = vec![7u8; 100_000];
    assert_eq!(harness.a.send(&sga(&data)), Ok(100_000));
    harness.run_for(Duration::from_secs(1));
    let segments = sent_by(&harness, Side::A, since);
    let data = data_segments(&segments);
    assert!(data.iter().all(|entry| entry.len <= 1448));
    assert_eq!(data.iter().map(|entry| entry.len).sum::<usize>(), 100_000);
    assert_eq!(data.len(), 100_000usize.div_ceil(1448), "no runts, no retransmissions");
    assert!(data.last().is_some_and(|entry| entry.flags.psh()));
    assert_eq!(harness.b_mut().recv(usize::MAX).expect("ok").expect("data").len(), 100_000);
}

fn small_writes(nodelay: bool) -> usize {
    let config_a = TcpConfig { nodelay, ..config() };
    let mut harness = established(&config_a, &config(), LinkFaults::default(), 11);
    let since = harness.trace.len();
    for _ in 0..10 {
        harness.a.send(&sga(&[1u8; 10])).expect("send");
        harness.flush();
    }
    data_segments(&sent_by(&harness, Side::A, since)).len()
}

#[test]
fn nagle_coalesces_small_writes_unless_nodelay() {
    assert_eq!(small_writes(false), 1, "Nagle: one small segment in flight, the rest wait for its ACK");
    assert_eq!(small_writes(true), 10, "TCP_NODELAY: every write goes out at once");
    // With Nagle, the held bytes follow as one segment when the ACK comes back.
    let mut harness = established(&config(), &config(), LinkFaults::default(), 12);
    let since = harness.trace.len();
    for _ in 0..10 {
        harness.a.send(&sga(&[1u8; 10])).expect("send");
        harness.flush();
    }
    harness.run_for(Duration::from_millis(200));
    let lens: Vec<usize> = data_segments(&sent_by(&harness, Side::A, since)).iter().map(|e| e.len).collect();
    assert_eq!(lens, [10, 90]);
}

/// Minshall's variant of Nagle: a write that ends in a partial segment sends its tail at once behind full
/// segments (not after their ACK, which the receiver delays: a 40 ms stall per such write), but a small segment
/// still waits while another small one is unacknowledged.
#[test]
fn nagle_holds_a_small_segment_only_behind_an_unacknowledged_small_one() {
    let mut harness = established(&config(), &config(), LinkFaults::default(), 14);
    let since = harness.trace.len();
    let lens = |harness: &crate::tcp::harness::Harness| -> Vec<usize> {
        data_segments(&sent_by(harness, Side::A, since)).iter().map(|e| e.len).collect()
    };
    harness.a.send(&sga(&[1u8; 2000])).expect("send");
    harness.flush();
    assert_eq!(lens(&harness), [1448, 552], "the tail goes out behind the full segment");
    harness.a.send(&sga(&[2u8; 10])).expect("send");
    harness.flush();
    assert_eq!(lens(&harness), [1448, 552], "held: the 552-byte segment is unacknowledged");
    harness.run_for(Duration::from_millis(200));
    assert_eq!(lens(&harness), [1448, 552, 10], "sent once it is acknowledged");
    assert_eq!(harness.b_mut().recv(usize::MAX).expect("ok").expect("data").len(), 2010);
}

#[test]
fn delayed_ack_every_second_full_segment_and_timer_for_odd_ones() {
    // 100 Mbit/s spaces the segments out, so B sees them one at a time.
    let link = LinkFaults { bandwidth: Some(100_000_000), ..LinkFaults::default() };
    let mut harness = established(&config(), &config(), link, 13);
    let since = harness.trace.len();
    harness.a.send(&sga(&vec![0u8; 1448 * 8])).expect("send");
    harness.run_for(Duration::from_millis(100));
    let acks = pure_acks(&sent_by(&harness, Side::B, since)).len();
    assert_eq!(acks, 4, "eight full segments, one ACK per two");
    assert_eq!(harness.b().counters().delayed_acks_coalesced, 4);

    // A lone small segment is acknowledged when the 40 ms delayed-ACK timer fires.
    let since = harness.trace.len();
    let sent_at = harness.elapsed();
    harness.a.send(&sga(b"tiny")).expect("send");
    harness.run_for(Duration::from_millis(100));
    let acks = pure_acks(&sent_by(&harness, Side::B, since)).into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(acks.len(), 1);
    let delay = acks[0].at - sent_at;
    assert!(delay >= Duration::from_millis(45) && delay < Duration::from_millis(46), "{delay:?}");
}

#[test]
fn a_full_and_a_partial_segment_are_acknowledged_at_once() {
    // More than a full segment's worth unacknowledged: the ACK goes at once, though only one of the two
    // segments is full-sized and B's application does not read. Held for the 40 ms delayed-ACK timer, it came
    // after A's loss probe (PTO = 2 SRTT = 20 ms on this 10 ms path), which resent the 552 bytes for nothing.
    let mut harness = established(&config(), &config(), LinkFaults::default(), 15);
    let mss = harness.a.send_mss();
    send_and_deliver_once(&mut harness, 2 * mss);
    let since = harness.trace.len();
    let sent_at = harness.elapsed();
    harness.a.send(&sga(&vec![1u8; mss + 552])).expect("send");
    harness.run_for(Duration::from_millis(100));
    // B's last ACK covers the message (an earlier one may still answer the warm-up's data).
    let acks = pure_acks(&sent_by(&harness, Side::B, since)).into_iter().cloned().collect::<Vec<_>>();
    let last = acks.last().expect("an ACK");
    assert!(last.at - sent_at < Duration::from_millis(6), "at the one-way delay: {acks:?}");
    assert_eq!(last.sack_blocks, 0, "no D-SACK of a probe's duplicate: {acks:?}");
    let a = harness.a.counters();
    assert_eq!((a.tlp_probes, a.retransmits), (0, 0), "{a:?}");
}

/// A sends `len` bytes and B reads them (an RTT sample for A).
fn send_and_deliver_once(harness: &mut crate::tcp::harness::Harness, len: usize) {
    harness.a.send(&sga(&vec![0u8; len])).expect("send");
    let mut got = 0;
    assert!(harness.run_until(Duration::from_secs(5), |h| {
        while let Ok(Some(data)) = h.b_mut().recv(usize::MAX) {
            got += data.len();
        }
        got == len
    }));
}

#[test]
fn no_delayed_ack_when_configured_off() {
    let config_b = TcpConfig { delayed_ack: Duration::ZERO, ..config() };
    let mut harness = established(&config(), &config_b, LinkFaults::default(), 14);
    let since = harness.trace.len();
    harness.a.send(&sga(b"tiny")).expect("send");
    harness.run_for(Duration::from_millis(100));
    let acks: Vec<_> = pure_acks(&sent_by(&harness, Side::B, since)).into_iter().cloned().collect();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].at, harness.trace[since].at + Duration::from_millis(5));
}

#[test]
fn window_scaling_allows_more_than_64k_in_flight() {
    let big = TcpConfig { recv_buffer: 4 << 20, send_buffer: 4 << 20, ..config() };
    let mut harness = established(&big, &big, LinkFaults::default(), 15);
    harness.a.send(&sga(&vec![0u8; 2 << 20])).expect("send");
    harness.run_for(Duration::from_millis(20));
    assert!(harness.a.send_window() > 4_000_000, "{}", harness.a.send_window());
    // 100 ms of slow start over a 10 ms RTT opens cwnd well past 64 KiB.
    harness.run_for(Duration::from_millis(100));
    let (queued, ..) = harness.b().buffered_receive();
    assert!(queued > 1 << 20, "only {queued} bytes arrived");
}

#[test]
fn receive_window_right_edge_never_moves_left() {
    let config_b = TcpConfig { recv_buffer: 32 * 1024, ..config() };
    let mut harness = established(&config(), &config_b, LinkFaults::default(), 16);
    let mut transfer = BulkTransfer::new(300_000, 16);
    // A slow reader: B reads 1000 bytes every 5 ms of virtual time.
    let mut next_read = harness.now;
    let done = harness.run_until(Duration::from_secs(120), |h| {
        if h.now >= next_read {
            next_read = h.now + Duration::from_millis(5);
            if let Ok(Some(data)) = h.b_mut().recv(1000) {
                transfer.received.extend_from_slice(&data.to_vec());
            }
        }
        if h.a.state() == TcpState::Established && transfer.sent < transfer.data.len() {
            let end = (transfer.sent + 4096).min(transfer.data.len());
            if let Ok(n) = h.a.send(&sga(&transfer.data[transfer.sent..end])) {
                transfer.sent += n;
            }
        }
        transfer.received.len() == transfer.data.len()
    });
    // The reader only runs when something happens; once the link falls quiet, it drains what is left.
    let _ = done;
    while let Ok(Some(data)) = harness.b_mut().recv(usize::MAX) {
        transfer.received.extend_from_slice(&data.to_vec());
    }
    assert_eq!(transfer.received.len(), transfer.data.len());
    assert_eq!(transfer.received, transfer.data);
    let mut right_edge = 0i64;
    let shift = 0; // 32 KiB fits in 16 bits: B does not scale.
    for entry in harness.trace.iter().filter(|e| e.from == Side::B && e.ack.is_some() && !e.flags.syn()) {
        let edge = i64::from(entry.ack.map_or(0, |ack| ack.0.wrapping_sub(crate::tcp::harness::ISS_A.0)))
            + (i64::from(entry.window) << shift);
        assert!(edge >= right_edge, "right edge moved left: {edge} < {right_edge} at {:?}", entry.at);
        right_edge = edge;
    }
    assert!(harness.trace.iter().any(|e| e.from == Side::B && e.window < 4096), "the reader was slow enough");
}

#[test]
fn zero_window_is_probed_until_the_window_reopens() {
    let config_b = TcpConfig { recv_buffer: 16 * 1024, ..config() };
    let mut harness = established(&config(), &config_b, LinkFaults::default(), 17);
    harness.a.send(&sga(&vec![9u8; 40_000])).expect("send");
    harness.run_for(Duration::from_secs(10));
    assert_eq!(harness.a.send_window(), 0);
    let probes = harness.a.counters().window_probes;
    assert!(probes >= 3, "persist probes at backed-off intervals: {probes}");
    assert_eq!(harness.a.counters().timeouts, 0, "probes are not retransmission timeouts");
    // Probe times double (200 ms, 400 ms, 800 ms, ...).
    let probe_times: Vec<Duration> =
        harness.trace.iter().filter(|e| e.from == Side::A && e.len == 1).map(|e| e.at).collect();
    assert!(probe_times.windows(3).all(|w| (w[2] - w[1]) >= (w[1] - w[0])), "{probe_times:?}");
    // The application reads; a window update reopens the flow and everything arrives.
    let mut received = Vec::new();
    let done = harness.run_until(Duration::from_secs(30), |h| {
        while let Ok(Some(data)) = h.b_mut().recv(usize::MAX) {
            received.extend_from_slice(&data.to_vec());
        }
        received.len() == 40_000
    });
    assert!(done, "got {}", received.len());
    assert!(received.iter().all(|&b| b == 9));
    assert_eq!(harness.a.error(), None);
    // B had no room for the probes' byte, so the window update acknowledged below it: A went on from that
    // byte, not beyond it, so B saw no hole and A no duplicate ACKs (it once left a one-byte gap, filled by
    // a fast retransmission).
    let b = harness.b.as_ref().expect("B");
    assert_eq!(b.counters().out_of_order, 0, "{:?}", b.counters());
    let a = harness.a.counters();
    assert_eq!((a.dup_acks_in, a.fast_retransmits), (0, 0), "{a:?}");
}

#[test]
fn lost_window_update_is_recovered_by_a_probe() {
    let config_b = TcpConfig { recv_buffer: 16 * 1024, ..config() };
    let mut harness = established(&config(), &config_b, LinkFaults::default(), 18);
    harness.a.send(&sga(&vec![3u8; 30_000])).expect("send");
    harness.run_for(Duration::from_secs(1));
    assert_eq!(harness.a.send_window(), 0);
    // Drop every window update B sends on its own; only answers to probes get through.
    let mut updates_dropped = 0;
    harness.filter = Some(Box::new(move |entry| {
        let drop = entry.from == Side::B && entry.window > 0 && updates_dropped == 0;
        updates_dropped += usize::from(drop);
        drop
    }));
    let mut received = Vec::new();
    let done = harness.run_until(Duration::from_secs(30), |h| {
        while let Ok(Some(data)) = h.b_mut().recv(usize::MAX) {
            received.extend_from_slice(&data.to_vec());
        }
        received.len() == 30_000
    });
    assert!(done, "got {}", received.len());
    assert!(harness.a.counters().window_probes >= 1);
}

#[test]
fn a_lost_probe_byte_is_retransmitted_once_the_window_reopens() {
    // A zero-window probe carries a byte beyond the closed window. If every probe is lost and the window then
    // reopens with an ACK below that byte, the byte goes out again with what follows it: SND.NXT stayed at
    // it. (Before that, the 222 bytes queued behind it, under an MSS, were held by Nagle until the byte was
    // acknowledged, and only the retransmission timer sent it again: found by the stack-level fast-path
    // draws, seed 2332; that timer still covers it.)
    let config_b = TcpConfig { recv_buffer: 16 * 1024, ..config() };
    let mut harness = established(&config(), &config_b, LinkFaults::default(), 20);
    let total = 16 * 1024 + 223;
    harness.a.send(&sga(&vec![5u8; total])).expect("send");
    harness.filter = Some(Box::new(|entry| entry.from == Side::A && entry.len == 1));
    harness.run_for(Duration::from_secs(1));
    assert_eq!(harness.a.send_window(), 0);
    assert!(harness.a.counters().window_probes >= 1, "a probe went out (and was lost)");
    let mut received = Vec::new();
    let done = harness.run_until(Duration::from_secs(30), |h| {
        while let Ok(Some(data)) = h.b_mut().recv(usize::MAX) {
            received.extend_from_slice(&data.to_vec());
        }
        received.len() == total
    });
    assert!(done, "got {} of {total}; A {:?}", received.len(), harness.a.counters());
    assert!(received.iter().all(|&b| b == 5));
    assert_eq!(harness.a.counters().timeouts, 0, "the probe's byte went out with the window update");
    assert_eq!(harness.a.error(), None);
}

#[test]
fn bidirectional_transfer() {
    let mut harness = established(&config(), &config(), LinkFaults::lossy(0.02), 19);
    let to_b: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let to_a: Vec<u8> = (0..150_000u32).map(|i| (i % 241) as u8).collect();
    let (mut sent_b, mut sent_a, mut got_b, mut got_a) = (0, 0, Vec::new(), Vec::new());
    let done = harness.run_until(Duration::from_secs(300), |h| {
        if sent_b < to_b.len() {
            sent_b += h.a.send(&sga(&to_b[sent_b..])).unwrap_or(0);
        }
        if sent_a < to_a.len() {
            sent_a += h.b_mut().send(&sga(&to_a[sent_a..])).unwrap_or(0);
        }
        while let Ok(Some(data)) = h.b_mut().recv(usize::MAX) {
            got_b.extend_from_slice(&data.to_vec());
        }
        while let Ok(Some(data)) = h.a.recv(usize::MAX) {
            got_a.extend_from_slice(&data.to_vec());
        }
        got_b.len() == to_b.len() && got_a.len() == to_a.len()
    });
    assert!(done);
    assert_eq!((got_a, got_b), (to_a, to_b));
}
