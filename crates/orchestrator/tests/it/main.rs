//! Whole sweeps on the scripted generator: what an interrupted run leaves behind
//! resumes to exactly the records of an uninterrupted one.

use std::ops::ControlFlow;
use std::path::Path;

use ttc_core::testing::ScriptedGenerator;
use ttc_core::{
    Compute, DifficultyRecord, EvalRecord, Generator, MethodId, Prompt, ReferenceRecord, Result,
    SamplingParams, Solved, Solver, StopCriteria,
};
use ttc_orchestrator::{
    Plan, Question, Reference, RunFiles, Sampler, ScoredSample, read_records, run, run_with_hook,
};

/// N scripted samples; the answer is the most common last character (ties: the
/// smallest). `shared` answers every budget from one run at the largest, as best-of-N does.
struct Vote {
    generator: ScriptedGenerator,
    shared: bool,
    label: &'static str,
}

fn samples(g: &ScriptedGenerator, question: &str, n: usize, seed: u64) -> Result<Vec<String>> {
    let start = g.start(&Prompt::Text(question.into()), seed)?;
    let mut seqs = start.fork(n);
    let out = g.generate(
        &mut seqs,
        &SamplingParams::with_temperature(1.0),
        &StopCriteria::max_tokens(12),
    )?;
    Ok(out.into_iter().map(|c| c.text).collect())
}

fn vote(texts: &[String]) -> Solved {
    let mut counts = std::collections::BTreeMap::new();
    for t in texts {
        if let Some(c) = t.trim().chars().last() {
            *counts.entry(c.to_string()).or_insert(0usize) += 1;
        }
    }
    let answer = counts
        .iter()
        .max_by_key(|(a, n)| (**n, std::cmp::Reverse((*a).clone())))
        .map(|(a, _)| a.clone());
    Solved {
        answer,
        compute: Compute {
            generations: texts.len(),
            ..Compute::default()
        },
        chains: Vec::new(),
        seconds: None,
    }
}

impl Solver for Vote {
    fn method(&self) -> MethodId {
        MethodId::new(self.label.parse().expect("a method in core's grammar"))
    }
    fn solve(&self, question: &str, budget: usize, seed: u64) -> Result<Solved> {
        Ok(vote(&samples(&self.generator, question, budget, seed)?))
    }
    fn solve_budgets(
        &self,
        question: &str,
        budgets: &[usize],
        seed: u64,
    ) -> Option<Result<Vec<Solved>>> {
        let max = *budgets.iter().max()?;
        self.shared.then(|| {
            let all = samples(&self.generator, question, max, seed)?;
            Ok(budgets.iter().map(|&n| vote(&all[..n])).collect())
        })
    }
}

struct Scored(ScriptedGenerator);

impl Sampler for Scored {
    fn sample(&self, question: &str, n: usize, seed: u64) -> Result<(Vec<ScoredSample>, Compute)> {
        let texts = samples(&self.0, question, n, seed)?;
        let scored = texts
            .iter()
            .map(|t| (t.chars().last().map(String::from), t.len() as f64 / 12.0))
            .collect();
        Ok((scored, Compute::default()))
    }
}

struct Greedy(ScriptedGenerator);

impl Reference for Greedy {
    fn name(&self) -> String {
        "greedy".into()
    }
    fn parameters(&self) -> u64 {
        self.0.info().parameters
    }
    fn answer(&self, question: &str) -> Result<(Option<String>, Compute)> {
        Ok((
            vote(&samples(&self.0, question, 1, 0)?).answer,
            Compute::default(),
        ))
    }
}

fn questions() -> Vec<Question> {
    (0..4)
        .map(|i| Question {
            id: format!("q{i}"),
            problem: format!("question {i}:"),
            answer: ["1", "2", "3", " "][i].into(),
            level: 1,
        })
        .collect()
}

/// A plan's records with wall time zeroed (the one thing allowed to differ).
fn records(dir: &Path) -> (Vec<EvalRecord>, Vec<DifficultyRecord>, Vec<ReferenceRecord>) {
    let files = RunFiles::in_dir(dir);
    let mut results: Vec<EvalRecord> = read_records(&files.results).unwrap();
    for r in &mut results {
        r.seconds = 0.0;
    }
    (
        results,
        read_records(&files.difficulty).unwrap(),
        read_records(&files.reference).unwrap(),
    )
}

/// A fresh folder for one run, removed when dropped.
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn a_run_interrupted_at_any_record_resumes_to_the_same_records() {
    let shared = Vote {
        generator: ScriptedGenerator::default(),
        shared: true,
        label: "majority",
    };
    let single = Vote {
        generator: ScriptedGenerator::default(),
        shared: false,
        label: "best-of-n-naive",
    };
    let solvers: Vec<&dyn Solver> = vec![&shared, &single];
    let sampler = Scored(ScriptedGenerator::default());
    let reference = Greedy(ScriptedGenerator::default());
    let questions = questions();
    let grade = |gold: &str, pred: &str| gold == pred;
    let plan = Plan {
        questions: &questions,
        solvers: &solvers,
        budgets: vec![1, 2, 4],
        seeds: vec![0, 1],
        difficulty_samples: 3,
        sampler: Some(&sampler),
        reference: Some(&reference),
        grade: &grade,
    };
    let whole = scratch();
    let whole = whole.path();
    let summary = run(&plan, &RunFiles::in_dir(whole), &mut |_| {}).unwrap();
    assert!(!summary.interrupted);
    let expected = records(whole);
    // Per question: 1 difficulty + 1 reference + 2 solvers x 2 seeds x 3 budgets.
    let total = questions.len() * (2 + 2 * 2 * 3);
    assert_eq!(
        expected.0.len() + expected.1.len() + expected.2.len(),
        total
    );

    for stop_at in [1, 2, 3, 7, total / 2, total - 1] {
        for torn in [false, true] {
            let dir = scratch();
            let dir = dir.path();
            let files = RunFiles::in_dir(dir);
            let first = run_with_hook(&plan, &files, &mut |_| {}, &mut |n| {
                if n == stop_at {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
            assert!(first.interrupted, "stop at {stop_at}");
            if torn {
                // A kill in the middle of the next write leaves half a line.
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&files.results)
                    .unwrap();
                f.write_all(b"{\"question\":\"q").unwrap();
            }
            let resumed = run(&plan, &files, &mut |_| {}).unwrap();
            assert!(!resumed.interrupted);
            assert!(
                resumed.records_resumed > 0 || stop_at <= 2,
                "stop at {stop_at}"
            );
            assert_eq!(
                records(dir),
                expected,
                "stopped at record {stop_at}, torn {torn}"
            );
        }
    }
}
