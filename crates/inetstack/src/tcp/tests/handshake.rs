//! Opening: active, passive and simultaneous open; SYN retries; refusal; option negotiation.

use std::time::Duration;

use super::util::{config, established, segment};
use crate::tcp::harness::{ADDRESS_A, ADDRESS_B, Harness, ISS_A, ISS_B, LinkFaults, Side, TS_OFFSET_A, TS_OFFSET_B};
use crate::tcp::{TcpConfig, TcpConnection, TcpState};
use crate::wire::TcpFlags;

#[test]
fn three_way_handshake_negotiates_options() {
    let harness = established(&config(), &config(), LinkFaults::default(), 1);
    let flags: Vec<_> = harness.trace.iter().map(|entry| (entry.from, entry.flags, entry.ack.is_some())).collect();
    assert_eq!(
        flags,
        [(Side::A, TcpFlags::SYN, false), (Side::B, TcpFlags::SYN, true), (Side::A, TcpFlags::empty(), true)]
    );
    assert_eq!(harness.trace[1].ack, Some(ISS_A + 1));
    assert_eq!(harness.trace[2].ack, Some(ISS_B + 1));
    // MSS 1460 less 12 bytes of timestamps; window scale 7, for the 6 MiB auto-tuning may grow the 256 KiB
    // buffer to.
    assert_eq!(harness.a.send_mss(), 1448);
    assert_eq!(harness.b().send_mss(), 1448);
    assert_eq!(harness.trace[2].window, ((256 * 1024) >> 7) as u16);
    assert_eq!(harness.b().send_window(), 256 * 1024, "A's first ACK carries a scaled window");
    assert_eq!(harness.a.send_window(), 65535, "a SYN-ACK's window is never scaled");
    assert!(harness.a.smoothed_rtt().is_some(), "the SYN-ACK gave an RTT sample");
    assert_eq!(harness.elapsed(), Duration::from_millis(15), "SYN, SYN-ACK, ACK over a 5 ms link");
}

#[test]
fn options_fall_back_when_the_peer_does_not_offer_them() {
    let plain = TcpConfig { mss: 1000, window_scale: false, timestamps: false, sack: false, ..config() };
    let harness = established(&config(), &plain, LinkFaults::default(), 2);
    assert_eq!(harness.a.send_mss(), 1000, "min of both MSS, no timestamps");
    assert_eq!(harness.b().send_mss(), 1000);
    // Without scaling the window is capped at 65535.
    assert_eq!(harness.trace[2].window, u16::MAX);
    assert_eq!(harness.b().send_window(), 65535);
}

#[test]
fn simultaneous_open() {
    let mut harness = Harness::new(&config(), &config(), LinkFaults::default(), 3);
    harness.b = Some(TcpConnection::connect(&config(), ADDRESS_B, ADDRESS_A, ISS_B, TS_OFFSET_B, harness.clock()));
    let done = harness
        .run_until(Duration::from_secs(10), |h| h.states() == (TcpState::Established, Some(TcpState::Established)));
    assert!(done, "{:?}", harness.states());
    let syn_acks = harness.trace.iter().filter(|e| e.flags.syn() && e.ack.is_some()).count();
    assert_eq!(syn_acks, 2, "each end answers the other's SYN with a SYN-ACK");
    // Data flows both ways afterwards.
    harness.a.send(&super::util::sga(b"ping")).expect("send");
    harness.b_mut().send(&super::util::sga(b"pong")).expect("send");
    harness.run_for(Duration::from_millis(100));
    assert_eq!(harness.b_mut().recv(100).expect("ok").expect("data").to_vec(), b"ping");
    assert_eq!(harness.a.recv(100).expect("ok").expect("data").to_vec(), b"pong");
}

#[test]
fn syn_retries_back_off_then_time_out() {
    let mut harness = Harness::new(&config(), &config(), LinkFaults::lossy(1.0), 4);
    harness.run_until(Duration::from_secs(600), |h| h.a.state() == TcpState::Closed);
    let syn_times: Vec<u64> = harness.trace.iter().map(|entry| entry.at.as_secs()).collect();
    // Initial RTO 1 s, doubled each time: 0, 1, 3, 7, 15, 31, 63; the seventh timeout, capped at 60 s by
    // max_rto, gives up at 123 s after 6 retries.
    assert_eq!(syn_times, [0, 1, 3, 7, 15, 31, 63]);
    assert_eq!(harness.elapsed(), Duration::from_secs(123));
    assert_eq!(harness.a.error().map(|e| e.errno()), Some(libc::ETIMEDOUT));
    assert!(harness.a.is_closed());
    assert_eq!(harness.a.counters().retransmits, 6);
}

#[test]
fn lost_syn_ack_is_retransmitted() {
    let mut harness = Harness::new(&config(), &config(), LinkFaults::default(), 5);
    let mut dropped = false;
    harness.filter = Some(Box::new(move |entry| {
        let first_syn_ack = entry.flags.syn() && entry.ack.is_some() && !dropped;
        dropped |= first_syn_ack;
        first_syn_ack
    }));
    let done = harness.run_until(Duration::from_secs(10), |h| h.states().1 == Some(TcpState::Established));
    assert!(done);
    // A's SYN is retransmitted at 1 s; B answers the duplicate SYN with its SYN-ACK again.
    let syn_acks: Vec<_> = harness.trace.iter().filter(|e| e.flags.syn() && e.ack.is_some()).collect();
    assert!(syn_acks.len() >= 2);
    assert_eq!(harness.a.state(), TcpState::Established);
}

#[test]
fn connection_refused_by_rst() {
    let mut harness = Harness::new(&config(), &config(), LinkFaults::default(), 6);
    harness.listening = false;
    harness.run_until(Duration::from_secs(10), |h| h.a.state() == TcpState::Closed);
    assert_eq!(harness.a.error().map(|e| e.errno()), Some(libc::ECONNREFUSED));
    assert!(harness.a.is_closed());
    assert_eq!(harness.stats.resets_from_closed_port, 1);
    let (readable, writable) = harness.a.readiness();
    assert!(readable && writable, "an error makes both ready");
    assert_eq!(harness.a.send(&super::util::sga(b"x")).map_err(|e| e.errno()), Err(libc::ECONNREFUSED));
}

#[test]
fn syn_sent_ignores_bad_acks_and_rsts_without_ack() {
    let now = crate::tcp::Nanos::ZERO;
    let mut connection = TcpConnection::connect(&config(), ADDRESS_A, ADDRESS_B, ISS_A, TS_OFFSET_A, now);
    let mut out = Vec::new();
    connection.poll_transmit(now, &mut out);
    assert_eq!(out.len(), 1);
    // A RST without ACK is ignored; an ACK of something never sent is answered by a RST.
    connection.on_segment(now, &segment(ISS_B, None, TcpFlags::RST, &[]), super::util::buffer(&[]));
    connection.on_segment(now, &segment(ISS_B, Some(ISS_A + 5), TcpFlags::SYN, &[]), super::util::buffer(&[]));
    assert_eq!(connection.state(), TcpState::SynSent);
    out.clear();
    connection.poll_transmit(now, &mut out);
    assert_eq!(out.len(), 1);
    assert!(out[0].flags.rst() && out[0].seq_number == ISS_A + 5 && out[0].ack_number.is_none());
    assert_eq!(connection.send(&super::util::sga(b"x")).map_err(|e| e.errno()), Err(libc::ENOTCONN));
    assert_eq!(connection.recv(10).map(|data| data.is_none()), Ok(true));
}
