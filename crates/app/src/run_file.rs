//! The TOML run file: which models, how they run, how to search. Parsed here with
//! unknown keys rejected and resolved into plain settings before any library sees it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use ttc_core::{
    ExecutionProvider, FallbackPolicy, MethodSpec, RuntimeSettings, SamplingParams,
    ScoreAggregation, Selector, ShapeProfile,
};
use ttc_math_grade::{AnswerSpec, ExtractRules, GradeMode};
use ttc_prm_verifier::AdapterConfig;
use ttc_reviser::ReviserSettings;
use ttc_search::SearchSettings;

use crate::error::{Error, Result, bail};

/// A whole run file. Every table is optional; commands say which they need.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RunFile {
    #[serde(default)]
    pub runtime: RuntimeSection,
    pub generator: Option<GeneratorSection>,
    pub verifier: Option<VerifierSection>,
    #[serde(default)]
    pub search: SearchSection,
    #[serde(default)]
    pub answers: AnswersSection,
    pub reviser: Option<ReviserSection>,
    /// Revision settings (layout, context, sampling); every key optional.
    #[serde(default)]
    pub revision: ReviserSettings,
    pub dataset: Option<DatasetSection>,
    pub sweep: Option<SweepSection>,
    /// Without it, no difficulty samples are drawn: no bins, no per-bin analysis,
    /// no policy.
    pub difficulty: Option<DifficultySection>,
    pub reference: Option<ReferenceSection>,
    pub diagnostic: Option<DiagnosticSection>,
    pub output: Option<OutputSection>,
}

/// The `[runtime]` table of a run file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuntimeSection {
    /// Path of libonnxruntime.so (relative paths are taken from the run file's folder).
    pub library: Option<PathBuf>,
    pub provider: Option<ExecutionProvider>,
    pub fallback: Option<FallbackPolicy>,
    pub device_id: Option<i32>,
    pub fp16: Option<bool>,
    pub engine_cache: Option<PathBuf>,
    pub threads: Option<usize>,
    /// TensorRT: `{ batch = [min, opt, max], length = [min, opt, max] }`.
    pub tensorrt_profile: Option<ShapeProfile>,
}

impl RuntimeSection {
    /// `over` (flags) over this table over the defaults.
    pub fn resolve(&self, over: &RuntimeSection) -> RuntimeSettings {
        let s = self.under(over);
        let d = RuntimeSettings::default();
        RuntimeSettings {
            library: s.library,
            provider: s.provider.unwrap_or(d.provider),
            fallback: s.fallback.unwrap_or(d.fallback),
            device_id: s.device_id.unwrap_or(d.device_id),
            fp16: s.fp16.unwrap_or(d.fp16),
            engine_cache: s.engine_cache,
            threads: s.threads,
            tensorrt_profile: s.tensorrt_profile,
        }
    }

    /// This table with each key `over` sets replaced by `over`'s.
    pub fn under(&self, over: &RuntimeSection) -> RuntimeSection {
        let (file, over) = (self.clone(), over.clone());
        RuntimeSection {
            library: over.library.or(file.library),
            provider: over.provider.or(file.provider),
            fallback: over.fallback.or(file.fallback),
            device_id: over.device_id.or(file.device_id),
            fp16: over.fp16.or(file.fp16),
            engine_cache: over.engine_cache.or(file.engine_cache),
            threads: over.threads.or(file.threads),
            tensorrt_profile: over.tensorrt_profile.or(file.tensorrt_profile),
        }
    }

    /// The `[runtime]` table of a file given beside a run file (`ttc eval RUN.toml
    /// --config cuda.toml`); an error when the file has any other table, which would
    /// otherwise be ignored.
    pub fn load_alone(path: &Path) -> Result<RuntimeSection> {
        let text = std::fs::read_to_string(path).map_err(|e| ttc_core::Error::io(path, e))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let others: Vec<String> = table
            .keys()
            .filter(|k| *k != "runtime")
            .map(|k| format!("[{k}]"))
            .collect();
        if !others.is_empty() {
            bail!(
                "{}: beside a run file, --config gives runtime settings only (its [runtime] \
                 table, over the run file's); it also has {}: move them into the run file, \
                 or give this file as the run file",
                path.display(),
                others.join(", ")
            );
        }
        Ok(RunFile::parse(&text, path)?.runtime)
    }
}

