//! Evaluation sweeps: every method setting at every budget and seed on every
//! question, plus per-question difficulty evidence and a reference model's greedy
//! answers, written as JSONL as they complete.
//!
//! Methods come in as [`Solver`]s and models as traits, with settings already
//! resolved: this crate reads no config. Results are appended one line per record
//! and flushed, so an interrupted run loses at most the record in flight; running
//! the same plan again skips what is on disk (a torn last line is dropped first)
//! and ends with the same records as an uninterrupted run, because every record
//! depends only on its question, method, budget and seed.

mod jsonl;

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ttc_core::hash;
use ttc_core::{
    Compute, DifficultyRecord, EvalRecord, ReferenceRecord, Result, Solved, Solver, Transitions,
};

pub use jsonl::{append_record, read_records};

/// A question with its gold answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub id: String,
    pub problem: String,
    pub answer: String,
    pub level: u8,
}

/// One difficulty sample: its final answer (if any) and the verifier's score of it.
pub type ScoredSample = (Option<String>, f64);

/// Draws S samples of the base model for a question and reports, per sample, its
/// final answer and the verifier's final-answer score (difficulty evidence).
pub trait Sampler: Send + Sync {
    fn sample(
        &self,
        question: &str,
        samples: usize,
        seed: u64,
    ) -> Result<(Vec<ScoredSample>, Compute)>;
}

/// The larger model of the FLOPs-matched comparison, answering greedily.
pub trait Reference: Send + Sync {
    fn name(&self) -> String;
    fn parameters(&self) -> u64;
    fn answer(&self, question: &str) -> Result<(Option<String>, Compute)>;
}

/// Whether a predicted answer matches the gold one.
pub type Grader<'a> = &'a (dyn Fn(&str, &str) -> bool + Sync);

/// Everything one run does.
pub struct Plan<'a> {
    pub questions: &'a [Question],
    pub solvers: &'a [&'a dyn Solver],
    /// Budgets in generations, ascending.
    pub budgets: Vec<usize>,
    pub seeds: Vec<u64>,
    /// Difficulty samples per question (0: none).
    pub difficulty_samples: usize,
    pub sampler: Option<&'a dyn Sampler>,
    pub reference: Option<&'a dyn Reference>,
    pub grade: Grader<'a>,
}

impl std::fmt::Debug for Plan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("questions", &self.questions.len())
            .field(
                "solvers",
                &self
                    .solvers
                    .iter()
                    .map(|s| s.method().key())
                    .collect::<Vec<_>>(),
            )
            .field("budgets", &self.budgets)
            .field("seeds", &self.seeds)
            .finish_non_exhaustive()
    }
}

/// The files of one run's output folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFiles {
    pub results: PathBuf,
    pub difficulty: PathBuf,
    pub reference: PathBuf,
}

impl RunFiles {
    pub fn in_dir(dir: &Path) -> RunFiles {
        RunFiles {
            results: dir.join("results.jsonl"),
            difficulty: dir.join("difficulty.jsonl"),
            reference: dir.join("reference.jsonl"),
        }
    }
}

/// Where a run stands, for progress bars.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Units of work done (a unit: one solver and seed on one question, all budgets;
    /// or one question's difficulty samples; or one reference answer).
    pub done: usize,
    pub total: usize,
    /// Units that were already on disk when the run started.
    pub resumed: usize,
}

/// Counts of what a run wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunSummary {
    pub records_written: usize,
    pub records_resumed: usize,
    pub seconds: f64,
    /// The run stopped early because the caller's hook asked it to.
    pub interrupted: bool,
}

/// The seed of one question: the run's seed mixed with the question id, so that
/// questions draw independent samples and no record depends on question order.
pub fn question_seed(seed: u64, question: &str) -> u64 {
    let h = hash::fnv1a(question.as_bytes());
    hash::splitmix64_finalize(h ^ seed.wrapping_mul(hash::SPLITMIX64_GAMMA))
}

/// Runs `plan` into `files`, skipping whatever they already hold.
pub fn run(
    plan: &Plan<'_>,
    files: &RunFiles,
    progress: &mut dyn FnMut(Progress),
) -> Result<RunSummary> {
    run_with_hook(plan, files, progress, &mut |_| ControlFlow::Continue(()))
}

