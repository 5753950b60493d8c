//! What a report is made from: the run's records as read from its output folder,
//! plus the difficulty bins and policy fit the caller computed with
//! `ttc-difficulty` and `ttc-policy` (this crate depends on neither).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use ttc_core::{DifficultyRecord, EvalRecord, ReferenceRecord, TrainingCost};

use crate::stats::{Bootstrap, Bound, Estimate};

/// Everything [`crate::write_report`] needs. Only `results` is required; each
/// section whose inputs are missing is skipped with a note in `report.md`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportInput {
    /// First line of `report.md`.
    pub title: String,
    /// The generator's parameter count (for the FLOPs section and the header).
    pub generator_parameters: Option<u64>,
    /// `results.jsonl`.
    pub results: Vec<EvalRecord>,
    /// `difficulty.jsonl` (pass@1 and verifier scores per question).
    pub difficulty: Vec<DifficultyRecord>,
    /// `reference.jsonl`: the larger model's greedy answers (section 4).
    pub reference: Vec<ReferenceRecord>,
    /// Each question's oracle and predicted difficulty bin (`ttc-difficulty`'s
    /// `oracle_bins` / `predicted_bins`). Per-bin sections use the oracle bin.
    pub bins: Vec<BinAssignment>,
    /// Number of difficulty bins (5 in the paper); 0 means the largest bin seen.
    pub bin_count: usize,
    /// Compute-optimal policies fitted on the sweep (`ttc-policy`'s `fit`), e.g. one
    /// over the search family (Fig. 4) and one over revisions (Fig. 8).
    pub policies: Vec<PolicyCurve>,
    /// The FLOPs-matched comparison's budgets (section 4).
    pub flops_matched: Option<FlopsMatched>,
    pub options: ReportOptions,
    /// What the run left out and why, printed under the header (e.g. a run file
    /// without `[difficulty]`: no difficulty samples, so no bins and no policy).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The model folders the run used, with their one-time costs (`training.json`):
    /// the one-time cost table and the FLOPs-matched comparison's model names.
    #[serde(default)]
    pub models: Vec<RunModel>,
    /// The policy under the probe rule judged against fixed settings
    /// (`ttc-policy`'s `judge`), one per kind of bins (oracle, predicted).
    #[serde(default)]
    pub judged: Vec<PolicyJudgement>,
    /// How the difficulty bins read (`ttc-difficulty`'s `agreement` and
    /// `test_retest`).
    #[serde(default)]
    pub bin_reading: Option<BinReading>,
}

/// A model folder the run used, in one role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunModel {
    /// `generator`, `verifier`, `reviser`, `reviser verifier`, `reference`, ...
    pub role: String,
    /// The folder as the run file names it (or a built-in verifier's name).
    pub model: String,
    /// Its `training.json`; `None`: the folder has none ("not given").
    #[serde(default)]
    pub training: Option<TrainingCost>,
}

/// The compute-optimal policy, fitted under the probe rule on one kind of bins,
/// judged at each budget against the best fixed setting chosen on the same folds
/// and against one named setting (always beam search, or PRM-weighted best-of-N in a
/// sweep without it), from `ttc-policy`'s `judge`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyJudgement {
    /// `oracle` or `predicted`.
    pub bins: String,
    /// The probe's samples, paid from each budget.
    pub probe_samples: usize,
    /// The named setting's key (e.g. `beam-m4`), if the sweep has it.
    #[serde(default)]
    pub named: Option<String>,
    pub budgets: Vec<JudgedBudget>,
}

