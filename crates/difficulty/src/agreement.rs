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
    /// Questions per oracle bin (the confusion matrix's row sums; index 0 = bin 1).
    pub oracle_sizes: Vec<usize>,
    /// Questions per predicted bin (its column sums).
    pub predicted_sizes: Vec<usize>,
    /// The same-bin fraction a perfect predictor would reach given the oracle's
    /// ties ([`perfect_predictor_agreement`]).
    pub ceiling: f64,
    /// The same-bin fraction expected by chance: predicted bins of the same sizes
    /// drawn independently of the oracle's, `sum_b (o_b / n) (p_b / n)`.
    pub chance: f64,
}

/// The same-bin fraction a perfect predictor reaches against oracle bins of these
/// sizes (index 0 = bin 1): one that ranks the questions exactly as pass@1 does but
/// has no ties of its own (a continuous score), so its quantile bins are as equal
/// as the bin rule makes them (position r of n in bin `floor(r k / n) + 1`), while
/// the oracle's ties (e.g. many questions at pass@1 = 0) make its bins unequal. Both
/// bin the same ordering, so the agreement is the overlap of each bin's positions.
/// 1 when the oracle's bins are themselves as equal as possible.
pub fn perfect_predictor_agreement(oracle_sizes: &[usize]) -> f64 {
    let n: usize = oracle_sizes.iter().sum();
    let k = oracle_sizes.len();
    if n == 0 {
        return 0.0;
    }
    // Bin b (0-based) of the tie-free predictor holds positions [ceil(b n / k), ceil((b + 1) n / k)).
    let start = |b: usize| (b * n).div_ceil(k);
    let mut overlap = 0;
    let mut oracle_start = 0;
    for (b, &size) in oracle_sizes.iter().enumerate() {
        let (lo, hi) = (oracle_start, oracle_start + size);
        let (plo, phi) = (start(b), start(b + 1));
        overlap += hi.min(phi).saturating_sub(lo.max(plo));
        oracle_start = hi;
    }
    overlap as f64 / n as f64
}

/// The oracle bins' test-retest: each question's samples cut into two disjoint
/// halves (the first and the second `half_samples`), each half binned on its own,
/// and the two binnings compared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Retest {
    /// Samples per half (the smallest over the questions).
    pub half_samples: usize,
    pub agreement: Agreement,
}

