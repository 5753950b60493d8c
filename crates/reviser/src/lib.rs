//! Sequential revisions (docs/method.md §3, §7): a reviser model proposes an attempt,
//! then revises it again and again, each attempt conditioned on the earlier ones;
//! the answer is selected over every attempt of every chain.
//!
//! One entry point, [`Reviser::solve`]: a question, a [`ChainSplit`] of the budget,
//! a [`Selector`] and a seed in; every chain with every attempt, its answer and
//! score, the chosen answer and the compute used ([`RevisionOutcome`]) out.
//!
//! ```no_run
//! use ttc_core::Selector;
//! use ttc_reviser::{ChainSplit, Reviser, ReviserSettings, parse_ratio};
//!
//! // `ttc solve --strategy revise --budget 16 --sequential-ratio 4 "question"`; the
//! // application loads a model folder (`ttc_generator::OnnxGenerator`) here.
//! let reviser = ttc_core::testing::ScriptedGenerator::default();
//! let settings = ReviserSettings::default(); // or the run file's `[revision]` table
//! let split = ChainSplit::from_ratio(16, parse_ratio("4")?)?; // 2 chains x 8 attempts
//! let outcome = Reviser {
//!     generator: &reviser,
//!     verifier: None, // an ORM for `Selector::Weighted`
//!     answers: &ttc_math_grade::GradeMode::Integer,
//!     settings: &settings,
//! }
//! .solve("Start with 37. Add 5. What is the result?", split, Selector::Majority, 1)?;
//! println!("{:?} after {} generations", outcome.answer, outcome.compute.generations);
//! # Ok::<(), ttc_core::Error>(())
//! ```
//!
//! # The prompt layout
//!
//! A revision prompt is an opening (`question`), then each earlier attempt shown
//! (oldest first), then a closing (`revision`) after which the reviser writes;
//! `{question}` may sit in the opening, the closing, or both. The default, the
//! **demo layout** ([`RevisionLayout::demo`]) that the demo reviser is trained on,
//! puts the earlier attempt first and the generator's own prompt last:
//!
//! ```text
//! Attempt:
//! {attempt 1}
//! Question: {question}
//! Solution:
//! ```
//!
//! byte for byte: for each earlier attempt `"Attempt:\n" + text + "\n"` where
//! `text` is the attempt's text with its trailing line breaks (`\n`, `\r`)
//! removed, then `"Question: " + question + "\nSolution:\n"`. With no earlier
//! attempt it is the generator's prompt `"Question: {question}\nSolution:\n"`, so a
//! reviser fine-tuned from the generator starts out as the generator. The prompt is
//! encoded as plain text with the tokenizer's special tokens (BOS). The reviser
//! answers with its solution and then EOS. Only the **most recent
//! `context-attempts`** attempts (default 4, the paper's choice; the demo run files
//! show 1) are shown; older ones are dropped from the prompt ([`context_window`]).
//! [`RevisionLayout::question_first`] is the earlier layout (`Question: {question}`
//! first, `Attempt:` before every attempt including the new one), whose prompts
//! extend each other.
//!
//! A reviser is trained on this layout with `render(question, earlier)` as the
//! prompt (BOS, then the prompt text's tokens) and the target solution followed by
//! EOS as the completion; docs/method.md §3 says how the earlier attempts are drawn.
//!
//! # Chains
//!
//! A budget N buys N attempts, split as `chains` x `length` ([`ChainSplit`]);
//! `--sequential-ratio` is length / chains, or the nearest a divisor of N allows
//! ([`ChainSplit::from_ratio`]).
//! Every chain starts with the reviser's own attempt (no earlier attempts); attempt
//! i + 1 of a chain is conditioned on its attempts up to i. All chains advance
//! together: one batched [`Generator::generate`] call per round covers every chain
//! (the first round's shared prompt is read once). An attempt ends at EOS, at
//! `max-attempt-tokens`, or at one of `stop-strings` (the text is cut before it).
//!
//! Seeds: the chains are `fork`s of one sequence started with `seed`, so chain i's
//! random stream is derived from the seed and i alone; a chain keeps its stream when
//! its sequence is started afresh. The same seed gives the same outcome, and chain i
//! is the same whatever the number of chains.
//!
//! # Continuing a chain from its KV cache
//!
//! When the next prompt extends the chain's sequence as it stands (its prompt and
//! everything generated and appended since) and no attempt was dropped from the
//! context, the rest of the prompt is [`Generator::append`]ed (after an EOS, the
//! generator drops the EOS and keeps its cache) and the model does not re-read the
//! prefix ([`Attempt::continued`]). Otherwise, for instance when truncation drops an
//! attempt, the chain starts a fresh sequence on the full prompt. The
//! question-first layout writes earlier attempts and the one being written under
//! the same header, so its chains are continued for the first `context-attempts`
//! rounds; the demo layout (question after the attempts) and a layout with two
//! different headers (say `Previous attempt:` / `Revised solution:`) never are.
//! Appended text is tokenized on its own, so token boundaries at the joins can
//! differ from tokenizing the whole prompt at once.
//!
//! # Selection
//!
//! Over every attempt of every chain, not only the last, since revisions often turn
//! a correct answer wrong ([`chain_transitions`] counts how often):
//! - `majority`: the most frequent answer among all attempts of all chains (flat);
//!   needs no verifier.
//! - `weighted` (the paper's verifier selection): hierarchical; within each chain
//!   best-of-N weighted (the answer whose attempts' scores sum highest), then
//!   best-of-N weighted across the chains' picks, each weighted by its picked
//!   attempt's score (the best-scored attempt with the chain's answer).
//! - `naive`: the same hierarchy with the single top score, i.e. the top-scored
//!   attempt overall.
//!
//! Ties go to the answer seen first ([`select_over_chains`]).
//!
//! # Verifier
//!
//! An ORM scores a whole attempt: the attempt is split into steps on
//! `step-delimiter`, sent to the [`Verifier`] in one call for all attempts, and the
//! step scores aggregated with `aggregation` (an ORM-mode verifier returns one
//! score, which every aggregation keeps). With `verifier-context = "question"` the
//! verifier sees the question; with `"earlier-attempts"` it sees the question and
//! the earlier attempts that were in that attempt's prompt
//! ([`RevisionLayout::verifier_question`]), as the paper's revision ORM is trained.
//! Only attempts with an answer are scored (the others cannot be chosen), and only
//! when the selector needs scores.
//!
//! # Compute (docs/method.md §7)
//!
//! [`Compute`], one definition for every method:
//!
//! | field | revisions at budget N |
//! |---|---|
//! | `generations` | N = chains x length |
//! | `sampled_steps` | N (one completion per attempt) |
//! | `generated_tokens`, `context_tokens`, `generator_processed_tokens`, `generator_flops` | summed over the reviser's completions; processed tokens count the shared first prompt once and a continued chain's prefix not at all |
//! | `verifier_tokens`, `verifier_flops` | what the verifier read for the attempts it scored |
//!
//! The `generator_*` fields are the reviser's: it is the model that generates.
//!
//! # Configuration
//!
//! [`ReviserSettings`] is a serde struct (`deny_unknown_fields`, kebab-case keys,
//! every key optional); the application reads it from a run file's `[revision]`
//! table (the `[reviser]` table names the reviser model and its ORM). With the
//! defaults spelled out:
//!
//! ```toml
//! [revision]
//! context-attempts = 4
//! temperature = 0.8
//! top-k = 0
//! top-p = 1.0
//! max-attempt-tokens = 1024
//! stop-strings = []
//! reuse-cache = true
//! step-delimiter = "\n"
//! aggregation = "last"            # or "min", "product", "mean"
//! verifier-context = "question"   # or "earlier-attempts"
//!
//! [revision.layout]
//! question = ""
//! attempt = "Attempt:\n{attempt}\n"
//! revision = "Question: {question}\nSolution:\n"
//! ```
//!
//! Feature flags: none.