/// Every arm at one total budget N.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgedBudget {
    pub budget: usize,
    /// The policy's held-out outcome per question (probe included in its cost).
    pub policy: Vec<ArmOutcome>,
    /// The policy's choice per bin (fitted on all questions).
    pub cells: Vec<CellChoice>,
    /// The best fixed setting at a budget not above N.
    #[serde(default)]
    pub fixed: Option<FixedArm>,
    /// The best fixed setting within the policy's mean FLOPs per question.
    #[serde(default)]
    pub fixed_flops: Option<FixedArm>,
    /// The named setting at a budget not above N, and within the policy's FLOPs.
    #[serde(default)]
    pub named: Option<FixedArm>,
    #[serde(default)]
    pub named_flops: Option<FixedArm>,
}

/// A policy cell's choice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellChoice {
    pub bin: usize,
    /// The setting's key.
    pub method: String,
    /// The budget it runs with after the probe.
    pub method_budget: usize,
}

/// A fixed arm: the setting chosen on each fold (or the one named) and the
/// outcomes on the questions it was not chosen on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedArm {
    pub picks: Vec<ArmPick>,
    pub outcomes: Vec<ArmOutcome>,
}

/// One fold's pick.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmPick {
    /// `A` or `B`; `None` for a named setting.
    #[serde(default)]
    pub chosen_on: Option<String>,
    pub method: String,
    pub budget: usize,
}

/// One question's outcome under an arm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmOutcome {
    pub question: String,
    /// The setting's key and the budget it ran with.
    pub method: String,
    pub budget: usize,
    /// Fraction of seeds correct.
    pub correct: f64,
    pub generations: f64,
    pub flops: f64,
}

/// How the difficulty bins read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinReading {
    /// Samples per question the oracle bins come from (smallest, largest).
    pub oracle_samples: (usize, usize),
    /// Probe samples the predicted bins come from.
    pub probe_samples: usize,
    pub oracle_sizes: Vec<usize>,
    /// Empty without predicted bins.
    #[serde(default)]
    pub predicted_sizes: Vec<usize>,
    /// Oracle against predicted, when there are predicted bins.
    #[serde(default)]
    pub agreement: Option<AgreementRates>,
    /// Oracle bins from two disjoint halves of the samples, compared.
    #[serde(default)]
    pub retest: Option<Retest>,
}

/// Agreement rates between two binnings of the same questions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementRates {
    pub questions: usize,
    pub same_bin: f64,
    pub within_one: f64,
    /// What a perfect predictor reaches given the oracle's ties.
    pub ceiling: f64,
    /// What bins of the same sizes reach by chance.
    pub chance: f64,
}

/// The oracle bins' test-retest.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retest {
    /// Samples per half.
    pub half_samples: usize,
    pub rates: AgreementRates,
}

/// How the report computes and labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReportOptions {
    /// Bootstrap over questions for every interval.
    pub bootstrap: Bootstrap,
    /// The method the policies are compared against (and whose budget the
    /// efficiency ratio counts).
    pub baseline_method: String,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            bootstrap: Bootstrap::default(),
            baseline_method: "best-of-n-weighted".into(),
        }
    }
}

/// One question's difficulty bins (1 = easiest).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinAssignment {
    pub question: String,
    /// Bin of the question's pass@1 (ground truth).
    pub oracle_bin: usize,
    /// Bin of its mean verifier score, when predicted bins were computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_bin: Option<usize>,
}

/// A compute-optimal policy's cross-validated accuracy: one point per (bin,
/// budget), as `ttc-policy`'s `Fit::cells` (`Cell::held_out_accuracy`,
/// `Cell::questions`, `Cell::best().setting.key()`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyCurve {
    /// E.g. `compute-optimal search`.
    pub name: String,
    /// The family it chose within (`search`, `revisions`, or anything else for a
    /// policy over several): picks the paper figure it is shown as.
    pub family: String,
    pub points: Vec<PolicyPoint>,
    /// Optional: every swept question's cross-validation fold and bin (`ttc-policy`'s
    /// `Folds::fold_of` over the sweep's `(question, bin)`). With each point's
    /// `fold_choices`, the report derives the held-out outcomes itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folds: Vec<QuestionFold>,
}

