//! Choosing the best setting per (difficulty bin, budget), with two-fold cross-validation.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ttc_core::{Error, MethodId, Result};

use crate::efficiency::Curve;
use crate::folds::{Fold, Folds};
use crate::sweep::Sweep;

/// Accuracies closer than this count as equal, so the tie-break decides.
const ACCURACY_TIE: f64 = 1e-12;

/// How to fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FitOptions {
    /// Seed of the question hash that splits the folds.
    pub fold_seed: u64,
}

/// Mean cost of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MeanCost {
    pub generations: f64,
    pub tokens: f64,
    pub flops: f64,
}

/// How one setting did on a set of questions in one (bin, budget) cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingScore {
    pub setting: MethodId,
    /// The budget the setting itself ran with in this cell, when a probe rule split
    /// the cell's budget ([`crate::under_probe`]); `None`: all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_budget: Option<usize>,
    /// Mean over questions of the fraction of seeds that were correct.
    pub accuracy: f64,
    /// Questions it ran on.
    pub questions: usize,
    /// Runs (question x seed).
    pub runs: usize,
    pub mean_cost: MeanCost,
}

/// One direction of the cross-validation: chosen on one fold, scored on the other.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FoldChoice {
    /// The fold the setting was chosen on.
    pub chosen_on: Fold,
    pub setting: MethodId,
    /// Its accuracy on the fold it was chosen on.
    pub fold_accuracy: f64,
    /// Its accuracy on the other fold.
    pub held_out_accuracy: f64,
    /// Questions of the other fold it was scored on.
    pub held_out_questions: usize,
}

/// The fit of one (bin, budget).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub bin: usize,
    pub budget: usize,
    /// Questions with at least one run in this cell.
    pub questions: usize,
    /// Every setting scored on all the cell's questions, best first; the first is the
    /// policy's choice.
    pub candidates: Vec<SettingScore>,
    /// Chosen on A and scored on B, then chosen on B and scored on A (when possible).
    pub folds: Vec<FoldChoice>,
    /// The mean of the two held-out accuracies: the policy's cross-validated accuracy.
    /// None when a fold has no question in this cell, or the setting chosen on one
    /// fold never ran on the other.
    pub held_out_accuracy: Option<f64>,
}

impl Cell {
    /// The setting chosen on all questions.
    pub fn best(&self) -> &SettingScore {
        &self.candidates[0]
    }
}

/// The fitted policy before it is written down: one [`Cell`] per (bin, budget) in
/// the sweep, ordered by bin then budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    pub fold_seed: u64,
    pub records: usize,
    pub questions: usize,
    pub cells: Vec<Cell>,
}

/// Per question, per seed: (correct, generations, tokens, flops). Seeds are kept
/// apart so sums run in one order whatever the order of the records.
type Runs = BTreeMap<u64, (bool, usize, usize, f64)>;

struct SettingRuns<'a> {
    setting: MethodId,
    method_budget: Option<usize>,
    by_question: BTreeMap<&'a str, Runs>,
}

/// Fits the compute-optimal policy (docs/method.md §5) on a sweep.
///
/// For every (bin, budget) the setting with the highest accuracy wins; ties go to the
/// lower mean generations, then mean FLOPs, then mean tokens, then the setting's
/// name ([`MethodId::key`]) in byte order. Accuracy is the mean over questions of the
/// fraction of a question's seeds that were correct. The questions are split into
/// two folds ([`Folds`], stratified by bin, seeded by `options.fold_seed`): the
/// setting chosen on fold A is scored on fold B and the one chosen on B on A, and the
/// mean of the two is the cell's held-out accuracy. The policy itself is chosen on
/// all questions.
pub fn fit(sweep: &Sweep, options: &FitOptions) -> Result<Fit> {
    let records = sweep.records();
    if records.is_empty() {
        return Err(Error::invalid(
            "sweep",
            "it has no records; run the sweep before fitting a policy",
        ));
    }
    let folds = Folds::split(
        records.iter().map(|r| (r.question.as_str(), r.bin)),
        options.fold_seed,
    )?;
    let mut cells: BTreeMap<(usize, usize), BTreeMap<String, SettingRuns<'_>>> = BTreeMap::new();
    for r in records {
        let runs = cells
            .entry((r.bin, r.budget))
            .or_default()
            .entry(r.setting_key())
            .or_insert_with(|| SettingRuns {
                setting: r.method.clone(),
                method_budget: r.method_budget,
                by_question: BTreeMap::new(),
            });
        runs.by_question
            .entry(r.question.as_str())
            .or_default()
            .insert(
                r.seed,
                (
                    r.correct,
                    r.compute.generations,
                    r.compute.tokens,
                    r.compute.flops,
                ),
            );
    }
    let cells = cells
        .into_iter()
        .map(|((bin, budget), settings)| fit_cell(bin, budget, &settings, &folds))
        .collect();
    Ok(Fit {
        fold_seed: options.fold_seed,
        records: records.len(),
        questions: folds.len(),
        cells,
    })
}

