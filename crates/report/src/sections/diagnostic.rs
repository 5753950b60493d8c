//! Section 6 (optional): search against a diagnostic verifier.

use std::fmt::Write;

use super::{Rendered, bin_columns, est_text, md, pct};
use crate::data::Data;

/// Diagnostic methods (`METHOD@VERIFIER{params}`) paired with the same method run
/// against the run's own verifier: (diagnostic key, base key, verifier name).
pub(super) fn diagnostic_pairs(data: &Data) -> Vec<(&str, String, &str)> {
    data.diagnostic_pairs()
}

/// Only for runs with diagnostic methods: an optional extra, not a section of the
/// paper, so a run without them gets no "skipped" note either.
pub(super) fn diagnostic_section(r: &mut Rendered, data: &Data) {
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