mod chains;
mod select;
mod settings;
mod split;
mod transitions;

use serde::{Deserialize, Serialize};
use ttc_core::{
    AnswerFormat, Compute, Error, FinishReason, Generator, Result, ScoreRequest, Selector,
    Verifier, Vote,
};

pub use select::{Pick, select_in_chain, select_over_chains};
pub use settings::{ReviserSettings, RevisionLayout, VerifierContext, context_window};
pub use split::{ChainSplit, parse_ratio};
pub use transitions::chain_transitions;
pub use ttc_core::Transitions;

/// One attempt of a chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The attempt's text (cut before a stop string).
    pub text: String,
    /// The final answer written in it.
    pub answer: Option<String>,
    /// The text split on the step delimiter (non-empty steps).
    pub steps: Vec<String>,
    /// The verifier's scores (empty when it did not score this attempt).
    pub step_scores: Vec<f32>,
    /// Step scores aggregated into one.
    pub score: Option<f32>,
    pub finish_reason: FinishReason,
    /// How many earlier attempts its prompt showed.
    pub context_attempts: usize,
    /// Whether it continued the chain's previous sequence from its KV cache.
    pub continued: bool,
    /// Tokens in the sequence before this attempt was generated.
    pub context_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Tokens the reviser actually processed for it.
    pub processed_tokens: usize,
}

