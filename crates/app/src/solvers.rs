//! The methods as `Solver`s for the orchestrator, and the difficulty sampler and
//! reference model it needs, built from concrete components.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ttc_core::{Compute, Result, Selector, Solved, Solver, Vote, select};
use ttc_orchestrator::{Reference, Sampler};
use ttc_reviser::{ChainSplit, Reviser};
use ttc_search::{BeamWidth, Searcher, Strategy};

/// A method of the sweep: a search strategy or a revision split ratio.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    Search(Strategy),
    /// Revisions: `ratio` is the sequential-to-parallel ratio (chain length / number
    /// of chains); `selector` the rule the label names, if it names one (else the
    /// sweep's `revision-selector`).
    Revise {
        ratio: f64,
        selector: Option<Selector>,
    },
}

/// Parses a method label as reports print it: `majority`, `best-of-n-weighted`,
/// `best-of-n-naive`, `beam-m4`, `beam-msqrt`, `lookahead-m4-k1`, `dvts-m4`, `revise-r4`, `revise-r1/4`,
/// and a revision label with its selection rule: `revise-r4-majority`, `revise-r1/4-weighted`,
/// `revise-r1-naive`.
pub fn parse_method(label: &str) -> std::result::Result<Method, String> {
    let width = |s: &str| -> Option<BeamWidth> {
        match s.strip_prefix('m')? {
            "sqrt" => Some(BeamWidth::Sqrt),
            m => m
                .parse()
                .ok()
                .filter(|&m: &usize| m >= 1)
                .map(BeamWidth::Fixed),
        }
    };
    let parsed = match label {
        "majority" => Some(Method::Search(Strategy::BestOfN {
            selector: Selector::Majority,
        })),
        "best-of-n-weighted" => Some(Method::Search(Strategy::BestOfN {
            selector: Selector::Weighted,
        })),
        "best-of-n-naive" => Some(Method::Search(Strategy::BestOfN {
            selector: Selector::Naive,
        })),
        _ => {
            let parts: Vec<&str> = label.split('-').collect();
            match parts.as_slice() {
                ["beam", w] => width(w).map(|width| {
                    Method::Search(Strategy::Beam {
                        width,
                        lookahead: 0,
                    })
                }),
                ["lookahead", w, k] => {
                    match (width(w), k.strip_prefix('k').and_then(|k| k.parse().ok())) {
                        (Some(width), Some(lookahead)) if lookahead > 0 => {
                            Some(Method::Search(Strategy::Beam { width, lookahead }))
                        }
                        _ => None,
                    }
                }
                ["dvts", w] => width(w).map(|width| Method::Search(Strategy::Dvts { width })),
                ["revise", r, rule @ ..] if rule.len() <= 1 => {
                    let selector = match rule {
                        [] => Some(None),
                        [name] => Selector::from_name(name).map(Some),
                        _ => None,
                    };
                    let ratio = r
                        .strip_prefix('r')
                        .and_then(|r| ttc_reviser::parse_ratio(r).ok());
                    ratio
                        .zip(selector)
                        .map(|(ratio, selector)| Method::Revise { ratio, selector })
                }
                _ => None,
            }
        }
    };
    parsed.ok_or_else(|| {
        format!(
            "unknown method {label:?}: use majority, best-of-n-weighted, best-of-n-naive, beam-mM, \
             beam-msqrt, lookahead-mM-kK, dvts-mM or revise-rR[-majority|-weighted|-naive] \
             (R = chain length / chains, e.g. 4 or 1/4)"
        )
    })
}

/// The label of a revision ratio and named selection rule, e.g. `revise-r4`,
/// `revise-r1/4`, `revise-r4-majority`.
pub fn revise_label(ratio: f64, selector: Option<Selector>) -> String {
    let r = if ratio >= 1.0 {
        format!("revise-r{}", ratio.round() as u64)
    } else {
        format!("revise-r1/{}", (1.0 / ratio).round() as u64)
    };
    match selector {
        None => r,
        Some(s) => format!("{r}-{}", s.name()),
    }
}

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
        generator_flops: c.generator_flops * f,
        verifier_flops: c.verifier_flops * f,
    }
}

impl Solver for SearchSolver<'_> {
    fn label(&self) -> String {
        self.strategy.label()
    }

    fn family(&self) -> &'static str {
        match self.strategy {
            Strategy::BestOfN { .. } => "best-of-n",
            _ => "search",
        }
    }

    fn params(&self) -> BTreeMap<String, serde_json::Value> {
        // f32 settings printed as written, not as their f64 expansion.
        let t: f64 = self
            .searcher
            .settings
            .sampling
            .temperature
            .to_string()
            .parse()
            .unwrap_or(0.0);
        BTreeMap::from([("temperature".to_string(), serde_json::json!(t))])
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
/// chooses from (it may know more than any deployable verifier).
#[derive(Debug)]
pub struct DiagnosticSolver<'a> {
    pub inner: SearchSolver<'a>,
    pub verifier: String,
}

impl Solver for DiagnosticSolver<'_> {
    fn label(&self) -> String {
        format!("{}@{}", self.inner.label(), self.verifier)
    }

    fn family(&self) -> &'static str {
        "diagnostic"
    }

    fn params(&self) -> BTreeMap<String, serde_json::Value> {
        self.inner.params()
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
    shared: Mutex<HashMap<(String, usize, u64), Vec<Option<Solved>>>>,
}

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
    fn label(&self) -> String {
        revise_label(
            self.group.ratio,
            self.selector_in_label.then_some(self.selector()),
        )
    }

    fn family(&self) -> &'static str {
        "revisions"
    }

    fn params(&self) -> BTreeMap<String, serde_json::Value> {
        BTreeMap::from([
            ("ratio".to_string(), serde_json::json!(self.group.ratio)),
            (
                "selector".to_string(),
                serde_json::to_value(self.selector()).unwrap_or_default(),
            ),
        ])
    }

    fn supports(&self, budget: usize) -> bool {
        ChainSplit::from_ratio(budget, self.group.ratio).is_ok()
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

    #[test]
    fn method_labels_round_trip() {
        for label in [
            "majority",
            "best-of-n-weighted",
            "best-of-n-naive",
            "beam-m4",
            "beam-msqrt",
            "lookahead-m4-k1",
            "dvts-m2",
        ] {
            match parse_method(label).unwrap() {
                Method::Search(s) => assert_eq!(s.label(), label),
                Method::Revise { .. } => panic!("{label}"),
            }
        }
        for (label, ratio, selector) in [
            ("revise-r4", 4.0, None),
            ("revise-r1", 1.0, None),
            ("revise-r1/4", 0.25, None),
            ("revise-r4-majority", 4.0, Some(Selector::Majority)),
            (
                "revise-r1/16-weighted",
                1.0 / 16.0,
                Some(Selector::Weighted),
            ),
            ("revise-r1-naive", 1.0, Some(Selector::Naive)),
        ] {
            assert_eq!(
                parse_method(label).unwrap(),
                Method::Revise { ratio, selector }
            );
            assert_eq!(revise_label(ratio, selector), label);
        }
        for bad in [
            "beam",
            "beam-4",
            "lookahead-m4-k0",
            "dvts-m0",
            "revise-r3",
            "revise-r4-best",
            "revise-r4-majority-weighted",
            "best",
        ] {
            assert!(
                parse_method(bad).unwrap_err().contains("unknown method"),
                "{bad}"
            );
        }
    }
}
