//! Splitting a budget N into parallel chains x sequential length.

use serde::{Deserialize, Serialize};
use ttc_core::{Error, Result};

/// How a budget of N generations is spent: `chains` independent revision chains of
/// `length` attempts each, N = chains x length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ChainSplit {
    /// Parallel chains.
    pub chains: usize,
    /// Attempts per chain (the first is the reviser's own, each later one a revision).
    pub length: usize,
}

/// Two splits whose log-ratio distances differ by less than this are tied (the
/// distances of 3x4 and 4x3 from ratio 1 are equal up to rounding).
const TIE: f64 = 1e-9;

impl ChainSplit {
    /// `chains` x `length`, both at least 1.
    pub fn new(chains: usize, length: usize) -> Result<Self> {
        for (what, v) in [("chains", chains), ("chain length", length)] {
            if v == 0 {
                return Err(Error::invalid(what, "0; use 1 or more"));
            }
        }
        Ok(ChainSplit { chains, length })
    }

    /// Checks that both numbers are at least 1.
    pub fn validate(&self) -> Result<()> {
        ChainSplit::new(self.chains, self.length).map(|_| ())
    }

    /// The split of `budget` whose sequential ratio `length / chains` is `ratio`
    /// (`--sequential-ratio`): 1 is square (16 = 4 x 4), larger is more sequential
    /// (ratio 16 at budget 16 is one chain of 16), smaller more parallel (1/16 is 16
    /// chains of one attempt, i.e. best-of-N with the reviser). When no split has that
    /// ratio exactly (ratio 4 at budget 12, ratio 2 at 16), the one nearest to it in
    /// log scale, and of two equally near the more parallel: 12 at ratio 4 is 2 x 6,
    /// at ratio 1 it is 4 x 3. Any budget of 1 or more has a split, so a budget left
    /// after a difficulty probe (16 - 4 = 12) runs revisions as well as 16 does.
    pub fn from_ratio(budget: usize, ratio: f64) -> Result<Self> {
        if !(ratio.is_finite() && ratio > 0.0) {
            return Err(Error::invalid(
                "sequential ratio",
                format!(
                    "{ratio} is not a positive number; use one such as 1/4, 1 or 4 (length / chains)"
                ),
            ));
        }
        let target = ratio.log2();
        let distance = |s: &ChainSplit| (s.ratio().log2() - target).abs();
        // `all` runs from the most parallel split, so the first of a tie is kept.
        let mut best: Option<(ChainSplit, f64)> = None;
        for s in ChainSplit::all(budget)? {
            let d = distance(&s);
            if best.is_none_or(|(_, b)| d < b - TIE) {
                best = Some((s, d));
            }
        }
        let (split, _) = best.expect("a budget of 1 or more has the split N x 1");
        if split.ratio() != ratio {
            tracing::debug!(
                budget,
                ratio,
                split = split.label(),
                "no split has the sequential ratio exactly; the nearest"
            );
        }
        Ok(split)
    }

    /// The split of `budget` whose ratio is `ratio` exactly, if there is one: what a
    /// sweep runs at the budgets it shares between methods (16 at ratio 4, not 12).
    pub fn exact(budget: usize, ratio: f64) -> Option<Self> {
        let s = ChainSplit::from_ratio(budget, ratio).ok()?;
        ((s.ratio() - ratio).abs() <= 1e-9 * ratio).then_some(s)
    }

    /// Every split of `budget` (one per divisor), most parallel first
    /// (N x 1, ..., 1 x N): the sweep of docs/method.md §3.
    pub fn all(budget: usize) -> Result<Vec<Self>> {
        if budget == 0 {
            return Err(Error::invalid(
                "budget",
                "0; revisions need at least one attempt",
            ));
        }
        // Divisors up to the square root, then their partners.
        let small: Vec<usize> = (1..)
            .take_while(|d| d * d <= budget)
            .filter(|d| budget.is_multiple_of(*d))
            .collect();
        let large = small
            .iter()
            .rev()
            .map(|d| budget / d)
            .filter(|&d| d * d != budget);
        Ok(small
            .iter()
            .copied()
            .chain(large)
            .map(|length| ChainSplit {
                chains: budget / length,
                length,
            })
            .collect())
    }

    /// N = chains x length.
    pub fn budget(&self) -> usize {
        self.chains * self.length
    }

    /// The sequential ratio length / chains.
    pub fn ratio(&self) -> f64 {
        self.length as f64 / self.chains as f64
    }

    /// `chains x length`, e.g. `4x4`.
    pub fn label(&self) -> String {
        format!("{}x{}", self.chains, self.length)
    }
}

