//! Quantile bins over a per-question statistic, and the edges that reproduce them.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ttc_core::{Error, Result};

/// The number of bins the paper uses.
pub const DEFAULT_BINS: usize = 5;

/// What a difficulty value measures. For both, a higher value means an easier question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Statistic {
    /// Oracle difficulty: the fraction of a question's samples that are correct.
    /// Needs the ground-truth answer, so it is known only for labelled questions.
    #[serde(rename = "pass-at-1")]
    PassAt1,
    /// Predicted difficulty: the mean verifier final-answer score of a question's
    /// samples. Needs no ground truth, so it can be computed at inference.
    #[serde(rename = "mean-verifier-score")]
    MeanVerifierScore,
}

impl Statistic {
    /// The name used in files: `pass-at-1` or `mean-verifier-score`.
    pub fn name(self) -> &'static str {
        match self {
            Statistic::PassAt1 => "pass-at-1",
            Statistic::MeanVerifierScore => "mean-verifier-score",
        }
    }
}

impl fmt::Display for Statistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Statistic {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pass-at-1" => Ok(Statistic::PassAt1),
            "mean-verifier-score" => Ok(Statistic::MeanVerifierScore),
            other => Err(Error::invalid(
                "difficulty statistic",
                format!(
                    "`{other}` is not one; use `pass-at-1` (oracle) or `mean-verifier-score` (predicted)"
                ),
            )),
        }
    }
}

/// Thresholds that put a value into one of `edges.len() + 1` bins, bin 1 the easiest.
///
/// `edges` is non-increasing; a value `v` falls into bin `1 + #{e in edges : v < e}`:
/// bin 1 holds the values at or above the first edge, the last bin the values below
/// the last edge. Learned from a reference set with [`BinEdges::learn`], they put
/// every value of that set back into the bin [`bin_values`] gave it, and put a new
/// question into a bin by its value alone.
///
/// In files (serde) the edges read `{ statistic, bins, edges }`, e.g. in TOML
/// `statistic = "mean-verifier-score"`, `bins = 5`, `edges = [0.81, 0.66, 0.43, 0.2]`;
/// unknown keys, a `bins` that disagrees with the edges, NaN or increasing edges are
/// rejected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "EdgesFile", into = "EdgesFile")]
pub struct BinEdges {
    statistic: Statistic,
    edges: Vec<f64>,
}

/// The serde shape of [`BinEdges`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EdgesFile {
    statistic: Statistic,
    bins: usize,
    edges: Vec<f64>,
}

impl TryFrom<EdgesFile> for BinEdges {
    type Error = Error;

    fn try_from(file: EdgesFile) -> Result<Self> {
        if file.bins != file.edges.len() + 1 {
            return Err(Error::invalid(
                "difficulty bin edges",
                format!(
                    "`bins = {}` but {} edges were given; k bins need k - 1 edges",
                    file.bins,
                    file.edges.len()
                ),
            ));
        }
        BinEdges::new(file.statistic, file.edges)
    }
}

impl From<BinEdges> for EdgesFile {
    fn from(edges: BinEdges) -> Self {
        EdgesFile {
            statistic: edges.statistic,
            bins: edges.bins(),
            edges: edges.edges,
        }
    }
}

impl BinEdges {
    /// Edges given explicitly: `edges.len() + 1` bins. Fails on a NaN edge or on an
    /// edge larger than the one before it (edges run from the easiest boundary down).
    pub fn new(statistic: Statistic, edges: Vec<f64>) -> Result<Self> {
        if let Some(i) = edges.iter().position(|e| e.is_nan()) {
            return Err(Error::invalid(
                "difficulty bin edges",
                format!("edge {} is NaN; every edge must be a number", i + 1),
            ));
        }
        if let Some(i) = edges.windows(2).position(|w| w[1] > w[0]) {
            return Err(Error::invalid(
                "difficulty bin edges",
                format!(
                    "edge {} ({}) is larger than edge {} ({}); edges must not increase \
                     (bin 1, the easiest, holds the highest values)",
                    i + 2,
                    edges[i + 1],
                    i + 1,
                    edges[i]
                ),
            ));
        }
        Ok(BinEdges { statistic, edges })
    }

