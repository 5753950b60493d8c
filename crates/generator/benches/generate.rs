//! Generation throughput: `cargo bench -p ttc-generator --bench generate -- --model DIR
//! --batch B --new-tokens T [--prompt TEXT] [--repeats R] [--threads N]` prints one JSON line with
//! generated tokens per second (best of R runs, prompt reading included, model loading
//! excluded). `cargo xtask bench generate` runs it beside a plain Python onnxruntime loop.

use std::path::PathBuf;
use std::time::Instant;

use ttc_core::{Generator, Prompt, RuntimeSettings, SamplingParams, StopCriteria};
use ttc_generator::OnnxGenerator;

struct Args {
    model: PathBuf,
    batch: usize,
    new_tokens: usize,
    prompt: String,
    repeats: usize,
    threads: Option<usize>,
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
        repeats: 3,
        threads: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => args.model = PathBuf::from(value()?),
            "--batch" => args.batch = value()?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--new-tokens" => {
                args.new_tokens = value()?.parse().map_err(|e| format!("--new-tokens: {e}"))?
            }
            "--prompt" => args.prompt = value()?,
            "--repeats" => {
                args.repeats = value()?.parse().map_err(|e| format!("--repeats: {e}"))?
            }
            "--threads" => {
                args.threads = Some(value()?.parse().map_err(|e| format!("--threads: {e}"))?)
            }
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let generator = match OnnxGenerator::load(
        &args.model,
        &RuntimeSettings {
            threads: args.threads,
            ..RuntimeSettings::default()
        },
    ) {
        Ok(g) => g.with_max_batch(args.batch),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let stop = StopCriteria {
        max_new_tokens: args.new_tokens,
        stop_strings: Vec::new(),
        ignore_eos: true,
    };
    let mut best = f64::INFINITY;
    let mut tokens = 0;
    for _ in 0..args.repeats.max(1) {
        let start = generator
            .start(&Prompt::Text(args.prompt.clone()), 0)
            .expect("prompt");
        let mut seqs = start.fork(args.batch);
        let t = Instant::now();
        let out = generator
            .generate(&mut seqs, &SamplingParams::GREEDY, &stop)
            .expect("generation");
        best = best.min(t.elapsed().as_secs_f64());
        tokens = out.iter().map(|c| c.token_ids.len()).sum::<usize>();
    }
    println!(
        "{{\"impl\":\"ttc\",\"batch\":{},\"generated_tokens\":{},\"seconds\":{:.6},\"tokens_per_s\":{:.1}}}",
        args.batch,
        tokens,
        best,
        tokens as f64 / best
    );
}