/// Parses a sequential ratio as the command line writes it: `4`, `0.25` or `1/4`
/// (the method grammar's rule, [`ttc_core::parse_ratio`]).
pub fn parse_ratio(text: &str) -> Result<f64> {
    ttc_core::parse_ratio(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn label(budget: usize, ratio: f64) -> String {
        ChainSplit::from_ratio(budget, ratio).unwrap().label()
    }

    #[test]
    fn sixteen_at_ratio_four_is_two_chains_of_eight() {
        assert_eq!(
            ChainSplit::from_ratio(16, 4.0).unwrap(),
            ChainSplit {
                chains: 2,
                length: 8
            }
        );
        assert_eq!(label(16, 1.0), "4x4");
        assert_eq!(label(16, 1.0 / 16.0), "16x1");
        assert_eq!(label(1, 1.0), "1x1");
    }

    #[test]
    fn without_an_exact_split_the_nearest_one_and_the_more_parallel_of_a_tie() {
        // 12 = 12x1, 6x2, 4x3, 3x4, 2x6, 1x12 (ratios 1/12, 1/3, 3/4, 4/3, 3, 12).
        assert_eq!(label(12, 4.0), "2x6");
        assert_eq!(label(12, 1.0), "4x3");
        assert_eq!(label(12, 0.25), "6x2");
        assert_eq!(label(12, 16.0), "1x12");
        assert_eq!(label(12, 1.0 / 16.0), "12x1");
        assert_eq!(label(12, 3.0), "2x6");
        // Between 4x4 (ratio 1) and 2x8 (ratio 4), ratio 2 is as near to both.
        assert_eq!(label(16, 2.0), "4x4");
        // A prime budget is one chain or none.
        assert_eq!(label(7, 1.0), "7x1");
        assert_eq!(label(7, 4.0), "1x7");
        assert_eq!(label(60, 4.0), "4x15");
        assert_eq!(ChainSplit::exact(12, 4.0), None);
        assert_eq!(
            ChainSplit::exact(12, 3.0).map(|s| s.label()),
            Some("2x6".into())
        );
        assert_eq!(ChainSplit::exact(16, 2.0), None);
        assert_eq!(
            ChainSplit::exact(16, 0.25).map(|s| s.label()),
            Some("8x2".into())
        );
        assert_eq!(ChainSplit::exact(0, 1.0), None);
    }

    #[test]
    fn bad_budgets_and_ratios_are_refused() {
        let err = ChainSplit::from_ratio(0, 1.0).unwrap_err().to_string();
        assert!(
            err.contains("budget") && err.contains("at least one"),
            "{err}"
        );
        for r in [0.0, -2.0, f64::NAN, f64::INFINITY] {
            let err = ChainSplit::from_ratio(16, r).unwrap_err().to_string();
            assert!(err.contains("sequential ratio"), "{err}");
        }
        assert!(
            ChainSplit::new(0, 4)
                .unwrap_err()
                .to_string()
                .contains("chains")
        );
        assert!(
            ChainSplit::new(4, 0)
                .unwrap_err()
                .to_string()
                .contains("chain length")
        );
        assert!(ChainSplit::new(3, 4).is_ok());
    }

    #[test]
    fn ratios_parse_as_written() {
        assert_eq!(parse_ratio("4").unwrap(), 4.0);
        assert_eq!(parse_ratio(" 1/8 ").unwrap(), 0.125);
        assert_eq!(parse_ratio("0.25").unwrap(), 0.25);
        assert!(
            parse_ratio("three")
                .unwrap_err()
                .to_string()
                .contains("\"three\"")
        );
        assert!(parse_ratio("1/0").is_err());
        assert!(
            parse_ratio("3")
                .unwrap_err()
                .to_string()
                .contains("power of two")
        );
    }

    #[test]
    fn all_splits_run_from_parallel_to_sequential() {
        let labels = |n| -> Vec<String> {
            ChainSplit::all(n)
                .unwrap()
                .iter()
                .map(ChainSplit::label)
                .collect()
        };
        assert_eq!(labels(8), ["8x1", "4x2", "2x4", "1x8"]);
        assert_eq!(labels(12), ["12x1", "6x2", "4x3", "3x4", "2x6", "1x12"]);
        assert_eq!(labels(9), ["9x1", "3x3", "1x9"]);
        assert_eq!(labels(1), ["1x1"]);
    }

    proptest! {
        #[test]
        fn power_of_two_ratios_split_powers_of_two_exactly(n in 0i32..12, l in 0i32..12) {
            prop_assume!(l <= n);
            let budget = 1usize << n;
            let ratio = ((2 * l - n) as f64).exp2();
            let s = ChainSplit::from_ratio(budget, ratio).unwrap();
            prop_assert_eq!(s.budget(), budget);
            prop_assert_eq!(s.ratio(), ratio);
            prop_assert!(s.validate().is_ok());
            prop_assert_eq!(ChainSplit::from_ratio(budget, parse_ratio(&format!("{ratio}")).unwrap()).unwrap(), s);
            prop_assert!(ChainSplit::all(budget).unwrap().contains(&s));
        }

        #[test]
        fn every_budget_splits_to_its_nearest_ratio(budget in 1usize..400, k in -10i32..10) {
            let ratio = (k as f64).exp2();
            let s = ChainSplit::from_ratio(budget, ratio).unwrap();
            prop_assert_eq!(s.budget(), budget);
            let all = ChainSplit::all(budget).unwrap();
            prop_assert_eq!(all.iter().map(ChainSplit::budget).collect::<Vec<_>>(), vec![budget; all.len()]);
            prop_assert!(all.windows(2).all(|w| w[0].length < w[1].length));
            let d = |x: &ChainSplit| (x.ratio().log2() - ratio.log2()).abs();
            // No split is nearer, and an equally near one is not more parallel.
            for other in &all {
                prop_assert!(d(other) >= d(&s) - TIE, "{} nearer than {}", other.label(), s.label());
                if (d(other) - d(&s)).abs() < TIE {
                    prop_assert!(other.chains <= s.chains);
                }
            }
        }
    }
}
