//! `cargo xtask bench generate`: four implementations side by side, each measurement
//! its own process (so each has its own peak RSS), all given the same prompt token
//! ids, thread count, length and sampling settings:
//!
//! - (a) ttc on an ONNX Runtime GenAI folder and (c) ttc on the Optimum export: the
//!   generator bench binary (`cargo bench -p ttc-generator --bench generate`), built
//!   first and run directly;
//! - (b) onnxruntime-genai's Python API on the GenAI folder
//!   (`xtask/python/bench_ort_genai.py`);
//! - (d) a plain Python ONNX Runtime loop on the Optimum export
//!   (`xtask/python/bench_ort_loop.py`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::child;
use super::models::{self, ModelPair};
use super::table::{self, Cell, Row, Section, Side};
use crate::util::{self, LOCAL_DIR};
use crate::{pyenv, setup};

/// The prompt files handed to every side, under `.ttc/`.
const PROMPTS_DIR: &str = "bench/prompts";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ModelChoice {
    /// The committed tiny fixture (models/fixtures/tiny-llama) and its GenAI twin.
    Tiny,
    /// SmolLM2-135M's shape with random weights (seed fixed), made, exported both
    /// ways and cached under .ttc/bench/models on first use (needs the exporter
    /// environments; minutes).
    Real,
}

#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Models to measure, comma separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "tiny,real")]
    models: Vec<ModelChoice>,
    /// Measure this Optimum export instead of --models.
    #[arg(long, conflicts_with = "models")]
    model: Option<PathBuf>,
    /// The ONNX Runtime GenAI folder with --model's weights (columns a and b).
    #[arg(long, requires = "model")]
    genai_model: Option<PathBuf>,
    /// Batch sizes, comma separated; every row gets its own prompt.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,16,64",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    batches: Vec<u32>,
    /// Prompt length in tokens.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    prompt_tokens: u32,
    /// Tokens generated per row (EOS does not stop a row).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    new_tokens: u32,
    /// A second length, measured at --second-batches, for the slowdown from
    /// --new-tokens to it (issue 22: 768).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    second_new_tokens: Option<u32>,
    /// Batch sizes for --second-new-tokens, comma separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,16",
        requires = "second_new_tokens",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    second_batches: Vec<u32>,
    /// Temperatures, comma separated; 0 is greedy, the others sample with --top-k,
    /// --top-p and --seed on every side.
    #[arg(long, value_delimiter = ',', default_value = "0,0.8", value_parser = temperature)]
    temperatures: Vec<f32>,
    /// Sampling: keep the k most likely tokens (0: all).
    #[arg(long, default_value_t = 0)]
    top_k: u32,
    /// Sampling: keep the smallest set of tokens reaching this probability (1: all).
    #[arg(long, default_value_t = 1.0, value_parser = top_p)]
    top_p: f32,
    /// Sampling seed (each side's own random stream).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Intra-op threads, the same on every side [default: the machine's CPUs].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// Runs per measurement; each reports its best.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    repeats: u32,
}

fn temperature(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!(
            "{text:?} is not a temperature (a number >= 0; 0 is greedy)"
        )),
    }
}

fn top_p(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(p) if p > 0.0 && p <= 1.0 => Ok(p),
        _ => Err(format!("{text:?} is not a probability in (0, 1]")),
    }
}

/// The (new tokens, batch) measurements, in order: every batch at the main length,
/// then the second length's batches.
pub(super) fn plan(args: &GenerateArgs) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = args.batches.iter().map(|&b| (args.new_tokens, b)).collect();
    if let Some(long) = args.second_new_tokens {
        out.extend(args.second_batches.iter().map(|&b| (long, b)));
    }
    out.dedup();
    out
}

/// The settings every side gets for one row.
struct Setting<'a> {
    batch: u32,
    new_tokens: u32,
    temperature: f32,
    prompt_file: &'a Path,
    args: &'a GenerateArgs,
    threads: u32,
}

impl Setting<'_> {
    fn flags(&self, model: &Path) -> Vec<String> {
        let a = self.args;
        let mut flags = vec![
            "--model".to_string(),
            model.display().to_string(),
            "--batch".into(),
            self.batch.to_string(),
            "--new-tokens".into(),
            self.new_tokens.to_string(),
            "--prompt-ids".into(),
            self.prompt_file.display().to_string(),
            "--threads".into(),
            self.threads.to_string(),
            "--repeats".into(),
            a.repeats.to_string(),
            "--seed".into(),
            a.seed.to_string(),
        ];
        if self.temperature > 0.0 {
            flags.extend([
                "--temperature".into(),
                self.temperature.to_string(),
                "--top-k".into(),
                a.top_k.to_string(),
                "--top-p".into(),
                a.top_p.to_string(),
            ]);
        }
        flags
    }
}

