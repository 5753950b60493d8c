//! The policy file: what was fitted, on what, and how to apply it.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};
use ttc_core::{Error, Family, MethodId, MethodSpec, Params, Result};
use ttc_difficulty::{BinEdges, BudgetSplit, ProbeSettings};

use crate::fit::Fit;
use crate::probe_rule::probe_split;

/// The policy file format this crate writes.
///
/// - 3: a `[probe]` table (the probe's `samples` and `charge`) and each choice's
///   `method-budget`: the policy was fitted under the probe rule
///   ([`crate::probe_rule`]), cells keyed by the total budget N;
/// - 2: each choice's method is a [`MethodId`] (`method`, `family`, `params`), and
///   methods are checked when the file is read;
/// - 1: the same without `family`. Read as well: the family is the method's own
///   (format 1 policies never chose a diagnostic run), the methods checked the same.
///
/// Formats 1 and 2 were fitted with the probe free, and hold neither `[probe]` nor
/// `method-budget`. They load with the documented defaults: `[probe] samples = 4,
/// charge = "within-budget"` (the probe `ttc solve` used to draw) and each choice's
/// `method-budget` = its `budget`, so they are applied under the same rule as a
/// format-3 file (a non-reusing choice then runs at N - 4). Their edges were learned
/// on `ttc eval`'s difficulty samples (16 by default), not on 4-sample means:
/// refit (`ttc eval`) to get a policy whose probe matches its edges.
///
/// Readers older than a format refuse its files by their `format` line.
pub const POLICY_FORMAT: u32 = 3;

/// The formats [`Policy::read`] accepts.
const READS: [u32; 3] = [1, 2, 3];

/// Where a policy came from. The caller fills every field; nothing is read from git.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Provenance {
    /// Role to model, e.g. `generator = "Qwen2.5-0.5B-Instruct"`, `verifier = "..."`.
    pub models: BTreeMap<String, String>,
    /// The questions the sweep ran on, e.g. `MATH-500 test`.
    pub dataset: String,
    /// The sweep file the policy was fitted on.
    pub sweep: String,
    /// When it was fitted (free text, e.g. an ISO date).
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// How the policy was fitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FitSummary {
    /// Cross-validation folds (always 2, as in the paper).
    pub folds: u32,
    /// Seed of the question hash that split the folds.
    pub fold_seed: u64,
    /// Sweep records and distinct questions fitted on.
    pub records: usize,
    pub questions: usize,
}

/// The setting chosen for one (bin, budget).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ChoiceFields", into = "ChoiceFields")]
pub struct Choice {
    pub bin: usize,
    pub budget: usize,
    /// The setting: method, verifier, family, params.
    pub method: MethodId,
    /// The budget the setting ran with in the sweep, out of `budget` (the probe took
    /// the rest or lent its samples: [`crate::probe_rule`]).
    pub method_budget: usize,
    /// Accuracy on all the cell's questions (in-sample).
    pub accuracy: f64,
    /// Two-fold cross-validated accuracy, when both folds had questions.
    pub held_out_accuracy: Option<f64>,
    pub questions: usize,
    pub mean_generations: f64,
    pub mean_flops: f64,
}

/// A choice's `method` text, parsed where it is read so that a mistyped method is
/// reported at its own line and column.
struct Label(MethodSpec, Option<String>);

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let (method, verifier) = MethodId::parse_label(&text).map_err(serde::de::Error::custom)?;
        Ok(Label(method, verifier))
    }
}

impl Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match &self.1 {
            Some(v) => s.collect_str(&format_args!("{}@{v}", self.0)),
            None => s.collect_str(&self.0),
        }
    }
}

/// The file shape of [`Choice`]: the method's identity as [`MethodId`]'s fields.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ChoiceFields {
    bin: usize,
    budget: usize,
    method: Label,
    #[serde(default)]
    family: Option<Family>,
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    params: Params,
    #[serde(default)]
    method_budget: Option<usize>,
    accuracy: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    held_out_accuracy: Option<f64>,
    questions: usize,
    mean_generations: f64,
    mean_flops: f64,
}

