//! Test doubles for the component traits (feature `testing`): a scripted
//! [`Generator`] and stock [`Verifier`]s, so that search, revisions and sweeps are
//! tested without ONNX Runtime or a model file.
//!
//! The scripted generator works on characters: a token is a Unicode scalar value,
//! decoding is exact, and the next character is drawn from the sequence's own
//! random stream (or, greedily, from a hash of the text so far). So it keeps the
//! properties the real generator promises: the same seed gives the same text
//! whatever the batch, a fork continues from its parent's state, and it counts
//! processed tokens as a KV-cached model does (uncached context once, then one
//! token per step).

use std::sync::Arc;

use crate::{
    Completion, Continued, FinishReason, Generator, ModelInfo, Prompt, Result, SamplingParams,
    ScoreRequest, Sequence, SequenceCache, StepScores, StopCriteria, Verifier, VerifierState,
};

/// What a script emits next: a character, or the end of the sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    Char(char),
    Eos,
}

/// A script: the next output from the text after the prompt and a random draw in
/// [0, 1) (the sequence's own stream when sampling, a hash of the text when greedy).
pub type Script = dyn Fn(&str, f64) -> Next + Send + Sync;

/// A [`Generator`] that follows a script instead of a model.
pub struct ScriptedGenerator {
    info: ModelInfo,
    script: Box<Script>,
}

impl std::fmt::Debug for ScriptedGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedGenerator")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Model facts for a test double: `parameters` for FLOPs, on the CPU provider.
pub fn test_info(name: &str, parameters: u64) -> ModelInfo {
    ModelInfo::on_cpu(name, parameters)
}

impl Default for ScriptedGenerator {
    /// Digits, spaces and operators, a newline about every tenth character, EOS
    /// about every two hundredth: steps of a few characters, long solutions.
    fn default() -> Self {
        ScriptedGenerator::new(|_, u| {
            const CHARS: &[u8] = b"0123456789 +-=x\n";
            if u < 0.005 {
                Next::Eos
            } else if u < 0.105 {
                Next::Char('\n')
            } else {
                let i = ((u - 0.105) / 0.895 * (CHARS.len() - 1) as f64) as usize;
                Next::Char(CHARS[i.min(CHARS.len() - 2)] as char)
            }
        })
    }
}

impl ScriptedGenerator {
    /// A generator that emits what `script` says.
    pub fn new(script: impl Fn(&str, f64) -> Next + Send + Sync + 'static) -> Self {
        ScriptedGenerator {
            info: test_info("scripted", 1000),
            script: Box::new(script),
        }
    }

    /// The same with `max_positions` declared (callers fit long prompts to it).
    pub fn with_max_positions(mut self, positions: usize) -> Self {
        self.info.max_positions = Some(positions);
        self
    }

    fn tokens(text: &str) -> Vec<u32> {
        text.chars().map(u32::from).collect()
    }

    /// Extends one sequence as a KV-cached model does: the uncached context is read
    /// (`pending`, 0 when another sequence of the call shares it), then every token
    /// but the last is fed back; the EOS token is kept, unfed, until text is appended.
    fn extend(
        &self,
        seq: &mut Sequence,
        pending: usize,
        sampling: &SamplingParams,
        stop: &StopCriteria,
    ) -> Completion {
        let mut out = Completion {
            token_ids: Vec::new(),
            text: String::new(),
            logprobs: Vec::new(),
            finish_reason: FinishReason::Length,
            context_tokens: seq.tokens.len(),
            processed_tokens: 0,
        };
        if seq.ended || stop.max_new_tokens == 0 {
            if seq.ended {
                out.finish_reason = FinishReason::Eos;
            }
            return out;
        }
        while out.token_ids.len() < stop.max_new_tokens {
            let u = if sampling.temperature > 0.0 {
                seq.rng.next_f64()
            } else {
                let h = crate::hash::fnv1a(seq.text.as_bytes());
                (h >> 11) as f64 / (1u64 << 53) as f64
            };
            let next = match (self.script)(&seq.text, u) {
                Next::Eos if stop.ignore_eos => Next::Char(' '),
                n => n,
            };
            let token = match next {
                Next::Eos => EOS,
                Next::Char(c) => u32::from(c),
            };
            seq.tokens.push(token);
            out.token_ids.push(token);
            out.logprobs.push(scripted_logprob(next));
            if let Next::Char(c) = next {
                seq.text.push(c);
                out.text.push(c);
            } else {
                seq.ended = true;
                out.finish_reason = FinishReason::Eos;
                break;
            }
            if stop
                .stop_strings
                .iter()
                .any(|s| out.text.contains(s.as_str()))
            {
                out.finish_reason = FinishReason::Stop;
                break;
            }
        }
        seq.cached_len = seq.tokens.len() - 1;
        seq.cache = Some(SequenceCache(Arc::new(())));
        out.processed_tokens = pending + out.token_ids.len() - 1;
        out
    }
}

