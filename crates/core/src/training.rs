//! A model's one-time cost: what it took to make it, as its folder's optional
//! `training.json` states it (read by `ttc-model-folder`, listed by the report).
//!
//! ```json
//! {
//!   "source": "models/demo/prm/README.md",
//!   "parameters": 640705,
//!   "training_tokens": 4645593,
//!   "parts": [
//!     {"part": "trunk", "kind": "training", "tokens": 12001588, "flops": 3.1466e13,
//!      "basis": "6 x 436,992 parameters x 12,001,588 tokens"},
//!     {"part": "Monte Carlo labels", "kind": "labels", "tokens": 17053998, "flops": 1.4905e13},
//!     {"part": "head", "kind": "training", "tokens": 4645593, "flops": 9.74e12}
//!   ]
//! }
//! ```
//!
//! The parts add up to the model's one-time cost; a part the source does not state
//! is left out, and the report says the total counts only the parts listed.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What one part of making a model cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CostKind {
    /// Gradient steps: about 6 x parameters x tokens (2 x for a frozen part).
    Training,
    /// Sampling the labels a reward model is trained on (e.g. Monte Carlo rollouts):
    /// 2 x the sampling model's parameters x tokens.
    Labels,
    /// Sampling other training data (e.g. a reviser's trajectories).
    Data,
}

impl CostKind {
    pub fn name(self) -> &'static str {
        match self {
            CostKind::Training => "training",
            CostKind::Labels => "labels",
            CostKind::Data => "data",
        }
    }
}

/// One part of a model's one-time cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostPart {
    /// What it is, e.g. `trunk`, `Monte Carlo labels`, `head`.
    pub part: String,
    pub kind: CostKind,
    /// Tokens it processed (trained on, or sampled), when the source states them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    pub flops: f64,
    /// How `flops` was computed from the source's numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
}

/// A model folder's `training.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingCost {
    /// Where the numbers come from (a model card, a log).
    pub source: String,
    /// Parameter count of the model.
    pub parameters: u64,
    /// Tokens of the model's own (last) training, as its card counts them: the
    /// pretraining tokens D of the FLOPs-matched comparison for a generator.
    pub training_tokens: u64,
    /// Every part of its one-time cost that the source states; at least one.
    pub parts: Vec<CostPart>,
}

impl TrainingCost {
    /// Checks the numbers; the message names the field and what to give.
    pub fn check(&self) -> Result<()> {
        if self.source.trim().is_empty() {
            return Err(Error::invalid(
                "training.json source",
                "it is empty; name where the numbers come from (e.g. the model card)",
            ));
        }
        if self.parameters == 0 {
            return Err(Error::invalid(
                "training.json parameters",
                "0; give the model's parameter count",
            ));
        }
        if self.parts.is_empty() {
            return Err(Error::invalid(
                "training.json parts",
                "it is empty; list at least one part (e.g. {\"part\": \"training\", \"kind\": \"training\", \"flops\": 3.1e13})",
            ));
        }
        for (i, p) in self.parts.iter().enumerate() {
            if p.part.trim().is_empty() {
                return Err(Error::invalid(
                    format!("training.json parts[{i}].part"),
                    "it is empty; name the part",
                ));
            }
            if !(p.flops.is_finite() && p.flops >= 0.0) {
                return Err(Error::invalid(
                    format!("training.json parts[{i}].flops ({})", p.part),
                    format!("{}; give a finite, non-negative number", p.flops),
                ));
            }
        }
        Ok(())
    }

    /// FLOPs of every part listed.
    pub fn total_flops(&self) -> f64 {
        self.parts.iter().map(|p| p.flops).sum()
    }

    /// FLOPs of the parts of one kind.
    pub fn flops_of(&self, kind: CostKind) -> f64 {
        self.parts
            .iter()
            .filter(|p| p.kind == kind)
            .map(|p| p.flops)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost() -> TrainingCost {
        serde_json::from_str(
            r#"{"source":"card","parameters":10,"training_tokens":5,
                "parts":[{"part":"trunk","kind":"training","tokens":4,"flops":240.0},
                         {"part":"labels","kind":"labels","flops":60.5},
                         {"part":"head","kind":"training","flops":100.0,"basis":"6 N D"}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn parts_add_up_by_kind() {
        let c = cost();
        c.check().unwrap();
        assert_eq!(c.total_flops(), 400.5);
        assert_eq!(c.flops_of(CostKind::Training), 340.0);
        assert_eq!(c.flops_of(CostKind::Labels), 60.5);
        assert_eq!(c.flops_of(CostKind::Data), 0.0);
        let back: TrainingCost = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn bad_numbers_and_fields_are_named() {
        let mut c = cost();
        c.parts[1].flops = f64::NAN;
        let err = c.check().unwrap_err().to_string();
        assert!(err.contains("parts[1].flops (labels)"), "{err}");
        let mut c = cost();
        c.parts.clear();
        assert!(c.check().unwrap_err().to_string().contains("parts"));
        let mut c = cost();
        c.parameters = 0;
        assert!(c.check().unwrap_err().to_string().contains("parameters"));
        let err = serde_json::from_str::<TrainingCost>(
            r#"{"source":"card","parameters":1,"training_tokens":1,"parts":[],"flops":1}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `flops`"), "{err}");
        let err =
            serde_json::from_str::<CostPart>(r#"{"part":"x","kind":"pretraining","flops":1}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("pretraining"), "{err}");
    }
}
