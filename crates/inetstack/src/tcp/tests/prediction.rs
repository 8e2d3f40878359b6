//! Header prediction (`tcp/predict.rs`): the expected segment takes it, every bail-out condition sends the
//! segment to the general path, and whole transfers over faulty, bandwidth-limited links send the same segments
//! and end with the same counters with prediction on or off.

use std::time::Duration;

use super::util::{buffer, config, established};
use crate::tcp::harness::{BulkTransfer, Harness, LinkFaults};
use crate::tcp::{CongestionAlgorithm, TcpConfig, TcpConnection, TcpCounters, TcpState};
use crate::wire::{SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpRepr, TcpTimestamps};

const DATA: &[u8] = b"request";

/// An established pair, idle: nothing in flight either way.
fn pair(seed: u64) -> Harness {
    established(&config(), &config(), LinkFaults::default(), seed)
}

/// The segment B expects next from A: at RCV.NXT, ACK of everything, B's current window, A's timestamp.
fn expected<'a>(harness: &Harness, payload: &'a [u8]) -> TcpRepr<'a> {
    let b = harness.b();
    let value = harness.a.timestamps.as_ref().map_or(0, |ts| ts.value(harness.clock()));
    let echo = b.timestamps.as_ref().map_or(0, |ts| ts.value(harness.clock()));
    TcpRepr {
        src_port: 40000,
        dst_port: 80,
        seq_number: b.rcv_nxt,
        ack_number: Some(b.snd_una),
        flags: TcpFlags::PSH,
        window_len: (b.snd_wnd >> b.snd_shift) as u16,
        urgent_pointer: 0,
        options: TcpOptions { timestamps: Some(TcpTimestamps { value, echo_reply: echo }), ..TcpOptions::default() },
        payload,
    }
}

/// Hands `segment` to B (its payload as the zero-copy view) and says whether prediction took it.
fn deliver(harness: &mut Harness, segment: &TcpRepr<'_>) -> bool {
    let now = harness.clock();
    let b = harness.b_mut();
    let before = b.counters().predicted;
    b.on_segment(now, segment, buffer(segment.payload));
    b.counters().predicted > before
}

#[test]
fn the_expected_segments_are_predicted() {
    let mut harness = pair(1);
    // (b) in-order data acknowledging SND.UNA.
    let segment = expected(&harness, DATA);
    assert!(deliver(&mut harness, &segment));
    assert_eq!(harness.b().buffered_receive().0, DATA.len());
    // (c) a window update with nothing in flight, here with a new window.
    let mut update = expected(&harness, &[]);
    update.window_len -= 1;
    assert!(deliver(&mut harness, &update));
    assert_eq!(harness.b().snd_wnd, u32::from(update.window_len) << harness.b().snd_shift);
    // (a) an ACK of B's data, with and without data of A's.
    harness.b_mut().send(&super::util::sga(&[7; 3000])).expect("send");
    harness.flush();
    let mut ack = expected(&harness, DATA);
    ack.ack_number = Some(harness.b().snd_una + 1448);
    assert!(deliver(&mut harness, &ack));
    let mut ack = expected(&harness, &[]);
    ack.ack_number = Some(harness.b().snd_max);
    assert!(deliver(&mut harness, &ack));
    assert_eq!(harness.b().snd_una, harness.b().snd_max);
    assert_eq!(harness.b().counters().predicted, 4);
}