impl TryFrom<ChoiceFields> for Choice {
    type Error = Error;

    fn try_from(f: ChoiceFields) -> Result<Self> {
        let Label(method, verifier) = f.method;
        let label = match &verifier {
            Some(v) => format!("{method}@{v}"),
            None => method.to_string(),
        };
        Ok(Choice {
            method: MethodId::from_fields(&label, f.family, f.params)?,
            bin: f.bin,
            budget: f.budget,
            method_budget: f.method_budget.unwrap_or(f.budget),
            accuracy: f.accuracy,
            held_out_accuracy: f.held_out_accuracy,
            questions: f.questions,
            mean_generations: f.mean_generations,
            mean_flops: f.mean_flops,
        })
    }
}

impl From<Choice> for ChoiceFields {
    fn from(c: Choice) -> Self {
        ChoiceFields {
            method: Label(c.method.method(), c.method.verifier().map(str::to_string)),
            family: Some(c.method.family()),
            params: c.method.params().clone(),
            method_budget: Some(c.method_budget),
            bin: c.bin,
            budget: c.budget,
            accuracy: c.accuracy,
            held_out_accuracy: c.held_out_accuracy,
            questions: c.questions,
            mean_generations: c.mean_generations,
            mean_flops: c.mean_flops,
        }
    }
}

/// A compute-optimal policy: for each difficulty bin and budget, the setting to run.
///
/// In TOML (keys kebab-case, unknown keys rejected; a mistyped method, bad edges or
/// a choice outside the bins is an error naming the file and line):
///
/// ```toml
/// format = 3
///
/// [provenance]
/// dataset = "MATH-500 test"
/// sweep = "runs/sweep.jsonl"
/// created = "2025-01-31"
///
/// [provenance.models]
/// generator = "Qwen2.5-0.5B-Instruct"
/// verifier = "prm-0.5b"
///
/// [difficulty]
/// statistic = "mean-verifier-score"
/// bins = 5
/// edges = [0.81, 0.66, 0.43, 0.2]
///
/// [probe]
/// samples = 4
/// charge = "within-budget"
///
/// [fit]
/// folds = 2
/// fold-seed = 0
/// records = 12000
/// questions = 500
///
/// [[choice]]
/// bin = 1
/// budget = 4
/// method = "best-of-n-weighted"
/// family = "best-of-n"
/// method-budget = 4
/// accuracy = 0.92
/// held-out-accuracy = 0.9
/// questions = 100
/// mean-generations = 4.0
/// mean-flops = 1.2e12
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Policy {
    pub format: u32,
    pub provenance: Provenance,
    /// The edges the sweep's bins came from (`ttc_difficulty`'s own type and shape).
    pub difficulty: BinEdges,
    /// The probe the policy was fitted with: its bins are the mean score of this
    /// many samples, paid as `charge` says. Formats 1 and 2 have none: the default.
    #[serde(default)]
    pub probe: ProbeSettings,
    pub fit: FitSummary,
    /// Ordered by bin, then budget.
    #[serde(rename = "choice")]
    pub choices: Vec<Choice>,
}

/// The result of applying a policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lookup<'a> {
    pub choice: &'a Choice,
    /// The budget asked for; `choice.budget` is the largest fitted budget not above it.
    pub requested: usize,
}

impl Lookup<'_> {
    /// Whether the policy was fitted at exactly the requested budget.
    pub fn exact(&self) -> bool {
        self.choice.budget == self.requested
    }
}

/// A policy applied to one question: the choice and how the budget is split between
/// the probe and the chosen setting ([`crate::probe_rule::probe_split`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Applied<'a> {
    pub lookup: Lookup<'a>,
    pub split: BudgetSplit,
}

