//! Diverse verifier tree search: N/M independent subtrees, each greedy on the PRM.

use ttc_core::{Result, Sequence, StopCriteria, VerifierState};

use crate::{Candidate, Compute, NodeStatus, SearchOutcome, Searcher, TraceNode};

struct Node {
    seq: Sequence,
    steps: Vec<String>,
    /// The generator's log-probabilities of each step's tokens.
    logprobs: Vec<Vec<f32>>,
    scores: Vec<f32>,
    parent: Option<usize>,
    tokens: usize,
    /// The verifier's state after the scored steps (shared by siblings).
    verifier: Option<VerifierState>,
}

pub(crate) fn run(
    s: &Searcher<'_>,
    question: &str,
    n: usize,
    m: usize,
    seed: u64,
) -> Result<SearchOutcome> {
    let g = s.generator;
    let params = g.info().parameters;
    let mut compute = Compute::default();
    let mut trace: Vec<TraceNode> = Vec::new();
    let subtrees = (n / m).max(1);
    let root = s.start(question, seed)?;
    // Each subtree starts from its own fork of the root, so their samples differ.
    let mut frontier: Vec<Vec<Node>> = root
        .fork(subtrees)
        .into_iter()
        .map(|t| {
            t.fork(m)
                .into_iter()
                .map(|seq| Node {
                    seq,
                    steps: Vec::new(),
                    logprobs: Vec::new(),
                    scores: Vec::new(),
                    parent: None,
                    tokens: 0,
                    verifier: None,
                })
                .collect()
        })
        .collect();
    let mut results: Vec<Candidate> = Vec::new();
    let stop = StopCriteria::one_step(s.settings.max_step_tokens, &s.settings.step_delimiter);
    for round in 0..s.settings.max_rounds {
        if frontier.is_empty() {
            break;
        }
        let _span = tracing::debug_span!("dvts_round", round, subtrees = frontier.len()).entered();
        // One batched generation and one verifier call for every subtree.
        let mut seqs: Vec<Sequence> = frontier.iter().flatten().map(|x| x.seq.clone()).collect();
        let completions = g.generate(&mut seqs, &s.settings.sampling, &stop)?;
        compute.add_completions(&completions, params);
        let mut ends = Vec::with_capacity(seqs.len());
        let mut ids = Vec::with_capacity(seqs.len());
        for ((node, seq), c) in frontier.iter_mut().flatten().zip(seqs).zip(&completions) {
            node.seq = seq;
            let step = s.step_text(&c.text);
            node.tokens += c.token_ids.len();
            ends.push(s.ends(c, &step, node.tokens));
            ids.push(trace.len());
            trace.push(TraceNode {
                id: trace.len(),
                parent: node.parent,
                round,
                step: step.clone(),
                score: None,
                status: NodeStatus::Pruned,
                rollout: Vec::new(),
            });
            node.steps.push(step);
            node.logprobs.push(c.logprobs.clone());
        }
        let refs: Vec<&[String]> = frontier
            .iter()
            .flatten()
            .map(|x| x.steps.as_slice())
            .collect();
        let prior: Vec<Option<VerifierState>> = frontier
            .iter()
            .flatten()
            .map(|x| x.verifier.clone())
            .collect();
        let logprobs: Vec<Vec<Vec<f32>>> = if s.wants_logprobs() {
            frontier
                .iter()
                .flatten()
                .map(|x| x.logprobs.clone())
                .collect()
        } else {
            Vec::new()
        };
        let (scores, mut states): (Vec<Vec<f32>>, Vec<Option<VerifierState>>) = s
            .score_continuing(question, &refs, &logprobs, &prior, &mut compute)?
            .into_iter()
            .unzip();
        let last = |i: usize| scores[i].last().copied().unwrap_or(0.0);
        let last_round = round + 1 == s.settings.max_rounds;
        let mut next = Vec::new();
        let mut base = 0;
        for mut tree in frontier {
            let width = tree.len();
            // The subtree's best candidate; the earlier one wins ties.
            let mut best = base;
            for j in base..base + width {
                trace[ids[j]].score = Some(last(j));
                if last(j) > last(best) {
                    best = j;
                }
            }
            let mut winner = tree.swap_remove(best - base);
            winner.scores.push(last(best));
            let (finished, stopped) = ends[best];
            if finished || stopped || last_round {
                trace[ids[best]].status = if finished {
                    NodeStatus::Finished
                } else {
                    NodeStatus::Stopped
                };
                results.push(s.candidate(
                    winner.seq.text.clone(),
                    winner.steps,
                    winner.scores,
                    finished,
                ));
            } else {
                trace[ids[best]].status = NodeStatus::Kept;
                let parent = Some(ids[best]);
                let verifier = states[best].take();
                let children = winner.seq.fork(m).into_iter().map(|seq| Node {
                    seq,
                    steps: winner.steps.clone(),
                    logprobs: winner.logprobs.clone(),
                    scores: winner.scores.clone(),
                    parent,
                    tokens: winner.tokens,
                    verifier: verifier.clone(),
                });
                next.push(children.collect());
            }
            base += width;
        }
        frontier = next;
    }
    let (chosen, answer) = s.choose(&results, s.settings.final_selector);
    Ok(SearchOutcome {
        strategy: String::new(),
        budget: n,
        answer,
        chosen,
        candidates: results,
        compute,
        trace,
    })
}
