//! [`HyStart`]: HyStart++ (RFC 9406), the end of the first slow start found from the round-trip time rather
//! than from a loss. Slow start doubles the window each round trip until something drops, and by then it has
//! overrun the bottleneck's queue by up to a window; a queue that fills shows first as a longer round trip.
//!
//! Each round (from sending SND.NXT to its acknowledgment) keeps the smallest RTT its ACKs measured. Once a round
//! has [`N_RTT_SAMPLE`] samples and its minimum exceeds the last round's by a threshold (an eighth of it, within
//! 4..=16 ms), slow start gives way to Conservative Slow Start (CSS): the window grows a quarter as fast. If the
//! RTT falls back under the minimum that triggered it, the exit was jitter and slow start resumes; after
//! [`CSS_ROUNDS`] rounds of CSS, ssthresh becomes cwnd and congestion avoidance begins.
//!
//! Only the first slow start runs it (§4.3: later ones have an ssthresh from a loss to stop at). The connection
//! feeds it the ACKs that grow the window there, each with the RTT of the newest segment it acknowledges
//! (unless that was resent: Karn's rule), and applies the answer; this file is the state machine alone.

use super::slow_start_increase;
use crate::tcp::Nanos;
use crate::wire::SeqNumber;

/// RTT samples a round needs before its minimum is compared with the last round's.
pub(crate) const N_RTT_SAMPLE: u32 = 8;
/// CSS grows the window this many times slower than slow start.
pub(crate) const CSS_GROWTH_DIVISOR: usize = 4;
/// Rounds of CSS before congestion avoidance.
pub(crate) const CSS_ROUNDS: u32 = 5;
/// Bounds of the RTT increase that ends slow start, and its share of the last round's minimum.
const MIN_RTT_THRESH: Nanos = Nanos::from_millis(4);
const MAX_RTT_THRESH: Nanos = Nanos::from_millis(16);
const MIN_RTT_DIVISOR: u64 = 8;

/// Where the first slow start stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    SlowStart,
    /// Conservative Slow Start, entered when a round's minimum RTT reached `baseline`.
    Conservative {
        baseline: Nanos,
        rounds: u32,
    },
    /// Over: congestion avoidance began (by HyStart++ or by a loss), or the connection has no RTT per ACK.
    Done,
}

/// HyStart++'s state for one connection (see the module documentation).
#[derive(Clone, Debug)]
pub(crate) struct HyStart {
    phase: Phase,
    /// The round ends when this is acknowledged (RFC 9406's windowEnd); `None` before the first round.
    window_end: Option<SeqNumber>,
    /// The minimum RTT of the last round and of this one ([`Nanos::NEVER`]: no sample).
    last_round_min: Nanos,
    round_min: Nanos,
    samples: u32,
}

/// What an ACK in the first slow start does to the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Growth {
    /// Grow by this many bytes (slow start's or CSS's share of what the ACK acknowledged).
    By(usize),
    /// Slow start is over: ssthresh becomes cwnd, congestion avoidance begins.
    EndSlowStart,
}

impl HyStart {
    /// HyStart++ for a connection, `running` if it has an RTT sample per ACK.
    pub(crate) fn new(running: bool) -> Self {
        Self {
            phase: if running { Phase::SlowStart } else { Phase::Done },
            window_end: None,
            last_round_min: Nanos::NEVER,
            round_min: Nanos::NEVER,
            samples: 0,
        }
    }

    /// Whether slow start is still HyStart++'s to end.
    #[inline]
    pub(crate) fn running(&self) -> bool {
        self.phase != Phase::Done
    }

    #[cfg(test)]
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    /// Stops for good: the window left slow start some other way.
    pub(crate) fn stop(&mut self) {
        self.phase = Phase::Done;
    }