    /// Learns the edges of `bins` quantile bins from a reference set of values
    /// (higher = easier). See [`bin_values`] for how bins are formed.
    pub fn learn(statistic: Statistic, values: &[f64], bins: usize) -> Result<Self> {
        check_bins(bins)?;
        if values.is_empty() {
            return Err(Error::invalid(
                "difficulty reference set",
                "it is empty; learn bin edges from the values of at least one question",
            ));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "difficulty value",
                format!(
                    "value {} of the reference set is {}; values must be finite",
                    i + 1,
                    values[i]
                ),
            ));
        }
        let groups = tie_groups(values, bins);
        let mut edges = Vec::with_capacity(bins - 1);
        for j in 1..bins {
            // Groups are in descending value order with non-decreasing bins, so the
            // groups in bins <= j are a prefix.
            let split = groups.partition_point(|g| g.bin <= j);
            let edge = match (
                split.checked_sub(1).map(|i| groups[i].value),
                groups.get(split),
            ) {
                // Lowest value on the easy side, highest on the hard side: the midpoint,
                // kept strictly above the hard side.
                (Some(low), Some(high)) => {
                    let mid = high.value + (low - high.value) / 2.0;
                    if mid > high.value { mid } else { low }
                }
                // Nothing on the easy side: above every value.
                (None, Some(high)) => high.value.next_up(),
                // Nothing on the hard side: at the lowest value.
                (Some(low), None) => low,
                (None, None) => unreachable!("the reference set is not empty"),
            };
            edges.push(edge);
        }
        BinEdges::new(statistic, edges)
    }

    /// What the values measure.
    pub fn statistic(&self) -> Statistic {
        self.statistic
    }

    /// The number of bins.
    pub fn bins(&self) -> usize {
        self.edges.len() + 1
    }

    /// The thresholds, non-increasing.
    pub fn edges(&self) -> &[f64] {
        &self.edges
    }

    /// The bin (1 = easiest) of a question whose statistic is `value`.
    pub fn bin(&self, value: f64) -> Result<usize> {
        if value.is_nan() {
            return Err(Error::invalid(
                "difficulty value",
                format!(
                    "cannot bin NaN by {}; check the scores it came from",
                    self.statistic
                ),
            ));
        }
        Ok(1 + self.edges.partition_point(|&e| value < e))
    }
}

/// One question's value and bin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuestionBin {
    pub question: String,
    /// The statistic: pass@1 or mean verifier score.
    pub value: f64,
    /// 1 (easiest) to the number of bins.
    pub bin: usize,
}

/// Questions put into difficulty bins, and the edges that did it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Binned {
    /// One entry per input question, in input order.
    pub questions: Vec<QuestionBin>,
    pub edges: BinEdges,
}

impl Binned {
    /// The number of bins.
    pub fn bins(&self) -> usize {
        self.edges.bins()
    }

    /// The bin of `question`, if it was binned.
    pub fn bin_of(&self, question: &str) -> Option<usize> {
        self.questions
            .iter()
            .find(|q| q.question == question)
            .map(|q| q.bin)
    }

    /// How many questions each bin holds (index 0 = bin 1).
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0; self.bins()];
        for q in &self.questions {
            sizes[q.bin - 1] += 1;
        }
        sizes
    }
}

