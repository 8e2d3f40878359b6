//! Which polls output's fast path (`fast_output`) takes: an established connection sending new data takes it,
//! and each condition under which the general path has more to do (a timer due, a control segment, loss
//! recovery or a loss probe, something to resend or skip, a FIN, a closed window, SACK or D-SACK blocks,
//! several duplicate ACKs owed, any other state) sends it to the general path. That both paths send the same
//! is checked on random connections in `properties` and through whole stacks in `stack::fast_path_tests`.
//! Also the test of `next_deadline`, the per-poll bookkeeping's earliest deadline.

use std::time::Duration;

use crate::tcp::harness::{Harness, LinkFaults};
use crate::tcp::{Nanos, TcpConnection, TcpState};
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
fn fast_after(change: impl FnOnce(&mut TcpConnection, Nanos)) -> bool {
    let mut h = sending();
    let now = h.clock();
    change(&mut h.a, now);
    h.a.fast_path_applies(now)
}

#[test]
fn an_established_sender_takes_the_fast_path() {
    assert!(fast_after(|_, _| {}));
    assert!(fast_after(|a, _| a.send(&sga(b"more")).map(drop).expect("send")), "with data queued");
    assert!(fast_after(|a, _| a.ack.now = true), "with an ACK owed");
    assert!(fast_after(|a, now| a.timers.delayed_ack = now), "with the delayed ACK due");
    assert!(fast_after(|a, _| a.state = TcpState::CloseWait), "in CLOSE-WAIT");
}

#[test]
fn states_other_than_established_and_close_wait_take_the_general_path() {
    assert!(!fast_after(|a, now| a.close(now)), "FIN-WAIT-1, a FIN to send");
    for state in [TcpState::SynSent, TcpState::SynReceived, TcpState::FinWait2, TcpState::LastAck, TcpState::TimeWait] {
        assert!(!fast_after(|a, _| a.state = state), "{state:?}");
    }
    let h = Harness::new(&config(), &config(), LinkFaults::default(), 1);
    assert!(!h.a.fast_path_applies(h.clock()), "the SYN");
}

#[test]
fn due_timers_other_than_the_delayed_ack_take_the_general_path() {
    assert!(!fast_after(|a, now| a.timers.retransmit = now), "retransmission timeout");
    assert!(!fast_after(|a, now| a.timers.probe = now), "loss probe timeout");
    assert!(!fast_after(|a, now| a.timers.reorder = now), "RACK reordering timer");
    assert!(!fast_after(|a, now| a.timers.persist = now), "persist timer");
    assert!(!fast_after(|a, now| a.timers.close = now), "close timer");
    assert!(
        !fast_after(|a, now| {
            a.snd_una = a.snd_max;
            a.send_buffer.discard_front(usize::MAX);
            // Idle for twice the keepalive time (the handshake took more than that, so `now` is past it).
            a.set_keepalive(Some(Duration::from_millis(1)));
            a.last_received = now.checked_sub(Nanos::from_millis(2)).expect("past the handshake");
        }),
        "keepalive probe"
    );
    assert!(fast_after(|a, now| a.timers.retransmit = now.saturating_add(Nanos::from_millis(1))), "not yet due");
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
    assert!(!fast_after(|a, _| a.ack.dsacks.push(a.rcv_nxt - 10, a.rcv_nxt)), "a D-SACK block");
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
    assert!(h.a.fast_path_applies(h.clock()));
}

#[test]
fn next_deadline_is_the_earliest_running_timer() {
    let mut h = sending();
    let start = h.clock();
    let mut rng = crate::phy::Rng::new(3);
    let deadline = |rng: &mut crate::phy::Rng| {
        rng.chance(0.6).then(|| start.saturating_add(Nanos::from_millis(rng.below(50) as u64)))
    };
    for _ in 0..5000 {
        let a = &mut h.a;
        let running = [(); 6].map(|_| deadline(&mut rng));
        let [retransmit, reorder, probe, delayed_ack, persist, close] = running.map(|at| at.unwrap_or(Nanos::NEVER));
        (a.timers.retransmit, a.timers.reorder, a.timers.probe) = (retransmit, reorder, probe);
        (a.timers.delayed_ack, a.timers.persist, a.timers.close) = (delayed_ack, persist, close);
        // Keepalive runs on an idle connection: all acknowledged, nothing queued.
        let idle = rng.chance(0.5);
        let keepalive = idle.then(|| Duration::from_millis(rng.below(50) as u64));
        a.set_keepalive(keepalive);
        if idle {
            a.snd_una = a.snd_max;
            a.send_buffer.discard_front(usize::MAX);
        }
        let keepalive_at = keepalive.map(|idle| a.last_received.saturating_add(Nanos::from_duration(idle)));
        let expected = running.into_iter().chain([keepalive_at]).flatten().min();
        let earliest = a.next_deadline();
        assert_eq!((!earliest.is_never()).then_some(earliest), expected, "{:?}", a.timers);
    }
}
