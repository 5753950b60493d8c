//! Sweep results: one record per (question, setting, budget, seed), as JSON Lines.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use ttc_core::{Compute, Error, Family, MethodId, Params, Result};

/// What one run cost: generations (the paper's unit), generated tokens, and FLOPs of
/// every model that ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    pub generations: usize,
    /// Tokens sampled by the generator (and reviser).
    pub tokens: usize,
    /// 2 x parameters x processed tokens, summed over the models that ran.
    pub flops: f64,
}

impl From<&Compute> for Cost {
    fn from(c: &Compute) -> Self {
        Cost {
            generations: c.generations,
            tokens: c.generated_tokens,
            flops: c.total_flops(),
        }
    }
}

/// One run of one setting on one question at one budget with one seed. A setting,
/// what the policy chooses between, is a method's identity ([`MethodId`]): two
/// settings are the same when their keys ([`MethodId::key`]) are.
///
/// As a JSON line (`params` left out when empty; `family` may be left out, and is
/// then the method's own, as in sweep files written before it was recorded):
/// `{"question":"test/algebra/1.json","bin":2,"method":"beam-m4","family":"search","params":{"temperature":0.8},"budget":16,"seed":0,"correct":true,"compute":{"generations":16,"tokens":5120,"flops":1.2e12}}`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SweepFields", into = "SweepFields")]
pub struct SweepRecord {
    pub question: String,
    /// Difficulty bin, 1 = easiest (oracle or predicted; the policy file says which).
    pub bin: usize,
    /// The setting that ran.
    pub method: MethodId,
    /// Budget N in generations.
    pub budget: usize,
    /// Under a difficulty probe rule ([`crate::under_probe`]), the budget the setting
    /// itself ran with out of `budget` (the probe took the rest, or lent its samples);
    /// `None`: the setting ran with all of `budget` and no probe was counted.
    pub method_budget: Option<usize>,
    pub seed: u64,
    pub correct: bool,
    /// What the question spent in all: under a probe rule, the probe included.
    pub compute: Cost,
}

/// The file shape of [`SweepRecord`]: the method's identity as [`MethodId`]'s fields.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFields {
    question: String,
    bin: usize,
    method: String,
    #[serde(default)]
    family: Option<Family>,
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    params: Params,
    budget: usize,
    #[serde(
        default,
        rename = "method-budget",
        skip_serializing_if = "Option::is_none"
    )]
    method_budget: Option<usize>,
    seed: u64,
    correct: bool,
    compute: Cost,
}

impl TryFrom<SweepFields> for SweepRecord {
    type Error = Error;

    fn try_from(f: SweepFields) -> Result<Self> {
        Ok(SweepRecord {
            method: MethodId::from_fields(&f.method, f.family, f.params)?,
            question: f.question,
            bin: f.bin,
            budget: f.budget,
            method_budget: f.method_budget,
            seed: f.seed,
            correct: f.correct,
            compute: f.compute,
        })
    }
}

impl From<SweepRecord> for SweepFields {
    fn from(r: SweepRecord) -> Self {
        SweepFields {
            method: r.method.label(),
            family: Some(r.method.family()),
            params: r.method.params().clone(),
            question: r.question,
            bin: r.bin,
            budget: r.budget,
            method_budget: r.method_budget,
            seed: r.seed,
            correct: r.correct,
            compute: r.compute,
        }
    }
}

impl SweepRecord {
    /// The setting's canonical name ([`MethodId::key`]).
    pub fn setting_key(&self) -> String {
        self.method.key()
    }

    /// The budget the setting itself ran with: `method_budget`, else `budget`.
    pub fn strategy_budget(&self) -> usize {
        self.method_budget.unwrap_or(self.budget)
    }

    /// Checks one record on its own; the message says what to fix.
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        if let Some(m) = self.method_budget
            && !(1..=self.budget).contains(&m)
        {
            return Err(format!(
                "`method-budget` is {m}; it is the part of `budget` ({}) the setting ran \
                 with, between 1 and the budget",
                self.budget
            ));
        }
        if self.bin == 0 {
            return Err("`bin` is 0; difficulty bins start at 1 (the easiest)".into());
        }
        if self.budget == 0 {
            return Err("`budget` is 0; budgets are generations, at least 1".into());
        }
        if !(self.compute.flops.is_finite() && self.compute.flops >= 0.0) {
            return Err(format!(
                "`compute.flops` is {}; use a finite, non-negative number",
                self.compute.flops
            ));
        }
        Ok(())
    }
}

