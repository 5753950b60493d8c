//! Grading a predicted answer against the gold answer.

use std::fmt;
use std::str::FromStr;

use crate::answer::{extract_boxed, last_box_start, parse_integer};
use crate::error::{GradeError, Result};
use crate::extract::{ExtractRule, ExtractRules};
use crate::math::MathAnswer;

/// How answers are compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GradeMode {
    /// Exact integers (the demo world): `118` = `+118` = `118.`; thousands
    /// separators must be well formed (`1,180`, not `1,18`).
    Integer,
    /// MATH-style: normalise both answers and compare them (see [`MathAnswer`]).
    #[default]
    Math,
}

impl GradeMode {
    /// The name used on the command line: `integer` or `math`.
    pub fn name(self) -> &'static str {
        match self {
            GradeMode::Integer => "integer",
            GradeMode::Math => "math",
        }
    }
}

impl fmt::Display for GradeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GradeMode {
    type Err = GradeError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "integer" | "int" => Ok(GradeMode::Integer),
            "math" => Ok(GradeMode::Math),
            other => Err(GradeError::InvalidRequest(format!(
                "unknown grading mode {other:?}; use integer or math"
            ))),
        }
    }
}

/// How answers are found and compared: a [`GradeMode`] and the ordered
/// [`ExtractRules`] that find the final answer in a whole solution.
///
/// A `GradeMode` converts into one with its default rules: every rule
/// ([`ExtractRules::GRADING`]) for `math`, `boxed, answer-line`
/// ([`ExtractRules::ANCHORED`]) for `integer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AnswerSpec {
    /// How extracted answers are compared.
    pub mode: GradeMode,
    /// How the answer is found in a solution, first matching rule first.
    pub rules: ExtractRules,
}

impl AnswerSpec {
    /// `mode` with `rules`.
    pub fn new(mode: GradeMode, rules: ExtractRules) -> AnswerSpec {
        AnswerSpec { mode, rules }
    }

    /// Grades `pred` against `gold` (see [`grade`]).
    pub fn grade(&self, gold: &str, pred: &str) -> Result<Verdict> {
        grade(gold, pred, *self)
    }
}

impl From<GradeMode> for AnswerSpec {
    fn from(mode: GradeMode) -> AnswerSpec {
        let rules = match mode {
            GradeMode::Integer => ExtractRules::ANCHORED,
            GradeMode::Math => ExtractRules::GRADING,
        };
        AnswerSpec { mode, rules }
    }
}

/// The outcome of grading one prediction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the prediction equals the gold answer.
    pub correct: bool,
    /// The gold answer's normalised form.
    pub gold: String,
    /// The prediction's normalised form; `None` when no answer could be read from
    /// it (no integer in integer mode, an unclosed `\boxed{` in math mode).
    pub pred: Option<String>,
    /// The answer text found in the prediction, before normalisation.
    pub extracted: Option<String>,
    /// The rule that found it; `None` when no rule matched and the whole
    /// prediction was taken, or when nothing could be read.
    pub rule: Option<ExtractRule>,
}

/// The answer part of `text` and the rule that found it: the first rule that
/// matches, else all of `text` (rule `None`). `None` for a cut-off `\boxed{`
/// when `boxed` is one of the rules.
fn answer_part(text: &str, rules: ExtractRules) -> Option<(Option<ExtractRule>, &str)> {
    let cut_box = rules.rules().contains(&ExtractRule::Boxed)
        && last_box_start(text).is_some()
        && extract_boxed(text).is_none();
    if cut_box {
        return None;
    }
    match rules.find(text) {
        Some((rule, a)) => Some((Some(rule), a)),
        None => Some((None, text.trim())),
    }
}

/// Grades `pred` against `gold`. Either may be a bare answer (`118`,
/// `\frac{1}{2}`) or a whole solution, from which the answer is read with the
/// extraction rules of `spec` (a [`GradeMode`] brings its default rules).
///
/// Fails only in integer mode when the gold answer is not an integer.
pub fn grade(gold: &str, pred: &str, spec: impl Into<AnswerSpec>) -> Result<Verdict> {
    let AnswerSpec { mode, rules } = spec.into();
    let gold_part = answer_part(gold, rules).map_or(gold, |(_, a)| a);
    let pred_part = answer_part(pred, rules);
    let rule = pred_part.and_then(|(r, _)| r);
    let extracted = pred_part.map(|(_, a)| a.to_owned());
    let pred_part = pred_part.map(|(_, a)| a);
    match mode {
        GradeMode::Integer => {
            let g = parse_integer(gold_part).ok_or_else(|| GradeError::BadGold {
                gold: gold.to_owned(),
                expected: "an integer",
                hint: "grade this data with the math mode",
            })?;
            let p = pred_part.and_then(parse_integer);
            Ok(Verdict {
                correct: p == Some(g),
                gold: g.to_string(),
                pred: p.map(|p| p.to_string()),
                extracted,
                rule,
            })
        }
        GradeMode::Math => {
            let g = MathAnswer::parse(gold_part);
            let p = pred_part.map(MathAnswer::parse);
            Ok(Verdict {
                correct: p.as_ref().is_some_and(|p| g.equivalent(p)),
                gold: g.to_string(),
                pred: p.map(|p| p.to_string()),
                extracted,
                rule,
            })
        }
    }
}