fn fit_cell(
    bin: usize,
    budget: usize,
    settings: &BTreeMap<String, SettingRuns<'_>>,
    folds: &Folds,
) -> Cell {
    let all = |_: &str| true;
    let mut candidates: Vec<SettingScore> =
        settings.values().filter_map(|s| score(s, &all)).collect();
    candidates.sort_by(rank);
    let questions = settings
        .values()
        .flat_map(|s| s.by_question.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let mut fold_choices = Vec::new();
    for fold in [Fold::A, Fold::B] {
        let on = |q: &str| folds.fold_of(q) == Some(fold);
        let off = |q: &str| folds.fold_of(q) == Some(fold.other());
        let Some(chosen) = settings.values().filter_map(|s| score(s, &on)).min_by(rank) else {
            continue;
        };
        let runs = &settings[&chosen.setting.key()];
        if let Some(held_out) = score(runs, &off) {
            fold_choices.push(FoldChoice {
                chosen_on: fold,
                setting: chosen.setting,
                fold_accuracy: chosen.accuracy,
                held_out_accuracy: held_out.accuracy,
                held_out_questions: held_out.questions,
            });
        }
    }
    let held_out_accuracy = (fold_choices.len() == 2)
        .then(|| (fold_choices[0].held_out_accuracy + fold_choices[1].held_out_accuracy) / 2.0);
    Cell {
        bin,
        budget,
        questions,
        candidates,
        folds: fold_choices,
        held_out_accuracy,
    }
}

/// Scores one setting on the questions `keep` accepts; None when it ran on none.
fn score(runs: &SettingRuns<'_>, keep: &dyn Fn(&str) -> bool) -> Option<SettingScore> {
    let mut questions = 0usize;
    let mut accuracy_sum = 0.0;
    let mut total = (0usize, 0usize, 0usize, 0.0f64);
    for (q, seeds) in &runs.by_question {
        if !keep(q) {
            continue;
        }
        questions += 1;
        let correct = seeds.values().filter(|s| s.0).count();
        accuracy_sum += correct as f64 / seeds.len() as f64;
        for (_, generations, tokens, flops) in seeds.values() {
            total.0 += 1;
            total.1 += generations;
            total.2 += tokens;
            total.3 += flops;
        }
    }
    (questions > 0).then(|| {
        let n = total.0 as f64;
        SettingScore {
            setting: runs.setting.clone(),
            method_budget: runs.method_budget,
            accuracy: accuracy_sum / questions as f64,
            questions,
            runs: total.0,
            mean_cost: MeanCost {
                generations: total.1 as f64 / n,
                tokens: total.2 as f64 / n,
                flops: total.3 / n,
            },
        }
    })
}

/// Best first: higher accuracy, then lower mean generations, FLOPs, tokens, then name.
fn rank(a: &SettingScore, b: &SettingScore) -> Ordering {
    let accuracy = if (a.accuracy - b.accuracy).abs() <= ACCURACY_TIE {
        Ordering::Equal
    } else {
        b.accuracy.total_cmp(&a.accuracy)
    };
    accuracy
        .then(a.mean_cost.generations.total_cmp(&b.mean_cost.generations))
        .then(a.mean_cost.flops.total_cmp(&b.mean_cost.flops))
        .then(a.mean_cost.tokens.total_cmp(&b.mean_cost.tokens))
        .then_with(|| a.setting.key().cmp(&b.setting.key()))
}

impl Fit {
    /// The cell of (bin, budget), if the sweep had one.
    pub fn cell(&self, bin: usize, budget: usize) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.bin == bin && c.budget == budget)
    }

    /// The policy's accuracy against budget over all bins, each bin weighted by its
    /// questions, using the cross-validated (held-out) accuracy of each cell. Fails
    /// when a cell has none, naming it.
    pub fn held_out_curve(&self) -> Result<Curve> {
        self.curve(|c| {
            c.held_out_accuracy.ok_or_else(|| {
                Error::invalid(
                    format!("cell bin {} budget {}", c.bin, c.budget),
                    "it has no held-out accuracy (a fold has no question there, or the \
                     setting chosen on one fold never ran on the other); sweep more \
                     questions or use the in-sample curve",
                )
            })
        })
    }

    /// The policy's accuracy against budget over all bins, in-sample (chosen and
    /// scored on all questions): an optimistic upper bound on the held-out curve.
    pub fn in_sample_curve(&self) -> Result<Curve> {
        self.curve(|c| Ok(c.best().accuracy))
    }

    fn curve(&self, accuracy: impl Fn(&Cell) -> Result<f64>) -> Result<Curve> {
        let mut per_budget: BTreeMap<usize, (f64, usize)> = BTreeMap::new();
        for c in &self.cells {
            let e = per_budget.entry(c.budget).or_default();
            e.0 += accuracy(c)? * c.questions as f64;
            e.1 += c.questions;
        }
        Curve::new(
            per_budget
                .into_iter()
                .map(|(b, (sum, n))| (b, sum / n as f64))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::{Cost, SweepRecord};

    fn rec(q: &str, bin: usize, method: &str, budget: usize, seed: u64, ok: bool) -> SweepRecord {
        SweepRecord {
            question: q.into(),
            bin,
            method: MethodId::new(method.parse().unwrap()),
            budget,
            method_budget: None,
            seed,
            correct: ok,
            compute: Cost {
                generations: budget,
                tokens: 100 * budget,
                flops: 1e9 * budget as f64,
            },
        }
    }

    #[test]
    fn picks_the_most_accurate_setting_per_cell() {
        let mut records = Vec::new();
        for i in 0..8 {
            let q = format!("q{i}");
            // Bin 1: best-of-N always right, beam right on half.
            records.push(rec(&q, 1, "best-of-n-weighted", 4, 0, true));
            records.push(rec(&q, 1, "beam-m4", 4, 0, i % 2 == 0));
            let q = format!("h{i}");
            // Bin 2: beam right on 3 of 4, best-of-N on 1 of 4.
            records.push(rec(&q, 2, "best-of-n-weighted", 4, 0, i % 4 == 0));
            records.push(rec(&q, 2, "beam-m4", 4, 0, i % 4 != 0));
        }
        let fit = fit(&Sweep::new(records).unwrap(), &FitOptions::default()).unwrap();
        assert_eq!(fit.cells.len(), 2);
        assert_eq!((fit.questions, fit.records), (16, 32));
        let c1 = fit.cell(1, 4).unwrap();
        assert_eq!(c1.best().setting.key(), "best-of-n-weighted");
        assert_eq!(c1.best().accuracy, 1.0);
        assert_eq!(c1.candidates[1].accuracy, 0.5);
        assert_eq!(c1.questions, 8);
        assert_eq!(c1.held_out_accuracy, Some(1.0));
        let c2 = fit.cell(2, 4).unwrap();
        assert_eq!(c2.best().setting.key(), "beam-m4");
        assert_eq!(c2.best().accuracy, 0.75);
        assert_eq!(c2.best().mean_cost.generations, 4.0);
        assert_eq!(c2.folds.len(), 2);
        for f in &c2.folds {
            assert_eq!(f.setting.key(), "beam-m4");
            assert_eq!(f.held_out_questions, 4);
        }
        // Held out, beam scores 3/4 overall; each fold of 4 gets what its questions give.
        let h = c2.held_out_accuracy.unwrap();
        let direct = (c2.folds[0].held_out_accuracy + c2.folds[1].held_out_accuracy) / 2.0;
        assert_eq!(h, direct);
    }

    #[test]
    fn cross_validation_can_pick_differently_per_fold() {
        // Two settings, each perfect on one fold and wrong on the other: chosen on A
        // means wrong on B and vice versa, so the held-out accuracy is 0 while each
        // setting is right on half of all questions. Cross-validated accuracy is thus
        // bounded by the per-fold accuracies, not by the settings' overall ones.
        let qs: Vec<String> = (0..10).map(|i| format!("q{i}")).collect();
        let folds = Folds::split(qs.iter().map(|q| (q.as_str(), 1)), 0).unwrap();
        let mut records = Vec::new();
        for q in &qs {
            let in_a = folds.fold_of(q) == Some(Fold::A);
            records.push(rec(q, 1, "beam-m4", 8, 0, in_a));
            records.push(rec(q, 1, "dvts-m4", 8, 0, !in_a));
        }
        let fit = fit(&Sweep::new(records).unwrap(), &FitOptions { fold_seed: 0 }).unwrap();
        let c = fit.cell(1, 8).unwrap();
        assert_eq!(c.folds[0].setting.key(), "beam-m4");
        assert_eq!(c.folds[0].fold_accuracy, 1.0);
        assert_eq!(c.folds[1].setting.key(), "dvts-m4");
        assert_eq!(c.held_out_accuracy, Some(0.0));
        assert_eq!(c.candidates[0].accuracy, 0.5);
        assert_eq!(c.candidates[1].accuracy, 0.5);
    }

    #[test]
    fn ties_go_to_lower_compute_then_name() {
        let mut records = Vec::new();
        for i in 0..4 {
            let q = format!("q{i}");
            records.push(rec(&q, 1, "lookahead-m4-k1", 4, 0, true));
            records.push(rec(&q, 1, "dvts-m4", 4, 0, true));
            records.push(rec(&q, 1, "beam-m4", 4, 0, true));
        }
        // lookahead costs twice the generations at the same budget.
        for r in records
            .iter_mut()
            .filter(|r| r.method.label().starts_with("lookahead"))
        {
            r.compute.generations = 8;
        }
        let fit = fit(&Sweep::new(records).unwrap(), &FitOptions::default()).unwrap();
        let names: Vec<String> = fit.cells[0]
            .candidates
            .iter()
            .map(|c| c.setting.key())
            .collect();
        assert_eq!(names, vec!["beam-m4", "dvts-m4", "lookahead-m4-k1"]);
    }

    #[test]
    fn seeds_are_averaged_per_question_first() {
        // q0: 4 seeds, 1 right (0.25); q1: 1 seed, right (1.0). Question mean: 0.625.
        let mut records = vec![rec("q1", 1, "majority", 2, 0, true)];
        for seed in 0..4 {
            records.push(rec("q0", 1, "majority", 2, seed, seed == 0));
        }
        let fit = fit(&Sweep::new(records).unwrap(), &FitOptions::default()).unwrap();
        let best = fit.cells[0].best();
        assert_eq!((best.accuracy, best.questions, best.runs), (0.625, 2, 5));
    }

    #[test]
    fn a_lone_question_has_no_held_out_accuracy() {
        let records = vec![rec("q", 3, "majority", 16, 0, true)];
        let fit = fit(&Sweep::new(records).unwrap(), &FitOptions::default()).unwrap();
        assert_eq!(fit.cells[0].held_out_accuracy, None);
        assert!(fit.cells[0].folds.is_empty());
        let err = fit.held_out_curve().unwrap_err();
        assert!(err.to_string().contains("cell bin 3 budget 16"), "{err}");
        assert_eq!(fit.in_sample_curve().unwrap().points(), &[(16, 1.0)]);
    }

    #[test]
    fn curves_weight_bins_by_questions() {
        let mut records = Vec::new();
        for i in 0..6 {
            records.push(rec(&format!("e{i}"), 1, "majority", 4, 0, true));
        }
        for i in 0..2 {
            records.push(rec(&format!("h{i}"), 2, "majority", 4, 0, false));
        }
        let fit = fit(&Sweep::new(records).unwrap(), &FitOptions::default()).unwrap();
        assert_eq!(fit.in_sample_curve().unwrap().points(), &[(4, 0.75)]);
        assert_eq!(fit.held_out_curve().unwrap().points(), &[(4, 0.75)]);
    }

    #[test]
    fn an_empty_sweep_cannot_be_fitted() {
        let err = fit(&Sweep::default(), &FitOptions::default()).unwrap_err();
        assert!(err.to_string().contains("no records"), "{err}");
    }
}
