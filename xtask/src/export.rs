//! `cargo xtask export`: a local Hugging Face checkpoint to the ONNX layout the
//! runtime loads (through `xtask/python/export.py`, which wraps Optimum).

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
}

impl Task {
    fn optimum_name(self) -> &'static str {
        match self {
            Self::TextGenerationWithPast => "text-generation-with-past",
            Self::TokenClassification => "token-classification",
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
