//! `ttc grade`: decide whether predicted answers equal gold answers.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};
use ttc_math_grade::{AnswerSpec, ExtractRules, GradeMode, Verdict, grade};

/// Decide whether predicted answers equal gold answers.
///
/// Either answer may be a bare answer (`118`, `\frac{1}{2}`) or a whole solution,
/// from which the final answer is found by extraction rules, the first that
/// matches: the last `\boxed{...}`, "the final answer is ...", an `Answer: ...`
/// line, the whole text when it is a bare answer, the last math environment, the
/// last number (math mode; `--extract` chooses the rules). The math mode
/// normalises LaTeX (fractions, roots, units, degrees, percent, number formats,
/// `x = 5`, equations and inequalities, tuples, intervals, unordered solution
/// sets, matrices, ...) and compares values; the integer mode compares integers.
///
/// One pair: `ttc grade --gold 118 --pred 'Answer: 118'` prints `match` or
/// `no match` and exits 0 either way. Many pairs: `ttc grade --jsonl FILE` reads
/// one JSON object per line and writes each back with a `correct` field added.
#[derive(clap::Args, Debug)]
pub(crate) struct GradeArgs {
    /// The gold (reference) answer.
    #[arg(long, value_name = "TEXT", requires = "pred", conflicts_with = "jsonl")]
    gold: Option<String>,
    /// The predicted answer, or a whole generated solution.
    #[arg(long, value_name = "TEXT", requires = "gold", conflicts_with = "jsonl")]
    pred: Option<String>,
    /// JSONL file of pairs ("-" for stdin): one object per line with the gold and
    /// predicted answers (fields named by --gold-field and --pred-field; other
    /// fields are passed through).
    #[arg(long, value_name = "FILE")]
    jsonl: Option<PathBuf>,
    /// Field of each JSONL line holding the gold answer.
    #[arg(long, value_name = "NAME", default_value = "gold")]
    gold_field: String,
    /// Field of each JSONL line holding the prediction.
    #[arg(long, value_name = "NAME", default_value = "pred")]
    pred_field: String,
    /// Write the graded JSONL lines to this file instead of stdout.
    #[arg(long, value_name = "FILE", requires = "jsonl")]
    out: Option<PathBuf>,
    /// How to compare: "math" (normalised LaTeX answers) or "integer" (exact
    /// integers, the demo world).
    #[arg(long, value_name = "MODE", default_value = "math", value_parser = parse_mode)]
    mode: GradeMode,
    /// Find the answer in whole solutions with these rules, first match first
    /// (comma-separated: boxed, final-answer, answer-line, bare, last-math,
    /// last-number). `--extract` alone means all six, the math mode's default;
    /// the integer mode's default is boxed,answer-line.
    #[arg(
        long,
        value_name = "RULES",
        num_args = 0..=1,
        require_equals = false,
        default_missing_value = "boxed,final-answer,answer-line,bare,last-math,last-number",
        value_parser = parse_rules
    )]
    extract: Option<ExtractRules>,
    /// Print the verdict as one JSON object (with the normalised forms).
    #[arg(long)]
    json: bool,
    /// Also print the extracted answer and the normalised forms (as does -v); with
    /// --jsonl, add the fields pred_extracted, extract_rule, gold_normalized and
    /// pred_normalized to each line.
    #[arg(long)]
    explain: bool,
}

fn parse_rules(s: &str) -> Result<ExtractRules, String> {
    s.parse()
        .map_err(|e: ttc_math_grade::GradeError| e.to_string())
}

impl GradeArgs {
    /// The mode with the rules of --extract, or the mode's default rules.
    fn spec(&self) -> AnswerSpec {
        match self.extract {
            Some(rules) => AnswerSpec::new(self.mode, rules),
            None => AnswerSpec::from(self.mode),
        }
    }
}

fn parse_mode(s: &str) -> Result<GradeMode, String> {
    s.parse()
        .map_err(|e: ttc_math_grade::GradeError| e.to_string())
}

