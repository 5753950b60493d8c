//! `ttc solve`: answer one question with a search strategy under a budget.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use ttc_app::run_file::RunFile;
use ttc_app::solve::{Setup, revise, search, with_policy};
use ttc_core::Selector;
use ttc_reviser::parse_ratio;
use ttc_search::{BeamWidth, SearchOutcome, Strategy};

use crate::settings::RuntimeArgs;

/// Answer one question with a search strategy under a budget of N generations.
///
/// The run file (`--config`) names the generator, the verifier (PRM) and the search
/// settings; see `config/` for examples. The answer goes to stdout; `--trace` writes every
/// candidate and the search tree (per node: step text, score, kept or pruned, round).
#[derive(clap::Args, Debug)]
pub(crate) struct SolveArgs {
    /// The question.
    question: String,
    /// Search strategy.
    #[arg(long, value_enum, default_value_t = StrategyArg::BestOfN)]
    strategy: StrategyArg,
    /// Budget N in generations (see the table in the README).
    #[arg(long, default_value_t = 16)]
    budget: usize,
    /// Beam width M for beam, lookahead and dvts: a number or `sqrt` (sqrt N).
    #[arg(long, default_value = "4", value_parser = parse_width)]
    width: BeamWidth,
    /// Lookahead steps k (lookahead only).
    #[arg(long, default_value_t = 1)]
    lookahead: usize,
    /// Revisions: chain length / number of chains, a power of two such as 4, 1 or 1/4.
    #[arg(long, default_value = "1")]
    sequential_ratio: String,
    /// Revisions: how answers are chosen over all chains; default weighted with an
    /// ORM in [reviser.verifier], else majority.
    #[arg(long, value_enum)]
    selector: Option<SelectorArg>,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the full outcome (candidates, scores, search tree, compute) as JSON here.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Print the outcome without the tree as JSON instead of the bare answer.
    #[arg(long)]
    json: bool,
    /// Compute-optimal: bin the question with a probe of --probe-samples scored
    /// samples, then run the setting this policy file (from `ttc eval`) chose for
    /// that bin and budget. Replaces --strategy.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Samples of the difficulty probe; they are paid from the budget.
    #[arg(long, default_value_t = 4)]
    probe_samples: usize,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum StrategyArg {
    /// Majority vote over N samples (no verifier).
    Majority,
    /// Best-of-N weighted: sum PRM scores per answer.
    BestOfN,
    /// Best-of-N naive: the single highest-scored sample.
    BestOfNNaive,
    /// Step-level beam search with N beams and width M.
    Beam,
    /// Beam search scoring each step after k greedy rollout steps.
    Lookahead,
    /// Diverse verifier tree search: N/M subtrees.
    Dvts,
    /// Revision chains (the [reviser] model), split by --sequential-ratio.
    Revise,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum SelectorArg {
    Majority,
    Weighted,
    Naive,
}

fn parse_width(s: &str) -> Result<BeamWidth, String> {
    if s == "sqrt" {
        return Ok(BeamWidth::Sqrt);
    }
    match s.parse::<usize>() {
        Ok(m) if m >= 1 => Ok(BeamWidth::Fixed(m)),
        _ => Err(format!(
            "{s:?} is not a width: use a positive number or `sqrt`"
        )),
    }
}

impl SolveArgs {
    /// The search strategy; `None` for revisions.
    fn strategy(&self) -> Option<Strategy> {
        Some(match self.strategy {
            StrategyArg::Majority => Strategy::BestOfN {
                selector: Selector::Majority,
            },
            StrategyArg::BestOfN => Strategy::BestOfN {
                selector: Selector::Weighted,
            },
            StrategyArg::BestOfNNaive => Strategy::BestOfN {
                selector: Selector::Naive,
            },
            StrategyArg::Beam => Strategy::Beam {
                width: self.width,
                lookahead: 0,
            },
            StrategyArg::Lookahead => Strategy::Beam {
                width: self.width,
                lookahead: self.lookahead.max(1),
            },
            StrategyArg::Dvts => Strategy::Dvts { width: self.width },
            StrategyArg::Revise => return None,
        })
    }
}

fn write_outcome<T: serde::Serialize>(
    args: &SolveArgs,
    full: &T,
    brief: &T,
    answer: Option<&str>,
) -> Result<()> {
    if let Some(path) = &args.trace {
        let text = serde_json::to_string_pretty(full)?;
        std::fs::write(path, text).with_context(|| format!("writing trace {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(brief)?);
    } else {
        println!("{}", answer.unwrap_or("(no answer)"));
    }
    Ok(())
}

pub(crate) fn run(args: SolveArgs) -> Result<()> {
    let Some(config) = args.runtime.config.clone() else {
        bail!(
            "ttc solve needs a run file: --config FILE with [generator], [verifier], [search] and [answers] tables (see config/)"
        );
    };
    let file = RunFile::load(&config)?;
    let runtime = file.runtime.resolve(&args.runtime.overrides());
    let setup = Setup {
        file: &file,
        path: &config,
        runtime: &runtime,
    };
    let q = &args.question;
    if let Some(policy) = &args.policy {
        let p = args.probe_samples;
        if p == 0 || p >= args.budget {
            bail!(
                "--probe-samples {p} must be at least 1 and below --budget {} (the probe is paid from the budget)",
                args.budget
            );
        }
        let out = with_policy(&setup, policy, q, args.budget, p, args.seed)?;
        return write_outcome(&args, &out, &out, out.answer.as_deref());
    }
    let Some(strategy) = args.strategy() else {
        let selector = args.selector.map(|s| match s {
            SelectorArg::Majority => Selector::Majority,
            SelectorArg::Weighted => Selector::Weighted,
            SelectorArg::Naive => Selector::Naive,
        });
        let ratio = parse_ratio(&args.sequential_ratio)?;
        let out = revise(&setup, q, ratio, selector, args.budget, args.seed)?;
        return write_outcome(&args, &out, &out, out.answer.as_deref());
    };
    let outcome = search(&setup, q, &strategy, args.budget, args.seed)?;
    let brief = SearchOutcome {
        trace: Vec::new(),
        ..outcome.clone()
    };
    write_outcome(&args, &outcome, &brief, outcome.answer.as_deref())
}
