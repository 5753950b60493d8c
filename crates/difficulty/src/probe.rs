//! The inference-time difficulty probe: a few scored samples, their mean score, a bin.

use serde::{Deserialize, Serialize};
use ttc_core::{Compute, Error, Result};

use crate::bins::{BinEdges, Statistic};
use crate::predicted::mean_score;

/// Whether the probe's generations come out of the question's budget N or on top of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeCharge {
    /// The probe and the strategy together spend N generations: the comparison with a
    /// baseline at budget N is at equal compute.
    #[default]
    WithinBudget,
    /// The strategy gets the full N; the probe is extra (reported, not hidden).
    OnTop,
}

/// How difficulty is estimated at inference: `samples` full answers, scored by the
/// verifier, whose mean score is binned with the policy's edges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProbeSettings {
    pub samples: usize,
    #[serde(default)]
    pub charge: ProbeCharge,
}

impl ProbeSettings {
    /// Shares budget N between the probe and the strategy. `reuse` says whether the
    /// strategy can take the probe's samples as some of its own: methods that draw
    /// independent full samples (majority, best-of-N) can; step-level searches
    /// (beam, lookahead, DVTS) and revision chains cannot.
    ///
    /// | charge | reuse | strategy budget | new generations | total |
    /// |---|---|---|---|---|
    /// | within budget | yes | N | N - P | N |
    /// | within budget | no | N - P | N - P | N |
    /// | on top | yes | N | N - min(P, N) | max(N, P) |
    /// | on top | no | N | N | N + P |
    ///
    /// Within the budget, N must exceed P (N = P is enough when the strategy reuses).
    pub fn split_budget(&self, budget: usize, reuse: bool) -> Result<BudgetSplit> {
        let p = self.samples;
        let (strategy_budget, reused) = match (self.charge, reuse) {
            (ProbeCharge::WithinBudget, true) if budget >= p => (budget, p),
            (ProbeCharge::WithinBudget, false) if budget > p => (budget - p, 0),
            (ProbeCharge::WithinBudget, _) => {
                return Err(Error::invalid(
                    "budget",
                    format!(
                        "N = {budget} leaves nothing for the strategy after a probe of {p} \
                         samples charged within the budget; raise N, lower the probe's \
                         `samples`, or charge the probe `on-top`"
                    ),
                ));
            }
            (ProbeCharge::OnTop, true) => (budget, p.min(budget)),
            (ProbeCharge::OnTop, false) => (budget, 0),
        };
        if strategy_budget == 0 {
            return Err(Error::invalid(
                "budget",
                "N = 0; give each question at least one generation",
            ));
        }
        let new = strategy_budget - reused;
        Ok(BudgetSplit {
            budget,
            probe: p,
            strategy_budget,
            reused,
            new,
            total: p + new,
        })
    }
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            samples: 4,
            charge: ProbeCharge::WithinBudget,
        }
    }
}

/// The difficulty probe: settings plus the predicted-difficulty edges it bins with.
///
/// The model-running part (sampling `samples` answers and scoring them) belongs to
/// the caller, which hands the scores and what they cost to [`Probe::assess`], and
/// asks [`Probe::split_budget`] how much budget is left for the chosen strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    settings: ProbeSettings,
    edges: BinEdges,
}

/// What the probe found about one question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeOutcome {
    /// Predicted difficulty bin, 1 = easiest.
    pub bin: usize,
    /// Mean verifier final-answer score of the probe samples.
    pub mean_score: f64,
    /// Samples whose scores were averaged.
    pub scored: usize,
    /// What the probe cost. Add it to the question's account (docs/method.md §7):
    /// difficulty probes count when they run at inference.
    pub compute: Compute,
}

/// How a question's budget N is shared between the probe and the chosen strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetSplit {
    /// The budget N the question was given.
    pub budget: usize,
    /// Generations the probe spent.
    pub probe: usize,
    /// The budget to run the strategy with (and to look up in the policy).
    pub strategy_budget: usize,
    /// Probe samples the strategy takes as its first samples instead of drawing them.
    pub reused: usize,
    /// Generations the strategy still has to sample.
    pub new: usize,
    /// Probe plus new generations: what the question spent in all.
    pub total: usize,
}

impl Probe {
    /// A probe that bins with `edges`, which must be predicted-difficulty edges (mean
    /// verifier score): oracle edges need ground truth and cannot run at inference.
    pub fn new(settings: ProbeSettings, edges: BinEdges) -> Result<Self> {
        if settings.samples == 0 {
            return Err(Error::invalid(
                "difficulty probe",
                "`samples = 0`; the probe needs at least one scored sample",
            ));
        }
        if edges.statistic() != Statistic::MeanVerifierScore {
            return Err(Error::invalid(
                "difficulty probe",
                format!(
                    "its bin edges are over `{}`, which needs ground truth; fit the policy \
                     on `{}` bins to use it at inference",
                    edges.statistic(),
                    Statistic::MeanVerifierScore
                ),
            ));
        }
        Ok(Probe { settings, edges })
    }

    pub fn settings(&self) -> &ProbeSettings {
        &self.settings
    }

    pub fn edges(&self) -> &BinEdges {
        &self.edges
    }

