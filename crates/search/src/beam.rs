//! Step-level beam search against a PRM, with optional lookahead rollouts.

use ttc_core::{Result, SamplingParams, Sequence, StopCriteria, VerifierState};

use crate::{Candidate, Compute, NodeStatus, SearchOutcome, Searcher, TraceNode, generate_subset};

/// A live path's bookkeeping beside its sequence.
#[derive(Clone)]
struct Path {
    steps: Vec<String>,
    /// The generator's log-probabilities of each step's tokens.
    logprobs: Vec<Vec<f32>>,
    scores: Vec<f32>,
    node: Option<usize>,
    tokens: usize,
    /// The verifier's state after the scored steps (shared by forks).
    verifier: Option<VerifierState>,
}

pub(crate) fn run(
    s: &Searcher<'_>,
    question: &str,
    n: usize,
    m: usize,
    lookahead: usize,
    seed: u64,
) -> Result<SearchOutcome> {
    let g = s.generator;
    let params = g.info().parameters;
    let mut compute = Compute::default();
    let mut trace: Vec<TraceNode> = Vec::new();
    let mut seqs: Vec<Sequence> = s.start(question, seed)?.fork(n);
    let mut paths = vec![
        Path {
            steps: Vec::new(),
            logprobs: Vec::new(),
            scores: Vec::new(),
            node: None,
            tokens: 0,
            verifier: None,
        };
        n
    ];
    let mut done: Vec<Candidate> = Vec::new();
    let step_stop = StopCriteria::one_step(s.settings.max_step_tokens, &s.settings.step_delimiter);
    for round in 0..s.settings.max_rounds {
        let _span = tracing::debug_span!("beam_round", round, beams = seqs.len()).entered();
        let completions = g.generate(&mut seqs, &s.settings.sampling, &step_stop)?;
        compute.add_completions(&completions, params);
        let mut ended = Vec::with_capacity(seqs.len());
        for (i, c) in completions.iter().enumerate() {
            let p = &mut paths[i];
            let step = s.step_text(&c.text);
            p.tokens += c.token_ids.len();
            let (finished, stopped) = s.ends(c, &step, p.tokens);
            trace.push(TraceNode {
                id: trace.len(),
                parent: p.node,
                round,
                step: step.clone(),
                score: None,
                status: NodeStatus::Pruned,
                rollout: Vec::new(),
            });
            p.node = Some(trace.len() - 1);
            p.steps.push(step);
            p.logprobs.push(c.logprobs.clone());
            ended.push((finished, stopped));
        }
        // What each candidate is scored on: its steps, plus a greedy rollout when looking ahead.
        let rollouts = if lookahead > 0 {
            let open: Vec<usize> = (0..seqs.len())
                .filter(|&i| !ended[i].0 && !ended[i].1)
                .collect();
            rollout(s, &seqs, &paths, &open, lookahead, &mut compute)?
        } else {
            (vec![Vec::new(); seqs.len()], vec![Vec::new(); seqs.len()])
        };
        let (rollouts, rollout_logprobs) = rollouts;
        let scored: Vec<Vec<String>> = paths
            .iter()
            .zip(&rollouts)
            .map(|(p, r)| [p.steps.clone(), r.clone()].concat())
            .collect();
        let logprobs: Vec<Vec<Vec<f32>>> = if s.wants_logprobs() {
            paths
                .iter()
                .zip(&rollout_logprobs)
                .map(|(p, r)| [p.logprobs.clone(), r.clone()].concat())
                .collect()
        } else {
            Vec::new()
        };
        let refs: Vec<&[String]> = scored.iter().map(Vec::as_slice).collect();
        let prior: Vec<Option<VerifierState>> = paths.iter().map(|p| p.verifier.clone()).collect();
        let scores = s.score_continuing(question, &refs, &logprobs, &prior, &mut compute)?;
        let mut open = Vec::new();
        for (i, (sc, state)) in scores.into_iter().enumerate() {
            let score = sc.last().copied().unwrap_or(0.0);
            let p = &mut paths[i];
            p.scores.push(score);
            // A lookahead state covers the rollout too: keep the one before it.
            if lookahead == 0 {
                p.verifier = state;
            }
            let node = &mut trace[p.node.expect("expanded")];
            node.score = Some(score);
            node.rollout = rollouts[i].clone();
            let (finished, stopped) = ended[i];
            if finished || stopped {
                node.status = if finished {
                    NodeStatus::Finished
                } else {
                    NodeStatus::Stopped
                };
                done.push(s.candidate(
                    seqs[i].text.clone(),
                    p.steps.clone(),
                    p.scores.clone(),
                    finished,
                ));
            } else {
                open.push(i);
            }
        }
        // A finished beam keeps its place: only N - finished beams go on.
        let remaining = n.saturating_sub(done.len());
        if remaining == 0 || open.is_empty() || round + 1 == s.settings.max_rounds {
            for &i in &open {
                trace[paths[i].node.expect("expanded")].status = NodeStatus::Stopped;
                done.push(s.candidate(
                    seqs[i].text.clone(),
                    paths[i].steps.clone(),
                    paths[i].scores.clone(),
                    false,
                ));
            }
            break;
        }
        // Keep the top remaining/M prefixes (stable: earlier wins ties), M children each.
        let last = |i: usize| paths[i].scores.last().copied().unwrap_or(0.0);
        open.sort_by(|&a, &b| last(b).total_cmp(&last(a)));
        let keep = remaining.div_ceil(m).min(open.len());
        let mut next_seqs = Vec::with_capacity(remaining);
        let mut next_paths = Vec::with_capacity(remaining);
        let mut left = remaining;
        for &i in &open[..keep] {
            trace[paths[i].node.expect("expanded")].status = NodeStatus::Kept;
            let children = m.min(left);
            left -= children;
            next_seqs.extend(seqs[i].fork(children));
            next_paths.extend(std::iter::repeat_n(paths[i].clone(), children));
        }
        seqs = next_seqs;
        paths = next_paths;
    }
    let (chosen, answer) = s.choose(&done, s.settings.final_selector);
    Ok(SearchOutcome {
        strategy: String::new(),
        budget: n,
        answer,
        chosen,
        candidates: done,
        compute,
        trace,
    })
}

