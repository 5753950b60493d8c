//! The methods as `Solver`s for the orchestrator, and the difficulty sampler and
//! reference model it needs, built from concrete components. Methods are named in
//! core's grammar ([`MethodSpec`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ttc_core::{
    Compute, MethodId, MethodSpec, Param, Params, Result, Selector, Solved, Solver, Vote, select,
};
use ttc_orchestrator::{Reference, Sampler};
use ttc_reviser::{ChainSplit, Reviser};
use ttc_search::{Searcher, Strategy};

/// A search strategy as a solver.
#[derive(Debug)]
pub struct SearchSolver<'a> {
    pub searcher: Searcher<'a>,
    pub strategy: Strategy,
}

fn scaled(c: &Compute, part: usize, whole: usize) -> Compute {
    let f = part as f64 / whole as f64;
    let s = |x: usize| (x as f64 * f).round() as usize;
    Compute {
        generations: part,
        sampled_steps: s(c.sampled_steps),
        generated_tokens: s(c.generated_tokens),
        context_tokens: s(c.context_tokens),
        generator_processed_tokens: s(c.generator_processed_tokens),
        verifier_tokens: s(c.verifier_tokens),
        verifier_reread_tokens: s(c.verifier_reread_tokens),
        generator_flops: c.generator_flops * f,
        verifier_flops: c.verifier_flops * f,
    }
}

/// A solver limited to some of the sweep's budgets: the orchestrator runs a method
/// only at the budgets it `supports`.
pub struct AtBudgets<'a> {
    inner: Box<dyn Solver + 'a>,
    budgets: Vec<usize>,
    /// The run file named these budgets for this method (`[sweep] method-budgets`):
    /// each runs, even one the method skips when it comes from the shared list (a
    /// revision ratio without an exact split there takes the nearest).
    listed: bool,
}

impl<'a> AtBudgets<'a> {
    /// The shared list's budgets the method supports among `budgets`.
    pub fn new(inner: Box<dyn Solver + 'a>, budgets: Vec<usize>) -> Self {
        AtBudgets {
            inner,
            budgets,
            listed: false,
        }
    }

    /// Every one of `budgets`, as `method-budgets` lists them for this method.
    pub fn listed(inner: Box<dyn Solver + 'a>, budgets: Vec<usize>) -> Self {
        AtBudgets {
            inner,
            budgets,
            listed: true,
        }
    }
}

impl std::fmt::Debug for AtBudgets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtBudgets")
            .field("method", &self.inner.method().key())
            .field("budgets", &self.budgets)
            .field("listed", &self.listed)
            .finish()
    }
}

impl Solver for AtBudgets<'_> {
    fn method(&self) -> MethodId {
        self.inner.method()
    }

    fn supports(&self, budget: usize) -> bool {
        self.budgets.contains(&budget) && (self.listed || self.inner.supports(budget))
    }

    fn solve(&self, question: &str, budget: usize, seed: u64) -> Result<Solved> {
        self.inner.solve(question, budget, seed)
    }

    fn solve_budgets(
        &self,
        question: &str,
        budgets: &[usize],
        seed: u64,
    ) -> Option<Result<Vec<Solved>>> {
        self.inner.solve_budgets(question, budgets, seed)
    }
}

impl SearchSolver<'_> {
    /// The temperature as the run file wrote it (an f32 printed as written, not as its
    /// f64 expansion).
    fn params(&self) -> Params {
        let t: f64 = self
            .searcher
            .settings
            .sampling
            .temperature
            .to_string()
            .parse()
            .unwrap_or(0.0);
        Params::from([("temperature".to_string(), Param::Float(t))])
    }
}

impl Solver for SearchSolver<'_> {
    fn method(&self) -> MethodId {
        let id = MethodId::new(MethodSpec::from(self.strategy));
        // Greedy decoding ignores the run's temperature: it has no params.
        if self.strategy == Strategy::Greedy {
            return id;
        }
        id.with_params(self.params()).expect("a finite temperature")
    }

    fn solve(&self, question: &str, budget: usize, seed: u64) -> Result<Solved> {
        let out = self
            .searcher
            .solve(question, &self.strategy, budget, seed)?;
        Ok(Solved {
            answer: out.answer,
            compute: out.compute,
            chains: Vec::new(),
            seconds: None,
        })
    }

    /// Best-of-N at several budgets samples once at the largest and selects over the
    /// first n samples for each smaller n (sample i does not depend on N); its
    /// compute and wall time are the largest run's, pro rata.
    fn solve_budgets(
        &self,
        question: &str,
        budgets: &[usize],
        seed: u64,
    ) -> Option<Result<Vec<Solved>>> {
        let Strategy::BestOfN { selector } = self.strategy else {
            return None;
        };
        Some(self.best_of_n_budgets(question, budgets, seed, selector))
    }
}

