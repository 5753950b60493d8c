//! The built-in, label-free `confidence` verifier: the generator's own confidence in
//! each step, nothing trained.

use crate::{
    Continued, Error, ModelInfo, Result, ScoreRequest, StepScores, Verifier, VerifierState,
};

/// Scores a step by the geometric-mean probability of its tokens under the
/// generator that sampled them: `exp(mean(log p))`, in [0, 1]. Search uses it like
/// any PRM score (weighted best-of-N, beam search, DVTS, lookahead).
///
/// The probabilities are those the generator records with each sampled token
/// ([`crate::Completion::logprobs`]): the model's raw distribution, softmax of the
/// logits at temperature 1 before top-k and top-p, not the temperature-scaled
/// distribution the token was drawn from, so the score does not depend on the
/// sampling settings. It reads no text and runs no model: its tokens and FLOPs are
/// 0 (the generator's own are counted where they were spent). It can only score
/// steps a caller sampled and passes with their log-probabilities
/// ([`Verifier::score_sampled`]); asked to score given text, it says so. A step of
/// no tokens scores 1 (nothing was sampled against it).
#[derive(Debug)]
pub struct ConfidenceVerifier {
    info: ModelInfo,
}

impl Default for ConfidenceVerifier {
    fn default() -> Self {
        ConfidenceVerifier {
            info: ModelInfo::on_cpu("confidence", 0),
        }
    }
}

impl ConfidenceVerifier {
    /// The geometric-mean probability of tokens with natural-log probabilities
    /// `logprobs`; 1 for none.
    pub fn step_score(logprobs: &[f32]) -> f32 {
        if logprobs.is_empty() {
            return 1.0;
        }
        let mean = logprobs.iter().map(|&l| f64::from(l)).sum::<f64>() / logprobs.len() as f64;
        mean.exp().clamp(0.0, 1.0) as f32
    }
}

impl Verifier for ConfidenceVerifier {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn score(&self, _requests: &[ScoreRequest<'_>]) -> Result<Vec<StepScores>> {
        Err(Error::invalid(
            "verifier `confidence`",
            "it scores only steps the generator sampled in the same search, from their \
             log-probabilities, and cannot score given text; use it as [verifier] or a \
             [diagnostic] verifier for search and best-of-N, not as [reviser.verifier]",
        ))
    }

    fn reads_logprobs(&self) -> bool {
        true
    }

    fn score_sampled(
        &self,
        requests: &[ScoreRequest<'_>],
        logprobs: &[Vec<Vec<f32>>],
        _prior: &[Option<VerifierState>],
    ) -> Result<Vec<Continued>> {
        if logprobs.len() != requests.len() {
            return Err(Error::invalid(
                "verifier `confidence`",
                format!(
                    "{} requests with log-probabilities for {}",
                    requests.len(),
                    logprobs.len()
                ),
            ));
        }
        requests
            .iter()
            .zip(logprobs)
            .map(|(r, lp)| {
                if lp.len() != r.steps.len() {
                    return Err(Error::invalid(
                        "verifier `confidence`",
                        format!(
                            "{} steps with log-probabilities for {}",
                            r.steps.len(),
                            lp.len()
                        ),
                    ));
                }
                Ok(Continued::in_full(StepScores {
                    scores: lp.iter().map(|l| Self::step_score(l)).collect(),
                    processed_tokens: 0,
                }))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_scores_the_geometric_mean_probability_of_its_tokens() {
        let v = ConfidenceVerifier::default();
        let steps = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let r = ScoreRequest {
            question: "q",
            steps: &steps,
        };
        let lp = vec![vec![
            vec![0.5f32.ln(), 0.125f32.ln()],
            vec![],
            vec![0.9f32.ln()],
        ]];
        let out = v.score_sampled(&[r], &lp, &[]).unwrap();
        let s = &out[0].scores.scores;
        // sqrt(0.5 x 0.125) = 0.25.
        assert!((s[0] - 0.25).abs() < 1e-6, "{s:?}");
        assert_eq!(s[1], 1.0);
        assert!((s[2] - 0.9).abs() < 1e-6, "{s:?}");
        assert_eq!(out[0].scores.processed_tokens, 0);
        // Text alone cannot be scored, and the shapes must agree.
        let err = v.score(&[r]).unwrap_err().to_string();
        assert!(err.contains("cannot score given text"), "{err}");
        let err = v
            .score_sampled(&[r], &[vec![vec![]]], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("3 steps with log-probabilities for 1"),
            "{err}"
        );
    }
}