/// `[dataset]`: the questions of an evaluation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DatasetSection {
    /// JSONL with MATH-500 fields (problem, solution, answer, level, unique_id).
    pub path: Option<PathBuf>,
    /// Or a fixed split of the built-in demo world: `validation` or `test`.
    pub demo_split: Option<DemoSplit>,
    /// Only the first this many questions.
    pub limit: Option<usize>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DemoSplit {
    Validation,
    Test,
}

/// `[sweep]`: what to run on every question.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SweepSection {
    /// Method labels: majority, best-of-n-weighted, best-of-n-naive, beam-m4, beam-msqrt,
    /// lookahead-m4-k1, dvts-m4, revise-r4, revise-r1/4, ...
    pub methods: Vec<MethodSpec>,
    /// Budgets N in generations.
    pub budgets: Vec<usize>,
    /// Budgets for some of `methods` in place of `budgets`, keyed by the method's text
    /// as `methods` writes it: `method-budgets = { "majority" = [4, 16, 64, 256] }`.
    /// Best-of-N answers all its budgets from one run at the largest, so it can be
    /// taken further than search at little extra cost. Checked at load: every key is
    /// one of `methods` (not `greedy`, which runs at N = 1 alone), every list
    /// non-empty with positive budgets. `[diagnostic]` methods run at `budgets`.
    /// Every budget listed here runs, while `budgets` skips a revision ratio that
    /// has no exact split (ratio 4 at 12); listed, it takes the nearest (2 x 6).
    #[serde(default)]
    pub method_budgets: BTreeMap<String, Vec<usize>>,
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// How revision answers are chosen; default weighted with an ORM, else majority.
    pub revision_selector: Option<Selector>,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

impl SweepSection {
    /// The budgets `method` runs at: its `method-budgets` entry, else `budgets`;
    /// ascending, without repeats.
    pub fn budgets_for(&self, method: &MethodSpec) -> Vec<usize> {
        let mut out = self
            .listed_budgets(method)
            .map_or_else(|| self.budgets.clone(), <[usize]>::to_vec);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Whether `method-budgets` lists budgets for `method`: then it runs at each
    /// of them, even one it would skip in `budgets` (a revision ratio without an
    /// exact split there).
    pub fn lists_budgets_for(&self, method: &MethodSpec) -> bool {
        self.listed_budgets(method).is_some()
    }

    fn listed_budgets(&self, method: &MethodSpec) -> Option<&[usize]> {
        self.method_budgets
            .iter()
            .find(|(text, _)| text.parse::<MethodSpec>().is_ok_and(|m| m == *method))
            .map(|(_, b)| b.as_slice())
    }

    /// Every budget some method runs at, ascending.
    pub fn all_budgets(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .budgets
            .iter()
            .chain(self.method_budgets.values().flatten())
            .copied()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Checks `method-budgets` against `methods`; the message names the entry.
    fn validate(&self, path: &Path) -> Result<()> {
        for (text, budgets) in &self.method_budgets {
            let method: MethodSpec = text.parse().map_err(|e| {
                Error::Config(format!(
                    "{}: [sweep] method-budgets key {text:?}: {e}",
                    path.display()
                ))
            })?;
            if !self.methods.contains(&method) {
                bail!(
                    "{}: [sweep] method-budgets names {text:?}, which is not in `methods`; \
                     give budgets only for methods the sweep runs",
                    path.display()
                );
            }
            if method.fixed_budget().is_some() {
                bail!(
                    "{}: [sweep] method-budgets gives budgets for {text:?}, which always runs \
                     at N = {}; remove the entry",
                    path.display(),
                    method.fixed_budget().unwrap_or(1)
                );
            }
            if budgets.is_empty() || budgets.contains(&0) {
                bail!(
                    "{}: [sweep] method-budgets {text:?} = {budgets:?}: give a non-empty list \
                     of positive budgets (generations)",
                    path.display()
                );
            }
        }
        Ok(())
    }
}

/// `[difficulty]`: samples per question for oracle (pass@1) and predicted (mean
/// verifier score) difficulty bins. The table is opt-in (each sample is a full
/// generation, 16 per question by default once the table is there); `samples = 0`
/// turns it off as leaving the table out does.
///
/// `probe-samples` (default 4, at most `samples`) is the inference-time probe the
/// policy is fitted for (docs/method.md §5): predicted bins are the mean score of a
/// question's first `probe-samples` samples, the probe is paid from the budget N,
/// and best-of-N settings reuse its samples. The fitted policy stores it, and
/// `ttc solve --policy` draws that many probe samples by default.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct DifficultySection {
    pub samples: usize,
    pub bins: usize,
    pub probe_samples: usize,
}

impl RunFile {
    /// Difficulty samples per question: 0 without a `[difficulty]` table.
    pub fn difficulty_samples(&self) -> usize {
        self.difficulty.as_ref().map_or(0, |d| d.samples)
    }
}

impl Default for DifficultySection {
    fn default() -> Self {
        DifficultySection {
            samples: 16,
            bins: 5,
            probe_samples: 4,
        }
    }
}

/// `[reference]`: a larger generator answering greedily (the FLOPs-matched comparison).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReferenceSection {
    pub model: PathBuf,
    pub max_batch: Option<usize>,
}

