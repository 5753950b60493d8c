//! The compute-optimal policy judged against fixed methods (docs/method.md §5): at
//! each budget, the policy's held-out outcome on every question beside those of the
//! best single setting chosen on the same folds and of one named setting (always
//! beam search), in generations and in FLOPs.
//!
//! - **Policy**: a question of fold A gets the setting its (bin, N) cell chose on
//!   fold B, as it ran under the probe rule (the probe's cost included).
//! - **Best fixed setting, in generations**: on fold B, every setting at the largest
//!   budget it was swept at not above N (no probe: a fixed setting needs no
//!   difficulty); the most accurate over all of fold B's questions answers fold A,
//!   and the other way round.
//! - **Best fixed setting, in FLOPs**: the same, but each setting at the largest
//!   budget whose mean FLOPs per question on the choosing fold are within the
//!   policy's mean FLOPs per question at N on that fold (probe included); ties go
//!   to the lower FLOPs before the lower generations.
//! - **Named setting** (e.g. `beam-m4`): at the largest swept budget not above N, or
//!   within the policy's FLOPs; no choice, so no folds.
//!
//! Ties between settings go as in the fit: higher accuracy, then lower mean
//! generations, FLOPs, the setting's key, and the lower budget. A candidate must have
//! run on every question of the fold it is chosen on.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use ttc_core::{MethodId, Result};

use crate::fit::Fit;
use crate::folds::{Fold, Folds};
use crate::sweep::Sweep;

const ACCURACY_TIE: f64 = 1e-12;

/// One question's held-out outcome under one arm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldOut {
    pub question: String,
    pub bin: usize,
    /// The setting that answered it and the budget that setting ran with.
    pub setting: MethodId,
    pub budget: usize,
    /// Fraction of its seeds correct.
    pub correct: f64,
    /// Mean per seed; for the policy, the probe's unreused samples included.
    pub generations: f64,
    pub flops: f64,
}

/// The setting one fold chose (`chosen_on`, `None` for a named setting).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    pub chosen_on: Option<Fold>,
    pub setting: MethodId,
    pub budget: usize,
}

/// A fixed arm: what it picked and each question's outcome.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    pub picks: Vec<Pick>,
    pub outcomes: Vec<HeldOut>,
}

/// Every arm at one total budget N.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    pub budget: usize,
    /// The policy's held-out outcomes (under the probe rule).
    pub policy: Vec<HeldOut>,
    /// The policy's choice per bin on all questions: (bin, setting, budget it ran with).
    pub cells: Vec<(usize, MethodId, usize)>,
    /// The best fixed setting at a budget not above N.
    pub fixed: Option<Arm>,
    /// The best fixed setting within the policy's mean FLOPs per question at N.
    pub fixed_flops: Option<Arm>,
    /// The named setting at a budget not above N, and within the policy's FLOPs.
    pub named: Option<Arm>,
    pub named_flops: Option<Arm>,
}

/// Per (setting key, budget), per question: (correct, generations, flops) per seed.
type Runs<'a> = BTreeMap<(String, usize), BTreeMap<&'a str, Vec<(bool, f64, f64)>>>;

struct Index<'a> {
    runs: Runs<'a>,
    ids: BTreeMap<String, MethodId>,
    budgets: BTreeMap<String, BTreeSet<usize>>,
    bins: BTreeMap<&'a str, usize>,
}

impl<'a> Index<'a> {
    fn new(sweep: &'a Sweep) -> Self {
        let mut index = Index {
            runs: BTreeMap::new(),
            ids: BTreeMap::new(),
            budgets: BTreeMap::new(),
            bins: BTreeMap::new(),
        };
        for r in sweep.records() {
            let key = r.setting_key();
            index
                .runs
                .entry((key.clone(), r.budget))
                .or_default()
                .entry(r.question.as_str())
                .or_default()
                .push((r.correct, r.compute.generations as f64, r.compute.flops));
            index
                .budgets
                .entry(key.clone())
                .or_default()
                .insert(r.budget);
            index.ids.entry(key).or_insert_with(|| r.method.clone());
            index.bins.insert(r.question.as_str(), r.bin);
        }
        index
    }

