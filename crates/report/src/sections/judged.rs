//! The compute-optimal policy under the probe rule judged against the best fixed
//! setting and against always running one named setting (beam search, or PRM-weighted
//! best-of-N in a sweep without it), on oracle
//! and on predicted bins, in generations and in FLOPs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::policy::{flops_to_reach, mean_flops};
use super::{
    ACCURACY_AXIS, BUDGET_AXIS, FLOPS_AXIS, Rendered, ci_note, est_text, md, point, sci, slug,
};
use crate::data::Data;
use crate::input::{
    ArmOutcome, ArmSummary, FixedArm, JudgedBudget, JudgedRow, JudgementSummary, PolicyJudgement,
    ReportInput,
};
use crate::stats::{Estimate, budget_to_reach};
use crate::svg::{Figure, Mark, Panel, Series, XScale};

/// Differences closer to 0 than this count as a tie.
const TIE: f64 = 1e-12;

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// The arm's accuracy and the policy's paired difference against it, keyed for
/// the bootstrap by `name`.
fn arm_summary(
    data: &Data,
    name: &str,
    policy: &[ArmOutcome],
    arm: &FixedArm,
) -> Option<ArmSummary> {
    let accuracy = data.cached(&format!("{name} accuracy"), || {
        arm.outcomes.iter().map(|o| o.correct).collect()
    })?;
    let by_question: BTreeMap<&str, f64> = arm
        .outcomes
        .iter()
        .map(|o| (o.question.as_str(), o.correct))
        .collect();
    let difference = data.cached(&format!("{name} difference"), || {
        policy
            .iter()
            .filter_map(|p| by_question.get(p.question.as_str()).map(|a| p.correct - a))
            .collect()
    })?;
    Some(ArmSummary {
        picks: arm
            .picks
            .iter()
            .map(|p| match &p.chosen_on {
                Some(f) => format!("{}@{} (chosen on {f})", p.method, p.budget),
                None => format!("{}@{}", p.method, p.budget),
            })
            .collect(),
        accuracy,
        generations: mean(arm.outcomes.iter().map(|o| o.generations)),
        flops: mean(arm.outcomes.iter().map(|o| o.flops)),
        difference,
    })
}

/// `+1.0 [-0.5, +2.4]` in points.
fn diff_text(e: &Estimate) -> String {
    if e.lo == e.hi {
        format!("{:+.1}", 100.0 * e.value)
    } else {
        format!(
            "{:+.1} [{:+.1}, {:+.1}]",
            100.0 * e.value,
            100.0 * e.lo,
            100.0 * e.hi
        )
    }
}

fn picks_text(a: &ArmSummary) -> String {
    let unique: BTreeSet<&str> = a
        .picks
        .iter()
        .map(|p| p.split(" (chosen").next().unwrap_or(p))
        .collect();
    if unique.len() == 1 {
        unique.into_iter().next().unwrap_or_default().to_string()
    } else {
        a.picks.join("; ")
    }
}

/// The one setting (key, ignoring budgets) the policy picks in every cell.
fn same_everywhere(j: &PolicyJudgement) -> Option<String> {
    let keys: BTreeSet<&str> = j
        .budgets
        .iter()
        .flat_map(|b| b.cells.iter().map(|c| c.method.as_str()))
        .collect();
    (keys.len() == 1).then(|| keys.into_iter().next().unwrap_or_default().to_string())
}

struct Rows {
    generations: Vec<JudgedRow>,
    flops: Vec<JudgedRow>,
}

