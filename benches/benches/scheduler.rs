//! Scheduler overhead: what one PDPIX operation costs the runtime, apart from any device work.
//!
//! - `spawn_take`: `Scheduler::spawn` of a coroutine that is ready at once (spawn polls it immediately) and
//!   `take` of its result: the whole life of an operation that completes without waiting.
//! - `wait_completed`: `Runtime::wait` on a qtoken whose operation already finished (spawned outside the
//!   timed region).
//! - `wake_poll`: one task woken through its `Waker` and run by one `poll_round`.
//!
//! Each runs with 1, 1 000 and 100 000 idle tasks present (pending, never woken), created once per
//! benchmark, to show that the cost does not grow with the number of idle tasks.
//! Not for: device or protocol costs (see `echo.rs`).

use std::cell::RefCell;
use std::future::{pending, poll_fn};
use std::hint::black_box;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use runtime::{Fail, Opcode, Operation, QDesc, QValue, Runtime, Scheduler};

/// Idle-task counts each benchmark runs with.
const IDLE: [usize; 3] = [1, 1_000, 100_000];
/// The queue the measured operations belong to; idle tasks sit on another one.
const QD: QDesc = QDesc::new(0);
const IDLE_QD: QDesc = QDesc::new(1);
/// Completed operations waited on per timed batch in `wait_completed`.
const WAIT_BATCH: usize = 32;

/// A coroutine that is ready the first time it is polled (as a push into a socket buffer with room).
fn ready_operation() -> Operation {
    Box::pin(async { Ok(QValue::Pushed) })
}

/// A coroutine that never completes and is never woken.
fn idle_operation() -> Operation {
    Box::pin(pending::<Result<QValue, Fail>>())
}

fn add_idle(scheduler: &mut Scheduler, n: usize) {
    for _ in 0..n {
        scheduler.spawn(IDLE_QD, Opcode::Pop, idle_operation()).expect("spawn idle task");
    }
    assert_eq!(scheduler.poll_round(), 0, "idle tasks must not be ready");
}

fn spawn_take(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduler/spawn_take");
    for idle in IDLE {
        let mut scheduler = Scheduler::default();
        add_idle(&mut scheduler, idle);
        group.bench_function(BenchmarkId::from_parameter(idle), |b| {
            b.iter(|| {
                let qt = scheduler.spawn(QD, Opcode::Push, ready_operation()).expect("spawn");
                black_box(scheduler.take(qt).expect("take"))
            })
        });
    }
    group.finish();
}

fn wait_completed(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduler/wait_completed");
    for idle in IDLE {
        let mut rt = Runtime::without_device();
        add_idle(rt.scheduler_mut(), idle);
        let mut qts = Vec::with_capacity(WAIT_BATCH);
        group.bench_function(BenchmarkId::from_parameter(idle), |b| {
            // Operations are spawned untimed, a batch at a time; only the waits are timed, so one clock
            // read is spread over `WAIT_BATCH` waits.
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(WAIT_BATCH as u64);
                    left -= n;
                    qts.extend((0..n).map(|_| rt.spawn(QD, Opcode::Push, ready_operation()).expect("spawn")));
                    let started = Instant::now();
                    for &qt in &qts {
                        black_box(rt.wait(qt, None).expect("wait"));
                    }
                    elapsed += started.elapsed();
                    qts.clear();
                }
                elapsed
            })
        });
    }
    group.finish();
}

fn wake_poll(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduler/wake_poll");
    for idle in IDLE {
        let mut scheduler = Scheduler::default();
        add_idle(&mut scheduler, idle);
        // A task that counts its polls and stays pending, handing out its waker.
        let waker: Rc<RefCell<Option<Waker>>> = Rc::default();
        let polls = Rc::new(std::cell::Cell::new(0u64));
        let (slot, count) = (Rc::clone(&waker), Rc::clone(&polls));
        let task = poll_fn(move |cx| {
            count.set(count.get() + 1);
            slot.borrow_mut().get_or_insert_with(|| cx.waker().clone());
            Poll::<Result<QValue, Fail>>::Pending
        });
        scheduler.spawn(QD, Opcode::Pop, Box::pin(task)).expect("spawn");
        let waker = waker.borrow_mut().take().expect("polled once at spawn");
        group.bench_function(BenchmarkId::from_parameter(idle), |b| {
            b.iter(|| {
                waker.wake_by_ref();
                black_box(scheduler.poll_round())
            })
        });
        assert!(polls.get() > 1, "the task was polled by the rounds");
    }
    group.finish();
}

criterion_group!(benches, spawn_take, wait_completed, wake_poll);
criterion_main!(benches);
