//! Hostile and odd input: RFC 5961 challenge ACKs for in-window RST and SYN, out-of-window RSTs, bad ACKs,
//! PAWS, bounded reassembly, and random segments that must never panic.

use std::time::Duration;

use super::util::{buffer, config, established, segment, sga};
use crate::tcp::harness::{Harness, LinkFaults, Rng, Side};
use crate::tcp::{TcpConfig, TcpState};
use crate::wire::{SeqNumber, TcpFlags, TcpOptions, TcpRepr, TcpTimestamps};

/// An established pair and the next sequence numbers each side expects from A (B's RCV.NXT) and from B.
fn pair(seed: u64) -> (Harness, SeqNumber, SeqNumber) {
    let harness = established(&config(), &config(), LinkFaults::default(), seed);
    let from_a = harness.a.snd_nxt;
    let from_b = harness.b().snd_nxt;
    (harness, from_a, from_b)
}

fn with_timestamps<'a>(mut repr: TcpRepr<'a>, harness: &Harness, value: u32) -> TcpRepr<'a> {
    let echo = harness.b().timestamps.as_ref().map(|ts| ts.value(harness.clock())).unwrap_or(0);
    repr.options = TcpOptions { timestamps: Some(TcpTimestamps { value, echo_reply: echo }), ..TcpOptions::default() };
    repr.src_port = 40000;
    repr.dst_port = 80;
    repr
}

#[test]
fn rst_with_exact_sequence_resets() {
    let (mut harness, from_a, _) = pair(60);
    harness.inject(Side::B, &segment(from_a, None, TcpFlags::RST, &[]));
    assert_eq!(harness.b().state(), TcpState::Closed);
    assert_eq!(harness.b().error().map(|e| e.errno()), Some(libc::ECONNRESET));
}

#[test]
fn rst_in_window_but_not_exact_gets_a_challenge_ack() {
    let (mut harness, from_a, from_b) = pair(61);
    let since = harness.trace.len();
    harness.inject(Side::B, &segment(from_a + 1000, None, TcpFlags::RST, &[]));
    assert_eq!(harness.b().state(), TcpState::Established);
    assert_eq!(harness.b().counters().challenge_acks, 1);
    harness.flush();
    let challenge = harness.trace[since..].iter().find(|e| e.from == Side::B).expect("challenge ACK sent");
    assert_eq!((challenge.seq, challenge.ack, challenge.len), (from_b, Some(from_a), 0));
    // Out of window: silently dropped.
    harness.inject(Side::B, &segment(from_a + 10_000_000, None, TcpFlags::RST, &[]));
    assert_eq!(harness.b().state(), TcpState::Established);
    assert_eq!(harness.b().counters().challenge_acks, 1);
    assert_eq!(harness.b().counters().drops.out_of_window, 1);
    // The real peer, answering the challenge, is unaffected.
    harness.a.send(&sga(b"still here")).expect("send");
    harness.run_for(Duration::from_millis(50));
    assert_eq!(harness.b_mut().recv(100).expect("ok").expect("data").to_vec(), b"still here");
}

#[test]
fn syn_on_an_established_connection_gets_a_challenge_ack() {
    let (mut harness, from_a, _) = pair(62);
    harness.inject(Side::B, &segment(from_a, None, TcpFlags::SYN, &[]));
    harness.inject(Side::B, &segment(from_a + 5, Some(SeqNumber(1)), TcpFlags::SYN, &[]));
    assert_eq!(harness.b().state(), TcpState::Established);
    assert_eq!(harness.b().counters().challenge_acks, 2);
    assert_eq!(harness.b().counters().drops.unexpected_syn, 2);
}

#[test]
fn challenge_acks_are_rate_limited() {
    let config_b = TcpConfig { challenge_ack_limit: 5, ..config() };
    let mut harness = established(&config(), &config_b, LinkFaults::default(), 63);
    let from_a = harness.a.snd_nxt;
    for i in 0..50 {
        harness.inject(Side::B, &segment(from_a + 100 + i, None, TcpFlags::RST, &[]));
    }
    assert_eq!(harness.b().counters().challenge_acks, 5);
    harness.run_for(Duration::from_secs(2));
    harness.inject(Side::B, &segment(from_a + 100, None, TcpFlags::RST, &[]));
    assert_eq!(harness.b().counters().challenge_acks, 6, "a new second, a new budget");
}

