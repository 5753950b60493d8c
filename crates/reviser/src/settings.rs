//! The reviser's prompt layout and settings, as they appear in a run file.

use serde::{Deserialize, Serialize};
use ttc_core::{Error, Result, SamplingParams, ScoreAggregation, StopCriteria};

/// How a revision prompt is written: the question, then each earlier attempt, then
/// the header after which the reviser writes its new attempt. See the crate docs
/// for the demo layout spelled out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct RevisionLayout {
    /// Opens the prompt (may be empty); `{question}` is replaced by the question.
    pub question: String,
    /// Written once per earlier attempt, oldest first; `{attempt}` is replaced by the
    /// attempt's text with its trailing line breaks removed.
    pub attempt: String,
    /// Closes the prompt; the reviser's new attempt follows it. `{question}` is
    /// replaced here too, so the question can sit right before the new attempt.
    pub revision: String,
}

impl Default for RevisionLayout {
    fn default() -> Self {
        RevisionLayout::demo()
    }
}

impl RevisionLayout {
    /// The layout the demo reviser is trained on: the earlier attempts first, then
    /// the generator's own prompt, so that with no earlier attempt the reviser reads
    /// exactly what the generator reads (and starts out as the generator). The
    /// question follows the attempts, so a prompt does not extend the previous one
    /// and every attempt starts a fresh sequence (no KV reuse between attempts).
    pub fn demo() -> Self {
        RevisionLayout {
            question: String::new(),
            attempt: "Attempt:\n{attempt}\n".into(),
            revision: "Question: {question}\nSolution:\n".into(),
        }
    }

    /// The earlier demo layout: the question first and one `Attempt:` header for the
    /// earlier attempts and the one being written, so each prompt extends the
    /// previous one and a chain continues from its KV cache.
    pub fn question_first() -> Self {
        RevisionLayout {
            question: "Question: {question}\n".into(),
            attempt: "Attempt:\n{attempt}\n".into(),
            revision: "Attempt:\n".into(),
        }
    }

    /// The reviser's prompt for `question` after the `earlier` attempts (oldest first;
    /// pass the truncated window, see [`context_window`]).
    pub fn render<S: AsRef<str>>(&self, question: &str, earlier: &[S]) -> String {
        let mut out = self.question.replace("{question}", question);
        for a in earlier {
            out.push_str(&self.attempt_block(a.as_ref()));
        }
        out.push_str(&self.revision.replace("{question}", question));
        out
    }

    /// The question a verifier is given when it sees the earlier attempts
    /// ([`VerifierContext::EarlierAttempts`]): the question alone when there are none,
    /// else the question, a line break, and the earlier attempts' blocks (as in the
    /// reviser's prompt) with the last block's trailing line breaks removed. With the
    /// demo layout: `"{question}\nAttempt:\n{a1}\nAttempt:\n{a2}"`.
    pub fn verifier_question<S: AsRef<str>>(&self, question: &str, earlier: &[S]) -> String {
        if earlier.is_empty() {
            return question.to_string();
        }
        let blocks: String = earlier
            .iter()
            .map(|a| self.attempt_block(a.as_ref()))
            .collect();
        format!("{question}\n{}", trim_line_breaks(&blocks))
    }

    fn attempt_block(&self, attempt: &str) -> String {
        self.attempt.replace("{attempt}", trim_line_breaks(attempt))
    }

    /// Checks the placeholders, naming the bad field.
    pub fn validate(&self) -> Result<()> {
        if !self.question.contains("{question}") && !self.revision.contains("{question}") {
            return Err(Error::invalid(
                "revision layout `question`",
                format!(
                    "neither `question` ({:?}) nor `revision` ({:?}) has a {{question}} \
                     placeholder; use e.g. question = \"Question: {{question}}\\n\"",
                    self.question, self.revision
                ),
            ));
        }
        if !self.attempt.contains("{attempt}") {
            return Err(Error::invalid(
                "revision layout `attempt`",
                format!(
                    "{:?} has no {{attempt}} placeholder; use e.g. \"Attempt:\\n{{attempt}}\\n\"",
                    self.attempt
                ),
            ));
        }
        Ok(())
    }
}

/// `text` without trailing `\n` and `\r`.
pub(crate) fn trim_line_breaks(text: &str) -> &str {
    text.trim_end_matches(['\n', '\r'])
}