/// Steps per path, and each step's token log-probabilities.
type Rollouts = (Vec<Vec<String>>, Vec<Vec<Vec<f32>>>);

/// Rolls each open path out by up to `k` greedy steps from a fork of its state and
/// returns the rollout steps per path (empty for paths not in `open`), with their
/// log-probabilities.
fn rollout(
    s: &Searcher<'_>,
    seqs: &[Sequence],
    paths: &[Path],
    open: &[usize],
    k: usize,
    compute: &mut Compute,
) -> Result<Rollouts> {
    let mut roll: Vec<Sequence> = seqs.to_vec();
    let mut steps = vec![Vec::new(); seqs.len()];
    let mut logprobs = vec![Vec::new(); seqs.len()];
    let mut tokens: Vec<usize> = paths.iter().map(|p| p.tokens).collect();
    let mut live: Vec<usize> = open.to_vec();
    let stop = StopCriteria::one_step(s.settings.max_step_tokens, &s.settings.step_delimiter);
    for _ in 0..k {
        if live.is_empty() {
            break;
        }
        let out = generate_subset(
            s.generator,
            &mut roll,
            &live,
            &SamplingParams::GREEDY,
            &stop,
        )?;
        compute.add_completions(&out, s.generator.info().parameters);
        let mut still = Vec::new();
        for (&i, c) in live.iter().zip(&out) {
            let step = s.step_text(&c.text);
            tokens[i] += c.token_ids.len();
            let (finished, stopped) = s.ends(c, &step, tokens[i]);
            steps[i].push(step);
            logprobs[i].push(c.logprobs.clone());
            if !finished && !stopped {
                still.push(i);
            }
        }
        live = still;
    }
    Ok((steps, logprobs))
}
