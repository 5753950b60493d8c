//! Building `report.md` and its figures from the indexed data, one module per
//! section in the order they appear (`render`).

mod accuracy;
mod costs;
mod diagnostic;
mod difficulty;
mod flops;
mod high_budget;
mod judged;
mod paired;
mod policy;
mod revisions;
mod summary;

use std::fmt::Write;

use crate::data::Data;
use crate::input::{
    CatchUp, EfficiencyRow, JudgementSummary, MatchedRow, MethodAccuracy, OneTimeCost, ReportInput,
};
use crate::stats::Estimate;
use crate::svg::Point;

use accuracy::accuracy_section;
use costs::costs_section;
use diagnostic::diagnostic_section;
use difficulty::difficulty_section;
use flops::flops_section;
use high_budget::high_budget_section;
use judged::judged_section;
use paired::paired_section;
use policy::policy_section;
use revisions::revision_section;
use summary::{header, summary_table};

pub(crate) const BUDGET_AXIS: &str = "budget N (generations per question, log2)";
pub(crate) const ACCURACY_AXIS: &str = "accuracy (fraction correct)";
pub(crate) const FLOPS_AXIS: &str = "mean FLOPs per question (log10)";
const RATIO_AXIS: &str = "sequential ratio (length / chains, log2)";

/// The rendered report: markdown, figures by file name, and what it computed.
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    pub(crate) markdown: String,
    pub(crate) figures: Vec<(String, String)>,
    pub(crate) skipped: Vec<String>,
    pub(crate) accuracy: Vec<MethodAccuracy>,
    pub(crate) efficiency: Vec<EfficiencyRow>,
    pub(crate) judged: Vec<JudgementSummary>,
    pub(crate) one_time_costs: Vec<OneTimeCost>,
    pub(crate) flops_matched: Vec<MatchedRow>,
    pub(crate) catch_up: Vec<CatchUp>,
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
    costs_section(&mut r, input);
    paired_section(&mut r, data);
    accuracy_section(&mut r, data);
    high_budget_section(&mut r, data, &input.options.baseline_method);
    policy_section(&mut r, input, data);
    judged_section(&mut r, input, data);
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

#[cfg(test)]
mod tests {
    use super::revisions::{ratio_text, split_text};
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
