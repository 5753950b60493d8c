//! What an evaluation run writes, one JSON object per line, and what reports read.

use serde::{Deserialize, Serialize};

use crate::{Compute, Family, MethodId, Params, Transitions};

/// One method setting at one budget and seed on one question.
///
/// As a JSON line (`params` and `transitions` left out when empty), the method's
/// identity in [`MethodId`]'s three fields:
/// `{"question":"demo/test/3","level":2,"method":"beam-m4","family":"search","params":{"temperature":0.8},"budget":16,"seed":0,"answer":"12","gold":"12","correct":true,"compute":{...},"seconds":0.4}`
///
/// Records written before [`MethodId`] existed have the same fields and load
/// unchanged, as long as their labels are in [`crate::MethodSpec`]'s grammar
/// (labels of older releases such as `revise-4x4` are refused with the line).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RecordFields", into = "RecordFields")]
pub struct EvalRecord {
    /// The dataset's `unique_id`.
    pub question: String,
    /// The dataset's own level (MATH 1-5; the demo's 1-5), not a difficulty bin.
    pub level: u8,
    /// The method setting: method, verifier, family, params.
    pub method: MethodId,
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
    pub transitions: Option<Transitions>,
}

impl EvalRecord {
    /// The key a resumed run uses to skip finished work: question, method label
    /// ([`MethodId::label`]), budget, seed.
    pub fn key(&self) -> (String, String, usize, u64) {
        (
            self.question.clone(),
            self.method.label(),
            self.budget,
            self.seed,
        )
    }
}

/// The file shape of [`EvalRecord`]: the method's identity as three flat fields.
#[derive(Serialize, Deserialize)]
struct RecordFields {
    question: String,
    level: u8,
    method: String,
    #[serde(default)]
    family: Option<Family>,
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    params: Params,
    budget: usize,
    seed: u64,
    answer: Option<String>,
    gold: String,
    correct: bool,
    compute: Compute,
    seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transitions: Option<Transitions>,
}

impl TryFrom<RecordFields> for EvalRecord {
    type Error = crate::Error;

    fn try_from(f: RecordFields) -> crate::Result<Self> {
        Ok(EvalRecord {
            method: MethodId::from_fields(&f.method, f.family, f.params)?,
            question: f.question,
            level: f.level,
            budget: f.budget,
            seed: f.seed,
            answer: f.answer,
            gold: f.gold,
            correct: f.correct,
            compute: f.compute,
            seconds: f.seconds,
            transitions: f.transitions,
        })
    }
}

impl From<EvalRecord> for RecordFields {
    fn from(r: EvalRecord) -> Self {
        RecordFields {
            method: r.method.label(),
            family: Some(r.method.family()),
            params: r.method.params().clone(),
            question: r.question,
            level: r.level,
            budget: r.budget,
            seed: r.seed,
            answer: r.answer,
            gold: r.gold,
            correct: r.correct,
            compute: r.compute,
            seconds: r.seconds,
            transitions: r.transitions,
        }
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
    /// Whether each sample was correct, in sample order (for a test-retest of the
    /// oracle bins from two disjoint halves). Empty in records written before it
    /// was kept; such records load and have no test-retest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<bool>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MethodSpec, Param, Selector};

    /// Lines as the release before [`MethodId`] wrote them (method and family as
    /// strings, params as a JSON map): they load, and are written back byte for byte.
    const OLD_LINES: [&str; 3] = [
        r#"{"question":"demo/test/3","level":2,"method":"beam-m4","family":"search","params":{"temperature":0.8},"budget":16,"seed":0,"answer":"12","gold":"12","correct":true,"compute":{"generations":16,"sampled_steps":40,"generated_tokens":900,"context_tokens":5000,"generator_processed_tokens":1200,"verifier_tokens":1300,"verifier_reread_tokens":0,"generator_flops":3000000000.0,"verifier_flops":1000000000.0},"seconds":0.5}"#,
        r#"{"question":"demo/test/3","level":2,"method":"revise-r1/4-majority","family":"revisions","params":{"ratio":0.25,"selector":"majority"},"budget":4,"seed":1,"answer":null,"gold":"12","correct":false,"compute":{"generations":4,"sampled_steps":4,"generated_tokens":90,"context_tokens":500,"generator_processed_tokens":120,"verifier_tokens":0,"verifier_reread_tokens":0,"generator_flops":300.0,"verifier_flops":0.0},"seconds":0.25,"transitions":{"correct_to_correct":1,"correct_to_incorrect":2,"incorrect_to_correct":0,"incorrect_to_incorrect":3}}"#,
        r#"{"question":"demo/test/4","level":5,"method":"dvts-m4@demo-step-checker","family":"diagnostic","params":{"temperature":0.8},"budget":4,"seed":0,"answer":"7","gold":"8","correct":false,"compute":{"generations":4,"sampled_steps":12,"generated_tokens":100,"context_tokens":800,"generator_processed_tokens":150,"verifier_tokens":0,"verifier_reread_tokens":0,"generator_flops":400.0,"verifier_flops":0.0},"seconds":0.125}"#,
    ];

    #[test]
    fn records_of_the_previous_release_load_and_write_back_unchanged() {
        let records: Vec<EvalRecord> = OLD_LINES
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let beam = &records[0].method;
        assert_eq!(beam.method(), "beam-m4".parse::<MethodSpec>().unwrap());
        assert_eq!((beam.family(), beam.verifier()), (Family::Search, None));
        assert_eq!(beam.params()["temperature"], Param::Float(0.8));
        let revise = &records[1].method;
        assert_eq!(
            revise.method(),
            MethodSpec::Revise {
                ratio: 0.25,
                selector: Some(Selector::Majority)
            }
        );
        assert_eq!(
            revise.key(),
            "revise-r1/4-majority{ratio=0.25,selector=\"majority\"}"
        );
        assert_eq!(records[1].transitions.unwrap().correct_to_incorrect, 2);
        let diag = &records[2].method;
        assert_eq!(
            (diag.family(), diag.verifier(), diag.label().as_str()),
            (
                Family::Diagnostic,
                Some("demo-step-checker"),
                "dvts-m4@demo-step-checker"
            )
        );
        assert_eq!(records[2].key().1, "dvts-m4@demo-step-checker");
        for (line, record) in OLD_LINES.iter().zip(&records) {
            assert_eq!(&serde_json::to_string(record).unwrap(), line);
        }
    }

    #[test]
    fn a_label_outside_the_grammar_is_refused_with_the_grammar() {
        // `revise-4x4` is how releases before `MethodSpec` labelled revisions.
        let line = OLD_LINES[1].replace("revise-r1/4-majority", "revise-4x4");
        let err = serde_json::from_str::<EvalRecord>(&line)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"revise-4x4\"") && err.contains("revise-rR"),
            "{err}"
        );
        let line = OLD_LINES[0].replace("\"family\":\"search\"", "\"family\":\"revisions\"");
        let err = serde_json::from_str::<EvalRecord>(&line)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not its family `search`"), "{err}");
    }
}
