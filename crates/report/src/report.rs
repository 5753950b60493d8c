//! Building `report.md` and its figures from the indexed data.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use ttc_core::{Family, Transitions};

use crate::data::{Cell, Data, natural_cmp, revision_split};
use crate::input::{EfficiencyRow, MethodAccuracy, PolicyCurve, PolicyPoint, ReportInput};
use crate::stats::{Estimate, budget_to_reach};
use crate::svg::{Figure, Mark, Panel, Point, Series, XScale, heatmap, pow2_label};

pub(crate) const BUDGET_AXIS: &str = "budget N (generations per question, log2)";
pub(crate) const ACCURACY_AXIS: &str = "accuracy (fraction correct)";
const FLOPS_AXIS: &str = "mean FLOPs per question (log10)";
const RATIO_AXIS: &str = "sequential ratio (length / chains, log2)";

/// The rendered report: markdown, figures by file name, and what it computed.
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    pub(crate) markdown: String,
    pub(crate) figures: Vec<(String, String)>,
    pub(crate) skipped: Vec<String>,
    pub(crate) accuracy: Vec<MethodAccuracy>,
    pub(crate) efficiency: Vec<EfficiencyRow>,
}

fn pct(x: f64) -> String {
    format!("{:.1}", 100.0 * x)
}

/// `41.2% [36.0, 46.5]`.
fn est_text(e: &Estimate) -> String {
    if e.lo == e.hi {
        format!("{}%", pct(e.value))
    } else {
        format!("{}% [{}, {}]", pct(e.value), pct(e.lo), pct(e.hi))
    }
}

/// Text for a Markdown table cell: `|` escaped.
fn md(s: &str) -> String {
    s.replace('|', "\\|")
}

