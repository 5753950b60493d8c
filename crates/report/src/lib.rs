//! Evaluation reports: `report.md` with bootstrap confidence intervals and
//! hand-written SVG figures, one per paper figure the run can reproduce.
//!
//! [`write_report`] takes a [`ReportInput`]: the run's records (`results.jsonl`,
//! `difficulty.jsonl`, `reference.jsonl`, as `ttc-core` types) plus what the caller
//! computed with the sibling crates, passed as plain data because this crate
//! depends on no sibling but `ttc-core`:
//!
//! | input | from | used by |
//! |---|---|---|
//! | `results` ([`ttc_core::EvalRecord`]) | `results.jsonl` | every section; required |
//! | `bins` ([`BinAssignment`]) | `ttc-difficulty`: `oracle_bins`, `predicted_bins` | per-bin figures (1, 3, 4), agreement (5) |
//! | `difficulty` ([`ttc_core::DifficultyRecord`]) | `difficulty.jsonl` | bin statistics (5) |
//! | `policies` ([`PolicyCurve`]) | `ttc-policy`: `fit(..).cells`, `Folds` | policy against best-of-N (2) and FLOPs-matched (4) |
//! | `reference` ([`ttc_core::ReferenceRecord`]) | `reference.jsonl` | FLOPs-matched (4) |
//! | `flops_matched` ([`FlopsMatched`]) | `ttc-policy`: `flops_match(M, R)` | FLOPs-matched (4) |
//!
//! Sections and files (paper figures in parentheses):
//!
//! - `report.json`: the numbers of the summary and efficiency tables
//!   ([`ReportSummary`]), for scripts and diffs;
//! - summary table: accuracy with interval, mean generations, generated tokens,
//!   FLOPs and seconds per (method, budget);
//! - 1: `accuracy-by-budget.svg` (Fig. 3 left), `accuracy-by-flops.svg`,
//!   `accuracy-by-bin.svg` (Fig. 3 right, one panel per oracle bin);
//! - 2: `policy-<name>.svg` per policy (Fig. 4 for search, Fig. 8 for revisions):
//!   held-out accuracy against the baseline (`best-of-n-weighted` by default), all
//!   bins and per bin, with the efficiency ratio table (the baseline's budget to
//!   match the policy, interpolated in log2 budget, over N: "4x less compute");
//! - 3: `revisions-ratio.svg` (Fig. 7): accuracy against the sequential ratio
//!   (length / chains) for each budget, all questions and per bin;
//! - 4: `flops-matched.svg` (Fig. 9): per bin, the larger model's greedy pass@1
//!   against the small model's policy accuracy at each data ratio R's budget;
//! - 5: `difficulty-agreement.svg`: oracle against predicted bins (a heatmap of the
//!   confusion matrix, also in the markdown).
//!
//! A policy from `ttc-policy` (one point per fitted cell; cells without a held-out
//! accuracy left out). The fold choices and folds let the report score each
//! held-out question itself, which gives the policy's points their intervals:
//!
//! ```ignore
//! let folds = Folds::split(sweep.records().iter().map(|r| (r.question.as_str(), r.bin)), seed)?;
//! PolicyCurve {
//!     name: "compute-optimal search".into(),
//!     family: "search".into(),
//!     points: fit.cells.iter().filter_map(|c| Some(PolicyPoint {
//!         bin: c.bin,
//!         budget: c.budget,
//!         method: c.best().setting.key(),
//!         questions: c.questions,
//!         held_out_accuracy: c.held_out_accuracy?,
//!         held_out: vec![],
//!         fold_choices: c.folds.iter().map(|f| FoldSetting {
//!             chosen_on: f.chosen_on.to_string(),
//!             method: f.setting.key(),
//!         }).collect(),
//!     })).collect(),
//!     folds: /* each swept (question, bin) with folds.fold_of(q)?.to_string() */,
//! }
//! ```
//!
//! A section whose inputs are missing is skipped with a note in `report.md` and in
//! [`ReportSummary::skipped`]; only an input without evaluation records is an error.
//!
//! **Intervals**: every accuracy interval is a bootstrap percentile interval over
//! questions ([`Bootstrap`]: 1000 resamples, 95%, seeded; each estimate's stream is
//! derived from the seed and the estimate's name, so it does not depend on the
//! order of computation). A question's value is the fraction of its seeds that were
//! correct. **Axes** name their unit: budgets in generations per question (log2),
//! accuracy as a fraction, FLOPs per question (log10, ticks `1e12`).
//!
//! *Architecture Invariant*: output is a pure function of the input: the same input
//! gives byte-identical files (ordered maps, fixed number formatting, no clock).

mod data;
mod input;
mod sections;
mod stats;
mod svg;

use std::path::{Path, PathBuf};

use ttc_core::{Error, Result};

pub use input::{
    AgreementRates, ArmOutcome, ArmPick, ArmSummary, BinAssignment, BinReading, CatchUp,
    CellChoice, EfficiencyRow, FixedArm, FlopsMatched, FoldSetting, JudgedBudget, JudgedRow,
    JudgementSummary, MatchedBudget, MatchedRow, MethodAccuracy, OneTimeCost, PolicyCurve,
    PolicyJudgement, PolicyPoint, QuestionFold, QuestionOutcome, ReportInput, ReportOptions,
    ReportSummary, Retest, RunModel,
};
pub use stats::{Bootstrap, Bound, Estimate, budget_to_reach};

/// The report's files, without writing them: file name and content, `report.md`
/// first, then `report.json` (the [`ReportSummary`]'s numbers, less the file list),
/// then the figures.
pub fn render_report(input: &ReportInput) -> Result<(Vec<(String, String)>, ReportSummary)> {
    let data = data::Data::new(input)?;
    let rendered = sections::render(input, &data);
    let mut summary = ReportSummary {
        files: Vec::new(),
        skipped: rendered.skipped,
        questions: data.questions.len(),
        methods: data.methods.len(),
        accuracy: rendered.accuracy,
        efficiency: rendered.efficiency,
        policy_against_fixed: rendered.judged,
        one_time_costs: rendered.one_time_costs,
        flops_matched: rendered.flops_matched,
        difficulty: input.bin_reading.clone(),
        best_of_n_against_search: rendered.catch_up,
    };
    let mut json = serde_json::to_string_pretty(&summary)
        .map_err(|e| Error::invalid("report summary", e.to_string()))?;
    json.push('\n');
    let mut files = vec![
        ("report.md".to_string(), rendered.markdown),
        ("report.json".to_string(), json),
    ];
    files.extend(rendered.figures);
    summary.files = files.iter().map(|(n, _)| PathBuf::from(n)).collect();
    Ok((files, summary))
}

/// Writes `report.md` and its SVG figures into `out_dir` (created if missing) and
/// returns what was written (paths under `out_dir`) and computed.
pub fn write_report(out_dir: &Path, input: &ReportInput) -> Result<ReportSummary> {
    let (files, mut summary) = render_report(input)?;
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    summary.files.clear();
    for (name, content) in files {
        let path = out_dir.join(&name);
        std::fs::write(&path, content).map_err(|e| Error::io(&path, e))?;
        summary.files.push(path);
    }
    Ok(summary)
}
