//! `ttc eval`: a sweep from a run file, run resumably through the orchestrator.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ttc_core::{
    AnswerFormat, EvalRecord, Family, MethodSpec, SamplingParams, Selector, Solver, Verifier,
};
use ttc_orchestrator::{Plan, Progress, RunFiles};
use ttc_reviser::Reviser;
use ttc_search::{SearchSettings, Searcher, Strategy};

use crate::components::{Loader, OnnxLoader, default_revision_selector, load_reviser, questions};
use crate::error::{Result, bail};
use crate::run_file::{RunFile, RuntimeSection};
use crate::shard::{Machine, Shard, ShardManifest};
use crate::solvers::{
    AtBudgets, BestOfNSampler, DiagnosticSolver, GreedyReference, ReviseSolver, RevisionGroup,
    SearchSolver,
};

/// What to run: a run file and the flags that override it.
#[derive(Clone, Debug, Default)]
pub struct EvalOptions {
    pub run_file: PathBuf,
    /// Output folder (default: the run file's `[output] dir`).
    pub output: Option<PathBuf>,
    /// Only the first this many questions (overrides `[dataset] limit`).
    pub limit: Option<usize>,
    /// Runtime settings given as flags, over the run file's `[runtime]`.
    pub runtime: RuntimeSection,
    /// Run only this shard's questions, into `OUTPUT/shard-I-of-N`.
    pub shard: Option<Shard>,
}

/// What an eval reports while it runs.
#[derive(Clone, Debug, PartialEq)]
pub enum EvalEvent {
    /// The models are loaded and the sweep begins: this run's share of the work.
    Started {
        shard: Option<Shard>,
        /// Questions this run holds, of the (limited) dataset's.
        questions: usize,
        dataset: usize,
        out_dir: PathBuf,
    },
    Progress(Progress),
}

/// A finished sweep: where it is and what it holds.
#[derive(Debug)]
pub struct Evaluated {
    pub out_dir: PathBuf,
    pub files: RunFiles,
    /// Every record of the run folder, resumed ones included.
    pub records: Vec<EvalRecord>,
    /// The generator's parameter count (for the FLOPs-matched comparison).
    pub generator_parameters: Option<u64>,
    pub run_file: PathBuf,
    pub file: RunFile,
    /// The shard this run was (its analysis waits for `ttc merge`).
    pub shard: Option<Shard>,
    /// The run stopped early because the caller's hook asked it to.
    pub interrupted: bool,
}

/// The `[diagnostic]` table's methods: search strategies only (revisions have their
/// own verifier, the ORM).
fn diagnostic_strategies(file: &RunFile, path: &Path) -> Result<Vec<Strategy>> {
    let Some(d) = &file.diagnostic else {
        return Ok(Vec::new());
    };
    d.methods
        .iter()
        .map(|m| match Strategy::from_spec(*m) {
            Some(strategy) if strategy.needs_verifier() => Ok(strategy),
            Some(_) => bail!(
                "{}: [diagnostic] methods: \"{m}\" uses no verifier, so a diagnostic verifier \
                 changes nothing; list it in [sweep] methods",
                path.display()
            ),
            None => bail!(
                "{}: [diagnostic] methods: \"{m}\" is a revision method; a diagnostic verifier \
                 replaces the PRM of search methods only",
                path.display()
            ),
        })
        .collect()
}

/// Runs (or resumes) the sweep of `options.run_file` on its ONNX models.
pub fn run(options: &EvalOptions, events: &mut dyn FnMut(EvalEvent)) -> Result<Evaluated> {
    run_with(options, &OnnxLoader, events)
}

/// [`run`] with the models from `loader`.
pub fn run_with(
    options: &EvalOptions,
    loader: &dyn Loader,
    events: &mut dyn FnMut(EvalEvent),
) -> Result<Evaluated> {
    run_with_hook(options, loader, events, &mut |_| ControlFlow::Continue(()))
}