fn rows(data: &Data, j: &PolicyJudgement, baseline: Option<&str>) -> Rows {
    let base_curve: Vec<(usize, f64)> = baseline
        .map(|b| {
            data.curve(b, None)
                .iter()
                .map(|(n, e)| (*n, e.value))
                .collect()
        })
        .unwrap_or_default();
    let mut base_flops: Vec<(f64, f64)> = base_curve
        .iter()
        .filter_map(|&(n, a)| {
            baseline
                .and_then(|b| mean_flops(data, b, n))
                .map(|f| (f, a))
        })
        .filter(|(f, _)| *f > 0.0)
        .collect();
    base_flops.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Rows {
        generations: Vec::new(),
        flops: Vec::new(),
    };
    for b in &j.budgets {
        let JudgedBudget {
            budget,
            policy,
            fixed,
            fixed_flops,
            named,
            named_flops,
            ..
        } = b;
        let key = format!("judged {} bins@{budget}", j.bins);
        let Some(acc) = data.cached(&format!("{key} policy"), || {
            policy.iter().map(|o| o.correct).collect()
        }) else {
            continue;
        };
        let gens = mean(policy.iter().map(|o| o.generations));
        let flops = mean(policy.iter().map(|o| o.flops));
        let ratio = budget_to_reach(&base_curve, acc.value).map(|m| m.scale(1.0 / *budget as f64));
        let flops_ratio = (flops > 0.0)
            .then(|| flops_to_reach(&base_flops, acc.value).map(|m| m.scale(1.0 / flops)))
            .flatten();
        let arm = |name: &str, a: &Option<FixedArm>| {
            a.as_ref()
                .and_then(|a| arm_summary(data, &format!("{key} {name}"), policy, a))
        };
        let row = |fixed: Option<ArmSummary>, named: Option<ArmSummary>| JudgedRow {
            budget: *budget,
            policy: acc,
            policy_generations: gens,
            policy_flops: flops,
            fixed,
            named,
            ratio,
            flops_ratio,
        };
        out.generations
            .push(row(arm("fixed", fixed), arm("named", named)));
        out.flops.push(row(
            arm("fixed within flops", fixed_flops),
            arm("named within flops", named_flops),
        ));
    }
    out
}

/// Met, missed or not measured, and the budgets where the interval is above 0.
fn verdict(rows: &[JudgedRow]) -> (String, Vec<usize>) {
    let diffs: Vec<(usize, Option<Estimate>)> = rows
        .iter()
        .map(|r| (r.budget, r.fixed.as_ref().map(|f| f.difference)))
        .collect();
    if diffs.is_empty() || diffs.iter().any(|(_, d)| d.is_none()) {
        return ("not measured".into(), Vec::new());
    }
    // Judged with the intervals: no budget where the policy is shown worse (interval
    // below 0), and one or more where it is shown better (interval above 0). A point
    // estimate above 0 inside the noise is not a win.
    let significant: Vec<usize> = diffs
        .iter()
        .filter(|(_, d)| d.is_some_and(|d| d.lo > 0.0))
        .map(|(b, _)| *b)
        .collect();
    let never_worse = diffs.iter().all(|(_, d)| d.is_some_and(|d| d.hi >= -TIE));
    let met = never_worse && !significant.is_empty();
    (if met { "met" } else { "missed" }.into(), significant)
}

fn verdict_line(s: &JudgementSummary) -> String {
    let diffs: Vec<String> = s
        .rows
        .iter()
        .filter_map(|r| {
            r.fixed
                .as_ref()
                .map(|f| format!("N = {}: {}", r.budget, diff_text(&f.difference)))
        })
        .collect();
    let what = match s.verdict.as_str() {
        "met" => "the policy is at least as accurate as the best fixed setting at every \
                  budget and more accurate at one or more, beyond the intervals"
            .to_string(),
        "missed" => {
            let below: Vec<String> = s
                .rows
                .iter()
                .filter(|r| r.fixed.as_ref().is_some_and(|f| f.difference.hi < -TIE))
                .map(|r| r.budget.to_string())
                .collect();
            if below.is_empty() {
                "the policy is not shown more accurate than the best fixed setting at any \
                 budget (ties within the intervals)"
                    .to_string()
            } else {
                format!(
                    "the policy is less accurate than the best fixed setting at N = {}",
                    below.join(", ")
                )
            }
        }
        _ => "a budget has no fixed setting to compare with".to_string(),
    };
    let significant = if s.significant_at.is_empty() {
        "at no budget does the interval of the difference lie above 0".to_string()
    } else {
        let b: Vec<String> = s.significant_at.iter().map(|b| b.to_string()).collect();
        format!("the interval lies above 0 at N = {}", b.join(", "))
    };
    let mut chars = what.chars();
    let what = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect::<String>(),
        None => what,
    };
    format!(
        "**Target (policy >= best fixed setting at every budget, > at one or more), {} bins, \
         in {}: {}.** {what} (policy minus best fixed, points: {}); {significant}.\n",
        s.bins,
        s.accounting,
        s.verdict.to_uppercase(),
        diffs.join("; ")
    )
}

