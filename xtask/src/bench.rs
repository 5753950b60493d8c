//! Benchmarks.
//!
//! `cargo xtask bench generate` ([`generate`]): generation throughput and peak memory
//! of four implementations side by side in one run: ttc and onnxruntime-genai on an
//! ONNX Runtime GenAI folder, ttc and a plain Python ONNX Runtime loop on the Optimum
//! export of the same weights, on the tiny fixture and on a real-shaped model that
//! the bench creates and caches under `.ttc/bench/` ([`models`]). The Python sides run
//! in the small venv `.ttc/bench-env` (`xtask/python/requirements-bench.txt`); making
//! the real-shaped model needs the export environments.
//!
//! `cargo xtask bench search`: beam search, DVTS and weighted best-of-N on the demo
//! models, the verifier continuing from its cache beside full rescoring.

mod child;
mod generate;
mod models;
mod table;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::{setup, util};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum BenchCommand {
    /// Tokens/s and peak memory of four implementations side by side, as markdown
    /// tables: (a) ttc on an ONNX Runtime GenAI folder, (b) onnxruntime-genai's Python
    /// API on the same folder, (c) ttc on the Optimum export of the same weights, (d)
    /// a plain Python ONNX Runtime loop on that export; greedy and sampled, per batch
    /// size, with the ratios issue 22's targets need. The Python sides run in the
    /// small venv .ttc/bench-env (xtask/python/requirements-bench.txt), created on
    /// first use.
    Generate(generate::GenerateArgs),
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

pub(crate) fn run(root: &Path, command: &BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Generate(args) => generate::run(root, args),
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
