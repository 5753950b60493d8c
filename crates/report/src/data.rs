//! The run's records indexed for the report: per (method, budget), per question.

use std::collections::{BTreeMap, BTreeSet};

use ttc_core::{EvalRecord, Error, Result};

use crate::input::ReportInput;
use crate::stats::{Bootstrap, Estimate};

/// One (method, budget) cell's runs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cell {
    /// Per question: (correct runs, runs).
    pub(crate) by_question: BTreeMap<String, (usize, usize)>,
    pub(crate) runs: usize,
    pub(crate) generations: f64,
    pub(crate) generated_tokens: f64,
    pub(crate) flops: f64,
    pub(crate) seconds: f64,
}

impl Cell {
    /// Per-question accuracies (fraction of seeds correct), optionally only for
    /// questions in `bin`.
    pub(crate) fn outcomes(&self, bins: &Bins, bin: Option<usize>) -> Vec<f64> {
        self.by_question
            .iter()
            .filter(|(q, _)| bin.is_none() || bins.oracle.get(q.as_str()) == bin.as_ref())
            .map(|(_, (c, n))| *c as f64 / *n as f64)
            .collect()
    }

    pub(crate) fn mean_per_run(&self, total: f64) -> f64 {
        total / self.runs as f64
    }
}

/// Oracle and predicted bins by question.
#[derive(Clone, Debug, Default)]
pub(crate) struct Bins {
    pub(crate) count: usize,
    pub(crate) oracle: BTreeMap<String, usize>,
    pub(crate) predicted: BTreeMap<String, usize>,
}

impl Bins {
    pub(crate) fn from_input(input: &ReportInput) -> Result<Self> {
        let mut bins = Bins::default();
        let max_seen = input
            .bins
            .iter()
            .flat_map(|b| std::iter::once(b.oracle_bin).chain(b.predicted_bin))
            .max()
            .unwrap_or(0);
        bins.count = if input.bin_count == 0 {
            max_seen
        } else {
            input.bin_count
        };
        for b in &input.bins {
            for (what, v) in [("oracle", Some(b.oracle_bin)), ("predicted", b.predicted_bin)] {
                if let Some(v) = v
                    && (v == 0 || v > bins.count)
                {
                    return Err(Error::invalid(
                        format!("{what} bin of question {}", b.question),
                        format!(
                            "{v} is outside 1..={}; bins run from 1 (easiest) to the bin count",
                            bins.count
                        ),
                    ));
                }
            }
            if bins
                .oracle
                .insert(b.question.clone(), b.oracle_bin)
                .is_some()
            {
                return Err(Error::invalid(
                    "difficulty bins",
                    format!(
                        "question {} is listed twice; give one bin assignment per question",
                        b.question
                    ),
                ));
            }
            if let Some(p) = b.predicted_bin {
                bins.predicted.insert(b.question.clone(), p);
            }
        }
        Ok(bins)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.oracle.is_empty()
    }
}

/// The records grouped for the report.
#[derive(Debug)]
pub(crate) struct Data {
    pub(crate) cells: BTreeMap<(String, usize), Cell>,
    /// Methods in display order (family, then label), with their family.
    pub(crate) methods: Vec<(String, String)>,
    pub(crate) questions: BTreeSet<String>,
    pub(crate) bins: Bins,
    pub(crate) boot: Bootstrap,
}

pub(crate) fn family_rank(family: &str) -> usize {
    match family {
        "best-of-n" => 0,
        "search" => 1,
        "revisions" => 2,
        _ => 3,
    }
}

impl Data {
    pub(crate) fn new(input: &ReportInput) -> Result<Self> {
        if input.results.is_empty() {
            return Err(Error::invalid(
                "report input",
                "it has no evaluation records (results.jsonl is empty or missing); run \
                 `ttc eval` on a run file first",
            ));
        }
        let bins = Bins::from_input(input)?;
        let mut cells: BTreeMap<(String, usize), Cell> = BTreeMap::new();
        let mut families: BTreeMap<String, String> = BTreeMap::new();
        let mut questions = BTreeSet::new();
        for r in &input.results {
            check(r)?;
            if let Some(f) = families.insert(r.method.clone(), r.family.clone())
                && f != r.family
            {
                return Err(Error::invalid(
                    format!("method {}", r.method),
                    format!(
                        "it is in two families, `{f}` and `{}`; a label must name one method",
                        r.family
                    ),
                ));
            }
            questions.insert(r.question.clone());
            let c = cells.entry((r.method.clone(), r.budget)).or_default();
            let q = c.by_question.entry(r.question.clone()).or_default();
            q.0 += usize::from(r.correct);
            q.1 += 1;
            c.runs += 1;
            c.generations += r.compute.generations as f64;
            c.generated_tokens += r.compute.generated_tokens as f64;
            c.flops += r.compute.total_flops();
            c.seconds += r.seconds;
        }
        let mut methods: Vec<(String, String)> = families.into_iter().collect();
        methods.sort_by(|a, b| {
            family_rank(&a.1)
                .cmp(&family_rank(&b.1))
                .then_with(|| a.1.cmp(&b.1))
                .then_with(|| a.0.cmp(&b.0))
        });
        Ok(Data {
            cells,
            methods,
            questions,
            bins,
            boot: input.options.bootstrap,
        })
    }

