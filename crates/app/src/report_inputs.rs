//! The report's inputs beyond the records: the run's models with their one-time
//! costs, how the difficulty bins read, and the policy under the probe rule judged
//! against fixed settings.

use std::collections::BTreeMap;

use ttc_core::{DifficultyRecord, MethodId, MethodSpec, Selector};
use ttc_difficulty::{Binned, ProbeSettings, agreement, test_retest};
use ttc_policy::{Arm, Cost, Fit, Judged, Sweep, judge};
use ttc_report::{
    AgreementRates, ArmOutcome, ArmPick, BinReading, CellChoice, FixedArm, JudgedBudget,
    PolicyJudgement, Retest, RunModel,
};

use crate::error::Result;
use crate::run_file::{RunFile, VerifierSection, VerifierSource};

/// Every model folder the run file names, by role, with its `training.json`.
pub fn run_models(file: &RunFile) -> Result<Vec<RunModel>> {
    // (role, folder) or (role, built-in verifier's name): a built-in has no folder
    // and was not trained.
    let mut roles: Vec<(&str, std::result::Result<&std::path::Path, String>)> = Vec::new();
    fn verifier(v: &VerifierSection) -> std::result::Result<&std::path::Path, String> {
        match v.source() {
            VerifierSource::Model { dir, .. } => Ok(dir),
            VerifierSource::Builtin(_) => Err(format!("{} (built in)", v.describe())),
        }
    }
    if let Some(g) = &file.generator {
        roles.push(("generator", Ok(&g.model)));
    }
    if let Some(v) = &file.verifier {
        roles.push(("verifier", verifier(v)));
    }
    if let Some(r) = &file.reviser {
        roles.push(("reviser", Ok(&r.model)));
        if let Some(v) = &r.verifier {
            roles.push(("reviser verifier", verifier(v)));
        }
    }
    if let Some(d) = &file.diagnostic {
        roles.push(("diagnostic verifier", verifier(&d.verifier)));
    }
    if let Some(r) = &file.reference {
        roles.push(("reference", Ok(&r.model)));
    }
    roles
        .into_iter()
        .map(|(role, at)| {
            Ok(match at {
                Ok(dir) => RunModel {
                    role: role.into(),
                    model: dir.display().to_string(),
                    training: ttc_model_folder::training_cost(dir)?,
                },
                Err(name) => RunModel {
                    role: role.into(),
                    model: name,
                    training: None,
                },
            })
        })
        .collect()
}

fn rates(a: &ttc_difficulty::Agreement) -> AgreementRates {
    AgreementRates {
        questions: a.questions,
        same_bin: a.same_bin,
        within_one: a.within_one,
        ceiling: a.ceiling,
        chance: a.chance,
    }
}

/// Bin sizes, oracle against predicted, and the oracle bins' test-retest from the
/// two halves of each question's samples (records that keep per-sample outcomes).
pub fn bin_reading(
    difficulty: &[DifficultyRecord],
    oracle: &Binned,
    predicted: &Binned,
    probe_samples: usize,
) -> Result<BinReading> {
    let samples = difficulty.iter().map(|d| d.samples);
    let with_outcomes: Vec<(String, Vec<bool>)> = difficulty
        .iter()
        .filter(|d| d.outcomes.len() == d.samples)
        .map(|d| (d.question.clone(), d.outcomes.clone()))
        .collect();
    let retest = if with_outcomes.len() == difficulty.len() {
        test_retest(&with_outcomes, oracle.bins())?.map(|r| Retest {
            half_samples: r.half_samples,
            rates: rates(&r.agreement),
        })
    } else {
        None
    };
    let agreement = agreement(oracle, predicted)?;
    Ok(BinReading {
        oracle_samples: (
            samples.clone().min().unwrap_or(0),
            samples.max().unwrap_or(0),
        ),
        probe_samples,
        oracle_sizes: oracle.sizes(),
        predicted_sizes: predicted.sizes(),
        agreement: Some(rates(&agreement)),
        retest,
    })
}

