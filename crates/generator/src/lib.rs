//! Batched KV-cache generation over decoder-only LLMs, running on ONNX Runtime
//! through `ttc-onnx`, from a model folder in either of two layouts:
//!
//! - **Optimum contract** (Hugging Face Optimum's `text-generation-with-past`):
//!   `model.onnx` (or the legacy `decoder_model_merged.onnx` with its
//!   `use_cache_branch` input), `config.json`, `generation_config.json`. Each run's
//!   `present.*` (the cache with the new positions concatenated) is bound as the next
//!   run's `past_key_values.*`, left padding.
//! - **GenAI contract** (ONNX Runtime GenAI, onnxruntime-genai's model builder):
//!   `genai_config.json`, the graph it names with its external weights, no
//!   `config.json`. One buffer per layer, `[rows, kv_heads, capacity, head_dim]` sized
//!   from the batch and the request's longest sequence, is bound as both
//!   `past_key_values.*` and `present.*`: GroupQueryAttention writes each new
//!   position into it in place (`shared_kv.rs`), right padding.
//!
//! Both have `tokenizer.json` and `tokenizer_config.json`. Loading checks the graph's
//! inputs and outputs against the folder's config and names any mismatch. Everything
//! above the generator (search, revisions, the CLI) sees the same
//! [`ttc_core::Generator`] either way.
//!
//! Every sequence keeps the KV cache of the tokens the model has read, so a sequence
//! can be continued by one more step, or forked into children that share its state,
//! without re-reading its prefix. Sequences that share a state and pending tokens
//! (N samples of one prompt) are read once per call.
//!
//! A sequence never grows past the model's `max_position_embeddings` (GenAI:
//! `context_length`): generation
//! stops at the last position with [`ttc_core::FinishReason::Length`], as at
//! `max_new_tokens`, and a sequence that already fills the model is refused with
//! an error that gives its length and the model's.

mod genai_dir;
mod generate;
mod model_dir;
mod sampling;
mod shared_kv;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ttc_core::{
    Completion, Error, Generator, ModelInfo, Prompt, Result, RuntimeSettings, SamplingParams,
    Sequence, StopCriteria,
};
pub use ttc_model_folder::Contract;
use ttc_model_folder::{Codec, ModelFolder};
use ttc_onnx::OnnxModel;

use crate::genai_dir::GenAiIo;
use crate::model_dir::{ModelConfig, Signature};
use ttc_kv_cache::KvShape;

/// Rows per model run unless configured otherwise.
pub const DEFAULT_MAX_BATCH: usize = 64;
/// Longest stretch of new tokens fed in one run; longer prompts are read in windows
/// so that [batch, seq, vocab] logits stay bounded.
pub const DEFAULT_PREFILL_WINDOW: usize = 512;

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// Graph input and output names used on every run, built once.
#[derive(Debug)]
struct IoNames {
    /// past_key_values.{i}.key, .value in layer order.
    past: Vec<String>,
    /// "logits", then present.{i}.key, .value in layer order.
    wanted: Vec<String>,
}

impl IoNames {
    fn new(layers: usize) -> IoNames {
        let names = |prefix: &str| -> Vec<String> {
            (0..layers)
                .flat_map(|i| [format!("{prefix}.{i}.key"), format!("{prefix}.{i}.value")])
                .collect()
        };
        let mut wanted = vec!["logits".to_string()];
        wanted.extend(names("present"));
        IoNames {
            past: names("past_key_values"),
            wanted,
        }
    }
}

/// How the graph is fed: the folder's contract and what its checks found.
#[derive(Debug)]
enum Decoder {
    /// An Optimum export: present.* bound back as the next run's past.
    Optimum { sig: Signature, io: IoNames },
    /// A GenAI folder: one buffer per layer bound as both past and present.
    GenAi(GenAiIo),
}

/// A generator over one exported model folder.
#[derive(Debug)]
pub struct OnnxGenerator {
    id: usize,
    dir: PathBuf,
    model: OnnxModel,
    codec: Codec,
    cfg: ModelConfig,
    decoder: Decoder,
    shape: KvShape,
    info: ModelInfo,
    pad: u32,
    max_batch: usize,
    prefill_window: usize,
}