    /// One question's outcome of (setting, budget), if it ran there.
    fn outcome(&self, key: &str, budget: usize, question: &str) -> Option<HeldOut> {
        let seeds = self.runs.get(&(key.to_string(), budget))?.get(question)?;
        let n = seeds.len() as f64;
        Some(HeldOut {
            question: question.to_string(),
            bin: self.bins.get(question).copied().unwrap_or(0),
            setting: self.ids[key].clone(),
            budget,
            correct: seeds.iter().filter(|s| s.0).count() as f64 / n,
            generations: seeds.iter().map(|s| s.1).sum::<f64>() / n,
            flops: seeds.iter().map(|s| s.2).sum::<f64>() / n,
        })
    }

    /// (accuracy, mean generations, mean FLOPs) of (setting, budget) on `questions`;
    /// None unless it ran on every one of them.
    fn score(&self, key: &str, budget: usize, questions: &[&str]) -> Option<(f64, f64, f64)> {
        if questions.is_empty() {
            return None;
        }
        let mut acc = 0.0;
        let (mut runs, mut gens, mut flops) = (0.0, 0.0, 0.0);
        for q in questions {
            let seeds = self.runs.get(&(key.to_string(), budget))?.get(q)?;
            acc += seeds.iter().filter(|s| s.0).count() as f64 / seeds.len() as f64;
            runs += seeds.len() as f64;
            gens += seeds.iter().map(|s| s.1).sum::<f64>();
            flops += seeds.iter().map(|s| s.2).sum::<f64>();
        }
        Some((acc / questions.len() as f64, gens / runs, flops / runs))
    }

    /// Each setting's budget under a cap: the largest swept budget not above
    /// `max_budget`, or the largest whose mean FLOPs on `questions` are within
    /// `max_flops`.
    fn budget_under(&self, key: &str, cap: Cap, questions: &[&str]) -> Option<usize> {
        let budgets = self.budgets.get(key)?;
        match cap {
            Cap::Budget(n) => budgets.range(..=n).next_back().copied(),
            Cap::Flops(f) => budgets
                .iter()
                .rev()
                .find(|&&b| {
                    self.score(key, b, questions)
                        .is_some_and(|(_, _, flops)| flops <= f * (1.0 + 1e-12))
                })
                .copied(),
        }
    }

    /// The best setting on `questions` under `cap`, ranked as the fit ranks.
    fn best(&self, cap: Cap, questions: &[&str]) -> Option<(String, usize)> {
        let mut best: Option<(String, usize, (f64, f64, f64))> = None;
        for key in self.ids.keys() {
            let Some(b) = self.budget_under(key, cap, questions) else {
                continue;
            };
            let Some(s) = self.score(key, b, questions) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((bk, bb, bs)) => {
                    rank((key, b, s), (bk, *bb, *bs), matches!(cap, Cap::Flops(_)))
                        == Ordering::Less
                }
            };
            if better {
                best = Some((key.clone(), b, s));
            }
        }
        best.map(|(k, b, _)| (k, b))
    }
}

#[derive(Clone, Copy, Debug)]
enum Cap {
    Budget(usize),
    Flops(f64),
}

/// Best first: higher accuracy, then lower generations and FLOPs (FLOPs first when
/// the cap is in FLOPs), key, budget.
fn rank(
    a: (&str, usize, (f64, f64, f64)),
    b: (&str, usize, (f64, f64, f64)),
    flops_first: bool,
) -> Ordering {
    let (sa, sb) = (a.2, b.2);
    let accuracy = if (sa.0 - sb.0).abs() <= ACCURACY_TIE {
        Ordering::Equal
    } else {
        sb.0.total_cmp(&sa.0)
    };
    let (gens, flops) = (sa.1.total_cmp(&sb.1), sa.2.total_cmp(&sb.2));
    let cost = if flops_first {
        flops.then(gens)
    } else {
        gens.then(flops)
    };
    accuracy
        .then(cost)
        .then_with(|| a.0.cmp(b.0))
        .then(a.1.cmp(&b.1))
}