#[test]
fn ack_of_unsent_data_is_dropped() {
    let (mut harness, from_a, from_b) = pair(64);
    harness.inject(Side::B, &segment(from_a, Some(from_b + 5000), TcpFlags::empty(), b"evil"));
    assert_eq!(harness.b().counters().drops.bad_ack, 1);
    assert_eq!(harness.b_mut().recv(100).expect("ok").map(|d| d.len()), None, "its data was not taken");
}

#[test]
fn paws_drops_segments_with_old_timestamps() {
    let (mut harness, from_a, from_b) = pair(65);
    harness.a.send(&sga(b"fresh")).expect("send");
    harness.run_for(Duration::from_millis(50));
    let recent = harness.b().timestamps.as_ref().and_then(|ts| ts.option(harness.clock()).echo_reply.checked_sub(0));
    let old = recent.expect("TS.Recent").wrapping_sub(1000);
    let stale = with_timestamps(segment(from_a + 5, Some(from_b), TcpFlags::empty(), b"stale"), &harness, old);
    harness.inject(Side::B, &stale);
    assert_eq!(harness.b().counters().drops.paws, 1);
    assert_eq!(harness.b_mut().recv(100).expect("ok").expect("data").to_vec(), b"fresh");
}

/// A duplicate ACK overtaken by a newer segment carries a TSval older than TS.Recent. PAWS lets such a pure
/// ACK through when it is less than one RTO older (as Linux does); an older one, or one with data, is still
/// dropped.
#[test]
fn paws_lets_a_reordered_duplicate_ack_through() {
    let (mut harness, from_a, from_b) = pair(68);
    harness.a.send(&sga(b"fresh")).expect("send");
    harness.run_for(Duration::from_millis(50));
    let recent = harness.b().timestamps.as_ref().and_then(|ts| ts.recent()).expect("TS.Recent");
    let from_a = from_a + 5;
    let window = (harness.b().snd_wnd >> harness.b().snd_shift) as u16;
    let late_ack = |harness: &Harness, tsval: u32| {
        let mut ack = segment(from_a, Some(from_b), TcpFlags::empty(), &[]);
        ack.window_len = window;
        with_timestamps(ack, harness, tsval)
    };
    // Two duplicate ACKs sent 3 ms apart arrive newest first.
    let newer = late_ack(&harness, recent.wrapping_add(3));
    harness.inject(Side::B, &newer);
    let reordered = late_ack(&harness, recent);
    let acks_out = harness.b().counters().acks_out;
    harness.inject(Side::B, &reordered);
    assert_eq!(harness.b().counters().drops.paws, 0, "3 ms older: overtaken, not stale");
    assert_eq!(harness.b().counters().acks_out, acks_out, "and not answered");
    let stale = late_ack(&harness, recent.wrapping_sub(100_000));
    harness.inject(Side::B, &stale);
    assert_eq!(harness.b().counters().drops.paws, 1, "100 s older: stale");
    let data = with_timestamps(segment(from_a, Some(from_b), TcpFlags::empty(), b"x"), &harness, recent);
    harness.inject(Side::B, &data);
    assert_eq!(harness.b().counters().drops.paws, 2, "data is never let through");
}

/// RFC 7323 §5.5: TS.Recent is not trusted after 24 days without an update. In 25 idle days the peer's
/// millisecond clock moves past 2^31, so its next TSval reads as older than TS.Recent: without the rule PAWS would
/// drop every segment of the connection from then on.
#[test]
fn paws_forgets_ts_recent_after_24_idle_days() {
    let mut harness = established(&config(), &config(), LinkFaults::default(), 67);
    harness.a.send(&sga(b"before ")).expect("send");
    harness.run_for(Duration::from_millis(50));
    harness.run_for(Duration::from_secs(25 * 24 * 60 * 60));
    harness.a.send(&sga(b"and after")).expect("send");
    harness.run_for(Duration::from_secs(1));
    assert_eq!(harness.b().counters().drops.paws, 0);
    assert_eq!(harness.b_mut().recv(100).expect("ok").expect("data").to_vec(), b"before and after");
}