/// A search method run against the `[diagnostic]` verifier instead of the main one:
/// labelled `METHOD@VERIFIER` and of family `diagnostic`, which no fitted policy
/// chooses from (it may know more than any deployable verifier). `method` is the
/// identity, checked when the solver is built ([`DiagnosticSolver::new`]).
#[derive(Debug)]
pub struct DiagnosticSolver<'a> {
    inner: SearchSolver<'a>,
    method: MethodId,
}

impl<'a> DiagnosticSolver<'a> {
    /// `inner` against the verifier named `verifier`; fails when the name cannot be
    /// written in a label.
    pub fn new(inner: SearchSolver<'a>, verifier: &str) -> Result<Self> {
        let method = inner.method().diagnostic(verifier)?;
        Ok(DiagnosticSolver { inner, method })
    }
}

impl Solver for DiagnosticSolver<'_> {
    fn method(&self) -> MethodId {
        self.method.clone()
    }

    fn solve(&self, question: &str, budget: usize, seed: u64) -> Result<Solved> {
        self.inner.solve(question, budget, seed)
    }

    fn solve_budgets(
        &self,
        question: &str,
        budgets: &[usize],
        seed: u64,
    ) -> Option<Result<Vec<Solved>>> {
        self.inner.solve_budgets(question, budgets, seed)
    }
}

impl SearchSolver<'_> {
    fn best_of_n_budgets(
        &self,
        question: &str,
        budgets: &[usize],
        seed: u64,
        selector: Selector,
    ) -> Result<Vec<Solved>> {
        let Some(&max) = budgets.iter().max() else {
            return Ok(Vec::new());
        };
        let started = Instant::now();
        let out = self.searcher.solve(question, &self.strategy, max, seed)?;
        let seconds = started.elapsed().as_secs_f64();
        let keys: Vec<Option<String>> = out
            .candidates
            .iter()
            .map(|c| c.answer.as_deref().map(|a| self.searcher.answers.key(a)))
            .collect();
        Ok(budgets
            .iter()
            .map(|&n| {
                let votes: Vec<Vote<'_>> = keys[..n]
                    .iter()
                    .zip(&out.candidates)
                    .map(|(k, c)| Vote {
                        key: k.as_deref(),
                        score: c.score.unwrap_or(0.0),
                    })
                    .collect();
                let answer =
                    select(&votes, selector).and_then(|i| out.candidates[i].answer.clone());
                Solved {
                    answer,
                    compute: scaled(&out.compute, n, max),
                    chains: Vec::new(),
                    seconds: Some(seconds * n as f64 / max as f64),
                }
            })
            .collect())
    }
}

/// Revision settings at one sequential ratio that differ only in selection rule:
/// their chains are generated (and scored) once per question, budget and seed,
/// and each rule selects over them. Each is charged the shared run's wall time (the
/// ORM's scoring included), what it would have taken alone up to that scoring.
#[derive(Debug)]
pub struct RevisionGroup<'a> {
    pub reviser: Reviser<'a>,
    pub ratio: f64,
    pub selectors: Vec<Selector>,
    /// Outcomes not yet taken, by (question, budget, seed): one slot per selector,
    /// emptied as each rule takes its own, so the entry goes once every rule has
    /// asked (in any order, for any interleaving of questions).
    shared: Mutex<HashMap<RunKey, Vec<Option<Solved>>>>,
}

/// (question, budget, seed): one run of a revision group.
type RunKey = (String, usize, u64);

impl<'a> RevisionGroup<'a> {
    pub fn new(reviser: Reviser<'a>, ratio: f64, selectors: Vec<Selector>) -> Self {
        RevisionGroup {
            reviser,
            ratio,
            selectors,
            shared: Mutex::new(HashMap::new()),
        }
    }

    fn solve(&self, question: &str, budget: usize, seed: u64, index: usize) -> Result<Solved> {
        let key = (question.to_string(), budget, seed);
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slots) = shared.get_mut(&key)
            && let Some(mine) = slots[index].take()
        {
            if slots.iter().all(Option::is_none) {
                shared.remove(&key);
            }
            return Ok(mine);
        }
        let split = ChainSplit::from_ratio(budget, self.ratio)?;
        let started = Instant::now();
        let outcomes = self
            .reviser
            .solve_selections(question, split, &self.selectors, seed)?;
        let seconds = started.elapsed().as_secs_f64();
        let mut slots: Vec<Option<Solved>> = outcomes
            .into_iter()
            .map(|out| {
                Some(Solved {
                    chains: out
                        .chains
                        .iter()
                        .map(|c| c.attempts.iter().map(|a| a.answer.clone()).collect())
                        .collect(),
                    answer: out.answer,
                    compute: out.compute,
                    seconds: Some(seconds),
                })
            })
            .collect();
        let mine = slots[index].take().expect("one outcome per selector");
        if slots.iter().any(Option::is_some) {
            shared.insert(key, slots);
        }
        Ok(mine)
    }
}

/// Revisions at one sequential ratio with one selection rule, as a solver.
#[derive(Debug)]
pub struct ReviseSolver<'a> {
    pub group: Arc<RevisionGroup<'a>>,
    /// Its selection rule's index in the group.
    pub index: usize,
    /// Whether the label names the selector (`revise-r4-majority`).
    pub selector_in_label: bool,
}

