//! The header (what the numbers mean) and the summary table by method and budget.

use std::fmt::Write;

use super::{Rendered, est_text, md, sci};
use crate::data::{Cell, Data};
use crate::input::{MethodAccuracy, ReportInput};

pub(super) fn header(r: &mut Rendered, input: &ReportInput, data: &Data) {
    let title = if input.title.trim().is_empty() {
        "ttc evaluation report"
    } else {
        input.title.trim()
    };
    let runs: usize = data.cells.values().map(|c| c.runs).sum();
    let b = &data.boot;
    let _ = write!(
        r.markdown,
        "# {title}\n\n{runs} evaluation records: {} questions, {} methods",
        data.questions.len(),
        data.methods.len()
    );
    if let Some(p) = input.generator_parameters {
        let _ = write!(r.markdown, ", generator of {} parameters", sci(p as f64));
    }
    let _ = write!(
        r.markdown,
        ".\n\n**Accuracy** is the mean over questions of the fraction of a question's \
         seeds that were correct. **Intervals** are {}% bootstrap percentile intervals \
         from {} resamples of the questions (seed {}).\n\n\
         **Compute** (docs/method.md §7): the budget N counts *generations*, the paper's unit \
         (best-of-N: N samples; beam search and DVTS: N beams; lookahead k: N x (k + 1); \
         revisions: chains x length). Generated tokens are the tokens the generator sampled; \
         verifier tokens are the tokens the reward model read (a candidate continued from \
         its cache is read once; \"re-read\" counts tokens a verifier that could not continue \
         read again); FLOPs = 2 x parameters x tokens processed, per model (the generator or \
         reviser, and the verifier). The difficulty probe (docs/method.md §5) is paid \
         from the budget N: the policy fitted on predicted bins (policy.toml) counts it \
         in every cell, best-of-N settings reuse its samples and the others run on N \
         minus the probe; the compute-optimal curves of section 2 are fitted on oracle \
         bins, which need ground truth, so they have no probe (the paper's analysis). **Seconds** are wall-clock; where \
         one run answers several budgets (best-of-N and majority sample once at the \
         largest), its time is split pro rata to N, as its compute is, and revision \
         settings that differ only in selection rule share one set of chains, whose \
         time goes to the first of them.\n\n",
        100.0 * b.confidence,
        b.resamples,
        b.seed
    );
    for note in &input.notes {
        let _ = write!(r.markdown, "*Note: {note}*\n\n");
    }
}

pub(super) fn summary_table(r: &mut Rendered, data: &Data) {
    r.markdown.push_str(
        "## Summary by method and budget\n\n\
         | method | family | budget N | questions | runs | accuracy [CI] | generations / question | \
         generated tokens / question | verifier tokens / question | generator FLOPs / question | \
         verifier FLOPs / question | seconds / question |\n\
         |---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (method, family) in &data.methods {
        for budget in data.budgets(method) {
            let cell = &data.cells[&(method.clone(), budget)];
            let Some(acc) = data.accuracy(method, budget, None) else {
                continue;
            };
            let _ = writeln!(
                r.markdown,
                "| {} | {} | {budget} | {} | {} | {} | {:.1} | {:.1} | {} | {} | {} | {:.3} |",
                md(method),
                md(family),
                cell.by_question.len(),
                cell.runs,
                est_text(&acc),
                cell.mean_per_run(cell.generations),
                cell.mean_per_run(cell.generated_tokens),
                verifier_tokens_text(cell),
                sci(cell.mean_per_run(cell.generator_flops)),
                sci(cell.mean_per_run(cell.verifier_flops)),
                cell.mean_per_run(cell.seconds),
            );
            r.accuracy.push(MethodAccuracy {
                method: method.clone(),
                budget,
                accuracy: acc,
            });
        }
    }
    r.markdown.push('\n');
}

/// Verifier tokens per question, with the re-read part when there is one (a
/// reward model that could not continue from its cache).
fn verifier_tokens_text(cell: &Cell) -> String {
    let read = cell.mean_per_run(cell.verifier_tokens);
    let reread = cell.mean_per_run(cell.verifier_reread_tokens);
    if reread > 0.0 {
        format!("{read:.1} ({reread:.1} re-read)")
    } else {
        format!("{read:.1}")
    }
}