#[test]
fn reassembly_memory_is_bounded() {
    let config_b = TcpConfig { max_out_of_order_fragments: Some(16), ..config() };
    let mut harness = established(&config(), &config_b, LinkFaults::default(), 66);
    let (from_a, from_b) = (harness.a.snd_nxt, harness.b().snd_nxt);
    // One-byte segments with gaps between them, far more than the fragment limit, all inside the window.
    for i in 0..1000u32 {
        harness.inject(Side::B, &segment(from_a + 2 + 2 * i, Some(from_b), TcpFlags::empty(), b"x"));
    }
    let (queued, held_bytes, fragments) = harness.b().buffered_receive();
    assert_eq!((queued, fragments, held_bytes), (0, 16, 16));
    assert_eq!(harness.b().counters().drops.reassembly_full, 1000 - 16);
    assert_eq!(harness.b().counters().out_of_order, 1000);
    // Beyond the window: refused outright.
    harness.inject(Side::B, &segment(from_a + 10_000_000, Some(from_b), TcpFlags::empty(), b"far"));
    assert_eq!(harness.b().counters().drops.out_of_window, 1);
    // Filling the first gap delivers the held run.
    harness.inject(Side::B, &segment(from_a, Some(from_b), TcpFlags::empty(), b"ab"));
    assert_eq!(harness.b().buffered_receive().0, 3, "ab and x; then a gap at +3");
}

#[test]
fn a_large_window_holds_every_out_of_order_segment_it_has_room_for() {
    // 4 MiB of buffer: the default limit is one fragment per 536 bytes of it (7825), not a fixed 256.
    let config_b = TcpConfig { recv_buffer: 4 << 20, recv_buffer_max: None, ..config() };
    assert_eq!(config_b.out_of_order_limit(), (4 << 20) / 536);
    let fixed = TcpConfig { recv_buffer_max: None, ..config() };
    assert_eq!(fixed.out_of_order_limit(), 489, "256 KiB of buffer");
    assert_eq!(config().out_of_order_limit(), 8192, "the 6 MiB auto-tuning may grow the default buffer to");
    assert_eq!(TcpConfig { recv_buffer: 4096, ..fixed }.out_of_order_limit(), 256, "never under 256");
    assert_eq!(TcpConfig { recv_buffer: 1 << 30, ..config() }.out_of_order_limit(), 8192, "nor over 8192");
    let mut harness = established(&config(), &config_b, LinkFaults::default(), 68);
    // A first byte draws an ACK with B's whole window (the SYN-ACK's is never scaled: 64 KiB at most).
    harness.a.send(&sga(b"!")).expect("send");
    harness.run_for(Duration::from_millis(100));
    assert_eq!(harness.b_mut().recv(1).expect("ok").expect("data").to_vec(), b"!");
    harness.run_for(Duration::from_millis(100));
    let (from_a, from_b) = (harness.a.snd_nxt, harness.b().snd_nxt);
    // The first full segment of a 1.4 MB flight is lost; the 999 behind it arrive.
    let payload = [7u8; 1460];
    for i in 1..1000u32 {
        harness.inject(Side::B, &segment(from_a + 1460 * i, Some(from_b), TcpFlags::empty(), &payload));
    }
    assert_eq!(harness.b().buffered_receive(), (0, 999 * 1460, 999), "all held, none dropped");
    assert_eq!(harness.b().counters().drops.reassembly_full, 0);
    harness.inject(Side::B, &segment(from_a, Some(from_b), TcpFlags::empty(), &payload));
    assert_eq!(harness.b().buffered_receive(), (1000 * 1460, 0, 0), "the hole filled delivers the flight");
}

#[test]
fn sack_blocks_describe_the_holes() {
    let (mut harness, from_a, from_b) = pair(67);
    let since = harness.trace.len();
    harness.inject(Side::B, &segment(from_a + 100, Some(from_b), TcpFlags::empty(), &[1; 100]));
    harness.inject(Side::B, &segment(from_a + 300, Some(from_b), TcpFlags::empty(), &[1; 100]));
    harness.flush();
    let acks: Vec<_> = harness.trace[since..].iter().filter(|e| e.from == Side::B).cloned().collect();
    assert_eq!(acks.len(), 2, "each out-of-order segment is acknowledged at once");
    assert!(acks.iter().all(|ack| ack.ack == Some(from_a) && ack.sack_blocks == 2));
}

