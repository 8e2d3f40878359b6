//! The minimum RTT over a window of time (RACK.min_RTT, RFC 8985 §6.2): the least sample of the last
//! [`MIN_RTT_WINDOW`], so that a path that got longer (a new route, a failover) is seen as it now is once the
//! window has passed, instead of being held to the least sample of the connection's whole life.
//!
//! Kathleen Nichols' estimator, as Linux keeps its `rtt_min` (`tcp_min_rtt_wlen`, 5 minutes by default): three
//! candidates in constant space and time per sample, each taken no earlier than the one before it. The first is
//! the minimum; the second is the least sample taken after a quarter of the window had passed since the first,
//! the third the least after half of it, so that when the first ages out a recent candidate takes its place.
//! A sample at or below the minimum starts afresh (everything older is larger and older: worth nothing), as
//! does a sample after the whole window passed without any.

use super::Nanos;

/// How long a minimum holds (Linux's default `tcp_min_rtt_wlen`).
pub(crate) const MIN_RTT_WINDOW: Nanos = Nanos::from_secs(300);

/// One candidate: a sample and when it was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Candidate {
    rtt: Nanos,
    at: Nanos,
}

/// No sample yet: larger than any, so the first sample replaces it.
const NONE: Candidate = Candidate { rtt: Nanos::NEVER, at: Nanos::ZERO };

/// The windowed minimum of RTT samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WindowedMinRtt {
    /// The minimum, then the candidates to follow it, each taken no earlier than the one before.
    candidates: [Candidate; 3],
}

impl Default for WindowedMinRtt {
    fn default() -> Self {
        Self { candidates: [NONE; 3] }
    }
}

impl WindowedMinRtt {
    /// The least sample of the window; `None` before the first.
    #[inline]
    pub(crate) fn get(&self) -> Option<Nanos> {
        let least = self.candidates[0].rtt;
        (least != Nanos::NEVER).then_some(least)
    }

    /// Takes `rtt`, sampled `now`, over `window`. Inline: a new minimum (the usual sample on a steady path) is
    /// three stores; the rest is out of line.
    #[inline]
    pub(crate) fn update(&mut self, rtt: Nanos, now: Nanos, window: Nanos) {
        let sample = Candidate { rtt, at: now };
        if rtt <= self.candidates[0].rtt {
            self.candidates = [sample; 3];
        } else {
            self.update_above_minimum(sample, window);
        }
    }

    /// [`Self::update`] with a sample above the minimum.
    #[inline(never)]
    fn update_above_minimum(&mut self, sample: Candidate, window: Nanos) {
        let [_, second, third] = &mut self.candidates;
        if sample.at.saturating_sub(third.at) > window {
            // Nothing in the window: this sample alone.
            self.candidates = [sample; 3];
            return;
        }
        if sample.rtt <= second.rtt {
            (*second, *third) = (sample, sample);
        } else if sample.rtt <= third.rtt {
            *third = sample;
        }
        self.age(sample, window);
    }

    /// Moves the candidates up as the minimum ages out, and spreads them over the window while they are the same.
    fn age(&mut self, sample: Candidate, window: Nanos) {
        let age = sample.at.saturating_sub(self.candidates[0].at);
        if age > window {
            // The minimum is too old: the second takes its place, and the third too if the second is as old.
            let [_, second, third] = self.candidates;
            self.candidates = [second, third, sample];
            if sample.at.saturating_sub(second.at) > window {
                self.candidates = [third, sample, sample];
            }
        } else if self.candidates[1] == self.candidates[0] && age > window.div(4) {
            // A quarter of the window without a second candidate: take this one.
            self.candidates[1] = sample;
            self.candidates[2] = sample;
        } else if self.candidates[2] == self.candidates[1] && age > window.div(2) {
            // Half the window without a third: take this one.
            self.candidates[2] = sample;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Nanos {
        Nanos::from_millis(n)
    }

    const WINDOW: Nanos = Nanos::from_secs(100);

    fn s(n: u64) -> Nanos {
        Nanos::from_secs(n)
    }

    #[test]
    fn nothing_before_the_first_sample_then_the_least_of_the_window() {
        let mut min = WindowedMinRtt::default();
        assert_eq!(min.get(), None);
        min.update(ms(30), s(1), WINDOW);
        assert_eq!(min.get(), Some(ms(30)));
        min.update(ms(40), s(2), WINDOW);
        min.update(ms(20), s(3), WINDOW);
        min.update(ms(50), s(4), WINDOW);
        assert_eq!(min.get(), Some(ms(20)));
    }

    #[test]
    fn a_minimum_ages_out_and_a_later_candidate_takes_its_place() {
        // The path got longer: samples of 40 ms after one of 10. Within the window the 10 holds; past it, the
        // least of the later samples does, not the newest.
        let mut min = WindowedMinRtt::default();
        min.update(ms(10), s(0), WINDOW);
        for (at, rtt) in [(30, 45), (60, 41), (80, 43), (99, 47)] {
            min.update(ms(rtt), s(at), WINDOW);
            assert_eq!(min.get(), Some(ms(10)), "at {at} s");
        }
        min.update(ms(48), s(101), WINDOW);
        assert_eq!(min.get(), Some(ms(41)), "the candidate taken in the second half");
        // Once that one ages out too, the one taken after it (at 80 s, in the second half of its window).
        min.update(ms(49), s(161), WINDOW);
        assert_eq!(min.get(), Some(ms(43)));
        // Past the whole window with no sample: the next sample alone.
        min.update(ms(70), s(400), WINDOW);
        assert_eq!(min.get(), Some(ms(70)));
    }

    #[test]
    fn the_estimate_is_never_below_the_true_minimum_of_the_window_nor_a_sample_older_than_it() {
        // Drawn series: the estimate is always a sample taken within the window, at least the least of the
        // samples of the window.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200 {
            let mut min = WindowedMinRtt::default();
            let mut samples: Vec<(Nanos, Nanos)> = Vec::new();
            let mut now = s(1);
            for _ in 0..300 {
                now = now.saturating_add(Nanos::from_millis(next() % 20_000));
                let rtt = ms(1 + next() % 100);
                min.update(rtt, now, WINDOW);
                samples.push((rtt, now));
                let in_window = samples.iter().filter(|&&(_, at)| now.saturating_sub(at) <= WINDOW);
                let least = in_window.map(|&(rtt, _)| rtt).min().expect("this sample");
                let got = min.get().expect("a sample");
                assert!(got >= least, "{got:?} below {least:?}");
                assert!(samples.iter().any(|&(rtt, at)| rtt == got && now.saturating_sub(at) <= WINDOW));
            }
        }
    }
}
