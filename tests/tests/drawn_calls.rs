//! Drawn sequences of PDPIX calls on one libOS (the one under test, catnap by default): sockets of every kind,
//! in-memory queues, binds to a few shared loopback ports, listens, accepts, connects to those ports, pushes,
//! pops, options, closes (blocking and asynchronous) and waits, in any order and on any queue, while the
//! operations run. A call may fail, but only with an error:
//!
//! - nothing panics, and no wait blocks (every wait has a timeout of at most 10 ms);
//! - a wait on a token either returns its result or ETIMEDOUT (the token stays valid); once a token's result is
//!   taken, a wait on it is EINVAL, as is a wait on a token the libOS never made;
//! - a completed result names the queue its operation ran on;
//! - at the end, with every queue closed, every outstanding token completes within a second (closing a queue
//!   cancels what waited on it).

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::time::Duration;

use demikernel::{LibOs, QDesc, QResult, QToken, QValue, Sga, SocketDomain, SocketOption, SocketType};
use demikernel_tests::{LOCALHOST, new_libos};

/// The ports every bind and connect draws from (0: any), few so that calls meet on them.
const PORTS: [u16; 4] = [0, 47_201, 47_202, 47_203];

/// xorshift64*: the draws of one seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }

    fn chance(&mut self, in_ten: usize) -> bool {
        self.below(10) < in_ten
    }
}

struct Run {
    libos: Box<dyn LibOs>,
    rng: Rng,
    /// Queues the application holds.
    queues: Vec<QDesc>,
    /// Tokens not yet waited for to completion, with the queue each operation runs on.
    pending: HashMap<QToken, QDesc>,
    /// Tokens whose result was taken.
    done: Vec<QToken>,
}

impl Run {
    fn queue(&mut self) -> Option<QDesc> {
        (!self.queues.is_empty()).then(|| self.queues[self.rng.below(self.queues.len())])
    }

    fn started(&mut self, qd: QDesc, qt: Result<QToken, demikernel::Fail>) {
        if let Ok(qt) = qt {
            assert!(self.pending.insert(qt, qd).is_none(), "a token the libOS handed out twice: {qt:?}");
        }
    }

    /// Takes `qt`'s result if it is ready (a zero or short timeout).
    fn wait(&mut self, qt: QToken, timeout: Duration) {
        match self.libos.wait(qt, Some(timeout)) {
            Ok(result) => {
                assert_eq!(result.qt, qt, "the result names its token");
                self.completed(result);
            }
            Err(e) => assert_eq!(e.errno(), libc::ETIMEDOUT, "wait on a pending token: {e}"),
        }
    }

    /// A pending token's result was taken: it names its queue, and an accepted connection is a queue to use.
    fn completed(&mut self, result: QResult) {
        let qd = self.pending.remove(&result.qt).expect("a result for a token that was pending");
        assert_eq!(result.qd, qd, "the result names its queue");
        if let Ok(QValue::Accepted { qd, .. }) = result.value {
            self.queues.push(qd);
        }
        self.done.push(result.qt);
    }

