//! Process (PRM) and outcome (ORM) reward models over ONNX exports.
//!
//! Published PRMs differ in how they want a solution laid out and where and how
//! their output is read. Nothing here is keyed on a model name: a [`PrmAdapter`]
//! describes a model as data, and [`Preset`]s name the adapters of known models.
//!
//! | preset | layout | read at | probability |
//! |---|---|---|---|
//! | `demo` | plain: `Question: {question}\nSolution:\n`, each step + `"\n"` (pieces) | each `"\n"` | sigmoid of one logit |
//! | `qwen2.5-math-prm` | chat template: system, user = question, assistant = steps each + `<extra_0>` | each `<extra_0>` | softmax over 2 classes, class 1 |
//! | `math-shepherd` | plain: `{question} ` + steps each + `" ки"`, joined by `"\n"` (whole text) | each `" ки"` | softmax over `" +"`/`" -"` logits, take `" +"` |
//! | `rlhflow` | chat turns: user = step (first: `{question} {step}`), assistant = `+` | the token before each assistant `+` | softmax over `+`/`-`, take `+` |
//! | `skywork` | plain: `{bos}{question}\n`, each step + `"\n"` (pieces) | each `"\n"` | sigmoid of one logit |
//!
//! In a run file (the CLI parses it; this crate sees [`AdapterConfig`]):
//!
//! ```toml
//! [verifier.adapter]
//! preset = "math-shepherd"
//! mode = "orm"            # any field given here replaces the preset's
//! ```
//!
//! or a complete description (this one is the `demo` preset spelled out):
//!
//! ```toml
//! [verifier.adapter]
//! layout = { kind = "plain", prompt = "Question: {question}\nSolution:\n", tag = "\n", tokenize = "pieces" }
//! read = "tag"                                # or "before-tag"
//! probability = { kind = "sigmoid" }          # or { kind = "softmax", class = 1 },
//!                                             # or { kind = "label-tokens", positive = " +", negative = " -" }
//! mode = "prm"                                # or "orm"
//! ```
//!
//! # Text layouts and tokenization
//!
//! - `plain`: `prompt` with `{question}` (and `{bos}`, the tokenizer's BOS text) filled
//!   in, then every step followed by `tag`, consecutive steps joined by `separator`.
//!   With `tokenize = "pieces"` (the default) the prompt is encoded with the
//!   tokenizer's special tokens (unless `add-special-tokens = false`), each step and
//!   separator on its own without them, and the tag's token id is appended after each
//!   step: a tag can never merge with neighbouring text. **This is the demo PRM's
//!   training format**: `ids = encode("Question: " + q + "\nSolution:\n")`, then per
//!   step `encode(step, add_special_tokens=False) + [id("\n")]`, one label per
//!   appended `"\n"` (`xtask/python/make_prm_fixtures.py`, `demo_ids`, is the
//!   reference). With `tokenize = "whole"` the full text is encoded at once, as the
//!   Math-Shepherd model card does, and the tag tokens are found in the solution part.
//! - `chat`: the model's chat template (Jinja in tokenizer_config.json) renders
//!   `[system,] user = question, assistant = steps + tags`; the solution starts where
//!   the generation prompt of `[system,] user` ends. Encoded without added special
//!   tokens (the template writes them), as `apply_chat_template` does.
//! - `chat-turns`: one user turn per step and `tag` as every assistant reply; the tag
//!   of step k is located where the generation prompt after step k's user turn ends,
//!   so a `+` inside a step is never mistaken for it.
//!
//! Token ids of tags and label tokens come from the model's own tokenizer when
//! loading; text that is not a single token is an error. In every layout the number
//! of tags found must equal the number of steps (an error names both numbers).
//! **A step containing the tag text is rejected** in the plain and chat layouts
//! (the tag marks where a step ends, so such a step would read as two): split
//! solutions on the tag first. In chat turns steps may contain it.
//!
//! # Output
//!
//! One probability per step (`mode = "prm"`), or one read at the last step's tag
//! (`mode = "orm"`). `processed_tokens` is the request's token count (padding
//! excluded), for FLOPs = 2 x parameters x tokens.
//!
//! # Continuing from a scored prefix
//!
//! Search scores a candidate after every step. Through
//! [`Verifier::score_continuing`] each candidate carries a state: the KV cache of the
//! tokens read up to its last read position (a chat template's suffix after the last
//! step is left out, since it changes as steps are added), with the scores read
//! there. The next request on that candidate reads only its new tokens; a beam's
//! children share their parent's state, and a pruned candidate's state is freed when
//! the search drops it. Scores equal full rescoring within float error (tested within
//! 1e-5 on every preset's fixture).
//!
//! It needs a graph with `past_key_values.*` inputs, the matching `present.*`
//! outputs and `position_ids`: a causal LM exported with `cargo xtask export` (the
//! default task), or a classifier or value head exported with `--task
//! token-classification-with-past`. Loading also checks, on a two-step probe, that
//! adding a step leaves the earlier tokens unchanged. When either fails the verifier
//! logs once why, re-reads every candidate from the start, and counts those tokens as
//! `reread_tokens` (`verifier_reread_tokens` in the compute account). A request whose
//! tokens do not start with its state's (a tokenizer merging across a step boundary)
//! is re-read the same way.
//!
//! **Memory.** A cached token takes layers x 2 x kv_heads x head_dim x 4 bytes: 2,688
//! for the demo PRM (7 cache entries, 2 KV heads of 24), 114,688 for Qwen2.5-Math-PRM-7B
//! (28 layers, 4 KV heads of 128), 262,144 for Math-Shepherd (Mistral 7B: 32 layers,
//! 8 KV heads of 128). Live states share a budget ([`DEFAULT_CACHE_BYTES`], 2 GiB;
//! [`PrmVerifier::with_cache_bytes`], `cache-mib` in a run file's `[verifier]`): a
//! state that does not fit keeps no cache, and its candidate is re-read (warned once,
//! counted). At 2 GiB a 7B PRM holds about 18,700 tokens: 64 beams of 290 tokens.
//!
//! # Batching and memory
//!
//! Requests of one call are sorted by length and run in batches of at most
//! [`PrmVerifier::with_max_batch`] rows and [`PrmVerifier::with_max_tokens`] padded
//! tokens (rows x (longest cached part + longest new part)); a request longer than
//! the token cap runs alone. Requests read from the start with no state to keep run
//! right-padded without a cache (best-of-N); continued requests run left-padded after
//! their left-padded caches, as the generator's batches do.
//!
//! A causal-LM PRM outputs logits for the whole vocabulary at every position:
//! ONNX Runtime allocates **batch x sequence x vocab x 4 bytes** for them on each run
//! (Math-Shepherd, vocab 32,000: 16 rows of 1,024 tokens = 2.1 GB; a Llama 3 vocab of
//! 128,256 is 4x that), even though this crate reads only the two label columns at the
//! read positions, in place, without copying the tensor. A causal LM exported with its
//! KV cache (`cargo xtask export`'s default task) also returns the present keys and
//! values, layers x 2 x kv_heads x head_dim x 4 bytes per token (Mistral 7B: 256 KiB
//! per token, twice its logits), which a PRM never uses. The default token cap keeps
//! one run's outputs within [`OUTPUT_BUDGET_BYTES`] (1 GiB): 2,092 tokens per run for
//! the 128k vocabulary, 2,752 for Mistral 7B with its cache; classifier and value
//! heads (1 or 2 columns, no cache) are bounded by [`DEFAULT_MAX_TOKENS`] only.
//! [`PrmVerifier::with_max_tokens`] overrides it.