impl Fit {
    /// Writes the fit down as a policy: every cell's best setting, with the
    /// difficulty edges the sweep's bins came from and the caller's provenance.
    /// `probe` is the probe rule the sweep was put under ([`crate::under_probe`])
    /// before fitting; its `samples` must be those the bins' edges were learned on.
    pub fn to_policy(
        &self,
        provenance: Provenance,
        difficulty: BinEdges,
        probe: ProbeSettings,
    ) -> Result<Policy> {
        let choices = self
            .cells
            .iter()
            .map(|c| {
                let best = c.best();
                Choice {
                    bin: c.bin,
                    budget: c.budget,
                    method: best.setting.clone(),
                    method_budget: best.method_budget.unwrap_or(c.budget),
                    accuracy: best.accuracy,
                    held_out_accuracy: c.held_out_accuracy,
                    questions: c.questions,
                    mean_generations: best.mean_cost.generations,
                    mean_flops: best.mean_cost.flops,
                }
            })
            .collect();
        let policy = Policy {
            format: POLICY_FORMAT,
            provenance,
            difficulty,
            probe,
            fit: FitSummary {
                folds: 2,
                fold_seed: self.fold_seed,
                records: self.records,
                questions: self.questions,
            },
            choices,
        };
        policy
            .check()
            .map_err(|(_, m)| Error::invalid("policy", m))?;
        Ok(policy)
    }
}

