//! Which polls output's fast path (`fast_output`) takes: an established connection sending new data takes it,
//! and each condition under which the general path has more to do (a timer due, a control segment, loss
//! recovery or a loss probe, something to resend or skip, a FIN, a closed window, SACK or D-SACK blocks,
//! several duplicate ACKs owed, any other state) sends it to the general path. That both paths send the same
//! is checked on random connections in `properties` and through whole stacks in `stack::fast_path_tests`.
//! Also the deadline test of the per-poll bookkeeping (`has_deadline_before`) against `next_deadline`.

use std::time::Duration;

use crate::tcp::harness::{Harness, LinkFaults};
use crate::tcp::{TcpConnection, TcpState};
use crate::wire::SeqNumber;

use super::util::{buffer, config, established, sga};

/// An established connection whose A has just sent data that is still in flight (its RTO and probe armed).
fn sending() -> Harness {
    let mut h = established(&config(), &config(), LinkFaults::default(), 7);
    h.a.send(&sga(&[7; 5000])).expect("send");
    h.flush();
    assert!(h.a.snd_max > h.a.snd_una, "data in flight");
    h
}

/// Whether A's next poll would take the fast path after `change` (given A and the time).
fn fast_after(change: impl FnOnce(&mut TcpConnection, std::time::Instant)) -> bool {
    let mut h = sending();
    change(&mut h.a, h.now);
    h.a.fast_path_applies(h.now)
}

#[test]
fn an_established_sender_takes_the_fast_path() {
    assert!(fast_after(|_, _| {}));
    assert!(fast_after(|a, _| a.send(&sga(b"more")).map(drop).expect("send")), "with data queued");
    assert!(fast_after(|a, _| a.ack.now = true), "with an ACK owed");
    assert!(fast_after(|a, now| a.timers.delayed_ack = Some(now)), "with the delayed ACK due");
    assert!(fast_after(|a, _| a.state = TcpState::CloseWait), "in CLOSE-WAIT");
}

#[test]
fn states_other_than_established_and_close_wait_take_the_general_path() {
    assert!(!fast_after(|a, _| a.close()), "FIN-WAIT-1, a FIN to send");
    for state in [TcpState::SynSent, TcpState::SynReceived, TcpState::FinWait2, TcpState::LastAck, TcpState::TimeWait] {
        assert!(!fast_after(|a, _| a.state = state), "{state:?}");
    }
    let h = Harness::new(&config(), &config(), LinkFaults::default(), 1);
    assert!(!h.a.fast_path_applies(h.now), "the SYN");
}

#[test]
fn due_timers_other_than_the_delayed_ack_take_the_general_path() {
    assert!(!fast_after(|a, now| a.timers.retransmit = Some(now)), "retransmission timeout");
    assert!(!fast_after(|a, now| a.timers.probe = Some(now)), "loss probe timeout");
    assert!(!fast_after(|a, now| a.timers.reorder = Some(now)), "RACK reordering timer");
    assert!(!fast_after(|a, now| a.timers.persist = Some(now)), "persist timer");
    assert!(!fast_after(|a, now| a.timers.close = Some(now)), "close timer");
    assert!(
        !fast_after(|a, now| {
            a.snd_una = a.snd_max;
            a.send_buffer.discard_front(usize::MAX);
            a.set_keepalive(Some(Duration::from_secs(1)));
            a.last_received = now - Duration::from_secs(2);
        }),
        "keepalive probe"
    );
    assert!(fast_after(|a, now| a.timers.retransmit = Some(now + Duration::from_millis(1))), "not yet due");
}

#[test]
fn pending_resends_and_recovery_take_the_general_path() {
    assert!(!fast_after(|a, _| a.snd_nxt = a.snd_una), "go-back-N: SND.NXT below SND.MAX");
    assert!(
        !fast_after(|a, _| {
            let reset = a.reset_segment(a.snd_max, None);
            a.control.push(reset);
        }),
        "a queued control segment"
    );
    assert!(!fast_after(|a, _| a.recovery.in_recovery = true), "fast recovery");
    assert!(!fast_after(|a, _| a.recovery.retransmit_head = true), "head retransmission");
    assert!(
        !fast_after(|a, _| a.recovery.lost_retransmissions.push((a.snd_una, a.snd_una + 1))),
        "lost retransmissions"
    );
    assert!(!fast_after(|a, _| a.rack.probe_due = true), "a loss probe");
    assert!(
        !fast_after(|a, _| {
            a.sent_segments.mark_lost_while(|_| true, |_| true);
        }),
        "segments RACK marked lost"
    );
}

#[test]
fn sack_blocks_owed_acks_and_a_closed_window_take_the_general_path() {
    assert!(!fast_after(|a, _| a.ack.dsack = Some((a.rcv_nxt - 10, a.rcv_nxt))), "a D-SACK block");
    assert!(
        !fast_after(|a, _| {
            a.reassembly.insert(a.rcv_nxt + 100, buffer(b"out of order"));
        }),
        "SACK blocks"
    );
    assert!(!fast_after(|a, _| a.ack.duplicates_owed = 2), "several duplicate ACKs");
    assert!(!fast_after(|a, _| a.snd_wnd = 0), "a closed window (persist timer)");
}

#[test]
fn without_sack_out_of_order_data_does_not_matter() {
    let mut no_sack = config();
    no_sack.sack = false;
    let mut h = established(&no_sack, &no_sack, LinkFaults::default(), 7);
    let seq: SeqNumber = h.a.rcv_nxt + 100;
    h.a.reassembly.insert(seq, buffer(b"out of order"));
    assert!(h.a.fast_path_applies(h.now));
}

#[test]
fn has_deadline_before_agrees_with_next_deadline() {
    let mut h = sending();
    let start = h.now;
    let mut rng = crate::phy::Rng::new(3);
    let deadline =
        |rng: &mut crate::phy::Rng| rng.chance(0.6).then(|| start + Duration::from_millis(rng.below(50) as u64));
    for _ in 0..5000 {
        let a = &mut h.a;
        a.timers.retransmit = deadline(&mut rng);
        a.timers.reorder = deadline(&mut rng);
        a.timers.probe = deadline(&mut rng);
        a.timers.delayed_ack = deadline(&mut rng);
        a.timers.persist = deadline(&mut rng);
        a.timers.close = deadline(&mut rng);
        // Keepalive runs on an idle connection: all acknowledged, nothing queued.
        let idle = rng.chance(0.5);
        a.set_keepalive(idle.then(|| Duration::from_millis(rng.below(50) as u64)));
        if idle {
            a.snd_una = a.snd_max;
            a.send_buffer.discard_front(usize::MAX);
        }
        let at = start + Duration::from_millis(rng.below(60) as u64);
        let expected = a.next_deadline().is_some_and(|earliest| earliest < at);
        assert_eq!(a.has_deadline_before(at), expected, "{:?} {:?} {at:?}", a.timers, a.keepalive_deadline());
    }
}