/// The test-retest of oracle bins from per-sample outcomes (question, each sample's
/// correctness in sample order). None when a question has fewer than two samples
/// (no halves to compare) or there are no questions; an odd last sample is left out.
pub fn test_retest(outcomes: &[(String, Vec<bool>)], bins: usize) -> Result<Option<Retest>> {
    if outcomes.is_empty() || outcomes.iter().any(|(_, o)| o.len() < 2) {
        return Ok(None);
    }
    let halves = |second: bool| -> Vec<crate::PassRate> {
        outcomes
            .iter()
            .map(|(q, o)| {
                let h = o.len() / 2;
                let part = if second { &o[h..2 * h] } else { &o[..h] };
                crate::PassRate::from_outcomes(q.clone(), part)
            })
            .collect()
    };
    let first = crate::oracle_bins(&halves(false), bins)?;
    let second = crate::oracle_bins(&halves(true), bins)?;
    Ok(Some(Retest {
        half_samples: outcomes.iter().map(|(_, o)| o.len() / 2).min().unwrap_or(0),
        agreement: agreement(&first, &second)?,
    }))
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
    let oracle_sizes: Vec<usize> = confusion.iter().map(|row| row.iter().sum()).collect();
    let predicted_sizes: Vec<usize> = (0..bins)
        .map(|p| confusion.iter().map(|row| row[p]).sum())
        .collect();
    let n = seen as f64;
    let chance = oracle_sizes
        .iter()
        .zip(&predicted_sizes)
        .map(|(o, p)| (*o as f64 / n) * (*p as f64 / n))
        .sum();
    Ok(Agreement {
        bins,
        questions: seen,
        same_bin: same as f64 / n,
        within_one: near as f64 / n,
        ceiling: perfect_predictor_agreement(&oracle_sizes),
        chance,
        oracle_sizes,
        predicted_sizes,
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
    fn sizes_chance_and_the_perfect_predictors_ceiling() {
        // Ten questions, four tied at pass@1 = 0: with 3 bins the six distinct
        // values take positions 0-5 (bins 1, 1, 1, 1, 2, 2) and the ties positions
        // 6-9, whose mean 7.5 puts them all in bin 3: sizes 4, 2, 4, where a
        // tie-free ranking gives 4, 3, 3 (positions 0-3, 4-6, 7-9). Overlap:
        // 4 + 2 + 3 = 9 of 10.
        let values: Vec<(&str, f64)> = vec![
            ("a", 0.9),
            ("b", 0.8),
            ("c", 0.7),
            ("d", 0.6),
            ("e", 0.5),
            ("f", 0.4),
            ("g", 0.0),
            ("h", 0.0),
            ("i", 0.0),
            ("j", 0.0),
        ];
        let oracle = binned(Statistic::PassAt1, &values);
        assert_eq!(oracle.sizes(), vec![4, 2, 4]);
        assert!((perfect_predictor_agreement(&[4, 2, 4]) - 0.9).abs() < 1e-12);
        // A predictor with the pass@1 ranking and no ties.
        let scores: Vec<(&str, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, (q, _))| (*q, 1.0 - i as f64 / 10.0))
            .collect();
        let predicted = binned(Statistic::MeanVerifierScore, &scores);
        let a = agreement(&oracle, &predicted).unwrap();
        assert_eq!(
            (a.oracle_sizes.clone(), a.predicted_sizes.clone()),
            (vec![4, 2, 4], vec![4, 3, 3])
        );
        // It misses only g, the first of the ties, which it ranks into bin 2.
        assert!((a.same_bin - 0.9).abs() < 1e-12, "{a:?}");
        assert!((a.ceiling - 0.9).abs() < 1e-12);
        // Chance: 0.4 x 0.4 + 0.2 x 0.3 + 0.4 x 0.3 = 0.34.
        assert!((a.chance - 0.34).abs() < 1e-12, "{}", a.chance);
        // Oracle 3, 3, 4 against tie-free 4, 3, 3: 3 + 2 + 3. Four bins of 10
        // (tie-free 3, 2, 3, 2) against 3, 3, 3, 1: 3 + 2 + 2 + 1.
        assert!((perfect_predictor_agreement(&[3, 3, 4]) - 0.8).abs() < 1e-12);
        assert!((perfect_predictor_agreement(&[3, 3, 3, 1]) - 0.8).abs() < 1e-12);
        // Equal bins: the ceiling is 1; no questions: 0.
        assert_eq!(perfect_predictor_agreement(&[2, 2, 2]), 1.0);
        assert_eq!(perfect_predictor_agreement(&[0, 0]), 0.0);
    }

    #[test]
    fn test_retest_compares_the_two_halves() {
        // Four questions of 8 samples. a and b: both halves all right / all wrong;
        // c: right in the first half only, d: in the second only, so c and d swap bins.
        let o = |first: bool, second: bool| -> Vec<bool> {
            [first; 4].into_iter().chain([second; 4]).collect()
        };
        let outcomes = vec![
            ("a".to_string(), o(true, true)),
            ("b".to_string(), o(false, false)),
            ("c".to_string(), o(true, false)),
            ("d".to_string(), o(false, true)),
        ];
        let r = test_retest(&outcomes, 2).unwrap().unwrap();
        assert_eq!(r.half_samples, 4);
        assert_eq!(r.agreement.questions, 4);
        assert!((r.agreement.same_bin - 0.5).abs() < 1e-12, "{r:?}");
        // Too few samples for two halves, or no questions: none.
        assert_eq!(test_retest(&[("a".into(), vec![true])], 2).unwrap(), None);
        assert_eq!(test_retest(&[], 2).unwrap(), None);
        // An odd last sample is left out: 3 samples give halves of 1.
        let r = test_retest(
            &[
                ("a".into(), vec![true, false, true]),
                ("b".into(), vec![false, true, true]),
            ],
            2,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.half_samples, 1);
        assert_eq!(r.agreement.same_bin, 0.0);
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
