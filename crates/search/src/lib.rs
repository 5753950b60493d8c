//! Search against a verifier under one budget (docs/method.md §1, §2, §7).
//!
//! All strategies share one entry point, [`Searcher::solve`]: a question, a
//! budget N and a [`Strategy`] in; the chosen answer, every candidate with its
//! scores, the search tree and the compute used, out.
//!
//! | method | what N buys | `generations` |
//! |---|---|---|
//! | greedy | one greedy (temperature 0) sample, no verifier; N must be 1 | 1 |
//! | majority, best-of-N naive / weighted | N full samples | N |
//! | beam search, width M | N beams; each round keeps the top N/M prefixes and samples M next steps from each (N steps a round) until every beam has finished or 40 rounds | N |
//! | lookahead k, width M | beam search where each candidate step is scored after k more greedy steps | N x (k + 1) |
//! | DVTS, width M | N/M independent subtrees of M candidates; each keeps its best step and expands it by M | N |
//!
//! A beam that finishes keeps its place in the budget: beam search never has more
//! than N beams alive and finished together, so it never yields more than N
//! candidates. Tokens are counted as processed: kept prefixes are continued from
//! their KV cache, so the generator does not re-read them. The verifier continues
//! too: each path carries the verifier's state beside its sequence (forks share it,
//! pruned paths drop it), so a step appended to a scored prefix is read alone.
//! `verifier_tokens` counts what the verifier read, and `verifier_reread_tokens` the
//! part of it that a verifier without a usable cache read again.

mod beam;
mod best_of_n;
mod dvts;
mod settings;

use serde::{Deserialize, Serialize};
use ttc_core::{
    AnswerFormat, Completion, Error, FinishReason, Generator, Prompt, Result, ScoreRequest,
    Sequence, Verifier, VerifierState,
};

pub use settings::{SearchSettings, Strategy};
/// Re-exported from `ttc-core`, where the revision methods share them.
pub use ttc_core::{BeamWidth, Compute, MethodSpec, Selector, Vote, select};

/// One finished (or abandoned) solution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The generated solution text.
    pub text: String,
    pub steps: Vec<String>,
    /// The verifier's score of each step (empty when no verifier ran).
    pub step_scores: Vec<f32>,
    /// Step scores aggregated into one.
    pub score: Option<f32>,
    /// The final answer written in the text.
    pub answer: Option<String>,
    /// False when the search stopped it (round or token limit) before it ended.
    pub finished: bool,
}

/// What happened to a node of the search tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeStatus {
    /// Kept and expanded.
    Kept,
    /// Dropped by the selection.
    Pruned,
    /// Ended with a final answer or EOS: a candidate.
    Finished,
    /// Stopped by the round or token limit: a candidate.
    Stopped,
}

/// One sampled step (or, for best-of-N, one full sample).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceNode {
    pub id: usize,
    pub parent: Option<usize>,
    pub round: usize,
    pub step: String,
    pub score: Option<f32>,
    pub status: NodeStatus,
    /// Steps of the greedy lookahead rollout that scored this node.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub rollout: Vec<String>,
}

/// The result of one search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchOutcome {
    pub strategy: String,
    pub budget: usize,
    pub answer: Option<String>,
    /// Index of the candidate that carries the chosen answer.
    pub chosen: Option<usize>,
    pub candidates: Vec<Candidate>,
    pub compute: Compute,
    pub trace: Vec<TraceNode>,
}

/// The components and settings one search runs with.
#[derive(Clone, Copy)]
pub struct Searcher<'a> {
    pub generator: &'a dyn Generator,
    /// Needed by every strategy except majority voting.
    pub verifier: Option<&'a dyn Verifier>,
    pub answers: &'a dyn AnswerFormat,
    pub settings: &'a SearchSettings,
}

impl std::fmt::Debug for Searcher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Searcher")
            .field("settings", self.settings)
            .finish_non_exhaustive()
    }
}