pub(super) fn judged_section(r: &mut Rendered, input: &ReportInput, data: &Data) {
    r.markdown
        .push_str("## Compute-optimal policy against the best fixed method\n\n");
    if input.judged.is_empty() {
        r.skip(
            "policy against the best fixed method",
            "no policy was judged (it needs difficulty bins and a sweep under the probe rule)",
        );
        return;
    }
    let baseline = data.resolve(&input.options.baseline_method);
    let _ = writeln!(
        r.markdown,
        "The policy as it is deployed: fitted on difficulty bins under the probe rule \
         (docs/method.md §5: the probe is paid from N; best-of-N settings reuse its samples, \
         the others run on what is left), scored held-out (two-fold cross-validation: each \
         question is answered by the setting its bin's cell chose on the other fold). \
         Against it, on the same folds and questions: the **best fixed setting**, one setting \
         for every question, chosen on one fold and scored on the other (no probe: a fixed \
         setting needs no difficulty), and **always** one named setting (beam search, or \
         PRM-weighted best-of-N in a sweep without it). **In generations**: \
         fixed settings at the largest budget each was swept at not above N. **In FLOPs**: \
         fixed settings at the largest budget whose mean total inference FLOPs per question \
         (generator + verifier) are within the policy's (generator + verifier + probe) on \
         the fold they are chosen on. \
         Differences are paired on the same questions, in points, with bootstrap intervals. \
         The ratio is `{}`'s budget (or FLOPs) to reach the policy's accuracy over the \
         policy's.\n",
        baseline.unwrap_or("-")
    );
    for j in &input.judged {
        let named = j.named.as_deref().unwrap_or("-");
        let _ = writeln!(
            r.markdown,
            "### {} bins (a probe of {} sample{} paid from N)\n",
            j.bins,
            j.probe_samples,
            if j.probe_samples == 1 { "" } else { "s" }
        );
        let same = same_everywhere(j);
        if let Some(m) = &same {
            let _ = writeln!(
                r.markdown,
                "The fitted policy picks `{}` in every cell at every budget: it is a fixed \
                 method that also pays for the probe, so there is nothing for difficulty to \
                 choose between here.\n",
                md(m)
            );
        }
        let rows = rows(data, j, baseline);
        let _ = writeln!(
            r.markdown,
            "In generations:\n\n| N | policy (held-out) | generations / question | FLOPs / question | \
             best fixed | best fixed accuracy | policy minus best fixed | always `{named}` | \
             policy minus `{named}` | ratio |\n|---:|---|---:|---:|---|---|---|---|---|---:|"
        );
        for row in &rows.generations {
            let _ = write!(
                r.markdown,
                "| {} | {} | {:.1} | {} |",
                row.budget,
                est_text(&row.policy),
                row.policy_generations,
                sci(row.policy_flops)
            );
            arm_cells(&mut r.markdown, row.fixed.as_ref(), true);
            arm_cells(&mut r.markdown, row.named.as_ref(), false);
            let _ = writeln!(
                r.markdown,
                " {} |",
                row.ratio.map_or("-".into(), |b| format!("{}x", b.text(2)))
            );
        }
        r.markdown.push('\n');
        let _ = writeln!(
            r.markdown,
            "In FLOPs (fixed settings within the policy's FLOPs per question):\n\n| N | policy \
             FLOPs / question | policy (held-out) | best fixed | its FLOPs / question | best \
             fixed accuracy | policy minus best fixed | `{named}` within | policy minus \
             `{named}` | FLOPs ratio |\n|---:|---:|---|---|---:|---|---|---|---|---:|"
        );
        for row in &rows.flops {
            let _ = write!(
                r.markdown,
                "| {} | {} | {} |",
                row.budget,
                sci(row.policy_flops),
                est_text(&row.policy)
            );
            match &row.fixed {
                Some(f) => {
                    let _ = write!(
                        r.markdown,
                        " {} | {} | {} | {} |",
                        md(&picks_text(f)),
                        sci(f.flops),
                        est_text(&f.accuracy),
                        diff_text(&f.difference)
                    );
                }
                None => r.markdown.push_str(" none within | - | - | - |"),
            }
            match &row.named {
                Some(f) => {
                    let _ = write!(
                        r.markdown,
                        " {}: {} | {} |",
                        md(&picks_text(f)),
                        est_text(&f.accuracy),
                        diff_text(&f.difference)
                    );
                }
                None => r.markdown.push_str(" none within | - |"),
            }
            let _ = writeln!(
                r.markdown,
                " {} |",
                row.flops_ratio
                    .map_or("-".into(), |b| format!("{}x", b.text(2)))
            );
        }
        r.markdown.push('\n');
        for (accounting, rows) in [("generations", &rows.generations), ("flops", &rows.flops)] {
            let (v, significant_at) = verdict(rows);
            let summary = JudgementSummary {
                bins: j.bins.clone(),
                accounting: accounting.into(),
                rows: rows.clone(),
                verdict: v,
                significant_at,
                same_everywhere: same.clone(),
            };
            r.markdown.push_str(&verdict_line(&summary));
            r.markdown.push('\n');
            r.judged.push(summary);
        }
        figure(r, data, j, &rows, baseline);
    }
}

