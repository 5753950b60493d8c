//! Oracle difficulty: pass@1 from many samples, cut into quantile bins.

use serde::{Deserialize, Serialize};
use ttc_core::{Error, Result};

use crate::bins::{Binned, Statistic, bin_values};

/// How many of a question's samples were correct.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassRate {
    pub question: String,
    pub correct: usize,
    pub samples: usize,
}

impl PassRate {
    /// Counts the correct samples among `outcomes` (one entry per sample).
    pub fn from_outcomes(question: impl Into<String>, outcomes: &[bool]) -> Self {
        PassRate {
            question: question.into(),
            correct: outcomes.iter().filter(|c| **c).count(),
            samples: outcomes.len(),
        }
    }

    /// correct / samples. Fails when there are no samples or more correct than samples.
    pub fn pass_at_1(&self) -> Result<f64> {
        if self.samples == 0 {
            return Err(Error::invalid(
                "pass rate",
                format!(
                    "question `{}` has no samples; sample it at least once (the paper uses 2048)",
                    self.question
                ),
            ));
        }
        if self.correct > self.samples {
            return Err(Error::invalid(
                "pass rate",
                format!(
                    "question `{}` has {} correct out of {} samples; correct cannot exceed samples",
                    self.question, self.correct, self.samples
                ),
            ));
        }
        Ok(self.correct as f64 / self.samples as f64)
    }
}

/// Oracle difficulty bins (docs/method.md §4): each question's pass@1 cut into `bins`
/// quantile bins, bin 1 the easiest (highest pass@1). See [`bin_values`] for sizes
/// and ties. The returned edges are over pass@1.
pub fn oracle_bins(rates: &[PassRate], bins: usize) -> Result<Binned> {
    let values = rates
        .iter()
        .map(|r| Ok((r.question.clone(), r.pass_at_1()?)))
        .collect::<Result<Vec<_>>>()?;
    bin_values(Statistic::PassAt1, &values, bins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_rates_are_binned_easiest_first() {
        let rates: Vec<PassRate> = [
            ("easy", 2000, 2048),
            ("hard", 3, 2048),
            ("mid", 1024, 2048),
            ("none", 0, 2048),
            ("good", 1500, 2048),
        ]
        .iter()
        .map(|(q, c, s)| PassRate {
            question: q.to_string(),
            correct: *c,
            samples: *s,
        })
        .collect();
        let b = oracle_bins(&rates, 5).unwrap();
        let bins: Vec<(&str, usize)> = b
            .questions
            .iter()
            .map(|q| (q.question.as_str(), q.bin))
            .collect();
        assert_eq!(
            bins,
            vec![
                ("easy", 1),
                ("hard", 4),
                ("mid", 3),
                ("none", 5),
                ("good", 2)
            ]
        );
        assert_eq!(b.edges.statistic(), Statistic::PassAt1);
        assert!((b.questions[2].value - 0.5).abs() < 1e-15);
    }

    #[test]
    fn from_outcomes_counts() {
        let r = PassRate::from_outcomes("q", &[true, false, true, true]);
        assert_eq!((r.correct, r.samples), (3, 4));
        assert_eq!(r.pass_at_1().unwrap(), 0.75);
    }

    #[test]
    fn impossible_counts_are_named() {
        let err = oracle_bins(&[PassRate::from_outcomes("q7", &[])], 5).unwrap_err();
        assert!(
            err.to_string().contains("question `q7` has no samples"),
            "{err}"
        );
        let bad = PassRate {
            question: "q8".into(),
            correct: 5,
            samples: 4,
        };
        let err = oracle_bins(&[bad], 5).unwrap_err();
        assert!(
            err.to_string().contains("`q8` has 5 correct out of 4"),
            "{err}"
        );
    }

    #[test]
    fn equal_pass_rates_from_different_sample_counts_tie() {
        let rates = vec![
            PassRate {
                question: "a".into(),
                correct: 1,
                samples: 2,
            },
            PassRate {
                question: "b".into(),
                correct: 1024,
                samples: 2048,
            },
            PassRate {
                question: "c".into(),
                correct: 2,
                samples: 2,
            },
        ];
        let b = oracle_bins(&rates, 3).unwrap();
        assert_eq!(b.questions[0].bin, b.questions[1].bin);
    }
}
