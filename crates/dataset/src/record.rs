//! One dataset row, with the field names of MATH-500.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// One question with its reference solution, as a line of a MATH-500 JSONL file.
///
/// Field names and meanings follow MATH-500 (`HuggingFaceH4/MATH-500`), so its
/// files load unchanged. Fields other than the five below (MATH-500's `subject`,
/// the demo world's `steps`, `digits`, `operators`) are kept in [`Problem::extra`]
/// and written back out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// The question text.
    pub problem: String,
    /// A reference solution; for the demo world one step per line, ending with
    /// `Answer: <integer>`.
    pub solution: String,
    /// The reference final answer, as a string (MATH-500: the content of the last
    /// `\boxed{...}`). A JSON number is accepted and kept as its decimal text.
    #[serde(deserialize_with = "answer_from_json")]
    pub answer: String,
    /// Difficulty level 1 (easiest) to 5. MATH-500 writes an integer; the original
    /// MATH files write `"Level 3"`, which is accepted too.
    #[serde(deserialize_with = "level_from_json")]
    pub level: u8,
    /// A stable identifier, e.g. `demo/test/00042` or `test/algebra/1.json`.
    pub unique_id: String,
    /// Any other fields of the line, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn answer_from_json<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "field `answer` must be a string (or a number), found {other}"
        ))),
    }
}

fn level_from_json<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let value = Value::deserialize(d)?;
    let level = match &value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            s.strip_prefix("Level")
                .unwrap_or(s)
                .trim()
                .parse::<u64>()
                .ok()
        }
        _ => None,
    };
    match level {
        Some(l @ 1..=5) => Ok(l as u8),
        _ => Err(serde::de::Error::custom(format!(
            "field `level` must be an integer from 1 to 5 (or \"Level 1\" to \"Level 5\"), found {value}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_a_math500_line_and_keeps_extra_fields() {
        let line = r#"{"problem": "What is $1+1$?", "solution": "It is $\\boxed{2}$.", "answer": "2", "subject": "Algebra", "level": 1, "unique_id": "test/algebra/1.json"}"#;
        let p: Problem = serde_json::from_str(line).unwrap();
        assert_eq!(p.answer, "2");
        assert_eq!(p.level, 1);
        assert_eq!(p.extra["subject"], "Algebra");
        let back = serde_json::to_string(&p).unwrap();
        assert!(back.contains(r#""subject":"Algebra""#), "{back}");
        let again: Problem = serde_json::from_str(&back).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn accepts_original_math_level_strings_and_numeric_answers() {
        let line = r#"{"problem": "p", "solution": "s", "answer": 12, "level": "Level 4", "unique_id": "u"}"#;
        let p: Problem = serde_json::from_str(line).unwrap();
        assert_eq!((p.answer.as_str(), p.level), ("12", 4));
    }

    #[test]
    fn rejects_out_of_range_level_with_the_value() {
        let line =
            r#"{"problem": "p", "solution": "s", "answer": "1", "level": 9, "unique_id": "u"}"#;
        let err = serde_json::from_str::<Problem>(line)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`level`") && err.contains('9'), "{err}");
    }
}