/// A canonical key for grouping equal answers (majority and weighted votes):
/// the normalised form of the answer part of `text`, or `None` when no answer can
/// be read from it.
pub fn answer_key(text: &str, spec: impl Into<AnswerSpec>) -> Option<String> {
    let AnswerSpec { mode, rules } = spec.into();
    let (_, part) = answer_part(text, rules)?;
    match mode {
        GradeMode::Integer => parse_integer(part).map(|n| n.to_string()),
        GradeMode::Math => Some(MathAnswer::parse(part).to_string()).filter(|k| !k.is_empty()),
    }
}

/// The grading modes as the answer format search strategies vote with:
/// `GradeMode::Integer` for the demo world, `GradeMode::Math` for MATH-style data.
impl ttc_core::AnswerFormat for GradeMode {
    /// The last `\boxed{...}` or `Answer:` line of the solution, trimmed; in integer
    /// mode only when it is an integer (an unparsable answer counts as none, as the
    /// paper drops unparsable samples).
    fn extract(&self, solution: &str) -> Option<String> {
        AnswerSpec::new(*self, ExtractRules::ANCHORED).extract(solution)
    }

    /// The normalised answer ([`answer_key`]); an answer that cannot be read
    /// (e.g. not an integer in integer mode) keys as its trimmed text, so it
    /// still only groups with identical answers.
    fn key(&self, answer: &str) -> String {
        AnswerSpec::new(*self, ExtractRules::ANCHORED).key(answer)
    }
}

/// A run's answer settings as the answer format search strategies vote with:
/// the answer is what the rules find (no fallback to the whole text), and in
/// integer mode only an integer counts.
impl ttc_core::AnswerFormat for AnswerSpec {
    fn extract(&self, solution: &str) -> Option<String> {
        let answer = self.rules.extract(solution)?;
        match self.mode {
            GradeMode::Integer => parse_integer(answer).map(|_| answer.trim().to_owned()),
            GradeMode::Math => Some(answer.to_owned()),
        }
    }

    fn key(&self, answer: &str) -> String {
        answer_key(answer, *self).unwrap_or_else(|| answer.trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_answers_must_be_integers_to_count() {
        use ttc_core::AnswerFormat;
        assert_eq!(
            GradeMode::Integer.extract("3 + 4 = 7\nAnswer: 7"),
            Some("7".into())
        );
        assert_eq!(GradeMode::Integer.extract("Answer:9 - 9 = 3"), None);
        assert_eq!(
            GradeMode::Math.extract("so \\boxed{x+1}"),
            Some("x+1".into())
        );
    }

    #[test]
    fn integer_mode() {
        let v = grade("118", "37 + 5 = 42\nAnswer: 118", GradeMode::Integer).unwrap();
        assert!(v.correct);
        assert_eq!(v.pred.as_deref(), Some("118"));
        let v = grade("118", "Answer: 117", GradeMode::Integer).unwrap();
        assert!(!v.correct);
        let v = grade("118", "I don't know", GradeMode::Integer).unwrap();
        assert_eq!((v.correct, v.pred), (false, None));
        let err = grade("1/2", "1", GradeMode::Integer)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"1/2\"") && err.contains("math"), "{err}");
    }

    #[test]
    fn math_mode_reads_solutions() {
        let v = grade("\\frac{1}{2}", "so $x = \\boxed{0.5}$", GradeMode::Math).unwrap();
        assert!(v.correct, "{v:?}");
        let v = grade("2", "cut \\boxed{2", GradeMode::Math).unwrap();
        assert_eq!((v.correct, v.pred), (false, None));
    }

    #[test]
    fn keys_group_equal_answers() {
        let key = |s| answer_key(s, GradeMode::Math);
        assert_eq!(key("\\boxed{\\frac12}"), key("Answer: 0.5"));
        assert_eq!(key("\\boxed{2, 1}"), key("\\boxed{1,2}"));
        assert_ne!(key("\\boxed{(2, 1)}"), key("\\boxed{(1,2)}"));
        assert_eq!(
            answer_key("Answer: 1,180", GradeMode::Integer).as_deref(),
            Some("1180")
        );
        assert_eq!(answer_key("nothing", GradeMode::Integer), None);
    }

    #[test]
    fn modes_are_answer_formats() {
        use ttc_core::AnswerFormat;
        let demo: &dyn AnswerFormat = &GradeMode::Integer;
        assert_eq!(demo.extract("1 + 2 = 3\nAnswer: 3").as_deref(), Some("3"));
        assert_eq!(demo.extract("1 + 2 = 3"), None);
        assert_eq!(demo.key(" 1,180 "), demo.key("1180"));
        assert_ne!(demo.key("12"), demo.key("13"));
        assert_eq!(demo.key("twelve"), "twelve");
        let math: &dyn AnswerFormat = &GradeMode::Math;
        let a = math.extract("so $\\boxed{\\dfrac{1}{2}}$").unwrap();
        assert_eq!(math.key(&a), math.key("0.5"));
    }

    #[test]
    fn modes_parse() {
        assert_eq!("int".parse::<GradeMode>().unwrap(), GradeMode::Integer);
        let err = "exact".parse::<GradeMode>().unwrap_err().to_string();
        assert!(err.contains("\"exact\""), "{err}");
    }
}
