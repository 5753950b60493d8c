//! `ttc score`: a reward model on its own.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use ttc_app::components::load_verifier;
use ttc_app::run_file::{RunFile, VerifierSection};
use ttc_app::score::{ScoreLine, read_lines, score_lines};
use ttc_core::ScoreAggregation;

use crate::settings::RuntimeArgs;

/// Score solutions with a reward model: per step the probability, per solution the
/// aggregated score, one JSON object per line on stdout.
///
/// The model is the run file's `[verifier]` (`--config`), or `--model` with
/// `--adapter`. Solutions come from the command line (a question and `--step`s) or
/// from `--input`, a JSONL file of `{"problem": "...", "steps": ["...", ...]}` lines;
/// a bad line is named by its number. A line whose steps extend an earlier line's on
/// the same problem continues from it, reading only the new tokens when the model
/// was exported with its KV cache.
#[derive(clap::Args, Debug)]
pub(crate) struct ScoreArgs {
    /// The question (with --step), instead of --input.
    question: Option<String>,
    /// One step of the solution to score (repeat, in order).
    #[arg(long = "step", value_name = "TEXT")]
    steps: Vec<String>,
    /// JSONL file of solutions to score.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["question", "steps"])]
    input: Option<PathBuf>,
    /// Exported reward model folder, instead of the run file's [verifier].
    #[arg(long, value_name = "DIR", requires = "adapter")]
    model: Option<PathBuf>,
    /// The model's adapter preset: demo, qwen2.5-math-prm, math-shepherd, rlhflow,
    /// skywork (a full adapter needs a run file).
    #[arg(long, value_name = "PRESET", requires = "model")]
    adapter: Option<String>,
    /// How step scores become one (default: the run file's [search] aggregation, else last).
    #[arg(long, value_enum)]
    aggregation: Option<AggregationArg>,
    /// Read every solution in full, without continuing from an earlier line's cache.
    #[arg(long)]
    no_cache: bool,
    /// Solutions per model call.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum AggregationArg {
    Last,
    Min,
    Product,
    Mean,
}

pub(crate) fn run(args: ScoreArgs) -> Result<()> {
    let file = match &args.runtime.config {
        Some(path) => Some(RunFile::load(path)?),
        None => None,
    };
    let runtime = args.runtime.resolve()?;
    let (mut section, config) = match (&args.model, &file, &args.runtime.config) {
        (Some(dir), _, _) => (
            VerifierSection::from_preset(dir, args.adapter.as_deref().unwrap_or_default())?,
            Path::new("--model"),
        ),
        (None, Some(f), Some(path)) => match &f.verifier {
            Some(v) => (v.clone(), path.as_path()),
            None => bail!(
                "{}: no [verifier] table; add one or give --model DIR --adapter PRESET",
                path.display()
            ),
        },
        _ => bail!(
            "no reward model: give --config FILE (with a [verifier] table) or --model DIR --adapter PRESET"
        ),
    };
    if args.no_cache {
        section.cache = Some(false);
    }
    let lines = match (&args.input, &args.question) {
        (Some(path), _) => read_lines(path)?,
        (None, Some(q)) if !args.steps.is_empty() => vec![ScoreLine {
            problem: q.clone(),
            steps: args.steps.clone(),
            line: None,
        }],
        (None, Some(_)) => bail!("give the solution's steps with --step TEXT (repeat, in order)"),
        (None, None) => {
            bail!("nothing to score: give a question with --step TEXT ..., or --input FILE.jsonl")
        }
    };
    let aggregation = match args.aggregation {
        Some(AggregationArg::Last) => ScoreAggregation::Last,
        Some(AggregationArg::Min) => ScoreAggregation::Min,
        Some(AggregationArg::Product) => ScoreAggregation::Product,
        Some(AggregationArg::Mean) => ScoreAggregation::Mean,
        None => file
            .as_ref()
            .map(|f| f.search.aggregation)
            .unwrap_or_default(),
    };
    let verifier = load_verifier(&section, &runtime, config)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut total = 0usize;
    score_lines(verifier.as_ref(), &lines, aggregation, args.batch, |s| {
        total += s.verifier_tokens;
        serde_json::to_writer(&mut out, &s)?;
        writeln!(out).map_err(|e| ttc_app::Error::Config(format!("writing to stdout: {e}")))?;
        Ok(())
    })?;
    tracing::info!(solutions = lines.len(), verifier_tokens = total, "scored");
    Ok(())
}
