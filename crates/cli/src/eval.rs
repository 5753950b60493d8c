//! `ttc eval`: run a sweep from a run file (or one shard of it), resumably, then analyse it.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use ttc_app::eval::{EvalEvent, EvalOptions, Evaluated};
use ttc_app::run_file::RuntimeSection;
use ttc_app::shard::{Shard, ShardRequest};
use ttc_orchestrator::Progress;

use crate::settings::RuntimeArgs;

/// Run an evaluation sweep: every method at every budget and seed on every question.
///
/// Results are appended to `results.jsonl` in the output folder as each question's
/// work completes; running the same command again resumes where it stopped and
/// ends with the same numbers. With `[difficulty]` it also samples each question
/// for difficulty bins, with `[reference]` it asks a larger model greedily.
/// `--config FILE` adds FILE's `[runtime]` table over the run file's (flags win).
#[derive(clap::Args, Debug)]
pub(crate) struct EvalArgs {
    /// TOML run file with [generator], [verifier], [dataset], [sweep] and [output] tables.
    run_file: PathBuf,
    /// Output folder (default: the run file's [output] dir).
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Only the first this many questions (overrides [dataset] limit).
    #[arg(long)]
    limit: Option<usize>,
    /// Run one shard of the questions, I/N (0-based; question p goes to shard p mod N),
    /// into OUTPUT/shard-I-of-N, without the analysis (`ttc merge` does it). `auto`
    /// reads a Slurm job array or a Kubernetes Indexed Job (with --shards); a given
    /// I/N wins over the environment, which is read only with `auto`.
    #[arg(long, value_name = "I/N|auto", value_parser = parse_shard)]
    shard: Option<ShardRequest>,
    /// The number of shards with `--shard auto` (required under Kubernetes,
    /// checked against the Slurm array's size).
    #[arg(long, value_name = "N", requires = "shard")]
    shards: Option<usize>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

fn parse_shard(s: &str) -> Result<ShardRequest, String> {
    s.parse().map_err(|e: ttc_app::Error| e.to_string())
}

pub(crate) fn run(args: EvalArgs) -> Result<()> {
    let env = |name: &str| std::env::var(name).ok();
    let shard = ttc_app::shard::resolve(args.shard, args.shards, &env)?;
    let flags = args.runtime.overrides();
    let runtime = match &args.runtime.config {
        Some(path) => RuntimeSection::load_alone(path)?.under(&flags),
        None => flags,
    };
    let options = EvalOptions {
        run_file: args.run_file.clone(),
        output: args.output.clone(),
        limit: args.limit,
        runtime,
        shard: shard.as_ref().map(|s| s.0),
    };
    let mut view = ProgressView::new(shard);
    let evaluated = ttc_app::eval::run(&options, &mut |e| view.update(e));
    view.finish();
    finish(&evaluated?)
}

/// Prints the accuracy table and, for a whole run, analyses it.
pub(crate) fn finish(evaluated: &Evaluated) -> Result<()> {
    print!("{}", ttc_app::analysis::accuracy_table(&evaluated.records));
    if let Some(shard) = evaluated.shard {
        eprintln!(
            "shard {shard} done in {}; when every shard is, `ttc merge {}/shard-*-of-{} --output {}` analyses them",
            evaluated.out_dir.display(),
            evaluated
                .out_dir
                .parent()
                .unwrap_or(&evaluated.out_dir)
                .display(),
            shard.count,
            evaluated
                .out_dir
                .parent()
                .unwrap_or(&evaluated.out_dir)
                .display(),
        );
        return Ok(());
    }
    ttc_app::analysis::analyse(evaluated)?;
    eprintln!(
        "report, bins and policy written to {}",
        evaluated.out_dir.display()
    );
    Ok(())
}

/// Progress whatever the log level: a bar with an ETA on a terminal; otherwise (a
/// batch log) a line every tenth of the way or every minute, whichever comes first.
struct ProgressView {
    bar: Option<indicatif::ProgressBar>,
    prefix: String,
    started: Instant,
    last: (usize, Instant),
}

impl ProgressView {
    fn new(shard: Option<(Shard, String)>) -> Self {
        let prefix = match &shard {
            Some((s, source)) => format!("shard {s} ({source}): "),
            None => String::new(),
        };
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix}{bar:40} {pos}/{len} units  {elapsed} elapsed, ETA {eta}  {msg}",
                )
                .expect("valid template"),
            );
            bar.set_prefix(prefix.clone());
            bar
        });
        let now = Instant::now();
        ProgressView {
            bar,
            prefix,
            started: now,
            last: (0, now),
        }
    }

    fn say(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn update(&mut self, event: EvalEvent) {
        let p: Progress = match event {
            EvalEvent::Started {
                questions,
                dataset,
                out_dir,
                ..
            } => {
                let line = format!(
                    "{}{questions} of {dataset} questions, into {}",
                    self.prefix,
                    out_dir.display()
                );
                self.say(line);
                return;
            }
            EvalEvent::Progress(p) => p,
        };
        if let Some(bar) = &self.bar {
            bar.set_length(p.total as u64);
            bar.set_position(p.done as u64);
            if p.resumed > 0 {
                bar.set_message(format!("{} resumed", p.resumed));
            }
            return;
        }
        let now = Instant::now();
        let step = (p.total / 10).max(1);
        let due = p.done >= self.last.0 + step || now - self.last.1 >= Duration::from_secs(60);
        if p.done > self.last.0 && (due || p.done == p.total) {
            self.last = (p.done, now);
            let elapsed = now - self.started;
            let fresh = (p.done - p.resumed).max(1) as f64;
            let eta = elapsed.as_secs_f64() / fresh * (p.total - p.done) as f64;
            eprintln!(
                "{}{}/{} units ({:.0}%), {} resumed, {:.0}s elapsed, ETA {eta:.0}s",
                self.prefix,
                p.done,
                p.total,
                100.0 * p.done as f64 / p.total.max(1) as f64,
                p.resumed,
                elapsed.as_secs_f64(),
            );
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