mod adapter;
mod cache;
mod graph;
mod run;
mod score;
mod text;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ttc_core::{
    Continued, Error, ModelInfo, Result, RuntimeSettings, ScoreRequest, StepScores, Verifier,
    VerifierState,
};
use ttc_kv_cache::KvShape;
use ttc_model_folder::{Codec, ModelFolder};
use ttc_onnx::OnnxModel;

pub use adapter::{
    AdapterConfig, Layout, Preset, PrmAdapter, Probability, QWEN_PRM_SYSTEM, ReadAt, ScoreMode,
    Tokenize,
};
pub use text::EncodedRequest;

use crate::cache::CacheBudget;
use crate::graph::{FolderConfig, Signature};
use crate::text::{CodecExt, Encoder};

/// Rows per model run unless configured otherwise.
pub const DEFAULT_MAX_BATCH: usize = 32;
/// Padded tokens (rows x longest row) per model run unless configured otherwise.
pub const DEFAULT_MAX_TOKENS: usize = 8192;
/// The most bytes of outputs (logits, and a causal LM's present key/values) one run
/// may produce under the default token cap.
pub const OUTPUT_BUDGET_BYTES: usize = 1 << 30;
/// The most bytes of keys and values the live candidates' states may hold at once,
/// unless configured otherwise.
pub const DEFAULT_CACHE_BYTES: usize = 2 << 30;

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// What continuing from a scored prefix needs: the cache geometry and the present.*
/// outputs, in the order of the past inputs.
#[derive(Clone, Debug)]
struct Continuation {
    shape: KvShape,
    presents: Vec<String>,
}