fn sci(x: f64) -> String {
    format!("{x:.3e}")
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

fn point(x: f64, e: &Estimate) -> Point {
    Point {
        x,
        y: e.value,
        ci: (e.lo != e.hi).then_some((e.lo, e.hi)),
    }
}

/// The figures' line on their error bars.
fn ci_note(data: &Data) -> String {
    format!(
        "error bars: {}% bootstrap intervals over questions ({} resamples)",
        100.0 * data.boot.confidence,
        data.boot.resamples
    )
}

fn bin_title(bin: usize, count: usize) -> String {
    if bin == 1 {
        format!("bin {bin} (easiest)")
    } else if bin == count {
        format!("bin {bin} (hardest)")
    } else {
        format!("bin {bin}")
    }
}

impl Rendered {
    fn skip(&mut self, section: &str, why: &str) {
        let _ = writeln!(self.markdown, "*Skipped: {why}*\n");
        self.skipped.push(format!("{section}: {why}"));
    }

    fn figure(&mut self, name: &str, alt: &str, svg: String) {
        debug_assert!(!self.figures.iter().any(|(n, _)| n == name), "{name} twice");
        let _ = writeln!(self.markdown, "![{alt}]({name})\n");
        self.figures.push((name.to_string(), svg));
    }
}

pub(crate) fn render(input: &ReportInput, data: &Data) -> Rendered {
    let mut r = Rendered::default();
    header(&mut r, input, data);
    summary_table(&mut r, data);
    paired_section(&mut r, data);
    accuracy_section(&mut r, data);
    policy_section(&mut r, input, data);
    revision_section(&mut r, input, data);
    flops_section(&mut r, input, data);
    difficulty_section(&mut r, input, data);
    diagnostic_section(&mut r, data);
    if !r.skipped.is_empty() {
        r.markdown.push_str("## Skipped sections\n\n");
        for s in r.skipped.clone() {
            let _ = writeln!(r.markdown, "- {s}");
        }
        r.markdown.push('\n');
    }
    r
}

fn header(r: &mut Rendered, input: &ReportInput, data: &Data) {
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

fn summary_table(r: &mut Rendered, data: &Data) {
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

/// Ends a table header with one column per difficulty bin: the bins' titles, then
/// the separator row (`rule` for the columns before them, `---|` per bin).
fn bin_columns(markdown: &mut String, bins: usize, rule: &str) {
    for b in 1..=bins {
        let _ = write!(markdown, " bin {b} |");
    }
    let _ = write!(markdown, "\n{rule}");
    for _ in 1..=bins {
        markdown.push_str("---|");
    }
    markdown.push('\n');
}

/// Method pairs whose difference the paper states as a finding: PRM-weighted
/// best-of-N against majority voting, each search method against weighted best-of-N,
/// and each diagnostic method against the same method with the run's verifier.
fn finding_pairs(data: &Data) -> Vec<(String, String)> {
    // Records name a method by its label, then its params in braces; a pair compares
    // methods with the same params (e.g. the same temperature).
    let split = |m: &str| -> (String, String) {
        match m.split_once('{') {
            Some((label, params)) => (label.to_string(), format!("{{{params}")),
            None => (m.to_string(), String::new()),
        }
    };
    let find = |label: &str, params: &str| {
        data.methods
            .iter()
            .map(|(m, _)| m)
            .find(|m| split(m) == (label.to_string(), params.to_string()))
            .cloned()
    };
    let mut pairs = Vec::new();
    for (m, family) in &data.methods {
        let (label, params) = split(m);
        if label == "best-of-n-weighted"
            && let Some(b) = find("majority", &params)
        {
            pairs.push((m.clone(), b));
        }
        if family == "search"
            && let Some(b) = find("best-of-n-weighted", &params)
        {
            pairs.push((m.clone(), b));
        }
    }
    let has = |m: &str| data.methods.iter().any(|(x, _)| x == m);
    for (diag, base, _) in diagnostic_pairs(data) {
        if has(&base) {
            pairs.push((diag.to_string(), base));
        }
    }
    pairs
}

/// The paired difference `a - b` at `budget` over the questions both answered (in
/// oracle `bin` when given), with a bootstrap interval over those questions.
fn paired_difference(
    data: &Data,
    a: &str,
    b: &str,
    budget: usize,
    bin: Option<usize>,
) -> Option<Estimate> {
    let ca = data.cells.get(&(a.to_string(), budget))?;
    let cb = data.cells.get(&(b.to_string(), budget))?;
    let key = match bin {
        Some(k) => format!("{a}-{b}@{budget}#bin{k}"),
        None => format!("{a}-{b}@{budget}"),
    };
    data.cached(&key, || {
        ca.by_question
            .iter()
            .filter(|(q, _)| bin.is_none() || data.bins.oracle.get(q.as_str()) == bin.as_ref())
            .filter_map(|(q, (c, n))| {
                let (cb, nb) = cb.by_question.get(q)?;
                Some(*c as f64 / *n as f64 - *cb as f64 / *nb as f64)
            })
            .collect()
    })
}

/// `+5.0 [+1.2, +8.8]` in points, `-` when there is nothing to compare.
fn difference_text(e: Option<Estimate>) -> String {
    match e {
        None => "-".into(),
        Some(e) if e.lo == e.hi => format!("{:+.1}", 100.0 * e.value),
        Some(e) => format!(
            "{:+.1} [{:+.1}, {:+.1}]",
            100.0 * e.value,
            100.0 * e.lo,
            100.0 * e.hi
        ),
    }
}

/// The paper's comparisons as paired differences on the same questions, overall and
/// per oracle difficulty bin: whether a method beats another is read here, not
/// from two overlapping intervals in the summary table.
fn paired_section(r: &mut Rendered, data: &Data) {
    let pairs = finding_pairs(data);
    if pairs.is_empty() {
        return;
    }
    let bins = if data.bins.is_empty() {
        0
    } else {
        data.bins.count
    };
    r.markdown.push_str(
        "## Paired comparisons\n\n\
         Accuracy of the first method minus the second, in points, on the same \
         questions and budget, with the bootstrap interval of the mean difference \
         (an interval above 0 means the first method wins on these questions). \
         Columns after the first are oracle difficulty bins (bin 1 easiest).\n\n\
         | comparison | budget N | all questions |",
    );
    bin_columns(&mut r.markdown, bins, "|---|---:|---|");
    for (a, b) in &pairs {
        for budget in data.budgets(a) {
            if !data.cells.contains_key(&(b.clone(), budget)) {
                continue;
            }
            let _ = write!(
                r.markdown,
                "| {} minus {} | {budget} | {} |",
                md(a),
                md(b),
                difference_text(paired_difference(data, a, b, budget, None))
            );
            for bin in 1..=bins {
                let _ = write!(
                    r.markdown,
                    " {} |",
                    difference_text(paired_difference(data, a, b, budget, Some(bin)))
                );
            }
            r.markdown.push('\n');
        }
    }
    r.markdown.push('\n');
}

/// Methods shown in the accuracy figures: all but the revision splits, which have
/// their own section (every split would be its own line).
fn plotted_methods(data: &Data) -> Vec<&str> {
    let non_rev: Vec<&str> = data
        .methods
        .iter()
        .filter(|(_, f)| f != "revisions")
        .map(|(m, _)| m.as_str())
        .collect();
    if non_rev.is_empty() {
        data.methods.iter().map(|(m, _)| m.as_str()).collect()
    } else {
        non_rev
    }
}

fn method_series(data: &Data, method: &str, bin: Option<usize>) -> Series {
    Series {
        name: method.to_string(),
        style: data.style(method),
        mark: Mark::Line,
        points: data
            .curve(method, bin)
            .iter()
            .map(|(b, e)| point(*b as f64, e))
            .collect(),
    }
}

fn accuracy_section(r: &mut Rendered, data: &Data) {
    r.markdown
        .push_str("## 1. Accuracy against budget (paper Fig. 3)\n\n");
    let methods = plotted_methods(data);
    let hidden = data.methods.len() - methods.len();
    if hidden > 0 {
        let _ = writeln!(
            r.markdown,
            "Revision settings ({hidden}) are shown in section 3, not here.\n"
        );
    }
    let all = Panel {
        title: "all questions".into(),
        x_label: BUDGET_AXIS.into(),
        y_label: ACCURACY_AXIS.into(),
        x: XScale::Log2,
        unit_interval: true,
        series: methods
            .iter()
            .map(|m| method_series(data, m, None))
            .collect(),
    };
    let mut fig = Figure::new("Accuracy against budget per method", vec![all], 1);
    fig.note = ci_note(data);
    r.figure(
        "accuracy-by-budget.svg",
        "accuracy against budget per method",
        fig.render(),
    );

    // Against FLOPs: where the generation count hides differences in tokens.
    let flops_panel = Panel {
        title: "all questions".into(),
        x_label: FLOPS_AXIS.into(),
        y_label: ACCURACY_AXIS.into(),
        x: XScale::Log10,
        unit_interval: true,
        series: methods
            .iter()
            .map(|m| Series {
                name: m.to_string(),
                style: data.style(m),
                mark: Mark::Line,
                points: data
                    .curve(m, None)
                    .iter()
                    .filter_map(|(b, e)| {
                        let c = &data.cells[&(m.to_string(), *b)];
                        let fl = c.mean_per_run(c.flops);
                        (fl > 0.0).then(|| point(fl, e))
                    })
                    .collect(),
            })
            .filter(|s| !s.points.is_empty())
            .collect(),
    };
    if flops_panel.series.is_empty() {
        r.skip(
            "accuracy against FLOPs",
            "no record counts FLOPs (the generator's parameter count was unknown)",
        );
    } else {
        let mut fig = Figure::new(
            "Accuracy against inference FLOPs per method",
            vec![flops_panel],
            1,
        );
        fig.note = ci_note(data);
        r.figure(
            "accuracy-by-flops.svg",
            "accuracy against mean FLOPs per question",
            fig.render(),
        );
    }

    r.markdown
        .push_str("### Per difficulty bin (oracle bins)\n\n");
    if data.bins.is_empty() {
        r.skip(
            "accuracy per difficulty bin",
            "no difficulty bins were given (difficulty.jsonl missing or empty)",
        );
        return;
    }
    let unbinned = data
        .questions
        .iter()
        .filter(|q| !data.bins.oracle.contains_key(q.as_str()))
        .count();
    if unbinned > 0 {
        let _ = writeln!(
            r.markdown,
            "{unbinned} evaluated questions have no difficulty bin and are left out of the \
             per-bin figures.\n"
        );
    }
    let panels = (1..=data.bins.count)
        .map(|bin| Panel {
            title: bin_title(bin, data.bins.count),
            x_label: BUDGET_AXIS.into(),
            y_label: ACCURACY_AXIS.into(),
            x: XScale::Log2,
            unit_interval: true,
            series: methods
                .iter()
                .map(|m| method_series(data, m, Some(bin)))
                .filter(|s| !s.points.is_empty())
                .collect(),
        })
        .collect();
    let mut fig = Figure::new(
        "Accuracy against budget per oracle difficulty bin",
        panels,
        3,
    );
    fig.note = ci_note(data);
    r.figure(
        "accuracy-by-bin.svg",
        "accuracy against budget per difficulty bin",
        fig.render(),
    );
    // The best method per (bin, budget).
    let budgets: BTreeSet<usize> = methods.iter().flat_map(|m| data.budgets(m)).collect();
    r.markdown
        .push_str("Best method per bin and budget:\n\n| bin |");
    for b in &budgets {
        let _ = write!(r.markdown, " N = {b} |");
    }
    r.markdown.push_str("\n|---|");
    r.markdown.push_str(&"---|".repeat(budgets.len()));
    r.markdown.push('\n');
    for bin in 1..=data.bins.count {
        let _ = write!(r.markdown, "| {bin} |");
        for b in &budgets {
            let best = methods
                .iter()
                .filter_map(|m| data.accuracy(m, *b, Some(bin)).map(|e| (m, e.value)))
                .fold(None::<(&&str, f64)>, |acc, x| match acc {
                    Some(a) if a.1 >= x.1 => Some(a),
                    _ => Some(x),
                });
            match best {
                Some((m, v)) => {
                    let _ = write!(r.markdown, " {} ({}%) |", md(m), pct(v));
                }
                None => r.markdown.push_str(" - |"),
            }
        }
        r.markdown.push('\n');
    }
    r.markdown.push('\n');
}

/// A policy cell's held-out outcomes, one per (held-out question, fold choice):
/// given, or derived from the fold choices and the policy's folds. With derived
/// outcomes, also the held-out accuracy they give (mean of the folds' means).
fn held_out(data: &Data, p: &PolicyCurve, pt: &PolicyPoint) -> (Vec<f64>, Option<f64>) {
    if !pt.held_out.is_empty() {
        return (pt.held_out.iter().map(|o| o.correct).collect(), None);
    }
    let mut all = Vec::new();
    let mut fold_means = Vec::new();
    for choice in &pt.fold_choices {
        let other = match choice.chosen_on.to_ascii_lowercase().as_str() {
            "a" => "b",
            "b" => "a",
            _ => continue,
        };
        let Some(cell) = data
            .resolve_unique(&choice.method)
            .and_then(|m| data.cells.get(&(m.to_string(), pt.budget)))
        else {
            continue;
        };
        let outcomes: Vec<f64> = p
            .folds
            .iter()
            .filter(|f| f.bin == pt.bin && f.fold.eq_ignore_ascii_case(other))
            .filter_map(|f| cell.by_question.get(&f.question))
            .map(|(c, n)| *c as f64 / *n as f64)
            .collect();
        if !outcomes.is_empty() {
            fold_means.push(outcomes.iter().sum::<f64>() / outcomes.len() as f64);
            all.extend(outcomes);
        }
    }
    let derived =
        (!fold_means.is_empty()).then(|| fold_means.iter().sum::<f64>() / fold_means.len() as f64);
    (all, derived)
}

/// A policy's accuracy at each budget over all bins (question-weighted, as
/// `Fit::held_out_curve`), with an interval when every cell has per-question outcomes.
fn policy_curve(data: &Data, p: &PolicyCurve, bin: Option<usize>) -> Vec<(usize, Estimate)> {
    let mut by_budget: BTreeMap<usize, Vec<&crate::input::PolicyPoint>> = BTreeMap::new();
    for pt in &p.points {
        if bin.is_none() || bin == Some(pt.bin) {
            by_budget.entry(pt.budget).or_default().push(pt);
        }
    }
    by_budget
        .into_iter()
        .filter_map(|(budget, pts)| {
            let q: usize = pts.iter().map(|p| p.questions).sum();
            if q == 0 {
                return None;
            }
            let value = pts
                .iter()
                .map(|p| p.held_out_accuracy * p.questions as f64)
                .sum::<f64>()
                / q as f64;
            let per_point: Vec<Vec<f64>> = pts.iter().map(|pt| held_out(data, p, pt).0).collect();
            let with_all = per_point.iter().all(|o| !o.is_empty());
            let outcomes = || per_point.concat();
            let key = format!("policy {}@{budget}#{bin:?}", p.name);
            let est = match data.cached(&key, outcomes) {
                Some(e) if with_all => {
                    // Centre the pooled interval on the fitted point.
                    let shift = value - e.value;
                    Estimate {
                        value,
                        lo: (e.lo + shift).clamp(0.0, value),
                        hi: (e.hi + shift).clamp(value, 1.0),
                        n: q,
                    }
                }
                _ => Estimate::exact(value, q),
            };
            Some((budget, est))
        })
        .collect()
}

fn figure_number(family: &str) -> &'static str {
    match family {
        "search" => "paper Fig. 4",
        "revisions" => "paper Fig. 8",
        _ => "paper Fig. 4 and 8",
    }
}

fn policy_section(r: &mut Rendered, input: &ReportInput, data: &Data) {
    r.markdown
        .push_str("## 2. Compute-optimal policy against best-of-N (paper Fig. 4 and 8)\n\n");
    let wanted = input.options.baseline_method.as_str();
    if input.policies.is_empty() {
        r.skip(
            "compute-optimal policy",
            "no fitted policy was given (fit one on the sweep with ttc-policy)",
        );
        return;
    }
    let Some(baseline) = data.resolve(wanted) else {
        r.skip(
            "compute-optimal policy",
            &format!("the baseline method `{wanted}` has no records"),
        );
        return;
    };
    let base_curve: Vec<(usize, f64)> = data
        .curve(baseline, None)
        .iter()
        .map(|(b, e)| (*b, e.value))
        .collect();
    let _ = writeln!(
        r.markdown,
        "Held-out accuracy: for every (bin, budget) the setting chosen on one fold of the \
         questions is scored on the other, and the two are averaged (two-fold \
         cross-validation); the curve over all bins weights each bin by its questions. \
         The **ratio** is the budget `{baseline}` needs to reach the policy's accuracy \
         (interpolated linearly in log2 budget) over the policy's budget N: the paper's \
         \"4x less compute\".\n"
    );
    for (pi, p) in input.policies.iter().enumerate() {
        let _ = writeln!(
            r.markdown,
            "### {} ({}, family `{}`)\n",
            p.name,
            figure_number(&p.family),
            p.family
        );
        let curve = policy_curve(data, p, None);
        // Fold choices must name evaluated methods...
        let unknown: BTreeSet<&str> = p
            .points
            .iter()
            .flat_map(|pt| pt.fold_choices.iter().map(move |c| (pt.budget, c)))
            .filter(|(b, c)| {
                data.resolve_unique(&c.method)
                    .is_none_or(|m| !data.cells.contains_key(&(m.to_string(), *b)))
            })
            .map(|(_, c)| c.method.as_str())
            .collect();
        if !unknown.is_empty() {
            let names: Vec<String> = unknown.iter().map(|m| format!("`{m}`")).collect();
            let _ = writeln!(
                r.markdown,
                "Warning: fold choices name settings with no evaluation records at their \
                 budget ({}); those cells have no interval. Settings are named as the \
                 records are: the method label, then params in braces.\n",
                names.join(", ")
            );
        }
        // ...and the outcomes derived from them must reproduce the fit's numbers.
        for pt in &p.points {
            if let (_, Some(derived)) = held_out(data, p, pt)
                && (derived - pt.held_out_accuracy).abs() > 1e-9
            {
                let _ = writeln!(
                    r.markdown,
                    "Warning: bin {} budget {}: the evaluation records give a held-out \
                     accuracy of {}% for the fold choices, the fit {}%; check that the \
                     fold choices name methods as the records do.\n",
                    pt.bin,
                    pt.budget,
                    pct(derived),
                    pct(pt.held_out_accuracy)
                );
            }
        }
        if curve.is_empty() {
            r.skip(&p.name, "the policy has no cell with questions");
            continue;
        }
        // Black for the policy, unless the baseline already is.
        let policy_style = if data.style(baseline) % 10 == 6 { 3 } else { 6 };
        let mut panels = Vec::new();
        let bins: BTreeSet<usize> = p.points.iter().map(|pt| pt.bin).collect();
        for bin in std::iter::once(None).chain(bins.iter().map(|b| Some(*b))) {
            let pc = if bin.is_none() {
                curve.clone()
            } else {
                policy_curve(data, p, bin)
            };
            let mut base = method_series(data, baseline, bin);
            base.mark = Mark::DashedLine;
            panels.push(Panel {
                title: match bin {
                    None => "all bins".into(),
                    Some(b) => bin_title(b, data.bins.count.max(bins.len())),
                },
                x_label: BUDGET_AXIS.into(),
                y_label: ACCURACY_AXIS.into(),
                x: XScale::Log2,
                unit_interval: true,
                series: vec![
                    Series {
                        name: format!("{} (held-out)", p.name),
                        style: policy_style,
                        mark: Mark::Line,
                        points: pc.iter().map(|(b, e)| point(*b as f64, e)).collect(),
                    },
                    base,
                ],
            });
        }
        let mut fig = Figure::new(format!("{} against {baseline}", p.name), panels, 3);
        let name = format!("policy-{}.svg", slug(&p.name));
        let name = if r.figures.iter().any(|(n, _)| *n == name) {
            format!("policy-{}-{pi}.svg", slug(&p.name))
        } else {
            name
        };
        fig.note = ci_note(data);
        r.figure(
            &name,
            &format!("{} against {baseline}", p.name),
            fig.render(),
        );

        let _ = writeln!(
            r.markdown,
            "| budget N | policy accuracy (held-out) | {baseline} at N | {baseline} budget to match | ratio |\n\
             |---:|---|---|---:|---:|"
        );
        for (budget, e) in &curve {
            let base_at = data
                .accuracy(baseline, *budget, None)
                .map(|b| est_text(&b))
                .unwrap_or_else(|| "-".into());
            let (matched, ratio) = match budget_to_reach(&base_curve, e.value) {
                Some(m) => {
                    let ratio = m.scale(1.0 / *budget as f64);
                    r.efficiency.push(EfficiencyRow {
                        policy: p.name.clone(),
                        budget: *budget,
                        accuracy: e.value,
                        baseline_budget: m,
                        ratio,
                    });
                    (m.text(1), format!("{}x", ratio.text(2)))
                }
                None => ("-".into(), "-".into()),
            };
            let _ = writeln!(
                r.markdown,
                "| {budget} | {} | {base_at} | {matched} | {ratio} |",
                est_text(e)
            );
        }
        r.markdown.push('\n');
        // What the policy chose.
        let budgets: BTreeSet<usize> = p.points.iter().map(|pt| pt.budget).collect();
        r.markdown
            .push_str("Setting chosen per bin and budget (held-out accuracy):\n\n| bin |");
        for b in &budgets {
            let _ = write!(r.markdown, " N = {b} |");
        }
        r.markdown.push_str("\n|---|");
        r.markdown.push_str(&"---|".repeat(budgets.len()));
        r.markdown.push('\n');
        for bin in &bins {
            let _ = write!(r.markdown, "| {bin} |");
            for b in &budgets {
                match p.points.iter().find(|pt| pt.bin == *bin && pt.budget == *b) {
                    Some(pt) => {
                        let _ = write!(
                            r.markdown,
                            " {} ({}%) |",
                            md(&pt.method),
                            pct(pt.held_out_accuracy)
                        );
                    }
                    None => r.markdown.push_str(" - |"),
                }
            }
            r.markdown.push('\n');
        }
        r.markdown.push('\n');
    }
}

/// A sequential ratio: `1/4`, `1`, `16` for powers of two, else three decimals.
fn ratio_text(ratio: f64) -> String {
    let e = ratio.log2();
    if (e - e.round()).abs() < 1e-9 {
        pow2_label(e.round() as i32)
    } else {
        format!("{ratio:.3}")
    }
}

/// `2x8 (ratio 4)`, or `ratio 2` when the split is not whole.
fn split_text(ratio: f64, split: Option<(usize, usize)>) -> String {
    match split {
        Some((c, l)) => format!("{c}x{l} (ratio {})", ratio_text(ratio)),
        None => format!("ratio {}", ratio_text(ratio)),
    }
}

/// Per budget, each revision setting that ran: (sequential ratio, chains x length,
/// method key), most parallel first.
type SplitsByBudget = BTreeMap<usize, Vec<(f64, Option<(usize, usize)>, String)>>;

fn revision_section(r: &mut Rendered, input: &ReportInput, data: &Data) {
    r.markdown
        .push_str("## 3. Revisions: sequential against parallel (paper Fig. 7)\n\n");
    // variant -> budget -> [(chains, length, method)]
    let mut variants: BTreeMap<String, SplitsByBudget> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for rec in &input.results {
        let key = rec.method.key();
        if rec.method.family() != Family::Revisions || !seen.insert((key.clone(), rec.budget)) {
            continue;
        }
        if let Some(split) = revision_split(&rec.method, rec.budget) {
            variants
                .entry(split.variant)
                .or_default()
                .entry(rec.budget)
                .or_default()
                .push((split.ratio, split.split, key));
        }
    }
    for splits in variants.values_mut().flat_map(|v| v.values_mut()) {
        splits.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.2.cmp(&b.2)));
    }
    if variants.is_empty() {
        r.skip(
            "revisions",
            "no revision records with a sequential ratio or chains x length split \
             (family `revisions`)",
        );
        return;
    }
    let _ = writeln!(
        r.markdown,
        "Budget N = parallel chains x chain length; the sequential ratio is length / \
         chains (N x 1 is fully parallel, 1 x N fully sequential). Per-bin panels use \
         the oracle bins.{}\n",
        if input.policies.iter().any(|p| p.family == "revisions") {
            " The compute-optimal revision policy (Fig. 8) is in section 2."
        } else {
            ""
        }
    );
    for (vi, (variant, by_budget)) in variants.iter().enumerate() {
        let _ = writeln!(r.markdown, "### `{variant}`\n");
        let budgets: Vec<usize> = by_budget.keys().copied().collect();
        let bins: Vec<Option<usize>> = std::iter::once(None)
            .chain((1..=data.bins.count).map(Some))
            .collect();
        let mut panels = Vec::new();
        for bin in &bins {
            let series: Vec<Series> = budgets
                .iter()
                .enumerate()
                .map(|(bi, budget)| Series {
                    name: format!("N = {budget}"),
                    style: bi,
                    mark: Mark::Line,
                    points: by_budget[budget]
                        .iter()
                        .filter_map(|(ratio, _, m)| {
                            data.accuracy(m, *budget, *bin).map(|e| point(*ratio, &e))
                        })
                        .collect(),
                })
                .filter(|s| !s.points.is_empty())
                .collect();
            if series.is_empty() {
                continue;
            }
            panels.push(Panel {
                title: match bin {
                    None => "all questions".into(),
                    Some(b) => bin_title(*b, data.bins.count),
                },
                x_label: RATIO_AXIS.into(),
                y_label: ACCURACY_AXIS.into(),
                x: XScale::Log2,
                unit_interval: true,
                series,
            });
        }
        let mut fig = Figure::new(
            format!("Revisions ({variant}): accuracy against sequential ratio"),
            panels,
            3,
        );
        let name = if vi == 0 {
            "revisions-ratio.svg".to_string()
        } else {
            format!("revisions-ratio-{}.svg", slug(variant))
        };
        fig.note = ci_note(data);
        r.figure(
            &name,
            &format!("accuracy against sequential ratio for {variant}"),
            fig.render(),
        );
        // Best split per (bin, budget).
        r.markdown.push_str(
            "Best split (chains x length, sequential ratio) per bin and budget:\n\n| bin |",
        );
        for b in &budgets {
            let _ = write!(r.markdown, " N = {b} |");
        }
        r.markdown.push_str("\n|---|");
        r.markdown.push_str(&"---|".repeat(budgets.len()));
        r.markdown.push('\n');
        for bin in &bins {
            if bin.is_some() && data.bins.is_empty() {
                continue;
            }
            let label = bin.map_or("all".to_string(), |b| b.to_string());
            let _ = write!(r.markdown, "| {label} |");
            for budget in &budgets {
                let best = by_budget[budget]
                    .iter()
                    .filter_map(|(ratio, split, m)| {
                        data.accuracy(m, *budget, *bin)
                            .map(|e| (*ratio, *split, e.value))
                    })
                    .fold(None::<(f64, Option<(usize, usize)>, f64)>, |acc, x| {
                        match acc {
                            // Ties go to the more sequential setting.
                            Some(a) if a.2 > x.2 || (a.2 == x.2 && a.0 >= x.0) => Some(a),
                            _ => Some(x),
                        }
                    });
                match best {
                    Some((ratio, split, v)) => {
                        let _ = write!(r.markdown, " {}: {}% |", split_text(ratio, split), pct(v));
                    }
                    None => r.markdown.push_str(" - |"),
                }
            }
            r.markdown.push('\n');
        }
        r.markdown.push('\n');
    }
    transitions_table(r, input);
}