/// The most recent `keep` of `attempts`, in their order: the earlier attempts a
/// revision prompt shows.
pub fn context_window<T>(attempts: &[T], keep: usize) -> &[T] {
    &attempts[attempts.len().saturating_sub(keep)..]
}

/// What a verifier is told besides the attempt it scores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifierContext {
    /// The question only, as for best-of-N samples (a PRM or ORM of the base model).
    #[default]
    Question,
    /// The question followed by the earlier attempts that were in the reviser's
    /// prompt ([`RevisionLayout::verifier_question`]): the paper's ORM for
    /// revisions is trained this way.
    EarlierAttempts,
}

/// Everything about revisions except the budget split, the selector and the seed.
/// Every key is optional in a run file; see the crate docs for a TOML example.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ReviserSettings {
    /// The prompt layout.
    pub layout: RevisionLayout,
    /// How many of the most recent attempts a revision prompt shows (the paper: 4).
    /// 0 makes every attempt a fresh sample of the reviser. Fewer are shown when the
    /// prompt would not leave `max-attempt-tokens` within the reviser's
    /// `max_position_embeddings`.
    pub context_attempts: usize,
    /// Sampling temperature of the reviser (0 is greedy).
    pub temperature: f32,
    /// Keep only the k most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Nucleus sampling mass; 1.0 keeps all.
    pub top_p: f32,
    /// Most tokens in one attempt.
    pub max_attempt_tokens: usize,
    /// Text that also ends an attempt (besides EOS and the token limit); the attempt
    /// is cut before it.
    pub stop_strings: Vec<String>,
    /// Continue a chain's sequence from its KV cache when the next prompt extends it
    /// (see the crate docs); `false` reads every prompt afresh.
    pub reuse_cache: bool,
    /// Where an attempt is split into steps for the verifier.
    pub step_delimiter: String,
    /// Step scores to an attempt score.
    pub aggregation: ScoreAggregation,
    /// What the verifier sees besides the attempt.
    pub verifier_context: VerifierContext,
}

impl Default for ReviserSettings {
    fn default() -> Self {
        ReviserSettings {
            layout: RevisionLayout::demo(),
            context_attempts: 4,
            temperature: 0.8,
            top_k: 0,
            top_p: 1.0,
            max_attempt_tokens: 1024,
            stop_strings: Vec::new(),
            reuse_cache: true,
            step_delimiter: "\n".into(),
            aggregation: ScoreAggregation::Last,
            verifier_context: VerifierContext::Question,
        }
    }
}

impl ReviserSettings {
    /// The reviser's sampling parameters.
    pub fn sampling(&self) -> SamplingParams {
        SamplingParams {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
        }
    }

    /// When an attempt ends.
    pub fn stop(&self) -> StopCriteria {
        StopCriteria {
            max_new_tokens: self.max_attempt_tokens,
            stop_strings: self.stop_strings.clone(),
            ignore_eos: false,
        }
    }

    /// Checks the values, naming the bad one.
    pub fn validate(&self) -> Result<()> {
        self.layout.validate()?;
        self.sampling().validate()?;
        if self.max_attempt_tokens == 0 {
            return Err(Error::invalid(
                "max-attempt-tokens",
                "0 (use a positive number of tokens)",
            ));
        }
        if self.step_delimiter.is_empty() {
            return Err(Error::invalid(
                "step-delimiter",
                "it is empty; use \"\\n\" or \"\\n\\n\"",
            ));
        }
        if self.stop_strings.iter().any(String::is_empty) {
            return Err(Error::invalid(
                "stop-strings",
                "one of them is empty; remove it",
            ));
        }
        Ok(())
    }