/// `[output]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OutputSection {
    /// The run folder (relative to the run file): results, report and policy go here.
    pub dir: PathBuf,
}

/// `[reviser]`: the revision model and, optionally, the ORM that scores its attempts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReviserSection {
    pub model: PathBuf,
    pub max_batch: Option<usize>,
    pub verifier: Option<VerifierSection>,
}

/// `[generator]`: the policy model and its prompt.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GeneratorSection {
    /// Exported model folder (relative to the run file).
    pub model: PathBuf,
    /// Prompt with a `{question}` placeholder.
    #[serde(default = "default_prompt")]
    pub prompt_template: String,
    /// Render the prompt as a user turn through the model's chat template.
    #[serde(default)]
    pub chat: bool,
    /// Most sequences per model run.
    pub max_batch: Option<usize>,
}

fn default_prompt() -> String {
    "{question}".into()
}

/// `[verifier]`: the reward model and how to read it, or a built-in verifier.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VerifierSection {
    /// Exported reward model folder (relative to the run file); needs `adapter`.
    pub model: Option<PathBuf>,
    pub adapter: Option<AdapterConfig>,
    /// Or a verifier built into ttc, in place of a model.
    pub builtin: Option<BuiltinVerifier>,
    pub max_batch: Option<usize>,
    /// Continue each search candidate from the reward model's KV cache (default
    /// true); false re-reads every candidate in full at each step (comparisons).
    pub cache: Option<bool>,
    /// The most MiB of keys and values live candidates may hold (default 2048).
    pub cache_mib: Option<usize>,
}

/// Verifiers that are not models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BuiltinVerifier {
    /// The demo world's exact step checker (1 for a right step, 0 from the first
    /// wrong one on): a diagnostic upper bound, demo questions only.
    DemoStepChecker,
    /// The generator's own confidence, label-free and untrained
    /// ([`ttc_core::ConfidenceVerifier`]): a step scores the geometric-mean
    /// probability of its tokens under the generator's raw distribution. For search
    /// and best-of-N only (it scores sampled steps), so not in `[reviser.verifier]`.
    Confidence,
}

/// What a `[verifier]` table resolved to.
#[derive(Debug)]
pub enum VerifierSource<'a> {
    Model {
        dir: &'a Path,
        adapter: &'a AdapterConfig,
    },
    Builtin(BuiltinVerifier),
}