/// How often the next revision turns a correct attempt wrong (and back), pooled
/// over every question and seed of a setting (docs/method.md §3: about 38%).
fn transitions_table(r: &mut Rendered, input: &ReportInput) {
    let mut pooled: BTreeMap<(String, usize), Transitions> = BTreeMap::new();
    for rec in &input.results {
        if let Some(t) = &rec.transitions {
            pooled
                .entry((rec.method.key(), rec.budget))
                .or_default()
                .absorb(t);
        }
    }
    if pooled.is_empty() {
        return;
    }
    r.markdown.push_str(
        "### Attempt to attempt\n\nConsecutive attempts of the same chain, graded \
         against the gold answer and pooled over questions: of the correct attempts that \
         were revised, the share whose revision is incorrect (the paper saw about 38%), \
         and of the incorrect ones, the share whose revision is correct.\n\n\
         | method | budget N | attempt pairs | correct -> incorrect | incorrect -> correct |\n\
         |---|---:|---:|---|---|\n",
    );
    let share = |x: Option<f64>, n: usize| match x {
        Some(v) => format!("{}% (of {n})", pct(v)),
        None => "-".to_string(),
    };
    let mut rows: Vec<_> = pooled.into_iter().collect();
    rows.sort_by(|a, b| natural_cmp(&a.0.0, &b.0.0).then(a.0.1.cmp(&b.0.1)));
    for ((method, budget), t) in rows {
        let _ = writeln!(
            r.markdown,
            "| {} | {budget} | {} | {} | {} |",
            md(&method),
            t.total(),
            share(
                t.correct_turned_incorrect(),
                t.correct_to_correct + t.correct_to_incorrect
            ),
            share(
                t.incorrect_turned_correct(),
                t.incorrect_to_correct + t.incorrect_to_incorrect
            ),
        );
    }
    r.markdown.push('\n');
}