impl ReviseSolver<'_> {
    fn selector(&self) -> Selector {
        self.group.selectors[self.index]
    }
}

impl Solver for ReviseSolver<'_> {
    /// The rule is a param even when the label leaves it out (the run's default).
    fn method(&self) -> MethodId {
        MethodId::new(MethodSpec::Revise {
            ratio: self.group.ratio,
            selector: self.selector_in_label.then_some(self.selector()),
        })
        .with_params(Params::from([
            ("ratio".to_string(), Param::Float(self.group.ratio)),
            ("selector".to_string(), Param::from(self.selector().name())),
        ]))
        .expect("a finite ratio")
    }

    /// Budgets with a split at the ratio exactly; a run file's `method-budgets` can
    /// ask for others ([`AtBudgets::listed`]), which take the nearest split.
    fn supports(&self, budget: usize) -> bool {
        ChainSplit::exact(budget, self.group.ratio).is_some()
    }

    fn solve(&self, question: &str, budget: usize, seed: u64) -> Result<Solved> {
        self.group.solve(question, budget, seed, self.index)
    }
}

/// Difficulty evidence: best-of-N weighted samples, each with its answer and score.
#[derive(Debug)]
pub struct BestOfNSampler<'a> {
    pub searcher: Searcher<'a>,
}

impl Sampler for BestOfNSampler<'_> {
    fn sample(
        &self,
        question: &str,
        samples: usize,
        seed: u64,
    ) -> Result<(Vec<ttc_orchestrator::ScoredSample>, Compute)> {
        let strategy = Strategy::BestOfN {
            selector: Selector::Weighted,
        };
        let out = self.searcher.solve(question, &strategy, samples, seed)?;
        let pairs = out
            .candidates
            .into_iter()
            .map(|c| (c.answer, f64::from(c.score.unwrap_or(0.0))))
            .collect();
        Ok((pairs, out.compute))
    }
}

/// The larger generator, greedy, one sample.
#[derive(Debug)]
pub struct GreedyReference<'a> {
    pub searcher: Searcher<'a>,
    pub name: String,
}

impl Reference for GreedyReference<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn parameters(&self) -> u64 {
        self.searcher.generator.info().parameters
    }

    fn answer(&self, question: &str) -> Result<(Option<String>, Compute)> {
        let strategy = Strategy::BestOfN {
            selector: Selector::Majority,
        };
        let out = self.searcher.solve(question, &strategy, 1, 0)?;
        Ok((out.answer, out.compute))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ttc_core::AnswerFormat;
    use ttc_core::testing::{HashVerifier, ScriptedGenerator};
    use ttc_reviser::ReviserSettings;

    /// The last character of an attempt of at least 4 characters.
    struct LastChar;

    impl AnswerFormat for LastChar {
        fn extract(&self, solution: &str) -> Option<String> {
            (solution.chars().count() >= 4)
                .then(|| solution.chars().last().map(String::from))
                .flatten()
        }
        fn key(&self, answer: &str) -> String {
            answer.to_string()
        }
    }

    #[test]
    fn revision_rules_share_chains_whatever_order_questions_come_in() {
        let generator = ScriptedGenerator::default();
        let verifier = HashVerifier::default();
        let settings = ReviserSettings {
            max_attempt_tokens: 6,
            ..ReviserSettings::default()
        };
        let reviser = Reviser {
            generator: &generator,
            verifier: Some(&verifier),
            answers: &LastChar,
            settings: &settings,
        };
        let rules = vec![Selector::Majority, Selector::Weighted];
        let group = Arc::new(RevisionGroup::new(reviser, 1.0, rules.clone()));
        let solver = |index| ReviseSolver {
            group: Arc::clone(&group),
            index,
            selector_in_label: true,
        };
        let (majority, weighted) = (solver(0), solver(1));
        assert_eq!(
            majority.method().key(),
            "revise-r1-majority{ratio=1,selector=\"majority\"}"
        );
        // Questions interleaved, and the second rule asking first for one of them.
        let a0 = majority.solve("a", 4, 1).unwrap();
        let b1 = weighted.solve("b", 4, 1).unwrap();
        let a1 = weighted.solve("a", 4, 1).unwrap();
        let b0 = majority.solve("b", 4, 1).unwrap();
        for (q, got) in [("a", [&a0, &a1]), ("b", [&b0, &b1])] {
            let split = ChainSplit::from_ratio(4, 1.0).unwrap();
            let alone = reviser.solve_selections(q, split, &rules, 1).unwrap();
            for (rule, (out, solved)) in alone.iter().zip(got).enumerate() {
                assert_eq!(solved.answer, out.answer, "question {q}, rule {rule}");
                assert_eq!(solved.compute, out.compute, "question {q}, rule {rule}");
            }
        }
        // Every rule took its outcome, so nothing is left behind.
        assert!(group.shared.lock().unwrap().is_empty());
    }
}