/// The setting the policy is judged against besides the best fixed one: `beam-m4`
/// when the sweep has it, else its first beam search without lookahead, else (a
/// sweep of revisions) PRM-weighted best-of-N, the paper's baseline.
pub fn named_setting(sweep: &Sweep) -> Option<MethodId> {
    let methods = || sweep.records().iter().map(|r| &r.method);
    let beams: Vec<&MethodId> = methods()
        .filter(|m| matches!(m.method(), MethodSpec::Beam { lookahead: 0, .. }))
        .collect();
    let weighted = || {
        methods().find(|m| {
            matches!(
                m.method(),
                MethodSpec::BestOfN {
                    selector: Selector::Weighted
                }
            ) && m.verifier().is_none()
        })
    };
    beams
        .iter()
        .find(|m| m.label() == "beam-m4")
        .or(beams.first())
        .copied()
        .or_else(weighted)
        .cloned()
}

fn outcome(o: &ttc_policy::HeldOut) -> ArmOutcome {
    ArmOutcome {
        question: o.question.clone(),
        method: o.setting.key(),
        budget: o.budget,
        correct: o.correct,
        generations: o.generations,
        flops: o.flops,
    }
}

fn arm(a: &Arm) -> FixedArm {
    FixedArm {
        picks: a
            .picks
            .iter()
            .map(|p| ArmPick {
                chosen_on: p.chosen_on.map(|f| f.to_string()),
                method: p.setting.key(),
                budget: p.budget,
            })
            .collect(),
        outcomes: a.outcomes.iter().map(outcome).collect(),
    }
}

fn budget(j: &Judged) -> JudgedBudget {
    JudgedBudget {
        budget: j.budget,
        policy: j.policy.iter().map(outcome).collect(),
        cells: j
            .cells
            .iter()
            .map(|(bin, setting, method_budget)| CellChoice {
                bin: *bin,
                method: setting.key(),
                method_budget: *method_budget,
            })
            .collect(),
        fixed: j.fixed.as_ref().map(arm),
        fixed_flops: j.fixed_flops.as_ref().map(arm),
        named: j.named.as_ref().map(arm),
        named_flops: j.named_flops.as_ref().map(arm),
    }
}

/// The policy fitted on `under` (a sweep on `bins` kind of bins, under the probe
/// rule) judged against the settings of `plain` (the same records without a probe).
pub fn judgement(
    bins: &str,
    fitted: &Fit,
    under: &Sweep,
    plain: &Sweep,
    probe: &ProbeSettings,
    fold_seed: u64,
) -> Result<PolicyJudgement> {
    let named = named_setting(plain);
    let judged = judge(fitted, under, plain, named.as_ref(), fold_seed)?;
    Ok(PolicyJudgement {
        bins: bins.into(),
        probe_samples: probe.samples,
        named: named.map(|m| m.key()),
        budgets: judged.iter().map(budget).collect(),
    })
}

/// Each question's probe cost: its first `probe` difficulty samples' share of what
/// the samples cost.
pub fn probe_costs(difficulty: &[DifficultyRecord], probe: usize) -> BTreeMap<String, Cost> {
    difficulty
        .iter()
        .filter(|d| d.samples > 0)
        .map(|d| {
            let share = probe.min(d.samples) as f64 / d.samples as f64;
            let all = Cost::from(&d.compute);
            (
                d.question.clone(),
                Cost {
                    generations: probe.min(d.samples),
                    tokens: (all.tokens as f64 * share).round() as usize,
                    flops: all.flops * share,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ttc_policy::SweepRecord;

    fn sweep(methods: &[&str]) -> Sweep {
        let records = methods
            .iter()
            .map(|m| SweepRecord {
                question: "q".into(),
                bin: 1,
                method: MethodId::new(m.parse().unwrap()),
                budget: 16,
                method_budget: None,
                seed: 0,
                correct: true,
                compute: Cost {
                    generations: 16,
                    tokens: 0,
                    flops: 0.0,
                },
            })
            .collect();
        Sweep::new(records).unwrap()
    }

    #[test]
    fn the_named_setting_is_beam_search_else_weighted_best_of_n() {
        let named = |m: &[&str]| named_setting(&sweep(m)).map(|id| id.label());
        assert_eq!(
            named(&["majority", "beam-m8", "beam-m4", "best-of-n-weighted"]).as_deref(),
            Some("beam-m4")
        );
        assert_eq!(
            named(&["lookahead-m4-k1", "beam-m8"]).as_deref(),
            Some("beam-m8")
        );
        assert_eq!(
            named(&["majority", "revise-r4-weighted", "best-of-n-weighted"]).as_deref(),
            Some("best-of-n-weighted")
        );
        assert_eq!(named(&["majority", "revise-r4-weighted"]), None);
    }
}
