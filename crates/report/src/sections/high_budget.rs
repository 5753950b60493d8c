//! Where best-of-N catches up with or overtakes search as the budget grows, per
//! oracle difficulty bin (the paper's Fig. 3 right: beam search over-optimises the
//! verifier on easy questions at high budgets).

use std::fmt::Write;

use super::paired::{difference_text, paired_difference};
use super::{Rendered, bin_title, md};
use crate::data::Data;
use crate::input::CatchUp;

/// Differences closer to 0 than this count as a tie.
const TIE: f64 = 1e-12;

pub(super) fn high_budget_section(r: &mut Rendered, data: &Data, baseline: &str) {
    r.markdown
        .push_str("## Best-of-N against search as the budget grows, per difficulty bin\n\n");
    let Some(best) = data.resolve(baseline).map(str::to_string) else {
        r.skip(
            "best-of-N against search",
            &format!("the baseline `{baseline}` has no records"),
        );
        return;
    };
    let searches: Vec<String> = data
        .methods
        .iter()
        .filter(|(_, f)| f == "search")
        .map(|(m, _)| m.clone())
        .collect();
    if searches.is_empty() {
        r.skip("best-of-N against search", "no search method was run");
        return;
    }
    let bins: Vec<Option<usize>> = std::iter::once(None)
        .chain(
            (1..=if data.bins.is_empty() {
                0
            } else {
                data.bins.count
            })
                .map(Some),
        )
        .collect();
    let best_budgets = data.budgets(&best);
    let _ = writeln!(
        r.markdown,
        "`{best}` minus each search method, in points, on the same questions and budget, with \
         bootstrap intervals, over all questions and per oracle bin (bin 1 easiest). \
         **Catches up**: the first budget from which best-of-N is at least as accurate at \
         every larger budget (point estimates); **overtakes**: the first where the interval \
         of the difference lies above 0. The last column \
         sets best-of-N at its largest budget ({}) against the search method at its largest, \
         so a sweep that takes best-of-N further than search shows what the extra samples buy.\n",
        best_budgets.last().map_or("-".into(), |b| b.to_string())
    );
    for search in &searches {
        let budgets: Vec<usize> = data
            .budgets(search)
            .into_iter()
            .filter(|b| best_budgets.contains(b))
            .collect();
        if budgets.is_empty() {
            continue;
        }
        let (Some(&top_search), Some(&top_best)) =
            (data.budgets(search).last(), best_budgets.last())
        else {
            continue;
        };
        let _ = write!(
            r.markdown,
            "### `{}` minus `{}`\n\n| bin |",
            md(&best),
            md(search)
        );
        for b in &budgets {
            let _ = write!(r.markdown, " N = {b} |");
        }
        let _ = writeln!(
            r.markdown,
            " {best}@{top_best} minus {search}@{top_search} | catches up at | overtakes at |"
        );
        r.markdown.push_str("|---|");
        r.markdown.push_str(&"---|".repeat(budgets.len() + 3));
        r.markdown.push('\n');
        for bin in &bins {
            let differences: Vec<(usize, crate::stats::Estimate)> = budgets
                .iter()
                .filter_map(|&n| paired_difference(data, &best, search, n, *bin).map(|e| (n, e)))
                .collect();
            if differences.is_empty() {
                continue;
            }
            // From the first budget on which best-of-N stays level or ahead.
            let behind_after = differences
                .iter()
                .rposition(|(_, e)| e.value < -TIE)
                .map_or(0, |i| i + 1);
            let catches_up_at = differences.get(behind_after).map(|(n, _)| *n);
            let overtakes_at = differences
                .iter()
                .find(|(_, e)| e.lo > 0.0)
                .map(|(n, _)| *n);
            let label = match bin {
                None => "all".to_string(),
                Some(b) => bin_title(*b, data.bins.count),
            };
            let _ = write!(r.markdown, "| {label} |");
            for n in &budgets {
                let e = differences.iter().find(|(b, _)| b == n).map(|(_, e)| *e);
                let _ = write!(r.markdown, " {} |", difference_text(e));
            }
            let across = cross_budget_difference(data, &best, top_best, search, top_search, *bin);
            let _ = writeln!(
                r.markdown,
                " {} | {} | {} |",
                difference_text(across),
                catches_up_at.map_or("not by the largest budget".into(), |n| format!("N = {n}")),
                overtakes_at.map_or("-".into(), |n| format!("N = {n}")),
            );
            r.catch_up.push(CatchUp {
                bin: *bin,
                search: search.clone(),
                best_of_n: best.clone(),
                differences,
                catches_up_at,
                overtakes_at,
            });
        }
        r.markdown.push('\n');
    }
}

/// `a`@`na` minus `b`@`nb` on the questions both answered (in oracle `bin`).
fn cross_budget_difference(
    data: &Data,
    a: &str,
    na: usize,
    b: &str,
    nb: usize,
    bin: Option<usize>,
) -> Option<crate::stats::Estimate> {
    let ca = data.cells.get(&(a.to_string(), na))?;
    let cb = data.cells.get(&(b.to_string(), nb))?;
    data.cached(&format!("{a}@{na}-{b}@{nb}#{bin:?}"), || {
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
