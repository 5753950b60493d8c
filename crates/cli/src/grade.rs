//! `ttc grade`: decide whether predicted answers equal gold answers.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};
use ttc_app::grade::{Fields, add_verdict, grade_jsonl};
use ttc_math_grade::{AnswerSpec, ExtractRules, GradeMode, grade};

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

fn grade_file(args: &GradeArgs, path: &Path, explain: bool) -> Result<()> {
    let name = path.display().to_string();
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?
    };
    let fields = Fields {
        gold: &args.gold_field,
        pred: &args.pred_field,
    };
    let graded = grade_jsonl(&text, &name, fields, args.spec(), explain)?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(out) => Box::new(BufWriter::new(
            File::create(out).with_context(|| format!("cannot create {}", out.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    for obj in &graded.lines {
        writeln!(out, "{obj}")?;
    }
    out.flush()?;
    let (total, correct) = (graded.lines.len(), graded.correct);
    let share = 100.0 * correct as f64 / total.max(1) as f64;
    tracing::info!("graded {total} pairs from {name}: {correct} correct ({share:.1}%)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_flags_parse_to_rules() {
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
        let integer = parse(&["--jsonl", "x", "--mode", "integer"]).unwrap();
        assert_eq!(integer.spec().rules, ExtractRules::ANCHORED);
    }
}