    /// Bins a question from its probe samples' verifier scores. `compute` is what
    /// drawing and scoring them cost; it is returned in the outcome for the caller's
    /// account. The application scores a sample without a parsable answer 0, as the
    /// sweep's difficulty records do, so that a probe bins like the reference set;
    /// fewer scores than `samples` are accepted, more are not.
    pub fn assess(&self, scores: &[f64], compute: Compute) -> Result<ProbeOutcome> {
        if scores.len() > self.settings.samples {
            return Err(Error::invalid(
                "difficulty probe",
                format!(
                    "{} scores for a probe of {} samples; pass the scores of the probe samples only",
                    scores.len(),
                    self.settings.samples
                ),
            ));
        }
        let mean = mean_score(scores)?;
        Ok(ProbeOutcome {
            bin: self.edges.bin(mean)?,
            mean_score: mean,
            scored: scores.len(),
            compute,
        })
    }

    /// Shares budget N between the probe and the strategy: [`ProbeSettings::split_budget`].
    pub fn split_budget(&self, budget: usize, reuse: bool) -> Result<BudgetSplit> {
        self.settings.split_budget(budget, reuse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges() -> BinEdges {
        BinEdges::new(Statistic::MeanVerifierScore, vec![0.8, 0.6, 0.4, 0.2]).unwrap()
    }

    fn probe(samples: usize, charge: ProbeCharge) -> Probe {
        Probe::new(ProbeSettings { samples, charge }, edges()).unwrap()
    }

    #[test]
    fn assess_bins_the_mean_and_passes_the_cost_on() {
        let cost = Compute {
            generations: 4,
            generated_tokens: 400,
            generator_flops: 8.0e9,
            ..Compute::default()
        };
        let out = probe(4, ProbeCharge::WithinBudget)
            .assess(&[0.9, 0.5, 0.6, 0.2], cost.clone())
            .unwrap();
        assert_eq!(out.bin, 3);
        assert!((out.mean_score - 0.55).abs() < 1e-12);
        assert_eq!(out.scored, 4);
        assert_eq!(out.compute, cost);
        let out = probe(4, ProbeCharge::WithinBudget)
            .assess(&[0.95, 0.85], Compute::default())
            .unwrap();
        assert_eq!((out.bin, out.scored), (1, 2));
    }

    #[test]
    fn assess_rejects_too_many_or_no_scores() {
        let p = probe(2, ProbeCharge::WithinBudget);
        let err = p.assess(&[0.1, 0.2, 0.3], Compute::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("3 scores for a probe of 2 samples"),
            "{err}"
        );
        assert!(p.assess(&[], Compute::default()).is_err());
    }

    #[test]
    fn oracle_edges_cannot_probe() {
        let oracle = BinEdges::new(Statistic::PassAt1, vec![0.5]).unwrap();
        let err = Probe::new(ProbeSettings::default(), oracle).unwrap_err();
        assert!(
            err.to_string()
                .contains("over `pass-at-1`, which needs ground truth"),
            "{err}"
        );
        let err = Probe::new(
            ProbeSettings {
                samples: 0,
                charge: ProbeCharge::OnTop,
            },
            edges(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("`samples = 0`"), "{err}");
    }

    #[test]
    fn budget_splits_follow_the_table() {
        let split = |charge, n, reuse| probe(4, charge).split_budget(n, reuse).unwrap();
        let s = split(ProbeCharge::WithinBudget, 16, true);
        assert_eq!(
            (s.strategy_budget, s.reused, s.new, s.total),
            (16, 4, 12, 16)
        );
        let s = split(ProbeCharge::WithinBudget, 16, false);
        assert_eq!(
            (s.strategy_budget, s.reused, s.new, s.total),
            (12, 0, 12, 16)
        );
        let s = split(ProbeCharge::WithinBudget, 4, true);
        assert_eq!((s.strategy_budget, s.reused, s.new, s.total), (4, 4, 0, 4));
        let s = split(ProbeCharge::OnTop, 16, true);
        assert_eq!(
            (s.strategy_budget, s.reused, s.new, s.total),
            (16, 4, 12, 16)
        );
        let s = split(ProbeCharge::OnTop, 2, true);
        assert_eq!((s.strategy_budget, s.reused, s.new, s.total), (2, 2, 0, 4));
        let s = split(ProbeCharge::OnTop, 16, false);
        assert_eq!(
            (s.strategy_budget, s.reused, s.new, s.total),
            (16, 0, 16, 20)
        );
        let err = probe(4, ProbeCharge::WithinBudget)
            .split_budget(4, false)
            .unwrap_err();
        assert!(err.to_string().contains("N = 4 leaves nothing"), "{err}");
        assert!(probe(4, ProbeCharge::OnTop).split_budget(0, false).is_err());
    }

    #[test]
    fn settings_read_from_toml_with_defaults_and_no_unknown_keys() {
        let s: ProbeSettings = toml::from_str("samples = 8").unwrap();
        assert_eq!(
            s,
            ProbeSettings {
                samples: 8,
                charge: ProbeCharge::WithinBudget
            }
        );
        let s: ProbeSettings = toml::from_str("samples = 2\ncharge = \"on-top\"").unwrap();
        assert_eq!(s.charge, ProbeCharge::OnTop);
        let err = toml::from_str::<ProbeSettings>("samples = 2\nreuse = true").unwrap_err();
        assert!(err.to_string().contains("unknown field `reuse`"), "{err}");
    }
}
