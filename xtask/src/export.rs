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
//!
//! `--format genai` writes an ONNX Runtime GenAI folder instead (causal LMs only):
//! onnxruntime-genai's model builder, fp32 for the CPU, run by
//! `xtask/python/export_genai.py` in the GenAI export environment (`.ttc/genai-env`),
//! which copies the checkpoint's tokenizer files beside it and checks
//! onnxruntime-genai's greedy tokens against transformers'.

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

/// The folder layout written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Hugging Face Optimum's: model.onnx, config.json, the tokenizer files.
    Optimum,
    /// ONNX Runtime GenAI's (onnxruntime-genai's model builder): genai_config.json,
    /// model.onnx with model.onnx.data, the tokenizer files; one KV buffer per layer
    /// shared by past and present.
    Genai,
}

/// The GenAI builder's cache (downloads are off; it keeps intermediate files).
const GENAI_CACHE: &str = "cache/genai-builder";

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
    /// The folder layout: an Optimum export, or an ONNX Runtime GenAI folder (causal
    /// LMs only).
    #[arg(long, value_enum, default_value_t = Format::Optimum)]
    format: Format,
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
    if args.format == Format::Genai {
        if !matches!(args.task, Task::TextGenerationWithPast) {
            bail!(
                "--format genai writes causal LMs only (--task text-generation-with-past); \
                 export a {} model with --format optimum",
                args.task.optimum_name()
            );
        }
        return genai(root, &src, &out, None);
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

/// Writes the GenAI folder `out` from the checkpoint `src` and checks it (against
/// `golden`, a fixture's golden.json, when given).
pub(crate) fn genai(root: &Path, src: &Path, out: &Path, golden: Option<&Path>) -> Result<()> {
    let mut export = pyenv::GENAI.script(root, "export_genai.py")?;
    export
        .arg(src)
        .arg(out)
        .arg("--cache")
        .arg(root.join(util::LOCAL_DIR).join(GENAI_CACHE));
    if let Some(golden) = golden {
        export.arg("--golden").arg(golden);
    }
    util::run(&mut export)?;
    eprintln!(
        "exported {} to {} (ONNX Runtime GenAI)",
        src.display(),
        out.display()
    );
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
            format: Format::Optimum,
        },
    )
}