impl Policy {
    /// The setting for a question of difficulty `bin` at `budget`: the choice at the
    /// largest fitted budget not above `budget`. Fails, saying what is available,
    /// when the bin is outside the policy or `budget` is below every fitted budget.
    pub fn choose(&self, bin: usize, budget: usize) -> Result<Lookup<'_>> {
        if !(1..=self.difficulty.bins()).contains(&bin) {
            return Err(Error::invalid(
                "difficulty bin",
                format!(
                    "bin {bin} is outside this policy's bins 1..={}",
                    self.difficulty.bins()
                ),
            ));
        }
        let mut fitted = self.choices.iter().filter(|c| c.bin == bin).peekable();
        if fitted.peek().is_none() {
            return Err(Error::invalid(
                "difficulty bin",
                format!("the policy has no choice for bin {bin}; the sweep had no question in it"),
            ));
        }
        let mut smallest = usize::MAX;
        let mut best: Option<&Choice> = None;
        for c in fitted {
            smallest = smallest.min(c.budget);
            if c.budget <= budget && best.is_none_or(|b| c.budget > b.budget) {
                best = Some(c);
            }
        }
        let choice = best.ok_or_else(|| {
            Error::invalid(
                "budget",
                format!(
                    "N = {budget} is below the smallest budget the policy was fitted at for \
                     bin {bin} ({smallest}); give at least {smallest} generations or refit with \
                     smaller budgets"
                ),
            )
        })?;
        Ok(Lookup {
            choice,
            requested: budget,
        })
    }

    /// The choice for a question of difficulty `bin` at total budget `budget` (the
    /// cell at the largest fitted budget not above it, [`Policy::choose`]) and the
    /// budget split under the probe rule with a probe of `probe_samples` (normally
    /// the policy's own, [`Policy::probe`]): what `ttc solve --policy` runs, and at
    /// the cell's own budget exactly what the fit scored.
    pub fn apply(&self, bin: usize, budget: usize, probe_samples: usize) -> Result<Applied<'_>> {
        let lookup = self.choose(bin, budget)?;
        let c = lookup.choice;
        let probe = ProbeSettings {
            samples: probe_samples,
            ..self.probe
        };
        let split = probe_split(&probe, c.method.method(), budget, c.budget, c.method_budget)?;
        Ok(Applied { lookup, split })
    }

    /// Bins `value` (the difficulty statistic, e.g. a probe's mean verifier score)
    /// with the policy's edges, then [`Policy::choose`]s.
    pub fn choose_for_value(&self, value: f64, budget: usize) -> Result<Lookup<'_>> {
        self.choose(self.difficulty.bin(value)?, budget)
    }

    /// The fitted budgets, ascending.
    pub fn budgets(&self) -> Vec<usize> {
        let mut b: Vec<usize> = self.choices.iter().map(|c| c.budget).collect();
        b.sort_unstable();
        b.dedup();
        b
    }

    /// The policy as TOML, after a comment that says what the file is.
    pub fn to_toml(&self) -> Result<String> {
        self.check().map_err(|(_, m)| Error::invalid("policy", m))?;
        let body = toml::to_string(self)
            .map_err(|e| Error::invalid("policy", format!("cannot write it as TOML: {e}")))?;
        Ok(format!(
            "# ttc compute-optimal policy (docs/method.md §5): for each difficulty bin (1 = easiest)\n\
             # and budget N, the setting with the highest accuracy on the sweep, with the\n\
             # [probe] paid from N (best-of-N settings reuse its samples, the others run at\n\
             # method-budget). At inference, use the choice at the largest budget <= N.\n\
             # held-out-accuracy is two-fold cross-validated over questions.\n\n{body}"
        ))
    }

    /// Reads a policy from TOML text; `origin` names it in errors (a path or `<memory>`).
    /// The format is checked first, so a file of another format is refused by its
    /// `format` line rather than by the first key this reader does not know.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        #[derive(Deserialize)]
        struct FormatOnly {
            format: u32,
        }
        let refused = |m: String| Error::invalid(format!("policy file {}", origin.display()), m);
        match toml::from_str::<FormatOnly>(text) {
            Ok(FormatOnly { format }) if !READS.contains(&format) => {
                return Err(refused(format!(
                    "`format = {format}` is not supported (this ttc reads formats 1 to \
                     {POLICY_FORMAT}); refit the policy with this ttc (`ttc eval` writes \
                     policy.toml into the run folder) or use the ttc that wrote it"
                )));
            }
            _ => {}
        }
        let policy: Policy = toml::from_str(text).map_err(|e| {
            Error::invalid(
                format!("policy file {}", origin.display()),
                format!("{e}\nfix the file or refit the policy"),
            )
        })?;
        policy.check().map_err(|(choice, m)| {
            let at = choice
                .and_then(|i| choice_line(text, i))
                .map(|line| format!("{}:{line}", origin.display()))
                .unwrap_or_else(|| origin.display().to_string());
            Error::invalid(format!("policy file {at}"), m)
        })?;
        Ok(policy)
    }

    /// Reads a policy file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Policy::from_toml(&text, path)
    }

    /// Writes the policy file (creating parent folders, replacing the file).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let text = self.to_toml()?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        std::fs::write(path, text).map_err(|e| Error::io(path, e))
    }

    /// Checks the policy as a whole; on failure, the index of the offending choice
    /// (if one) and what to fix.
    fn check(&self) -> std::result::Result<(), (Option<usize>, String)> {
        if !READS.contains(&self.format) {
            return Err((
                None,
                format!(
                    "`format = {}` is not supported (this ttc reads formats 1 to \
                     {POLICY_FORMAT}); refit the policy",
                    self.format
                ),
            ));
        }
        let p = &self.provenance;
        for (name, value) in [
            ("dataset", &p.dataset),
            ("sweep", &p.sweep),
            ("created", &p.created),
        ] {
            if value.trim().is_empty() {
                return Err((
                    None,
                    format!("`provenance.{name}` is empty; say where the policy came from"),
                ));
            }
        }
        if p.models.is_empty() {
            return Err((
                None,
                "`provenance.models` is empty; name the models by role, e.g. generator and verifier".into(),
            ));
        }
        if self.probe.samples == 0 {
            return Err((
                None,
                "`probe.samples = 0`; the probe needs at least one sample".into(),
            ));
        }
        if self.fit.folds != 2 {
            return Err((
                None,
                format!(
                    "`fit.folds = {}`; policies are fitted with 2 folds",
                    self.fit.folds
                ),
            ));
        }
        let mut seen = HashSet::new();
        for (i, c) in self.choices.iter().enumerate() {
            let at = |m: String| {
                (
                    Some(i),
                    format!("choice {} (bin {}, budget {}): {m}", i + 1, c.bin, c.budget),
                )
            };
            if !(1..=self.difficulty.bins()).contains(&c.bin) {
                return Err(at(format!(
                    "bin {} is outside the difficulty bins 1..={}",
                    c.bin,
                    self.difficulty.bins()
                )));
            }
            if c.budget == 0 {
                return Err(at("`budget` is 0; budgets start at 1".into()));
            }
            if !seen.insert((c.bin, c.budget)) {
                return Err(at(
                    "a second choice for this bin and budget; keep one".into()
                ));
            }
            if !(1..=c.budget).contains(&c.method_budget) {
                return Err(at(format!(
                    "`method-budget = {}` is not between 1 and the budget",
                    c.method_budget
                )));
            }
            if c.method.family() == Family::Diagnostic {
                return Err(at(format!(
                    "`{}` is a diagnostic run; a policy chooses only deployable settings",
                    c.method.label()
                )));
            }
            for (name, v) in [
                ("accuracy", Some(c.accuracy)),
                ("held-out-accuracy", c.held_out_accuracy),
            ] {
                if let Some(v) = v
                    && !(0.0..=1.0).contains(&v)
                {
                    return Err(at(format!("`{name} = {v}` is not in [0, 1]")));
                }
            }
            for (name, v) in [
                ("mean-generations", c.mean_generations),
                ("mean-flops", c.mean_flops),
            ] {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(at(format!(
                        "`{name} = {v}`; use a finite, non-negative number"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The 1-based line of the `index`-th `[[choice]]` header in `text`.
fn choice_line(text: &str, index: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[choice]]")
        .nth(index)
        .map(|(n, _)| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ttc_core::Param;
    use ttc_difficulty::Statistic;

    fn choice(bin: usize, budget: usize, method: &str) -> Choice {
        Choice {
            bin,
            budget,
            method: MethodId::new(method.parse().unwrap()),
            method_budget: budget,
            accuracy: 0.5,
            held_out_accuracy: Some(0.4),
            questions: 10,
            mean_generations: budget as f64,
            mean_flops: 1e9,
        }
    }

    fn policy() -> Policy {
        Policy {
            format: POLICY_FORMAT,
            provenance: Provenance {
                models: BTreeMap::from([("generator".to_string(), "tiny-llama".to_string())]),
                dataset: "demo test".into(),
                sweep: "runs/sweep.jsonl".into(),
                created: "2025-01-31".into(),
                notes: None,
            },
            difficulty: BinEdges::new(Statistic::MeanVerifierScore, vec![0.7, 0.3]).unwrap(),
            probe: ProbeSettings::default(),
            fit: FitSummary {
                folds: 2,
                fold_seed: 0,
                records: 60,
                questions: 10,
            },
            choices: vec![
                choice(1, 4, "best-of-n-weighted"),
                choice(1, 16, "majority"),
                choice(1, 64, "best-of-n-weighted"),
                choice(2, 4, "beam-m4"),
                choice(2, 16, "beam-m4"),
                choice(3, 16, "dvts-m4"),
            ],
        }
    }

    #[test]
    fn choose_takes_the_largest_fitted_budget_not_above() {
        let p = policy();
        let l = p.choose(1, 16).unwrap();
        assert_eq!(
            (l.choice.method.key(), l.choice.budget, l.exact()),
            ("majority".to_string(), 16, true)
        );
        let l = p.choose(1, 63).unwrap();
        assert_eq!((l.choice.budget, l.exact(), l.requested), (16, false, 63));
        let l = p.choose(1, 1000).unwrap();
        assert_eq!(l.choice.budget, 64);
        assert_eq!(p.choose(2, 100).unwrap().choice.budget, 16);
        assert_eq!(p.budgets(), vec![4, 16, 64]);
    }

    #[test]
    fn choose_explains_what_is_missing() {
        let p = policy();
        let err = p.choose(3, 8).unwrap_err();
        assert!(
            err.to_string().contains(
                "N = 8 is below the smallest budget the policy was fitted at for bin 3 (16)"
            ),
            "{err}"
        );
        let err = p.choose(4, 8).unwrap_err();
        assert!(
            err.to_string()
                .contains("bin 4 is outside this policy's bins 1..=3"),
            "{err}"
        );
        let err = p.choose(0, 8).unwrap_err();
        assert!(err.to_string().contains("bin 0 is outside"), "{err}");
        let mut p = policy();
        p.choices.retain(|c| c.bin != 2);
        let err = p.choose(2, 8).unwrap_err();
        assert!(err.to_string().contains("no choice for bin 2"), "{err}");
    }

    #[test]
    fn choose_for_value_bins_with_the_edges() {
        let p = policy();
        assert_eq!(
            p.choose_for_value(0.9, 16).unwrap().choice.method.key(),
            "majority"
        );
        assert_eq!(p.choose_for_value(0.7, 16).unwrap().choice.bin, 1);
        assert_eq!(
            p.choose_for_value(0.5, 16).unwrap().choice.method.key(),
            "beam-m4"
        );
        assert_eq!(
            p.choose_for_value(0.1, 16).unwrap().choice.method.key(),
            "dvts-m4"
        );
        assert!(p.choose_for_value(f64::NAN, 16).is_err());
    }

    #[test]
    fn toml_round_trips_exactly() {
        let mut p = policy();
        p.choices[0].method = p.choices[0]
            .method
            .clone()
            .with_params(Params::from([("temperature".into(), Param::Float(0.8))]))
            .unwrap();
        p.choices[1].held_out_accuracy = None;
        p.provenance.notes = Some("first fit".into());
        let text = p.to_toml().unwrap();
        assert!(text.starts_with("# ttc compute-optimal policy"), "{text}");
        assert_eq!(Policy::from_toml(&text, Path::new("p.toml")).unwrap(), p);
    }

    #[test]
    fn validation_errors_name_the_file_and_line() {
        let text = policy().to_toml().unwrap();
        let line_of =
            |text: &str, needle: &str| 1 + text.lines().position(|l| l == needle).unwrap();
        // A mistyped method: the line of the method itself, and the grammar.
        let bad = text.replacen("method = \"beam-m4\"", "method = \"beam-4\"", 1);
        let err = Policy::from_toml(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        let line = line_of(&bad, "method = \"beam-4\"");
        assert!(err.contains("policy file p.toml"), "{err}");
        assert!(err.contains(&format!("line {line}")), "{err}");
        assert!(err.contains("\"beam-4\": use greedy, majority"), "{err}");
        // A family that is not the method's.
        let bad = text.replacen("family = \"search\"", "family = \"revisions\"", 1);
        let err = Policy::from_toml(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not its family `search`"), "{err}");
        // Edges that increase: the `[difficulty]` table's line.
        let bad = text.replacen("edges = [0.7, 0.3]", "edges = [0.3, 0.7]", 1);
        let err = Policy::from_toml(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("edges must not increase"), "{err}");
        assert!(err.contains("line "), "{err}");
        // A bin outside the edges' bins: the line of its `[[choice]]`.
        let bad = text.replacen("bin = 3", "bin = 4", 1);
        let err = Policy::from_toml(&bad, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        let header = choice_line(&bad, 5).unwrap();
        assert!(
            err.contains(&format!(
                "policy file p.toml:{header}: choice 6 (bin 4, budget 16): bin 4 is outside \
                 the difficulty bins 1..=3"
            )),
            "{err}"
        );
    }

    #[test]
    fn whole_file_checks() {
        let mut p = policy();
        p.format = 4;
        assert!(
            p.to_toml()
                .unwrap_err()
                .to_string()
                .contains("`format = 4` is not supported")
        );
        let mut p = policy();
        p.provenance.dataset = " ".into();
        assert!(
            p.to_toml()
                .unwrap_err()
                .to_string()
                .contains("`provenance.dataset` is empty")
        );
        let mut p = policy();
        p.provenance.models.clear();
        assert!(
            p.to_toml()
                .unwrap_err()
                .to_string()
                .contains("`provenance.models` is empty")
        );
        let mut p = policy();
        p.choices[0].method = MethodId::new(p.choices[0].method.method())
            .diagnostic("demo-step-checker")
            .unwrap();
        assert!(
            p.to_toml()
                .unwrap_err()
                .to_string()
                .contains("is a diagnostic run")
        );
        let mut p = policy();
        p.choices.push(choice(1, 4, "beam-m4"));
        assert!(
            p.to_toml()
                .unwrap_err()
                .to_string()
                .contains("a second choice for this bin and budget")
        );
        let mut p = policy();
        p.choices[2].accuracy = 1.5;
        assert!(
            p.to_toml()
                .unwrap_err()
                .to_string()
                .contains("choice 3 (bin 1, budget 64): `accuracy = 1.5`")
        );
        let mut p = policy();
        p.choices[5].bin = 4;
        assert!(
            p.to_toml()
                .unwrap_err()
                .to_string()
                .contains("bin 4 is outside the difficulty bins 1..=3")
        );
    }

    #[test]
    fn older_formats_load_with_the_documented_probe_and_method_budgets() {
        // The demo policy as an earlier release shipped it, format 1: no [probe], no
        // method-budget.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/format-1-policy.toml");
        let p = Policy::read(&path).unwrap();
        assert_eq!(p.format, 1);
        assert_eq!(p.probe, ProbeSettings::default());
        assert_eq!(p.probe.samples, 4);
        assert!(p.choices.iter().all(|c| c.method_budget == c.budget));
        // At N = 16 the N = 16 cell is used (not the N = 4 one), and a search choice
        // runs on what the probe left.
        for bin in 1..=p.difficulty.bins() {
            let a = p.apply(bin, 16, 4).unwrap();
            assert_eq!(a.lookup.choice.budget, 16);
            let reuse = a.lookup.choice.method.method().reuses_probe_samples();
            let want = if reuse { (16, 4) } else { (12, 0) };
            assert_eq!((a.split.strategy_budget, a.split.reused), want);
            assert_eq!(a.split.total, 16);
        }
    }

    #[test]
    fn apply_splits_the_budget_as_the_fit_did() {
        let mut p = policy();
        p.probe = ProbeSettings {
            samples: 2,
            ..ProbeSettings::default()
        };
        // Fitted at 16 with beam at 8 (14 was not swept).
        p.choices[4].method_budget = 8;
        let a = p.apply(2, 16, 2).unwrap();
        assert_eq!(
            (
                a.lookup.choice.method.key(),
                a.split.strategy_budget,
                a.split.total
            ),
            ("beam-m4".to_string(), 8, 10)
        );
        // Majority takes the probe's samples as its first two.
        let a = p.apply(1, 16, 2).unwrap();
        assert_eq!(
            (
                a.split.strategy_budget,
                a.split.reused,
                a.split.new,
                a.split.total
            ),
            (16, 2, 14, 16)
        );
        // A method-budget above its budget is refused.
        let mut p = policy();
        p.choices[0].method_budget = 5;
        let err = p.to_toml().unwrap_err().to_string();
        assert!(
            err.contains("`method-budget = 5` is not between 1 and the budget"),
            "{err}"
        );
        // Format 3 writes [probe] and method-budget, and reads them back.
        let mut p = policy();
        p.probe.samples = 8;
        let text = p.to_toml().unwrap();
        assert!(
            text.contains("[probe]\nsamples = 8\ncharge = \"within-budget\""),
            "{text}"
        );
        assert!(text.contains("method-budget = 16"), "{text}");
        assert_eq!(Policy::from_toml(&text, Path::new("p.toml")).unwrap(), p);
    }
}