    /// The budgets a method ran at, ascending.
    pub(crate) fn budgets(&self, method: &str) -> Vec<usize> {
        self.cells
            .keys()
            .filter(|(m, _)| m == method)
            .map(|(_, b)| *b)
            .collect()
    }

    /// A method's palette index: its position in display order.
    pub(crate) fn style(&self, method: &str) -> usize {
        self.methods
            .iter()
            .position(|(m, _)| m == method)
            .unwrap_or(0)
    }

    pub(crate) fn has_method(&self, method: &str) -> bool {
        self.methods.iter().any(|(m, _)| m == method)
    }

    /// Accuracy of (method, budget), over all questions or one oracle bin.
    pub(crate) fn accuracy(&self, method: &str, budget: usize, bin: Option<usize>) -> Option<Estimate> {
        let cell = self.cells.get(&(method.to_string(), budget))?;
        let key = match bin {
            Some(b) => format!("{method}@{budget}#bin{b}"),
            None => format!("{method}@{budget}"),
        };
        self.boot.mean(&cell.outcomes(&self.bins, bin), &key)
    }

    /// Accuracy against budget of one method (points with data only).
    pub(crate) fn curve(&self, method: &str, bin: Option<usize>) -> Vec<(usize, Estimate)> {
        self.budgets(method)
            .into_iter()
            .filter_map(|b| self.accuracy(method, b, bin).map(|e| (b, e)))
            .collect()
    }
}

fn check(r: &EvalRecord) -> Result<()> {
    if r.budget == 0 {
        return Err(Error::invalid(
            format!("record of question {} method {}", r.question, r.method),
            "its budget is 0; budgets count generations and start at 1",
        ));
    }
    if r.method.trim().is_empty() {
        return Err(Error::invalid(
            format!("record of question {}", r.question),
            "its method label is empty",
        ));
    }
    Ok(())
}

/// The (chains, length) of a revision method: the params `chains` and `length`
/// when present, else the `{chains}x{length}` part of its label
/// (`revise-4x4`, `revise-c4x4`, `revise-4x4-majority`). Also returns the label
/// with that part replaced by `{split}`, which names the variant.
pub(crate) fn revision_split(r_method: &str, params: &BTreeMap<String, serde_json::Value>) -> Option<(usize, usize, String)> {
    let from_params = || {
        let c = params.get("chains")?.as_u64()? as usize;
        let l = params.get("length")?.as_u64()? as usize;
        Some((c, l))
    };
    let bytes = r_method.as_bytes();
    // Find the last `<digits>x<digits>` run bounded by non-digits.
    let mut found = None;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit()) {
            let s = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < bytes.len() && bytes[i] == b'x' && bytes[i + 1].is_ascii_digit() {
                let mid = i;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let c: usize = r_method[s..mid].parse().ok()?;
                let l: usize = r_method[mid + 1..i].parse().ok()?;
                found = Some((s, i, c, l));
            }
        } else {
            i += 1;
        }
    }
    let variant = |s: usize, e: usize| format!("{}{{split}}{}", &r_method[..s], &r_method[e..]);
    match (from_params().filter(|(c, l)| *c > 0 && *l > 0), found) {
        (Some((c, l)), Some((s, e, _, _))) => Some((c, l, variant(s, e))),
        (Some((c, l)), None) => Some((c, l, r_method.to_string())),
        (None, Some((s, e, c, l))) if c > 0 && l > 0 => Some((c, l, variant(s, e))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_splits_from_labels_and_params() {
        let none = BTreeMap::new();
        assert_eq!(
            revision_split("revise-4x16", &none),
            Some((4, 16, "revise-{split}".into()))
        );
        assert_eq!(
            revision_split("revise-c2x8-majority", &none),
            Some((2, 8, "revise-c{split}-majority".into()))
        );
        assert_eq!(revision_split("beam-m4", &none), None);
        let mut p = BTreeMap::new();
        p.insert("chains".to_string(), serde_json::json!(8));
        p.insert("length".to_string(), serde_json::json!(2));
        assert_eq!(
            revision_split("revisions", &p),
            Some((8, 2, "revisions".into()))
        );
    }
}