impl VerifierSection {
    /// A reward model folder read with a named adapter preset (flags in place of a
    /// run file's table).
    pub fn from_preset(dir: &Path, preset: &str) -> Result<VerifierSection> {
        let preset: ttc_prm_verifier::Preset = preset.parse().map_err(Error::Core)?;
        Ok(VerifierSection {
            model: Some(dir.to_path_buf()),
            adapter: Some(AdapterConfig::from_preset(preset)),
            builtin: None,
            max_batch: None,
            cache: None,
            cache_mib: None,
        })
    }

    /// Checks that the table names exactly one verifier; `table` is its name in errors.
    fn validate(&self, path: &Path, table: &str) -> Result<()> {
        match (&self.model, &self.adapter, self.builtin) {
            (Some(_), Some(_), None) | (None, None, Some(_)) => Ok(()),
            (Some(_), None, None) => bail!(
                "{}: [{table}] has a `model` but no `adapter`; add e.g. `adapter = {{ preset = \"demo\" }}` \
                 (presets: demo, qwen2.5-math-prm, math-shepherd, rlhflow, skywork)",
                path.display()
            ),
            (None, Some(_), None) => bail!(
                "{}: [{table}] has an `adapter` but no `model`; add `model = \"DIR\"`",
                path.display()
            ),
            (None, None, None) => bail!(
                "{}: [{table}] names no verifier; give `model` and `adapter`, or `builtin = \"confidence\"` / `\"demo-step-checker\"`",
                path.display()
            ),
            (_, _, Some(_)) => bail!(
                "{}: [{table}] gives both `builtin` and a model; a built-in verifier takes no `model` or `adapter`",
                path.display()
            ),
        }
    }

    /// The model folder and adapter, or the built-in verifier (after `RunFile::load`
    /// validated the table).
    pub fn source(&self) -> VerifierSource<'_> {
        match (&self.model, &self.adapter, self.builtin) {
            (Some(dir), Some(adapter), None) => VerifierSource::Model { dir, adapter },
            (_, _, Some(b)) => VerifierSource::Builtin(b),
            _ => unreachable!("validated by RunFile::load"),
        }
    }

    /// The verifier as provenance and labels name it: the model folder or the builtin's name.
    pub fn describe(&self) -> String {
        match self.source() {
            VerifierSource::Model { dir, .. } => dir.display().to_string(),
            VerifierSource::Builtin(BuiltinVerifier::DemoStepChecker) => {
                ttc_dataset::checker::DEMO_STEP_CHECKER.to_string()
            }
            VerifierSource::Builtin(BuiltinVerifier::Confidence) => "confidence".to_string(),
        }
    }
}

/// `[diagnostic]`: search methods run a second time against another verifier (e.g.
/// the demo's exact step checker), reported beside the main ones as
/// `METHOD@VERIFIER` and left out of every fitted policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DiagnosticSection {
    pub verifier: VerifierSection,
    /// Search method labels (no revisions), as in [sweep].
    pub methods: Vec<MethodSpec>,
}

/// `[search]`: settings every strategy shares; keys left out keep their defaults.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct SearchSection {
    pub step_delimiter: String,
    pub temperature: f32,
    pub top_k: usize,
    pub top_p: f32,
    pub max_step_tokens: usize,
    pub max_solution_tokens: usize,
    pub max_rounds: usize,
    pub aggregation: ScoreAggregation,
    pub final_selector: Selector,
}

impl Default for SearchSection {
    fn default() -> Self {
        let d = SearchSettings::default();
        SearchSection {
            step_delimiter: d.step_delimiter,
            temperature: d.sampling.temperature,
            top_k: d.sampling.top_k,
            top_p: d.sampling.top_p,
            max_step_tokens: d.max_step_tokens,
            max_solution_tokens: d.max_solution_tokens,
            max_rounds: d.max_rounds,
            aggregation: d.aggregation,
            final_selector: d.final_selector,
        }
    }
}