pub(super) fn run(root: &Path, args: &GenerateArgs) -> Result<()> {
    let threads = match args.threads {
        Some(t) => t,
        None => std::thread::available_parallelism()
            .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
    };
    setup::ensure(root)?;
    // The Python sides' venv and the Rust binary first, so that a missing python3,
    // registry or build error shows before any model is made.
    pyenv::BENCH.ensure(root)?;
    let ttc = child::build_ttc_bench(root)?;
    let pairs = match &args.model {
        Some(model) => vec![models::custom(
            &util::absolute(model)?,
            args.genai_model
                .as_deref()
                .map(util::absolute)
                .transpose()?
                .as_deref(),
        )?],
        None => args
            .models
            .iter()
            .map(|choice| match choice {
                ModelChoice::Tiny => models::tiny(root),
                ModelChoice::Real => models::real(root),
            })
            .collect::<Result<_>>()?,
    };
    let prompts = root.join(LOCAL_DIR).join(PROMPTS_DIR);
    fs::create_dir_all(&prompts).with_context(|| format!("cannot create {}", prompts.display()))?;

    let load_before = load_average();
    let mut sections = Vec::new();
    for pair in &pairs {
        for &temperature in &args.temperatures {
            let mut rows = Vec::new();
            for (new_tokens, batch) in plan(args) {
                let prompt_file = prompts.join(format!(
                    "v{}-b{batch}-p{}.json",
                    pair.facts.vocab_size, args.prompt_tokens
                ));
                let ids = models::prompt_ids(&pair.facts, batch, args.prompt_tokens);
                fs::write(&prompt_file, serde_json::to_string(&ids)?)
                    .with_context(|| format!("cannot write {}", prompt_file.display()))?;
                let setting = Setting {
                    batch,
                    new_tokens,
                    temperature,
                    prompt_file: &prompt_file,
                    args,
                    threads,
                };
                eprintln!(
                    "{}: batch {batch}, {new_tokens} new tokens, {}",
                    pair.name,
                    sampling_name(temperature, args)
                );
                let cells = Side::ALL.map(|side| {
                    measure(root, &ttc, pair, side, &setting)
                        .unwrap_or_else(|error| Cell::Failed(format!("{error:#}")))
                });
                rows.push(Row {
                    batch,
                    new_tokens,
                    cells,
                });
            }
            sections.push(Section {
                model: pair.name.clone(),
                sampling: sampling_name(temperature, args),
                rows,
            });
        }
    }

    println!();
    println!("{}", preamble(args, threads));
    // Only ratios taken on a quiet machine mean much; say how quiet it was.
    if let (Some(before), Some(after)) = (load_before, load_average()) {
        println!("Load average (1 min) at the start: {before}, at the end: {after}.\n");
    }
    for section in &sections {
        println!(
            "{}",
            table::render(section, args.new_tokens, args.second_new_tokens)
        );
    }
    Ok(())
}

fn sampling_name(temperature: f32, args: &GenerateArgs) -> String {
    if temperature == 0.0 {
        "greedy".into()
    } else {
        format!(
            "T = {temperature}, top-k {}, top-p {}, seed {}",
            args.top_k, args.top_p, args.seed
        )
    }
}

/// The run's settings and how each side was driven, printed above the tables.
fn preamble(args: &GenerateArgs, threads: u32) -> String {
    format!(
        "Generation throughput: generated tokens/s (best of {} runs; prompt reading \
         included, model loading excluded), a {}-token prompt per row (different in \
         every row, the same token ids on every side), {threads} intra-op threads on \
         every side, EOS never stops a row. (a) and (c): ttc's generator bench \
         (crates/generator/benches/generate.rs); (b): onnxruntime-genai's Python API \
         (xtask/python/bench_ort_genai.py); (d): a plain Python onnxruntime loop \
         (xtask/python/bench_ort_loop.py). Sampled rows: every side draws from \
         softmax(logits / T), kept to the top-k tokens (0: all), then to the smallest \
         set reaching top-p (1: all): ttc through its SamplingParams, onnxruntime-genai \
         through its search options (do_sample, temperature, top_k, top_p, \
         random_seed), the loop with numpy (inverse CDF); the random streams differ. \
         onnxruntime-genai masks EOS (min_length) where the others let it pass.\n",
        args.repeats, args.prompt_tokens
    )
}

/// The 1-minute load average from /proc/loadavg, where there is one.
fn load_average() -> Option<String> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()
        .map(str::to_string)
}

/// One side at one setting.
fn measure(
    root: &Path,
    ttc: &Path,
    pair: &ModelPair,
    side: Side,
    setting: &Setting<'_>,
) -> Result<Cell> {
    let positions = setting.args.prompt_tokens + setting.new_tokens;
    if let Some(max) = pair.facts.max_positions.filter(|&max| positions > max) {
        return Ok(Cell::Unavailable(format!(
            "{} + {} tokens exceed the model's {max} positions",
            setting.args.prompt_tokens, setting.new_tokens
        )));
    }
    let genai = || {
        pair.genai
            .as_ref()
            .map_err(|why| Cell::Unavailable(why.clone()))
    };
    let (mut command, implementation) = match side {
        Side::TtcGenai | Side::TtcOptimum => {
            let model = if side == Side::TtcGenai {
                match genai() {
                    Ok(dir) => dir.as_path(),
                    Err(cell) => return Ok(cell),
                }
            } else {
                pair.optimum.as_path()
            };
            let mut command = Command::new(ttc);
            command.current_dir(root).args(setting.flags(model));
            (command, "ttc")
        }
        Side::OrtGenai => {
            let dir = match genai() {
                Ok(dir) => dir,
                Err(cell) => return Ok(cell),
            };
            let mut command = pyenv::BENCH.script(root, "bench_ort_genai.py")?;
            command.args(setting.flags(dir));
            (command, "onnxruntime-genai")
        }
        Side::PythonLoop => {
            let mut command = pyenv::BENCH.script(root, "bench_ort_loop.py")?;
            command.args(setting.flags(&pair.optimum));
            (command, "python-onnxruntime")
        }
    };
    let cell = child::measure(&mut command, implementation)?;
    Ok(check_count(cell, setting.batch, setting.new_tokens))
}

