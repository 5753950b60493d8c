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
mod text;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ttc_core::{
    Continued, Error, ModelInfo, Result, RuntimeSettings, ScoreRequest, StepScores, Verifier,
    VerifierState,
};
use ttc_kv_cache::{self as kv, KvShape, SeqKv};
use ttc_model_folder::{Codec, ModelFolder};
use ttc_onnx::{OnnxModel, Tensor};

pub use adapter::{
    AdapterConfig, Layout, Preset, PrmAdapter, Probability, QWEN_PRM_SYSTEM, ReadAt, ScoreMode,
    Tokenize,
};
pub use text::EncodedRequest;

use crate::cache::{CacheBudget, PrmState};
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

    /// Runs one right-padded batch; the probabilities at each row's positions.
    fn run_batch(&self, rows: &[&EncodedRequest]) -> Result<Vec<Vec<f32>>> {
        let b = rows.len();
        let width = rows.iter().map(|r| r.ids.len()).max().unwrap_or(0);
        let _span = tracing::debug_span!("prm_run", rows = b, width).entered();
        let mut ids = vec![i64::from(self.pad); b * width];
        let mut mask = vec![0i64; b * width];
        for (r, row) in rows.iter().enumerate() {
            for (j, &id) in row.ids.iter().enumerate() {
                ids[r * width + j] = i64::from(id);
                mask[r * width + j] = 1;
            }
        }
        let mut inputs = vec![
            ("input_ids".to_string(), Tensor::i64(&[b, width], ids)?),
            (
                "attention_mask".to_string(),
                Tensor::i64(&[b, width], mask)?,
            ),
        ];
        if self.sig.position_ids {
            let positions = (0..b).flat_map(|_| 0..width as i64).collect();
            inputs.push((
                "position_ids".to_string(),
                Tensor::i64(&[b, width], positions)?,
            ));
        }
        if self.sig.token_type_ids {
            inputs.push((
                "token_type_ids".to_string(),
                Tensor::i64(&[b, width], vec![0; b * width])?,
            ));
        }
        if self.sig.use_cache_branch {
            inputs.push((
                "use_cache_branch".to_string(),
                Tensor::bool(&[1], vec![false])?,
            ));
        }
        if let Some(past) = &self.sig.past {
            for name in &past.names {
                let empty = Tensor::f32(&[b, past.kv_heads, 0, past.head_dim], Vec::new())?;
                inputs.push((name.clone(), empty));
            }
        }
        let mut out = self.model.run(inputs, &["logits"])?;
        let logits = out.take("logits")?;
        let shape = logits.shape();
        let inference = |message: String| Error::Inference {
            model: self.dir.display().to_string(),
            message,
        };
        let [ob, ow, columns] = shape[..] else {
            return Err(inference(format!(
                "logits have shape {shape:?}, expected [batch, sequence, labels]"
            )));
        };
        if ob != b || ow != width {
            return Err(inference(format!(
                "logits have shape {shape:?} for a [{b}, {width}] input"
            )));
        }
        if self.sig.width.is_none() {
            let labels = match self.readout {
                Readout::Labels { positive, negative } => Some([positive as u32, negative as u32]),
                _ => None,
            };
            graph::check_width(
                &self.dir,
                &self.cfg,
                Some(columns),
                &self.adapter().probability,
                labels,
            )?;
        }
        // Read in place: only the needed columns at the read positions.
        let data = logits.f32_data()?;
        let mut scores = Vec::with_capacity(b);
        for (r, row) in rows.iter().enumerate() {
            let mut row_scores = Vec::with_capacity(row.positions.len());
            for &pos in &row.positions {
                let at = (r * width + pos) * columns;
                let p = probability(self.readout, &data[at..at + columns]);
                if !p.is_finite() {
                    return Err(inference(format!(
                        "the model produced a non-finite score ({p}) at token {pos}"
                    )));
                }
                row_scores.push(p);
            }
            scores.push(row_scores);
        }
        Ok(scores)
    }

    /// Runs one batch of rows that continue from a cache (or from nothing): each row's
    /// new tokens after its past, left-padded like the generator's batches. Returns,
    /// per row, the probabilities at its read positions from `start` on and, with
    /// `want_kv`, its keys and values after the run (all of the row's tokens).
    fn run_continued(
        &self,
        cont: &Continuation,
        rows: &[ContinuedRow<'_>],
        want_kv: bool,
    ) -> Result<Vec<(Vec<f32>, SeqKv)>> {
        let b = rows.len();
        let empty = SeqKv::empty(cont.shape);
        let pasts: Vec<&SeqKv> = rows.iter().map(|r| r.past.unwrap_or(&empty)).collect();
        let p = kv::padded_len(&pasts);
        let s_max = rows.iter().map(|r| r.new_ids().len()).max().unwrap_or(0);
        let t = p + s_max;
        let _span =
            tracing::debug_span!("prm_run_continued", rows = b, past = p, new = s_max).entered();
        let mut ids = vec![i64::from(self.pad); b * s_max];
        let mut pos = vec![1i64; b * s_max];
        let mut mask = vec![0i64; b * t];
        for (r, row) in rows.iter().enumerate() {
            let past = pasts[r].len;
            mask[r * t + p - past..r * t + p].fill(1);
            let new = row.new_ids();
            let off = s_max - new.len();
            for (j, &id) in new.iter().enumerate() {
                ids[r * s_max + off + j] = i64::from(id);
                pos[r * s_max + off + j] = (past + j) as i64;
                mask[r * t + p + off + j] = 1;
            }
        }
        let shape = [b, cont.shape.kv_heads, p, cont.shape.head_dim];
        let mut inputs = vec![
            ("input_ids".to_string(), Tensor::i64(&[b, s_max], ids)?),
            (
                "attention_mask".to_string(),
                Tensor::i64(&[b, t], mask.clone())?,
            ),
            ("position_ids".to_string(), Tensor::i64(&[b, s_max], pos)?),
        ];
        if self.sig.token_type_ids {
            inputs.push((
                "token_type_ids".to_string(),
                Tensor::i64(&[b, s_max], vec![0; b * s_max])?,
            ));
        }
        if self.sig.use_cache_branch {
            inputs.push((
                "use_cache_branch".to_string(),
                Tensor::bool(&[1], vec![p > 0])?,
            ));
        }
        let past_names = self
            .sig
            .past
            .as_ref()
            .map(|x| x.names.clone())
            .unwrap_or_default();
        for (i, name) in past_names.into_iter().enumerate() {
            let past = self.model.f32_tensor(&shape, |dst| {
                kv::stack_buffer_into(cont.shape, &pasts, i, dst)
            })?;
            inputs.push((name, past));
        }
        let mut wanted = vec!["logits"];
        wanted.extend(cont.presents.iter().map(String::as_str));
        let mut out = self.model.run(inputs, &wanted)?;
        let logits = out.take("logits")?;
        let presents = cont
            .presents
            .iter()
            .map(|n| out.take(n))
            .collect::<Result<Vec<_>>>()?;
        let inference = |message: String| Error::Inference {
            model: self.dir.display().to_string(),
            message,
        };
        let lshape = logits.shape().to_vec();
        let [ob, ow, columns] = lshape[..] else {
            return Err(inference(format!(
                "logits have shape {lshape:?}, expected [batch, sequence, labels]"
            )));
        };
        if ob != b || ow != s_max {
            return Err(inference(format!(
                "logits have shape {lshape:?} for a [{b}, {s_max}] input"
            )));
        }
        for present in &presents {
            let expect = [b, cont.shape.kv_heads, t, cont.shape.head_dim];
            if present.shape() != expect {
                return Err(inference(format!(
                    "a present.* output has shape {:?}, expected {expect:?}",
                    present.shape()
                )));
            }
        }
        let data = logits.f32_data()?;
        let slices = presents
            .iter()
            .map(Tensor::f32_data)
            .collect::<Result<Vec<_>>>()?;
        let mut results = Vec::with_capacity(b);
        for (r, row) in rows.iter().enumerate() {
            let past = pasts[r].len;
            let off = s_max - row.new_ids().len();
            let mut scores = Vec::new();
            for &at in row.positions.iter().filter(|&&q| q >= row.start) {
                let col = off + at - past;
                let base = (r * s_max + col) * columns;
                let prob = probability(self.readout, &data[base..base + columns]);
                if !prob.is_finite() {
                    return Err(inference(format!(
                        "the model produced a non-finite score ({prob}) at token {at}"
                    )));
                }
                scores.push(prob);
            }
            let kv = if want_kv {
                kv::extract_row(cont.shape, &slices, t, r, &mask[r * t..(r + 1) * t])
            } else {
                SeqKv::empty(cont.shape)
            };
            results.push((scores, kv));
        }
        Ok(results)
    }

    /// Scores `requests`, continuing from `prior` states where they fit; with `keep`,
    /// returns each request's state for its next step.
    fn score_all(
        &self,
        requests: &[ScoreRequest<'_>],
        prior: &[Option<VerifierState>],
        keep: bool,
    ) -> Result<Vec<Continued>> {
        if !prior.is_empty() && prior.len() != requests.len() {
            return Err(Error::invalid(
                "score request states",
                format!(
                    "{} states for {} requests; give one per request or none",
                    prior.len(),
                    requests.len()
                ),
            ));
        }
        let encoded = requests
            .iter()
            .enumerate()
            .map(|(i, r)| self.encode_at(i, r))
            .collect::<Result<Vec<_>>>()?;
        let priors: Vec<Option<&PrmState>> = (0..requests.len())
            .map(|i| {
                prior
                    .get(i)
                    .and_then(Option::as_ref)
                    .and_then(|s| s.0.downcast_ref::<PrmState>())
                    .filter(|s| s.owner == self.id)
            })
            .collect();
        let cont = self
            .continuation
            .as_ref()
            .ok()
            .filter(|_| self.cache_enabled);
        let mut results: Vec<Option<Continued>> = vec![None; requests.len()];
        // Requests that start from nothing and share their question's prompt read it once.
        // Where each request can continue from its state: the state and the scores it
        // already has.
        let mut from: Vec<Option<(&PrmState, Vec<f32>)>> = encoded
            .iter()
            .zip(&priors)
            .map(|(enc, p)| p.and_then(|s| s.continues(&enc.ids, &enc.positions).map(|k| (s, k))))
            .collect();
        let fresh: Vec<bool> = from.iter().map(Option::is_none).collect();
        let shared = if cont.is_some() {
            shared_prompts(requests, &encoded, &fresh)
        } else {
            Vec::new()
        };
        let worth_it = keep || priors.iter().any(Option::is_some) || !shared.is_empty();
        let Some(cont) = cont.filter(|_| worth_it) else {
            return self.read_in_full(&encoded, &priors, keep);
        };
        let prompt_kv = self.read_prompts(cont, &encoded, &shared)?;
        let mut prompt_of: Vec<Option<(usize, bool)>> = vec![None; requests.len()];
        for (g, (members, _)) in shared.iter().enumerate() {
            for (k, &m) in members.iter().enumerate() {
                prompt_of[m] = Some((g, k == 0));
            }
        }
        // Where each request starts reading, and the scores it already has.
        let mut rows = Vec::with_capacity(requests.len());
        let mut prompt_tokens = vec![0usize; requests.len()];
        for (i, enc) in encoded.iter().enumerate() {
            let (start, past, known, reread) = match (from[i].take(), prompt_of[i]) {
                (Some((s, known)), _) => (s.ids.len(), s.kv.as_ref(), known, 0),
                (None, fresh_start) => {
                    let reread = priors[i].map_or(0, |s| s.ids.len());
                    match fresh_start {
                        Some((g, first)) => {
                            let len = shared[g].1;
                            // The prompt's tokens count once, with its first request.
                            prompt_tokens[i] = if first { len } else { 0 };
                            (len, Some(&prompt_kv[g]), Vec::new(), reread)
                        }
                        None => (0, None, Vec::new(), reread),
                    }
                }
            };
            rows.push(ContinuedRow {
                ids: &enc.ids,
                positions: &enc.positions,
                start,
                past,
                known,
                reread,
            });
        }
        let lengths: Vec<(usize, usize)> = rows
            .iter()
            .map(|r| (r.start, r.ids.len() - r.start))
            .collect();
        for run in plan(&lengths, self.max_batch, self.max_tokens) {
            let batch: Vec<ContinuedRow<'_>> = run.iter().map(|&i| rows[i].clone()).collect();
            for (&i, (new_scores, kv)) in run.iter().zip(self.run_continued(cont, &batch, keep)?) {
                let row = &rows[i];
                let scores = [row.known.clone(), new_scores].concat();
                let state = keep.then(|| self.state(&encoded[i], &scores, Some((cont, kv))));
                results[i] = Some(Continued {
                    scores: StepScores {
                        scores,
                        processed_tokens: row.ids.len() - row.start + prompt_tokens[i],
                    },
                    state,
                    reread_tokens: row.reread,
                });
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every request is in one run"))
            .collect())
    }

    /// Reads every request from its start, right-padded, without a cache; with
    /// `keep`, returns states that say what was read (a request continuing from one
    /// is counted as re-read).
    fn read_in_full(
        &self,
        encoded: &[EncodedRequest],
        priors: &[Option<&PrmState>],
        keep: bool,
    ) -> Result<Vec<Continued>> {
        let mut results: Vec<Option<Continued>> = vec![None; encoded.len()];
        let lengths: Vec<(usize, usize)> = encoded.iter().map(|e| (0, e.ids.len())).collect();
        for run in plan(&lengths, self.max_batch, self.max_tokens) {
            let rows: Vec<&EncodedRequest> = run.iter().map(|&i| &encoded[i]).collect();
            for (&i, scores) in run.iter().zip(self.run_batch(&rows)?) {
                let enc = &encoded[i];
                let state = keep.then(|| self.state(enc, &scores, None));
                results[i] = Some(Continued {
                    scores: StepScores {
                        scores,
                        processed_tokens: enc.ids.len(),
                    },
                    state,
                    reread_tokens: priors[i].map_or(0, |s| s.ids.len()),
                });
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every request is in one run"))
            .collect())
    }

    /// The keys and values of each shared prompt (`shared[g]`: its requests and
    /// length), read once each.
    fn read_prompts(
        &self,
        cont: &Continuation,
        encoded: &[EncodedRequest],
        shared: &[(Vec<usize>, usize)],
    ) -> Result<Vec<SeqKv>> {
        let rows: Vec<ContinuedRow<'_>> = shared
            .iter()
            .map(|(members, len)| ContinuedRow {
                ids: &encoded[members[0]].ids[..*len],
                positions: &[],
                start: 0,
                past: None,
                known: Vec::new(),
                reread: 0,
            })
            .collect();
        let lengths: Vec<(usize, usize)> = rows.iter().map(|r| (0, r.ids.len())).collect();
        let mut kvs: Vec<Option<SeqKv>> = vec![None; rows.len()];
        for run in plan(&lengths, self.max_batch, self.max_tokens) {
            let batch: Vec<ContinuedRow<'_>> = run.iter().map(|&i| rows[i].clone()).collect();
            for (&i, (_, kv)) in run.iter().zip(self.run_continued(cont, &batch, true)?) {
                kvs[i] = Some(kv);
            }
        }
        Ok(kvs
            .into_iter()
            .map(|kv| kv.expect("every prompt is in one run"))
            .collect())
    }

    /// The state to continue `enc` from: its tokens up to the last read position, the
    /// scores read there, and (when the model continues and the budget has room) the
    /// keys and values of those tokens.
    fn state(
        &self,
        enc: &EncodedRequest,
        scores: &[f32],
        kv: Option<(&Continuation, SeqKv)>,
    ) -> VerifierState {
        let end = enc.positions.last().map_or(enc.ids.len(), |&p| p + 1);
        let (kv, held) = match kv {
            Some((cont, kv)) => {
                let bytes = end * cont.shape.bytes_per_token();
                match self.budget.hold(bytes) {
                    Some(held) => (Some(kv.truncated(cont.shape, end)), Some(held)),
                    None => (None, None),
                }
            }
            None => (None, None),
        };
        VerifierState(Arc::new(PrmState {
            owner: self.id,
            ids: enc.ids[..end].to_vec(),
            scores: enc
                .positions
                .iter()
                .copied()
                .zip(scores.iter().copied())
                .collect(),
            kv,
            _held: held,
        }))
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

/// The probability from one position's logits.
fn probability(readout: Readout, logits: &[f32]) -> f32 {
    match readout {
        Readout::Sigmoid => sigmoid(logits[0]),
        // softmax over two columns = sigmoid of their difference.
        Readout::Labels { positive, negative } => sigmoid(logits[positive] - logits[negative]),
        Readout::Softmax { class } => {
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = logits.iter().map(|&x| (x - max).exp()).sum();
            (logits[class] - max).exp() / sum
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// One request in a continued batch: its tokens, where reading starts, and the
/// cache and scores of what came before.
#[derive(Clone, Debug)]
struct ContinuedRow<'a> {
    ids: &'a [u32],
    positions: &'a [usize],
    /// Tokens before this are in `past` (0 when read from the start).
    start: usize,
    past: Option<&'a SeqKv>,
    /// Scores of the read positions before `start`.
    known: Vec<f32>,
    /// Tokens of a prior state read again because it could not be continued.
    reread: usize,
}

impl ContinuedRow<'_> {
    fn new_ids(&self) -> &[u32] {
        &self.ids[self.start..]
    }
}

/// Groups of at least two `fresh` requests on one question with their shared prompt
/// length: the longest common prefix of their tokens, cut before the first read
/// position of any of them (so it holds no score) and before each one's last token.
fn shared_prompts(
    requests: &[ScoreRequest<'_>],
    encoded: &[EncodedRequest],
    fresh: &[bool],
) -> Vec<(Vec<usize>, usize)> {
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        if !fresh[i] {
            continue;
        }
        match groups.iter_mut().find(|(q, _)| *q == r.question) {
            Some((_, members)) => members.push(i),
            None => groups.push((r.question, vec![i])),
        }
    }
    groups
        .into_iter()
        .filter(|(_, members)| members.len() >= 2)
        .filter_map(|(_, members)| {
            let first = &encoded[members[0]].ids;
            let mut len = first.len();
            for &m in &members {
                let e = &encoded[m];
                let common = first.iter().zip(&e.ids).take_while(|(a, b)| a == b).count();
                let before_read = e.positions.first().copied().unwrap_or(e.ids.len());
                len = len.min(common).min(before_read).min(e.ids.len() - 1);
            }
            // A prompt of a token or two is not worth a run of its own.
            (len >= 4).then_some((members, len))
        })
        .collect()
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

/// Groups request indices into runs of at most `max_batch` rows and `max_tokens`
/// padded tokens (rows x (longest past + longest new part)); a longer request runs
/// alone. `lengths` are (cached, new) tokens per request; runs are formed in order of
/// total length.
fn plan(lengths: &[(usize, usize)], max_batch: usize, max_tokens: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i].0 + lengths[i].1);
    let mut runs: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let (mut past, mut new) = (0, 0);
    for i in order {
        let (p, n) = (past.max(lengths[i].0), new.max(lengths[i].1));
        let fits = current.len() < max_batch && (current.len() + 1) * (p + n) <= max_tokens;
        if !current.is_empty() && !fits {
            runs.push(std::mem::take(&mut current));
            (past, new) = lengths[i];
        } else {
            (past, new) = (p, n);
        }
        current.push(i);
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
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
    fn plan_caps_rows_and_tokens_and_covers_every_request() {
        let lengths = [5, 100, 7, 6, 50, 8].map(|n| (0, n));
        let runs = plan(&lengths, 2, 1000);
        assert_eq!(runs, vec![vec![0, 3], vec![2, 5], vec![4, 1]]);
        let runs = plan(&lengths, 10, 24);
        // 5, 6, 7 fit (3 x 7 = 21), 8 would make 4 x 8 = 32.
        assert_eq!(runs, vec![vec![0, 3, 2], vec![5], vec![4], vec![1]]);
        let mut all: Vec<usize> = runs.concat();
        all.sort();
        assert_eq!(all, (0..lengths.len()).collect::<Vec<_>>());
        assert!(plan(&[], 4, 10).is_empty());
    }

    #[test]
    fn plan_counts_the_longest_past_and_the_longest_new_part() {
        // (90, 5) and (5, 90) pad to 90 + 90 = 180 tokens a row: 360 > 300.
        let runs = plan(&[(90, 5), (5, 90)], 8, 300);
        assert_eq!(runs, vec![vec![0], vec![1]]);
        assert_eq!(plan(&[(90, 5), (85, 10)], 8, 300), vec![vec![0, 1]]);
    }

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

    #[test]
    fn probabilities() {
        assert!((probability(Readout::Sigmoid, &[0.0]) - 0.5).abs() < 1e-7);
        let p = probability(Readout::Softmax { class: 1 }, &[1.0, 3.0]);
        assert!((p - 1.0 / (1.0 + (-2.0f32).exp())).abs() < 1e-6);
        let p = probability(
            Readout::Labels {
                positive: 3,
                negative: 0,
            },
            &[2.0, 9.0, 9.0, 1.0],
        );
        assert!((p - 1.0 / (1.0 + 1.0f32.exp())).abs() < 1e-6);
        // Large logits do not overflow.
        let p = probability(Readout::Softmax { class: 0 }, &[1000.0, 0.0, -1000.0]);
        assert!((p - 1.0).abs() < 1e-6);
    }
}
