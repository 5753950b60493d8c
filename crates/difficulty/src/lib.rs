//! Question difficulty (docs/method.md §4): the statistic the compute-optimal policy
//! conditions on.
//!
//! - **Oracle** ([`oracle_bins`]): each question's pass@1 from S samples (correct / S)
//!   cut into quantile bins. Needs ground truth; the paper's main analysis uses it.
//! - **Predicted** ([`predicted_bins`]): the mean verifier final-answer score of a
//!   question's samples, binned the same way on a reference set. The learned
//!   [`BinEdges`] then bin any new question by its score alone ([`BinEdges::bin`]);
//!   they are serialisable and travel in policy files.
//! - **Probe** ([`Probe`]): the inference-time estimate. A few samples are drawn and
//!   scored by the caller; the probe bins their mean score, hands back their cost
//!   (a [`ttc_core::Compute`] to add to the question's account, docs/method.md §7), and
//!   says how much of the budget is left for the strategy, which may reuse the
//!   probe's samples ([`Probe::split_budget`]).
//! - **Agreement** ([`agreement`]): oracle against predicted bins, a confusion
//!   matrix with the fractions in the same bin and within one bin, the bins'
//!   sizes, the rate expected by chance and the ceiling a perfect predictor
//!   reaches given the oracle's ties; [`test_retest`] compares oracle bins from
//!   two disjoint halves of the samples.
//!
//! Bins run from 1 (easiest: highest pass@1 or score) to k (5 by default,
//! [`DEFAULT_BINS`]). With n questions in order of value, position r goes to bin
//! `floor(r k / n) + 1`, so bins are as equal as possible; questions with equal
//! values share a bin (the group takes the bin of its mean position), which makes
//! the bin a function of the value: edges reproduce the bins they were learned
//! from, and the input order does not matter. Edges are midpoints between the
//! neighbouring values across each boundary; a value on an edge goes to the easier
//! bin.
//!
//! Nothing here runs a model or reads a file.

mod agreement;
mod bins;
mod oracle;
mod predicted;
mod probe;

pub use agreement::{Agreement, Retest, agreement, perfect_predictor_agreement, test_retest};
pub use bins::{BinEdges, Binned, DEFAULT_BINS, QuestionBin, Statistic, bin_values};
pub use oracle::{PassRate, oracle_bins};
pub use predicted::{QuestionScores, mean_score, predicted_bins};
pub use probe::{BudgetSplit, Probe, ProbeCharge, ProbeOutcome, ProbeSettings};