/// A rate counts only if every row got all its tokens.
pub(super) fn check_count(cell: Cell, batch: u32, new_tokens: u32) -> Cell {
    let expected = u64::from(batch) * u64::from(new_tokens);
    match cell {
        Cell::Rate {
            generated: Some(n), ..
        } if n != expected => Cell::Failed(format!(
            "generated {n} tokens, not {expected} (batch {batch} x {new_tokens})"
        )),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: GenerateArgs,
    }

    fn parse(flags: &[&str]) -> Result<GenerateArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("generate").chain(flags.iter().copied()))
            .map(|cli| cli.args)
    }

    #[test]
    fn defaults_are_the_issues_settings() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.models, [ModelChoice::Tiny, ModelChoice::Real]);
        assert_eq!(args.batches, [1, 16, 64]);
        assert_eq!((args.prompt_tokens, args.new_tokens), (64, 256));
        assert_eq!(args.temperatures, [0.0, 0.8]);
        assert_eq!((args.top_k, args.top_p), (0, 1.0));
        assert_eq!(args.second_new_tokens, None);
        assert_eq!(plan(&args), [(256, 1), (256, 16), (256, 64)]);
    }

    #[test]
    fn a_second_length_adds_its_batches_after_the_first() {
        let args = parse(&["--second-new-tokens", "768"]).unwrap();
        assert_eq!(
            plan(&args),
            [(256, 1), (256, 16), (256, 64), (768, 1), (768, 16)]
        );
        let args = parse(&[
            "--batches",
            "16",
            "--new-tokens",
            "32",
            "--second-new-tokens",
            "64",
            "--second-batches",
            "16,4",
        ])
        .unwrap();
        assert_eq!(plan(&args), [(32, 16), (64, 16), (64, 4)]);
    }

    #[test]
    fn bad_arguments_are_refused() {
        for flags in [
            &["--batches", "0"][..],
            &["--batches", "1,x"],
            &["--new-tokens", "0"],
            &["--prompt-tokens", "0"],
            &["--temperatures", "-0.5"],
            &["--temperatures", "nan"],
            &["--top-p", "0"],
            &["--top-p", "1.5"],
            &["--threads", "0"],
            &["--repeats", "0"],
            &["--models", "huge"],
            // The second length's batches mean nothing without it.
            &["--second-batches", "16"],
            // A GenAI folder pairs with an Optimum one.
            &["--genai-model", "x"],
            &["--model", "x", "--models", "tiny"],
        ] {
            assert!(parse(flags).is_err(), "{flags:?} was accepted");
        }
        let args = parse(&[
            "--model",
            "m",
            "--genai-model",
            "g",
            "--temperatures",
            "0.7",
        ])
        .unwrap();
        assert_eq!(args.temperatures, [0.7]);
    }

    #[test]
    fn sampling_flags_reach_every_side_only_when_sampling() {
        let args = parse(&["--top-k", "50", "--top-p", "0.95", "--seed", "7"]).unwrap();
        let file = PathBuf::from("/p.json");
        let mut setting = Setting {
            batch: 16,
            new_tokens: 256,
            temperature: 0.0,
            prompt_file: &file,
            args: &args,
            threads: 2,
        };
        let greedy = setting.flags(Path::new("/m")).join(" ");
        assert_eq!(
            greedy,
            "--model /m --batch 16 --new-tokens 256 --prompt-ids /p.json --threads 2 --repeats 3 --seed 7"
        );
        setting.temperature = 0.8;
        let sampled = setting.flags(Path::new("/m")).join(" ");
        assert!(
            sampled.ends_with("--temperature 0.8 --top-k 50 --top-p 0.95"),
            "{sampled}"
        );
    }

    #[test]
    fn a_short_count_is_a_failure() {
        let rate = |generated| Cell::Rate {
            tokens_per_s: 10.0,
            peak_rss_kib: None,
            generated,
        };
        assert_eq!(check_count(rate(Some(4096)), 16, 256), rate(Some(4096)));
        assert!(
            matches!(check_count(rate(Some(4000)), 16, 256), Cell::Failed(m) if m.contains("4000"))
        );
        assert_eq!(check_count(rate(None), 16, 256), rate(None));
    }
}
