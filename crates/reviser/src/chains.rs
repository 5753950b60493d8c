//! Running the chains: one batched generation call per round for every chain.

use ttc_core::{Compute, Error, FinishReason, Prompt, Result, Sequence};

use crate::{Attempt, Chain, Reviser, context_window};

pub(crate) fn run(
    r: &Reviser<'_>,
    question: &str,
    split: crate::ChainSplit,
    seed: u64,
) -> Result<(Vec<Chain>, Compute)> {
    let s = r.settings;
    let g = r.generator;
    let params = g.info().parameters;
    let sampling = s.sampling();
    let stop = s.stop();
    let mut compute = Compute::default();

    let first = s.layout.render::<&str>(question, &[]);
    // Chain i's sequence, and the prompt text it was started on (`seq.text` follows it).
    let mut seqs: Vec<Sequence> = g
        .start(&Prompt::Text(first.clone()), seed)?
        .fork(split.chains);
    // The longest prompt that leaves room for a whole attempt within the model.
    let prompt_limit = match g.info().max_positions {
        Some(m) if m <= s.max_attempt_tokens => {
            return Err(Error::invalid(
                "max-attempt-tokens",
                format!(
                    "{} leaves no room for a prompt: {} holds {m} positions in all; lower \
                     [revision] max-attempt-tokens",
                    s.max_attempt_tokens,
                    g.info().name
                ),
            ));
        }
        m => m.map(|m| m - s.max_attempt_tokens),
    };
    let mut starts: Vec<String> = vec![first; split.chains];
    let mut chains: Vec<Chain> = (0..split.chains)
        .map(|_| Chain {
            attempts: Vec::with_capacity(split.length),
            pick: None,
        })
        .collect();

    for round in 0..split.length {
        let _span = tracing::debug_span!("revision_round", round, chains = split.chains).entered();
        let mut shown = vec![0usize; split.chains];
        let mut continued = vec![false; split.chains];
        if round > 0 {
            for (i, c) in chains.iter().enumerate() {
                let texts: Vec<&str> = c.attempts.iter().map(|a| a.text.as_str()).collect();
                // The latest `context-attempts` attempts, fewer if the prompt would
                // not leave room for a whole attempt (earlier attempts can be long).
                // The fit check's tokenized prompt is kept for a fresh start.
                let mut keep = s.context_attempts;
                let (window, prompt, started) = loop {
                    let window = context_window(&texts, keep);
                    let prompt = s.layout.render(question, window);
                    let started = match prompt_limit {
                        Some(limit) if !window.is_empty() => {
                            let seq = g.start(&Prompt::Text(prompt.clone()), seed)?;
                            if seq.tokens.len() > limit {
                                keep = window.len() - 1;
                                continue;
                            }
                            Some(seq)
                        }
                        _ => None,
                    };
                    break (window, prompt, started);
                };
                shown[i] = window.len();
                let dropped = window.len() < texts.len();
                let full = format!("{}{}", starts[i], seqs[i].text);
                if s.reuse_cache && !dropped && prompt.starts_with(&full) {
                    let rest = &prompt[full.len()..];
                    if !rest.is_empty() {
                        g.append(&mut seqs[i], rest)?;
                    }
                    continued[i] = true;
                } else {
                    let mut seq = match started {
                        Some(seq) => seq,
                        None => g.start(&Prompt::Text(prompt.clone()), seed)?,
                    };
                    // The chain keeps its own random stream.
                    seq.rng = seqs[i].rng.clone();
                    seqs[i] = seq;
                    starts[i] = prompt;
                }
            }
        }
        let completions = g.generate(&mut seqs, &sampling, &stop)?;
        if completions.len() != seqs.len() {
            return Err(Error::invalid(
                "generator output",
                format!(
                    "{} completions for {} sequences; a generator must return one per sequence",
                    completions.len(),
                    seqs.len()
                ),
            ));
        }
        compute.add_completions(&completions, params);
        for (i, c) in completions.iter().enumerate() {
            let text = s.attempt_text(&c.text).to_string();
            tracing::trace!(
                round,
                chain = i,
                tokens = c.token_ids.len(),
                continued = continued[i],
                "attempt"
            );
            chains[i].attempts.push(Attempt {
                answer: r.answers.extract(&text),
                steps: s.split_steps(&text),
                text,
                step_scores: Vec::new(),
                score: None,
                finish_reason: c.finish_reason,
                context_attempts: shown[i],
                continued: continued[i],
                context_tokens: c.context_tokens,
                generated_tokens: c.token_ids.len(),
                processed_tokens: c.processed_tokens,
            });
        }
        let eos = completions
            .iter()
            .filter(|c| c.finish_reason == FinishReason::Eos)
            .count();
        tracing::debug!(
            round,
            eos,
            continued = continued.iter().filter(|&&c| c).count(),
            "round done"
        );
    }
    Ok((chains, compute))
}