/// Judges a policy fitted on `under` (the sweep under the probe rule, the fit's
/// input) against fixed settings of `plain` (the same runs without a probe), at
/// every budget the fit has. `named` is the setting always run (e.g. `beam-m4`);
/// `fold_seed` must be the fit's.
pub fn judge(
    fit: &Fit,
    under: &Sweep,
    plain: &Sweep,
    named: Option<&MethodId>,
    fold_seed: u64,
) -> Result<Vec<Judged>> {
    let folds = Folds::split(
        under.records().iter().map(|r| (r.question.as_str(), r.bin)),
        fold_seed,
    )?;
    let policy_runs = Index::new(under);
    let fixed_runs = Index::new(plain);
    let fold_questions = |fold: Fold| -> Vec<&str> {
        folds
            .questions(fold)
            .filter(|q| fixed_runs.bins.contains_key(q))
            .collect()
    };
    let questions = [fold_questions(Fold::A), fold_questions(Fold::B)];
    let all: Vec<&str> = questions.concat();
    let budgets: BTreeSet<usize> = fit.cells.iter().map(|c| c.budget).collect();
    let mut out = Vec::new();
    for n in budgets {
        // The policy: each question answered by its cell's choice on the other fold.
        let mut policy = Vec::new();
        for q in folds.questions(Fold::A).chain(folds.questions(Fold::B)) {
            let (Some(fold), Some(&bin)) = (folds.fold_of(q), policy_runs.bins.get(q)) else {
                continue;
            };
            let Some(choice) = fit
                .cell(bin, n)
                .and_then(|c| c.folds.iter().find(|f| f.chosen_on == fold.other()))
            else {
                continue;
            };
            if let Some(o) = policy_runs.outcome(&choice.setting.key(), n, q) {
                policy.push(o);
            }
        }
        policy.sort_by(|a, b| a.question.cmp(&b.question));
        let cells = fit
            .cells
            .iter()
            .filter(|c| c.budget == n)
            .map(|c| {
                let best = c.best();
                (
                    c.bin,
                    best.setting.clone(),
                    best.method_budget.unwrap_or(c.budget),
                )
            })
            .collect();
        let mean_flops = |fold: Option<Fold>| -> Option<f64> {
            let f: Vec<f64> = policy
                .iter()
                .filter(|o| fold.is_none() || folds.fold_of(&o.question) == fold)
                .map(|o| o.flops)
                .collect();
            (!f.is_empty()).then(|| f.iter().sum::<f64>() / f.len() as f64)
        };
        // A fold's fixed setting is held to the policy's FLOPs on the same questions.
        let flops_caps = [mean_flops(Some(Fold::A)), mean_flops(Some(Fold::B))];
        let flops_cap = mean_flops(None);
        let fixed_arm = |caps: [Option<Cap>; 2]| -> Option<Arm> {
            let mut arm = Arm::default();
            for (i, chosen_on) in [Fold::A, Fold::B].into_iter().enumerate() {
                let (key, b) = fixed_runs.best(caps[i]?, &questions[i])?;
                arm.picks.push(Pick {
                    chosen_on: Some(chosen_on),
                    setting: fixed_runs.ids[&key].clone(),
                    budget: b,
                });
                arm.outcomes.extend(
                    questions[1 - i]
                        .iter()
                        .filter_map(|q| fixed_runs.outcome(&key, b, q)),
                );
            }
            arm.outcomes.sort_by(|a, b| a.question.cmp(&b.question));
            Some(arm)
        };
        let named_arm = |cap: Cap| -> Option<Arm> {
            let key = named?.key();
            let b = fixed_runs.budget_under(&key, cap, &all)?;
            let mut outcomes: Vec<HeldOut> = all
                .iter()
                .filter_map(|q| fixed_runs.outcome(&key, b, q))
                .collect();
            outcomes.sort_by(|a, b| a.question.cmp(&b.question));
            Some(Arm {
                picks: vec![Pick {
                    chosen_on: None,
                    setting: fixed_runs.ids[&key].clone(),
                    budget: b,
                }],
                outcomes,
            })
        };
        out.push(Judged {
            budget: n,
            fixed: fixed_arm([Some(Cap::Budget(n)); 2]),
            fixed_flops: fixed_arm(flops_caps.map(|f| f.map(Cap::Flops))),
            named: named_arm(Cap::Budget(n)),
            named_flops: flops_cap.and_then(|f| named_arm(Cap::Flops(f))),
            policy,
            cells,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::{FitOptions, fit};
    use crate::sweep::{Cost, SweepRecord};

    fn rec(q: &str, bin: usize, method: &str, budget: usize, ok: bool, flops: f64) -> SweepRecord {
        SweepRecord {
            question: q.into(),
            bin,
            method: MethodId::new(method.parse().unwrap()),
            budget,
            method_budget: None,
            seed: 0,
            correct: ok,
            compute: Cost {
                generations: budget,
                tokens: 10 * budget,
                flops,
            },
        }
    }

    /// 8 easy questions (bin 1) where majority is right and beam wrong, 8 hard
    /// (bin 2) where beam is right and majority wrong: the policy picks per bin and
    /// gets all 16 right, any fixed setting 8.
    fn world() -> Sweep {
        let mut records = Vec::new();
        for i in 0..8 {
            for n in [4, 16] {
                let e = format!("e{i}");
                records.push(rec(&e, 1, "majority", n, true, 10.0 * n as f64));
                records.push(rec(&e, 1, "beam-m4", n, false, 30.0 * n as f64));
                let h = format!("h{i}");
                records.push(rec(&h, 2, "majority", n, false, 10.0 * n as f64));
                records.push(rec(&h, 2, "beam-m4", n, true, 30.0 * n as f64));
            }
        }
        Sweep::new(records).unwrap()
    }

    #[test]
    fn the_policy_beats_every_fixed_setting_where_bins_differ() {
        let sweep = world();
        let fitted = fit(&sweep, &FitOptions::default()).unwrap();
        let beam = MethodId::new("beam-m4".parse().unwrap());
        let judged = judge(&fitted, &sweep, &sweep, Some(&beam), 0).unwrap();
        assert_eq!(judged.len(), 2);
        for j in &judged {
            assert_eq!(j.policy.len(), 16);
            assert!(j.policy.iter().all(|o| o.correct == 1.0), "{j:?}");
            // Cells: majority on easy, beam on hard.
            let cells: Vec<(usize, String)> =
                j.cells.iter().map(|(b, s, _)| (*b, s.key())).collect();
            assert_eq!(cells, vec![(1, "majority".into()), (2, "beam-m4".into())]);
            // The best fixed setting: both folds tie at 0.5, majority is cheaper.
            let fixed = j.fixed.as_ref().unwrap();
            assert_eq!(fixed.picks.len(), 2);
            assert!(
                fixed
                    .picks
                    .iter()
                    .all(|p| p.setting.key() == "majority" && p.budget == j.budget)
            );
            assert_eq!(fixed.outcomes.len(), 16);
            let acc = fixed.outcomes.iter().map(|o| o.correct).sum::<f64>() / 16.0;
            assert_eq!(acc, 0.5);
            let named = j.named.as_ref().unwrap();
            assert_eq!(named.picks[0].chosen_on, None);
            assert_eq!(
                named.outcomes.iter().filter(|o| o.correct == 1.0).count(),
                8
            );
        }
        // In FLOPs: the policy spends (10 + 30) / 2 x N per question; beam at N = 16
        // costs 480 > 320, so always-beam within the policy's FLOPs at 16 is beam at 4.
        let j16 = &judged[1];
        let cap = j16.policy.iter().map(|o| o.flops).sum::<f64>() / 16.0;
        assert_eq!(cap, 320.0);
        let named = j16.named_flops.as_ref().unwrap();
        assert_eq!(named.picks[0].budget, 4);
        // The best fixed setting within 320: majority at 16 (160) and beam at 4 (120)
        // tie at 0.5 on each fold; the cheaper in FLOPs wins.
        let fixed = j16.fixed_flops.as_ref().unwrap();
        assert!(
            fixed
                .picks
                .iter()
                .all(|p| p.setting.key() == "beam-m4" && p.budget == 4)
        );
        // At N = 4 the policy spends 80: beam (120 at its smallest budget) is out.
        assert!(judged[0].named_flops.is_none());
        let fixed = judged[0].fixed_flops.as_ref().unwrap();
        assert!(
            fixed
                .picks
                .iter()
                .all(|p| p.setting.key() == "majority" && p.budget == 4)
        );
    }

    #[test]
    fn the_flops_cap_is_the_policys_on_the_same_fold() {
        // One setting whose cost differs by question: the policy is that setting, so
        // on each fold it is exactly within the policy's FLOPs there (the mean over
        // all questions would leave out the fold with the dearer questions).
        let records: Vec<SweepRecord> = (0..10)
            .map(|i| {
                rec(
                    &format!("q{i}"),
                    1,
                    "majority",
                    4,
                    true,
                    100.0 * (i + 1) as f64,
                )
            })
            .collect();
        let sweep = Sweep::new(records).unwrap();
        let fitted = fit(&sweep, &FitOptions::default()).unwrap();
        let judged = judge(&fitted, &sweep, &sweep, None, 0).unwrap();
        let fixed = judged[0].fixed_flops.as_ref().unwrap();
        assert_eq!(fixed.picks.len(), 2);
        assert!(fixed.picks.iter().all(|p| p.setting.key() == "majority"));
        assert_eq!(fixed.outcomes.len(), 10);
    }

    #[test]
    fn a_fixed_setting_is_chosen_on_one_fold_and_scored_on_the_other() {
        // One bin; beam right on fold A's questions, majority on fold B's: chosen on
        // A, beam answers B (all wrong), and the other way round.
        let qs: Vec<String> = (0..10).map(|i| format!("q{i}")).collect();
        let folds = Folds::split(qs.iter().map(|q| (q.as_str(), 1)), 0).unwrap();
        let mut records = Vec::new();
        for q in &qs {
            let in_a = folds.fold_of(q) == Some(Fold::A);
            records.push(rec(q, 1, "beam-m4", 4, in_a, 1.0));
            records.push(rec(q, 1, "majority", 4, !in_a, 1.0));
        }
        let sweep = Sweep::new(records).unwrap();
        let fitted = fit(&sweep, &FitOptions::default()).unwrap();
        let judged = judge(&fitted, &sweep, &sweep, None, 0).unwrap();
        let fixed = judged[0].fixed.as_ref().unwrap();
        assert_eq!(fixed.picks[0].setting.key(), "beam-m4");
        assert_eq!(fixed.picks[1].setting.key(), "majority");
        assert!(fixed.outcomes.iter().all(|o| o.correct == 0.0));
        assert!(judged[0].named.is_none());
    }

    #[test]
    fn a_setting_swept_at_fewer_budgets_runs_at_the_largest_below() {
        // greedy at N = 1 only: it is a candidate at N = 4 (at 1), and wins there.
        let mut records = Vec::new();
        for i in 0..6 {
            let q = format!("q{i}");
            records.push(rec(&q, 1, "greedy", 1, true, 1.0));
            records.push(rec(&q, 1, "beam-m4", 4, false, 4.0));
        }
        let sweep = Sweep::new(records).unwrap();
        let fitted = fit(&sweep, &FitOptions::default()).unwrap();
        let judged = judge(&fitted, &sweep, &sweep, None, 0).unwrap();
        let at4 = judged.iter().find(|j| j.budget == 4).unwrap();
        let fixed = at4.fixed.as_ref().unwrap();
        assert!(
            fixed
                .picks
                .iter()
                .all(|p| p.setting.key() == "greedy" && p.budget == 1)
        );
    }
}
