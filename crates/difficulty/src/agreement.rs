//! How well predicted bins agree with oracle bins, for the report.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use ttc_core::{Error, Result};

use crate::bins::Binned;

/// Oracle against predicted bins over the same questions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub bins: usize,
    pub questions: usize,
    /// `confusion[o][p]`: questions in oracle bin `o + 1` and predicted bin `p + 1`.
    pub confusion: Vec<Vec<usize>>,
    /// Fraction of questions whose two bins are equal.
    pub same_bin: f64,
    /// Fraction of questions whose two bins differ by at most one.
    pub within_one: f64,
}

/// Compares oracle and predicted bins question by question. Both must have the same
/// number of bins and the same questions; a question missing from one side is named.
pub fn agreement(oracle: &Binned, predicted: &Binned) -> Result<Agreement> {
    if oracle.bins() != predicted.bins() {
        return Err(Error::invalid(
            "difficulty agreement",
            format!(
                "oracle has {} bins, predicted {}; bin both with the same number",
                oracle.bins(),
                predicted.bins()
            ),
        ));
    }
    let bins = oracle.bins();
    let pred: HashMap<&str, usize> = predicted
        .questions
        .iter()
        .map(|q| (q.question.as_str(), q.bin))
        .collect();
    if pred.len() != predicted.questions.len() {
        return Err(Error::invalid(
            "difficulty agreement",
            "the predicted bins list a question twice; bin each question once",
        ));
    }
    let mut confusion = vec![vec![0; bins]; bins];
    let mut seen = 0;
    for q in &oracle.questions {
        let Some(&p) = pred.get(q.question.as_str()) else {
            return Err(Error::invalid(
                "difficulty agreement",
                format!(
                    "question `{}` has an oracle bin but no predicted bin; compare the same questions",
                    q.question
                ),
            ));
        };
        confusion[q.bin - 1][p - 1] += 1;
        seen += 1;
    }
    if seen != pred.len() {
        let oracle_ids: HashMap<&str, ()> = oracle
            .questions
            .iter()
            .map(|q| (q.question.as_str(), ()))
            .collect();
        let extra = predicted
            .questions
            .iter()
            .find(|q| !oracle_ids.contains_key(q.question.as_str()))
            .map(|q| q.question.as_str())
            .unwrap_or("?");
        return Err(Error::invalid(
            "difficulty agreement",
            format!(
                "question `{extra}` has a predicted bin but no oracle bin (or the oracle lists \
                 a question twice); compare the same questions"
            ),
        ));
    }
    if seen == 0 {
        return Err(Error::invalid(
            "difficulty agreement",
            "there are no questions to compare",
        ));
    }
    let count = |ok: &dyn Fn(usize, usize) -> bool| -> usize {
        (0..bins)
            .flat_map(|o| (0..bins).map(move |p| (o, p)))
            .filter(|&(o, p)| ok(o, p))
            .map(|(o, p)| confusion[o][p])
            .sum()
    };
    let same = count(&|o, p| o == p);
    let near = count(&|o, p| o.abs_diff(p) <= 1);
    Ok(Agreement {
        bins,
        questions: seen,
        same_bin: same as f64 / seen as f64,
        within_one: near as f64 / seen as f64,
        confusion,
    })
}

impl Agreement {
    /// The confusion matrix as a Markdown table (rows oracle, columns predicted),
    /// followed by the two agreement fractions.
    pub fn markdown(&self) -> String {
        let mut out = String::from("| oracle \\ predicted |");
        for p in 1..=self.bins {
            let _ = write!(out, " {p} |");
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(self.bins));
        for (o, row) in self.confusion.iter().enumerate() {
            let _ = write!(out, "\n| {} |", o + 1);
            for n in row {
                let _ = write!(out, " {n} |");
            }
        }
        let _ = write!(
            out,
            "\n\nSame bin: {:.1}%; within one bin: {:.1}% ({} questions).\n",
            100.0 * self.same_bin,
            100.0 * self.within_one,
            self.questions
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bins::{Statistic, bin_values};

    fn binned(stat: Statistic, values: &[(&str, f64)]) -> Binned {
        let v: Vec<(String, f64)> = values.iter().map(|(q, v)| (q.to_string(), *v)).collect();
        bin_values(stat, &v, 3).unwrap()
    }

    #[test]
    fn confusion_and_fractions() {
        let oracle = binned(
            Statistic::PassAt1,
            &[
                ("a", 0.9),
                ("b", 0.8),
                ("c", 0.5),
                ("d", 0.4),
                ("e", 0.1),
                ("f", 0.0),
            ],
        );
        // Predicted bins: a, c -> 1; b, f -> 2; d, e -> 3.
        let predicted = binned(
            Statistic::MeanVerifierScore,
            &[
                ("f", 0.5),
                ("e", 0.1),
                ("d", 0.2),
                ("c", 0.8),
                ("b", 0.6),
                ("a", 0.9),
            ],
        );
        let a = agreement(&oracle, &predicted).unwrap();
        assert_eq!(
            a.confusion,
            vec![vec![1, 1, 0], vec![1, 0, 1], vec![0, 1, 1]]
        );
        assert_eq!(a.questions, 6);
        assert!((a.same_bin - 2.0 / 6.0).abs() < 1e-12);
        assert!((a.within_one - 6.0 / 6.0).abs() < 1e-12);
        let table = a.markdown();
        assert!(
            table.starts_with(
                "| oracle \\ predicted | 1 | 2 | 3 |\n|---|---:|---:|---:|\n| 1 | 1 | 1 | 0 |"
            ),
            "{table}"
        );
        assert!(
            table.contains("Same bin: 33.3%; within one bin: 100.0% (6 questions)."),
            "{table}"
        );
    }

    #[test]
    fn mismatched_question_sets_are_named() {
        let oracle = binned(Statistic::PassAt1, &[("a", 0.9), ("b", 0.1)]);
        let predicted = binned(Statistic::MeanVerifierScore, &[("a", 0.9), ("z", 0.1)]);
        let err = agreement(&oracle, &predicted).unwrap_err();
        assert!(
            err.to_string().contains("question `b` has an oracle bin"),
            "{err}"
        );
        let predicted = binned(
            Statistic::MeanVerifierScore,
            &[("a", 0.9), ("b", 0.1), ("z", 0.5)],
        );
        let err = agreement(&oracle, &predicted).unwrap_err();
        assert!(
            err.to_string().contains("question `z` has a predicted bin"),
            "{err}"
        );
    }
}