fn flops_section(r: &mut Rendered, input: &ReportInput, data: &Data) {
    r.markdown.push_str(
        "## 4. FLOPs-matched: test-time compute against a larger model (paper Fig. 9)\n\n",
    );
    let Some(fm) = &input.flops_matched else {
        r.skip(
            "FLOPs-matched comparison",
            "no FLOPs-matched budgets were given",
        );
        return;
    };
    if input.reference.is_empty() {
        r.skip(
            "FLOPs-matched comparison",
            "no reference model records (reference.jsonl missing or empty)",
        );
        return;
    }
    let Some(policy) = input.policies.iter().find(|p| p.name == fm.policy) else {
        r.skip(
            "FLOPs-matched comparison",
            &format!("the policy `{}` it names was not given", fm.policy),
        );
        return;
    };
    if fm.budgets.is_empty() {
        r.skip(
            "FLOPs-matched comparison",
            "the list of matched budgets is empty",
        );
        return;
    }
    let models: BTreeSet<(&str, u64)> = input
        .reference
        .iter()
        .map(|x| (x.model.as_str(), x.parameters))
        .collect();
    let (model, params) = models.iter().next().copied().unwrap_or(("reference", 0));
    let _ = writeln!(
        r.markdown,
        "The small model with the compute-optimal policy `{}` at the generation budget \
         whose total FLOPs (pretraining + inference) match a model M = {:.2} times larger, \
         for each ratio R = inference tokens / pretraining tokens: k = M + 3 (M - 1) / R \
         (docs/method.md §6). The larger model `{model}` ({} parameters) answers each question \
         once, greedily (pass@1). Bins are oracle bins.\n",
        policy.name,
        fm.model_ratio,
        sci(params as f64),
    );
    if models.len() > 1 {
        let _ = writeln!(
            r.markdown,
            "The reference file holds {} models; all of their records are pooled.\n",
            models.len()
        );
    }
    let bins: Vec<Option<usize>> = (1..=data.bins.count)
        .map(Some)
        .chain(std::iter::once(None))
        .collect();
    let categories: Vec<String> = bins
        .iter()
        .map(|b| b.map_or("all".into(), |b| b.to_string()))
        .collect();
    let reference_at = |bin: Option<usize>| -> Option<Estimate> {
        data.cached(&format!("reference#{bin:?}"), || {
            input
                .reference
                .iter()
                .filter(|x| match bin {
                    None => data.bins.is_empty() || data.bins.oracle.contains_key(&x.question),
                    Some(b) => data.bins.oracle.get(&x.question) == Some(&b),
                })
                .map(|x| f64::from(u8::from(x.correct)))
                .collect()
        })
    };
    let budgets: BTreeSet<usize> = policy.points.iter().map(|p| p.budget).collect();
    // The policy's budget used for a matched budget: the largest fitted one not above it.
    let used = |k: usize| budgets.range(..=k).next_back().copied();
    let mut series = vec![Series {
        name: format!("{model} greedy (pass@1)"),
        style: 6,
        mark: Mark::Bars,
        points: bins
            .iter()
            .enumerate()
            .filter_map(|(i, b)| reference_at(*b).map(|e| point(i as f64, &e)))
            .collect(),
    }];
    let mut rows: Vec<(String, Vec<Option<Estimate>>)> = Vec::new();
    for (k, mb) in fm.budgets.iter().enumerate() {
        let Some(n) = used(mb.budget) else {
            let _ = writeln!(
                r.markdown,
                "R = {}: the matched budget {} is below every budget the policy was fitted \
                 at; left out.\n",
                mb.data_ratio, mb.budget
            );
            continue;
        };
        if n != mb.budget {
            let _ = writeln!(
                r.markdown,
                "R = {}: the policy has no budget {}; its largest fitted budget below, {n}, \
                 is used.\n",
                mb.data_ratio, mb.budget
            );
        }
        let per_bin: Vec<Option<Estimate>> = bins
            .iter()
            .map(|b| {
                policy_curve(data, policy, *b)
                    .into_iter()
                    .find(|(x, _)| *x == n)
                    .map(|(_, e)| e)
            })
            .collect();
        let name = format!("R = {} (k = {:.1}, N = {n})", mb.data_ratio, mb.multiplier);
        series.push(Series {
            name: name.clone(),
            style: k,
            mark: Mark::Bars,
            points: per_bin
                .iter()
                .enumerate()
                .filter_map(|(i, e)| e.as_ref().map(|e| point(i as f64, e)))
                .collect(),
        });
        rows.push((name, per_bin));
    }
    let mut fig = Figure::new(
        "FLOPs-matched: small model + test-time compute against a larger model",
        vec![Panel {
            title: format!("{} against {model} greedy", policy.name),
            x_label: "oracle difficulty bin (1 = easiest)".into(),
            y_label: ACCURACY_AXIS.into(),
            x: XScale::Categories(categories.clone()),
            unit_interval: true,
            series,
        }],
        1,
    );
    fig.panel_width = 160.0 + 110.0 * categories.len() as f64;
    fig.note = ci_note(data);
    r.figure(
        "flops-matched.svg",
        "FLOPs-matched comparison per difficulty bin",
        fig.render(),
    );
    r.markdown.push_str("| bin | reference greedy |");
    for (name, _) in &rows {
        let _ = write!(r.markdown, " {name} |");
    }
    r.markdown.push_str("\n|---|---|");
    r.markdown.push_str(&"---|".repeat(rows.len()));
    r.markdown.push('\n');
    for (i, c) in categories.iter().enumerate() {
        let reference = reference_at(bins[i]);
        let _ = write!(
            r.markdown,
            "| {c} | {} |",
            reference.as_ref().map_or("-".into(), est_text)
        );
        for (_, per_bin) in &rows {
            match (&per_bin[i], &reference) {
                (Some(e), Some(re)) => {
                    let mark = if e.value > re.value {
                        " (small wins)"
                    } else if e.value < re.value {
                        " (large wins)"
                    } else {
                        " (tie)"
                    };
                    let _ = write!(r.markdown, " {}{mark} |", est_text(e));
                }
                (Some(e), None) => {
                    let _ = write!(r.markdown, " {} |", est_text(e));
                }
                (None, _) => r.markdown.push_str(" - |"),
            }
        }
        r.markdown.push('\n');
    }
    r.markdown.push('\n');
}