impl OnnxGenerator {
    /// Loads a model folder on the runtime `settings` ask for.
    pub fn load(dir: &Path, settings: &RuntimeSettings) -> Result<OnnxGenerator> {
        // The library first: without it nothing else can be checked.
        ttc_onnx::runtime(settings.library.as_deref())?;
        let folder = ModelFolder::open(dir)?;
        let graph = model_dir::graph_file(&folder)?;
        let cfg = ModelConfig::load(&folder)?;
        let codec = folder.codec()?;
        let (model, decoder, parameters) = match folder.genai() {
            Some(genai) => {
                // The weights' files before ONNX Runtime reads them: a missing one is
                // named here, not in a loader error.
                let weights = ttc_onnx::graph_weights(&graph)?;
                genai_dir::check_weights(dir, &graph, &weights)?;
                let model = OnnxModel::load(&graph, settings)?;
                let io = genai_dir::check_genai(
                    dir,
                    &graph,
                    genai,
                    &weights,
                    model.inputs(),
                    model.outputs(),
                )?;
                (model, Decoder::GenAi(io), weights.parameters)
            }
            None => {
                let model = OnnxModel::load(&graph, settings)?;
                let sig =
                    model_dir::check_signature(dir, &graph, &cfg, model.inputs(), model.outputs())?;
                let io = IoNames::new(cfg.layers);
                (
                    model,
                    Decoder::Optimum { sig, io },
                    folder.parameters(&graph),
                )
            }
        };
        let pad = cfg.pad.or(cfg.eos.first().copied()).unwrap_or(0);
        let info = ModelInfo {
            name: dir.display().to_string(),
            parameters,
            provider: model.provider().clone(),
            max_positions: cfg.max_positions,
        };
        tracing::info!(model = %dir.display(), contract = ?folder.contract(), model_type = %cfg.model_type, parameters, layers = cfg.layers, "generator loaded");
        Ok(OnnxGenerator {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            dir: dir.to_path_buf(),
            decoder,
            shape: KvShape {
                layers: cfg.layers,
                kv_heads: cfg.kv_heads,
                head_dim: cfg.head_dim,
            },
            model,
            codec,
            cfg,
            info,
            pad,
            max_batch: DEFAULT_MAX_BATCH,
            prefill_window: DEFAULT_PREFILL_WINDOW,
        })
    }

    /// Sets the most rows per model run (at least 1).
    pub fn with_max_batch(mut self, rows: usize) -> Self {
        self.max_batch = rows.max(1);
        self
    }

    /// Sets the longest stretch of new tokens fed per run (at least 1).
    pub fn with_prefill_window(mut self, tokens: usize) -> Self {
        self.prefill_window = tokens.max(1);
        self
    }

    /// The model folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder's layout: an Optimum export or an ONNX Runtime GenAI folder.
    pub fn contract(&self) -> Contract {
        match self.decoder {
            Decoder::Optimum { .. } => Contract::Optimum,
            Decoder::GenAi(_) => Contract::GenAi,
        }
    }

    /// End-of-sequence token ids.
    pub fn eos_ids(&self) -> &[u32] {
        &self.cfg.eos
    }

    /// Token ids of a prompt as [`Generator::start`] reads it.
    pub fn tokenize(&self, prompt: &Prompt) -> Result<Vec<u32>> {
        match prompt {
            Prompt::Text(text) => self.codec.encode(text, true),
            Prompt::Chat(messages) => {
                let text = self.render_chat(messages)?;
                self.codec.encode(&text, false)
            }
        }
    }

    /// The chat prompt rendered through the model's template.
    pub fn render_chat(&self, messages: &[ttc_core::ChatMessage]) -> Result<String> {
        let turns: Vec<(&str, &str)> = messages
            .iter()
            .map(|m| (m.role.as_str(), m.content.as_str()))
            .collect();
        self.codec.render_chat(&turns, true)
    }

    /// Next-token logits after each sequence's tokens, read in one left-padded batch
    /// (parity checks against other runtimes). The sequences are not changed.
    pub fn next_token_logits(&self, seqs: &[Sequence]) -> Result<Vec<Vec<f32>>> {
        let rows: Vec<&Sequence> = seqs.iter().collect();
        match &self.decoder {
            Decoder::Optimum { sig, io } => Ok(self.prefill(sig, io, &rows)?.logits),
            Decoder::GenAi(io) => self.next_logits_shared(io, &rows),
        }
    }
}

impl Generator for OnnxGenerator {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn start(&self, prompt: &Prompt, seed: u64) -> Result<Sequence> {
        let tokens = self.tokenize(prompt)?;
        if tokens.is_empty() {
            return Err(Error::invalid(
                "prompt",
                "it encodes to no tokens; give some text",
            ));
        }
        Ok(Sequence::new(tokens, seed))
    }

    fn append(&self, seq: &mut Sequence, text: &str) -> Result<()> {
        if seq.ended {
            // The EOS was sampled but never fed: drop it and go on from the cache.
            let eos_pending = seq.tokens.len() == seq.cached_len + 1
                && seq.tokens.last().is_some_and(|t| self.cfg.eos.contains(t));
            if eos_pending {
                seq.tokens.pop();
            }
            seq.ended = false;
        }
        seq.tokens.extend(self.codec.encode(text, false)?);
        seq.text.push_str(text);
        Ok(())
    }

    fn generate(
        &self,
        seqs: &mut [Sequence],
        sampling: &SamplingParams,
        stop: &StopCriteria,
    ) -> Result<Vec<Completion>> {
        sampling.validate()?;
        self.generate_all(seqs, sampling, stop)
    }

    fn decode(&self, tokens: &[u32]) -> Result<String> {
        self.codec.decode(tokens)
    }
}