impl Searcher<'_> {
    /// Runs `strategy` on `question` with budget N = `budget`.
    pub fn solve(
        &self,
        question: &str,
        strategy: &Strategy,
        budget: usize,
        seed: u64,
    ) -> Result<SearchOutcome> {
        self.settings.validate()?;
        if budget == 0 {
            return Err(Error::invalid("budget", "0 (use at least 1 generation)"));
        }
        if *strategy == Strategy::Greedy && budget != 1 {
            return Err(Error::invalid(
                "budget",
                format!(
                    "N = {budget} for greedy, which spends exactly one generation: use N = 1 \
                     (or best-of-n-weighted / majority to spend {budget})"
                ),
            ));
        }
        if strategy.needs_verifier() && self.verifier.is_none() {
            return Err(Error::invalid(
                "strategy",
                format!(
                    "{} needs a verifier; configure one or use majority",
                    strategy.label()
                ),
            ));
        }
        let _span = tracing::debug_span!("search", strategy = %strategy.label(), budget).entered();
        let mut outcome = match *strategy {
            Strategy::Greedy => best_of_n::greedy(self, question, seed)?,
            Strategy::BestOfN { selector } => {
                best_of_n::run(self, question, budget, selector, seed)?
            }
            Strategy::Beam { width, lookahead } => beam::run(
                self,
                question,
                budget,
                width.resolve(budget),
                lookahead,
                seed,
            )?,
            Strategy::Dvts { width } => {
                dvts::run(self, question, budget, width.resolve(budget), seed)?
            }
        };
        outcome.strategy = strategy.label();
        outcome.budget = budget;
        outcome.compute.generations = strategy.generations(budget);
        Ok(outcome)
    }

    /// Best-of-N at budget N that takes `first`, the candidates of an earlier
    /// best-of-N run on the same question with the same seed (a difficulty probe),
    /// as its first samples and draws only the rest: the answer is the one a full
    /// run at N would give, and `compute` counts the new samples alone
    /// (`generations` = N - `first.len()`). For weighted and naive selection `first`
    /// must carry its scores (a probe's samples are scored).
    pub fn best_of_n_after(
        &self,
        question: &str,
        first: &[Candidate],
        selector: Selector,
        budget: usize,
        seed: u64,
    ) -> Result<SearchOutcome> {
        self.settings.validate()?;
        let strategy = Strategy::BestOfN { selector };
        if first.len() > budget || budget == 0 {
            return Err(Error::invalid(
                "budget",
                format!(
                    "N = {budget} for best-of-N after {} earlier samples; N must be at least \
                     1 and at least the samples reused",
                    first.len()
                ),
            ));
        }
        if strategy.needs_verifier() && self.verifier.is_none() {
            return Err(Error::invalid(
                "strategy",
                format!("{} needs a verifier", strategy.label()),
            ));
        }
        if strategy.needs_verifier()
            && first
                .iter()
                .any(|c| c.score.is_none() && !c.steps.is_empty())
        {
            return Err(Error::invalid(
                "reused samples",
                "they carry no verifier scores; reuse scored samples for weighted or naive selection",
            ));
        }
        let mut outcome = best_of_n::run_after(self, question, budget, selector, seed, first)?;
        outcome.strategy = strategy.label();
        outcome.budget = budget;
        outcome.compute.generations = budget - first.len();
        Ok(outcome)
    }

    fn prompt(&self, question: &str) -> Prompt {
        let text = self
            .settings
            .prompt_template
            .replace("{question}", question);
        if self.settings.chat {
            Prompt::Chat(vec![ttc_core::ChatMessage {
                role: "user".into(),
                content: text,
            }])
        } else {
            Prompt::Text(text)
        }
    }

    fn start(&self, question: &str, seed: u64) -> Result<Sequence> {
        self.generator.start(&self.prompt(question), seed)
    }

    /// A step's text without its delimiter.
    fn step_text(&self, generated: &str) -> String {
        let d = &self.settings.step_delimiter;
        match generated.find(d.as_str()) {
            Some(i) => generated[..i].to_string(),
            None => generated.to_string(),
        }
    }

    /// The non-empty steps of a full solution.
    fn split_steps(&self, text: &str) -> Vec<String> {
        text.split(self.settings.step_delimiter.as_str())
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Whether a path ends after this step: EOS, a final answer, or too many tokens.
    fn ends(&self, completion: &Completion, step: &str, solution_tokens: usize) -> (bool, bool) {
        let finished =
            completion.finish_reason == FinishReason::Eos || self.answers.extract(step).is_some();
        let stopped = !finished
            && (solution_tokens >= self.settings.max_solution_tokens
                || completion.token_ids.is_empty());
        (finished, stopped)
    }

    /// Scores each step list with the verifier; adds its tokens to `compute`.
    fn score(
        &self,
        question: &str,
        steps: &[&[String]],
        logprobs: &[Vec<Vec<f32>>],
        compute: &mut Compute,
    ) -> Result<Vec<Vec<f32>>> {
        Ok(self
            .score_continuing(question, steps, logprobs, &[], compute)?
            .into_iter()
            .map(|(scores, _)| scores)
            .collect())
    }

    /// Scores each step list, continuing from `prior[i]` (the state returned for a
    /// prefix of list i) where given; returns the scores and the state to continue
    /// each list from. `logprobs[i][j]` are the generator's log-probabilities of
    /// step j of list i, for a verifier that reads them (`confidence`). Adds the
    /// verifier's tokens to `compute`.
    fn score_continuing(
        &self,
        question: &str,
        steps: &[&[String]],
        logprobs: &[Vec<Vec<f32>>],
        prior: &[Option<VerifierState>],
        compute: &mut Compute,
    ) -> Result<Vec<(Vec<f32>, Option<VerifierState>)>> {
        let verifier = self.verifier.expect("checked in solve");
        let requests: Vec<ScoreRequest<'_>> = steps
            .iter()
            .map(|s| ScoreRequest { question, steps: s })
            .collect();
        let scored = if verifier.reads_logprobs() {
            verifier.score_sampled(&requests, logprobs, prior)?
        } else {
            verifier.score_continuing(&requests, prior)?
        };
        let params = verifier.info().parameters;
        Ok(scored
            .into_iter()
            .map(|c| {
                compute.add_verifier(c.scores.processed_tokens, params);
                compute.verifier_reread_tokens += c.reread_tokens;
                (c.scores.scores, c.state)
            })
            .collect())
    }

    /// Whether the verifier scores from the generator's log-probabilities, so that
    /// the search must keep them per step.
    fn wants_logprobs(&self) -> bool {
        self.verifier.is_some_and(|v| v.reads_logprobs())
    }

    /// A full sample's token log-probabilities shared out over its `steps` (as
    /// [`Searcher::split_steps`] cut its text): a token goes to the last step that
    /// starts at or before it, so delimiters go to the step they end, as in beam
    /// search, where a step is sampled up to its delimiter. Step starts are found by
    /// decoding token prefixes, a binary search per step.
    fn step_logprobs(&self, completion: &Completion, steps: &[String]) -> Result<Vec<Vec<f32>>> {
        let tokens = &completion.token_ids;
        let mut out = vec![Vec::new(); steps.len()];
        if steps.is_empty() {
            return Ok(out);
        }
        // Byte offset in the text where each step starts.
        let d = self.settings.step_delimiter.as_str();
        let text = &completion.text;
        let mut starts = Vec::with_capacity(steps.len());
        let mut at = 0;
        for piece in text.split(d) {
            if !piece.trim().is_empty() {
                starts.push(at);
            }
            at += piece.len() + d.len();
        }
        // For each step but the first, its first token: the smallest i whose prefix
        // tokens[..i] decodes to at least its start (prefix lengths grow with i).
        let decoded_len =
            |i: usize| -> Result<usize> { Ok(self.generator.decode(&tokens[..i])?.len()) };
        let mut next_first = Vec::with_capacity(steps.len());
        for &end in starts.iter().skip(1).take(steps.len() - 1) {
            let (mut lo, mut hi) = (0, tokens.len());
            while lo < hi {
                let mid = (lo + hi) / 2;
                if decoded_len(mid)? >= end {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            next_first.push(lo);
        }
        for (i, &lp) in completion.logprobs.iter().enumerate() {
            let step = next_first.iter().filter(|&&f| f <= i).count();
            out[step.min(steps.len() - 1)].push(lp);
        }
        Ok(out)
    }

    /// The candidate list's winner by `selector`.
    fn choose(
        &self,
        candidates: &[Candidate],
        selector: Selector,
    ) -> (Option<usize>, Option<String>) {
        let keys: Vec<Option<String>> = candidates
            .iter()
            .map(|c| c.answer.as_deref().map(|a| self.answers.key(a)))
            .collect();
        let votes: Vec<Vote<'_>> = keys
            .iter()
            .zip(candidates)
            .map(|(k, c)| Vote {
                key: k.as_deref(),
                score: c.score.unwrap_or(0.0),
            })
            .collect();
        let chosen = select(&votes, selector);
        (chosen, chosen.and_then(|i| candidates[i].answer.clone()))
    }

    fn candidate(
        &self,
        text: String,
        steps: Vec<String>,
        step_scores: Vec<f32>,
        finished: bool,
    ) -> Candidate {
        Candidate {
            answer: self.answers.extract(&text),
            score: self.settings.aggregation.apply(&step_scores),
            text,
            steps,
            step_scores,
            finished,
        }
    }
}

/// Generates for the sequences at `idx` only, writing them back.
fn generate_subset(
    g: &dyn Generator,
    seqs: &mut [Sequence],
    idx: &[usize],
    sampling: &ttc_core::SamplingParams,
    stop: &ttc_core::StopCriteria,
) -> Result<Vec<Completion>> {
    let mut sub: Vec<Sequence> = idx.iter().map(|&i| seqs[i].clone()).collect();
    let out = g.generate(&mut sub, sampling, stop)?;
    for (&i, s) in idx.iter().zip(sub) {
        seqs[i] = s;
    }
    Ok(out)
}