fn difficulty_section(r: &mut Rendered, input: &ReportInput, data: &Data) {
    r.markdown
        .push_str("## 5. Difficulty: oracle against predicted bins\n\n");
    if data.bins.is_empty() {
        r.skip("difficulty bins", "no difficulty bins were given");
        return;
    }
    let n = data.bins.count;
    // Bin statistics from the difficulty records.
    if !input.difficulty.is_empty() {
        let mut per_bin: BTreeMap<usize, Vec<(f64, Option<f64>)>> = BTreeMap::new();
        let mut probe = ttc_core::Compute::default();
        for d in &input.difficulty {
            probe.absorb(&d.compute);
            let Some(bin) = data.bins.oracle.get(&d.question) else {
                continue;
            };
            let pass = if d.samples == 0 {
                0.0
            } else {
                d.correct as f64 / d.samples as f64
            };
            let score = (!d.scores.is_empty())
                .then(|| d.scores.iter().sum::<f64>() / d.scores.len() as f64);
            per_bin.entry(*bin).or_default().push((pass, score));
        }
        let samples: BTreeSet<usize> = input.difficulty.iter().map(|d| d.samples).collect();
        let samples: Vec<String> = samples.iter().map(|s| s.to_string()).collect();
        let _ = writeln!(
            r.markdown,
            "Oracle bins cut pass@1 (from {} samples per question) into {n} quantile bins, \
             bin 1 easiest; predicted bins cut the mean verifier final-answer score of the \
             probe (each question's first `[difficulty] probe-samples` samples) the same way. The difficulty samples cost {} generations, {} generated tokens and \
             {} FLOPs in all (not part of any method's budget).\n\n\
             | oracle bin | questions | pass@1 min | pass@1 mean | pass@1 max | mean verifier score |\n\
             |---:|---:|---:|---:|---:|---:|",
            samples.join("/"),
            probe.generations,
            probe.generated_tokens,
            sci(probe.total_flops())
        );
        for (bin, v) in &per_bin {
            let passes: Vec<f64> = v.iter().map(|x| x.0).collect();
            let scores: Vec<f64> = v.iter().filter_map(|x| x.1).collect();
            let min = passes.iter().copied().fold(f64::INFINITY, f64::min);
            let max = passes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mean = passes.iter().sum::<f64>() / passes.len() as f64;
            let score = if scores.is_empty() {
                "-".to_string()
            } else {
                format!("{:.3}", scores.iter().sum::<f64>() / scores.len() as f64)
            };
            let _ = writeln!(
                r.markdown,
                "| {bin} | {} | {min:.3} | {mean:.3} | {max:.3} | {score} |",
                v.len()
            );
        }
        r.markdown.push('\n');
    }
    if data.bins.predicted.is_empty() {
        r.skip(
            "oracle against predicted bins",
            "no predicted bins were given (no verifier scores)",
        );
        return;
    }
    let mut confusion = vec![vec![0usize; n]; n];
    let (mut same, mut near, mut total) = (0usize, 0usize, 0usize);
    for (q, o) in &data.bins.oracle {
        if let Some(p) = data.bins.predicted.get(q) {
            confusion[o - 1][p - 1] += 1;
            total += 1;
            same += usize::from(o == p);
            near += usize::from(o.abs_diff(*p) <= 1);
        }
    }
    r.markdown.push_str("| oracle \\ predicted |");
    for p in 1..=n {
        let _ = write!(r.markdown, " {p} |");
    }
    r.markdown.push_str("\n|---|");
    r.markdown.push_str(&"---:|".repeat(n));
    r.markdown.push('\n');
    for (o, row) in confusion.iter().enumerate() {
        let _ = write!(r.markdown, "| {} |", o + 1);
        for c in row {
            let _ = write!(r.markdown, " {c} |");
        }
        r.markdown.push('\n');
    }
    let _ = writeln!(
        r.markdown,
        "\nSame bin: {}%; within one bin: {}% ({total} questions).\n",
        pct(same as f64 / total.max(1) as f64),
        pct(near as f64 / total.max(1) as f64)
    );
    let labels: Vec<String> = (1..=n).map(|b| b.to_string()).collect();
    let svg = heatmap(
        "Oracle against predicted difficulty bins",
        "oracle bin (pass@1; 1 = easiest)",
        "predicted bin (mean verifier score; 1 = easiest)",
        &labels,
        &labels,
        &confusion,
    );
    r.figure(
        "difficulty-agreement.svg",
        "oracle against predicted difficulty bins",
        svg,
    );
}

