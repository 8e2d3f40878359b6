//! A connection in TIME-WAIT or FIN-WAIT-2 kept as a record (`tcp/orphan.rs`) and woken for every segment
//! answers as the connection kept whole: for any segment the peer may send (its FIN, again, data, duplicates,
//! old and new ACKs, RSTs and SYNs in and out of the window, stale and fresh timestamps, SACK blocks, CE marks) at
//! any time, both send the same segments and are left in the same state with the same deadline, and the record
//! ends when the connection would close.

use std::time::Duration;

use super::util::{buffer, config, established, transfer};
use crate::tcp::harness::{Harness, LinkFaults, Rng};
use crate::tcp::memory_limit::MemoryLimit;
use crate::tcp::{Nanos, OrphanRecord, TcpConfig, TcpConnection, TcpState};
use crate::wire::{SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpRepr, TcpTimestamps};

/// A's end of a harness connection that carried data both ways and that A closed first (`close`: let go of), in
/// `state`: FIN-WAIT-2 (B has not closed) or TIME-WAIT (B closed too); B runs with `peer`'s options. The same
/// arguments make the same connection.
fn orphan(config: &TcpConfig, peer: &TcpConfig, seed: u64, state: TcpState) -> TcpConnection {
    let mut harness = established(config, peer, LinkFaults::default(), seed);
    transfer(&mut harness, 30_000, 4096);
    harness.b_mut().send(&super::util::sga(&[7; 3000])).expect("send");
    harness.run_for(Duration::from_millis(200));
    while harness.a.recv(usize::MAX).expect("recv").is_some_and(|data| !data.is_empty()) {}
    harness.a.close(harness.clock());
    harness.run_for(Duration::from_millis(200));
    if state == TcpState::TimeWait {
        let now = harness.clock();
        harness.b_mut().close(now);
    }
    let done = harness.run_until(Duration::from_secs(5), |h| {
        h.a.state() == state && (state != TcpState::TimeWait || h.b().is_closed())
    });
    assert!(done, "A in {state}: {:?}", harness.states());
    let Harness { a, .. } = harness;
    a
}

fn pick(rng: &mut Rng, choices: &[i64]) -> i64 {
    choices[rng.next_u64() as usize % choices.len()]
}

/// A segment the peer may send to `conn`, drawn around its sequence numbers and TS.Recent.
fn draw_segment(rng: &mut Rng, conn: &TcpConnection, payload: &'static [u8]) -> TcpRepr<'static> {
    let recent = conn.timestamps.as_ref().and_then(|ts| ts.recent()).unwrap_or(0);
    if rng.chance(0.15) {
        // A duplicate ACK the network held back, its timestamp a little older than TS.Recent: PAWS lets it
        // through within an RTO if it updates no window (`is_disordered_ack`).
        let window = (conn.snd_wnd >> conn.snd_shift) as i64 + pick(rng, &[0, 0, 1]);
        return TcpRepr {
            src_port: conn.remote.port(),
            dst_port: conn.local.port(),
            seq_number: conn.rcv_nxt,
            ack_number: Some(conn.snd_max),
            flags: TcpFlags::empty(),
            window_len: window.min(65_535) as u16,
            urgent_pointer: 0,
            options: TcpOptions {
                timestamps: Some(TcpTimestamps {
                    value: recent.wrapping_sub(pick(rng, &[1, 150, 300, 700, 1500]) as u32),
                    echo_reply: 0,
                }),
                ..TcpOptions::default()
            },
            payload: &[],
        };
    }
    let window = conn.rcv_adv.distance_from(conn.rcv_nxt).max(0) as i64;
    let seq_offset = pick(rng, &[0, 0, -1, -2, -100, 1, 2, window, window + 1, -70_000, 1 << 30]);
    let ack_offset = pick(rng, &[0, 0, 0, -1, 1, -3000, -70_000, 1 << 30]);
    let flag_sets = [
        TcpFlags::ACK,
        TcpFlags::ACK | TcpFlags::FIN,
        TcpFlags::ACK | TcpFlags::FIN | TcpFlags::PSH,
        TcpFlags::RST,
        TcpFlags::RST | TcpFlags::ACK,
        TcpFlags::SYN,
        TcpFlags::SYN | TcpFlags::ACK,
        TcpFlags::ACK | TcpFlags::ECE,
        TcpFlags::ACK | TcpFlags::CWR,
        TcpFlags::empty(),
    ];
    let mut flags = flag_sets[pick(rng, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) as usize];
    let ack_number = flags.contains(TcpFlags::ACK).then(|| conn.snd_max + ack_offset as u32);
    flags = flags.without(TcpFlags::ACK);
    let payload: &'static [u8] = match pick(rng, &[0, 0, 0, 1, 2]) {
        0 => &[],
        1 => &payload[..1],
        _ => payload,
    };
    let timestamps = match pick(rng, &[0, 1, 1, 1, 2, 3, 4]) {
        0 => None,
        1 => Some(recent.wrapping_add(pick(rng, &[1, 10, 1000]) as u32)),
        2 => Some(recent),
        3 => Some(recent.wrapping_sub(pick(rng, &[1, 150, 300, 700, 1000, 1 << 20]) as u32)),
        _ => Some(rng.next_u64() as u32),
    }
    .map(|value| TcpTimestamps { value, echo_reply: rng.next_u64() as u32 });
    let sack_blocks = if rng.chance(0.2) {
        let left = conn.snd_max + (pick(rng, &[-2000, -1000, 0, 1000]) as u32);
        SackBlocks::from_slice(&[SackBlock { left, right: left + 500 }]).unwrap_or_default()
    } else {
        SackBlocks::default()
    };
    TcpRepr {
        src_port: conn.remote.port(),
        dst_port: conn.local.port(),
        seq_number: conn.rcv_nxt + seq_offset as u32,
        ack_number,
        flags,
        window_len: pick(rng, &[0, 1000, 65_535]) as u16,
        urgent_pointer: 0,
        options: TcpOptions { timestamps, sack_blocks, ..TcpOptions::default() },
        payload,
    }
}

