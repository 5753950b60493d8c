//! The run's records indexed for the report: per (method, budget), per question.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use ttc_core::{Error, EvalRecord, MethodId, MethodSpec, Result};
use ttc_reviser::ChainSplit;

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
    /// Tokens the verifier read, and of those, already-scored ones it read again.
    pub(crate) verifier_tokens: f64,
    pub(crate) verifier_reread_tokens: f64,
    pub(crate) generator_flops: f64,
    pub(crate) verifier_flops: f64,
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
            for (what, v) in [
                ("oracle", Some(b.oracle_bin)),
                ("predicted", b.predicted_bin),
            ] {
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
    /// Method keys ([`MethodId::key`]) in display order (family, then key), with
    /// their family's name.
    pub(crate) methods: Vec<(String, String)>,
    /// Each key's method.
    ids: BTreeMap<String, MethodId>,
    pub(crate) questions: BTreeSet<String>,
    pub(crate) bins: Bins,
    pub(crate) boot: Bootstrap,
    /// Bootstrap estimates already computed, by key (figures and tables share them).
    estimates: RefCell<BTreeMap<String, Option<Estimate>>>,
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
        let mut ids: BTreeMap<String, MethodId> = BTreeMap::new();
        let mut questions = BTreeSet::new();
        for r in &input.results {
            check(r)?;
            let key = r.method.key();
            if let Some(id) = ids.insert(key.clone(), r.method.clone())
                && id.family() != r.method.family()
            {
                return Err(Error::invalid(
                    format!("method {key}"),
                    format!(
                        "it is in two families, `{}` and `{}`; a label must name one method",
                        id.family().name(),
                        r.method.family().name()
                    ),
                ));
            }
            questions.insert(r.question.clone());
            let c = cells.entry((key, r.budget)).or_default();
            let q = c.by_question.entry(r.question.clone()).or_default();
            q.0 += usize::from(r.correct);
            q.1 += 1;
            c.runs += 1;
            c.generations += r.compute.generations as f64;
            c.generated_tokens += r.compute.generated_tokens as f64;
            c.verifier_tokens += r.compute.verifier_tokens as f64;
            c.verifier_reread_tokens += r.compute.verifier_reread_tokens as f64;
            c.generator_flops += r.compute.generator_flops;
            c.verifier_flops += r.compute.verifier_flops;
            c.flops += r.compute.total_flops();
            c.seconds += r.seconds;
        }
        let mut methods: Vec<(String, String)> = ids
            .iter()
            .map(|(k, id)| (k.clone(), id.family().name().to_string()))
            .collect();
        methods.sort_by(|a, b| {
            family_rank(&a.1)
                .cmp(&family_rank(&b.1))
                .then_with(|| a.1.cmp(&b.1))
                .then_with(|| natural_cmp(&a.0, &b.0))
        });
        Ok(Data {
            cells,
            methods,
            ids,
            questions,
            bins,
            boot: input.options.bootstrap,
            estimates: RefCell::new(BTreeMap::new()),
        })
    }

    /// The method key `name` stands for: itself, else the one method whose label it
    /// is (None when several share that label).
    pub(crate) fn resolve_unique(&self, name: &str) -> Option<&str> {
        if let Some((m, _)) = self.methods.iter().find(|(m, _)| m == name) {
            return Some(m);
        }
        let mut with_label = self.methods.iter().filter(|(m, _)| self.label(m) == name);
        match (with_label.next(), with_label.next()) {
            (Some((m, _)), None) => Some(m),
            _ => None,
        }
    }

    /// The method key `name` stands for: itself when a method has that key, else
    /// the first method (in display order) whose label is `name`, whatever its
    /// params (`best-of-n-weighted` finds `best-of-n-weighted{temperature=0.8}`).
    pub(crate) fn resolve(&self, name: &str) -> Option<&str> {
        if let Some((m, _)) = self.methods.iter().find(|(m, _)| m == name) {
            return Some(m);
        }
        self.methods
            .iter()
            .find(|(m, _)| self.label(m) == name)
            .map(|(m, _)| m.as_str())
    }

    /// The label ([`MethodId::label`]) of the method with key `key`.
    fn label(&self, key: &str) -> String {
        self.ids.get(key).map(MethodId::label).unwrap_or_default()
    }

    /// Diagnostic methods paired with the same setting against the run's own
    /// verifier: (diagnostic key, base key, verifier name), in display order.
    pub(crate) fn diagnostic_pairs(&self) -> Vec<(&str, String, &str)> {
        self.methods
            .iter()
            .filter_map(|(key, _)| {
                let id = &self.ids[key];
                let verifier = id.verifier()?;
                (id.family() == ttc_core::Family::Diagnostic)
                    .then(|| (key.as_str(), id.without_verifier().key(), verifier))
            })
            .collect()
    }

    /// Each revision setting paired with the most parallel setting of its variant
    /// (the same selector, verifier and other params; the smallest sequential ratio
    /// swept): (setting key, most parallel key), in display order.
    pub(crate) fn revision_pairs(&self) -> Vec<(String, String)> {
        let mut by_variant: BTreeMap<String, Vec<(f64, &str)>> = BTreeMap::new();
        for (key, _) in &self.methods {
            // The variant and ratio do not depend on the budget.
            if let Some(s) = revision_split(&self.ids[key], 1) {
                by_variant
                    .entry(s.variant)
                    .or_default()
                    .push((s.ratio, key));
            }
        }
        let mut out = Vec::new();
        for settings in by_variant.values() {
            let Some(&(low, parallel)) = settings.iter().min_by(|a, b| a.0.total_cmp(&b.0)) else {
                continue;
            };
            out.extend(
                settings
                    .iter()
                    .filter(|(ratio, _)| *ratio > low)
                    .map(|(_, key)| (key.to_string(), parallel.to_string())),
            );
        }
        out
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

    /// Accuracy of (method, budget), over all questions or one oracle bin.
    pub(crate) fn accuracy(
        &self,
        method: &str,
        budget: usize,
        bin: Option<usize>,
    ) -> Option<Estimate> {
        let cell = self.cells.get(&(method.to_string(), budget))?;
        let key = match bin {
            Some(b) => format!("{method}@{budget}#bin{b}"),
            None => format!("{method}@{budget}"),
        };
        self.cached(&key, || cell.outcomes(&self.bins, bin))
    }

    /// The bootstrap mean of what `values` gives, computed once per key.
    pub(crate) fn cached(&self, key: &str, values: impl FnOnce() -> Vec<f64>) -> Option<Estimate> {
        if let Some(e) = self.estimates.borrow().get(key) {
            return *e;
        }
        let e = self.boot.mean(&values(), key);
        self.estimates.borrow_mut().insert(key.to_string(), e);
        e
    }

    /// Accuracy against budget of one method (points with data only).
    pub(crate) fn curve(&self, method: &str, bin: Option<usize>) -> Vec<(usize, Estimate)> {
        self.budgets(method)
            .into_iter()
            .filter_map(|b| self.accuracy(method, b, bin).map(|e| (b, e)))
            .collect()
    }
}

