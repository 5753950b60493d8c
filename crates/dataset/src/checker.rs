//! The exact step checker of the demo world: a [`Verifier`] that scores each step
//! of a demo solution by checking its arithmetic against the question.
//!
//! It is a diagnostic, not a model: it knows the task's rules, so it is the
//! perfect process reward of the demo world. Search run against it shows what the
//! search method can do with a perfect verifier, which separates "the search is
//! wrong" from "the learned PRM is weak". It reads no tokens and costs no FLOPs, so
//! its runs' compute is the generator's alone.
//!
//! Scores follow the prefix semantics of a Monte Carlo PRM label with perfect
//! rollouts: a step scores 1 when it and every step before it are right (the next
//! step of the chain with the right operands and result, or the right `Answer:` line
//! after the last step), else 0. So once a step is wrong every later step scores 0,
//! and the last step's score says whether the whole solution is right.

use ttc_core::{Error, ModelInfo, Result, ScoreRequest, StepScores, Verifier};

use crate::demo::{parse_problem, prefix_labels};

/// The name the checker reports as its model, and the run files' `builtin` value.
pub const DEMO_STEP_CHECKER: &str = "demo-step-checker";

/// The exact step checker (see the module docs).
#[derive(Debug, Clone)]
pub struct DemoStepChecker {
    info: ModelInfo,
}

impl Default for DemoStepChecker {
    fn default() -> Self {
        DemoStepChecker {
            info: ModelInfo::on_cpu(DEMO_STEP_CHECKER, 0),
        }
    }
}

impl DemoStepChecker {
    /// One 0/1 score per step of `steps` for the demo question `question`.
    pub fn check(question: &str, steps: &[String]) -> Result<Vec<f32>> {
        let chain = parse_problem(question).ok_or_else(|| {
            Error::invalid(
                "question",
                format!(
                    "the {DEMO_STEP_CHECKER} verifier scores demo-world questions only \
                     (`Start with N. Add M. ... What is the result?`), not {:?}; use a \
                     trained reward model in [verifier] for other datasets",
                    truncate(question)
                ),
            )
        })?;
        let labels = prefix_labels(&chain, steps.iter().map(String::as_str));
        Ok(labels
            .into_iter()
            .map(|ok| if ok { 1.0 } else { 0.0 })
            .collect())
    }
}

fn truncate(text: &str) -> String {
    const MAX: usize = 80;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

impl Verifier for DemoStepChecker {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn score(&self, requests: &[ScoreRequest<'_>]) -> Result<Vec<StepScores>> {
        requests
            .iter()
            .map(|r| {
                Ok(StepScores {
                    scores: Self::check(r.question, r.steps)?,
                    processed_tokens: 0,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{DemoWorld, Split, step_labels};

    fn steps(solution: &str) -> Vec<String> {
        solution.lines().map(str::to_string).collect()
    }

    #[test]
    fn gold_solutions_score_one_everywhere() {
        let problems = DemoWorld::default()
            .fixed_split(Split::Test)
            .expect("test split");
        for p in &problems {
            let scores = DemoStepChecker::check(&p.problem, &steps(&p.solution)).expect("demo");
            assert_eq!(scores.len(), p.solution.lines().count());
            assert!(scores.iter().all(|&s| s == 1.0), "{}", p.unique_id);
        }
    }

    #[test]
    fn a_wrong_step_and_everything_after_it_score_zero() {
        let q = "Start with 37. Add 5. Multiply by 3. What is the result?";
        let right = ["37 + 5 = 42", "42 x 3 = 126", "Answer: 126"];
        let s = |lines: &[&str]| {
            DemoStepChecker::check(q, &lines.iter().map(|l| l.to_string()).collect::<Vec<_>>())
                .unwrap()
        };
        assert_eq!(s(&right), vec![1.0, 1.0, 1.0]);
        // A slip in the first step: the next step follows the wrong value correctly,
        // but the solution is already wrong.
        assert_eq!(
            s(&["37 + 5 = 32", "32 x 3 = 96", "Answer: 96"]),
            vec![0.0, 0.0, 0.0]
        );
        assert_eq!(
            s(&["37 + 5 = 42", "42 x 3 = 136", "Answer: 136"]),
            vec![1.0, 0.0, 0.0]
        );
        // Wrong operand, stopped early, an empty step, an extra step.
        assert_eq!(s(&["37 + 6 = 43"]), vec![0.0]);
        assert_eq!(s(&["37 + 5 = 42", "Answer: 42"]), vec![1.0, 0.0]);
        assert_eq!(s(&["", "37 + 5 = 42"]), vec![0.0, 0.0]);
        assert_eq!(
            s(&[
                "37 + 5 = 42",
                "42 x 3 = 126",
                "126 + 1 = 127",
                "Answer: 127"
            ]),
            vec![1.0, 1.0, 0.0, 0.0]
        );
    }

    #[test]
    fn agrees_with_the_oracle_labels() {
        let problems = DemoWorld::default()
            .fixed_split(Split::Validation)
            .expect("validation split");
        for p in problems.iter().take(50) {
            // Break one result digit somewhere in the middle.
            let mut lines = steps(&p.solution);
            let k = (lines.len() - 1) / 2; // a step line: the last one is `Answer:`
            lines[k] = lines[k].replacen('=', "= 1", 1);
            let expected = step_labels(&p.problem, &lines.join("\n")).expect("demo");
            let got = DemoStepChecker::check(&p.problem, &lines).expect("demo");
            let expected: Vec<f32> = expected.iter().map(|&b| f32::from(u8::from(b))).collect();
            assert_eq!(got, expected, "{}", p.unique_id);
            assert_eq!(got[k], 0.0);
        }
    }

    #[test]
    fn other_questions_are_a_clear_error() {
        let err = DemoStepChecker::default()
            .score(&[ScoreRequest {
                question: "What is $1+1$?",
                steps: &["2".to_string()],
            }])
            .unwrap_err()
            .to_string();
        assert!(err.contains("demo-world questions only"), "{err}");
        assert!(err.contains("What is $1+1$?"), "{err}");
    }

    #[test]
    fn reads_no_tokens() {
        let q = "Start with 4. Add 3. What is the result?";
        let out = DemoStepChecker::default()
            .score(&[ScoreRequest {
                question: q,
                steps: &["4 + 3 = 7".to_string(), "Answer: 7".to_string()],
            }])
            .unwrap();
        assert_eq!(out[0].scores, vec![1.0, 1.0]);
        assert_eq!(out[0].processed_tokens, 0);
        assert_eq!(DemoStepChecker::default().info().parameters, 0);
    }
}