/// The record, or the connection it was woken into (which stays whole while it has something pending).
enum Asleep {
    Record(Box<OrphanRecord>),
    Awake(Box<TcpConnection>),
    Expired,
}

/// Segments for one pair of twins, each end given the same segment at the same time; returns how often the
/// woken one went back to sleep.
fn run_twins(config: &TcpConfig, peer: &TcpConfig, seed: u64, state: TcpState, steps: usize) -> usize {
    let payload: &'static [u8] = &[0x42; 60];
    let mut whole = orphan(config, peer, seed, state);
    let mut twin = orphan(config, peer, seed, state);
    let (receive_memory, send_memory) = (MemoryLimit::new(config.receive_memory), MemoryLimit::new(config.send_memory));
    let mut now = Nanos::ZERO.max(whole.last_received);
    let mut asleep = Asleep::Record(Box::new(twin.orphan_record().expect("a settled TIME-WAIT connection sleeps")));
    drop(twin);
    let mut rng = Rng::new(seed ^ 0x7157);
    let mut slept = 0;
    for step in 0..steps {
        // Mostly within the rate limiters' second, now and then seconds, rarely most of TIME-WAIT.
        let advance =
            [0, 1_000, 1_000_000, 1_000_000, 100_000_000, 100_000_000, 1_000_000_000, 3_000_000_000, 20_000_000_000]
                [rng.next_u64() as usize % 9];
        now = now.saturating_add(Nanos::from_duration(Duration::from_nanos(advance)));
        let context = format!("seed {seed} step {step}");
        if rng.chance(0.2) {
            // Only time passes: the whole connection is polled; the record ends at its deadline.
            let mut out = Vec::new();
            whole.poll_transmit(now, &mut out);
            match &mut asleep {
                Asleep::Record(record) if now >= record.deadline() => {
                    assert_eq!(whole.state(), TcpState::Closed, "{context}: the record ended, the connection did not");
                    assert!(out.is_empty(), "{context}: {out:?}");
                    asleep = Asleep::Expired;
                }
                Asleep::Record(record) => {
                    assert_eq!(whole.state(), record.state(), "{context}");
                    assert!(out.is_empty(), "{context}: {out:?}");
                    assert_eq!(whole.next_deadline(), record.deadline(), "{context}");
                }
                Asleep::Awake(awake) => {
                    let mut twin_out = Vec::new();
                    awake.poll_transmit(now, &mut twin_out);
                    assert_eq!(format!("{out:?}"), format!("{twin_out:?}"), "{context}");
                }
                Asleep::Expired => unreachable!(),
            }
        } else {
            let segment = draw_segment(&mut rng, &whole, payload);
            let ecn_field = (rng.next_u64() % 4) as u8;
            let mut awake = match std::mem::replace(&mut asleep, Asleep::Expired) {
                Asleep::Record(record) if now >= record.deadline() => {
                    // The stack drops an expired record at its deadline, before any later segment.
                    let mut out = Vec::new();
                    whole.poll_transmit(now, &mut out);
                    assert_eq!(whole.state(), TcpState::Closed, "{context}");
                    break;
                }
                Asleep::Record(record) => Box::new((*record).wake(config, &receive_memory, &send_memory, now)),
                Asleep::Awake(awake) => awake,
                Asleep::Expired => unreachable!(),
            };
            let mut outs = [Vec::new(), Vec::new()];
            for (conn, out) in [&mut whole, &mut *awake].into_iter().zip(&mut outs) {
                conn.on_ecn_codepoint(now, ecn_field);
                conn.on_segment(now, &segment, buffer(segment.payload));
                conn.poll_transmit(now, out);
            }
            let [out, twin_out] = &outs;
            assert_eq!(format!("{out:?}"), format!("{twin_out:?}"), "{context}: {segment:?}");
            assert_eq!(whole.state(), awake.state(), "{context}: {segment:?}");
            assert_eq!(whole.next_deadline(), awake.next_deadline(), "{context}: {segment:?}");
            assert_eq!(whole.error(), awake.error(), "{context}: {segment:?}");
            asleep = match awake.orphan_record() {
                Some(record) => {
                    slept += 1;
                    Asleep::Record(Box::new(record))
                }
                None => Asleep::Awake(awake),
            };
        }
        if whole.is_closed() {
            break;
        }
    }
    slept
}

