//! Predicted difficulty: the mean verifier score of a question's samples.

use serde::{Deserialize, Serialize};
use ttc_core::{Error, Result};

use crate::bins::{Binned, Statistic, bin_values};

/// The verifier's final-answer scores of one question's samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuestionScores {
    pub question: String,
    /// One score per sample. How a sample without a parsable answer is scored (left
    /// out, or given 0) is the caller's choice; use the same rule for the reference
    /// set and at inference.
    pub scores: Vec<f64>,
}

/// The mean of `scores`: a question's predicted-difficulty value (higher = easier).
/// Fails on no scores or a non-finite score, naming its position.
pub fn mean_score(scores: &[f64]) -> Result<f64> {
    if scores.is_empty() {
        return Err(Error::invalid(
            "verifier scores",
            "there are none; score at least one sample of the question",
        ));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(Error::invalid(
            "verifier scores",
            format!(
                "score {} is {}; check the verifier's output",
                i + 1,
                scores[i]
            ),
        ));
    }
    Ok(scores.iter().sum::<f64>() / scores.len() as f64)
}

/// Predicted difficulty bins (docs/method.md §4) over a reference set: each question's
/// mean verifier score cut into `bins` quantile bins, bin 1 the easiest (highest
/// score). The returned edges bin any new question by its mean score alone
/// ([`crate::BinEdges::bin`]); they reproduce these bins exactly.
pub fn predicted_bins(reference: &[QuestionScores], bins: usize) -> Result<Binned> {
    let values = reference
        .iter()
        .map(|q| {
            let mean = mean_score(&q.scores).map_err(|e| match e {
                Error::InvalidInput { what, message } => {
                    Error::invalid(format!("{what} of question `{}`", q.question), message)
                }
                other => other,
            })?;
            Ok((q.question.clone(), mean))
        })
        .collect::<Result<Vec<_>>>()?;
    bin_values(Statistic::MeanVerifierScore, &values, bins)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str, scores: &[f64]) -> QuestionScores {
        QuestionScores {
            question: name.into(),
            scores: scores.to_vec(),
        }
    }

    #[test]
    fn mean_scores_bin_the_reference_and_new_questions() {
        let reference = vec![
            q("a", &[0.9, 0.7]), // 0.8
            q("b", &[0.1, 0.3]), // 0.2
            q("c", &[0.5]),      // 0.5
            q("d", &[0.6, 0.8]), // 0.7
            q("e", &[0.0, 0.2]), // 0.1
            q("f", &[0.4, 0.4]), // 0.4
        ];
        let b = predicted_bins(&reference, 3).unwrap();
        let bins: Vec<usize> = b.questions.iter().map(|q| q.bin).collect();
        assert_eq!(bins, vec![1, 3, 2, 1, 3, 2]);
        let edges = b.edges.edges();
        assert!(
            (edges[0] - 0.6).abs() < 1e-12 && (edges[1] - 0.3).abs() < 1e-12,
            "{edges:?}"
        );
        assert_eq!(b.edges.statistic(), Statistic::MeanVerifierScore);
        // A new question is binned by its mean score alone.
        assert_eq!(b.edges.bin(mean_score(&[0.95, 0.85]).unwrap()).unwrap(), 1);
        assert_eq!(b.edges.bin(0.45).unwrap(), 2);
        assert_eq!(b.edges.bin(0.0).unwrap(), 3);
    }

    #[test]
    fn empty_or_broken_scores_name_the_question() {
        let err = predicted_bins(&[q("x1", &[])], 5).unwrap_err();
        assert!(
            err.to_string()
                .contains("verifier scores of question `x1`: there are none"),
            "{err}"
        );
        let err = predicted_bins(&[q("x2", &[0.5, f64::INFINITY])], 5).unwrap_err();
        assert!(
            err.to_string().contains("question `x2`: score 2 is inf"),
            "{err}"
        );
    }
}