/// How final answers are read and compared.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnswerKind {
    /// Exact integers after `Answer:` (the demo world).
    Integer,
    /// MATH-style `\boxed{...}` answers, normalised.
    #[default]
    Math,
}

/// `[answers]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AnswersSection {
    #[serde(default)]
    pub format: AnswerKind,
    /// How the final answer is found in a solution, first matching rule first:
    /// boxed, final-answer, answer-line, bare, last-math, last-number. Default
    /// `["boxed", "answer-line"]`.
    pub extract: Option<ExtractRules>,
}

impl AnswersSection {
    /// The answer settings: the comparison mode and the extraction rules.
    pub fn grade_mode(&self) -> AnswerSpec {
        let mode = match self.format {
            AnswerKind::Integer => GradeMode::Integer,
            AnswerKind::Math => GradeMode::Math,
        };
        AnswerSpec::new(mode, self.extract.unwrap_or(ExtractRules::ANCHORED))
    }
}

impl RunFile {
    /// Reads `path`; errors name the file, line and allowed values.
    pub fn load(path: &Path) -> Result<RunFile> {
        let text = std::fs::read_to_string(path).map_err(|e| ttc_core::Error::io(path, e))?;
        RunFile::parse(&text, path)
    }

    /// Parses `text` as the run file at `path`: relative paths resolve against its
    /// folder, and errors name it (`ttc merge` reads a shard's kept copy this way).
    pub fn parse(text: &str, path: &Path) -> Result<RunFile> {
        let mut file: RunFile =
            toml::from_str(text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        file.runtime.library = file.runtime.library.map(|p| base.join(p));
        file.runtime.engine_cache = file.runtime.engine_cache.map(|p| base.join(p));
        if let Some(profile) = &file.runtime.tensorrt_profile {
            profile
                .validate()
                .map_err(|e| Error::Config(format!("{}: [runtime] {e}", path.display())))?;
        }
        if let Some(g) = &mut file.generator {
            g.model = base.join(&g.model);
        }
        let rebase = |v: &mut VerifierSection, table: &str| -> Result<()> {
            v.validate(path, table)?;
            v.model = v.model.as_ref().map(|m| base.join(m));
            Ok(())
        };
        if let Some(v) = &mut file.verifier {
            rebase(v, "verifier")?;
        }
        if let Some(d) = &mut file.diagnostic {
            rebase(&mut d.verifier, "diagnostic.verifier")?;
        }
        if let Some(d) = &mut file.dataset {
            d.path = d.path.as_ref().map(|p| base.join(p));
        }
        if let Some(r) = &mut file.reference {
            r.model = base.join(&r.model);
        }
        if let Some(o) = &mut file.output {
            o.dir = base.join(&o.dir);
        }
        if let Some(sweep) = &file.sweep {
            sweep.validate(path)?;
        }
        if let Some(d) = &file.difficulty
            && d.samples > 0
            && !(1..=d.samples).contains(&d.probe_samples)
        {
            return Err(Error::Config(format!(
                "{}: [difficulty] probe-samples = {} must be between 1 and samples = {} (the \
                 probe's bins are the mean score of a question's first probe-samples samples)",
                path.display(),
                d.probe_samples,
                d.samples
            )));
        }
        if let Some(r) = &mut file.reviser {
            r.model = base.join(&r.model);
            if let Some(v) = &mut r.verifier {
                rebase(v, "reviser.verifier")?;
                if v.builtin == Some(BuiltinVerifier::Confidence) {
                    bail!(
                        "{}: [reviser.verifier] builtin = \"confidence\" cannot select revisions: \
                         it scores steps from the log-probabilities of a search's own samples; \
                         use an ORM model, or leave [reviser.verifier] out (majority)",
                        path.display()
                    );
                }
            }
        }
        Ok(file)
    }

    /// The generator table, or an error saying the command needs it.
    pub fn generator(&self, path: &Path) -> Result<&GeneratorSection> {
        match &self.generator {
            Some(g) => Ok(g),
            None => bail!(
                "{}: no [generator] table; add one with `model = \"DIR\"`",
                path.display()
            ),
        }
    }

    /// Search settings resolved from the generator and search tables.
    pub fn search_settings(&self, generator: &GeneratorSection) -> SearchSettings {
        let s = &self.search;
        SearchSettings {
            prompt_template: generator.prompt_template.clone(),
            chat: generator.chat,
            step_delimiter: s.step_delimiter.clone(),
            sampling: SamplingParams {
                temperature: s.temperature,
                top_k: s.top_k,
                top_p: s.top_p,
            },
            max_step_tokens: s.max_step_tokens,
            max_solution_tokens: s.max_solution_tokens,
            max_rounds: s.max_rounds,
            aggregation: s.aggregation,
            final_selector: s.final_selector,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, text: &str) -> Result<RunFile> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        RunFile::load(&path)
    }

    #[test]
    fn shipped_run_files_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with("-policy.toml") {
                // A fitted policy shipped beside its run file.
                ttc_policy::Policy::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            } else if name.ends_with(".toml") {
                // Methods are parsed with the file: a bad one fails here.
                RunFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
                seen += 1;
            }
        }
        assert!(seen >= 3);
    }

    #[test]
    fn model_paths_are_relative_to_the_run_file() {
        let f = parse("rel.toml", "[generator]\nmodel = \"m\"\n[verifier]\nmodel = \"p\"\nadapter = { preset = \"demo\" }\n").unwrap();
        let g = f.generator.unwrap();
        assert!(g.model.ends_with("m") && g.model.is_absolute());
        assert_eq!(g.prompt_template, "{question}");
    }

    #[test]
    fn a_verifier_table_names_exactly_one_verifier() {
        let f = parse(
            "builtin.toml",
            "[verifier]\nbuiltin = \"demo-step-checker\"\n[diagnostic]\nmethods = [\"beam-m4\"]\nverifier = { builtin = \"demo-step-checker\" }\n",
        )
        .unwrap();
        assert_eq!(f.verifier.unwrap().describe(), "demo-step-checker");
        assert_eq!(
            f.diagnostic.unwrap().methods,
            vec!["beam-m4".parse::<MethodSpec>().unwrap()]
        );
        for (name, table, wanted) in [
            (
                "none.toml",
                "[verifier]\nmax-batch = 4\n",
                "names no verifier",
            ),
            (
                "noadapter.toml",
                "[verifier]\nmodel = \"p\"\n",
                "no `adapter`",
            ),
            (
                "nomodel.toml",
                "[verifier]\nadapter = { preset = \"demo\" }\n",
                "no `model`",
            ),
            (
                "both.toml",
                "[verifier]\nmodel = \"p\"\nadapter = { preset = \"demo\" }\nbuiltin = \"demo-step-checker\"\n",
                "both `builtin`",
            ),
            (
                "orm.toml",
                "[reviser]\nmodel = \"r\"\n[reviser.verifier]\nmodel = \"o\"\n",
                "[reviser.verifier]",
            ),
        ] {
            let err = parse(name, table).unwrap_err().to_string();
            assert!(err.contains(wanted) && err.contains(name), "{err}");
        }
        let err = parse("unknown.toml", "[verifier]\nbuiltin = \"oracle\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("demo-step-checker") && err.contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_the_line_and_the_choices() {
        let err = parse(
            "agg.toml",
            "[search]\nstep-delimiter = \"\\n\"\naggregation = \"median\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 3") && err.contains("`last`"), "{err}");
        let err = parse(
            "preset.toml",
            "[verifier]\nmodel = \"p\"\nadapter = { preset = \"qwen\" }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("line 3") && err.contains("qwen2.5-math-prm"),
            "{err}"
        );
        let err = parse(
            "method.toml",
            "[sweep]\nbudgets = [4]\nmethods = [\n  \"majority\",\n  \"beam-4\",\n]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("line 3") && err.contains("beam-4") && err.contains("beam-mM"),
            "{err}"
        );
        let err = parse("key.toml", "[search]\nbeam-width = 4\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("beam-width") && err.contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn answers_extraction_rules_are_a_list() {
        use ttc_core::AnswerFormat;
        let f = parse("ans-default.toml", "[answers]\nformat = \"integer\"\n").unwrap();
        assert_eq!(f.answers.grade_mode().rules, ExtractRules::ANCHORED);
        let f = parse(
            "ans.toml",
            "[answers]\nformat = \"math\"\nextract = [\"boxed\", \"final-answer\", \"answer-line\"]\n",
        )
        .unwrap();
        let answers = f.answers.grade_mode();
        assert_eq!(answers.rules.to_string(), "boxed,final-answer,answer-line");
        assert_eq!(
            answers.extract("so the final answer is $7$.").as_deref(),
            Some("7")
        );
        for (text, wanted) in [
            (
                "[answers]\nextract = [\"boxed\", \"last-word\"]\n",
                "last-number",
            ),
            ("[answers]\nextract = [\"boxed\", \"boxed\"]\n", "twice"),
            ("[answers]\nextract = []\n", "empty"),
        ] {
            let err = parse("ans-bad.toml", text).unwrap_err().to_string();
            assert!(err.contains(wanted) && err.contains("line 2"), "{err}");
        }
    }

    /// The configuration ttc-reviser documents, copied into a run file as it
    /// stands, is accepted and gives the defaults; misplaced or misspelled keys are
    /// refused as a run file refuses them.
    #[test]
    fn the_reviser_crates_documented_config_parses_to_the_defaults() {
        let docs = include_str!("../../reviser/src/lib.rs");
        let block: String = docs
            .lines()
            .skip_while(|l| *l != "//! ```toml")
            .skip(1)
            .take_while(|l| *l != "//! ```")
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect();
        assert!(block.contains("[revision.layout]"), "{block}");
        let f = parse("reviser-docs.toml", &block).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.revision, ReviserSettings::default());
        assert!(f.reviser.is_none(), "the settings table names no model");

        let f = parse(
            "revision-partial.toml",
            "[revision]\ncontext-attempts = 2\n[revision.layout]\nrevision = \"Fix:\\n\"\n",
        )
        .unwrap();
        assert_eq!(f.revision.context_attempts, 2);
        assert_eq!(f.revision.layout.revision, "Fix:\n");
        assert_eq!(
            f.revision.layout.attempt,
            ReviserSettings::default().layout.attempt
        );

        for (name, text, wanted) in [
            // The old documented form: settings in the model's table.
            (
                "reviser-settings.toml",
                "[reviser]\nmodel = \"r\"\ncontext-attempts = 2\n",
                "context-attempts",
            ),
            (
                "revision-typo.toml",
                "[revision]\ncontext-atempts = 2\n",
                "context-atempts",
            ),
        ] {
            let err = parse(name, text).unwrap_err().to_string();
            assert!(
                err.contains(wanted) && err.contains(name) && err.contains("line "),
                "{err}"
            );
        }
        let err = parse(
            "revision-context.toml",
            "[revision]\nverifier-context = \"all\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("earlier-attempts"), "{err}");
    }

    #[test]
    fn reads_a_runtime_table() {
        let rt = parse(
            "runtime.toml",
            "[runtime]\nprovider = \"cuda\"\nfallback = \"error\"\ndevice-id = 1\n",
        )
        .unwrap()
        .runtime;
        assert_eq!(rt.provider, Some(ExecutionProvider::Cuda));
        assert_eq!(rt.fallback, Some(FallbackPolicy::Error));
        assert_eq!(rt.device_id, Some(1));
        let flags = RuntimeSection {
            device_id: Some(2),
            ..RuntimeSection::default()
        };
        let resolved = rt.resolve(&flags);
        assert_eq!(resolved.provider, ExecutionProvider::Cuda);
        assert_eq!(resolved.device_id, 2);
    }

    #[test]
    fn a_flag_turns_fp16_off_over_the_run_file() {
        let file = parse("fp16.toml", "[runtime]\nfp16 = true\n")
            .unwrap()
            .runtime;
        let flag = |fp16| RuntimeSection {
            fp16,
            ..RuntimeSection::default()
        };
        assert!(file.resolve(&flag(None)).fp16);
        assert!(!file.resolve(&flag(Some(false))).fp16);
        assert!(RuntimeSection::default().resolve(&flag(Some(true))).fp16);
    }

    #[test]
    fn a_runtime_file_beside_a_run_file_has_only_a_runtime_table() {
        let dir_tmp = tempfile::tempdir().unwrap();
        let dir = dir_tmp.path().join("run");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gpu.toml");
        std::fs::write(
            &path,
            "[runtime]\nprovider = \"cuda\"\nlibrary = \"ort.so\"\n",
        )
        .unwrap();
        let rt = RuntimeSection::load_alone(&path).unwrap();
        assert_eq!(rt.provider, Some(ExecutionProvider::Cuda));
        assert_eq!(rt.library, Some(dir.join("ort.so")));
        // Laid under flags, over a run file's table.
        let over = RuntimeSection {
            device_id: Some(3),
            ..RuntimeSection::default()
        };
        let both = rt.under(&over);
        assert_eq!(
            (both.provider, both.device_id),
            (Some(ExecutionProvider::Cuda), Some(3))
        );
        std::fs::write(&path, "[runtime]\nthreads = 2\n[sweep]\nbudgets = [1]\n").unwrap();
        let err = RuntimeSection::load_alone(&path).unwrap_err().to_string();
        assert!(err.contains("gpu.toml") && err.contains("[sweep]"), "{err}");
    }

    #[test]
    fn a_tensorrt_profile_is_read_checked_and_laid_under_flags() {
        let f = parse(
            "trt.toml",
            "[runtime]\nprovider = \"tensorrt\"\ntensorrt-profile = { batch = [1, 8, 32], length = [1, 128, 1024] }\n",
        )
        .unwrap();
        let profile = ShapeProfile {
            batch: [1, 8, 32],
            length: [1, 128, 1024],
        };
        assert_eq!(f.runtime.tensorrt_profile, Some(profile));
        let settings = f.runtime.resolve(&RuntimeSection::default());
        assert_eq!(settings.tensorrt_profile, Some(profile));
        // Without one, none: TensorRT takes shapes as they come.
        assert_eq!(
            RuntimeSection::default()
                .resolve(&RuntimeSection::default())
                .tensorrt_profile,
            None
        );
        let shipped = RuntimeSection::load_alone(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/tensorrt.toml"),
        )
        .unwrap();
        assert_eq!(shipped.tensorrt_profile.unwrap().batch[2], 64);
        for (text, needle) in [
            ("batch = [2, 1, 8], length = [1, 1, 1]", "batch = [2, 1, 8]"),
            (
                "batch = [1, 1, 8], length = [0, 1, 1]",
                "length = [0, 1, 1]",
            ),
        ] {
            let err = parse(
                "bad.toml",
                &format!("[runtime]\ntensorrt-profile = {{ {text} }}\n"),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("bad.toml") && err.contains(needle), "{err}");
        }
        let err = parse(
            "half.toml",
            "[runtime]\ntensorrt-profile = { batch = [1, 1, 8] }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("length"), "{err}");
    }

    #[test]
    fn bad_provider_names_line_and_allowed_values() {
        let err = parse("provider.toml", "[runtime]\n\nprovider = \"gpu\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("`cpu`, `cuda`, `tensorrt`"), "{err}");
    }

    #[test]
    fn unknown_runtime_key_is_an_error() {
        let err = parse("providr.toml", "[runtime]\nprovidr = \"cpu\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("providr") && err.contains("line 2"), "{err}");
    }
}
