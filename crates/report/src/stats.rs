//! Bootstrap confidence intervals over questions, and budget interpolation.

use serde::{Deserialize, Serialize};
use ttc_core::SeqRng;

/// A mean with its bootstrap percentile interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The mean over the units (questions).
    pub value: f64,
    /// Lower end of the percentile interval.
    pub lo: f64,
    /// Upper end of the percentile interval.
    pub hi: f64,
    /// Units the mean is over.
    pub n: usize,
}

impl Estimate {
    /// A value with no interval (lo = hi = value).
    pub fn exact(value: f64, n: usize) -> Self {
        Estimate {
            value,
            lo: value,
            hi: value,
            n,
        }
    }
}

/// How intervals are computed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Bootstrap {
    /// Resamples drawn (each resamples the questions with replacement).
    pub resamples: usize,
    /// Coverage of the percentile interval, e.g. 0.95.
    pub confidence: f64,
    /// Base seed; each estimate derives its own stream from it and a key.
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            resamples: 1000,
            confidence: 0.95,
            seed: 0,
        }
    }
}

/// A stable hash of a key (FNV-1a), so a stream does not depend on the order in
/// which estimates are computed.
fn stable_hash(key: &str) -> u64 {
    ttc_core::hash::fnv1a(key.as_bytes())
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The `p`-quantile of sorted values, interpolating linearly between order statistics.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let j = (i + 1).min(sorted.len() - 1);
    let t = pos - i as f64;
    sorted[i] + t * (sorted[j] - sorted[i])
}

impl Bootstrap {
    /// The mean of `values` (one per question) with a percentile interval from
    /// resampling the values with replacement. `key` names the estimate (e.g.
    /// `beam-m4@16`) and, with the seed, fixes its random stream. None when
    /// `values` is empty.
    pub fn mean(&self, values: &[f64], key: &str) -> Option<Estimate> {
        if values.is_empty() {
            return None;
        }
        let value = mean(values);
        if self.resamples == 0 || values.len() == 1 {
            return Some(Estimate::exact(value, values.len()));
        }
        let mut rng = SeqRng::new(self.seed).child(stable_hash(key));
        let n = values.len();
        let mut means = Vec::with_capacity(self.resamples);
        for _ in 0..self.resamples {
            let mut sum = 0.0;
            for _ in 0..n {
                let i = ((rng.next_f64() * n as f64) as usize).min(n - 1);
                sum += values[i];
            }
            means.push(sum / n as f64);
        }
        means.sort_by(f64::total_cmp);
        let tail = (1.0 - self.confidence.clamp(0.0, 1.0)) / 2.0;
        Some(Estimate {
            value,
            lo: quantile(&means, tail).min(value),
            hi: quantile(&means, 1.0 - tail).max(value),
            n,
        })
    }
}

/// A budget that may only be bounded by the data (same meaning as `ttc-policy`'s
/// `MatchedBudget`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bound {
    /// Reached here (interpolated linearly in log2 budget).
    Reached(f64),
    /// Already reached at the curve's smallest budget: this value or less.
    AtOrBelow(f64),
    /// Never reached within the curve: more than its largest budget.
    Beyond(f64),
}

impl Bound {
    pub fn value(self) -> f64 {
        match self {
            Bound::Reached(x) | Bound::AtOrBelow(x) | Bound::Beyond(x) => x,
        }
    }

    pub(crate) fn scale(self, by: f64) -> Self {
        match self {
            Bound::Reached(x) => Bound::Reached(x * by),
            Bound::AtOrBelow(x) => Bound::AtOrBelow(x * by),
            Bound::Beyond(x) => Bound::Beyond(x * by),
        }
    }

    /// `4.0`, `<= 1.0` or `> 8.0` with `digits` decimals.
    pub fn text(self, digits: usize) -> String {
        match self {
            Bound::Reached(x) => format!("{x:.digits$}"),
            Bound::AtOrBelow(x) => format!("<= {x:.digits$}"),
            Bound::Beyond(x) => format!("> {x:.digits$}"),
        }
    }
}