/// Diagnostic methods (`METHOD@VERIFIER{params}`) paired with the same method run
/// against the run's own verifier: (diagnostic key, base key, verifier name).
fn diagnostic_pairs(data: &Data) -> Vec<(&str, String, &str)> {
    data.diagnostic_pairs()
}

/// Only for runs with diagnostic methods: an optional extra, not a section of the
/// paper, so a run without them gets no "skipped" note either.
fn diagnostic_section(r: &mut Rendered, data: &Data) {
    let pairs = diagnostic_pairs(data);
    if pairs.is_empty() {
        return;
    }
    r.markdown
        .push_str("## 6. Diagnostic: search against a diagnostic verifier\n\n");
    r.markdown.push_str(
        "The same search methods, budgets and seeds, once against the run's verifier and \
         once against the diagnostic verifier of `[diagnostic]` (for the demo world, \
         `demo-step-checker`: each step's arithmetic checked against the question, 1 for \
         a right step and 0 from the first wrong one on; it reads no tokens and costs no \
         FLOPs). It is not deployable and no policy chooses it: it shows what a search \
         method does with a perfect verifier, so a gap between the two columns is the \
         learned verifier's, and a method that does not gain even here is limited by the \
         generator or by the search itself.\n\n\
         | method | verifier | budget N | with the run's verifier [CI] | with the diagnostic verifier [CI] | difference (points) |\n\
         |---|---|---:|---|---|---:|\n",
    );
    for (diag, base, verifier) in &pairs {
        for budget in data.budgets(diag) {
            let Some(d) = data.accuracy(diag, budget, None) else {
                continue;
            };
            let b = data.accuracy(base, budget, None);
            let _ = writeln!(
                r.markdown,
                "| {} | {} | {budget} | {} | {} | {} |",
                md(base),
                md(verifier),
                b.as_ref().map_or("(not run)".into(), est_text),
                est_text(&d),
                b.map_or("".into(), |b| format!(
                    "{:+.1}",
                    100.0 * (d.value - b.value)
                )),
            );
        }
    }
    r.markdown.push('\n');
    let bins = data.bins.count;
    if data.bins.is_empty() || bins == 0 {
        return;
    }
    let _ = write!(
        r.markdown,
        "Per oracle difficulty bin (bin 1 easiest), accuracy with the run's verifier / \
         with the diagnostic verifier:\n\n| method | budget N |"
    );
    bin_columns(&mut r.markdown, bins, "|---|---:|");
    for (diag, base, _) in &pairs {
        for budget in data.budgets(diag) {
            let _ = write!(r.markdown, "| {} | {budget} |", md(diag));
            for bin in 1..=bins {
                let cell = |m: &str| {
                    data.accuracy(m, budget, Some(bin))
                        .map_or("-".to_string(), |e| pct(e.value))
                };
                let _ = write!(r.markdown, " {} / {} |", cell(base), cell(diag));
            }
            r.markdown.push('\n');
        }
    }
    r.markdown.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_texts() {
        assert_eq!(
            slug("Compute-optimal search (M=4)"),
            "compute-optimal-search-m-4"
        );
        assert_eq!(ratio_text(0.25), "1/4");
        assert_eq!(ratio_text(16.0), "16");
        assert_eq!(ratio_text(3.0), "3.000");
        assert_eq!(split_text(4.0, Some((2, 8))), "2x8 (ratio 4)");
        assert_eq!(split_text(2.0, None), "ratio 2");
        assert_eq!(
            est_text(&Estimate {
                value: 0.5,
                lo: 0.4,
                hi: 0.61,
                n: 3
            }),
            "50.0% [40.0, 61.0]"
        );
        assert_eq!(sci(1.5e12), "1.500e12");
        assert_eq!(md("a|b"), "a\\|b");
    }
}
