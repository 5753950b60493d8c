//! How much less compute the policy needs than a baseline for the same accuracy.

use std::fmt;

use serde::{Deserialize, Serialize};
use ttc_core::{Error, Result};

/// Accuracy against budget (generations), ordered by budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    points: Vec<(usize, f64)>,
}

impl Curve {
    /// A curve from `(budget, accuracy)` points in any order. Budgets must be at
    /// least 1 and distinct; accuracies in [0, 1].
    pub fn new(mut points: Vec<(usize, f64)>) -> Result<Self> {
        if points.is_empty() {
            return Err(Error::invalid("accuracy curve", "it has no points"));
        }
        points.sort_by_key(|p| p.0);
        for (b, acc) in &points {
            if *b == 0 {
                return Err(Error::invalid(
                    "accuracy curve",
                    "a budget is 0; budgets start at 1",
                ));
            }
            if !(0.0..=1.0).contains(acc) {
                return Err(Error::invalid(
                    "accuracy curve",
                    format!("accuracy {acc} at budget {b} is not in [0, 1]"),
                ));
            }
        }
        if let Some(w) = points.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::invalid(
                "accuracy curve",
                format!(
                    "budget {} appears twice; give one accuracy per budget",
                    w[0].0
                ),
            ));
        }
        Ok(Curve { points })
    }

    pub fn points(&self) -> &[(usize, f64)] {
        &self.points
    }

    /// The accuracy measured at exactly `budget`.
    pub fn accuracy_at(&self, budget: usize) -> Option<f64> {
        self.points.iter().find(|p| p.0 == budget).map(|p| p.1)
    }

    /// The smallest budget at which this curve reaches `accuracy`, interpolating
    /// linearly in log2(budget) between the last point below and the first point at
    /// or above it (the first crossing, should the curve dip later).
    pub fn budget_to_reach(&self, accuracy: f64) -> MatchedBudget {
        let first = self.points[0];
        match self.points.iter().position(|p| p.1 >= accuracy) {
            None => MatchedBudget::Beyond(self.points[self.points.len() - 1].0 as f64),
            Some(0) => MatchedBudget::AtOrBelow(first.0 as f64),
            Some(i) => {
                let (b0, a0) = self.points[i - 1];
                let (b1, a1) = self.points[i];
                let t = (accuracy - a0) / (a1 - a0);
                let (l0, l1) = ((b0 as f64).log2(), (b1 as f64).log2());
                MatchedBudget::Reached((l0 + t * (l1 - l0)).exp2())
            }
        }
    }
}

/// A budget (or a ratio of budgets) that may only be bounded by the data.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchedBudget {
    /// Reached here (interpolated in log2 budget).
    Reached(f64),
    /// Already reached at the curve's smallest budget: this value or less.
    AtOrBelow(f64),
    /// Never reached within the curve: more than its largest budget.
    Beyond(f64),
}

impl MatchedBudget {
    /// The number, whatever kind of bound it is.
    pub fn value(self) -> f64 {
        match self {
            MatchedBudget::Reached(x) | MatchedBudget::AtOrBelow(x) | MatchedBudget::Beyond(x) => x,
        }
    }

    fn scale(self, by: f64) -> Self {
        match self {
            MatchedBudget::Reached(x) => MatchedBudget::Reached(x * by),
            MatchedBudget::AtOrBelow(x) => MatchedBudget::AtOrBelow(x * by),
            MatchedBudget::Beyond(x) => MatchedBudget::Beyond(x * by),
        }
    }
}

impl fmt::Display for MatchedBudget {
    /// `4.0`, `<= 1.0` or `> 8.0` (one decimal; more with `{:.3}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = f.precision().unwrap_or(1);
        match self {
            MatchedBudget::Reached(x) => write!(f, "{x:.digits$}"),
            MatchedBudget::AtOrBelow(x) => write!(f, "<= {x:.digits$}"),
            MatchedBudget::Beyond(x) => write!(f, "> {x:.digits$}"),
        }
    }
}

/// The policy's accuracy at one budget and what the baseline needs to match it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Efficiency {
    /// The policy's budget N.
    pub budget: usize,
    /// The policy's accuracy at N.
    pub accuracy: f64,
    /// The baseline's budget for the same accuracy.
    pub baseline_budget: MatchedBudget,
}