    fn call(&mut self) {
        let ports = PORTS[self.rng.below(PORTS.len())];
        let addr = SocketAddrV4::new(LOCALHOST, ports);
        match self.rng.below(16) {
            0 => {
                let kind = if self.rng.chance(7) { SocketType::Stream } else { SocketType::Datagram };
                let qd = self.libos.socket(SocketDomain::Inet, kind, 0).expect("a socket");
                self.queues.push(qd);
            }
            1 => {
                let qd = self.libos.queue().expect("a queue");
                self.queues.push(qd);
            }
            2 => {
                if let Some(qd) = self.queue() {
                    let _ = self.libos.bind(qd, addr);
                }
            }
            3 => {
                if let Some(qd) = self.queue() {
                    let _ = self.libos.listen(qd, 1 + self.rng.below(4));
                }
            }
            4 => {
                if let Some(qd) = self.queue() {
                    let qt = self.libos.accept(qd);
                    self.started(qd, qt);
                }
            }
            5 => {
                if let Some(qd) = self.queue() {
                    let qt = self.libos.connect(qd, addr);
                    self.started(qd, qt);
                }
            }
            6 | 7 => {
                if let Some(qd) = self.queue() {
                    let len = 1 + self.rng.below(3000);
                    let sga = Sga::from_slice(&vec![0x5a; len]).expect("sga");
                    let qt =
                        if self.rng.chance(8) { self.libos.push(qd, &sga) } else { self.libos.pushto(qd, &sga, addr) };
                    self.started(qd, qt);
                }
            }
            8 | 9 => {
                if let Some(qd) = self.queue() {
                    let max = [None, Some(1), Some(4096)][self.rng.below(3)];
                    let qt = self.libos.pop(qd, max);
                    self.started(qd, qt);
                }
            }
            10 => {
                if let Some(qd) = self.queue() {
                    let option = match self.rng.below(4) {
                        0 => SocketOption::NoDelay(self.rng.chance(5)),
                        1 => SocketOption::KeepAlive(self.rng.chance(5)),
                        2 => SocketOption::ReuseAddr(self.rng.chance(5)),
                        _ => SocketOption::Linger([None, Some(Duration::ZERO)][self.rng.below(2)]),
                    };
                    let _ = self.libos.setsockopt(qd, option);
                    let _ = (self.libos.getsockname(qd), self.libos.getpeername(qd));
                }
            }
            11 => {
                if let Some(qd) = self.queue() {
                    if self.rng.chance(5) {
                        let _ = self.libos.close(qd);
                    } else {
                        let qt = self.libos.async_close(qd);
                        self.started(qd, qt);
                    }
                    self.queues.retain(|&q| q != qd);
                }
            }
            12 | 13 => {
                let tokens: Vec<QToken> = self.pending.keys().copied().collect();
                if !tokens.is_empty() {
                    let qt = tokens[self.rng.below(tokens.len())];
                    let timeout = Duration::from_millis(self.rng.below(3) as u64 * 5);
                    self.wait(qt, timeout);
                }
            }
            14 => {
                let tokens: Vec<QToken> = self.pending.keys().copied().collect();
                if !tokens.is_empty() {
                    match self.libos.wait_any(&tokens, Some(Duration::ZERO)) {
                        Ok((index, result)) => {
                            assert_eq!(result.qt, tokens[index], "wait_any names the token it returns");
                            self.completed(result);
                        }
                        Err(e) => assert_eq!(e.errno(), libc::ETIMEDOUT, "wait_any: {e}"),
                    }
                }
            }
            _ => {
                // A token already consumed, or one never made: EINVAL, at once.
                let qt = match self.done.len() {
                    0 => QToken::from_raw(u64::MAX - 7),
                    n => self.done[self.rng.below(n)],
                };
                let e = self.libos.wait(qt, Some(Duration::ZERO)).expect_err("a consumed or unknown token");
                assert_eq!(e.errno(), libc::EINVAL, "{e}");
            }
        }
    }

    /// Closes every queue; every outstanding token then completes.
    fn finish(mut self) {
        for qd in std::mem::take(&mut self.queues) {
            let _ = self.libos.close(qd);
        }
        let tokens: Vec<QToken> = self.pending.keys().copied().collect();
        for qt in tokens {
            self.wait(qt, Duration::from_secs(1));
            assert!(!self.pending.contains_key(&qt), "{qt:?} did not complete once its queue was closed");
        }
    }
}

#[test]
fn drawn_call_sequences_fail_only_with_errors_and_leave_nothing_waiting() {
    let seeds: u64 = std::env::var("DEMI_DRAWN_CALLS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    for seed in 1..=seeds {
        let mut run = Run {
            libos: new_libos(),
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            queues: Vec::new(),
            pending: HashMap::new(),
            done: Vec::new(),
        };
        for _ in 0..300 {
            run.call();
        }
        run.finish();
    }
}
