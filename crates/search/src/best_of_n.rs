//! N independent samples, then majority, naive or weighted selection.

use ttc_core::{Result, StopCriteria};

use crate::{Candidate, Compute, NodeStatus, SearchOutcome, Searcher, Selector, TraceNode};

/// The generator's greedy answer: one sample at temperature 0 (top-k and top-p do
/// not matter at temperature 0), unscored.
pub(crate) fn greedy(s: &Searcher<'_>, question: &str, seed: u64) -> Result<SearchOutcome> {
    let settings = crate::SearchSettings {
        sampling: ttc_core::SamplingParams::GREEDY,
        ..s.settings.clone()
    };
    let greedy = Searcher {
        settings: &settings,
        verifier: None,
        ..*s
    };
    let mut out = run(&greedy, question, 1, Selector::Majority, seed)?;
    // One sample: it is the answer whether or not it parses.
    out.chosen = out.answer.as_ref().map(|_| 0);
    Ok(out)
}

pub(crate) fn run(
    s: &Searcher<'_>,
    question: &str,
    n: usize,
    selector: Selector,
    seed: u64,
) -> Result<SearchOutcome> {
    run_after(s, question, n, selector, seed, &[])
}

/// Best-of-N whose first `first.len()` samples were already drawn (and, unless the
/// selector is majority, scored) by a best-of-N run with the same question and seed:
/// only samples `first.len()..n` are drawn, so the result is the full run's, and the
/// compute is the new samples' alone.
pub(crate) fn run_after(
    s: &Searcher<'_>,
    question: &str,
    n: usize,
    selector: Selector,
    seed: u64,
    first: &[Candidate],
) -> Result<SearchOutcome> {
    let mut compute = Compute::default();
    // Sample i's stream depends on the seed and i only, so samples past the first
    // ones are those a full run would draw.
    let mut seqs = s.start(question, seed)?.fork(n).split_off(first.len());
    let n = seqs.len();
    let stop = StopCriteria::max_tokens(s.settings.max_solution_tokens);
    let completions = s
        .generator
        .generate(&mut seqs, &s.settings.sampling, &stop)?;
    compute.add_completions(&completions, s.generator.info().parameters);
    let steps: Vec<Vec<String>> = seqs.iter().map(|q| s.split_steps(&q.text)).collect();
    // Majority voting needs no verifier: don't pay for one.
    let scores = if selector == Selector::Majority {
        vec![Vec::new(); n]
    } else {
        let refs: Vec<&[String]> = steps.iter().map(Vec::as_slice).collect();
        let logprobs = if s.wants_logprobs() {
            completions
                .iter()
                .zip(&steps)
                .map(|(c, st)| s.step_logprobs(c, st))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        s.score(question, &refs, &logprobs, &mut compute)?
    };
    let new: Vec<Candidate> = seqs
        .iter()
        .zip(steps)
        .zip(scores)
        .zip(&completions)
        .map(|(((q, st), sc), c)| {
            s.candidate(
                q.text.clone(),
                st,
                sc,
                c.finish_reason == ttc_core::FinishReason::Eos
                    || s.answers.extract(&q.text).is_some(),
            )
        })
        .collect();
    let candidates: Vec<Candidate> = first.iter().cloned().chain(new).collect();
    let trace = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| TraceNode {
            id: i,
            parent: None,
            round: 0,
            step: c.text.clone(),
            score: c.score,
            status: if c.finished {
                NodeStatus::Finished
            } else {
                NodeStatus::Stopped
            },
            rollout: Vec::new(),
        })
        .collect();
    let (chosen, answer) = s.choose(&candidates, selector);
    Ok(SearchOutcome {
        strategy: String::new(),
        budget: candidates.len(),
        answer,
        chosen,
        candidates,
        compute,
        trace,
    })
}
