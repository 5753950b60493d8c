//! Project automation for ttc, run as `cargo xtask <command>` (the alias lives in
//! `.cargo/config.toml`). Everything it installs goes under the git-ignored `.ttc/`.

mod bench;
mod cargo_cmds;
mod demo;
mod export;
mod fixtures;
mod pyenv;
mod setup;
mod util;

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Project automation for ttc: ONNX Runtime setup, ONNX export, test fixtures, tests, benchmarks",
    after_help = "Python steps run offline (HF_HUB_OFFLINE=1) in the venv .ttc/pyenv; the Python \
                  peers of `bench generate` run in the small venv .ttc/bench-env."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Install the ONNX Runtime 1.31.1 shared library into .ttc/onnxruntime/ from the
    /// PyPI wheel; a no-op when the requested build is already installed. Prints the
    /// library path.
    Setup(setup::SetupArgs),
    /// Create or update the Python environment .ttc/pyenv from
    /// xtask/python/requirements.txt (torch, transformers, optimum, onnxruntime); a
    /// no-op when it was built from the current requirements.
    Pyenv {
        /// The GenAI export environment .ttc/genai-env instead, from
        /// xtask/python/requirements-genai.txt (onnxruntime-genai's model builder,
        /// transformers 5; torch read from .ttc/pyenv, which is built first).
        #[arg(long)]
        genai: bool,
    },
    /// Export a local Hugging Face checkpoint to ONNX (offline; Optimum, or for
    /// `--task token-classification-with-past` torch's exporter with a parity check),
    /// then load it in onnxruntime and print its inputs and outputs.
    Export(export::ExportArgs),
    /// Regenerate the tiny test models and their golden outputs in models/fixtures/
    /// (deterministic: fixed seeds, tokenizer trained on an inline corpus).
    Fixtures,
    /// Install ONNX Runtime if needed, then run `cargo test --workspace ARGS...`.
    #[command(after_help = "Example: cargo xtask test -p ttc-core -- --nocapture")]
    Test {
        /// Passed to `cargo test` unchanged.
        #[arg(allow_hyphen_values = true)]
        args: Vec<OsString>,
        /// Arguments after a leading `--`, passed to the test binaries.
        #[arg(last = true, hide = true)]
        harness_args: Vec<OsString>,
    },
    /// Install ONNX Runtime if needed, then run `cargo run --release -p ttc-cli -- ARGS...`.
    #[command(after_help = "The CLI's own help: cargo xtask ttc -- --help")]
    Ttc {
        /// Passed to the ttc CLI unchanged.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Install ONNX Runtime if needed, then run an evaluation sweep:
    /// `ttc eval RUN_FILE ARGS...` (release build). Resumes an interrupted run.
    #[command(after_help = "The sweep's own options: cargo xtask ttc eval --help")]
    Eval {
        /// The run file; the demo sweep on the shipped demo models by default.
        #[arg(default_value = "config/demo.toml")]
        run_file: OsString,
        /// Passed to `ttc eval` unchanged (e.g. --limit 10, --output DIR).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Train the demo models from scratch in resumable stages (`--list` shows them).
    TrainDemo(demo::TrainDemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Cmd) -> Result<ExitCode> {
    let root = util::workspace_root()?;
    match command {
        Cmd::Setup(args) => setup::run(&root, &args)?,
        Cmd::Pyenv { genai } => pyenv::run(&root, genai)?,
        Cmd::Export(args) => export::run(&root, &args)?,
        Cmd::Fixtures => fixtures::run(&root)?,
        Cmd::Test { args, harness_args } => return cargo_cmds::test(&root, &args, &harness_args),
        Cmd::Ttc { args } => return cargo_cmds::ttc(&root, &args),
        Cmd::Eval { run_file, args } => {
            let mut all = vec![OsString::from("eval"), run_file];
            all.extend(args);
            return cargo_cmds::ttc(&root, &all);
        }
        Cmd::Bench(command) => bench::run(&root, &command)?,
        Cmd::TrainDemo(args) => demo::run(&root, &args)?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn forwarded(args: &[&str]) -> Vec<String> {
        let cli = Cli::try_parse_from(std::iter::once("xtask").chain(args.iter().copied()));
        match cli.map(|cli| cli.command) {
            Ok(Cmd::Test { args, harness_args }) => {
                let harness = if harness_args.is_empty() {
                    Vec::new()
                } else {
                    [OsString::from("--")]
                        .into_iter()
                        .chain(harness_args)
                        .collect()
                };
                args.iter()
                    .chain(&harness)
                    .map(|arg| arg.to_string_lossy().into_owned())
                    .collect()
            }
            Ok(Cmd::Ttc { args }) => args
                .iter()
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect(),
            Ok(Cmd::Eval { run_file, args }) => std::iter::once(&run_file)
                .chain(&args)
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect(),
            other => panic!("unexpected parse of {args:?}: {other:?}"),
        }
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn test_and_ttc_forward_arguments_verbatim() {
        assert_eq!(
            forwarded(&["test", "-p", "ttc-core", "--", "--nocapture"]),
            ["-p", "ttc-core", "--", "--nocapture"]
        );
        assert_eq!(
            forwarded(&["test", "--", "--nocapture"]),
            ["--", "--nocapture"]
        );
        assert_eq!(
            forwarded(&["ttc", "run", "--config", "x.toml"]),
            ["run", "--config", "x.toml"]
        );
        // `ttc` adds its own `--` before the CLI's arguments.
        assert_eq!(forwarded(&["ttc", "--", "--help"]), ["--help"]);
        assert_eq!(
            forwarded(&["test", "--lib", "-p", "ttc-core", "name", "--release"]),
            ["--lib", "-p", "ttc-core", "name", "--release"]
        );
        assert!(forwarded(&["test"]).is_empty());
        assert_eq!(forwarded(&["eval"]), ["config/demo.toml"]);
        assert_eq!(
            forwarded(&["eval", "config/demo-full.toml", "--limit", "5"]),
            ["config/demo-full.toml", "--limit", "5"]
        );
    }
}