/// The smallest budget at which a curve (points ordered by budget) reaches
/// `accuracy`, interpolating linearly in log2(budget) between the last point below
/// and the first at or above it. None for an empty curve.
pub fn budget_to_reach(curve: &[(usize, f64)], accuracy: f64) -> Option<Bound> {
    let first = *curve.first()?;
    Some(match curve.iter().position(|p| p.1 >= accuracy) {
        None => Bound::Beyond(curve[curve.len() - 1].0 as f64),
        Some(0) => Bound::AtOrBelow(first.0 as f64),
        Some(i) => {
            let (b0, a0) = curve[i - 1];
            let (b1, a1) = curve[i];
            let t = (accuracy - a0) / (a1 - a0);
            let (l0, l1) = ((b0 as f64).log2(), (b1 as f64).log2());
            Bound::Reached((l0 + t * (l1 - l0)).exp2())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_those_of_earlier_releases() {
        // Golden values: a report's intervals must not move between releases.
        assert_eq!(stable_hash("beam-m4@16"), 0x0018_08e2_4a27_1973);
        assert_eq!(
            stable_hash("policy compute-optimal search@4#None"),
            0xed6c_c9f1_84b6_fe5e
        );
        let b = Bootstrap {
            resamples: 200,
            confidence: 0.9,
            seed: 3,
        };
        let e = b
            .mean(&[1.0, 0.0, 0.5, 1.0, 0.0, 0.0, 1.0], "beam-m4@16")
            .unwrap();
        assert_eq!(
            (e.value, e.lo, e.hi),
            (0.5, 0.2821428571428569, 0.7857142857142857)
        );
    }

    fn outcomes(n: usize, correct_every: usize) -> Vec<f64> {
        (0..n)
            .map(|i| if i % correct_every == 0 { 1.0 } else { 0.0 })
            .collect()
    }

    #[test]
    fn interval_contains_the_mean_and_is_seeded() {
        let b = Bootstrap::default();
        let v = outcomes(40, 3); // 14 of 40 correct
        let e = b.mean(&v, "k").unwrap();
        assert!((e.value - 14.0 / 40.0).abs() < 1e-12);
        assert!(e.lo < e.value && e.value < e.hi, "{e:?}");
        assert_eq!(e.n, 40);
        // Same seed and key: the same interval; another seed: another one.
        assert_eq!(b.mean(&v, "k").unwrap(), e);
        // Binary outcomes put the quantiles on a lattice; fractions show the seed.
        let w: Vec<f64> = (0..40).map(|i| f64::from(i * 7 % 11) / 10.0).collect();
        let one = b.mean(&w, "k").unwrap();
        let other = Bootstrap { seed: 1, ..b }.mean(&w, "k").unwrap();
        assert_ne!(other, one);
        assert_eq!(other.value, one.value);
        assert_ne!(b.mean(&w, "another key").unwrap(), one);
        // A binomial proportion's standard error is sqrt(p(1-p)/n) = 0.075; the 95%
        // interval spans about 4 of them.
        let width = e.hi - e.lo;
        assert!((0.2..0.4).contains(&width), "{width}");
    }

    #[test]
    fn more_data_gives_a_narrower_interval() {
        let b = Bootstrap::default();
        let small = b.mean(&outcomes(20, 2), "k").unwrap();
        let large = b.mean(&outcomes(2000, 2), "k").unwrap();
        assert_eq!(small.value, large.value);
        let (ws, wl) = (small.hi - small.lo, large.hi - large.lo);
        assert!(wl < ws / 5.0, "{ws} vs {wl}");
        assert!(large.lo > 0.45 && large.hi < 0.55, "{large:?}");
    }

    #[test]
    fn degenerate_inputs() {
        let b = Bootstrap::default();
        assert_eq!(b.mean(&[], "k"), None);
        assert_eq!(b.mean(&[0.25], "k"), Some(Estimate::exact(0.25, 1)));
        // All equal: no spread.
        let e = b.mean(&[1.0; 10], "k").unwrap();
        assert_eq!((e.lo, e.value, e.hi), (1.0, 1.0, 1.0));
        let none = Bootstrap { resamples: 0, ..b };
        assert_eq!(none.mean(&[0.0, 1.0], "k"), Some(Estimate::exact(0.5, 2)));
    }

    #[test]
    fn quantiles_interpolate() {
        let s = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&s, 0.0), 0.0);
        assert_eq!(quantile(&s, 1.0), 4.0);
        assert!((quantile(&s, 0.375) - 1.5).abs() < 1e-12);
    }

    #[test]
    fn budget_interpolation_in_log2() {
        let c = [(1, 0.1), (4, 0.2), (16, 0.3), (64, 0.4), (256, 0.44)];
        assert!((budget_to_reach(&c, 0.35).unwrap().value() - 32.0).abs() < 1e-9);
        assert_eq!(budget_to_reach(&c, 0.3), Some(Bound::Reached(16.0)));
        assert_eq!(budget_to_reach(&c, 0.05), Some(Bound::AtOrBelow(1.0)));
        assert_eq!(budget_to_reach(&c, 0.5), Some(Bound::Beyond(256.0)));
        assert_eq!(Bound::Beyond(256.0).scale(0.25).text(1), "> 64.0");
        assert_eq!(budget_to_reach(&[], 0.5), None);
    }
}
