//! Section 3: revisions, sequential against parallel, and attempt-to-attempt transitions.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use ttc_core::{Family, Transitions};

use super::{ACCURACY_AXIS, RATIO_AXIS, Rendered, bin_title, ci_note, md, pct, point, slug};
use crate::data::{Data, natural_cmp, revision_split};
use crate::input::ReportInput;
use crate::svg::{Figure, Mark, Panel, Series, XScale, pow2_label};

/// A sequential ratio: `1/4`, `1`, `16` for powers of two, else three decimals.
pub(super) fn ratio_text(ratio: f64) -> String {
    let e = ratio.log2();
    if (e - e.round()).abs() < 1e-9 {
        pow2_label(e.round() as i32)
    } else {
        format!("{ratio:.3}")
    }
}

/// `2x8 (ratio 4)`; `2x6 (nearest to ratio 4)` where the budget has no exact split.
pub(super) fn split_text(ratio: f64, split: Option<(usize, usize)>) -> String {
    match split {
        Some((c, l)) if (l as f64 / c as f64 - ratio).abs() <= 1e-9 * ratio => {
            format!("{c}x{l} (ratio {})", ratio_text(ratio))
        }
        Some((c, l)) => format!("{c}x{l} (nearest to ratio {})", ratio_text(ratio)),
        None => format!("ratio {}", ratio_text(ratio)),
    }
}

/// Per budget, each revision setting that ran: (sequential ratio, chains x length,
/// method key), most parallel first.
type SplitsByBudget = BTreeMap<usize, Vec<(f64, Option<(usize, usize)>, String)>>;

pub(super) fn revision_section(r: &mut Rendered, input: &ReportInput, data: &Data) {
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
