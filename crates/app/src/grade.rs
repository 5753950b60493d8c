//! `ttc grade --jsonl`: a verdict for each line of a file of (gold, prediction) pairs.

use serde_json::{Map, Value};
use ttc_math_grade::{AnswerSpec, Verdict, grade};

use crate::error::{Error, Result, bail};

/// Graded lines: each input object with its verdict added.
#[derive(Debug, Default)]
pub struct Graded {
    pub lines: Vec<Value>,
    pub correct: usize,
}

/// Which fields of a line hold the answers.
#[derive(Clone, Copy, Debug)]
pub struct Fields<'a> {
    pub gold: &'a str,
    pub pred: &'a str,
}

/// Adds `correct` to `obj` and, with `explain`, the extracted answer, the rule that
/// found it and both normalised forms.
pub fn add_verdict(obj: &mut Map<String, Value>, verdict: &Verdict, explain: bool) {
    obj.insert("correct".into(), verdict.correct.into());
    if explain {
        let or_null = |s: Option<&str>| s.map_or(Value::Null, Value::from);
        obj.insert(
            "pred_extracted".into(),
            or_null(verdict.extracted.as_deref()),
        );
        obj.insert(
            "extract_rule".into(),
            verdict.rule.map_or(Value::Null, |r| Value::from(r.name())),
        );
        obj.insert("gold_normalized".into(), verdict.gold.as_str().into());
        obj.insert("pred_normalized".into(), or_null(verdict.pred.as_deref()));
    }
}

/// A field as answer text: strings as they are, numbers in decimal.
fn answer_field(obj: &Map<String, Value>, field: &str) -> Result<String, String> {
    match obj.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(format!(
            "field {field:?} must be a string or a number, found {other}"
        )),
        None => Err(format!(
            "missing field {field:?} (set the field name with --gold-field/--pred-field)"
        )),
    }
}

/// Grades every line of `input` (called `name` in errors, with the line number);
/// blank lines are skipped. Everything is graded before anything is returned, so a
/// bad line leaves no partial output.
pub fn grade_jsonl(
    text: &str,
    name: &str,
    fields: Fields<'_>,
    spec: AnswerSpec,
    explain: bool,
) -> Result<Graded> {
    let mut graded = Graded::default();
    for line in ttc_jsonl::parse_lines::<Value>(text) {
        let number = line.as_ref().map_or_else(|bad| bad.line, |l| l.number);
        let at = || format!("{name}:{number}");
        let mut obj = match line.map(|l| l.value) {
            Ok(Value::Object(obj)) => obj,
            Ok(_) => bail!(
                "{}: expected a JSON object with {:?} and {:?} fields",
                at(),
                fields.gold,
                fields.pred
            ),
            Err(bad) => bail!("{name}:{bad} (invalid JSON); fix or remove this line"),
        };
        let field =
            |f: &str| answer_field(&obj, f).map_err(|e| Error::Config(format!("{}: {e}", at())));
        let (gold, pred) = (field(fields.gold)?, field(fields.pred)?);
        let verdict =
            grade(&gold, &pred, spec).map_err(|e| Error::Config(format!("{}: {e}", at())))?;
        graded.correct += usize::from(verdict.correct);
        add_verdict(&mut obj, &verdict, explain);
        graded.lines.push(Value::Object(obj));
    }
    Ok(graded)
}

#[cfg(test)]
mod tests {
    use ttc_math_grade::{ExtractRules, GradeMode};

    use super::*;

    const FIELDS: Fields<'static> = Fields {
        gold: "answer",
        pred: "pred",
    };

    fn math(rules: Option<ExtractRules>) -> AnswerSpec {
        match rules {
            Some(rules) => AnswerSpec::new(GradeMode::Math, rules),
            None => AnswerSpec::from(GradeMode::Math),
        }
    }

    #[test]
    fn jsonl_lines_get_a_verdict_and_keep_their_fields() {
        let input = "{\"answer\": \"\\\\frac{1}{2}\", \"pred\": \"\\\\boxed{0.5}\", \"id\": 7}\n\n\
                     {\"answer\": 3, \"pred\": \"Answer: 4\"}\n";
        let graded = grade_jsonl(input, "in.jsonl", FIELDS, math(None), true).unwrap();
        let lines = &graded.lines;
        assert_eq!((lines.len(), graded.correct), (2, 1));
        assert_eq!(
            (&lines[0]["correct"], &lines[0]["id"]),
            (&Value::Bool(true), &Value::from(7))
        );
        assert_eq!(lines[0]["pred_normalized"], "1/2");
        assert_eq!(lines[1]["correct"], false);
    }

    #[test]
    fn a_bad_line_is_named() {
        let grade = |text: &str| {
            grade_jsonl(text, "in.jsonl", FIELDS, math(None), false)
                .unwrap_err()
                .to_string()
        };
        let err = grade("{\"answer\": \"1\", \"pred\": \"1\"}\n{\"answer\": \"1\"}\n");
        assert!(
            err.contains("in.jsonl:2") && err.contains("\"pred\""),
            "{err}"
        );
        let err = grade("{\"answer\": \"1\", \"pred\": \"1\"}\nnot json\n");
        assert!(
            err.contains("in.jsonl:2") && err.contains("invalid JSON"),
            "{err}"
        );
    }

    #[test]
    fn extract_finds_answers_in_whole_solutions() {
        let lines = [
            (
                r"\frac{2}{3}",
                r"Two of the three win, so the probability is $\dfrac{2}{3}$.",
            ),
            (
                "42",
                "Final Answer: The final answer is $42$. I hope it is correct.",
            ),
            ("x > 3", r"Dividing by $2$ gives \[3 < x.\]"),
            ("5", "We get 7 first. Then 5 remains."),
        ];
        let text: String = lines
            .iter()
            .map(|(g, p)| format!("{}\n", serde_json::json!({"answer": g, "pred": p})))
            .collect();
        let all = math(Some(ExtractRules::GRADING));
        let graded = grade_jsonl(&text, "in", FIELDS, all, true).unwrap();
        let found: Vec<(&Value, &Value, &Value)> = graded
            .lines
            .iter()
            .map(|g| (&g["correct"], &g["pred_extracted"], &g["extract_rule"]))
            .collect();
        let yes = Value::Bool(true);
        assert_eq!(
            found,
            [
                (
                    &yes,
                    &Value::from(r"\dfrac{2}{3}"),
                    &Value::from("last-math")
                ),
                (&yes, &Value::from("42"), &Value::from("final-answer")),
                (&yes, &Value::from("3 < x"), &Value::from("last-math")),
                (&yes, &Value::from("5"), &Value::from("last-number")),
            ]
        );
        // With only `boxed`, no rule matches and the whole solution is compared.
        let boxed = math(Some("boxed".parse().unwrap()));
        let graded = grade_jsonl(&text, "in", FIELDS, boxed, false).unwrap();
        assert_eq!(graded.correct, 0);
    }
}
