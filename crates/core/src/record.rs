//! What an evaluation run writes, one JSON object per line, and what reports read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Compute, Transitions};

/// One method setting at one budget and seed on one question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// The dataset's `unique_id`.
    pub question: String,
    /// The dataset's own level (MATH 1-5; the demo's 1-5), not a difficulty bin.
    pub level: u8,
    /// Method label, e.g. `majority`, `best-of-n-weighted`, `beam-m4`, `dvts-m4`, `revise-4x4`.
    pub method: String,
    /// Family of the method: `best-of-n` (incl. majority), `search` or `revisions`.
    pub family: String,
    /// Hyperparameters beyond the label (temperature, lookahead, ratio...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Budget N in generations.
    pub budget: usize,
    pub seed: u64,
    pub answer: Option<String>,
    pub gold: String,
    pub correct: bool,
    pub compute: Compute,
    /// Wall-clock seconds this record took. Where one run answers several budgets
    /// (best-of-N), its time is split pro rata to budget over the largest, as its
    /// compute is.
    pub seconds: f64,
    /// Revision methods: correctness transitions between consecutive attempts of
    /// the same chain, graded against `gold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transitions: Option<Transitions>,
}

impl EvalRecord {
    /// The key a resumed run uses to skip finished work.
    pub fn key(&self) -> (String, String, usize, u64) {
        (
            self.question.clone(),
            self.method.clone(),
            self.budget,
            self.seed,
        )
    }
}

/// Per-question difficulty evidence: base-model samples graded against the gold
/// answer (oracle pass@1) and scored by the verifier (predicted difficulty).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DifficultyRecord {
    pub question: String,
    pub level: u8,
    pub samples: usize,
    pub correct: usize,
    /// The verifier's final-answer score of each sample.
    pub scores: Vec<f64>,
    pub compute: Compute,
}

/// A reference model's greedy answer (the larger generator in the FLOPs-matched comparison).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReferenceRecord {
    pub question: String,
    pub model: String,
    /// Parameter count of the reference model.
    pub parameters: u64,
    pub answer: Option<String>,
    pub correct: bool,
    pub compute: Compute,
}