/// A question's fold in a policy's cross-validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionFold {
    pub question: String,
    /// `a` or `b` (`ttc-policy`'s `Fold`, any case).
    pub fold: String,
    /// The question's bin in the sweep the policy was fitted on.
    pub bin: usize,
}

/// The setting chosen on one fold (`ttc-policy`'s `FoldChoice`: `chosen_on`,
/// `setting.key()`); it is scored on the other fold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FoldSetting {
    /// `a` or `b`.
    pub chosen_on: String,
    /// The setting's key: the method label, then params in braces, as the
    /// evaluation records name it (`beam-m4`, `beam-m4{temperature=0.8}`).
    pub method: String,
}

/// One (bin, budget) cell of a policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPoint {
    pub bin: usize,
    pub budget: usize,
    /// The setting chosen on all questions (its key, e.g. `beam-m4`).
    pub method: String,
    /// Questions in the cell.
    pub questions: usize,
    /// Mean of the two folds' held-out accuracies.
    pub held_out_accuracy: f64,
    /// Optional: each held-out question's outcome under the setting chosen on the
    /// other fold (fraction of its seeds correct). Given, they bootstrap an
    /// interval around the point; empty, the point has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_out: Vec<QuestionOutcome>,
    /// Optional, instead of `held_out`: the setting chosen on each fold
    /// (`Cell::folds`); with the policy's `folds`, the report scores each on the
    /// other fold's questions from the evaluation records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fold_choices: Vec<FoldSetting>,
}

/// One question's outcome in [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionOutcome {
    pub question: String,
    pub correct: f64,
}

/// The FLOPs-matched comparison (docs/method.md §6): the small model's budget per data
/// ratio R, from `ttc-policy`'s `flops_match(M, R)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlopsMatched {
    /// Name of the [`PolicyCurve`] whose accuracy the small model gets.
    pub policy: String,
    /// M: reference parameters over generator parameters.
    pub model_ratio: f64,
    pub budgets: Vec<MatchedBudget>,
}

/// One data ratio's matched budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchedBudget {
    /// R = inference tokens / pretraining tokens.
    pub data_ratio: f64,
    /// k = M + 3 (M - 1) / R.
    pub multiplier: f64,
    /// The largest whole number of generations within the matched compute,
    /// floor(k) (`ttc-policy`'s `FlopsMatch::budget_within`): the report takes the
    /// largest fitted budget at or below it, never above.
    pub budget: usize,
}

/// What [`crate::write_report`] wrote and computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportSummary {
    /// Every file written, `report.md` first (empty in `report.json`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<PathBuf>,
    /// Sections left out, each with the reason (also in `report.md`).
    pub skipped: Vec<String>,
    pub questions: usize,
    pub methods: usize,
    /// Accuracy per (method, budget), as in the summary table.
    pub accuracy: Vec<MethodAccuracy>,
    /// Per policy and budget: the baseline's budget to match it, over N.
    pub efficiency: Vec<EfficiencyRow>,
    /// The policy under the probe rule against the best fixed setting, per kind of
    /// bins and accounting.
    #[serde(default)]
    pub policy_against_fixed: Vec<JudgementSummary>,
    /// Each model's one-time cost ("not given" without training.json).
    #[serde(default)]
    pub one_time_costs: Vec<OneTimeCost>,
    /// The FLOPs-matched comparison's budgets in both accountings.
    #[serde(default)]
    pub flops_matched: Vec<MatchedRow>,
    /// How the difficulty bins read.
    #[serde(default)]
    pub difficulty: Option<BinReading>,
    /// Per oracle bin and search method: best-of-N against it at each budget.
    #[serde(default)]
    pub best_of_n_against_search: Vec<CatchUp>,
}

