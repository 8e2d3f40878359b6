//! [`IcmpErrorBudget`]: how many ICMP errors the stack may send per second (RFC 1812 §4.3.2.8), so that a flood
//! of datagrams to closed ports does not get one answer each.
//!
//! The budget is shared by every destination, and an exact shared budget is a side channel (CVE-2020-25705,
//! "SADDNS"): an off-path attacker spends it with spoofed datagrams, then counts the errors its own probes get,
//! and learns which UDP ports are open. So, as Linux has done since, each one-second window's budget is not
//! exact: it is `per_second` less a part of up to a quarter of it, drawn from a keyed hash of the window's
//! number (the stack's secret; fixed in tests, so runs replay).

use crate::tcp::Nanos;

#[derive(Clone, Copy, Debug)]
pub(super) struct IcmpErrorBudget {
    per_second: u32,
    secret: u64,
    /// The current one-second window (seconds since the stack started) and what is left of its budget.
    window: Option<u64>,
    left: u32,
}

impl IcmpErrorBudget {
    pub(super) fn new(per_second: u32, secret: u64) -> Self {
        Self { per_second, secret, window: None, left: 0 }
    }

    /// Whether one more error may go out now (and counts it if so).
    pub(super) fn allow(&mut self, now: Nanos) -> bool {
        let window = now.as_nanos() / 1_000_000_000;
        if self.window != Some(window) {
            self.window = Some(window);
            self.left = self.budget_of(window);
        }
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }

    /// `per_second` less a keyed pseudo-random part of at most a quarter of it.
    fn budget_of(&self, window: u64) -> u32 {
        let product = u128::from(self.secret ^ window) * u128::from(0x9e37_79b9_7f4a_7c15_u64);
        let draw = (product as u64) ^ ((product >> 64) as u64);
        self.per_second - (draw % (u64::from(self.per_second / 4) + 1)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(per_second: u32, secret: u64, second: u64) -> u32 {
        let mut budget = IcmpErrorBudget::new(per_second, secret);
        let at = Nanos::from_secs(second);
        (0..per_second + 1).filter(|_| budget.allow(at)).count() as u32
    }

    #[test]
    fn each_window_allows_between_three_quarters_and_all_of_the_rate() {
        let budgets: Vec<u32> = (0..200).map(|second| budget(1000, 0x5eed, second)).collect();
        assert!(budgets.iter().all(|b| (750..=1000).contains(b)), "{budgets:?}");
        // Not a constant an attacker could count against: the windows' budgets differ.
        let distinct: std::collections::HashSet<_> = budgets.iter().collect();
        assert!(distinct.len() > 100, "{} distinct budgets", distinct.len());
        // And they depend on the secret.
        assert_ne!(budgets, (0..200).map(|second| budget(1000, 0x5eee, second)).collect::<Vec<_>>());
    }

    #[test]
    fn a_rate_of_zero_sends_nothing_and_the_budget_comes_back_each_second() {
        assert_eq!(budget(0, 1, 0), 0);
        let mut limited = IcmpErrorBudget::new(1, 1);
        assert!(limited.allow(Nanos::from_secs(3)));
        assert!(!limited.allow(Nanos::from_millis(3999)));
        assert!(limited.allow(Nanos::from_secs(4)));
    }
}
