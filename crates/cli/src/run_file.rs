//! The TOML run file: which models, how they run, how to search. Parsed here with
//! unknown keys rejected and resolved into plain settings before any library sees it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use ttc_core::{SamplingParams, ScoreAggregation, Selector};
use ttc_dataset::{AnswerSpec, ExtractRules, GradeMode};
use ttc_prm_verifier::AdapterConfig;
use ttc_reviser::ReviserSettings;
use ttc_search::SearchSettings;

use crate::settings::RuntimeSection;

/// A whole run file. Every table is optional; commands say which they need.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RunFile {
    #[serde(default)]
    pub(crate) runtime: RuntimeSection,
    pub(crate) generator: Option<GeneratorSection>,
    pub(crate) verifier: Option<VerifierSection>,
    #[serde(default)]
    pub(crate) search: SearchSection,
    #[serde(default)]
    pub(crate) answers: AnswersSection,
    pub(crate) reviser: Option<ReviserSection>,
    /// Revision settings (layout, context, sampling); every key optional.
    #[serde(default)]
    pub(crate) revision: ReviserSettings,
    pub(crate) dataset: Option<DatasetSection>,
    pub(crate) sweep: Option<SweepSection>,
    #[serde(default)]
    pub(crate) difficulty: DifficultySection,
    pub(crate) reference: Option<ReferenceSection>,
    pub(crate) diagnostic: Option<DiagnosticSection>,
    pub(crate) output: Option<OutputSection>,
}

/// `[dataset]`: the questions of an evaluation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct DatasetSection {
    /// JSONL with MATH-500 fields (problem, solution, answer, level, unique_id).
    pub(crate) path: Option<PathBuf>,
    /// Or a fixed split of the built-in demo world: `validation` or `test`.
    pub(crate) demo_split: Option<DemoSplit>,
    /// Only the first this many questions.
    pub(crate) limit: Option<usize>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum DemoSplit {
    Validation,
    Test,
}

/// `[sweep]`: what to run on every question.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct SweepSection {
    /// Method labels: majority, best-of-n-weighted, best-of-n-naive, beam-m4, beam-msqrt,
    /// lookahead-m4-k1, dvts-m4, revise-r4, revise-r1/4, ...
    pub(crate) methods: Vec<String>,
    /// Budgets N in generations.
    pub(crate) budgets: Vec<usize>,
    #[serde(default = "default_seeds")]
    pub(crate) seeds: Vec<u64>,
    /// How revision answers are chosen; default weighted with an ORM, else majority.
    pub(crate) revision_selector: Option<Selector>,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

/// `[difficulty]`: samples per question for oracle (pass@1) and predicted (mean
/// verifier score) difficulty bins.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct DifficultySection {
    pub(crate) samples: usize,
    pub(crate) bins: usize,
}

impl Default for DifficultySection {
    fn default() -> Self {
        DifficultySection {
            samples: 16,
            bins: 5,
        }
    }
}

/// `[reference]`: a larger generator answering greedily (the FLOPs-matched comparison).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ReferenceSection {
    pub(crate) model: PathBuf,
    pub(crate) max_batch: Option<usize>,
}

/// `[output]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct OutputSection {
    /// The run folder (relative to the run file): results, report and policy go here.
    pub(crate) dir: PathBuf,
}

/// `[reviser]`: the revision model and, optionally, the ORM that scores its attempts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ReviserSection {
    pub(crate) model: PathBuf,
    pub(crate) max_batch: Option<usize>,
    pub(crate) verifier: Option<VerifierSection>,
}

/// `[generator]`: the policy model and its prompt.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct GeneratorSection {
    /// Exported model folder (relative to the run file).
    pub(crate) model: PathBuf,
    /// Prompt with a `{question}` placeholder.
    #[serde(default = "default_prompt")]
    pub(crate) prompt_template: String,
    /// Render the prompt as a user turn through the model's chat template.
    #[serde(default)]
    pub(crate) chat: bool,
    /// Most sequences per model run.
    pub(crate) max_batch: Option<usize>,
}

fn default_prompt() -> String {
    "{question}".into()
}

/// `[verifier]`: the reward model and how to read it, or a built-in verifier.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct VerifierSection {
    /// Exported reward model folder (relative to the run file); needs `adapter`.
    pub(crate) model: Option<PathBuf>,
    pub(crate) adapter: Option<AdapterConfig>,
    /// Or a verifier built into ttc, in place of a model.
    pub(crate) builtin: Option<BuiltinVerifier>,
    pub(crate) max_batch: Option<usize>,
}