/// Runs `ttc grade`; `verbose` is the global `-v` count (shows normalised forms).
pub(crate) fn run(args: GradeArgs, verbose: u8) -> Result<()> {
    let explain = args.explain || verbose > 0;
    if let Some(path) = &args.jsonl {
        return grade_file(&args, path, explain);
    }
    let (Some(gold), Some(pred)) = (&args.gold, &args.pred) else {
        bail!("give --gold TEXT and --pred TEXT, or --jsonl FILE");
    };
    let verdict = grade(gold, pred, args.spec())?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut obj = Map::new();
        obj.insert("gold".into(), gold.as_str().into());
        obj.insert("pred".into(), pred.as_str().into());
        obj.insert("mode".into(), args.mode.name().into());
        obj.insert("extract".into(), args.spec().rules.to_string().into());
        add_verdict(&mut obj, &verdict, true);
        writeln!(out, "{}", Value::Object(obj))?;
    } else {
        writeln!(
            out,
            "{}",
            if verdict.correct { "match" } else { "no match" }
        )?;
        if explain {
            let found = match (&verdict.extracted, verdict.rule) {
                (Some(answer), Some(rule)) => format!("{answer} ({rule})"),
                (Some(answer), None) => format!("{answer} (whole text)"),
                (None, _) => "(no answer found)".into(),
            };
            writeln!(out, "answer: {found}")?;
            writeln!(out, "gold: {}", verdict.gold)?;
            let pred = verdict.pred.as_deref().unwrap_or("(no answer found)");
            writeln!(out, "pred: {pred}")?;
        }
    }
    Ok(())
}

