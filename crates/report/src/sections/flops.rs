//! Section 4: the FLOPs-matched comparison against a larger model's greedy answers.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::policy::policy_curve;
use super::{ACCURACY_AXIS, Rendered, ci_note, est_text, point, sci};
use crate::data::Data;
use crate::input::ReportInput;
use crate::stats::Estimate;
use crate::svg::{Figure, Mark, Panel, Series, XScale};

pub(super) fn flops_section(r: &mut Rendered, input: &ReportInput, data: &Data) {
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