/// How the logits at a position become a probability, with ids resolved.
#[derive(Clone, Copy, Debug)]
enum Readout {
    Softmax { class: usize },
    Sigmoid,
    Labels { positive: usize, negative: usize },
}

/// A reward model over one exported model folder, used through [`Verifier`].
#[derive(Debug)]
pub struct PrmVerifier {
    id: usize,
    dir: PathBuf,
    model: OnnxModel,
    codec: Codec,
    encoder: Encoder,
    cfg: FolderConfig,
    sig: Signature,
    readout: Readout,
    info: ModelInfo,
    pad: u32,
    max_batch: usize,
    max_tokens: usize,
    /// How a candidate's next step is scored: continued from its cache, or (why not)
    /// by reading the whole solution again.
    continuation: std::result::Result<Continuation, String>,
    /// False when continuing is turned off (full rescoring, for comparisons).
    cache_enabled: bool,
    budget: Arc<CacheBudget>,
}

impl PrmVerifier {
    /// Loads a model folder (`model.onnx`, `config.json`, `tokenizer.json`,
    /// `tokenizer_config.json`) for `adapter`, checking that the graph, config and
    /// tokenizer fit it.
    pub fn load(
        dir: &Path,
        adapter: &PrmAdapter,
        settings: &RuntimeSettings,
    ) -> Result<PrmVerifier> {
        // The library first: without it nothing else can be checked.
        ttc_onnx::runtime(settings.library.as_deref())?;
        adapter.validate()?;
        let folder = ModelFolder::open(dir)?;
        if folder.contract() == ttc_model_folder::Contract::GenAi {
            // Reward models continue several tokens per row, which the GenAI graphs'
            // GroupQueryAttention allows only at batch 1.
            return Err(Error::model(
                dir,
                "is an ONNX Runtime GenAI folder (genai_config.json); reward models are read \
                 from Optimum exports: export the checkpoint with `cargo xtask export SRC DIR \
                 --task token-classification-with-past` (or text-generation-with-past for a \
                 causal-LM verifier)",
            ));
        }
        let graph = graph::graph_file(&folder)?;
        let cfg = FolderConfig::load(&folder);
        let codec = folder.codec()?;
        if matches!(
            adapter.layout,
            Layout::Chat { .. } | Layout::ChatTurns { .. }
        ) && !codec.has_chat_template()
        {
            return Err(Error::model(
                dir,
                "tokenizer_config.json has no chat_template (nor is there a chat_template.jinja), \
                 but the adapter's layout is a chat layout; use a plain layout or a model folder \
                 with a chat template",
            ));
        }
        let encoder = Encoder::new(&codec, adapter.clone())?;
        let (readout, labels) = match &adapter.probability {
            Probability::Softmax { class } => (Readout::Softmax { class: *class }, None),
            Probability::Sigmoid => (Readout::Sigmoid, None),
            Probability::LabelTokens { positive, negative } => {
                let p = codec.single_token(positive, "positive label token")?;
                let n = codec.single_token(negative, "negative label token")?;
                if p == n {
                    return Err(Error::invalid(
                        "PRM adapter probability",
                        format!(
                            "the label tokens {positive:?} and {negative:?} are the same token {p}"
                        ),
                    ));
                }
                let readout = Readout::Labels {
                    positive: p as usize,
                    negative: n as usize,
                };
                (readout, Some([p, n]))
            }
        };
        let model = OnnxModel::load(&graph, settings)?;
        let sig = graph::check(
            dir,
            &cfg,
            model.inputs(),
            model.outputs(),
            &adapter.probability,
            labels,
        )?;
        let info = ModelInfo {
            name: dir.display().to_string(),
            parameters: folder.parameters(&graph),
            provider: model.provider().clone(),
            max_positions: cfg.max_positions,
        };
        let width = sig.width.or(match readout {
            Readout::Labels { .. } => cfg.vocab,
            _ => cfg.num_labels,
        });
        // Per token, ONNX Runtime returns `width` logits and, for a causal LM exported
        // with its KV cache, a key and a value per layer: all f32.
        let past_floats = sig
            .past
            .as_ref()
            .map_or(0, |p| p.names.len() * p.kv_heads * p.head_dim);
        let max_tokens = default_max_tokens(width.map(|w| 4 * (w + past_floats)));
        tracing::info!(model = %dir.display(), parameters = info.parameters, ?readout, max_tokens, "reward model loaded");
        let continuation = match &sig.past {
            None => Err(format!(
                "model.onnx has no past_key_values inputs; export a classifier or value head with \
                 `cargo xtask export SRC {} --task token-classification-with-past`",
                dir.display()
            )),
            Some(p) if p.presents.is_none() => Err(
                "model.onnx has past_key_values inputs but not every matching present.* output"
                    .to_string(),
            ),
            Some(_) if !sig.position_ids => Err(
                "model.onnx has no position_ids input, which a padded batch continuing from \
                 different lengths needs"
                    .to_string(),
            ),
            Some(p) => layout_continues(&encoder, &codec).map(|()| Continuation {
                shape: KvShape {
                    layers: p.names.len() / 2,
                    kv_heads: p.kv_heads,
                    head_dim: p.head_dim,
                },
                presents: p.presents.clone().unwrap_or_default(),
            }),
        };
        match &continuation {
            Ok(c) => tracing::info!(
                model = %dir.display(),
                bytes_per_token = c.shape.bytes_per_token(),
                "the reward model continues each candidate from its KV cache"
            ),
            Err(why) => tracing::warn!(
                model = %dir.display(),
                "the reward model re-reads every candidate from the start at each step \
                 (counted as verifier_reread_tokens): {why}"
            ),
        }
        Ok(PrmVerifier {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            continuation,
            cache_enabled: true,
            budget: CacheBudget::new(DEFAULT_CACHE_BYTES),
            dir: dir.to_path_buf(),
            pad: cfg.pad.unwrap_or(0),
            model,
            codec,
            encoder,
            cfg,
            sig,
            readout,
            info,
            max_batch: DEFAULT_MAX_BATCH,
            max_tokens,
        })
    }