/// Orders labels with their digit runs compared as numbers: `revise-1x4` before
/// `revise-1x16` before `revise-2x2`.
pub(crate) fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let o = match (x, y) {
            ((true, p), (true, q)) => {
                let (p, q) = (p.trim_start_matches('0'), q.trim_start_matches('0'));
                p.len().cmp(&q.len()).then_with(|| p.cmp(q))
            }
            ((_, p), (_, q)) => p.cmp(q),
        };
        if o.is_ne() {
            return o;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

fn check(r: &EvalRecord) -> Result<()> {
    if r.budget == 0 {
        return Err(Error::invalid(
            format!("record of question {} method {}", r.question, r.method),
            "its budget is 0; budgets count generations and start at 1",
        ));
    }
    Ok(())
}

/// Where a revision setting sits between parallel and sequential at one budget.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RevisionSplit {
    /// Sequential ratio: chain length / chains.
    pub(crate) ratio: f64,
    /// (chains, length) as the sweep ran it ([`ChainSplit::from_ratio`]: the exact
    /// split, else the nearest); None at budget 0.
    pub(crate) split: Option<(usize, usize)>,
    /// The setting's key with its ratio replaced by `{ratio}` (and the `ratio` param
    /// left out): names the variant the setting belongs to, which the other params
    /// tell apart (`revise-r{ratio}-majority{selector="majority"}`).
    pub(crate) variant: String,
}

