//! Section 1: accuracy against budget and FLOPs, overall and per oracle bin.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::{ACCURACY_AXIS, BUDGET_AXIS, FLOPS_AXIS, Rendered, bin_title, ci_note, md, pct, point};
use crate::data::Data;
use crate::svg::{Figure, Mark, Panel, Series, XScale};

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

pub(super) fn method_series(data: &Data, method: &str, bin: Option<usize>) -> Series {
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

pub(super) fn accuracy_section(r: &mut Rendered, data: &Data) {
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