#[test]
fn random_segments_never_panic() {
    for seed in 0..4u64 {
        let (mut harness, from_a, from_b) = pair(70 + seed);
        let mut rng = Rng::new(seed);
        let payload = [0xabu8; 64];
        for _ in 0..3000 {
            let near = |rng: &mut Rng, base: SeqNumber| match rng.next_u64() % 3 {
                0 => base + (rng.next_u64() % 70_000) as u32,
                1 => base - (rng.next_u64() % 70_000) as u32,
                _ => SeqNumber(rng.next_u64() as u32),
            };
            let seq = near(&mut rng, from_a);
            let ack = (rng.next_u64() % 4 != 0).then(|| near(&mut rng, from_b));
            let flags = TcpFlags::from_bits((rng.next_u64() as u8) & !TcpFlags::ACK.bits());
            let len = (rng.next_u64() % 65) as usize;
            let mut repr = segment(seq, ack, flags, &payload[..len]);
            repr.window_len = rng.next_u64() as u16;
            if rng.next_u64() % 2 == 0 {
                repr.options.timestamps = Some(TcpTimestamps { value: rng.next_u64() as u32, echo_reply: 0 });
            }
            let target = if rng.next_u64() % 2 == 0 { Side::A } else { Side::B };
            harness.inject(target, &repr);
            if rng.next_u64() % 16 == 0 {
                harness.step();
            }
        }
        // Mismatched payload views are refused, not trusted.
        let now = harness.clock();
        harness.a.on_segment(now, &segment(from_b, Some(from_a), TcpFlags::empty(), b"ab"), buffer(b"a"));
        assert!(harness.a.counters().drops.malformed >= 1);
        harness.run_for(Duration::from_secs(5));
    }
}

/// A pair in which A has sent `len` bytes and B has them all; returns it and A's first sequence number.
fn delivered_to_b(seed: u64, len: usize) -> (Harness, SeqNumber) {
    let (mut harness, from_a, _) = pair(seed);
    harness.a.send(&sga(&vec![7u8; len])).expect("send");
    harness.run_for(Duration::from_millis(50));
    assert_eq!(harness.b().rcv_nxt, from_a + len as u32);
    (harness, from_a)
}

/// D-SACK (RFC 2883): data received twice is reported as the first SACK block of the next ACK, sent at once:
/// a whole old segment, the old part of a partly new one, and a repeat of out-of-order data.
#[test]
fn duplicate_data_is_reported_with_a_dsack_block() {
    let (mut harness, from_a) = delivered_to_b(70, 1000);
    let first_sack_of_next_b_ack = |harness: &mut Harness, repr: TcpRepr<'_>| {
        let since = harness.trace.len();
        harness.inject(Side::B, &with_timestamps(repr, harness, 1));
        harness.run_for(Duration::from_millis(1));
        let acks: Vec<_> = harness.trace[since..].iter().filter(|e| e.from == Side::B).cloned().collect();
        assert!(!acks.is_empty(), "a duplicate is answered at once");
        acks[0].first_sack_block
    };
    let ack = Some(harness.b().snd_nxt);
    // The whole first 500 bytes again.
    let whole = first_sack_of_next_b_ack(&mut harness, segment(from_a, ack, TcpFlags::ACK, &[7u8; 500]));
    assert_eq!(whole, Some((from_a, from_a + 500)));
    // 200 old bytes and 100 new ones: the old part is the D-SACK block; the new part is taken.
    let partial = first_sack_of_next_b_ack(&mut harness, segment(from_a + 800, ack, TcpFlags::ACK, &[7u8; 300]));
    assert_eq!(partial, Some((from_a + 800, from_a + 1000)));
    assert_eq!(harness.b().rcv_nxt, from_a + 1100);
    // Out of order twice: the first copy is SACKed as usual, the second reported as a duplicate.
    let ahead = from_a + 2000;
    let first = first_sack_of_next_b_ack(&mut harness, segment(ahead, ack, TcpFlags::ACK, &[7u8; 100]));
    assert_eq!(first, Some((ahead, ahead + 100)));
    let again = first_sack_of_next_b_ack(&mut harness, segment(ahead + 50, ack, TcpFlags::ACK, &[7u8; 50]));
    assert_eq!(again, Some((ahead + 50, ahead + 100)));
    assert_eq!(harness.b().counters().drops.out_of_window, 1, "only the wholly old segment is out of window");
}