/// A revision setting's split at `budget`, from the method's sequential ratio
/// (`revise-r4`: 2 x 8 at 16, 2 x 6 at 12). None for other methods.
pub(crate) fn revision_split(method: &MethodId, budget: usize) -> Option<RevisionSplit> {
    let MethodSpec::Revise { ratio, selector } = method.method() else {
        return None;
    };
    let mut variant = String::from("revise-r{ratio}");
    if let Some(s) = selector {
        variant.push('-');
        variant.push_str(s.name());
    }
    if let Some(v) = method.verifier() {
        variant.push('@');
        variant.push_str(v);
    }
    let others: Vec<String> = method
        .params()
        .iter()
        .filter(|(k, _)| k.as_str() != "ratio")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !others.is_empty() {
        variant.push('{');
        variant.push_str(&others.join(","));
        variant.push('}');
    }
    let split = ChainSplit::from_ratio(budget, ratio)
        .ok()
        .map(|s| (s.chains, s.length));
    Some(RevisionSplit {
        ratio,
        split,
        variant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_sort_with_numbers_as_numbers() {
        let mut v = vec![
            "revise-4x1",
            "revise-16x1",
            "revise-1x16",
            "revise-1x4",
            "beam",
            "revise-2x2",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "beam",
                "revise-1x4",
                "revise-1x16",
                "revise-2x2",
                "revise-4x1",
                "revise-16x1"
            ]
        );
    }

    #[test]
    fn revision_splits_follow_the_ratio_of_the_method() {
        let id = |text: &str, params: &[(&str, ttc_core::Param)]| {
            MethodId::new(text.parse().unwrap())
                .with_params(
                    params
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                )
                .unwrap()
        };
        let split =
            |m: &MethodId, n: usize| revision_split(m, n).map(|s| (s.ratio, s.split, s.variant));
        assert_eq!(split(&id("beam-m4", &[]), 16), None);
        assert_eq!(
            split(&id("revise-r4", &[]), 16),
            Some((4.0, Some((2, 8)), "revise-r{ratio}".into()))
        );
        assert_eq!(
            split(&id("revise-r1/4", &[]), 64),
            Some((0.25, Some((16, 4)), "revise-r{ratio}".into()))
        );
        // No exact split (16 / 2 is not a square): the nearest, as the sweep runs it.
        assert_eq!(
            split(&id("revise-r2", &[]), 16),
            Some((2.0, Some((4, 4)), "revise-r{ratio}".into()))
        );
        assert_eq!(
            split(&id("revise-r4", &[]), 12),
            Some((4.0, Some((2, 6)), "revise-r{ratio}".into()))
        );
        // As the sweep writes them: the ratio param is the split's, the rule tells
        // variants apart.
        let written = id(
            "revise-r1/4-majority",
            &[
                ("ratio", ttc_core::Param::Float(0.25)),
                ("selector", ttc_core::Param::from("majority")),
            ],
        );
        assert_eq!(
            split(&written, 4),
            Some((
                0.25,
                Some((4, 1)),
                "revise-r{ratio}-majority{selector=\"majority\"}".into()
            ))
        );
    }
}
