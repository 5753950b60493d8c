//! Section 4: the FLOPs-matched comparison against a larger model's greedy answers.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::policy::{policy_curve, policy_flops};
use super::{ACCURACY_AXIS, Rendered, ci_note, est_text, point, sci};
use crate::data::Data;
use crate::input::{MatchedRow, ReportInput};
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
    let role = |name: &str| input.models.iter().find(|m| m.role == name);
    let small = match (role("generator"), role("verifier")) {
        (Some(g), Some(v)) => format!("generator `{}` with verifier `{}`", g.model, v.model),
        (Some(g), None) => format!("generator `{}`", g.model),
        _ => "the run's generator".to_string(),
    };
    let _ = writeln!(
        r.markdown,
        "Small: {small} under the compute-optimal policy `{}`; large: `{model}` ({} \
         parameters, M = {:.2} times the generator), answering each question once, greedily \
         (pass@1). The small model gets the budget whose total FLOPs (pretraining + inference) \
         match the large model's, for each ratio R = inference tokens / pretraining tokens: \
         k = M + 3 (M - 1) / R generations (docs/method.md §6). Budgets are taken **at or \
         below** the matched compute, never above. Bins are oracle bins.\n\n\
         - **Paper's accounting** (verifier inference ignored): the largest fitted budget N \
         <= k generations.\n\
         - **Total accounting** (verifier inference included): the small system may spend \
         k x F_L / M inference FLOPs per question, F_L the large model's measured FLOPs per \
         question ({} here); the largest fitted budget whose policy FLOPs per question \
         (generator + verifier) are within it.\n\
         - **With the verifier's training**: the same, less the verifier's one-time cost \
         (training.json) spread over the inference: V x T_L / (R x D), T_L the large model's \
         tokens per question and D the generator's pretraining tokens.\n",
        policy.name,
        sci(params as f64),
        fm.model_ratio,
        sci(reference_flops(input))
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
    // Never above: the largest fitted budget not above the matched one.
    let used = |k: usize| budgets.range(..=k).next_back().copied();
    let within_flops = |allowed: f64| {
        budgets
            .iter()
            .rev()
            .find(|&&n| policy_flops(data, policy, n).is_some_and(|f| f <= allowed))
            .copied()
    };
    let f_l = reference_flops(input);
    let tokens_l = if params > 0 {
        f_l / (2.0 * params as f64)
    } else {
        0.0
    };
    let pretraining = role("generator")
        .and_then(|g| g.training.as_ref())
        .map(|t| t.training_tokens as f64)
        .filter(|d| *d > 0.0);
    let verifier_training = role("verifier")
        .and_then(|v| v.training.as_ref())
        .map(|t| t.total_flops());
    r.markdown.push_str(
        "| R | k | paper: N used | below the matched compute | total: FLOPs / question allowed | N used | with the verifier's training: allowed | N used |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    // (R, N, the accountings that use N).
    let mut columns: Vec<(f64, usize, Vec<&str>)> = Vec::new();
    for mb in &fm.budgets {
        let n = used(mb.budget);
        let allowed = (f_l > 0.0).then(|| mb.multiplier * f_l / fm.model_ratio);
        let allowed_t = match (allowed, verifier_training, pretraining) {
            (Some(a), Some(v), Some(d)) => Some(a - v * tokens_l / (mb.data_ratio * d)),
            _ => None,
        };
        let n_flops = allowed.and_then(within_flops);
        let n_flops_t = allowed_t.and_then(within_flops);
        let below = n.map(|n| 1.0 - n as f64 / mb.multiplier);
        let _ = writeln!(
            r.markdown,
            "| {} | {:.2} | {} | {} | {} | {} | {} | {} |",
            mb.data_ratio,
            mb.multiplier,
            n.map_or("below every fitted budget".into(), |n| n.to_string()),
            below.map_or("-".into(), |b| format!("{:.1}%", 100.0 * b)),
            allowed.map_or("-".into(), sci),
            n_flops.map_or("-".into(), |n| n.to_string()),
            match (allowed_t, verifier_training, pretraining) {
                (Some(a), _, _) => sci(a),
                (None, None, _) => "verifier's training not given".into(),
                (None, _, None) => "generator's training tokens not given".into(),
                _ => "-".into(),
            },
            n_flops_t.map_or("-".into(), |n| n.to_string()),
        );
        r.flops_matched.push(MatchedRow {
            data_ratio: mb.data_ratio,
            multiplier: mb.multiplier,
            budget: n,
            below,
            allowed_flops: allowed,
            flops_budget: n_flops,
            allowed_flops_with_training: allowed_t,
            flops_budget_with_training: n_flops_t,
        });
        for (what, n) in [
            ("paper", n),
            ("total", n_flops),
            ("with training", n_flops_t),
        ] {
            let Some(n) = n else { continue };
            match columns
                .iter()
                .position(|c| c.0 == mb.data_ratio && c.1 == n)
            {
                Some(i) => columns[i].2.push(what),
                None => columns.push((mb.data_ratio, n, vec![what])),
            }
        }
    }
    r.markdown.push('\n');
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
    for (k, (ratio, n, whats)) in columns.iter().enumerate() {
        let name = format!("R = {ratio} ({}, N = {n})", whats.join(" and "));
        let per_bin: Vec<Option<Estimate>> = bins
            .iter()
            .map(|b| {
                policy_curve(data, policy, *b)
                    .into_iter()
                    .find(|(x, _)| x == n)
                    .map(|(_, e)| e)
            })
            .collect();
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

/// The large model's mean inference FLOPs per question (0 without records).
fn reference_flops(input: &ReportInput) -> f64 {
    if input.reference.is_empty() {
        return 0.0;
    }
    input
        .reference
        .iter()
        .map(|x| x.compute.total_flops())
        .sum::<f64>()
        / input.reference.len() as f64
}
