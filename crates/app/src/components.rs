//! Components built from a run file's tables: models, verifiers, questions.
//!
//! Models come through a [`Loader`]: [`OnnxLoader`] builds ONNX models from the
//! folders a run file names (what the binary uses); tests hand `eval`, `solve` and
//! the analysis core's test doubles through the same seam.

use std::path::Path;

use ttc_core::{Generator, RuntimeSettings, Selector, Verifier};
use ttc_dataset::demo::{DemoWorld, Split};
use ttc_generator::OnnxGenerator;
use ttc_orchestrator::Question;
use ttc_prm_verifier::PrmVerifier;

use crate::error::{Error, Result, bail};
use crate::run_file::{
    BuiltinVerifier, DemoSplit, ReviserSection, RunFile, VerifierSection, VerifierSource,
};

/// Where a run's models come from: a generator for `[generator]`, `[reviser]` and
/// `[reference]`, a verifier for `[verifier]`, `[reviser.verifier]` and
/// `[diagnostic]`.
pub trait Loader: std::fmt::Debug + Sync {
    /// The generator in `model`, batching at most `max_batch` rows when given.
    fn generator(
        &self,
        model: &Path,
        max_batch: Option<usize>,
        runtime: &RuntimeSettings,
    ) -> Result<Box<dyn Generator>>;

    /// The verifier `section` names; `config` is the run file, for errors.
    fn verifier(
        &self,
        section: &VerifierSection,
        runtime: &RuntimeSettings,
        config: &Path,
    ) -> Result<Box<dyn Verifier>>;
}

/// The production [`Loader`]: ONNX model folders through ONNX Runtime, and the
/// built-in verifiers.
#[derive(Clone, Copy, Debug, Default)]
pub struct OnnxLoader;

impl Loader for OnnxLoader {
    fn generator(
        &self,
        model: &Path,
        max_batch: Option<usize>,
        runtime: &RuntimeSettings,
    ) -> Result<Box<dyn Generator>> {
        Ok(Box::new(load_generator(model, max_batch, runtime)?))
    }

    fn verifier(
        &self,
        section: &VerifierSection,
        runtime: &RuntimeSettings,
        config: &Path,
    ) -> Result<Box<dyn Verifier>> {
        load_verifier(section, runtime, config)
    }
}

/// Loads a generator folder with its run-file batch size.
pub fn load_generator(
    model: &Path,
    max_batch: Option<usize>,
    runtime: &RuntimeSettings,
) -> Result<OnnxGenerator> {
    let g = OnnxGenerator::load(model, runtime)?;
    Ok(match max_batch {
        Some(rows) => g.with_max_batch(rows),
        None => g,
    })
}

/// Loads the verifier a `[verifier]` table names: a reward model with its adapter
/// and batch size, or a built-in verifier. `config` is the run file, for errors.
pub fn load_verifier(
    v: &VerifierSection,
    runtime: &RuntimeSettings,
    config: &Path,
) -> Result<Box<dyn Verifier>> {
    let (dir, adapter) = match v.source() {
        VerifierSource::Builtin(BuiltinVerifier::DemoStepChecker) => {
            return Ok(Box::new(ttc_dataset::checker::DemoStepChecker::default()));
        }
        VerifierSource::Builtin(BuiltinVerifier::Confidence) => {
            return Ok(Box::new(ttc_core::ConfidenceVerifier::default()));
        }
        VerifierSource::Model { dir, adapter } => (dir, adapter),
    };
    let adapter = adapter.resolve().map_err(|e| {
        Error::Config(format!(
            "{}: adapter of {}: {e}",
            config.display(),
            dir.display()
        ))
    })?;
    let mut verifier = PrmVerifier::load(dir, &adapter, runtime)?;
    if let Some(rows) = v.max_batch {
        verifier = verifier.with_max_batch(rows);
    }
    if let Some(on) = v.cache {
        verifier = verifier.with_cache(on);
    }
    if let Some(mib) = v.cache_mib {
        verifier = verifier.with_cache_bytes(mib.saturating_mul(1 << 20));
    }
    Ok(Box::new(verifier))
}

/// A reviser model and its ORM, if it has one.
pub type ReviserModels = (Box<dyn Generator>, Option<Box<dyn Verifier>>);

/// The reviser model and its ORM (if any) of a `[reviser]` table.
pub fn load_reviser(
    loader: &dyn Loader,
    section: &ReviserSection,
    runtime: &RuntimeSettings,
    config: &Path,
) -> Result<ReviserModels> {
    let model = loader.generator(&section.model, section.max_batch, runtime)?;
    let orm = section
        .verifier
        .as_ref()
        .map(|v| loader.verifier(v, runtime, config))
        .transpose()?;
    Ok((model, orm))
}

/// Revisions choose answers with the ORM when there is one, else by majority.
pub fn default_revision_selector(has_orm: bool) -> Selector {
    if has_orm {
        Selector::Weighted
    } else {
        Selector::Majority
    }
}

/// The questions of `[dataset]`, the first `limit` (flag) or `[dataset] limit` of them.
pub fn questions(file: &RunFile, path: &Path, limit: Option<usize>) -> Result<Vec<Question>> {
    let Some(d) = &file.dataset else {
        bail!(
            "{}: no [dataset] table; give `path = \"FILE.jsonl\"` or `demo-split = \"test\"`",
            path.display()
        );
    };
    let problems = match (&d.path, d.demo_split) {
        (Some(p), None) => ttc_dataset::read_problems(p)?,
        (None, Some(split)) => DemoWorld::default().fixed_split(match split {
            DemoSplit::Validation => Split::Validation,
            DemoSplit::Test => Split::Test,
        })?,
        _ => bail!(
            "{}: [dataset] needs exactly one of `path` and `demo-split`",
            path.display()
        ),
    };
    let n = limit
        .or(d.limit)
        .unwrap_or(problems.len())
        .min(problems.len());
    Ok(problems
        .into_iter()
        .take(n)
        .map(|p| Question {
            id: p.unique_id,
            problem: p.problem,
            answer: p.answer,
            level: p.level,
        })
        .collect())
}