    /// Sets the most rows per model run (at least 1).
    pub fn with_max_batch(mut self, rows: usize) -> Self {
        self.max_batch = rows.max(1);
        self
    }

    /// Sets the most padded tokens (rows x longest row) per model run (at least 1);
    /// a longer request runs alone.
    pub fn with_max_tokens(mut self, tokens: usize) -> Self {
        self.max_tokens = tokens.max(1);
        self
    }

    /// Turns continuing from the cache on (the default) or off: off, every request is
    /// read in full, as a verifier without a cache would (for comparisons).
    pub fn with_cache(mut self, enabled: bool) -> Self {
        self.cache_enabled = enabled;
        self
    }

    /// Sets the most bytes of keys and values the live candidates' states may hold at
    /// once; a candidate whose state does not fit is read again from the start.
    pub fn with_cache_bytes(mut self, bytes: usize) -> Self {
        self.budget = CacheBudget::new(bytes);
        self
    }

    /// Bytes of keys and values per cached token when the model continues candidates
    /// from its cache; otherwise why it does not.
    pub fn cache_bytes_per_token(&self) -> std::result::Result<usize, String> {
        if !self.cache_enabled {
            return Err("continuing from the cache is turned off".into());
        }
        self.continuation
            .as_ref()
            .map(|c| c.shape.bytes_per_token())
            .map_err(Clone::clone)
    }

