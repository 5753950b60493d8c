//! The run's records indexed for the report: per (method, budget), per question.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use ttc_core::{Error, EvalRecord, Result};

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
    /// Methods in display order (family, then label), with their family.
    pub(crate) methods: Vec<(String, String)>,
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
        let mut families: BTreeMap<String, String> = BTreeMap::new();
        let mut questions = BTreeSet::new();
        for r in &input.results {
            check(r)?;
            let key = method_key(r);
            if let Some(f) = families.insert(key.clone(), r.family.clone())
                && f != r.family
            {
                return Err(Error::invalid(
                    format!("method {key}"),
                    format!(
                        "it is in two families, `{f}` and `{}`; a label must name one method",
                        r.family
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
        let mut methods: Vec<(String, String)> = families.into_iter().collect();
        methods.sort_by(|a, b| {
            family_rank(&a.1)
                .cmp(&family_rank(&b.1))
                .then_with(|| a.1.cmp(&b.1))
                .then_with(|| natural_cmp(&a.0, &b.0))
        });
        Ok(Data {
            cells,
            methods,
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
        let mut with_label = self
            .methods
            .iter()
            .filter(|(m, _)| m.split('{').next() == Some(name));
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
            .find(|(m, _)| m.split('{').next() == Some(name))
            .map(|(m, _)| m.as_str())
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

/// A method's identity: its label, then any params in key order in braces, as
/// `ttc-policy`'s `Setting::key` writes it (`beam-m4`, `beam-m4{temperature=0.8}`).
pub(crate) fn method_key(r: &EvalRecord) -> String {
    let mut key = r.method.clone();
    if !r.params.is_empty() {
        let parts: Vec<String> = r
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", param_text(v)))
            .collect();
        key.push('{');
        key.push_str(&parts.join(","));
        key.push('}');
    }
    key
}

/// A param value as `ttc-policy`'s `Param` prints it: integers plain, other numbers
/// as Rust prints an f64 (`1` for 1.0), text quoted.
pub(crate) fn param_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(x)) => x.to_string(),
            _ => n.to_string(),
        },
        serde_json::Value::String(t) => format!("{t:?}"),
        other => other.to_string(),
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

/// Where a revision setting sits between parallel and sequential at one budget.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RevisionSplit {
    /// Sequential ratio: chain length / chains.
    pub(crate) ratio: f64,
    /// (chains, length), when whole numbers.
    pub(crate) split: Option<(usize, usize)>,
    /// The label with the split or ratio replaced by `{split}` / `{ratio}`: names the
    /// variant the setting belongs to.
    pub(crate) variant: String,
}

/// Finds the last `<digits>x<digits>` in a label: (start, end, chains, length).
fn find_split(label: &str) -> Option<(usize, usize, usize, usize)> {
    let b = label.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut found = None;
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()) {
            let mid = digits(i);
            if mid + 1 < b.len() && b[mid] == b'x' && b[mid + 1].is_ascii_digit() {
                let end = digits(mid + 1);
                if let (Ok(c), Ok(l)) = (label[i..mid].parse(), label[mid + 1..end].parse()) {
                    found = Some((i, end, c, l));
                }
                i = end;
                continue;
            }
            i = mid;
        } else {
            i += 1;
        }
    }
    found
}

/// Finds a `-r<R>` or `-r1/<R>` ratio in a label (`revise-r4`, `revise-r1/4`):
/// (start, end, ratio), the span covering the `r` and the number.
fn find_ratio(label: &str) -> Option<(usize, usize, f64)> {
    let b = label.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut found = None;
    for i in 1..b.len().saturating_sub(1) {
        if b[i] == b'r' && b[i - 1] == b'-' && b[i + 1].is_ascii_digit() {
            let num_end = digits(i + 1);
            let num: f64 = label[i + 1..num_end].parse().ok()?;
            let (end, ratio) =
                if num_end + 1 < b.len() && b[num_end] == b'/' && b[num_end + 1].is_ascii_digit() {
                    let den_end = digits(num_end + 1);
                    let den: f64 = label[num_end + 1..den_end].parse().ok()?;
                    (den_end, num / den)
                } else {
                    (num_end, num)
                };
            if (end == b.len() || b[end] == b'-' || b[end] == b'{') && ratio > 0.0 {
                found = Some((i, end, ratio));
            }
        }
    }
    found
}

/// A revision setting's split at `budget`, from (in this order) the params `chains`
/// and `length`, a `{chains}x{length}` in the label (`revise-4x4`), the param
/// `ratio` (or `sequential-ratio`), or a ratio in the label (`revise-r4`,
/// `revise-r1/4`), with N = chains x length. None when none of them is there.
pub(crate) fn revision_split(
    label: &str,
    params: &BTreeMap<String, serde_json::Value>,
    budget: usize,
) -> Option<RevisionSplit> {
    let number = |k: &str| params.get(k).and_then(serde_json::Value::as_f64);
    let replace = |s: usize, e: usize, with: &str| format!("{}{with}{}", &label[..s], &label[e..]);
    let split_variant = || match find_split(label) {
        Some((s, e, _, _)) => replace(s, e, "{split}"),
        None => match find_ratio(label) {
            Some((s, e, _)) => replace(s, e, "r{ratio}"),
            None => label.to_string(),
        },
    };
    if let (Some(c), Some(l)) = (number("chains"), number("length"))
        && c >= 1.0
        && l >= 1.0
    {
        let (c, l) = (c as usize, l as usize);
        return Some(RevisionSplit {
            ratio: l as f64 / c as f64,
            split: Some((c, l)),
            variant: split_variant(),
        });
    }
    if let Some((s, e, c, l)) = find_split(label)
        && c >= 1
        && l >= 1
    {
        return Some(RevisionSplit {
            ratio: l as f64 / c as f64,
            split: Some((c, l)),
            variant: replace(s, e, "{split}"),
        });
    }
    let ratio = number("ratio")
        .or_else(|| number("sequential-ratio"))
        .or_else(|| find_ratio(label).map(|r| r.2))
        .filter(|r| r.is_finite() && *r > 0.0)?;
    // chains = sqrt(N / ratio), length = sqrt(N x ratio).
    let chains = (budget as f64 / ratio).sqrt();
    let whole = (chains - chains.round()).abs() < 1e-9 && chains.round() >= 1.0;
    let split = whole.then(|| {
        let c = chains.round() as usize;
        (c, budget / c)
    });
    Some(RevisionSplit {
        ratio,
        split: split.filter(|(c, l)| c * l == budget),
        variant: split_variant(),
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
    fn revision_splits_from_labels_and_params() {
        let none = BTreeMap::new();
        let split = |label: &str, params: &BTreeMap<String, serde_json::Value>, n: usize| {
            revision_split(label, params, n).map(|s| (s.ratio, s.split, s.variant))
        };
        assert_eq!(
            split("revise-4x16", &none, 64),
            Some((4.0, Some((4, 16)), "revise-{split}".into()))
        );
        assert_eq!(
            split("revise-c2x8-majority", &none, 16),
            Some((4.0, Some((2, 8)), "revise-c{split}-majority".into()))
        );
        assert_eq!(split("beam-m4", &none, 16), None);
        assert_eq!(split("revisions", &none, 16), None);
        // The CLI's labels: a ratio, the split following from the budget.
        assert_eq!(
            split("revise-r4", &none, 16),
            Some((4.0, Some((2, 8)), "revise-r{ratio}".into()))
        );
        assert_eq!(
            split("revise-r1/4", &none, 64),
            Some((0.25, Some((16, 4)), "revise-r{ratio}".into()))
        );
        // No whole split (16 / 2 is not a square): the ratio alone.
        assert_eq!(
            split("revise-r2", &none, 16),
            Some((2.0, None, "revise-r{ratio}".into()))
        );
        let mut p = BTreeMap::new();
        p.insert("ratio".to_string(), serde_json::json!(0.25));
        p.insert("selector".to_string(), serde_json::json!("weighted"));
        assert_eq!(
            split("revise-r1/4", &p, 4),
            Some((0.25, Some((4, 1)), "revise-r{ratio}".into()))
        );
        let mut p = BTreeMap::new();
        p.insert("chains".to_string(), serde_json::json!(8));
        p.insert("length".to_string(), serde_json::json!(2));
        assert_eq!(
            split("revisions", &p, 16),
            Some((0.25, Some((8, 2)), "revisions".into()))
        );
    }
}