/// The log-probability the scripted generator records for what it emits (it has no
/// distribution): -(1 + code point mod 4) / 4 for a character, i.e. -0.25 to -1,
/// and -0.5 for EOS, so that confidence scores differ from step to step.
pub fn scripted_logprob(next: Next) -> f32 {
    match next {
        Next::Char(c) => -((1 + u32::from(c) % 4) as f32) / 4.0,
        Next::Eos => -0.5,
    }
}

/// The scripted generator's end-of-sequence token (decodes to nothing).
pub const EOS: u32 = 0;

impl Generator for ScriptedGenerator {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn start(&self, prompt: &Prompt, seed: u64) -> Result<Sequence> {
        let text = match prompt {
            Prompt::Text(t) => t.clone(),
            Prompt::Chat(turns) => {
                turns
                    .iter()
                    .map(|t| format!("{}: {}\n", t.role, t.content))
                    .collect::<String>()
                    + "assistant: "
            }
        };
        Ok(Sequence::new(Self::tokens(&text), seed))
    }

    fn append(&self, seq: &mut Sequence, text: &str) -> Result<()> {
        if seq.ended {
            // The EOS was sampled but never fed: drop it and go on from the cache.
            if seq.tokens.len() == seq.cached_len + 1 && seq.tokens.last() == Some(&EOS) {
                seq.tokens.pop();
            }
            seq.ended = false;
        }
        seq.tokens.extend(Self::tokens(text));
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
        // Sequences that share a cache and the tokens after it (forks of one prompt)
        // read those tokens once, for all of them.
        let mut seen = std::collections::HashSet::new();
        let pending: Vec<usize> = seqs
            .iter()
            .map(|s| {
                let cache = s
                    .cache
                    .as_ref()
                    .map_or(0, |c| Arc::as_ptr(&c.0) as *const () as usize);
                let first = seen.insert((cache, s.cached_len, s.tokens[s.cached_len..].to_vec()));
                if first {
                    s.tokens.len() - s.cached_len
                } else {
                    0
                }
            })
            .collect();
        Ok(seqs
            .iter_mut()
            .zip(pending)
            .map(|(s, p)| self.extend(s, p, sampling, stop))
            .collect())
    }

    fn decode(&self, tokens: &[u32]) -> Result<String> {
        Ok(tokens
            .iter()
            .filter(|&&t| t != EOS)
            .filter_map(|&t| char::from_u32(t))
            .collect())
    }
}

/// A [`Verifier`] that gives every step the same score; reads one token per byte.
#[derive(Debug)]
pub struct ConstantVerifier {
    pub score: f32,
    info: ModelInfo,
}

impl ConstantVerifier {
    pub fn new(score: f32) -> Self {
        ConstantVerifier {
            score,
            info: test_info("constant", 100),
        }
    }
}

impl Verifier for ConstantVerifier {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn score(&self, requests: &[ScoreRequest<'_>]) -> Result<Vec<StepScores>> {
        Ok(requests
            .iter()
            .map(|r| StepScores {
                scores: vec![self.score; r.steps.len()],
                processed_tokens: r.steps.iter().map(String::len).sum(),
            })
            .collect())
    }
}

/// A [`Verifier`] whose step score is a hash of the steps so far, in [0, 1]: varied
/// but deterministic; reads one token per byte. [`HashVerifier::continuing`] keeps a
/// state per candidate and reads only the steps after it, as a PRM with a KV cache.
#[derive(Debug)]
pub struct HashVerifier {
    info: ModelInfo,
    continues: bool,
}

impl Default for HashVerifier {
    fn default() -> Self {
        HashVerifier {
            info: test_info("hash", 100),
            continues: false,
        }
    }
}

/// What a continuing [`HashVerifier`] keeps: the steps read, their scores, the hash.
#[derive(Debug)]
struct HashState {
    steps: Vec<String>,
    scores: Vec<f32>,
    hash: u64,
}

impl HashVerifier {
    /// The same scores, continued from each candidate's state.
    pub fn continuing() -> Self {
        HashVerifier {
            continues: true,
            ..HashVerifier::default()
        }
    }