#[test]
fn a_record_woken_for_each_segment_answers_as_the_whole_connection() {
    for state in [TcpState::TimeWait, TcpState::FinWait2] {
        let slept = twins_in(state);
        // Most segments leave nothing pending: the connection goes back to sleep.
        assert!(slept > 32 * 10, "{state}: slept {slept} times");
    }
}

/// [`run_twins`] in `state` for 32 seeds, each with its own options; returns how often the twin went to sleep.
fn twins_in(state: TcpState) -> usize {
    let mut slept = 0;
    for seed in 0..32u64 {
        // The options as configured on A, and as B agrees to them (fewer, for some seeds: what A then uses
        // differs from its configuration), and a challenge ACK limit the draws can exhaust.
        let mut config = TcpConfig { time_wait: Duration::from_secs(60), ..config() };
        config.sack = seed % 2 == 0;
        config.timestamps = seed % 3 != 0;
        config.window_scale = seed % 4 != 1;
        config.ecn = seed % 5 == 2;
        config.accurate_ecn = seed % 5 == 3;
        config.challenge_ack_limit = 1 + (seed % 3) as u32;
        let mut peer = config.clone();
        if seed % 8 == 6 {
            (peer.sack, peer.timestamps, peer.window_scale, peer.ecn, peer.accurate_ecn) =
                (false, false, false, false, false);
        }
        slept += run_twins(&config, &peer, seed, state, 300);
    }
    slept
}

#[test]
fn a_connection_with_something_pending_stays_whole() {
    let mut conn = orphan(&config(), &config(), 1, TcpState::TimeWait);
    conn.ack.now = true;
    assert!(conn.orphan_record().is_none());
    conn.ack.now = false;
    assert!(conn.orphan_record().is_some());
    let mut held = orphan(&config(), &config(), 1, TcpState::TimeWait);
    held.released = false;
    assert!(held.orphan_record().is_none(), "the application still holds it");
}

#[test]
fn the_record_keeps_the_slots_the_connection_holds() {
    // TIME-WAIT's slot in TIME-WAIT, an orphan's in FIN-WAIT-2 (`slots.rs`): held by the record, then by the
    // connection it wakes into, and given back when that is dropped.
    for state in [TcpState::TimeWait, TcpState::FinWait2] {
        let slots = crate::tcp::Slots::new(4);
        let mut conn = orphan(&config(), &config(), 2, state);
        conn.share_time_wait_slots(&slots);
        conn.share_orphan_slots(&slots);
        let slot = if state == TcpState::TimeWait { &mut conn.time_wait_slot } else { &mut conn.orphan_slot };
        slot.take();
        assert_eq!(slots.taken(), 1, "{state}");
        let record = conn.orphan_record().expect("record");
        drop(conn);
        assert_eq!(slots.taken(), 1, "{state}: held by the record");
        let woken = record.wake(&config(), &MemoryLimit::new(1 << 20), &MemoryLimit::new(1 << 20), Nanos::ZERO);
        assert_eq!(slots.taken(), 1, "{state}: held by the woken connection");
        drop(woken);
        assert_eq!(slots.taken(), 0, "{state}");
    }
}

#[test]
fn the_record_is_small() {
    let record = std::mem::size_of::<OrphanRecord>();
    let connection = std::mem::size_of::<TcpConnection>();
    assert!(record * 4 < connection, "record {record} bytes, connection {connection}");
}
