//! `ttc solve`: answer one question with a search strategy under a budget.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ttc_core::{AnswerFormat, Generator, RuntimeSettings, Selector, Verifier};
use ttc_generator::OnnxGenerator;
use ttc_prm_verifier::PrmVerifier;
use ttc_reviser::{ChainSplit, Reviser, parse_ratio};
use ttc_search::{BeamWidth, SearchOutcome, Searcher, Strategy};

use crate::run_file::{BuiltinVerifier, ReviserSection, RunFile, VerifierSection, VerifierSource};
use crate::settings::RuntimeArgs;

/// Answer one question with a search strategy under a budget of N generations.
///
/// The run file (`--config`) names the generator, the verifier (PRM) and the search
/// settings; see `config/` for examples. The answer goes to stdout; `--trace` writes every
/// candidate and the search tree (per node: step text, score, kept or pruned, round).
#[derive(clap::Args, Debug)]
pub(crate) struct SolveArgs {
    /// The question.
    question: String,
    /// Search strategy.
    #[arg(long, value_enum, default_value_t = StrategyArg::BestOfN)]
    strategy: StrategyArg,
    /// Budget N in generations (see the table in the README).
    #[arg(long, default_value_t = 16)]
    budget: usize,
    /// Beam width M for beam, lookahead and dvts: a number or `sqrt` (sqrt N).
    #[arg(long, default_value = "4", value_parser = parse_width)]
    width: BeamWidth,
    /// Lookahead steps k (lookahead only).
    #[arg(long, default_value_t = 1)]
    lookahead: usize,
    /// Revisions: chain length / number of chains, a power of two such as 4, 1 or 1/4.
    #[arg(long, default_value = "1")]
    sequential_ratio: String,
    /// Revisions: how answers are chosen over all chains; default weighted with an
    /// ORM in [reviser.verifier], else majority.
    #[arg(long, value_enum)]
    selector: Option<SelectorArg>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the full outcome (candidates, scores, search tree, compute) as JSON here.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Print the outcome without the tree as JSON instead of the bare answer.
    #[arg(long)]
    json: bool,
    /// Compute-optimal: bin the question with a probe of --probe-samples scored
    /// samples, then run the setting this policy file (from `ttc eval`) chose for
    /// that bin and budget. Replaces --strategy.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Samples of the difficulty probe; they are paid from the budget.
    #[arg(long, default_value_t = 4)]
    probe_samples: usize,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum StrategyArg {
    /// Majority vote over N samples (no verifier).
    Majority,
    /// Best-of-N weighted: sum PRM scores per answer.
    BestOfN,
    /// Best-of-N naive: the single highest-scored sample.
    BestOfNNaive,
    /// Step-level beam search with N beams and width M.
    Beam,
    /// Beam search scoring each step after k greedy rollout steps.
    Lookahead,
    /// Diverse verifier tree search: N/M subtrees.
    Dvts,
    /// Revision chains (the [reviser] model), split by --sequential-ratio.
    Revise,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum SelectorArg {
    Majority,
    Weighted,
    Naive,
}

fn parse_width(s: &str) -> Result<BeamWidth, String> {
    if s == "sqrt" {
        return Ok(BeamWidth::Sqrt);
    }
    match s.parse::<usize>() {
        Ok(m) if m >= 1 => Ok(BeamWidth::Fixed(m)),
        _ => Err(format!(
            "{s:?} is not a width: use a positive number or `sqrt`"
        )),
    }
}

impl SolveArgs {
    /// The search strategy; `None` for revisions.
    fn strategy(&self) -> Option<Strategy> {
        Some(match self.strategy {
            StrategyArg::Majority => Strategy::BestOfN {
                selector: Selector::Majority,
            },
            StrategyArg::BestOfN => Strategy::BestOfN {
                selector: Selector::Weighted,
            },
            StrategyArg::BestOfNNaive => Strategy::BestOfN {
                selector: Selector::Naive,
            },
            StrategyArg::Beam => Strategy::Beam {
                width: self.width,
                lookahead: 0,
            },
            StrategyArg::Lookahead => Strategy::Beam {
                width: self.width,
                lookahead: self.lookahead.max(1),
            },
            StrategyArg::Dvts => Strategy::Dvts { width: self.width },
            StrategyArg::Revise => return None,
        })
    }
}

/// Loads a generator folder with its run-file batch size.
pub(crate) fn load_generator(
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

/// Loads the reviser model and its ORM (if any) from a `[reviser]` table.
pub(crate) fn load_reviser(
    section: &ReviserSection,
    runtime: &RuntimeSettings,
    config: &Path,
) -> Result<(OnnxGenerator, Option<Box<dyn Verifier>>)> {
    let model = load_generator(&section.model, section.max_batch, runtime)?;
    let orm = section
        .verifier
        .as_ref()
        .map(|v| load_verifier(v, runtime, config))
        .transpose()?;
    Ok((model, orm))
}

/// Revisions choose answers with the ORM when there is one, else by majority.
pub(crate) fn default_revision_selector(has_orm: bool) -> Selector {
    if has_orm {
        Selector::Weighted
    } else {
        Selector::Majority
    }
}

/// Loads the verifier a `[verifier]` table names: a reward model with its adapter
/// and batch size, or a built-in verifier.
pub(crate) fn load_verifier(
    v: &VerifierSection,
    runtime: &RuntimeSettings,
    config: &Path,
) -> Result<Box<dyn Verifier>> {
    let (dir, adapter) = match v.source() {
        VerifierSource::Builtin(BuiltinVerifier::DemoStepChecker) => {
            return Ok(Box::new(ttc_dataset::checker::DemoStepChecker::default()));
        }
        VerifierSource::Model { dir, adapter } => (dir, adapter),
    };
    let adapter = adapter
        .resolve()
        .with_context(|| format!("{}: adapter of {}", config.display(), dir.display()))?;
    let mut verifier = PrmVerifier::load(dir, &adapter, runtime)?;
    if let Some(rows) = v.max_batch {
        verifier = verifier.with_max_batch(rows);
    }
    Ok(Box::new(verifier))
}

fn write_outcome<T: serde::Serialize>(
    args: &SolveArgs,
    full: &T,
    brief: &T,
    answer: Option<&str>,
) -> Result<()> {
    if let Some(path) = &args.trace {
        let text = serde_json::to_string_pretty(full)?;
        std::fs::write(path, text).with_context(|| format!("writing trace {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(brief)?);
    } else {
        println!("{}", answer.unwrap_or("(no answer)"));
    }
    Ok(())
}

/// What `--policy` did: the probe's verdict, the choice, and the chosen run.
#[derive(serde::Serialize)]
struct PolicyOutcome {
    probe_samples: usize,
    probe_mean_score: f64,
    bin: usize,
    method: String,
    /// The budget the method ran with (the budget less the probe).
    method_budget: usize,
    /// The probe plus the method.
    compute: ttc_core::Compute,
    answer: Option<String>,
    outcome: serde_json::Value,
}

fn with_policy(
    args: &SolveArgs,
    path: &Path,
    file: &RunFile,
    config: &Path,
    runtime: &RuntimeSettings,
) -> Result<()> {
    let policy = ttc_policy::Policy::read(path)?;
    if policy.difficulty.statistic != "mean-verifier-score" {
        bail!(
            "{}: its bins use `{}`, which needs the gold answer; only a policy on `mean-verifier-score` bins can be applied to a new question",
            path.display(),
            policy.difficulty.statistic
        );
    }
    let p = args.probe_samples;
    if p == 0 || p >= args.budget {
        bail!(
            "--probe-samples {p} must be at least 1 and below --budget {} (the probe is paid from the budget)",
            args.budget
        );
    }
    let gen_section = file.generator(config)?;
    let settings = file.search_settings(gen_section);
    let generator = load_generator(&gen_section.model, gen_section.max_batch, runtime)?;
    let Some(v) = &file.verifier else {
        bail!(
            "{}: --policy needs a [verifier] table: the probe scores its samples",
            config.display()
        );
    };
    let verifier = load_verifier(v, runtime, config)?;
    let answers = file.answers.grade_mode();
    let searcher = Searcher {
        generator: &generator,
        verifier: Some(verifier.as_ref()),
        answers: &answers as &dyn AnswerFormat,
        settings: &settings,
    };
    let probe = searcher.solve(
        &args.question,
        &Strategy::BestOfN {
            selector: Selector::Weighted,
        },
        p,
        args.seed,
    )?;
    let scores: Vec<f64> = probe
        .candidates
        .iter()
        .map(|c| f64::from(c.score.unwrap_or(0.0)))
        .collect();
    let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
    let remaining = args.budget - p;
    let lookup = policy.choose_for_value(mean, remaining)?;
    let choice = lookup.choice;
    let method = crate::solvers::parse_method(&choice.method)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    tracing::info!(probe_mean_score = format!("{mean:.3}"), bin = choice.bin, method = %choice.method, "policy choice");
    let mut compute = probe.compute.clone();
    let (method_budget, answer, outcome) = match method {
        crate::solvers::Method::Search(strategy) => {
            let out = searcher.solve(&args.question, &strategy, remaining, args.seed)?;
            compute.absorb(&out.compute);
            (remaining, out.answer.clone(), serde_json::to_value(&out)?)
        }
        crate::solvers::Method::Revise { ratio, selector } => {
            let Some(section) = &file.reviser else {
                bail!(
                    "{}: the policy chose {} but the run file has no [reviser]",
                    config.display(),
                    choice.method
                );
            };
            // A revision split needs a power-of-two budget: else use the fitted one.
            let budget = if ChainSplit::from_ratio(remaining, ratio).is_ok() {
                remaining
            } else {
                choice.budget
            };
            let split = ChainSplit::from_ratio(budget, ratio)?;
            let has_orm = section.verifier.is_some();
            let selector = selector.unwrap_or(default_revision_selector(has_orm));
            if selector != Selector::Majority && !has_orm {
                bail!(
                    "{}: the policy chose {}, which selects with a verifier, but [reviser] in {} \
                     has no verifier: add [reviser.verifier] (an ORM) or refit the policy on a \
                     sweep without verifier rules",
                    path.display(),
                    choice.method,
                    config.display()
                );
            }
            let (reviser_model, orm) = load_reviser(section, runtime, config)?;
            let reviser = Reviser {
                generator: &reviser_model,
                verifier: orm.as_deref(),
                answers: &answers as &dyn AnswerFormat,
                settings: &file.revision,
            };
            let out = reviser.solve(&args.question, split, selector, args.seed)?;
            compute.absorb(&out.compute);
            (budget, out.answer.clone(), serde_json::to_value(&out)?)
        }
    };
    let out = PolicyOutcome {
        probe_samples: p,
        probe_mean_score: mean,
        bin: choice.bin,
        method: choice.method.clone(),
        method_budget,
        compute,
        answer: answer.clone(),
        outcome,
    };
    write_outcome(args, &out, &out, answer.as_deref())
}

fn revise(
    args: &SolveArgs,
    file: &RunFile,
    config: &Path,
    runtime: &RuntimeSettings,
) -> Result<()> {
    let Some(section) = &file.reviser else {
        bail!(
            "{}: --strategy revise needs a [reviser] table with `model = \"DIR\"`",
            config.display()
        );
    };
    // Check the split before loading anything.
    let split = ChainSplit::from_ratio(args.budget, parse_ratio(&args.sequential_ratio)?)?;
    let (generator, verifier) = load_reviser(section, runtime, config)?;
    let selector = match args.selector {
        Some(SelectorArg::Majority) => Selector::Majority,
        Some(SelectorArg::Weighted) => Selector::Weighted,
        Some(SelectorArg::Naive) => Selector::Naive,
        None => default_revision_selector(verifier.is_some()),
    };
    let answers = file.answers.grade_mode();
    let reviser = Reviser {
        generator: &generator,
        verifier: verifier.as_deref(),
        answers: &answers as &dyn AnswerFormat,
        settings: &file.revision,
    };
    let began = Instant::now();
    let outcome = reviser.solve(&args.question, split, selector, args.seed)?;
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
    write_outcome(args, &outcome, &outcome, outcome.answer.as_deref())
}

pub(crate) fn run(args: SolveArgs) -> Result<()> {
    let Some(config) = args.runtime.config.clone() else {
        bail!(
            "ttc solve needs a run file: --config FILE with [generator], [verifier], [search] and [answers] tables (see config/)"
        );
    };
    let file = RunFile::load(&config)?;
    let runtime = args.runtime.resolve_with(&file.runtime)?;
    if let Some(policy) = &args.policy {
        return with_policy(&args, policy, &file, &config, &runtime);
    }
    let Some(strategy) = args.strategy() else {
        return revise(&args, &file, &config, &runtime);
    };
    let gen_section = file.generator(&config)?;
    let settings = file.search_settings(gen_section);
    let generator = load_generator(&gen_section.model, gen_section.max_batch, &runtime)?;
    let needs_verifier = !matches!(
        strategy,
        Strategy::BestOfN {
            selector: Selector::Majority
        }
    );
    let verifier = match (&file.verifier, needs_verifier) {
        (Some(v), true) => Some(load_verifier(v, &runtime, &config)?),
        (None, true) => bail!(
            "{}: --strategy {} needs a [verifier] table",
            config.display(),
            strategy.label()
        ),
        (_, false) => None,
    };
    let answers = file.answers.grade_mode();
    let searcher = Searcher {
        generator: &generator,
        verifier: verifier.as_deref(),
        answers: &answers as &dyn AnswerFormat,
        settings: &settings,
    };
    let began = Instant::now();
    let outcome = searcher.solve(&args.question, &strategy, args.budget, args.seed)?;
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
    let brief = SearchOutcome {
        trace: Vec::new(),
        ..outcome.clone()
    };
    write_outcome(&args, &outcome, &brief, outcome.answer.as_deref())
}
