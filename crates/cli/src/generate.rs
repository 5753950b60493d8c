//! `ttc generate`: sample continuations of prompts.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use serde::Serialize;
use ttc_core::{ChatMessage, Completion, Generator, Prompt, SamplingParams, StopCriteria};
use ttc_generator::OnnxGenerator;

use crate::settings::RuntimeArgs;

/// Sample continuations of prompts from an exported model folder.
///
/// Each prompt is read once and forked into `-n` samples; sample j of prompt i uses
/// the random stream of (seed + i, j), so results do not depend on batch size or
/// thread count.
#[derive(clap::Args, Debug)]
pub(crate) struct GenerateArgs {
    /// Model folder in the Hugging Face Optimum layout (model.onnx, config.json, tokenizer.json, ...).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// A prompt (repeat for several).
    #[arg(long, value_name = "TEXT")]
    prompt: Vec<String>,
    /// JSONL file of prompts: one object per line with a "prompt" field.
    #[arg(long, value_name = "FILE")]
    prompts: Option<PathBuf>,
    /// Render each prompt as a user turn through the model's chat template.
    #[arg(long)]
    chat: bool,
    /// Samples per prompt.
    #[arg(short = 'n', long, default_value_t = 1)]
    samples: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Keep only the k most likely tokens (0: off).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Nucleus sampling threshold (1: off).
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Most new tokens per sample; a sample also stops at the model's last position
    /// (max_position_embeddings; context_length in a GenAI folder), with a warning.
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// Stop once this string is generated (repeatable; "\n" and "\t" escapes work).
    #[arg(long, value_name = "STR")]
    stop: Vec<String>,
    /// Keep generating past EOS (fixed-length runs).
    #[arg(long)]
    ignore_eos: bool,
    /// Most sequences per model run.
    #[arg(long, default_value_t = ttc_generator::DEFAULT_MAX_BATCH)]
    max_batch: usize,
    /// Print one JSON object per sample instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// One sample as `--json` prints it.
#[derive(Serialize)]
struct SampleRecord<'a> {
    prompt_index: usize,
    sample: usize,
    prompt: &'a str,
    #[serde(flatten)]
    completion: &'a Completion,
    model: &'a str,
    provider: &'a ttc_core::ActiveProvider,
}

/// Turns the shell's literal `\n` into a newline.
fn unescape(s: &str) -> String {
    s.replace("\\n", "\n").replace("\\t", "\t")
}

fn read_prompts(args: &GenerateArgs) -> Result<Vec<String>> {
    let mut prompts = args.prompt.clone();
    if let Some(path) = &args.prompts {
        for line in ttc_jsonl::read::<serde_json::Value>(path)? {
            match line.value.get("prompt").and_then(serde_json::Value::as_str) {
                Some(p) => prompts.push(p.to_string()),
                None => bail!(
                    "{}:{}: no string field \"prompt\"",
                    path.display(),
                    line.number
                ),
            }
        }
    }
    if prompts.is_empty() {
        bail!("no prompt given: pass --prompt TEXT or --prompts FILE");
    }
    Ok(prompts)
}

pub(crate) fn run(args: GenerateArgs) -> Result<()> {
    if args.samples == 0 {
        bail!("-n must be at least 1");
    }
    let prompts = read_prompts(&args)?;
    let settings = args.runtime.resolve()?;
    let generator = OnnxGenerator::load(&args.model, &settings)?.with_max_batch(args.max_batch);
    let sampling = SamplingParams {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
    };
    let stop = StopCriteria {
        max_new_tokens: args.max_new_tokens,
        stop_strings: args.stop.iter().map(|s| unescape(s)).collect(),
        ignore_eos: args.ignore_eos,
    };
    let mut seqs = Vec::with_capacity(prompts.len() * args.samples);
    for (i, text) in prompts.iter().enumerate() {
        let prompt = if args.chat {
            Prompt::Chat(vec![ChatMessage {
                role: "user".into(),
                content: text.clone(),
            }])
        } else {
            Prompt::Text(text.clone())
        };
        let start = generator.start(&prompt, args.seed.wrapping_add(i as u64))?;
        if let Some(max) = generator.info().max_positions {
            let len = start.tokens.len();
            if len >= max {
                bail!(
                    "prompt {} is {len} tokens but {} holds {max} positions ({}): no room for \
                     a new token; shorten the prompt",
                    i + 1,
                    args.model.display(),
                    generator.positions_field()
                );
            }
            if len + args.max_new_tokens > max {
                tracing::warn!(
                    "prompt {} is {len} tokens: with --max-new-tokens {} it would run past the \
                     model's {max} positions ({}); its samples stop after at most {} new tokens \
                     (finish reason `length`)",
                    i + 1,
                    args.max_new_tokens,
                    generator.positions_field(),
                    max - len
                );
            }
        }
        seqs.extend(start.fork(args.samples));
    }
    let began = Instant::now();
    let completions = generator.generate(&mut seqs, &sampling, &stop)?;
    let elapsed = began.elapsed().as_secs_f64();
    let generated: usize = completions.iter().map(|c| c.token_ids.len()).sum();
    tracing::info!(
        sequences = seqs.len(),
        generated_tokens = generated,
        seconds = format!("{elapsed:.3}"),
        tokens_per_second = format!("{:.1}", generated as f64 / elapsed.max(1e-9)),
        provider = %generator.info().provider.active,
        "generation done"
    );
    let info = generator.info();
    let mut out = std::io::stdout().lock();
    for (k, completion) in completions.iter().enumerate() {
        let (i, j) = (k / args.samples, k % args.samples);
        if args.json {
            let record = SampleRecord {
                prompt_index: i,
                sample: j,
                prompt: &prompts[i],
                completion,
                model: &info.name,
                provider: &info.provider,
            };
            serde_json::to_writer(&mut out, &record)?;
            writeln!(out)?;
        } else {
            writeln!(
                out,
                "--- prompt {}, sample {} ({}, {} tokens) ---\n{}",
                i + 1,
                j + 1,
                serde_json::to_value(completion.finish_reason)?
                    .as_str()
                    .unwrap_or("?"),
                completion.token_ids.len(),
                completion.text
            )?;
        }
    }
    Ok(())
}