impl Efficiency {
    /// Baseline budget / N: the "4x less compute" figure.
    pub fn ratio(&self) -> MatchedBudget {
        self.baseline_budget.scale(1.0 / self.budget as f64)
    }
}

/// The budget the `baseline` needs to match the `policy`'s accuracy at `budget`
/// (which must be one of the policy curve's budgets), e.g. best-of-N needing 64
/// generations where the policy needs 16: ratio 4.
pub fn efficiency(policy: &Curve, baseline: &Curve, budget: usize) -> Result<Efficiency> {
    let accuracy = policy.accuracy_at(budget).ok_or_else(|| {
        let budgets: Vec<String> = policy.points.iter().map(|p| p.0.to_string()).collect();
        Error::invalid(
            "efficiency budget",
            format!(
                "the policy curve has no point at budget {budget}; use one of {}",
                budgets.join(", ")
            ),
        )
    })?;
    Ok(Efficiency {
        budget,
        accuracy,
        baseline_budget: baseline.budget_to_reach(accuracy),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn best_of_n() -> Curve {
        Curve::new(vec![
            (4, 0.20),
            (16, 0.30),
            (64, 0.40),
            (256, 0.44),
            (1, 0.10),
        ])
        .unwrap()
    }

    #[test]
    fn four_times_less_compute() {
        let policy = Curve::new(vec![(4, 0.30), (16, 0.40), (64, 0.45)]).unwrap();
        let e = efficiency(&policy, &best_of_n(), 16).unwrap();
        assert_eq!(e.baseline_budget, MatchedBudget::Reached(64.0));
        assert_eq!(e.ratio(), MatchedBudget::Reached(4.0));
        assert_eq!(e.ratio().to_string(), "4.0");
        let e = efficiency(&policy, &best_of_n(), 4).unwrap();
        assert_eq!(e.ratio(), MatchedBudget::Reached(4.0));
        // Beyond the baseline's reach.
        let e = efficiency(&policy, &best_of_n(), 64).unwrap();
        assert_eq!(e.baseline_budget, MatchedBudget::Beyond(256.0));
        assert_eq!(e.ratio().to_string(), "> 4.0");
    }

    #[test]
    fn interpolation_is_linear_in_log2_budget() {
        // Halfway in accuracy between 16 (0.30) and 64 (0.40) is halfway in log2: 32.
        let m = best_of_n().budget_to_reach(0.35);
        assert!((m.value() - 32.0).abs() < 1e-9, "{m:?}");
        // A quarter of the way from 64 to 256: 2^(6.5) = 90.5.
        let m = best_of_n().budget_to_reach(0.41);
        assert!((m.value() - 2f64.powf(6.5)).abs() < 1e-9, "{m:?}");
        assert_eq!(
            best_of_n().budget_to_reach(0.05),
            MatchedBudget::AtOrBelow(1.0)
        );
        assert_eq!(format!("{:.2}", MatchedBudget::AtOrBelow(1.0)), "<= 1.00");
    }

    #[test]
    fn a_dipping_curve_uses_its_first_crossing() {
        let c = Curve::new(vec![(1, 0.1), (2, 0.5), (4, 0.2), (8, 0.6)]).unwrap();
        assert_eq!(c.budget_to_reach(0.5), MatchedBudget::Reached(2.0));
    }

    #[test]
    fn bad_curves_and_budgets_are_named() {
        let err = Curve::new(vec![(4, 0.1), (4, 0.2)]).unwrap_err();
        assert!(err.to_string().contains("budget 4 appears twice"), "{err}");
        let err = Curve::new(vec![(4, 1.5)]).unwrap_err();
        assert!(
            err.to_string().contains("accuracy 1.5 at budget 4"),
            "{err}"
        );
        assert!(Curve::new(vec![]).is_err());
        assert!(Curve::new(vec![(0, 0.5)]).is_err());
        let err = efficiency(&best_of_n(), &best_of_n(), 8).unwrap_err();
        assert!(
            err.to_string()
                .contains("no point at budget 8; use one of 1, 4, 16, 64, 256"),
            "{err}"
        );
    }
}