    /// The cache budget in bytes, and the bytes live states hold now.
    pub fn cache_usage(&self) -> (usize, usize) {
        (self.budget.limit(), self.budget.used())
    }

    /// The model folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &PrmAdapter {
        &self.encoder.adapter
    }

    /// The most rows per model run.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// The most padded tokens per model run.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The token ids and read positions of one request, as [`Verifier::score`] feeds it.
    pub fn encode(&self, request: &ScoreRequest<'_>) -> Result<EncodedRequest> {
        self.encode_at(0, request)
    }

    fn encode_at(&self, index: usize, request: &ScoreRequest<'_>) -> Result<EncodedRequest> {
        let enc = self.encoder.encode(&self.codec, index, request)?;
        if let Some(max) = self.cfg.max_positions
            && enc.ids.len() > max
        {
            return Err(Error::invalid(
                format!("score request {index}"),
                format!(
                    "it is {} tokens long but the model takes at most {max} (max_position_embeddings in \
                     config.json); score a shorter solution",
                    enc.ids.len()
                ),
            ));
        }
        Ok(enc)
    }
}

/// The token cap that keeps one run's outputs (`bytes_per_token` for every padded
/// token) within [`OUTPUT_BUDGET_BYTES`], at most [`DEFAULT_MAX_TOKENS`].
fn default_max_tokens(bytes_per_token: Option<usize>) -> usize {
    match bytes_per_token {
        Some(b) => (OUTPUT_BUDGET_BYTES / b.max(1)).clamp(1, DEFAULT_MAX_TOKENS),
        None => DEFAULT_MAX_TOKENS,
    }
}

/// Whether a solution's tokens, up to its last read position, stay the same when a
/// step is added: checked once at load on a two-step probe.
fn layout_continues(encoder: &Encoder, codec: &Codec) -> std::result::Result<(), String> {
    let steps = ["2 + 3 = 5".to_string(), "The answer is 5".to_string()];
    let encode = |n: usize| {
        encoder
            .encode(
                codec,
                0,
                &ScoreRequest {
                    question: "What is 2 + 3?",
                    steps: &steps[..n],
                },
            )
            .map_err(|e| format!("the adapter could not lay out a probe solution: {e}"))
    };
    let (one, two) = (encode(1)?, encode(2)?);
    let end = one.positions.last().map_or(one.ids.len(), |&p| p + 1);
    let same_reads = two
        .positions
        .iter()
        .take_while(|&&p| p < end)
        .all(|p| one.positions.contains(p));
    if two.ids.starts_with(&one.ids[..end]) && same_reads {
        Ok(())
    } else {
        Err(
            "the adapter's layout changes tokens before the last step when a step is added \
             (for example a chat template that writes something after the question that depends \
             on the steps), so a scored prefix cannot be continued"
                .to_string(),
        )
    }
}

impl Verifier for PrmVerifier {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn score(&self, requests: &[ScoreRequest<'_>]) -> Result<Vec<StepScores>> {
        Ok(self
            .score_all(requests, &[], false)?
            .into_iter()
            .map(|c| c.scores)
            .collect())
    }

    fn score_continuing(
        &self,
        requests: &[ScoreRequest<'_>],
        prior: &[Option<VerifierState>],
    ) -> Result<Vec<Continued>> {
        self.score_all(requests, prior, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_token_cap_follows_the_output_size() {
        assert_eq!(default_max_tokens(Some(4)), DEFAULT_MAX_TOKENS);
        assert_eq!(default_max_tokens(Some(4 * 32_000)), DEFAULT_MAX_TOKENS);
        // Llama 3's vocabulary: 2,092 x 128,256 x 4 bytes <= 1 GiB < 2,093 x ...
        assert_eq!(default_max_tokens(Some(4 * 128_256)), 2_092);
        // Mistral 7B exported with its KV cache: 32,000 logits + 32 layers x 2 x 8 x 128.
        assert_eq!(default_max_tokens(Some(4 * (32_000 + 65_536))), 2_752);
        assert_eq!(default_max_tokens(Some(usize::MAX / 2)), 1);
        assert_eq!(default_max_tokens(None), DEFAULT_MAX_TOKENS);
    }
}
