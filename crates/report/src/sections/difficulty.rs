//! Section 5: difficulty bins, oracle against predicted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::{Rendered, pct, sci};
use crate::data::Data;
use crate::input::{BinReading, ReportInput};
use crate::svg::heatmap;

pub(super) fn difficulty_section(r: &mut Rendered, input: &ReportInput, data: &Data) {
    r.markdown
        .push_str("## 5. Difficulty: oracle against predicted bins\n\n");
    if data.bins.is_empty() {
        r.skip("difficulty bins", "no difficulty bins were given");
        return;
    }
    let n = data.bins.count;
    // Bin statistics from the difficulty records.
    if !input.difficulty.is_empty() {
        let mut per_bin: BTreeMap<usize, Vec<(f64, Option<f64>)>> = BTreeMap::new();
        let mut probe = ttc_core::Compute::default();
        for d in &input.difficulty {
            probe.absorb(&d.compute);
            let Some(bin) = data.bins.oracle.get(&d.question) else {
                continue;
            };
            let pass = if d.samples == 0 {
                0.0
            } else {
                d.correct as f64 / d.samples as f64
            };
            let score = (!d.scores.is_empty())
                .then(|| d.scores.iter().sum::<f64>() / d.scores.len() as f64);
            per_bin.entry(*bin).or_default().push((pass, score));
        }
        let samples: BTreeSet<usize> = input.difficulty.iter().map(|d| d.samples).collect();
        let samples: Vec<String> = samples.iter().map(|s| s.to_string()).collect();
        let _ = writeln!(
            r.markdown,
            "Oracle bins cut pass@1 (from {} samples per question) into {n} quantile bins, \
             bin 1 easiest; predicted bins cut the mean verifier final-answer score of the \
             probe (each question's first `[difficulty] probe-samples` samples) the same way. The difficulty samples cost {} generations, {} generated tokens and \
             {} FLOPs in all (not part of any method's budget).\n\n\
             | oracle bin | questions | pass@1 min | pass@1 mean | pass@1 max | mean verifier score |\n\
             |---:|---:|---:|---:|---:|---:|",
            samples.join("/"),
            probe.generations,
            probe.generated_tokens,
            sci(probe.total_flops())
        );
        for (bin, v) in &per_bin {
            let passes: Vec<f64> = v.iter().map(|x| x.0).collect();
            let scores: Vec<f64> = v.iter().filter_map(|x| x.1).collect();
            let min = passes.iter().copied().fold(f64::INFINITY, f64::min);
            let max = passes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mean = passes.iter().sum::<f64>() / passes.len() as f64;
            let score = if scores.is_empty() {
                "-".to_string()
            } else {
                format!("{:.3}", scores.iter().sum::<f64>() / scores.len() as f64)
            };
            let _ = writeln!(
                r.markdown,
                "| {bin} | {} | {min:.3} | {mean:.3} | {max:.3} | {score} |",
                v.len()
            );
        }
        r.markdown.push('\n');
    }
    if let Some(reading) = &input.bin_reading {
        bin_reading(r, reading);
    }
    if data.bins.predicted.is_empty() {
        r.skip(
            "oracle against predicted bins",
            "no predicted bins were given (no verifier scores)",
        );
        return;
    }
    let mut confusion = vec![vec![0usize; n]; n];
    let (mut same, mut near, mut total) = (0usize, 0usize, 0usize);
    for (q, o) in &data.bins.oracle {
        if let Some(p) = data.bins.predicted.get(q) {
            confusion[o - 1][p - 1] += 1;
            total += 1;
            same += usize::from(o == p);
            near += usize::from(o.abs_diff(*p) <= 1);
        }
    }
    r.markdown.push_str("| oracle \\ predicted |");
    for p in 1..=n {
        let _ = write!(r.markdown, " {p} |");
    }
    r.markdown.push_str("\n|---|");
    r.markdown.push_str(&"---:|".repeat(n));
    r.markdown.push('\n');
    for (o, row) in confusion.iter().enumerate() {
        let _ = write!(r.markdown, "| {} |", o + 1);
        for c in row {
            let _ = write!(r.markdown, " {c} |");
        }
        r.markdown.push('\n');
    }
    let _ = writeln!(
        r.markdown,
        "\nSame bin: {}%; within one bin: {}% ({total} questions).\n",
        pct(same as f64 / total.max(1) as f64),
        pct(near as f64 / total.max(1) as f64)
    );
    let labels: Vec<String> = (1..=n).map(|b| b.to_string()).collect();
    let svg = heatmap(
        "Oracle against predicted difficulty bins",
        "oracle bin (pass@1; 1 = easiest)",
        "predicted bin (mean verifier score; 1 = easiest)",
        &labels,
        &labels,
        &confusion,
    );
    r.figure(
        "difficulty-agreement.svg",
        "oracle against predicted difficulty bins",
        svg,
    );
}

/// Bin sizes, the agreement against what chance and a perfect predictor reach, and
/// the oracle bins' test-retest: how much of the bins' disagreement the predictor
/// could remove at all.
fn bin_reading(r: &mut Rendered, b: &BinReading) {
    let (lo, hi) = b.oracle_samples;
    let samples = if lo == hi {
        lo.to_string()
    } else {
        format!("{lo} to {hi}")
    };
    let _ = writeln!(
        r.markdown,
        "How to read the bins. Oracle bins come from {samples} samples per question; \
         predicted bins from the mean score of the first {} (the probe). Questions with \
         equal pass@1 share a bin, so ties (e.g. every question no sample solved) can make \
         bins unequal.\n",
        b.probe_samples
    );
    r.markdown
        .push_str("| bin | oracle questions | predicted questions |\n|---:|---:|---:|\n");
    for (i, o) in b.oracle_sizes.iter().enumerate() {
        let p = b
            .predicted_sizes
            .get(i)
            .map_or("-".to_string(), |p| p.to_string());
        let _ = writeln!(r.markdown, "| {} | {o} | {p} |", i + 1);
    }
    r.markdown.push('\n');
    if let Some(a) = &b.agreement {
        let _ = writeln!(
            r.markdown,
            "Oracle against predicted, {} questions: same bin {}% (within one {}%); by \
             chance (bins of these sizes drawn independently) {}%; a perfect predictor \
             (the pass@1 ranking without ties) {}%.\n",
            a.questions,
            pct(a.same_bin),
            pct(a.within_one),
            pct(a.chance),
            pct(a.ceiling)
        );
    }
    match &b.retest {
        Some(t) => {
            let _ = writeln!(
                r.markdown,
                "Test-retest of the oracle bins: each question's samples cut into two disjoint \
                 halves of {} and binned apart agree on {}% of {} questions (within one bin \
                 {}%; chance {}%). A predictor cannot be expected to agree with the oracle \
                 much more often than the oracle agrees with itself.\n",
                t.half_samples,
                pct(t.rates.same_bin),
                t.rates.questions,
                pct(t.rates.within_one),
                pct(t.rates.chance)
            );
        }
        None => r.markdown.push_str(
            "Test-retest of the oracle bins: not available (the difficulty records keep no \
             per-sample outcomes, as in runs made before they were kept, or a question has \
             fewer than 2 samples).\n\n",
        ),
    }
}