fn add_verdict(obj: &mut Map<String, Value>, verdict: &Verdict, explain: bool) {
    obj.insert("correct".into(), verdict.correct.into());
    if explain {
        obj.insert(
            "pred_extracted".into(),
            verdict
                .extracted
                .as_deref()
                .map_or(Value::Null, Value::from),
        );
        obj.insert(
            "extract_rule".into(),
            verdict.rule.map_or(Value::Null, |r| Value::from(r.name())),
        );
        obj.insert("gold_normalized".into(), verdict.gold.as_str().into());
        obj.insert(
            "pred_normalized".into(),
            verdict.pred.as_deref().map_or(Value::Null, Value::from),
        );
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

fn grade_file(args: &GradeArgs, path: &Path, explain: bool) -> Result<()> {
    let name = path.display().to_string();
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?
    };
    let spec = args.spec();
    // Grade every line before writing anything, so a bad line leaves no partial output.
    let mut graded = Vec::new();
    let mut correct = 0usize;
    for line in ttc_jsonl::parse_lines::<Value>(&text) {
        let number = line.as_ref().map_or_else(|bad| bad.line, |l| l.number);
        let at = || format!("{name}:{number}");
        let mut obj = match line.map(|l| l.value) {
            Ok(Value::Object(obj)) => obj,
            Ok(_) => bail!(
                "{}: expected a JSON object with {:?} and {:?} fields",
                at(),
                args.gold_field,
                args.pred_field
            ),
            Err(bad) => bail!("{name}:{bad} (invalid JSON); fix or remove this line"),
        };
        let gold =
            answer_field(&obj, &args.gold_field).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        let pred =
            answer_field(&obj, &args.pred_field).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
        let verdict = grade(&gold, &pred, spec).with_context(at)?;
        correct += usize::from(verdict.correct);
        add_verdict(&mut obj, &verdict, explain);
        graded.push(Value::Object(obj));
    }
    let mut out: Box<dyn Write> = match &args.out {
        Some(out) => Box::new(BufWriter::new(
            File::create(out).with_context(|| format!("cannot create {}", out.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    for obj in &graded {
        writeln!(out, "{obj}")?;
    }
    let total = graded.len();
    out.flush()?;
    let share = if total == 0 {
        0.0
    } else {
        100.0 * correct as f64 / total as f64
    };
    tracing::info!("graded {total} pairs from {name}: {correct} correct ({share:.1}%)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(jsonl: &Path, out: &Path) -> GradeArgs {
        GradeArgs {
            gold: None,
            pred: None,
            jsonl: Some(jsonl.to_path_buf()),
            gold_field: "answer".into(),
            pred_field: "pred".into(),
            out: Some(out.to_path_buf()),
            mode: GradeMode::Math,
            extract: None,
            json: false,
            explain: false,
        }
    }

    /// A fresh folder for one test, removed when dropped.
    fn temp_dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn jsonl_lines_get_a_verdict_and_keep_their_fields() {
        let dir = temp_dir();
        let dir = dir.path();
        let (input, output) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
        std::fs::write(
            &input,
            "{\"answer\": \"\\\\frac{1}{2}\", \"pred\": \"\\\\boxed{0.5}\", \"id\": 7}\n\n\
             {\"answer\": 3, \"pred\": \"Answer: 4\"}\n",
        )
        .unwrap();
        run(args(&input, &output), 1).unwrap();
        let lines: Vec<Value> = std::fs::read_to_string(&output)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (&lines[0]["correct"], &lines[0]["id"]),
            (&Value::Bool(true), &Value::from(7))
        );
        assert_eq!(lines[0]["pred_normalized"], "1/2");
        assert_eq!(lines[1]["correct"], false);
    }

    #[test]
    fn a_bad_line_is_named_and_nothing_is_written() {
        let dir = temp_dir();
        let dir = dir.path();
        let (input, output) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
        std::fs::write(
            &input,
            "{\"answer\": \"1\", \"pred\": \"1\"}\n{\"answer\": \"1\"}\n",
        )
        .unwrap();
        let err = format!("{:#}", run(args(&input, &output), 0).unwrap_err());
        assert!(
            err.contains("in.jsonl:2") && err.contains("\"pred\""),
            "{err}"
        );
        assert!(!output.exists());
        std::fs::write(&input, "{\"answer\": \"1\", \"pred\": \"1\"}\nnot json\n").unwrap();
        let err = format!("{:#}", run(args(&input, &output), 0).unwrap_err());
        assert!(
            err.contains("in.jsonl:2") && err.contains("invalid JSON"),
            "{err}"
        );
    }

    #[test]
    fn extract_finds_answers_in_whole_solutions() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            grade: GradeArgs,
        }
        let parse = |argv: &[&str]| Cli::try_parse_from([&["ttc"], argv].concat()).map(|c| c.grade);
        let all = parse(&["--jsonl", "x", "--extract"]).unwrap();
        assert_eq!(all.spec().rules, ExtractRules::GRADING);
        let two = parse(&["--extract", "boxed,last-number", "--jsonl", "x"]).unwrap();
        assert_eq!(two.spec().rules.to_string(), "boxed,last-number");
        let err = parse(&["--jsonl", "x", "--extract", "boxd"])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("\"boxd\"") && err.contains("last-math"),
            "{err}"
        );
        assert_eq!(
            parse(&["--jsonl", "x", "--mode", "integer"])
                .unwrap()
                .spec()
                .rules,
            ExtractRules::ANCHORED
        );

        let dir = temp_dir();
        let dir = dir.path();
        let (input, output) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
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
        std::fs::write(&input, text).unwrap();
        let mut a = args(&input, &output);
        a.extract = Some(ExtractRules::GRADING);
        a.explain = true;
        run(a, 0).unwrap();
        let graded: Vec<Value> = std::fs::read_to_string(&output)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let found: Vec<(&Value, &Value, &Value)> = graded
            .iter()
            .map(|g| (&g["correct"], &g["pred_extracted"], &g["extract_rule"]))
            .collect();
        assert_eq!(
            found,
            [
                (
                    &Value::Bool(true),
                    &Value::from(r"\dfrac{2}{3}"),
                    &Value::from("last-math")
                ),
                (
                    &Value::Bool(true),
                    &Value::from("42"),
                    &Value::from("final-answer")
                ),
                (
                    &Value::Bool(true),
                    &Value::from("3 < x"),
                    &Value::from("last-math")
                ),
                (
                    &Value::Bool(true),
                    &Value::from("5"),
                    &Value::from("last-number")
                ),
            ]
        );
        // With only `boxed`, no rule matches and the whole solution is compared.
        let mut a = args(&input, &output);
        a.extract = Some("boxed".parse().unwrap());
        run(a, 0).unwrap();
        let correct = std::fs::read_to_string(&output)
            .unwrap()
            .lines()
            .filter(|l| l.contains("\"correct\":true"))
            .count();
        assert_eq!(correct, 0);
    }
}
