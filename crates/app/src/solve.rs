//! `ttc solve`: one question, answered by a search strategy, by revisions, or by the
//! setting a fitted policy chooses for the question's predicted difficulty.

use std::path::Path;
use std::time::Instant;

use ttc_core::{AnswerFormat, Compute, MethodSpec, RuntimeSettings, Selector};
use ttc_difficulty::{BudgetSplit, Probe, ProbeSettings};
use ttc_reviser::{ChainSplit, Reviser, RevisionOutcome};
use ttc_search::{SearchOutcome, Searcher, Strategy};

use crate::components::{Loader, default_revision_selector, load_reviser};
use crate::error::{Error, Result, bail};
use crate::run_file::RunFile;

/// A loaded run file, the runtime it runs on and where its models come from
/// ([`crate::components::OnnxLoader`] for ONNX model folders).
#[derive(Debug)]
pub struct Setup<'a> {
    pub file: &'a RunFile,
    /// The run file's path, for errors.
    pub path: &'a Path,
    pub runtime: &'a RuntimeSettings,
    pub loader: &'a dyn Loader,
}

/// Runs a search strategy on `question` with the `[generator]`, `[verifier]` (unless
/// the strategy needs none) and `[search]` tables.
pub fn search(
    setup: &Setup<'_>,
    question: &str,
    strategy: &Strategy,
    budget: usize,
    seed: u64,
) -> Result<SearchOutcome> {
    let Setup {
        file,
        path,
        runtime,
        loader,
    } = *setup;
    let gen_section = file.generator(path)?;
    let settings = file.search_settings(gen_section);
    let generator = loader.generator(&gen_section.model, gen_section.max_batch, runtime)?;
    let needs_verifier = strategy.needs_verifier();
    let verifier = match (&file.verifier, needs_verifier) {
        (Some(v), true) => Some(loader.verifier(v, runtime, path)?),
        (None, true) => bail!(
            "{}: --strategy {} needs a [verifier] table",
            path.display(),
            strategy.label()
        ),
        (_, false) => None,
    };
    let answers = file.answers.grade_mode();
    let searcher = Searcher {
        generator: generator.as_ref(),
        verifier: verifier.as_deref(),
        answers: &answers as &dyn AnswerFormat,
        settings: &settings,
    };
    let began = Instant::now();
    let outcome = searcher.solve(question, strategy, budget, seed)?;
    let c = &outcome.compute;
    tracing::info!(
        strategy = %outcome.strategy,
        budget = outcome.budget,
        generations = c.generations,
        generated_tokens = c.generated_tokens,
        verifier_tokens = c.verifier_tokens,
        flops = format!("{:.3e}", c.total_flops()),
        seconds = format!("{:.2}", began.elapsed().as_secs_f64()),
        provider = %generator.info().provider.active,
        "search done"
    );
    Ok(outcome)
}

/// Runs revision chains on `question` with the `[reviser]` and `[revision]` tables:
/// budget N split as chains x length at sequential ratio `ratio`; `selector` defaults
/// to weighted with an ORM, else majority.
pub fn revise(
    setup: &Setup<'_>,
    question: &str,
    ratio: f64,
    selector: Option<Selector>,
    budget: usize,
    seed: u64,
) -> Result<RevisionOutcome> {
    let Setup {
        file,
        path,
        runtime,
        loader,
    } = *setup;
    let Some(section) = &file.reviser else {
        bail!(
            "{}: --strategy revise needs a [reviser] table with `model = \"DIR\"`",
            path.display()
        );
    };
    // Check the split before loading anything.
    let split = ChainSplit::from_ratio(budget, ratio)?;
    let (generator, verifier) = load_reviser(loader, section, runtime, path)?;
    let selector = selector.unwrap_or(default_revision_selector(verifier.is_some()));
    let answers = file.answers.grade_mode();
    let reviser = Reviser {
        generator: generator.as_ref(),
        verifier: verifier.as_deref(),
        answers: &answers as &dyn AnswerFormat,
        settings: &file.revision,
    };
    let began = Instant::now();
    let outcome = reviser.solve(question, split, selector, seed)?;
    let c = &outcome.compute;
    tracing::info!(
        strategy = %outcome.strategy,
        budget = outcome.budget,
        generated_tokens = c.generated_tokens,
        verifier_tokens = c.verifier_tokens,
        flops = format!("{:.3e}", c.total_flops()),
        seconds = format!("{:.2}", began.elapsed().as_secs_f64()),
        "revisions done"
    );
    Ok(outcome)
}

/// What applying a policy did: the probe's verdict, the choice, and the chosen run.
#[derive(Debug, serde::Serialize)]
pub struct PolicyOutcome {
    pub probe_samples: usize,
    pub probe_mean_score: f64,
    pub bin: usize,
    /// The chosen method's label ([`ttc_core::MethodId::label`]).
    pub method: String,
    /// The budget the method ran with: N for best-of-N settings (the probe's samples
    /// are their first), what the probe left (at most) for the others.
    pub method_budget: usize,
    /// How N was shared between the probe and the method (the policy's probe rule).
    pub split: BudgetSplit,
    /// The probe plus the method.
    pub compute: Compute,
    pub answer: Option<String>,
    pub outcome: serde_json::Value,
}