    /// An ACK of `growth` bytes (what the connection lets the window grow by) that moved SND.UNA to `ack`, with
    /// SND.NXT at `snd_nxt` and `rtt` measured on the newest segment it acknowledged.
    pub(crate) fn on_ack(
        &mut self,
        ack: SeqNumber,
        snd_nxt: SeqNumber,
        rtt: Option<Nanos>,
        growth: usize,
        mss: usize,
    ) -> Growth {
        if self.window_end.is_none_or(|end| ack >= end) {
            self.last_round_min = self.round_min;
            self.round_min = Nanos::NEVER;
            self.samples = 0;
            self.window_end = Some(snd_nxt);
            if let Phase::Conservative { baseline, rounds } = self.phase {
                if rounds + 1 >= CSS_ROUNDS {
                    self.phase = Phase::Done;
                    return Growth::EndSlowStart;
                }
                self.phase = Phase::Conservative { baseline, rounds: rounds + 1 };
            }
        }
        if let Some(rtt) = rtt {
            self.round_min = self.round_min.min(rtt);
            self.samples += 1;
        }
        // Eight samples of this round set its minimum.
        if self.samples >= N_RTT_SAMPLE {
            match self.phase {
                Phase::SlowStart if !self.last_round_min.is_never() => {
                    let threshold = self.last_round_min.div(MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH);
                    if self.round_min >= self.last_round_min.saturating_add(threshold) {
                        self.phase = Phase::Conservative { baseline: self.round_min, rounds: 0 };
                    }
                }
                Phase::Conservative { baseline, .. } if self.round_min < baseline => self.phase = Phase::SlowStart,
                _ => {}
            }
        }
        match self.phase {
            Phase::Conservative { .. } => Growth::By(slow_start_increase(growth, mss) / CSS_GROWTH_DIVISOR),
            _ => Growth::By(growth),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    /// One round of `acks` ACKs, each of one MSS and each measuring `rtt`: SND.NXT stands one byte past the
    /// round's last ACK, so the next round starts with the next call. Returns every answer.
    fn round(hystart: &mut HyStart, next: &mut u32, acks: u32, rtt: u64) -> Vec<Growth> {
        let end = *next + acks * MSS as u32;
        let answers = (1..=acks)
            .map(|i| {
                let ack = SeqNumber(*next + i * MSS as u32);
                hystart.on_ack(ack, SeqNumber(end + 1), Some(Nanos::from_millis(rtt)), MSS, MSS)
            })
            .collect();
        *next = end;
        answers
    }

    /// A fresh HyStart++ after two rounds of (ACKs, RTT in ms) each, and where the next round starts.
    fn after_two_rounds(first: (u32, u64), second: (u32, u64)) -> (HyStart, u32) {
        let mut hystart = HyStart::new(true);
        let mut next = 0;
        round(&mut hystart, &mut next, first.0, first.1);
        round(&mut hystart, &mut next, second.0, second.1);
        (hystart, next)
    }

    /// Whether two such rounds take HyStart++ out of slow start.
    fn leaves_slow_start(first: (u32, u64), second: (u32, u64)) -> bool {
        after_two_rounds(first, second).0.phase() != Phase::SlowStart
    }

    #[test]
    fn a_rising_round_trip_starts_conservative_slow_start_then_congestion_avoidance() {
        let mut hystart = HyStart::new(true);
        let mut next = 0;
        assert!(round(&mut hystart, &mut next, 10, 40).iter().all(|&g| g == Growth::By(MSS)));
        assert!(round(&mut hystart, &mut next, 20, 42).iter().all(|&g| g == Growth::By(MSS)), "+2 ms < 5 ms");
        let third = round(&mut hystart, &mut next, 40, 48);
        assert_eq!(hystart.phase(), Phase::Conservative { baseline: Nanos::from_millis(48), rounds: 0 });
        // Decided at the round's eighth sample: a quarter of the growth from there on.
        let quarter = Growth::By(MSS / CSS_GROWTH_DIVISOR);
        assert_eq!(third.iter().position(|&g| g == quarter), Some(N_RTT_SAMPLE as usize - 1), "{third:?}");
        for rounds in 1..CSS_ROUNDS {
            assert!(round(&mut hystart, &mut next, 40, 48).iter().all(|&g| g == quarter), "CSS round {rounds}");
        }
        let last = round(&mut hystart, &mut next, 40, 48);
        assert_eq!(last[0], Growth::EndSlowStart, "after {CSS_ROUNDS} rounds of CSS");
        assert_eq!(hystart.phase(), Phase::Done);
        assert!(!hystart.running());
    }

    #[test]
    fn a_round_with_too_few_samples_decides_nothing() {
        for (samples, exits) in [(N_RTT_SAMPLE - 1, false), (N_RTT_SAMPLE, true)] {
            assert_eq!(leaves_slow_start((10, 40), (samples, 100)), exits, "{samples} samples");
        }
    }

    #[test]
    fn a_round_trip_back_under_the_baseline_resumes_slow_start() {
        let (mut hystart, mut next) = after_two_rounds((10, 40), (20, 50));
        assert_eq!(hystart.phase(), Phase::Conservative { baseline: Nanos::from_millis(50), rounds: 0 });
        let answers = round(&mut hystart, &mut next, 20, 45);
        assert_eq!(answers.last(), Some(&Growth::By(MSS)), "jitter, not a queue: {answers:?}");
        assert_eq!(hystart.phase(), Phase::SlowStart);
    }

    #[test]
    fn the_threshold_is_an_eighth_of_the_round_trip_within_4_to_16_ms() {
        for (base, rise, exits) in [(10, 3, false), (10, 4, true), (80, 9, false), (80, 10, true), (400, 16, true)] {
            assert_eq!(leaves_slow_start((10, base), (10, base + rise)), exits, "{base} ms + {rise} ms");
        }
    }

    #[test]
    fn css_grows_a_quarter_of_slow_start_capped_first() {
        let (mut hystart, next) = after_two_rounds((10, 40), (10, 60));
        let growth = hystart.on_ack(SeqNumber(next + 1), SeqNumber(next + 2), None, 20 * MSS, MSS);
        assert_eq!(growth, Growth::By(slow_start_increase(20 * MSS, MSS) / CSS_GROWTH_DIVISOR));
    }

    #[test]
    fn without_an_rtt_per_ack_it_never_runs() {
        let mut hystart = HyStart::new(false);
        assert!(!hystart.running());
        let mut next = 0;
        round(&mut hystart, &mut next, 10, 40);
        assert!(round(&mut hystart, &mut next, 10, 400).iter().all(|&g| g == Growth::By(MSS)));
    }
}
