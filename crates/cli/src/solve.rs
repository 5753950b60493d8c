//! `ttc solve`: answer one question with a search strategy under a budget.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use ttc_app::run_file::RunFile;
use ttc_app::solve::{Setup, revise, search, with_policy};
use ttc_core::{BeamWidth, MethodSpec, Selector, parse_ratio};
use ttc_search::{SearchOutcome, Strategy};

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
    /// The method, in the words of run files and reports: greedy, majority,
    /// best-of-n-weighted, best-of-n-naive, beam-m4, beam-msqrt, lookahead-m4-k1,
    /// dvts-m4, revise-r4, revise-r1/4-majority, ... Or a bare `beam`, `lookahead`,
    /// `dvts` or `revise` completed by --width, --lookahead, --sequential-ratio and
    /// --selector (`best-of-n` is read as best-of-n-weighted).
    #[arg(long, default_value = "best-of-n-weighted", value_parser = parse_strategy)]
    strategy: StrategyArg,
    /// Budget N in generations (see the table in the README); default 16, and 1 for
    /// greedy, which always spends one generation.
    #[arg(long)]
    budget: Option<usize>,
    /// Beam width M for beam, lookahead and dvts: a number or `sqrt` (sqrt N).
    #[arg(long, default_value = "4")]
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
    /// Samples of the difficulty probe; default: the probe the policy was fitted
    /// with (its `[probe] samples`). They are paid from the budget, and a best-of-N
    /// choice takes them as its first samples.
    #[arg(long)]
    probe_samples: Option<usize>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// What `--strategy` names: a whole method, or a family the other flags complete.
#[derive(Clone, Copy, Debug)]
enum StrategyArg {
    Method(MethodSpec),
    Beam,
    Lookahead,
    Dvts,
    Revise,
}

fn parse_strategy(s: &str) -> Result<StrategyArg, String> {
    Ok(match s {
        "beam" => StrategyArg::Beam,
        "lookahead" => StrategyArg::Lookahead,
        "dvts" => StrategyArg::Dvts,
        "revise" => StrategyArg::Revise,
        // The spelling of earlier versions.
        "best-of-n" => StrategyArg::Method(MethodSpec::BestOfN {
            selector: Selector::Weighted,
        }),
        _ => StrategyArg::Method(s.parse().map_err(|e: ttc_core::Error| e.to_string())?),
    })
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum SelectorArg {
    Majority,
    Weighted,
    Naive,
}

impl SolveArgs {
    /// `--budget`, or its default for the method: 1 for greedy, else 16.
    fn budget(&self, method: Option<MethodSpec>) -> usize {
        self.budget
            .unwrap_or(method.and_then(|m| m.fixed_budget()).unwrap_or(16))
    }

    /// The method `--strategy` and its flags name.
    fn method(&self) -> Result<MethodSpec> {
        let selector = self.selector.map(|s| match s {
            SelectorArg::Majority => Selector::Majority,
            SelectorArg::Weighted => Selector::Weighted,
            SelectorArg::Naive => Selector::Naive,
        });
        let width = self.width;
        Ok(match self.strategy {
            StrategyArg::Method(MethodSpec::Revise { ratio, selector: s }) => MethodSpec::Revise {
                ratio,
                selector: s.or(selector),
            },
            StrategyArg::Method(m) => m,
            StrategyArg::Beam => MethodSpec::Beam {
                width,
                lookahead: 0,
            },
            StrategyArg::Lookahead => MethodSpec::Beam {
                width,
                lookahead: self.lookahead.max(1),
            },
            StrategyArg::Dvts => MethodSpec::Dvts { width },
            StrategyArg::Revise => MethodSpec::Revise {
                ratio: parse_ratio(&self.sequential_ratio)?,
                selector,
            },
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
        loader: &ttc_app::components::OnnxLoader,
    };
    let q = &args.question;
    if let Some(policy) = &args.policy {
        let budget = args.budget(None);
        if let Some(p) = args.probe_samples
            && (p == 0 || p > budget)
        {
            bail!(
                "--probe-samples {p} must be at least 1 and at most --budget {budget} (the probe is paid from the budget)"
            );
        }
        let out = with_policy(&setup, policy, q, budget, args.probe_samples, args.seed)?;
        return write_outcome(&args, &out, &out, out.answer.as_deref());
    }
    let method = args.method()?;
    let budget = args.budget(Some(method));
    let Some(strategy) = Strategy::from_spec(method) else {
        let MethodSpec::Revise { ratio, selector } = method else {
            unreachable!("every other method is a search strategy")
        };
        let out = revise(&setup, q, ratio, selector, budget, args.seed)?;
        return write_outcome(&args, &out, &out, out.answer.as_deref());
    };
    let outcome = search(&setup, q, &strategy, budget, args.seed)?;
    let brief = SearchOutcome {
        trace: Vec::new(),
        ..outcome.clone()
    };
    write_outcome(&args, &outcome, &brief, outcome.answer.as_deref())
}
