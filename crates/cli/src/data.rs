//! `ttc data`: write demo-world datasets.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ttc_dataset::DifficultyMix;
use ttc_dataset::demo::Split;

/// Write demo-world datasets (multi-step arithmetic problems with step-by-step
/// solutions) as MATH-500-style JSONL.
#[derive(clap::Args, Debug)]
pub(crate) struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(clap::Subcommand, Debug)]
enum DataCommand {
    /// Write a split of the demo world to a JSONL file.
    ///
    /// Each line has the MATH-500 fields problem, solution (one step per line,
    /// ending with "Answer: <integer>"), answer, level (1-5) and unique_id, plus
    /// steps, digits and operators. The training stream is endless and seeded; the
    /// validation and test sets are fixed (500 problems each) and disjoint from it.
    Generate(GenerateArgs),
    /// Print the default difficulty mix as TOML (a starting point for --mix).
    Mix,
}

#[derive(clap::Args, Debug)]
struct GenerateArgs {
    /// Which split: train, validation or test.
    #[arg(long, value_name = "SPLIT", value_parser = parse_split)]
    split: Split,
    /// Number of problems: required for train; for validation/test, write only the
    /// first N of the 500.
    #[arg(long, value_name = "N")]
    count: Option<usize>,
    /// Seed of the training stream (train only; validation and test are fixed).
    /// Default 0.
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Difficulty mix as a TOML file (see `ttc data mix`); default: the built-in mix.
    #[arg(long, value_name = "FILE")]
    mix: Option<PathBuf>,
    /// Output JSONL file (replaced if it exists; parent folders are created).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

fn parse_split(s: &str) -> Result<Split, String> {
    s.parse()
        .map_err(|e: ttc_dataset::DatasetError| e.to_string())
}

/// Runs `ttc data`.
pub(crate) fn run(args: DataArgs) -> Result<()> {
    match args.command {
        DataCommand::Generate(args) => generate(args),
        DataCommand::Mix => {
            let text = toml::to_string(&DifficultyMix::default())
                .context("cannot encode the default difficulty mix as TOML")?;
            print!("{text}");
            Ok(())
        }
    }
}

fn generate(args: GenerateArgs) -> Result<()> {
    let written = ttc_app::data::write_split(
        args.split,
        args.count,
        args.seed,
        args.mix.as_deref(),
        &args.out,
    )?;
    tracing::info!(
        "wrote {written} {} problems to {}",
        args.split,
        args.out.display()
    );
    Ok(())
}