/// [`run`], calling `after_record(n)` once the n-th record of this call (of any
/// file) is on disk; `Break` stops the run right there, as a kill between two
/// writes would, and the summary says `interrupted`. Tests stop runs at a chosen
/// record this way and check that resuming ends with an uninterrupted run's records.
pub fn run_with_hook(
    plan: &Plan<'_>,
    files: &RunFiles,
    progress: &mut dyn FnMut(Progress),
    after_record: &mut dyn FnMut(usize) -> ControlFlow<()>,
) -> Result<RunSummary> {
    let began = Instant::now();
    let mut written = 0;
    let done_results: HashSet<(String, String, usize, u64)> =
        read_records::<EvalRecord>(&files.results)?
            .iter()
            .map(EvalRecord::key)
            .collect();
    let done_difficulty: HashSet<String> = read_records::<DifficultyRecord>(&files.difficulty)?
        .into_iter()
        .map(|r| r.question)
        .collect();
    let done_reference: HashSet<String> = read_records::<ReferenceRecord>(&files.reference)?
        .into_iter()
        .map(|r| r.question)
        .collect();
    let mut summary = RunSummary {
        records_resumed: done_results.len(),
        ..RunSummary::default()
    };
    // Appends a record, then asks the hook whether to go on.
    macro_rules! append {
        ($path:expr, $record:expr) => {
            append_record($path, $record)?;
            written += 1;
            if after_record(written).is_break() {
                summary.interrupted = true;
                summary.seconds = began.elapsed().as_secs_f64();
                return Ok(summary);
            }
        };
    }

    let per_question = plan.solvers.len() * plan.seeds.len()
        + usize::from(plan.sampler.is_some() && plan.difficulty_samples > 0)
        + usize::from(plan.reference.is_some());
    let mut state = Progress {
        done: 0,
        total: plan.questions.len() * per_question,
        resumed: 0,
    };
    progress(state);
    let mut tick = |state: &mut Progress, resumed: bool| {
        state.done += 1;
        state.resumed += usize::from(resumed);
        progress(*state);
    };

    for q in plan.questions {
        let _span = tracing::debug_span!("question", id = %q.id).entered();
        if let (Some(sampler), true) = (plan.sampler, plan.difficulty_samples > 0) {
            let resumed = done_difficulty.contains(&q.id);
            if !resumed {
                let seed = question_seed(plan.seeds.first().copied().unwrap_or(0) ^ 0xD1FF, &q.id);
                let (samples, compute) =
                    sampler.sample(&q.problem, plan.difficulty_samples, seed)?;
                let outcomes: Vec<bool> = samples
                    .iter()
                    .map(|(a, _)| a.as_deref().is_some_and(|a| (plan.grade)(&q.answer, a)))
                    .collect();
                let record = DifficultyRecord {
                    question: q.id.clone(),
                    level: q.level,
                    samples: samples.len(),
                    correct: outcomes.iter().filter(|c| **c).count(),
                    scores: samples.iter().map(|(_, s)| *s).collect(),
                    outcomes,
                    compute,
                };
                append!(&files.difficulty, &record);
            }
            tick(&mut state, resumed);
        }
        if let Some(reference) = plan.reference {
            let resumed = done_reference.contains(&q.id);
            if !resumed {
                let (answer, compute) = reference.answer(&q.problem)?;
                let record = ReferenceRecord {
                    question: q.id.clone(),
                    model: reference.name(),
                    parameters: reference.parameters(),
                    correct: answer
                        .as_deref()
                        .is_some_and(|a| (plan.grade)(&q.answer, a)),
                    answer,
                    compute,
                };
                append!(&files.reference, &record);
            }
            tick(&mut state, resumed);
        }
        for solver in plan.solvers {
            let method = solver.method();
            let label = method.label();
            for &seed in &plan.seeds {
                // A method with one fixed budget (greedy: N = 1) runs at it alone.
                let budgets = match method.method().fixed_budget() {
                    Some(b) => vec![b],
                    None => plan.budgets.clone(),
                };
                let missing: Vec<usize> = budgets
                    .iter()
                    .copied()
                    .filter(|&b| solver.supports(b))
                    .filter(|&b| !done_results.contains(&(q.id.clone(), label.clone(), b, seed)))
                    .collect();
                if missing.is_empty() {
                    tick(&mut state, true);
                    continue;
                }
                let qseed = question_seed(seed, &q.id);
                // (answer, wall seconds) per budget; a solver that shares work
                // between answers states each answer's time itself.
                let solved: Vec<(Solved, f64)> =
                    match solver.solve_budgets(&q.problem, &missing, qseed) {
                        Some(out) => out?.into_iter().map(|s| (s, 0.0)).collect(),
                        None => missing
                            .iter()
                            .map(|&b| {
                                let started = Instant::now();
                                let s = solver.solve(&q.problem, b, qseed)?;
                                Ok((s, started.elapsed().as_secs_f64()))
                            })
                            .collect::<Result<_>>()?,
                    };
                for (budget, (s, timed)) in missing.iter().zip(solved) {
                    let correct = |a: &Option<String>| {
                        a.as_deref().is_some_and(|a| (plan.grade)(&q.answer, a))
                    };
                    let transitions = (!s.chains.is_empty()).then(|| {
                        Transitions::of_sequences(
                            s.chains
                                .iter()
                                .map(|c| c.iter().map(correct).collect::<Vec<bool>>()),
                        )
                    });
                    let record = EvalRecord {
                        question: q.id.clone(),
                        level: q.level,
                        method: method.clone(),
                        budget: *budget,
                        seed,
                        correct: correct(&s.answer),
                        answer: s.answer,
                        gold: q.answer.clone(),
                        compute: s.compute,
                        seconds: s.seconds.unwrap_or(timed),
                        transitions,
                    };
                    summary.records_written += 1;
                    append!(&files.results, &record);
                }
                tick(&mut state, false);
            }
        }
    }
    summary.seconds = began.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_those_of_earlier_releases() {
        // Golden values: a run resumes only if its questions draw the same samples.
        assert_eq!(question_seed(0, "q1"), 0x490d_1e00_6960_b328);
        assert_eq!(
            question_seed(42 ^ 0xD1FF, "demo-test-00017"),
            0xd00b_4643_14d3_5538
        );
        assert_eq!(question_seed(u64::MAX, ""), 0x5afb_bf17_186d_cb75);
    }
}
