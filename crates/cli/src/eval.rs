//! `ttc eval`: run a sweep from a run file, resumably, then analyse it.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Result;
use ttc_app::eval::EvalOptions;
use ttc_orchestrator::Progress;

use crate::settings::RuntimeArgs;

/// Run an evaluation sweep: every method at every budget and seed on every question.
///
/// Results are appended to `results.jsonl` in the output folder as each question's
/// work completes; running the same command again resumes where it stopped and
/// ends with the same numbers. With `[difficulty]` it also samples each question
/// for difficulty bins, with `[reference]` it asks a larger model greedily.
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
    #[command(flatten)]
    runtime: RuntimeArgs,
}

pub(crate) fn run(args: EvalArgs) -> Result<()> {
    let options = EvalOptions {
        run_file: args.run_file.clone(),
        output: args.output.clone(),
        limit: args.limit,
        runtime: args.runtime.overrides(),
    };
    let evaluated = {
        let mut bar = ProgressView::new();
        let evaluated = ttc_app::eval::run(&options, &mut |p| bar.update(p));
        bar.finish();
        evaluated?
    };
    print!("{}", ttc_app::analysis::accuracy_table(&evaluated.records));
    ttc_app::analysis::analyse(&evaluated)?;
    Ok(())
}

/// A progress bar with an ETA on a terminal, log lines otherwise.
struct ProgressView {
    bar: Option<indicatif::ProgressBar>,
    last_logged: usize,
}

impl ProgressView {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} units  {elapsed} elapsed, ETA {eta}  {msg}",
                )
                .expect("valid template"),
            );
            bar
        });
        ProgressView {
            bar,
            last_logged: 0,
        }
    }

    fn update(&mut self, p: Progress) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(p.total as u64);
                bar.set_position(p.done as u64);
                if p.resumed > 0 {
                    bar.set_message(format!("{} resumed", p.resumed));
                }
            }
            None => {
                // Every tenth of the way, on stderr.
                let step = (p.total / 10).max(1);
                if p.done == p.total || p.done >= self.last_logged + step {
                    self.last_logged = p.done;
                    tracing::info!(
                        done = p.done,
                        total = p.total,
                        resumed = p.resumed,
                        "progress"
                    );
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