/// The policy against fixed settings on one kind of bins, in one accounting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgementSummary {
    /// `oracle` or `predicted`.
    pub bins: String,
    /// `generations` (fixed settings at a budget not above N) or `flops` (within
    /// the policy's mean FLOPs per question).
    pub accounting: String,
    pub rows: Vec<JudgedRow>,
    /// `met`: at least as accurate as the best fixed setting at every budget and
    /// better at one or more (point estimates); `missed` otherwise; `not measured`
    /// without a fixed arm.
    pub verdict: String,
    /// Budgets where the interval of policy minus best fixed lies above 0.
    pub significant_at: Vec<usize>,
    /// The one setting the policy picks in every cell, if it does.
    pub same_everywhere: Option<String>,
}

/// One budget of a [`JudgementSummary`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgedRow {
    pub budget: usize,
    pub policy: Estimate,
    pub policy_generations: f64,
    pub policy_flops: f64,
    pub fixed: Option<ArmSummary>,
    pub named: Option<ArmSummary>,
    /// The baseline's (best-of-N's) budget to reach the policy's accuracy, over N.
    pub ratio: Option<Bound>,
    /// The baseline's FLOPs to reach it, over the policy's FLOPs (probe included).
    pub flops_ratio: Option<Bound>,
}

/// A fixed arm at one budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmSummary {
    /// `method@budget` per pick.
    pub picks: Vec<String>,
    pub accuracy: Estimate,
    pub generations: f64,
    pub flops: f64,
    /// Policy minus this arm on the questions both answered, with its interval.
    pub difference: Estimate,
}

/// One model's one-time cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OneTimeCost {
    pub role: String,
    pub model: String,
    /// `None`: not given.
    pub training: Option<TrainingCost>,
    pub total_flops: Option<f64>,
}

/// One data ratio of the FLOPs-matched comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchedRow {
    pub data_ratio: f64,
    pub multiplier: f64,
    /// Paper's accounting: the policy's budget used (the largest fitted <= floor(k)).
    pub budget: Option<usize>,
    /// How far below the matched compute: 1 - N / k.
    pub below: Option<f64>,
    /// Total accounting: inference FLOPs per question the small system may spend.
    pub allowed_flops: Option<f64>,
    /// The budget whose policy FLOPs per question are within it.
    pub flops_budget: Option<usize>,
    /// The same with the verifier's one-time cost amortised over the inference.
    pub allowed_flops_with_training: Option<f64>,
    pub flops_budget_with_training: Option<usize>,
}

/// Best-of-N against one search method in one oracle bin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatchUp {
    /// `None`: all questions.
    pub bin: Option<usize>,
    pub search: String,
    pub best_of_n: String,
    /// Per budget both ran at: best-of-N minus search, with its interval.
    pub differences: Vec<(usize, Estimate)>,
    /// The first budget from which best-of-N is at least as accurate at every larger
    /// budget (point estimates).
    pub catches_up_at: Option<usize>,
    /// The first budget where its interval lies above 0.
    pub overtakes_at: Option<usize>,
}

/// A method's accuracy at one budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodAccuracy {
    pub method: String,
    pub budget: usize,
    pub accuracy: Estimate,
}

/// One row of an efficiency table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EfficiencyRow {
    pub policy: String,
    pub budget: usize,
    pub accuracy: f64,
    /// The baseline's budget for the same accuracy (interpolated in log2 budget).
    pub baseline_budget: crate::stats::Bound,
    /// baseline_budget / budget: the "4x less compute" figure.
    pub ratio: crate::stats::Bound,
    /// The policy's mean total inference FLOPs per question (generator and
    /// verifier; these oracle-bin curves have no probe).
    #[serde(default)]
    pub flops: Option<f64>,
    /// The baseline's FLOPs for the same accuracy (interpolated in log2 FLOPs).
    #[serde(default)]
    pub baseline_flops: Option<crate::stats::Bound>,
    /// baseline_flops / flops.
    #[serde(default)]
    pub flops_ratio: Option<crate::stats::Bound>,
}