/// [`run_with`], calling `after_record(n)` once the n-th record of this call is on
/// disk; `Break` stops the run there, as a kill between two writes would (tests
/// stop runs at a chosen record this way).
pub fn run_with_hook(
    options: &EvalOptions,
    loader: &dyn Loader,
    events: &mut dyn FnMut(EvalEvent),
    after_record: &mut dyn FnMut(usize) -> ControlFlow<()>,
) -> Result<Evaluated> {
    let file = RunFile::load(&options.run_file)?;
    let (out_dir, records, generator_parameters, interrupted) =
        sweep(&file, options, loader, events, after_record)?;
    Ok(Evaluated {
        files: RunFiles::in_dir(&out_dir),
        out_dir,
        records,
        generator_parameters,
        run_file: options.run_file.clone(),
        file,
        shard: options.shard,
        interrupted,
    })
}

/// The sweep of a loaded run file: (output folder, records, generator parameters,
/// interrupted).
fn sweep(
    file: &RunFile,
    options: &EvalOptions,
    loader: &dyn Loader,
    events: &mut dyn FnMut(EvalEvent),
    after_record: &mut dyn FnMut(usize) -> ControlFlow<()>,
) -> Result<(PathBuf, Vec<EvalRecord>, Option<u64>, bool)> {
    let path = &options.run_file;
    let runtime = file.runtime.resolve(&options.runtime);
    let Some(sweep) = &file.sweep else {
        bail!(
            "{}: no [sweep] table; give `methods`, `budgets` and optionally `seeds`",
            path.display()
        );
    };
    let methods = &sweep.methods;
    // Every budget any method runs at; a method runs only at its own (`budgets_for`).
    let budgets = sweep.all_budgets();
    if sweep.budgets.is_empty() || budgets.is_empty() || budgets[0] == 0 {
        bail!(
            "{}: [sweep] budgets must be positive numbers of generations",
            path.display()
        );
    }
    let out_dir = match (&options.output, &file.output) {
        (Some(d), _) => d.clone(),
        (None, Some(o)) => o.dir.clone(),
        (None, None) => bail!("{}: no [output] dir and no --output", path.display()),
    };
    let questions = questions(file, path, options.limit)?;
    // The limit applies first; a shard then keeps the positions it holds.
    let dataset: Vec<String> = questions.iter().map(|q| q.id.clone()).collect();
    let (questions, out_dir) = match options.shard {
        Some(shard) => (
            questions
                .into_iter()
                .enumerate()
                .filter(|(p, _)| shard.holds(*p))
                .map(|(_, q)| q)
                .collect(),
            out_dir.join(shard.folder_name()),
        ),
        None => (questions, out_dir),
    };
    // Everything that can be checked without the models is checked first.
    let has_orm = file.reviser.as_ref().is_some_and(|r| r.verifier.is_some());
    let revision_selector = sweep
        .revision_selector
        .unwrap_or(default_revision_selector(has_orm));
    // Each revise method as (ratio, rule); settings with the same ratio share their
    // chains, one group per ratio listing its rules.
    let mut groups: Vec<(f64, Vec<Selector>)> = Vec::new();
    let mut planned: Vec<Planned> = Vec::with_capacity(methods.len());
    for m in methods {
        let (ratio, selector) = match (*m, Strategy::from_spec(*m)) {
            (_, Some(strategy)) => {
                planned.push(Planned::Search(strategy));
                continue;
            }
            (MethodSpec::Revise { ratio, selector }, None) => (ratio, selector),
            (_, None) => unreachable!("every other method is a search strategy"),
        };
        let label = m.to_string();
        if file.reviser.is_none() {
            bail!(
                "{}: revise-* methods need a [reviser] table",
                path.display()
            );
        }
        let rule = selector.unwrap_or(revision_selector);
        if rule != Selector::Majority && !has_orm {
            bail!(
                "{}: {label:?} selects with a verifier, but [reviser] has no verifier: add \
                 [reviser.verifier] (an ORM) or use the -majority rule",
                path.display()
            );
        }
        let g = match groups.iter().position(|g| g.0 == ratio) {
            Some(g) => g,
            None => {
                groups.push((ratio, Vec::new()));
                groups.len() - 1
            }
        };
        let r = match groups[g].1.iter().position(|&s| s == rule) {
            Some(r) => r,
            None => {
                groups[g].1.push(rule);
                groups[g].1.len() - 1
            }
        };
        planned.push(Planned::Revise {
            group: g,
            index: r,
            named: selector.is_some(),
        });
    }
    let diagnostic = diagnostic_strategies(file, path)?;
    let run_text = check_run_file(path, &out_dir)?;

    let gen_section = file.generator(path)?;
    let settings = file.search_settings(gen_section);
    let generator = loader.generator(&gen_section.model, gen_section.max_batch, &runtime)?;
    let verifier: Option<Box<dyn Verifier>> = file
        .verifier
        .as_ref()
        .map(|v| loader.verifier(v, &runtime, path))
        .transpose()?;
    let answers = file.answers.grade_mode();
    let searcher = Searcher {
        generator: generator.as_ref(),
        verifier: verifier.as_deref(),
        answers: &answers as &dyn AnswerFormat,
        settings: &settings,
    };
    let (reviser_model, orm) = match (&file.reviser, groups.is_empty()) {
        (Some(r), false) => {
            let (model, orm) = load_reviser(loader, r, &runtime, path)?;
            (Some(model), orm)
        }
        _ => (None, None),
    };
    let groups: Vec<Arc<RevisionGroup<'_>>> = match &reviser_model {
        Some(g) => groups
            .into_iter()
            .map(|(ratio, selectors)| {
                let reviser = Reviser {
                    generator: g.as_ref(),
                    verifier: orm.as_deref(),
                    answers: &answers as &dyn AnswerFormat,
                    settings: &file.revision,
                };
                Arc::new(RevisionGroup::new(reviser, ratio, selectors))
            })
            .collect(),
        None => Vec::new(),
    };
    let solvers_owned: Vec<Box<dyn Solver + '_>> = planned
        .into_iter()
        .map(|p| -> Box<dyn Solver + '_> {
            match p {
                Planned::Search(strategy) => Box::new(SearchSolver { searcher, strategy }),
                Planned::Revise {
                    group,
                    index,
                    named,
                } => Box::new(ReviseSolver {
                    group: Arc::clone(&groups[group]),
                    index,
                    selector_in_label: named,
                }),
            }
        })
        .collect();
    let diagnostic_verifier: Option<Box<dyn Verifier>> = file
        .diagnostic
        .as_ref()
        .map(|d| loader.verifier(&d.verifier, &runtime, path))
        .transpose()?;
    let mut solvers_owned = solvers_owned;
    if let (Some(d), Some(v)) = (&file.diagnostic, &diagnostic_verifier) {
        let searcher = Searcher {
            verifier: Some(v.as_ref()),
            ..searcher
        };
        let name = d.verifier.describe();
        for strategy in &diagnostic {
            let inner = SearchSolver {
                searcher,
                strategy: *strategy,
            };
            let solver = DiagnosticSolver::new(inner, &name).map_err(|e| {
                crate::error::Error::Config(format!(
                    "{}: [diagnostic] verifier: {e}",
                    path.display()
                ))
            })?;
            solvers_owned.push(Box::new(solver));
        }
    }
    // A method whose budgets are not all of the sweep's runs only at its own:
    // `[sweep] method-budgets`, each of them, else those of `budgets` it supports
    // (diagnostic methods too).
    let solvers_owned: Vec<Box<dyn Solver + '_>> = solvers_owned
        .into_iter()
        .map(|s| -> Box<dyn Solver + '_> {
            let id = s.method();
            let own = if id.family() == Family::Diagnostic {
                let mut b = sweep.budgets.clone();
                b.sort_unstable();
                b.dedup();
                b
            } else {
                sweep.budgets_for(&id.method())
            };
            // A fixed-budget method (greedy) runs at its own N whatever the lists say.
            if id.method().fixed_budget().is_some() {
                s
            } else if id.family() != Family::Diagnostic && sweep.lists_budgets_for(&id.method()) {
                Box::new(AtBudgets::listed(s, own))
            } else if own == budgets {
                s
            } else {
                Box::new(AtBudgets::new(s, own))
            }
        })
        .collect();
    let solvers: Vec<&dyn Solver> = solvers_owned.iter().map(|s| s.as_ref()).collect();
    let sampler = (verifier.is_some() && file.difficulty_samples() > 0)
        .then_some(BestOfNSampler { searcher });
    let reference_model = file
        .reference
        .as_ref()
        .map(|r| loader.generator(&r.model, r.max_batch, &runtime))
        .transpose()?;
    let greedy = SearchSettings {
        sampling: SamplingParams::GREEDY,
        ..settings.clone()
    };
    let reference = reference_model.as_ref().map(|g| GreedyReference {
        searcher: Searcher {
            generator: g.as_ref(),
            verifier: None,
            answers: &answers as &dyn AnswerFormat,
            settings: &greedy,
        },
        name: g.info().name.clone(),
    });
    let grade = move |gold: &str, pred: &str| {
        ttc_math_grade::grade(gold, pred, answers).is_ok_and(|v| v.correct)
    };
    let plan = Plan {
        questions: &questions,
        solvers: &solvers,
        budgets,
        seeds: sweep.seeds.clone(),
        difficulty_samples: file.difficulty_samples(),
        sampler: sampler
            .as_ref()
            .map(|s| s as &dyn ttc_orchestrator::Sampler),
        reference: reference
            .as_ref()
            .map(|r| r as &dyn ttc_orchestrator::Reference),
        grade: &grade,
    };
    // The output folder is touched only once the run file and its models have loaded, so a
    // refused run leaves nothing behind.
    let models = crate::run_models::fingerprints(file)?;
    std::fs::create_dir_all(&out_dir).map_err(|e| ttc_core::Error::io(&out_dir, e))?;
    crate::run_models::check_or_record(&out_dir, &models, run_text.is_none())?;
    if let Some(text) = run_text {
        let kept = out_dir.join("run.toml");
        std::fs::write(&kept, text).map_err(|e| ttc_core::Error::io(&kept, e))?;
    }
    let generator_parameters = Some(generator.info().parameters);
    if let Some(shard) = options.shard {
        let records_per_question = solvers
            .iter()
            .map(|s| plan.budgets.iter().filter(|&&b| s.supports(b)).count())
            .sum::<usize>()
            * plan.seeds.len();
        ShardManifest {
            shard,
            run_file: path.clone(),
            dataset: dataset.clone(),
            records_per_question,
            methods: solvers.iter().map(|s| s.method().to_string()).collect(),
            difficulty: plan.sampler.is_some() && plan.difficulty_samples > 0,
            reference: plan.reference.is_some(),
            generator_parameters,
            machines: vec![Machine {
                provider: generator.info().provider.active.to_string(),
                onnxruntime: ttc_onnx::loaded()
                    .map_or_else(|| "not loaded".to_string(), |rt| rt.build_info()),
                cpu: crate::shard::cpu_name(),
            }],
        }
        .check_or_record(&out_dir)?;
    }
    tracing::info!(questions = questions.len(), methods = solvers.len(), output = %out_dir.display(), "sweep starting");
    events(EvalEvent::Started {
        shard: options.shard,
        questions: questions.len(),
        dataset: dataset.len(),
        out_dir: out_dir.clone(),
    });
    let files = RunFiles::in_dir(&out_dir);
    let summary = ttc_orchestrator::run_with_hook(
        &plan,
        &files,
        &mut |p| events(EvalEvent::Progress(p)),
        after_record,
    )?;
    tracing::info!(
        written = summary.records_written,
        resumed = summary.records_resumed,
        seconds = format!("{:.1}", summary.seconds),
        "sweep done"
    );
    let records: Vec<EvalRecord> = ttc_orchestrator::read_records(&files.results)?;
    Ok((out_dir, records, generator_parameters, summary.interrupted))
}

/// A sweep method resolved against the run file: a search strategy, or a revision
/// rule by its group (one per ratio) and its index among the group's rules.
enum Planned {
    Search(Strategy),
    Revise {
        group: usize,
        index: usize,
        /// Whether the label names the rule (`revise-r4-majority`).
        named: bool,
    },
}

/// The run file's text when `out_dir` holds no run yet (to be kept there as
/// `run.toml`), `None` when it holds a run of the same file; an error when it holds
/// another file's run, so that two sweeps never mix in one folder.
fn check_run_file(path: &Path, out_dir: &Path) -> Result<Option<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| ttc_core::Error::io(path, e))?;
    let kept = out_dir.join("run.toml");
    match std::fs::read_to_string(&kept) {
        Ok(old) if old != text => bail!(
            "{} holds a run of a different run file ({}); use another --output folder, or delete it to start over",
            out_dir.display(),
            kept.display()
        ),
        Ok(_) => Ok(None),
        Err(_) => Ok(Some(text)),
    }
}
