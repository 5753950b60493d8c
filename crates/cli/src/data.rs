//! `ttc data`: write demo-world datasets.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use ttc_dataset::DifficultyMix;
use ttc_dataset::demo::{DemoWorld, FIXED_SPLIT_SIZE, Split};

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
    match (args.split, args.count, args.seed) {
        (Split::Train, None, _) => {
            bail!("--split train needs --count N: the training stream is endless")
        }
        (Split::Validation | Split::Test, _, Some(_)) => bail!(
            "the {} set is fixed; --seed applies to --split train only",
            args.split
        ),
        (Split::Validation | Split::Test, Some(n), _) if n > FIXED_SPLIT_SIZE => bail!(
            "the {} set has {FIXED_SPLIT_SIZE} problems; give --count {FIXED_SPLIT_SIZE} or less",
            args.split
        ),
        _ => {}
    }
    let world = match &args.mix {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mix: DifficultyMix = toml::from_str(&text)
                .with_context(|| format!("invalid difficulty mix in {}", path.display()))?;
            DemoWorld::new(mix).with_context(|| format!("in {}", path.display()))?
        }
        None => DemoWorld::default(),
    };
    let seed = match args.split {
        Split::Train => Some(args.seed.unwrap_or(0)),
        _ => None,
    };
    let written = world
        .write_split(&args.out, args.split, args.count, seed)
        .with_context(|| format!("cannot write the {} split", args.split))?;
    tracing::info!(
        "wrote {written} {} problems to {}",
        args.split,
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(split: Split, count: Option<usize>, seed: Option<u64>, out: PathBuf) -> GenerateArgs {
        GenerateArgs {
            split,
            count,
            seed,
            mix: None,
            out,
        }
    }

    #[test]
    fn writes_a_prefix_of_the_test_set_and_checks_flags() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("test.jsonl");
        generate(args(Split::Test, Some(4), None, out.clone())).unwrap();
        let problems = ttc_dataset::read_problems(&out).unwrap();
        let ids: Vec<&str> = problems.iter().map(|p| p.unique_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "demo/test/00000",
                "demo/test/00001",
                "demo/test/00002",
                "demo/test/00003"
            ]
        );

        let out = dir.path().join("train.jsonl");
        generate(args(Split::Train, Some(3), Some(9), out.clone())).unwrap();
        let expected = DemoWorld::default().train_problems(9, 3);
        assert_eq!(ttc_dataset::read_problems(&out).unwrap(), expected);

        let err = generate(args(Split::Train, None, None, out.clone())).unwrap_err();
        assert!(err.to_string().contains("--count"), "{err}");
        let err = generate(args(Split::Validation, None, Some(1), out)).unwrap_err();
        assert!(err.to_string().contains("--seed"), "{err}");
    }
}