/// Verifiers that are not models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum BuiltinVerifier {
    /// The demo world's exact step checker (1 for a right step, 0 from the first
    /// wrong one on): a diagnostic upper bound, demo questions only.
    DemoStepChecker,
}

/// What a `[verifier]` table resolved to.
pub(crate) enum VerifierSource<'a> {
    Model {
        dir: &'a Path,
        adapter: &'a AdapterConfig,
    },
    Builtin(BuiltinVerifier),
}

impl VerifierSection {
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
                "{}: [{table}] names no verifier; give `model` and `adapter`, or `builtin = \"demo-step-checker\"`",
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
    pub(crate) fn source(&self) -> VerifierSource<'_> {
        match (&self.model, &self.adapter, self.builtin) {
            (Some(dir), Some(adapter), None) => VerifierSource::Model { dir, adapter },
            (_, _, Some(b)) => VerifierSource::Builtin(b),
            _ => unreachable!("validated by RunFile::load"),
        }
    }

    /// The verifier as provenance and labels name it: the model folder or the builtin's name.
    pub(crate) fn describe(&self) -> String {
        match self.source() {
            VerifierSource::Model { dir, .. } => dir.display().to_string(),
            VerifierSource::Builtin(BuiltinVerifier::DemoStepChecker) => {
                ttc_dataset::checker::DEMO_STEP_CHECKER.to_string()
            }
        }
    }
}

/// `[diagnostic]`: search methods run a second time against another verifier (e.g.
/// the demo's exact step checker), reported beside the main ones as
/// `METHOD@VERIFIER` and left out of every fitted policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct DiagnosticSection {
    pub(crate) verifier: VerifierSection,
    /// Search method labels (no revisions), as in [sweep].
    pub(crate) methods: Vec<String>,
}

/// `[search]`: settings every strategy shares; keys left out keep their defaults.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct SearchSection {
    pub(crate) step_delimiter: String,
    pub(crate) temperature: f32,
    pub(crate) top_k: usize,
    pub(crate) top_p: f32,
    pub(crate) max_step_tokens: usize,
    pub(crate) max_solution_tokens: usize,
    pub(crate) max_rounds: usize,
    pub(crate) aggregation: ScoreAggregation,
    pub(crate) final_selector: Selector,
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
pub(crate) enum AnswerKind {
    /// Exact integers after `Answer:` (the demo world).
    Integer,
    /// MATH-style `\boxed{...}` answers, normalised.
    #[default]
    Math,
}

/// `[answers]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct AnswersSection {
    #[serde(default)]
    pub(crate) format: AnswerKind,
    /// How the final answer is found in a solution, first matching rule first:
    /// boxed, final-answer, answer-line, bare, last-math, last-number. Default
    /// `["boxed", "answer-line"]`.
    pub(crate) extract: Option<ExtractRules>,
}

impl AnswersSection {
    /// The answer settings: the comparison mode and the extraction rules.
    pub(crate) fn grade_mode(&self) -> AnswerSpec {
        let mode = match self.format {
            AnswerKind::Integer => GradeMode::Integer,
            AnswerKind::Math => GradeMode::Math,
        };
        AnswerSpec::new(mode, self.extract.unwrap_or(ExtractRules::ANCHORED))
    }
}

impl RunFile {
    /// Reads `path`; errors name the file, line and allowed values.
    pub(crate) fn load(path: &Path) -> Result<RunFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading run file {}", path.display()))?;
        let mut file: RunFile =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        file.runtime.library = file.runtime.library.map(|p| base.join(p));
        file.runtime.engine_cache = file.runtime.engine_cache.map(|p| base.join(p));
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
        if let Some(r) = &mut file.reviser {
            r.model = base.join(&r.model);
            if let Some(v) = &mut r.verifier {
                rebase(v, "reviser.verifier")?;
            }
        }
        Ok(file)
    }

    /// The generator table, or an error saying the command needs it.
    pub(crate) fn generator(&self, path: &Path) -> Result<&GeneratorSection> {
        match &self.generator {
            Some(g) => Ok(g),
            None => bail!(
                "{}: no [generator] table; add one with `model = \"DIR\"`",
                path.display()
            ),
        }
    }

    /// Search settings resolved from the generator and search tables.
    pub(crate) fn search_settings(&self, generator: &GeneratorSection) -> SearchSettings {
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
        let dir = std::env::temp_dir().join(format!("ttc-run-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(name);
        std::fs::write(&path, text)?;
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
                let file = RunFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
                for m in file.sweep.iter().flat_map(|s| &s.methods) {
                    crate::solvers::parse_method(m).unwrap_or_else(|e| panic!("{name}: {e}"));
                }
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
        assert_eq!(f.diagnostic.unwrap().methods, vec!["beam-m4".to_string()]);
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
}
