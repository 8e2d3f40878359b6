use std::cell::RefCell;
use std::rc::Rc;
use std::task::Poll;

use super::*;

/// A coroutine that finishes when its `Trigger` fires.
#[derive(Default)]
struct Gate {
    open: bool,
    waker: Option<Waker>,
}

fn gate() -> (Rc<RefCell<Gate>>, Operation) {
    let gate = Rc::new(RefCell::new(Gate::default()));
    let inner = Rc::clone(&gate);
    let op = Box::pin(std::future::poll_fn(move |cx| {
        let mut g = inner.borrow_mut();
        if g.open {
            Poll::Ready(Ok(QValue::Pushed))
        } else {
            g.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }));
    (gate, op)
}

fn open(gate: &Rc<RefCell<Gate>>) {
    let mut g = gate.borrow_mut();
    g.open = true;
    if let Some(w) = g.waker.take() {
        w.wake();
    }
}

const QD: QDesc = QDesc::new(3);

#[test]
fn ready_coroutines_complete_at_spawn() {
    let mut s = Scheduler::default();
    let qt = s.spawn(QD, Opcode::Push, Box::pin(async { Ok(QValue::Pushed) })).unwrap();
    assert!(s.is_done(qt).unwrap());
    let r = s.take(qt).unwrap();
    assert_eq!((r.qd, r.qt, r.opcode()), (QD, qt, Opcode::Push));
    assert_eq!(s.live(), 0);
}

#[test]
fn woken_coroutines_run_in_the_next_round() {
    let mut s = Scheduler::default();
    let (g, op) = gate();
    let qt = s.spawn(QD, Opcode::Push, op).unwrap();
    assert!(!s.is_done(qt).unwrap());
    assert_eq!(s.take(qt).unwrap_err().errno(), libc::EAGAIN);
    assert!(!s.has_ready());
    open(&g);
    assert!(s.has_ready());
    assert_eq!(s.poll_round(), 1);
    assert!(s.take(qt).unwrap().value.is_ok());
}

#[test]
fn tokens_are_single_use_and_stale_tokens_are_rejected() {
    let mut s = Scheduler::default();
    let qt = s.spawn(QD, Opcode::Pop, Box::pin(async { Ok(QValue::Pushed) })).unwrap();
    s.take(qt).unwrap();
    assert_eq!(s.take(qt).unwrap_err().errno(), libc::EINVAL);
    // The slot is reused with a new generation: the old token still fails.
    let qt2 = s.spawn(QD, Opcode::Pop, Box::pin(async { Ok(QValue::Pushed) })).unwrap();
    assert_ne!(qt, qt2);
    assert_eq!(s.is_done(qt).unwrap_err().errno(), libc::EINVAL);
    assert_eq!(s.is_done(QToken::from_raw(0xdead_beef_0000)).unwrap_err().errno(), libc::EINVAL);
}

#[test]
fn closing_a_queue_cancels_its_running_operations_only() {
    let mut s = Scheduler::default();
    let (_g1, op1) = gate();
    let (_g2, op2) = gate();
    let pending = s.spawn(QD, Opcode::Pop, op1).unwrap();
    let done = s.spawn(QD, Opcode::Push, Box::pin(async { Ok(QValue::Pushed) })).unwrap();
    let other = s.spawn(QDesc::new(4), Opcode::Pop, op2).unwrap();
    s.cancel_queue(QD);
    assert_eq!(s.take(pending).unwrap().error().unwrap().errno(), libc::ECANCELED);
    assert!(s.take(done).unwrap().value.is_ok(), "finished results survive the close");
    assert!(!s.is_done(other).unwrap(), "other queues are untouched");
    s.cancel_queue(QDesc::new(99)); // unknown queues are a no-op
}

#[test]
fn cancelled_coroutines_are_dropped() {
    let mut s = Scheduler::default();
    let (g, op) = gate();
    s.spawn(QD, Opcode::Pop, op).unwrap();
    assert_eq!(Rc::strong_count(&g), 2);
    s.cancel_queue(QD);
    assert_eq!(Rc::strong_count(&g), 1);
}

#[test]
fn live_tasks_are_bounded() {
    let mut s = Scheduler::new(2);
    let (_a, op_a) = gate();
    let (_b, op_b) = gate();
    let (_c, op_c) = gate();
    s.spawn(QD, Opcode::Pop, op_a).unwrap();
    s.spawn(QD, Opcode::Pop, op_b).unwrap();
    assert_eq!(s.spawn(QD, Opcode::Pop, op_c).unwrap_err().errno(), libc::ENOMEM);
}

#[test]
fn completions_are_reported_once_when_tracked() {
    let mut s = Scheduler::default();
    s.track_completions(true);
    let (g, op) = gate();
    let a = s.spawn(QD, Opcode::Pop, op).unwrap();
    let b = s.spawn(QD, Opcode::Push, Box::pin(async { Ok(QValue::Pushed) })).unwrap();
    let mut out = Vec::new();
    s.drain_completed(&mut out);
    assert_eq!(out, [b]);
    open(&g);
    s.poll_round();
    out.clear();
    s.drain_completed(&mut out);
    assert_eq!(out, [a]);
}

#[test]
fn many_idle_tasks_are_not_polled() {
    let mut s = Scheduler::default();
    let gates: Vec<_> = (0..10_000)
        .map(|i| {
            let (g, op) = gate();
            s.spawn(QDesc::new(i % 7), Opcode::Pop, op).unwrap();
            g
        })
        .collect();
    assert_eq!(s.poll_round(), 0);
    open(&gates[9_999]);
    assert_eq!(s.poll_round(), 1);
}
