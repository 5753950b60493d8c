//! `ttc`: compute-optimal test-time scaling over ONNX-exported language models.
//!
//! The binary parses flags, calls the application layer (`ttc-app`) and prints:
//! logs go to stderr, data to stdout.

mod data;
mod eval;
mod generate;
mod grade;
mod merge;
mod score;
mod settings;
mod solve;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Compute-optimal test-time scaling of language models, over ONNX-exported models.
#[derive(Parser, Debug)]
#[command(name = "ttc", version, about, long_about = None)]
struct Cli {
    /// More log output on stderr: warnings and errors by default, -v info, -vv debug,
    /// -vvv trace (RUST_LOG overrides it). Long work shows progress whatever the level.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sample continuations of prompts from an exported model folder.
    Generate(generate::GenerateArgs),
    /// Answer a question with a search strategy under a budget.
    Solve(solve::SolveArgs),
    /// Run an evaluation sweep from a run file (resumable), then fit the policy.
    Eval(eval::EvalArgs),
    /// Merge the shard folders of a sharded eval into one run folder, then analyse it.
    Merge(merge::MergeArgs),
    /// Score solutions step by step with a reward model (PRM or ORM).
    Score(score::ScoreArgs),
    Grade(grade::GradeArgs),
    Data(data::DataArgs),
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only on a terminal, and never when NO_COLOR is set (no-color.org).
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Generate(args) => generate::run(args),
        Command::Solve(args) => solve::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Score(args) => score::run(args),
        Command::Grade(args) => grade::run(args, cli.verbose),
        Command::Data(args) => data::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