/// One revision chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chain {
    /// In order: the reviser's first attempt, then each revision.
    pub attempts: Vec<Attempt>,
    /// This chain's own pick ([`select_in_chain`] with the outcome's selector).
    pub pick: Option<usize>,
}

/// The result of one revision run, serialisable for `--trace`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RevisionOutcome {
    /// `revise-{chains}x{length}`.
    pub strategy: String,
    /// N = chains x length.
    pub budget: usize,
    pub split: ChainSplit,
    pub selector: Selector,
    /// The chosen answer.
    pub answer: Option<String>,
    /// The attempt that carries it.
    pub chosen: Option<Pick>,
    pub chains: Vec<Chain>,
    pub compute: Compute,
}

impl RevisionOutcome {
    /// The chosen attempt.
    pub fn chosen_attempt(&self) -> Option<&Attempt> {
        self.chosen
            .map(|p| &self.chains[p.chain].attempts[p.attempt])
    }
}

/// The components and settings revisions run with.
#[derive(Clone, Copy)]
pub struct Reviser<'a> {
    /// The reviser model.
    pub generator: &'a dyn Generator,
    /// Needed for `weighted` and `naive` selection.
    pub verifier: Option<&'a dyn Verifier>,
    pub answers: &'a dyn AnswerFormat,
    pub settings: &'a ReviserSettings,
}

impl std::fmt::Debug for Reviser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reviser")
            .field("settings", self.settings)
            .finish_non_exhaustive()
    }
}