/// A checked set of sweep records.
///
/// Every record is valid on its own, each question keeps one bin throughout, and no
/// (question, setting, budget, seed) appears twice.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sweep {
    records: Vec<SweepRecord>,
}

impl Sweep {
    /// Checks `records`; an error names the offending record by its index (0-based)
    /// and, for conflicts, the other one.
    pub fn new(records: Vec<SweepRecord>) -> Result<Self> {
        check_all(&records, |i| format!("sweep record {i}"))?;
        Ok(Sweep { records })
    }

    pub fn records(&self) -> &[SweepRecord] {
        &self.records
    }

    pub fn into_records(self) -> Vec<SweepRecord> {
        self.records
    }

    /// Reads a sweep from a JSON Lines file, one [`SweepRecord`] per line (blank lines
    /// are skipped). A malformed, invalid or conflicting line fails with `path:line`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let parsed: Vec<ttc_jsonl::Line<SweepRecord>> =
            ttc_jsonl::read(path).map_err(|e| match e {
                ttc_jsonl::JsonlError::Io { source, .. } => Error::io(path, source),
                ttc_jsonl::JsonlError::Line { bad, .. } => Error::invalid(
                    format!("sweep line {}:{}", path.display(), bad.line),
                    format!(
                        "{}{}; fix or remove this line (each line is one JSON object with \
                         question, bin, method, family and params (optional), budget, seed, \
                         correct and compute {{generations, tokens, flops}})",
                        bad.column
                            .map_or(String::new(), |c| format!("column {c}: ")),
                        bad.message
                    ),
                ),
            })?;
        let lines: Vec<usize> = parsed.iter().map(|l| l.number).collect();
        let records: Vec<SweepRecord> = parsed.into_iter().map(|l| l.value).collect();
        check_all(&records, |i| {
            format!("sweep line {}:{}", path.display(), lines[i])
        })?;
        Ok(Sweep { records })
    }

    /// Writes the sweep as JSON Lines (creating parent folders, replacing the file).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut out = BufWriter::new(file);
        for record in &self.records {
            let line = serde_json::to_string(record).map_err(|e| {
                Error::invalid(
                    format!("sweep record for {}", path.display()),
                    e.to_string(),
                )
            })?;
            writeln!(out, "{line}").map_err(|e| Error::io(path, e))?;
        }
        out.flush().map_err(|e| Error::io(path, e))
    }

    /// Accuracy against budget of one setting over all questions (mean over questions
    /// of the mean over seeds), e.g. the best-of-N baseline for [`crate::efficiency`].
    /// Fails when the setting is not in the sweep.
    pub fn curve(&self, setting: &MethodId) -> Result<crate::Curve> {
        let key = setting.key();
        // budget -> question -> (correct, runs)
        let mut per: BTreeMap<usize, BTreeMap<&str, (usize, usize)>> = BTreeMap::new();
        for r in self.records.iter().filter(|r| r.setting_key() == key) {
            let e = per
                .entry(r.budget)
                .or_default()
                .entry(r.question.as_str())
                .or_default();
            e.0 += usize::from(r.correct);
            e.1 += 1;
        }
        if per.is_empty() {
            return Err(Error::invalid(
                "baseline setting",
                format!("`{key}` has no records in the sweep; pick one of its settings"),
            ));
        }
        let points = per
            .into_iter()
            .map(|(budget, qs)| {
                let acc =
                    qs.values().map(|(c, n)| *c as f64 / *n as f64).sum::<f64>() / qs.len() as f64;
                (budget, acc)
            })
            .collect();
        crate::Curve::new(points)
    }
}