/// Puts questions into `bins` quantile bins by their value (higher = easier), bin 1
/// the easiest.
///
/// The questions are ordered by value, highest first, and each is given the bin of
/// its position: with n questions, position r (0-based) goes to bin
/// `floor(r * bins / n) + 1`, so with distinct values the bins' sizes differ by at
/// most one. Questions with equal values always share a bin (a bin depends on the
/// value alone, so [`BinEdges`] can reproduce it): a group of ties takes the bin of
/// its mean position, which can leave bins unequal or empty when many questions tie
/// (e.g. many questions with pass@1 = 0). The result does not depend on the order of
/// the input. Fails on duplicate question ids, non-finite values, no questions, or
/// zero bins.
pub fn bin_values(statistic: Statistic, values: &[(String, f64)], bins: usize) -> Result<Binned> {
    let mut seen = HashSet::with_capacity(values.len());
    for (question, value) in values {
        if !seen.insert(question.as_str()) {
            return Err(Error::invalid(
                "difficulty input",
                format!("question `{question}` appears twice; give each question once"),
            ));
        }
        if !value.is_finite() {
            return Err(Error::invalid(
                "difficulty value",
                format!("question `{question}` has {statistic} = {value}; it must be finite"),
            ));
        }
    }
    let raw: Vec<f64> = values.iter().map(|(_, v)| *v).collect();
    let edges = BinEdges::learn(statistic, &raw, bins)?;
    let questions = values
        .iter()
        .map(|(question, value)| {
            Ok(QuestionBin {
                question: question.clone(),
                value: *value,
                bin: edges.bin(*value)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Binned { questions, edges })
}

fn check_bins(bins: usize) -> Result<()> {
    if bins == 0 {
        return Err(Error::invalid(
            "number of difficulty bins",
            format!("it is 0; use at least 1 (the paper uses {DEFAULT_BINS})"),
        ));
    }
    Ok(())
}

/// A run of equal values in descending order, with the bin of its mean position.
#[derive(Debug)]
struct Group {
    value: f64,
    bin: usize,
}

fn tie_groups(values: &[f64], bins: usize) -> Vec<Group> {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let n = sorted.len() as u128;
    let k = bins as u128;
    let mut groups = Vec::new();
    let mut start = 0;
    while start < sorted.len() {
        let end = start + sorted[start..].partition_point(|v| *v == sorted[start]);
        // Mean position (start + end - 1) / 2; bin floor(mean * k / n) + 1, in integers.
        let twice_mean = (start + end - 1) as u128;
        let bin = (twice_mean * k / (2 * n)) as usize + 1;
        groups.push(Group {
            value: sorted[start],
            bin,
        });
        start = end;
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(values: &[f64]) -> Vec<(String, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("q{i}"), *v))
            .collect()
    }

    fn bins_of(values: &[f64], k: usize) -> Vec<usize> {
        bin_values(Statistic::PassAt1, &named(values), k)
            .unwrap()
            .questions
            .iter()
            .map(|q| q.bin)
            .collect()
    }

    #[test]
    fn ten_distinct_values_fill_five_bins_of_two() {
        let values = [0.05, 0.95, 0.5, 0.3, 0.8, 0.1, 0.65, 0.2, 0.9, 0.4];
        assert_eq!(bins_of(&values, 5), vec![5, 1, 3, 4, 2, 5, 2, 4, 1, 3]);
        let b = bin_values(Statistic::PassAt1, &named(&values), 5).unwrap();
        assert_eq!(b.sizes(), vec![2, 2, 2, 2, 2]);
        // Midpoints between the neighbours across each boundary.
        let want = [0.85, 0.575, 0.35, 0.15];
        for (e, w) in b.edges.edges().iter().zip(want) {
            assert!((e - w).abs() < 1e-12, "{:?}", b.edges.edges());
        }
    }

    #[test]
    fn seven_values_give_sizes_two_one_two_one_one() {
        let values = [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0];
        assert_eq!(bins_of(&values, 5), vec![1, 1, 2, 3, 3, 4, 5]);
    }

    #[test]
    fn ties_share_the_bin_of_their_mean_position() {
        // 10 questions, the 3 hardest all at pass@1 = 0: positions 7..9, mean 8 -> bin 5,
        // which leaves position 6 alone in bin 4 (sizes 2, 2, 2, 1, 3).
        let values = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.0, 0.0, 0.0];
        assert_eq!(bins_of(&values, 5), vec![1, 1, 2, 2, 3, 3, 4, 5, 5, 5]);
        // All equal: the mean position is the middle, so everything lands in bin 3.
        assert_eq!(bins_of(&[0.5; 6], 5), vec![3; 6]);
        let b = bin_values(Statistic::PassAt1, &named(&[0.5; 6]), 5).unwrap();
        assert_eq!(b.sizes(), vec![0, 0, 6, 0, 0]);
        // Bins 1 and 2 had nobody: their edges sit just above 0.5, so a new question
        // above every reference value is bin 1, one below is bin 5.
        assert_eq!(b.edges.bin(0.6).unwrap(), 1);
        assert_eq!(b.edges.bin(0.5).unwrap(), 3);
        assert_eq!(b.edges.bin(0.4).unwrap(), 5);
    }

    #[test]
    fn one_bin_has_no_edges_and_holds_everything() {
        let b = bin_values(Statistic::PassAt1, &named(&[0.1, 0.9]), 1).unwrap();
        assert!(b.edges.edges().is_empty());
        assert_eq!(b.sizes(), vec![2]);
        assert_eq!(b.edges.bin(-100.0).unwrap(), 1);
    }

    #[test]
    fn fewer_questions_than_bins_still_bins_them() {
        assert_eq!(bins_of(&[0.2, 0.8], 5), vec![3, 1]);
    }

    #[test]
    fn bad_inputs_are_named() {
        let err = bin_values(Statistic::PassAt1, &named(&[0.1]), 0).unwrap_err();
        assert!(err.to_string().contains("use at least 1"), "{err}");
        let err = bin_values(Statistic::PassAt1, &[], 5).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
        let dup = vec![("a".to_string(), 0.1), ("a".to_string(), 0.2)];
        let err = bin_values(Statistic::PassAt1, &dup, 5).unwrap_err();
        assert!(err.to_string().contains("`a` appears twice"), "{err}");
        let nan = vec![("a".to_string(), f64::NAN)];
        let err = bin_values(Statistic::MeanVerifierScore, &nan, 5).unwrap_err();
        assert!(
            err.to_string()
                .contains("question `a` has mean-verifier-score = NaN"),
            "{err}"
        );
        let edges = BinEdges::new(Statistic::PassAt1, vec![0.5]).unwrap();
        assert!(edges.bin(f64::NAN).is_err());
    }

    #[test]
    fn explicit_edges_are_checked() {
        let err = BinEdges::new(Statistic::PassAt1, vec![0.2, 0.5]).unwrap_err();
        assert!(
            err.to_string()
                .contains("edge 2 (0.5) is larger than edge 1 (0.2)"),
            "{err}"
        );
        let err = BinEdges::new(Statistic::PassAt1, vec![f64::NAN]).unwrap_err();
        assert!(err.to_string().contains("edge 1 is NaN"), "{err}");
        // Equal edges are allowed: the bin between them is empty.
        let e = BinEdges::new(Statistic::PassAt1, vec![0.5, 0.5]).unwrap();
        assert_eq!(e.bin(0.5).unwrap(), 1);
        assert_eq!(e.bin(0.49).unwrap(), 3);
    }

    #[test]
    fn a_value_on_an_edge_goes_to_the_easier_bin() {
        let e = BinEdges::new(Statistic::MeanVerifierScore, vec![0.8, 0.6, 0.4, 0.2]).unwrap();
        let got: Vec<usize> = [0.9, 0.8, 0.7, 0.6, 0.5, 0.2, 0.1]
            .iter()
            .map(|v| e.bin(*v).unwrap())
            .collect();
        assert_eq!(got, vec![1, 1, 2, 2, 3, 4, 5]);
    }

    #[test]
    fn adjacent_floats_keep_the_edge_above_the_hard_side() {
        let low = 0.5f64;
        let high = low.next_up();
        let b = bin_values(Statistic::PassAt1, &named(&[high, low]), 2).unwrap();
        assert_eq!(b.questions[0].bin, 1);
        assert_eq!(b.questions[1].bin, 2);
    }

    #[test]
    fn statistic_names_round_trip() {
        for s in [Statistic::PassAt1, Statistic::MeanVerifierScore] {
            assert_eq!(s.name().parse::<Statistic>().unwrap(), s);
        }
        let err = "pass@1".parse::<Statistic>().unwrap_err();
        assert!(err.to_string().contains("`pass@1` is not one"), "{err}");
    }
}
