//! Section 2: the compute-optimal policy against best-of-N, with the efficiency ratio.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::accuracy::method_series;
use super::{
    ACCURACY_AXIS, BUDGET_AXIS, Rendered, bin_title, ci_note, est_text, md, pct, point, sci, slug,
};
use crate::data::Data;
use crate::input::{EfficiencyRow, PolicyCurve, PolicyPoint, ReportInput};
use crate::stats::{Bound, Estimate, budget_to_reach};
use crate::svg::{Figure, Mark, Panel, Series, XScale};

/// Mean total inference FLOPs per run (generator + verifier, each as its records
/// count them) of the method named `method` at `budget`.
pub(super) fn mean_flops(data: &Data, method: &str, budget: usize) -> Option<f64> {
    let m = data.resolve_unique(method)?;
    let cell = data.cells.get(&(m.to_string(), budget))?;
    (cell.runs > 0).then(|| cell.mean_per_run(cell.flops))
}

/// The policy's mean FLOPs per question at `budget`: each bin's chosen setting's
/// mean, weighted by the bin's questions. None when a chosen setting has no records.
pub(super) fn policy_flops(data: &Data, p: &PolicyCurve, budget: usize) -> Option<f64> {
    let pts: Vec<&PolicyPoint> = p.points.iter().filter(|pt| pt.budget == budget).collect();
    let q: usize = pts.iter().map(|pt| pt.questions).sum();
    if q == 0 {
        return None;
    }
    let mut sum = 0.0;
    for pt in pts {
        sum += mean_flops(data, &pt.method, budget)? * pt.questions as f64;
    }
    Some(sum / q as f64)
}

/// The FLOPs a curve of (FLOPs, accuracy) points, ascending in FLOPs, needs to reach
/// `accuracy`: interpolated linearly in log2 FLOPs, as [`budget_to_reach`] does in
/// log2 budget.
pub(super) fn flops_to_reach(curve: &[(f64, f64)], accuracy: f64) -> Option<Bound> {
    let first = *curve.first()?;
    Some(match curve.iter().position(|p| p.1 >= accuracy) {
        None => Bound::Beyond(curve[curve.len() - 1].0),
        Some(0) => Bound::AtOrBelow(first.0),
        Some(i) => {
            let (f0, a0) = curve[i - 1];
            let (f1, a1) = curve[i];
            let t = (accuracy - a0) / (a1 - a0);
            let (l0, l1) = (f0.log2(), f1.log2());
            Bound::Reached((l0 + t * (l1 - l0)).exp2())
        }
    })
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
pub(super) fn policy_curve(
    data: &Data,
    p: &PolicyCurve,
    bin: Option<usize>,
) -> Vec<(usize, Estimate)> {
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

pub(super) fn policy_section(r: &mut Rendered, input: &ReportInput, data: &Data) {
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
         The **FLOPs ratio** is the same in total inference FLOPs per question (generator \
         and verifier, as the records count them; these oracle-bin curves have no probe): \
         the FLOPs `{baseline}` needs, interpolated linearly in log2 FLOPs, over the \
         FLOPs of the settings the policy chose. \
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
            "| budget N | policy accuracy (held-out) | {baseline} at N | {baseline} budget to match | ratio | policy FLOPs | {baseline} FLOPs to match | FLOPs ratio |\n\
             |---:|---|---|---:|---:|---:|---:|---:|"
        );
        // The baseline's accuracy against its mean total inference FLOPs per run.
        let mut base_flops: Vec<(f64, f64)> = base_curve
            .iter()
            .filter_map(|&(b, a)| mean_flops(data, baseline, b).map(|f| (f, a)))
            .filter(|(f, _)| *f > 0.0)
            .collect();
        base_flops.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (budget, e) in &curve {
            let base_at = data
                .accuracy(baseline, *budget, None)
                .map(|b| est_text(&b))
                .unwrap_or_else(|| "-".into());
            let policy_f = policy_flops(data, p, *budget).filter(|f| *f > 0.0);
            let matched_flops = policy_f.and_then(|_| flops_to_reach(&base_flops, e.value));
            let (matched, ratio) = match budget_to_reach(&base_curve, e.value) {
                Some(m) => {
                    let ratio = m.scale(1.0 / *budget as f64);
                    r.efficiency.push(EfficiencyRow {
                        policy: p.name.clone(),
                        budget: *budget,
                        accuracy: e.value,
                        baseline_budget: m,
                        ratio,
                        flops: policy_f,
                        baseline_flops: matched_flops,
                        flops_ratio: policy_f.zip(matched_flops).map(|(f, m)| m.scale(1.0 / f)),
                    });
                    (m.text(1), format!("{}x", ratio.text(2)))
                }
                None => ("-".into(), "-".into()),
            };
            let (policy_f, matched_f, ratio_f) = match (policy_f, matched_flops) {
                (Some(f), Some(m)) => (
                    sci(f),
                    match m {
                        Bound::Reached(x) => sci(x),
                        Bound::AtOrBelow(x) => format!("<= {}", sci(x)),
                        Bound::Beyond(x) => format!("> {}", sci(x)),
                    },
                    format!("{}x", m.scale(1.0 / f).text(2)),
                ),
                (Some(f), None) => (sci(f), "-".into(), "-".into()),
                _ => ("-".into(), "-".into(), "-".into()),
            };
            let _ = writeln!(
                r.markdown,
                "| {budget} | {} | {base_at} | {matched} | {ratio} | {policy_f} | {matched_f} | {ratio_f} |",
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
