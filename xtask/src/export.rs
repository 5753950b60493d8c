//! `cargo xtask export`: a local Hugging Face checkpoint to the ONNX layout the
//! runtime loads (through `xtask/python/export.py`, which wraps Optimum).
//!
//! Tasks: `text-generation-with-past` (causal LMs, with KV cache),
//! `token-classification` (per-token classifier logits, no cache) and
//! `token-classification-with-past` (per-token classifier logits with KV-cache inputs
//! and outputs, for Llama and Qwen2 token classifiers: the PRM verifier scores a step
//! appended to an already-scored prefix by running only the new tokens). The last is
//! traced by export.py itself, not Optimum, and checked against torch on every export
//! (whole rows, a prefix continued from its cache, left-padded batches).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::{pyenv, util};

/// What `save_pretrained` writes, single-file or sharded.
const WEIGHT_FILES: [&str; 4] = [
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
];

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Task {
    /// A causal LM with KV-cache inputs and outputs (policies, causal-LM verifiers).
    TextGenerationWithPast,
    /// Per-token logits `[batch, seq, num_labels]`, no KV cache (PRM heads).
    TokenClassification,
    /// Per-token logits `[batch, seq, num_labels]` with KV-cache inputs
    /// (`past_key_values.{i}.key/value`, plus `position_ids`) and outputs
    /// (`present.{i}.key/value`), named as in `text-generation-with-past`: a PRM
    /// verifier scores a step appended to an already-scored prefix by running only the
    /// new tokens. Llama and Qwen2 `*ForTokenClassification` checkpoints.
    TokenClassificationWithPast,
}

impl Task {
    fn optimum_name(self) -> &'static str {
        match self {
            Self::TextGenerationWithPast => "text-generation-with-past",
            Self::TokenClassification => "token-classification",
            Self::TokenClassificationWithPast => "token-classification-with-past",
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// Checkpoint folder: config.json, model.safetensors (or pytorch_model.bin) and
    /// the tokenizer files.
    src: PathBuf,
    /// Output folder; gets model.onnx, config.json, generation_config.json,
    /// tokenizer.json and tokenizer_config.json.
    out: PathBuf,
    /// What the exported graph computes.
    #[arg(long, value_enum, default_value_t = Task::TextGenerationWithPast)]
    task: Task,
}

pub(crate) fn run(root: &Path, args: &ExportArgs) -> Result<()> {
    let src = util::absolute(&args.src)?;
    let out = util::absolute(&args.out)?;
    // export.py checks these too; checking here fails fast, before Python starts.
    if !src.is_dir() {
        bail!(
            "{} is not a folder: pass a Hugging Face checkpoint folder (config.json and weights)",
            src.display()
        );
    }
    if !src.join("config.json").is_file() {
        bail!(
            "{} has no config.json, so it is not a Hugging Face checkpoint folder; save the \
             model with `model.save_pretrained(DIR)` first",
            src.display()
        );
    }
    if !WEIGHT_FILES.iter().any(|name| src.join(name).is_file()) {
        bail!(
            "{} has no weights (looked for {}); save the model with `model.save_pretrained(DIR)` first",
            src.display(),
            WEIGHT_FILES.join(", ")
        );
    }
    let mut export = pyenv::script(root, "export.py")?;
    export
        .arg(&src)
        .arg(&out)
        .args(["--task", args.task.optimum_name()]);
    util::run(&mut export)?;
    eprintln!("exported {} to {}", src.display(), out.display());
    Ok(())
}

/// `cargo xtask export SRC OUT` with the default task (a causal LM with its KV
/// cache), for other xtask commands.
pub(crate) fn text_generation(root: &Path, src: &Path, out: &Path) -> Result<()> {
    run(
        root,
        &ExportArgs {
            src: src.to_path_buf(),
            out: out.to_path_buf(),
            task: Task::TextGenerationWithPast,
        },
    )
}
