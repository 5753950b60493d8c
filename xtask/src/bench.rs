//! `cargo xtask bench generate`: greedy generation throughput of ttc's generator
//! next to a plain Python loop over the onnxruntime package, on the same model. The
//! Python loop runs in the small venv `.ttc/bench-env` (onnxruntime, numpy and
//! tokenizers from `xtask/python/requirements-bench.txt`, about 210 MB), built on
//! first use; the 3 GB training environment of `cargo xtask pyenv` is not needed.
//! `cargo xtask bench search`: beam search, DVTS and weighted best-of-N on the demo
//! models, the verifier continuing from its cache beside full rescoring.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{pyenv, setup, util};

const DEFAULT_MODEL: &str = "models/fixtures/tiny-llama";
const RUST_BENCH: &str = "crates/generator/benches/generate.rs";

#[derive(Debug, clap::Subcommand)]
pub(crate) enum BenchCommand {
    /// Greedy-decoding tokens/s of ttc (`cargo bench -p ttc-generator --bench
    /// generate`) against `xtask/python/bench_ort_loop.py`, per batch size, as a
    /// markdown table. The Python loop runs in the small venv .ttc/bench-env
    /// (onnxruntime, numpy, tokenizers from xtask/python/requirements-bench.txt,
    /// about 210 MB), created on first use.
    Generate(GenerateArgs),
    /// Search cost on a run file's models (default config/demo.toml): wall time,
    /// generator and verifier tokens per question for beam search, DVTS and weighted
    /// best-of-N, the verifier continuing from its KV cache beside full rescoring, as
    /// a markdown table (`cargo bench -p ttc-app --bench search`).
    Search(SearchArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct SearchArgs {
    /// Run file with [generator], [verifier], [search] and [dataset].
    #[arg(long, default_value = "config/demo.toml")]
    config: PathBuf,
    /// The first this many questions of the run file's dataset.
    #[arg(long, default_value_t = 8)]
    questions: usize,
    /// Budgets N, comma separated.
    #[arg(long, default_value = "16,64")]
    budgets: String,
    /// Search methods, comma separated, in the run files' words.
    #[arg(long, default_value = "beam-m4,dvts-m4,best-of-n-weighted")]
    methods: String,
    /// Only the cached path (no full-rescoring rows).
    #[arg(long)]
    cached_only: bool,
    /// ONNX Runtime intra-op threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Exported model folder [default: models/fixtures/tiny-llama]
    #[arg(long)]
    model: Option<PathBuf>,
    /// Batch sizes to measure, comma separated; the prompt is repeated per row.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,16,64",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    batches: Vec<u32>,
    /// Tokens generated per row (EOS is ignored).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    new_tokens: u32,
    /// Prompt text.
    #[arg(long, default_value = "12 + 7 =")]
    prompt: String,
    /// Runs per measurement; each side reports its best (a loaded machine is noisy).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    repeats: u32,
}

pub(crate) fn run(root: &Path, command: &BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Generate(args) => generate(root, args),
        BenchCommand::Search(args) => search(root, args),
    }
}

fn search(root: &Path, args: &SearchArgs) -> Result<()> {
    let config = util::absolute(&args.config)?;
    if !config.is_file() {
        bail!(
            "the run file {} does not exist; pass --config FILE",
            config.display()
        );
    }
    setup::ensure(root)?;
    let mut bench = util::cargo();
    bench
        .current_dir(root)
        .arg("bench")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["--package", "ttc-app", "--bench", "search", "--"])
        .arg("--config")
        .arg(&config)
        .args(["--questions", &args.questions.to_string()])
        .args(["--budgets", &args.budgets])
        .args(["--methods", &args.methods]);
    if args.cached_only {
        bench.arg("--cached-only");
    }
    if let Some(t) = args.threads {
        bench.args(["--threads", &t.to_string()]);
    }
    util::run(&mut bench)
}

struct Row {
    batch: u32,
    ttc: f64,
    python: f64,
}

fn generate(root: &Path, args: &GenerateArgs) -> Result<()> {
    let model = match &args.model {
        Some(model) => util::absolute(model)?,
        None => root.join(DEFAULT_MODEL),
    };
    if !model.is_dir() {
        bail!(
            "the model folder {} does not exist; pass --model with an exported model \
             (`cargo xtask export`) or run `cargo xtask fixtures`",
            model.display()
        );
    }
    if !root.join(RUST_BENCH).is_file() {
        bail!(
            "the Rust benchmark {RUST_BENCH} does not exist yet; `cargo xtask bench generate` \
             runs `cargo bench -p ttc-generator --bench generate`, which the generator crate \
             has to provide"
        );
    }
    setup::ensure(root)?;
    // Build the Python peer's venv before any measurement, so a missing python3 or
    // registry shows at once.
    pyenv::BENCH.ensure(root)?;
    let flags = |batch: u32| {
        [
            "--model".into(),
            model.display().to_string(),
            "--batch".into(),
            batch.to_string(),
            "--new-tokens".into(),
            args.new_tokens.to_string(),
            "--prompt".into(),
            args.prompt.clone(),
            "--repeats".into(),
            args.repeats.to_string(),
        ]
    };

    let mut rows = Vec::new();
    for &batch in &args.batches {
        let mut rust = util::cargo();
        rust.arg("bench")
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml"))
            .args(["--package", "ttc-generator", "--bench", "generate", "--"])
            .args(flags(batch));
        let ttc = tokens_per_s(&mut rust, "ttc")?;
        let mut python = pyenv::BENCH.script(root, "bench_ort_loop.py")?;
        python.args(flags(batch));
        let python = tokens_per_s(&mut python, "python-onnxruntime")?;
        rows.push(Row { batch, ttc, python });
    }

    println!();
    println!(
        "model: {}, {} new tokens per row, prompt {:?}",
        model.display(),
        args.new_tokens,
        args.prompt
    );
    println!();
    println!("| batch | ttc tok/s | python tok/s | ratio |");
    println!("|------:|----------:|-------------:|------:|");
    for row in rows {
        println!(
            "| {} | {:.0} | {:.0} | {:.2}x |",
            row.batch,
            row.ttc,
            row.python,
            row.ttc / row.python
        );
    }
    Ok(())
}

/// Runs one benchmark (stderr shown live), echoes its JSON line and returns its
/// `tokens_per_s`.
fn tokens_per_s(command: &mut Command, implementation: &str) -> Result<f64> {
    command.stderr(Stdio::inherit());
    let output = util::output(command)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "`{}` failed ({}); its output:\n{stdout}",
            util::describe(command),
            output.status
        );
    }
    let result = stdout
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .find(|value| value.get("impl").and_then(Value::as_str) == Some(implementation))
        .with_context(|| {
            format!(
                "`{}` printed no JSON line with \"impl\":\"{implementation}\"; its output:\n{stdout}",
                util::describe(command)
            )
        })?;
    println!("{result}");
    result
        .get("tokens_per_s")
        .and_then(Value::as_f64)
        .filter(|rate| rate.is_finite() && *rate > 0.0)
        .with_context(|| format!("no positive number \"tokens_per_s\" in {result}"))
}
