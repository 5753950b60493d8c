//! The paper's comparisons as paired differences on the same questions.

use std::fmt::Write;

use super::diagnostic::diagnostic_pairs;
use super::{Rendered, bin_columns, md};
use crate::data::Data;
use crate::stats::Estimate;

/// Method pairs whose difference the paper states as a finding: PRM-weighted
/// best-of-N against majority voting, each search method against weighted best-of-N,
/// each revision setting against the most parallel one of its variant (sequential
/// against parallel, paper Fig. 7), and each diagnostic method against the same
/// method with the run's verifier.
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
    pairs.extend(data.revision_pairs());
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
pub(super) fn paired_difference(
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
pub(super) fn difference_text(e: Option<Estimate>) -> String {
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
pub(super) fn paired_section(r: &mut Rendered, data: &Data) {
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
