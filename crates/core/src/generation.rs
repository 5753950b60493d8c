use std::any::Any;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{ActiveProvider, Error, ExecutionProvider, Result, SeqRng};

/// One chat turn, rendered through the model's own chat template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// What a sequence starts from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// Plain text, tokenized with the tokenizer's special tokens (BOS) added.
    Text(String),
    /// Chat turns rendered with `chat_template` from tokenizer_config.json, with the
    /// generation prompt appended; the template supplies any special tokens.
    Chat(Vec<ChatMessage>),
}

/// How the next token is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// 0 means greedy (the lowest-index token among equal maxima).
    pub temperature: f32,
    /// Keep only the k most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p; 1.0 keeps all.
    pub top_p: f32,
}

impl SamplingParams {
    /// Greedy decoding.
    pub const GREEDY: SamplingParams = SamplingParams {
        temperature: 0.0,
        top_k: 0,
        top_p: 1.0,
    };

    /// Plain sampling at `temperature`.
    pub fn with_temperature(temperature: f32) -> Self {
        SamplingParams {
            temperature,
            ..Self::GREEDY
        }
    }

    /// Checks the values, naming the bad one.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(Error::invalid(
                "temperature",
                format!(
                    "{} (use 0 for greedy or a positive number)",
                    self.temperature
                ),
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::invalid(
                "top-p",
                format!("{} (use a value in (0, 1])", self.top_p),
            ));
        }
        Ok(())
    }
}

/// When a generation call stops for a sequence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopCriteria {
    /// Most tokens generated in this call.
    pub max_new_tokens: usize,
    /// Stop once the text generated in this call contains one of these (checked on
    /// decoded text, since BPE merges such as ".\n\n" hide delimiters inside tokens).
    /// Passing the step delimiter stops at the end of one step.
    pub stop_strings: Vec<String>,
    /// Keep going past EOS (benchmarks that need a fixed token count).
    pub ignore_eos: bool,
}

impl StopCriteria {
    /// Stop at EOS or after `max_new_tokens`.
    pub fn max_tokens(max_new_tokens: usize) -> Self {
        StopCriteria {
            max_new_tokens,
            stop_strings: Vec::new(),
            ignore_eos: false,
        }
    }

    /// Also stop after one step, as delimited by `delimiter`.
    pub fn one_step(max_new_tokens: usize, delimiter: &str) -> Self {
        StopCriteria {
            max_new_tokens,
            stop_strings: vec![delimiter.to_string()],
            ignore_eos: false,
        }
    }
}

/// Why a generation call ended for a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FinishReason {
    /// The model emitted an end-of-sequence token: the sequence cannot go on.
    Eos,
    /// A stop string appeared (for example the end of a step).
    Stop,
    /// `max_new_tokens` was reached, or the model's last position
    /// (`ModelInfo::max_positions`).
    Length,
}

/// Opaque model state (the KV cache) for the tokens of a sequence that the model has
/// already processed. Cloning shares it; only the generator that made it can read it.
#[derive(Clone)]
pub struct SequenceCache(pub Arc<dyn Any + Send + Sync>);

impl std::fmt::Debug for SequenceCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SequenceCache(..)")
    }
}

/// A prompt and everything generated after it, with the model state needed to
/// continue it without re-reading the prefix.
#[derive(Clone, Debug)]
pub struct Sequence {
    /// Prompt tokens followed by generated and appended tokens.
    pub tokens: Vec<u32>,
    /// How many of `tokens` are the prompt.
    pub prompt_len: usize,
    /// Text after the prompt: every generated and appended piece, in order.
    pub text: String,
    /// How many leading tokens `cache` holds; the rest are fed on the next call.
    pub cached_len: usize,
    /// The model state for `tokens[..cached_len]`.
    pub cache: Option<SequenceCache>,
    /// This sequence's own random stream.
    pub rng: SeqRng,
    /// Set once the model emitted EOS: generating does nothing until text is appended.
    pub ended: bool,
}

impl Sequence {
    /// A fresh sequence over prompt `tokens`, nothing processed yet.
    pub fn new(tokens: Vec<u32>, seed: u64) -> Self {
        Sequence {
            prompt_len: tokens.len(),
            tokens,
            text: String::new(),
            cached_len: 0,
            cache: None,
            rng: SeqRng::new(seed),
            ended: false,
        }
    }

    /// `n` copies sharing this one's model state, each with its own random stream
    /// (child i's stream depends on this stream and i only). Beam search forks kept
    /// prefixes this way; N samples of one prompt are N forks of one start.
    pub fn fork(&self, n: usize) -> Vec<Sequence> {
        (0..n)
            .map(|i| Sequence {
                rng: self.rng.child(i as u64),
                ..self.clone()
            })
            .collect()
    }

    /// Tokens generated or appended after the prompt.
    pub fn continuation_tokens(&self) -> &[u32] {
        &self.tokens[self.prompt_len..]
    }
}

/// What one generation call produced for one sequence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// Tokens generated in this call.
    pub token_ids: Vec<u32>,
    /// Their decoded text.
    pub text: String,
    /// Natural-log probability of each generated token under the model's
    /// distribution (temperature 1, before top-k/top-p).
    pub logprobs: Vec<f32>,
    pub finish_reason: FinishReason,
    /// Tokens in the sequence before this call (prompt plus earlier steps).
    pub context_tokens: usize,
    /// Tokens the model actually processed for this sequence in this call: the
    /// uncached context (counted once per shared prefix) plus one per decode step.
    pub processed_tokens: usize,
}

/// Static facts about a loaded generator, for compute accounting and reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model folder or a name for it.
    pub name: String,
    /// Parameter count (from the ONNX initializers), for FLOPs = 2 x params x tokens.
    pub parameters: u64,
    pub provider: ActiveProvider,
    /// The longest sequence the model was built for (`max_position_embeddings`),
    /// when it declares one: callers that compose long prompts fit them to it, and
    /// generation stops there.
    pub max_positions: Option<usize>,
}

impl ModelInfo {
    /// Facts of a component that runs no model on a device (a built-in verifier, a
    /// test double): `parameters` for FLOPs, on the CPU provider, no position limit.
    pub fn on_cpu(name: impl Into<String>, parameters: u64) -> Self {
        ModelInfo {
            name: name.into(),
            parameters,
            provider: ActiveProvider {
                requested: ExecutionProvider::Cpu,
                active: ExecutionProvider::Cpu,
                fallback_reason: None,
            },
            max_positions: None,
        }
    }
}

/// A language model that extends sequences. Implementations batch every sequence
/// passed to one call into shared model runs.
pub trait Generator: Send + Sync {
    /// Facts about the model.
    fn info(&self) -> &ModelInfo;

    /// Tokenizes `prompt` into a fresh sequence with the random stream of `seed`.
    fn start(&self, prompt: &Prompt, seed: u64) -> Result<Sequence>;

    /// Appends text to a sequence as context (not generated): it is tokenized without
    /// special tokens and fed on the next call. Appending to a sequence that ended
    /// with EOS drops the EOS and continues it (a new turn, a revision).
    fn append(&self, seq: &mut Sequence, text: &str) -> Result<()>;

    /// Extends every sequence until it meets `stop`; returns one completion per
    /// sequence, in order. Sequences that already ended get an empty completion.
    fn generate(
        &self,
        seqs: &mut [Sequence],
        sampling: &SamplingParams,
        stop: &StopCriteria,
    ) -> Result<Vec<Completion>>;

    /// Decodes token ids to text.
    fn decode(&self, tokens: &[u32]) -> Result<String>;
}
