//! Compute accounting, one definition for every method (docs/method.md §7).

use crate::Completion;
use serde::{Deserialize, Serialize};

/// What one search spent. `generations` is the paper's unit: the number of full
/// solutions the budget pays for (best-of-N: N; beam search and DVTS: N beams;
/// lookahead k: N x (k + 1)). Tokens are counted as they were really processed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Compute {
    /// Budget in generations, as defined above.
    pub generations: usize,
    /// Steps sampled (one generation call's output for one sequence), rollouts included.
    pub sampled_steps: usize,
    /// Tokens sampled by the generator.
    pub generated_tokens: usize,
    /// Context tokens before each generation call, summed: what a runtime without a
    /// KV cache or prompt sharing would re-read.
    pub context_tokens: usize,
    /// Tokens the generator model actually processed (prompt read once, cached prefixes not re-read).
    pub generator_processed_tokens: usize,
    /// Tokens the verifier model read.
    pub verifier_tokens: usize,
    /// Of `verifier_tokens`, those of already-scored prefixes read again because the
    /// verifier could not continue from its cache (0 when every step was read once).
    #[serde(default)]
    pub verifier_reread_tokens: usize,
    /// 2 x generator parameters x generator processed tokens.
    pub generator_flops: f64,
    /// 2 x verifier parameters x verifier tokens.
    pub verifier_flops: f64,
}

impl Compute {
    /// Adds generation calls' completions, run on a model of `params` parameters.
    pub fn add_completions(&mut self, completions: &[Completion], params: u64) {
        for c in completions {
            self.sampled_steps += 1;
            self.generated_tokens += c.token_ids.len();
            self.context_tokens += c.context_tokens;
            self.generator_processed_tokens += c.processed_tokens;
            self.generator_flops += 2.0 * params as f64 * c.processed_tokens as f64;
        }
    }

    /// Adds `tokens` read by a verifier of `params` parameters.
    pub fn add_verifier(&mut self, tokens: usize, params: u64) {
        self.verifier_tokens += tokens;
        self.verifier_flops += 2.0 * params as f64 * tokens as f64;
    }

    /// Adds another account to this one.
    pub fn absorb(&mut self, other: &Compute) {
        self.generations += other.generations;
        self.sampled_steps += other.sampled_steps;
        self.generated_tokens += other.generated_tokens;
        self.context_tokens += other.context_tokens;
        self.generator_processed_tokens += other.generator_processed_tokens;
        self.verifier_tokens += other.verifier_tokens;
        self.verifier_reread_tokens += other.verifier_reread_tokens;
        self.generator_flops += other.generator_flops;
        self.verifier_flops += other.verifier_flops;
    }

    /// Total FLOPs of every model that ran.
    pub fn total_flops(&self) -> f64 {
        self.generator_flops + self.verifier_flops
    }
}
