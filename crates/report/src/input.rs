//! What a report is made from: the run's records as read from its output folder,
//! plus the difficulty bins and policy fit the caller computed with
//! `ttc-difficulty` and `ttc-policy` (this crate depends on neither).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use ttc_core::{DifficultyRecord, EvalRecord, ReferenceRecord};

use crate::stats::{Bootstrap, Estimate};

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
    /// The generation budget the small model gets (e.g. `budget_power_of_two`).
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
}