fn check_all(records: &[SweepRecord], name: impl Fn(usize) -> String) -> Result<()> {
    let mut bins: HashMap<&str, (usize, usize)> = HashMap::new();
    let mut runs: HashMap<(&str, String, usize, u64), usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        r.check().map_err(|m| Error::invalid(name(i), m))?;
        let (bin, first) = *bins.entry(r.question.as_str()).or_insert((r.bin, i));
        if bin != r.bin {
            return Err(Error::invalid(
                name(i),
                format!(
                    "question `{}` is in bin {} here but in bin {} at {}; a question has one \
                     difficulty bin throughout the sweep",
                    r.question,
                    r.bin,
                    bin,
                    name(first)
                ),
            ));
        }
        let key = (r.question.as_str(), r.setting_key(), r.budget, r.seed);
        if let Some(first) = runs.insert(key, i) {
            return Err(Error::invalid(
                name(i),
                format!(
                    "question `{}`, setting `{}`, budget {}, seed {} was already recorded at {}; \
                     remove the duplicate (or give the repeat its own seed)",
                    r.question,
                    r.setting_key(),
                    r.budget,
                    r.seed,
                    name(first)
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(q: &str, bin: usize, method: &str, budget: usize, seed: u64) -> SweepRecord {
        SweepRecord {
            question: q.into(),
            bin,
            method: MethodId::new(method.parse().unwrap()),
            budget,
            method_budget: None,
            seed,
            correct: true,
            compute: Cost::default(),
        }
    }

    #[test]
    fn cost_from_compute_takes_generations_generated_tokens_and_all_flops() {
        let c = Compute {
            generations: 16,
            generated_tokens: 900,
            generator_processed_tokens: 1200,
            generator_flops: 3.0e9,
            verifier_flops: 1.0e9,
            ..Compute::default()
        };
        assert_eq!(
            Cost::from(&c),
            Cost {
                generations: 16,
                tokens: 900,
                flops: 4.0e9
            }
        );
    }

    #[test]
    fn bad_records_are_named() {
        let err = Sweep::new(vec![record("a", 0, "majority", 1, 0)]).unwrap_err();
        assert!(
            err.to_string().contains("sweep record 0: `bin` is 0"),
            "{err}"
        );
        let err = Sweep::new(vec![record("a", 1, "majority", 0, 0)]).unwrap_err();
        assert!(err.to_string().contains("`budget` is 0"), "{err}");
        let mut r = record("a", 1, "majority", 1, 0);
        r.compute.flops = f64::NAN;
        let err = Sweep::new(vec![r]).unwrap_err();
        assert!(err.to_string().contains("`compute.flops` is NaN"), "{err}");
    }

    #[test]
    fn conflicts_name_both_records() {
        let err = Sweep::new(vec![
            record("a", 1, "majority", 4, 0),
            record("a", 2, "beam-m4", 4, 0),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains(
                "sweep record 1: question `a` is in bin 2 here but in bin 1 at sweep record 0"
            ),
            "{err}"
        );
        let err = Sweep::new(vec![
            record("a", 1, "majority", 4, 0),
            record("a", 1, "majority", 4, 1),
            record("a", 1, "majority", 4, 0),
        ])
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("seed 0 was already recorded at sweep record 0"),
            "{err}"
        );
    }

    #[test]
    fn curve_averages_seeds_then_questions() {
        let mut records = vec![];
        // q1 at budget 4: 1 of 2 seeds correct; q2: 2 of 2. Mean over questions: 0.75.
        for (q, seed, ok) in [
            ("q1", 0, true),
            ("q1", 1, false),
            ("q2", 0, true),
            ("q2", 1, true),
        ] {
            let mut r = record(q, 1, "best-of-n-weighted", 4, seed);
            r.correct = ok;
            records.push(r);
        }
        let mut r = record("q1", 1, "best-of-n-weighted", 16, 0);
        r.correct = false;
        records.push(r);
        records.push(record("q2", 1, "beam-m4", 4, 0));
        let sweep = Sweep::new(records).unwrap();
        let c = sweep
            .curve(&MethodId::new("best-of-n-weighted".parse().unwrap()))
            .unwrap();
        assert_eq!(c.points(), &[(4, 0.75), (16, 0.0)]);
        let err = sweep
            .curve(&MethodId::new("dvts-m4".parse().unwrap()))
            .unwrap_err();
        assert!(
            err.to_string().contains("`dvts-m4` has no records"),
            "{err}"
        );
    }
}