impl Reviser<'_> {
    /// Runs `split.chains` chains of `split.length` attempts on `question`, scores
    /// the attempts if `selector` needs it, and selects the answer.
    pub fn solve(
        &self,
        question: &str,
        split: ChainSplit,
        selector: Selector,
        seed: u64,
    ) -> Result<RevisionOutcome> {
        let mut out = self.solve_selections(question, split, &[selector], seed)?;
        Ok(out.remove(0))
    }

    /// [`Reviser::solve`] for several selection rules over the same chains: the
    /// chains are generated (and scored, if a rule needs it) once. Each outcome's
    /// compute counts what its own rule needs: a `majority` outcome leaves out the
    /// verifier's share.
    pub fn solve_selections(
        &self,
        question: &str,
        split: ChainSplit,
        selectors: &[Selector],
        seed: u64,
    ) -> Result<Vec<RevisionOutcome>> {
        self.settings.validate()?;
        split.validate()?;
        if let Some(&s) = selectors.iter().find(|&&s| s != Selector::Majority)
            && self.verifier.is_none()
        {
            return Err(Error::invalid(
                "selector",
                format!(
                    "{} selection over revisions needs a verifier (an ORM trained on the \
                     reviser's outputs); configure one or use majority",
                    s.name()
                ),
            ));
        }
        let _span =
            tracing::debug_span!("revise", chains = split.chains, length = split.length).entered();
        let (mut chains, mut compute) = chains::run(self, question, split, seed)?;
        compute.generations = split.budget();
        // Majority outcomes keep the chains as generated: no scores, no verifier cost.
        let scoring = selectors.iter().any(|&s| s != Selector::Majority);
        let unscored = (scoring && selectors.contains(&Selector::Majority))
            .then(|| (chains.clone(), compute.clone()));
        if scoring {
            self.score(question, &mut chains, &mut compute)?;
        }
        Ok(selectors
            .iter()
            .map(|&selector| match (&unscored, selector) {
                (Some((c, k)), Selector::Majority) => {
                    self.select(c.clone(), k.clone(), split, selector)
                }
                _ => self.select(chains.clone(), compute.clone(), split, selector),
            })
            .collect())
    }

    /// Picks the answer of finished (and, for `weighted` and `naive`, scored) chains.
    fn select(
        &self,
        mut chains: Vec<Chain>,
        compute: Compute,
        split: ChainSplit,
        selector: Selector,
    ) -> RevisionOutcome {
        let keys: Vec<Vec<Option<String>>> = chains
            .iter()
            .map(|c| {
                c.attempts
                    .iter()
                    .map(|a| a.answer.as_deref().map(|x| self.answers.key(x)))
                    .collect()
            })
            .collect();
        let votes: Vec<Vec<Vote<'_>>> = chains
            .iter()
            .zip(&keys)
            .map(|(c, k)| {
                c.attempts
                    .iter()
                    .zip(k)
                    .map(|(a, k)| Vote {
                        key: k.as_deref(),
                        score: a.score.unwrap_or(0.0),
                    })
                    .collect()
            })
            .collect();
        let chosen = select_over_chains(&votes, selector);
        for (c, v) in chains.iter_mut().zip(&votes) {
            c.pick = select_in_chain(v, selector);
        }
        let answer = chosen.and_then(|p| chains[p.chain].attempts[p.attempt].answer.clone());
        tracing::debug!(answer = ?answer, ?selector, "revisions done");
        RevisionOutcome {
            strategy: format!("revise-{}", split.label()),
            budget: split.budget(),
            split,
            selector,
            answer,
            chosen,
            chains,
            compute,
        }
    }

    /// Scores every attempt that has an answer, in one verifier call.
    fn score(&self, question: &str, chains: &mut [Chain], compute: &mut Compute) -> Result<()> {
        let verifier = self.verifier.expect("checked in solve");
        let mut at: Vec<(usize, usize)> = Vec::new();
        let mut questions: Vec<String> = Vec::new();
        for (ci, c) in chains.iter().enumerate() {
            for (ai, a) in c.attempts.iter().enumerate() {
                if a.answer.is_none() || a.steps.is_empty() {
                    continue;
                }
                questions.push(match self.settings.verifier_context {
                    VerifierContext::Question => question.to_string(),
                    VerifierContext::EarlierAttempts => {
                        let earlier: Vec<&str> = c.attempts[ai - a.context_attempts..ai]
                            .iter()
                            .map(|e| e.text.as_str())
                            .collect();
                        self.settings.layout.verifier_question(question, &earlier)
                    }
                });
                at.push((ci, ai));
            }
        }
        if at.is_empty() {
            return Ok(());
        }
        let requests: Vec<ScoreRequest<'_>> = at
            .iter()
            .zip(&questions)
            .map(|(&(ci, ai), q)| ScoreRequest {
                question: q,
                steps: &chains[ci].attempts[ai].steps,
            })
            .collect();
        let _span = tracing::debug_span!("verify", attempts = requests.len()).entered();
        let scored = verifier.score(&requests)?;
        if scored.len() != requests.len() {
            return Err(Error::invalid(
                "verifier output",
                format!(
                    "{} score lists for {} attempts; the verifier must return one per request",
                    scored.len(),
                    requests.len()
                ),
            ));
        }
        let params = verifier.info().parameters;
        for ((ci, ai), s) in at.into_iter().zip(scored) {
            compute.add_verifier(s.processed_tokens, params);
            let a = &mut chains[ci].attempts[ai];
            a.score = self.settings.aggregation.apply(&s.scores);
            a.step_scores = s.scores;
        }
        Ok(())
    }
}
