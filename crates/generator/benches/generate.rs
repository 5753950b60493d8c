//! Generation throughput: `cargo bench -p ttc-generator --bench generate -- --model DIR
//! --batch B --new-tokens T [--prompt TEXT | --prompt-ids FILE] [--temperature X
//! --top-k K --top-p P --seed S] [--repeats R] [--threads N]` prints one JSON line with
//! generated tokens per second (best of R runs, prompt reading included, model loading
//! excluded). EOS is ignored: every row gets T tokens.
//!
//! The prompt is TEXT forked into B rows (read once, shared), or FILE: a JSON list of
//! B token-id lists, one distinct prompt per row (what `cargo xtask bench generate`
//! passes every implementation it compares). Row r draws from its own stream, seeded
//! with S + r.

use std::path::PathBuf;
use std::time::Instant;

use ttc_core::{Generator, Prompt, RuntimeSettings, SamplingParams, Sequence, StopCriteria};
use ttc_generator::OnnxGenerator;

struct Args {
    model: PathBuf,
    batch: usize,
    new_tokens: usize,
    prompt: String,
    prompt_ids: Option<PathBuf>,
    sampling: SamplingParams,
    seed: u64,
    repeats: usize,
    threads: Option<usize>,
}

fn number<T: std::str::FromStr>(flag: &str, value: String) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| format!("{flag} {value:?}: {e}"))
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        model: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/fixtures/tiny-llama"
        )),
        batch: 1,
        new_tokens: 64,
        prompt: "12 + 7 = 19\n".into(),
        prompt_ids: None,
        sampling: SamplingParams::GREEDY,
        seed: 0,
        repeats: 3,
        threads: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => args.model = PathBuf::from(value()?),
            "--batch" => args.batch = number(&flag, value()?)?,
            "--new-tokens" => args.new_tokens = number(&flag, value()?)?,
            "--prompt" => args.prompt = value()?,
            "--prompt-ids" => args.prompt_ids = Some(PathBuf::from(value()?)),
            "--temperature" => args.sampling.temperature = number(&flag, value()?)?,
            "--top-k" => args.sampling.top_k = number(&flag, value()?)?,
            "--top-p" => args.sampling.top_p = number(&flag, value()?)?,
            "--seed" => args.seed = number(&flag, value()?)?,
            "--repeats" => args.repeats = number(&flag, value()?)?,
            "--threads" => args.threads = Some(number(&flag, value()?)?),
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.batch == 0 || args.new_tokens == 0 {
        return Err("--batch and --new-tokens must be at least 1".into());
    }
    args.sampling
        .validate()
        .map_err(|e| format!("sampling settings: {e}"))?;
    Ok(args)
}

/// The rows of a --prompt-ids file: `batch` token-id lists of one length.
fn read_prompt_ids(path: &PathBuf, batch: usize) -> Result<Vec<Vec<u32>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the prompt ids {}: {e}", path.display()))?;
    let rows: Vec<Vec<u32>> = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} must hold a JSON list of token-id lists: {e}",
            path.display()
        )
    })?;
    if rows.len() != batch {
        return Err(format!(
            "{} has {} prompts, but --batch is {batch}",
            path.display(),
            rows.len()
        ));
    }
    let len = rows.first().map_or(0, Vec::len);
    if len == 0 || rows.iter().any(|row| row.len() != len) {
        return Err(format!(
            "{}: the prompts must be non-empty and of one length",
            path.display()
        ));
    }
    Ok(rows)
}

fn run(args: &Args) -> Result<(usize, usize, f64), String> {
    let generator = OnnxGenerator::load(
        &args.model,
        &RuntimeSettings {
            threads: args.threads,
            ..RuntimeSettings::default()
        },
    )
    .map_err(|e| e.to_string())?
    .with_max_batch(args.batch);
    let rows = match &args.prompt_ids {
        Some(path) => Some(read_prompt_ids(path, args.batch)?),
        None => None,
    };
    let stop = StopCriteria {
        max_new_tokens: args.new_tokens,
        stop_strings: Vec::new(),
        ignore_eos: true,
    };
    let mut best = f64::INFINITY;
    let mut tokens = 0;
    let mut prompt_tokens = 0;
    for _ in 0..args.repeats.max(1) {
        let mut seqs = match &rows {
            Some(rows) => (0u64..)
                .zip(rows)
                .map(|(r, ids)| Sequence::new(ids.clone(), args.seed.wrapping_add(r)))
                .collect(),
            None => generator
                .start(&Prompt::Text(args.prompt.clone()), args.seed)
                .map_err(|e| e.to_string())?
                .fork(args.batch),
        };
        prompt_tokens = seqs[0].prompt_len;
        let t = Instant::now();
        let out = generator
            .generate(&mut seqs, &args.sampling, &stop)
            .map_err(|e| e.to_string())?;
        best = best.min(t.elapsed().as_secs_f64());
        tokens = out.iter().map(|c| c.token_ids.len()).sum::<usize>();
    }
    Ok((prompt_tokens, tokens, best))
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let (prompt_tokens, tokens, best) = match run(&args) {
        Ok(result) => result,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "{{\"impl\":\"ttc\",\"batch\":{},\"prompt_tokens\":{prompt_tokens},\"generated_tokens\":{tokens},\"seconds\":{best:.6},\"tokens_per_s\":{:.1}}}",
        args.batch,
        tokens as f64 / best
    );
}