fn arm_cells(out: &mut String, arm: Option<&ArmSummary>, with_accuracy: bool) {
    match (arm, with_accuracy) {
        (Some(a), true) => {
            let _ = write!(
                out,
                " {} | {} | {} |",
                md(&picks_text(a)),
                est_text(&a.accuracy),
                diff_text(&a.difference)
            );
        }
        (Some(a), false) => {
            let _ = write!(
                out,
                " {} | {} |",
                est_text(&a.accuracy),
                diff_text(&a.difference)
            );
        }
        (None, true) => out.push_str(" - | - | - |"),
        (None, false) => out.push_str(" - | - |"),
    }
}

fn figure(r: &mut Rendered, data: &Data, j: &PolicyJudgement, rows: &Rows, baseline: Option<&str>) {
    let series = |name: &str, style: usize, mark: Mark, pts: Vec<(f64, Estimate)>| Series {
        name: name.into(),
        style,
        mark,
        points: pts.iter().map(|(x, e)| point(*x, e)).collect(),
    };
    let named = j.named.as_deref().unwrap_or("named setting");
    let by_budget = vec![
        series(
            "policy (held-out, probe paid)",
            6,
            Mark::Line,
            rows.generations
                .iter()
                .map(|r| (r.budget as f64, r.policy))
                .collect(),
        ),
        series(
            "best fixed setting (held-out)",
            1,
            Mark::DashedLine,
            rows.generations
                .iter()
                .filter_map(|r| r.fixed.as_ref().map(|f| (r.budget as f64, f.accuracy)))
                .collect(),
        ),
        series(
            &format!("always {named}"),
            2,
            Mark::DashedLine,
            rows.generations
                .iter()
                .filter_map(|r| r.named.as_ref().map(|f| (r.budget as f64, f.accuracy)))
                .collect(),
        ),
    ];
    let mut by_flops = vec![
        series(
            "policy (held-out, probe paid)",
            6,
            Mark::Line,
            rows.flops
                .iter()
                .filter(|r| r.policy_flops > 0.0)
                .map(|r| (r.policy_flops, r.policy))
                .collect(),
        ),
        series(
            "best fixed setting within its FLOPs",
            1,
            Mark::Points,
            rows.flops
                .iter()
                .filter_map(|r| {
                    r.fixed
                        .as_ref()
                        .filter(|f| f.flops > 0.0)
                        .map(|f| (f.flops, f.accuracy))
                })
                .collect(),
        ),
    ];
    if let Some(b) = baseline {
        by_flops.push(series(
            b,
            0,
            Mark::DashedLine,
            data.curve(b, None)
                .iter()
                .filter_map(|(n, e)| {
                    mean_flops(data, b, *n)
                        .filter(|f| *f > 0.0)
                        .map(|f| (f, *e))
                })
                .collect(),
        ));
    }
    let panels = vec![
        Panel {
            title: "in generations".into(),
            x_label: BUDGET_AXIS.into(),
            y_label: ACCURACY_AXIS.into(),
            x: XScale::Log2,
            unit_interval: true,
            series: by_budget,
        },
        Panel {
            title: "in FLOPs".into(),
            x_label: FLOPS_AXIS.into(),
            y_label: ACCURACY_AXIS.into(),
            x: XScale::Log10,
            unit_interval: true,
            series: by_flops,
        },
    ];
    let mut fig = Figure::new(
        format!("Policy on {} bins against fixed settings", j.bins),
        panels,
        2,
    );
    fig.note = ci_note(data);
    let name = format!("policy-against-fixed-{}.svg", slug(&j.bins));
    if r.figures.iter().any(|(n, _)| *n == name) {
        return;
    }
    r.figure(
        &name,
        &format!("policy on {} bins against fixed settings", j.bins),
        fig.render(),
    );
}
