//! Splitting a budget N into parallel chains x sequential length.

use serde::{Deserialize, Serialize};
use ttc_core::{Error, Result};

/// How a budget of N generations is spent: `chains` independent revision chains of
/// `length` attempts each, both powers of two, N = chains x length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ChainSplit {
    /// Parallel chains.
    pub chains: usize,
    /// Attempts per chain (the first is the reviser's own, each later one a revision).
    pub length: usize,
}

fn is_pow2(n: usize) -> bool {
    n.is_power_of_two()
}

/// A power of two written as a ratio: `4`, `1`, `1/8`.
fn ratio_text(log2: i32) -> String {
    if log2 >= 0 {
        format!("{}", 1u64 << log2)
    } else {
        format!("1/{}", 1u64 << -log2)
    }
}

impl ChainSplit {
    /// `chains` x `length`, both powers of two.
    pub fn new(chains: usize, length: usize) -> Result<Self> {
        for (what, v) in [("chains", chains), ("chain length", length)] {
            if !is_pow2(v) {
                return Err(Error::invalid(
                    what,
                    format!("{v} is not a power of two (use 1, 2, 4, 8, ...)"),
                ));
            }
        }
        Ok(ChainSplit { chains, length })
    }

    /// Checks that both numbers are powers of two.
    pub fn validate(&self) -> Result<()> {
        ChainSplit::new(self.chains, self.length).map(|_| ())
    }

    /// The split of `budget` whose sequential ratio `length / chains` is `ratio`
    /// (`--sequential-ratio`): 1 is square (16 = 4 x 4), larger is more sequential
    /// (ratio 16 at budget 16 is one chain of 16), smaller more parallel (1/16 is 16
    /// chains of one attempt, i.e. best-of-N with the reviser).
    pub fn from_ratio(budget: usize, ratio: f64) -> Result<Self> {
        let n = budget_log2(budget)?;
        let k = ratio_log2(ratio)?;
        // chains = 2^c, length = 2^l with c + l = n and l - c = k.
        if (n + k) % 2 != 0 || k.abs() > n {
            return Err(Error::invalid(
                "sequential ratio",
                format!(
                    "{} at budget {budget} has no split into chains x length over powers of two \
                     (length / chains = {}, chains x length = {budget}); at budget {budget} use one of {}",
                    ratio_text(k),
                    ratio_text(k),
                    ratios(n).join(", ")
                ),
            ));
        }
        let l = (n + k) / 2;
        let c = n - l;
        Ok(ChainSplit {
            chains: 1 << c,
            length: 1 << l,
        })
    }

    /// Every split of `budget` over powers of two, most parallel first
    /// (N x 1, ..., 1 x N): the sweep of docs/method.md §3.
    pub fn all(budget: usize) -> Result<Vec<Self>> {
        let n = budget_log2(budget)?;
        Ok((0..=n)
            .map(|l| ChainSplit {
                chains: 1 << (n - l),
                length: 1 << l,
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

fn budget_log2(budget: usize) -> Result<i32> {
    if !is_pow2(budget) {
        return Err(Error::invalid(
            "budget",
            format!(
                "{budget} is not a power of two; revisions split N = chains x length over \
                 powers of two, so use 1, 2, 4, 8, 16, ..."
            ),
        ));
    }
    Ok(budget.trailing_zeros() as i32)
}

fn ratio_log2(ratio: f64) -> Result<i32> {
    let bad = || {
        Error::invalid(
            "sequential ratio",
            format!(
                "{ratio} is not a power of two; use one such as 1/4, 1/2, 1, 2, 4 \
                 (length / chains)"
            ),
        )
    };
    if !(ratio.is_finite() && ratio > 0.0) {
        return Err(bad());
    }
    let k = ratio.log2().round();
    if !(-62.0..=62.0).contains(&k) || (k.exp2() - ratio).abs() > 1e-9 * ratio {
        return Err(bad());
    }
    Ok(k as i32)
}

/// The ratios possible at budget 2^n.
fn ratios(n: i32) -> Vec<String> {
    (0..=n).map(|l| ratio_text(l - (n - l))).collect()
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

    #[test]
    fn sixteen_at_ratio_four_is_two_chains_of_eight() {
        assert_eq!(
            ChainSplit::from_ratio(16, 4.0).unwrap(),
            ChainSplit {
                chains: 2,
                length: 8
            }
        );
        assert_eq!(ChainSplit::from_ratio(16, 1.0).unwrap().label(), "4x4");
        assert_eq!(
            ChainSplit::from_ratio(16, 1.0 / 16.0).unwrap().label(),
            "16x1"
        );
        assert_eq!(ChainSplit::from_ratio(1, 1.0).unwrap().label(), "1x1");
    }

    #[test]
    fn impossible_ratios_list_the_possible_ones() {
        let err = ChainSplit::from_ratio(16, 2.0).unwrap_err().to_string();
        assert!(
            err.contains("sequential ratio") && err.contains("2 at budget 16"),
            "{err}"
        );
        assert!(err.contains("1/16, 1/4, 1, 4, 16"), "{err}");
        let err = ChainSplit::from_ratio(4, 16.0).unwrap_err().to_string();
        assert!(err.contains("1/4, 1, 4"), "{err}");
        let err = ChainSplit::from_ratio(16, 3.0).unwrap_err().to_string();
        assert!(err.contains("3 is not a power of two"), "{err}");
        let err = ChainSplit::from_ratio(12, 1.0).unwrap_err().to_string();
        assert!(err.contains("budget") && err.contains("12"), "{err}");
        for r in [0.0, -2.0, f64::NAN, f64::INFINITY] {
            assert!(ChainSplit::from_ratio(16, r).is_err());
        }
        assert!(
            ChainSplit::new(3, 4)
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
        let labels: Vec<String> = ChainSplit::all(8)
            .unwrap()
            .iter()
            .map(ChainSplit::label)
            .collect();
        assert_eq!(labels, ["8x1", "4x2", "2x4", "1x8"]);
    }

    proptest! {
        #[test]
        fn chains_times_length_is_the_budget(n in 0i32..12, l in 0i32..12) {
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
        fn every_power_of_two_ratio_is_a_split_or_an_error(n in 0i32..12, k in -14i32..14) {
            match ChainSplit::from_ratio(1 << n, (k as f64).exp2()) {
                Ok(s) => {
                    prop_assert_eq!(s.budget(), 1 << n);
                    prop_assert_eq!(s.ratio(), (k as f64).exp2());
                }
                Err(e) => prop_assert!((n + k) % 2 != 0 || k.abs() > n, "{}", e),
            }
        }
    }
}