/// Several duplicates handled in one batch (before the next transmit) each get an ACK with their own D-SACK
/// block, as they would arriving one by one: a sender undoes a spurious recovery only once every range it resent
/// is reported (`tcp/undo.rs`). One D-SACK per batch reported the last duplicate only.
#[test]
fn each_duplicate_of_a_batch_gets_its_own_dsack() {
    let (mut harness, from_a) = delivered_to_b(71, 1500);
    let ack = Some(harness.b().snd_nxt);
    let since = harness.trace.len();
    for start in [0u32, 500, 1000] {
        let repr = segment(from_a + start, ack, TcpFlags::ACK, &[7u8; 500]);
        let repr = with_timestamps(repr, &harness, 1);
        harness.inject(Side::B, &repr);
    }
    harness.run_for(Duration::from_millis(1));
    let reported: Vec<_> =
        harness.trace[since..].iter().filter(|e| e.from == Side::B).map(|e| e.first_sack_block).collect();
    let expected: Vec<_> = [0u32, 500, 1000].map(|start| Some((from_a + start, from_a + start + 500))).into();
    assert_eq!(reported, expected);
}

#[test]
fn small_segments_into_a_scaled_window_never_hold_more_than_the_buffer() {
    // A window scale of 1 (a buffer over 64 KiB) counts the window in units of 2 bytes. Rounding the window up
    // to whole units at every ACK, as this receiver once did to never move the right edge left, let each
    // 33-byte segment move the edge a byte further than the buffer: a reader that never reads held ever more.
    let config_b = TcpConfig { recv_buffer: 70_001, recv_buffer_max: None, ..config() };
    let config_a = TcpConfig { nodelay: true, ..config() };
    let mut harness = established(&config_a, &config_b, LinkFaults::default(), 67);
    assert_eq!(harness.b().rcv_shift, 1);
    harness.run_until(Duration::from_secs(60), |h| {
        if h.a.send_buffer.len() < 3300 {
            h.a.send(&sga(&[b'x'; 33])).expect("send");
        }
        false
    });
    let (queued, _, _) = harness.b().buffered_receive();
    assert!(queued > 69_000, "the window filled: {queued}");
    assert!(queued <= 70_001, "B holds {queued} bytes, buffer 70001");
}

#[test]
fn a_peer_sending_tiny_segments_to_a_reader_that_falls_behind_pins_few_packets() {
    // A sends its data a byte or two per segment; B reads nothing until its 16 KiB window is full. Each segment
    // arrives in a frame of its own: kept as views, the queue would hold over 10 000 frames for 16 KiB.
    let config_b = TcpConfig { recv_buffer: 16 * 1024, ..config() };
    let config_a = TcpConfig { nodelay: true, ..config() };
    let mut harness = established(&config_a, &config_b, LinkFaults::default(), 68);
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    harness.run_until(Duration::from_secs(60), |h| {
        if sent < data.len() && h.a.send_buffer.len() < 64 {
            let end = (sent + 1 + sent % 2).min(data.len());
            sent += h.a.send(&sga(&data[sent..end])).expect("send");
        }
        false
    });
    let queued = harness.b().receive_queue.len();
    let buffers = harness.b().receive_queue.buffer_count();
    assert!(queued > 15_000, "the window filled: {queued}");
    assert!(buffers <= 64, "{buffers} buffers hold {queued} bytes");
    let mut read = Vec::new();
    while let Some(got) = harness.b_mut().recv(usize::MAX).expect("recv") {
        if got.is_empty() {
            break;
        }
        read.extend_from_slice(&got.to_vec());
    }
    assert!(read[..] == data[..read.len()], "every byte once, in order");
}