    fn run(&self, r: &ScoreRequest<'_>, from: Option<&HashState>) -> (Continued, HashState) {
        let (mut h, mut scores, skip) = match from {
            Some(s) => (s.hash, s.scores.clone(), s.steps.len()),
            None => (crate::hash::FNV1A_OFFSET, Vec::new(), 0),
        };
        for s in &r.steps[skip..] {
            h = crate::hash::fnv1a_extend(h, s.as_bytes());
            scores.push((h >> 40) as f32 / (1u64 << 24) as f32);
        }
        let state = HashState {
            steps: r.steps.to_vec(),
            scores: scores.clone(),
            hash: h,
        };
        let scored = Continued::in_full(StepScores {
            scores,
            processed_tokens: r.steps[skip..].iter().map(String::len).sum(),
        });
        (scored, state)
    }
}

impl Verifier for HashVerifier {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn score(&self, requests: &[ScoreRequest<'_>]) -> Result<Vec<StepScores>> {
        Ok(requests
            .iter()
            .map(|r| self.run(r, None).0.scores)
            .collect())
    }

    fn score_continuing(
        &self,
        requests: &[ScoreRequest<'_>],
        prior: &[Option<VerifierState>],
    ) -> Result<Vec<Continued>> {
        if !self.continues {
            return Ok(self
                .score(requests)?
                .into_iter()
                .map(Continued::in_full)
                .collect());
        }
        Ok(requests
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let from = prior
                    .get(i)
                    .and_then(Option::as_ref)
                    .and_then(|s| s.0.downcast_ref::<HashState>())
                    .filter(|s| r.steps.starts_with(&s.steps));
                let (mut scored, state) = self.run(r, from);
                scored.state = Some(VerifierState(Arc::new(state)));
                scored
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_doubles_are_those_of_earlier_releases() {
        // Golden values: the algorithm crates' tests pin numbers computed on them.
        let steps = ["2 + 3 = 5".to_string(), "The answer is 5".to_string()];
        let request = ScoreRequest {
            question: "q",
            steps: &steps,
        };
        let v = HashVerifier::default().score(&[request]).unwrap();
        let bits: Vec<u32> = v[0].scores.iter().map(|x| x.to_bits()).collect();
        assert_eq!(bits, [1062975314, 1050298456]);
        let g = ScriptedGenerator::default();
        let mut one = vec![g.start(&Prompt::Text("Q:".into()), 7).unwrap()];
        let greedy = SamplingParams::with_temperature(0.0);
        let a = g
            .generate(&mut one, &greedy, &StopCriteria::max_tokens(30))
            .unwrap();
        assert_eq!(a[0].text, "+9\n\n31\n606882x5 \n\n0582 +33551\n");
    }

    #[test]
    fn the_same_seed_gives_the_same_text_whatever_the_batch() {
        let g = ScriptedGenerator::default();
        let p = Prompt::Text("Q:".into());
        let stop = StopCriteria::max_tokens(40);
        let t = SamplingParams::with_temperature(1.0);
        let mut one = vec![g.start(&p, 7).unwrap()];
        let mut many: Vec<Sequence> = (5..9).map(|s| g.start(&p, s).unwrap()).collect();
        let a = g.generate(&mut one, &t, &stop).unwrap();
        let b = g.generate(&mut many, &t, &stop).unwrap();
        assert_eq!(a[0].text, b[2].text);
        assert_eq!(a[0].processed_tokens, 2 + a[0].token_ids.len() - 1);
        // Continued from its cache: the prompt is not read again, only the last
        // generated token (unless it was EOS) and the appended one.
        let eos = a[0].finish_reason == FinishReason::Eos;
        g.append(&mut one[0], "\n").unwrap();
        let c = g
            .generate(&mut one, &t, &StopCriteria::max_tokens(1))
            .unwrap();
        assert_eq!(c[0].processed_tokens, if eos { 1 } else { 2 });
    }
}
