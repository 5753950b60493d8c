use std::any::Any;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{ModelInfo, Result};

/// A question and a candidate solution split into steps, to be scored.
#[derive(Clone, Copy, Debug)]
pub struct ScoreRequest<'a> {
    pub question: &'a str,
    /// The solution's steps, without delimiters.
    pub steps: &'a [String],
}

/// A verifier's scores for one candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepScores {
    /// One probability in [0, 1] per step (a PRM), or one for the whole answer (an ORM).
    pub scores: Vec<f32>,
    /// Tokens the verifier model read for this candidate.
    pub processed_tokens: usize,
}

/// How step scores become one answer score.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreAggregation {
    /// The last step's score: the paper's choice with soft Monte Carlo labels.
    #[default]
    Last,
    Min,
    Product,
    Mean,
}

impl ScoreAggregation {
    /// The answer score of `scores`; `None` when there are none.
    pub fn apply(self, scores: &[f32]) -> Option<f32> {
        if scores.is_empty() {
            return None;
        }
        Some(match self {
            ScoreAggregation::Last => *scores.last().expect("non-empty"),
            ScoreAggregation::Min => scores.iter().copied().fold(f32::INFINITY, f32::min),
            ScoreAggregation::Product => scores.iter().product(),
            ScoreAggregation::Mean => scores.iter().sum::<f32>() / scores.len() as f32,
        })
    }
}

/// What a verifier kept after scoring a candidate, so that the candidate's next step
/// can be scored without reading its prefix again (a PRM's KV cache and the scores of
/// the steps it has read). Opaque to callers; cloning shares it (a beam's children
/// share their parent's), and dropping the last clone frees it.
#[derive(Clone)]
pub struct VerifierState(pub Arc<dyn Any + Send + Sync>);

impl std::fmt::Debug for VerifierState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifierState(..)")
    }
}

/// One request scored by [`Verifier::score_continuing`].
#[derive(Clone, Debug)]
pub struct Continued {
    /// Every step's score; `processed_tokens` counts only what was read now.
    pub scores: StepScores,
    /// The state to continue this candidate from, when the verifier keeps one.
    pub state: Option<VerifierState>,
    /// Tokens of the prior state's prefix read again because the verifier could not
    /// continue from it (a layout that changes earlier tokens as steps are added, a
    /// graph without a KV cache, a full cache budget): 0 when it continued.
    pub reread_tokens: usize,
}

impl Continued {
    /// A request read in full, with no state kept.
    pub fn in_full(scores: StepScores) -> Continued {
        Continued {
            scores,
            state: None,
            reread_tokens: 0,
        }
    }
}

/// A model that scores solutions step by step (PRM) or as a whole (ORM).
/// Implementations batch every request of one call into shared model runs.
pub trait Verifier: Send + Sync {
    fn info(&self) -> &ModelInfo;

    /// Scores each request; one `StepScores` per request, in order.
    fn score(&self, requests: &[ScoreRequest<'_>]) -> Result<Vec<StepScores>>;

    /// Scores each request, continuing from `prior[i]` where one is given: a state
    /// this verifier returned for the same question and a prefix of request i's steps
    /// (`prior` is empty or one entry per request). A verifier with a cache reads only
    /// the tokens after that prefix; the default scores every request in full and
    /// keeps no state.
    fn score_continuing(
        &self,
        requests: &[ScoreRequest<'_>],
        prior: &[Option<VerifierState>],
    ) -> Result<Vec<Continued>> {
        let _ = prior;
        Ok(self
            .score(requests)?
            .into_iter()
            .map(Continued::in_full)
            .collect())
    }

    /// Whether the scores come from the generator's own log-probabilities of the
    /// steps (the built-in confidence verifier, [`crate::ConfidenceVerifier`]) rather
    /// than from reading their text: a caller that sampled the steps passes them to
    /// [`Verifier::score_sampled`].
    fn reads_logprobs(&self) -> bool {
        false
    }

    /// Scores requests whose steps the generator sampled, given each step's
    /// per-token log-probabilities under the generator (`logprobs[i][j]`: step j of
    /// request i, from [`crate::Completion::logprobs`]). The default ignores them and
    /// reads the text ([`Verifier::score_continuing`]).
    fn score_sampled(
        &self,
        requests: &[ScoreRequest<'_>],
        logprobs: &[Vec<Vec<f32>>],
        prior: &[Option<VerifierState>],
    ) -> Result<Vec<Continued>> {
        let _ = logprobs;
        self.score_continuing(requests, prior)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn aggregations_are_ordered(scores in proptest::collection::vec(0.0f32..=1.0, 1..20)) {
            let min = ScoreAggregation::Min.apply(&scores).unwrap();
            let mean = ScoreAggregation::Mean.apply(&scores).unwrap();
            let product = ScoreAggregation::Product.apply(&scores).unwrap();
            let max = scores.iter().copied().fold(0.0f32, f32::max);
            prop_assert!(min <= mean + 1e-6);
            prop_assert!(mean <= max + 1e-6);
            prop_assert!(product <= min + 1e-6);
            prop_assert_eq!(ScoreAggregation::Last.apply(&scores).unwrap(), *scores.last().unwrap());
        }
    }

    #[test]
    fn no_steps_no_score() {
        assert_eq!(ScoreAggregation::Mean.apply(&[]), None);
    }
}