/// Compute-optimal inference under the policy's probe rule
/// ([`ttc_policy::probe_rule`]): `probe_samples` (default: the probe the policy was
/// fitted with) best-of-N samples scored by the verifier bin the question with the
/// policy's edges, paid from the budget; [`ttc_policy::Policy::apply`] gives the
/// setting of that bin's cell at the largest fitted budget <= N and its budget.
/// Best-of-N settings take the probe's samples as their first; the others run on
/// what the probe left.
pub fn with_policy(
    setup: &Setup<'_>,
    policy_path: &Path,
    question: &str,
    budget: usize,
    probe_samples: Option<usize>,
    seed: u64,
) -> Result<PolicyOutcome> {
    let Setup {
        file,
        path: config,
        runtime,
        loader,
    } = *setup;
    let policy = ttc_policy::Policy::read(policy_path)?;
    let fitted_probe = policy.probe.samples;
    let probe_samples = probe_samples.unwrap_or(fitted_probe);
    if probe_samples != fitted_probe {
        tracing::warn!(
            "{}: the policy was fitted with a probe of {fitted_probe} samples; a probe of \
             {probe_samples} bins with edges learned on {fitted_probe}-sample means",
            policy_path.display()
        );
    }
    let probe = Probe::new(
        ProbeSettings {
            samples: probe_samples,
            ..policy.probe
        },
        policy.difficulty.clone(),
    )
    .map_err(|e| Error::Config(format!("{}: {e}", policy_path.display())))?;
    // Refuse a budget the probe alone would use up before loading any model.
    probe.split_budget(budget, true)?;
    let gen_section = file.generator(config)?;
    let settings = file.search_settings(gen_section);
    let generator = loader.generator(&gen_section.model, gen_section.max_batch, runtime)?;
    let Some(v) = &file.verifier else {
        bail!(
            "{}: --policy needs a [verifier] table: the probe scores its samples",
            config.display()
        );
    };
    let verifier = loader.verifier(v, runtime, config)?;
    let answers = file.answers.grade_mode();
    let searcher = Searcher {
        generator: generator.as_ref(),
        verifier: Some(verifier.as_ref()),
        answers: &answers as &dyn AnswerFormat,
        settings: &settings,
    };
    let sampled = searcher.solve(
        question,
        &Strategy::BestOfN {
            selector: Selector::Weighted,
        },
        probe_samples,
        seed,
    )?;
    // A sample without a score counts 0, as in the sweep's difficulty records.
    let scores: Vec<f64> = sampled
        .candidates
        .iter()
        .map(|c| f64::from(c.score.unwrap_or(0.0)))
        .collect();
    let assessed = probe.assess(&scores, sampled.compute.clone())?;
    let applied = policy.apply(assessed.bin, budget, probe_samples)?;
    let choice = applied.lookup.choice;
    let split = applied.split;
    if let Some(v) = choice.method.verifier() {
        bail!(
            "{}: the policy chose {} for bin {} at N = {}, scored by the verifier `{v}`; \
             `ttc solve --policy` scores with the run file's [verifier] only: refit the policy \
             on a sweep without runs against other verifiers",
            policy_path.display(),
            choice.method.label(),
            choice.bin,
            choice.budget
        );
    }
    let method = choice.method.method();
    tracing::info!(
        probe_mean_score = format!("{:.3}", assessed.mean_score),
        bin = choice.bin,
        method = %choice.method,
        method_budget = split.strategy_budget,
        reused = split.reused,
        "policy choice"
    );
    let mut compute = assessed.compute.clone();
    let remaining = split.strategy_budget;
    let (method_budget, answer, outcome) = match (method, Strategy::from_spec(method)) {
        (MethodSpec::BestOfN { selector }, _) => {
            // The probe's samples are the first of the method's N.
            let out = searcher.best_of_n_after(
                question,
                &sampled.candidates,
                selector,
                remaining,
                seed,
            )?;
            compute.absorb(&out.compute);
            (remaining, out.answer.clone(), serde_json::to_value(&out)?)
        }
        (_, Some(strategy)) => {
            let out = searcher.solve(question, &strategy, remaining, seed)?;
            compute.absorb(&out.compute);
            (remaining, out.answer.clone(), serde_json::to_value(&out)?)
        }
        (MethodSpec::Revise { ratio, selector }, None) => {
            let Some(section) = &file.reviser else {
                bail!(
                    "{}: the policy chose {} but the run file has no [reviser]",
                    config.display(),
                    choice.method
                );
            };
            let split = ChainSplit::from_ratio(remaining, ratio)?;
            let has_orm = section.verifier.is_some();
            let selector = selector.unwrap_or(default_revision_selector(has_orm));
            if selector != Selector::Majority && !has_orm {
                bail!(
                    "{}: the policy chose {}, which selects with a verifier, but [reviser] in {} \
                     has no verifier: add [reviser.verifier] (an ORM) or refit the policy on a \
                     sweep without verifier rules",
                    policy_path.display(),
                    choice.method,
                    config.display()
                );
            }
            let (reviser_model, orm) = load_reviser(loader, section, runtime, config)?;
            let reviser = Reviser {
                generator: reviser_model.as_ref(),
                verifier: orm.as_deref(),
                answers: &answers as &dyn AnswerFormat,
                settings: &file.revision,
            };
            let out = reviser.solve(question, split, selector, seed)?;
            compute.absorb(&out.compute);
            (remaining, out.answer.clone(), serde_json::to_value(&out)?)
        }
        (_, None) => unreachable!("every other method is a search strategy"),
    };
    Ok(PolicyOutcome {
        probe_samples,
        probe_mean_score: assessed.mean_score,
        bin: choice.bin,
        method: choice.method.label(),
        method_budget,
        split: BudgetSplit {
            strategy_budget: method_budget,
            new: method_budget - split.reused,
            total: split.probe + method_budget - split.reused,
            ..split
        },
        compute,
        answer,
        outcome,
    })
}