/// A change to B's state or to the segment it is handed.
type Change = Box<dyn FnOnce(&mut TcpConnection, &mut TcpRepr<'_>)>;

/// Each bail-out, one at a time: B's state or the segment changed from the expected one. Returns whether
/// prediction took the segment (`predict` alone, so that states made up for the test are never processed).
fn predicted(change: impl FnOnce(&mut TcpConnection, &mut TcpRepr<'_>)) -> bool {
    let mut harness = pair(2);
    let mut segment = expected(&harness, DATA);
    let mut b = harness.b.take().expect("B");
    change(&mut b, &mut segment);
    b.predict(&segment, segment.payload.len()).is_some()
}

#[test]
fn every_bail_out_condition_takes_the_general_path() {
    assert!(predicted(|_, _| {}), "the unchanged segment is predicted");
    let no: [(&str, Change); 20] = [
        ("not ESTABLISHED", Box::new(|b, _| b.state = TcpState::CloseWait)),
        ("SYN-RECEIVED", Box::new(|b, _| b.state = TcpState::SynReceived)),
        ("ahead of RCV.NXT", Box::new(|_, s| s.seq_number += 1)),
        ("behind RCV.NXT", Box::new(|_, s| s.seq_number = s.seq_number - 1)),
        ("FIN", Box::new(|_, s| s.flags = s.flags | TcpFlags::FIN)),
        ("SYN", Box::new(|_, s| s.flags = TcpFlags::SYN)),
        ("RST", Box::new(|_, s| s.flags = TcpFlags::RST)),
        ("URG", Box::new(|_, s| s.flags = TcpFlags::URG)),
        ("no ACK", Box::new(|_, s| s.ack_number = None)),
        ("ACK of data never sent", Box::new(|b, s| s.ack_number = Some(b.snd_max + 1))),
        ("ACK below SND.UNA", Box::new(|b, s| s.ack_number = Some(b.snd_una - 1))),
        (
            "SACK blocks",
            Box::new(|b, s| {
                let block = SackBlock { left: b.snd_una, right: b.snd_una + 1 };
                s.options.sack_blocks = SackBlocks::from_slice(&[block]).expect("one block");
            }),
        ),
        ("no timestamps, though agreed", Box::new(|_, s| s.options.timestamps = None)),
        (
            "stale timestamp (PAWS)",
            Box::new(|_, s| {
                if let Some(ts) = s.options.timestamps.as_mut() {
                    ts.value = ts.value.wrapping_sub(1 << 30);
                }
            }),
        ),
        ("in loss recovery", Box::new(|b, _| b.recovery.in_recovery = true)),
        (
            "RACK marked a segment lost",
            Box::new(|b, _| {
                let (start, now) = (b.snd_max, b.last_received);
                b.sent_segments.on_send(start, start + 100, now);
                b.sent_segments.mark_lost_while(|_| true, |_| true);
            }),
        ),
        (
            "out-of-order data held",
            Box::new(|b, _| {
                let _ = b.reassembly.insert(b.rcv_nxt + 10, buffer(b"later"));
            }),
        ),
        ("the peer's FIN seen ahead", Box::new(|b, _| b.peer_fin = Some(b.rcv_nxt + 10))),
        ("payload beyond the window", Box::new(|b, _| b.rcv_adv = b.rcv_nxt + 2)),
        (
            "duplicate ACK: no data, ACK of SND.UNA, data in flight",
            Box::new(|b, s| {
                s.payload = &[];
                b.snd_max += 100;
            }),
        ),
    ];
    for (name, change) in no {
        assert!(!predicted(change), "{name}: must take the general path");
    }
}

#[test]
fn a_payload_view_that_disagrees_with_the_header_is_not_predicted() {
    let harness = pair(3);
    let segment = expected(&harness, DATA);
    assert!(harness.b().predict(&segment, DATA.len() + 1).is_none());
}

#[test]
fn prediction_off_takes_the_general_path() {
    let off = TcpConfig { fast_paths: false, ..config() };
    let mut harness = established(&off, &off, LinkFaults::default(), 4);
    let segment = expected(&harness, DATA);
    assert!(!deliver(&mut harness, &segment));
    assert_eq!(harness.b().buffered_receive().0, DATA.len(), "the general path took it");
}

/// A bulk transfer and close; the trace of every segment sent and both ends' counters.
fn transfer(tcp: &TcpConfig, faults: LinkFaults, seed: u64) -> (String, [TcpCounters; 2]) {
    let mut harness = Harness::new(tcp, tcp, faults, seed);
    let mut transfer = BulkTransfer::new(300_000, seed);
    let done = harness.run_until(Duration::from_secs(600), |h| transfer.pump(h));
    assert!(done, "transfer did not finish: {:?}", harness.states());
    assert!(transfer.received == transfer.data, "the data arrived whole");
    (format!("{:?}", harness.trace), [*harness.a.counters(), *harness.b().counters()])
}

#[test]
fn transfers_send_the_same_segments_with_prediction_on_or_off() {
    let base = config();
    let configurations = [
        base.clone(),
        TcpConfig { rack_tlp: false, ..base.clone() },
        TcpConfig { sack: false, timestamps: false, congestion: CongestionAlgorithm::NewReno, ..base.clone() },
        TcpConfig { recv_buffer: 16 * 1024, delayed_ack: Duration::ZERO, ..base },
    ];
    let faults = [
        LinkFaults::default(),
        LinkFaults { loss: 0.02, duplicate: 0.01, reorder: 0.05, corrupt: 0.01, ..LinkFaults::default() },
        LinkFaults { bandwidth: Some(20_000_000), queue_limit: 20, ..LinkFaults::default() },
    ];
    for (c, tcp) in configurations.iter().enumerate() {
        for (f, faults) in faults.iter().enumerate() {
            let seed = 100 + (c * 10 + f) as u64;
            let off = transfer(&TcpConfig { fast_paths: false, ..tcp.clone() }, faults.clone(), seed);
            let on = transfer(tcp, faults.clone(), seed);
            assert!(off.0 == on.0, "configuration {c}, faults {f}: the segments sent differ");
            let mut counters = on.1;
            let predicted: u64 = counters.iter().map(|c| c.predicted).sum();
            counters.iter_mut().for_each(|c| c.predicted = 0);
            assert_eq!(off.1, counters, "configuration {c}, faults {f}");
            assert!(predicted > 20, "configuration {c}, faults {f}: prediction was taken ({predicted})");
        }
    }
}