    /// The text of an attempt from a generation call's text: cut before the first
    /// stop string, if any.
    pub(crate) fn attempt_text<'t>(&self, generated: &'t str) -> &'t str {
        let cut = self
            .stop_strings
            .iter()
            .filter_map(|s| generated.find(s.as_str()))
            .min()
            .unwrap_or(generated.len());
        &generated[..cut]
    }

    /// The non-empty steps of an attempt.
    pub(crate) fn split_steps(&self, text: &str) -> Vec<String> {
        text.split(self.step_delimiter.as_str())
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn demo_layout_is_exact() {
        let l = RevisionLayout::demo();
        // No earlier attempt: exactly the generator's prompt.
        assert_eq!(
            l.render::<&str>("2 + 3?", &[]),
            "Question: 2 + 3?\nSolution:\n"
        );
        assert_eq!(
            l.render("2 + 3?", &["2 + 3 = 6\nAnswer: 6\n\n"]),
            "Attempt:\n2 + 3 = 6\nAnswer: 6\nQuestion: 2 + 3?\nSolution:\n"
        );
    }

    #[test]
    fn question_first_layout_is_exact() {
        let l = RevisionLayout::question_first();
        assert_eq!(
            l.render::<&str>("2 + 3?", &[]),
            "Question: 2 + 3?\nAttempt:\n"
        );
        assert_eq!(
            l.render(
                "2 + 3?",
                &["2 + 3 = 6\nAnswer: 6", "2 + 3 = 5\nAnswer: 5\n\n"]
            ),
            "Question: 2 + 3?\nAttempt:\n2 + 3 = 6\nAnswer: 6\nAttempt:\n\
             2 + 3 = 5\nAnswer: 5\nAttempt:\n"
        );
    }

    #[test]
    fn verifier_question_folds_in_the_earlier_attempts() {
        let l = RevisionLayout::demo();
        assert_eq!(l.verifier_question::<&str>("q", &[]), "q");
        assert_eq!(
            l.verifier_question("q", &["a\n", "b"]),
            "q\nAttempt:\na\nAttempt:\nb"
        );
    }

    #[test]
    fn placeholders_are_checked() {
        let mut l = RevisionLayout::demo();
        l.attempt = "Previous attempt:\n".into();
        let err = l.validate().unwrap_err().to_string();
        assert!(
            err.contains("`attempt`") && err.contains("{attempt}"),
            "{err}"
        );
        let mut l = RevisionLayout::question_first();
        l.question = "Q".into();
        let err = l.validate().unwrap_err().to_string();
        assert!(
            err.contains("`question`") && err.contains("{question}"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_named() {
        let s = ReviserSettings {
            max_attempt_tokens: 0,
            ..ReviserSettings::default()
        };
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("max-attempt-tokens")
        );
        let s = ReviserSettings {
            temperature: -1.0,
            ..ReviserSettings::default()
        };
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("temperature")
        );
        let s = ReviserSettings {
            stop_strings: vec![String::new()],
            ..ReviserSettings::default()
        };
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("stop-strings")
        );
        assert!(ReviserSettings::default().validate().is_ok());
    }

    #[test]
    fn attempts_are_cut_before_the_first_stop_string() {
        let s = ReviserSettings {
            stop_strings: vec!["\nAttempt".into(), "##".into()],
            ..ReviserSettings::default()
        };
        assert_eq!(s.attempt_text("a\nb##c\nAttempt:"), "a\nb");
        assert_eq!(s.attempt_text("plain"), "plain");
    }

    proptest! {
        #[test]
        fn truncation_keeps_the_latest_attempts_in_order(n in 0usize..20, keep in 0usize..8) {
            let attempts: Vec<usize> = (0..n).collect();
            let w = context_window(&attempts, keep);
            prop_assert_eq!(w.len(), n.min(keep));
            let expected: Vec<usize> = (n - n.min(keep)..n).collect();
            prop_assert_eq!(w, expected.as_slice());
        }

        #[test]
        fn the_prompt_lists_the_window_oldest_first(texts in proptest::collection::vec("[a-z0-9 ]{0,6}\n{0,2}", 0..8), keep in 0usize..6, question_first in any::<bool>()) {
            let l = if question_first { RevisionLayout::question_first() } else { RevisionLayout::demo() };
            let w = context_window(&texts, keep);
            let p = l.render("q", w);
            if question_first {
                prop_assert!(p.starts_with("Question: q\n"));
                prop_assert!(p.ends_with("Attempt:\n"));
                prop_assert_eq!(p.matches("Attempt:\n").count(), w.len() + 1);
            } else {
                prop_assert!(p.ends_with("Question: q\nSolution:\n"));
                prop_assert_eq!(p.matches("Attempt:\n").count(), w.len());
            }
            let mut rest = p.as_str();
            for t in w {
                let block = format!("Attempt:\n{}\n", t.trim_end_matches('\n'));
                let at = rest.find(&block);
                prop_assert!(at.is_some(), "{:?} not in order in {:?}", t, p);
                rest = &rest[at.unwrap() + block.len()..];
            }
        }
    }
}
