//! The scoring paths of one call: requests continued from their states, fresh
//! requests on one question sharing their prompt's cache, or every request read in
//! full; and how requests are planned into runs.

use std::sync::Arc;

use ttc_core::{Continued, Error, Result, ScoreRequest, StepScores, VerifierState};
use ttc_kv_cache::RowKv;
use ttc_onnx::Tensor;

use crate::cache::PrmState;
use crate::run::ContinuedRow;
use crate::text::EncodedRequest;
use crate::{Continuation, PrmVerifier};

impl PrmVerifier {
    /// Scores `requests`, continuing from `prior` states where they fit; with `keep`,
    /// returns each request's state for its next step.
    pub(crate) fn score_all(
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
    ) -> Result<Vec<RowKv<Tensor>>> {
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
        let mut kvs: Vec<Option<RowKv<Tensor>>> = vec![None; rows.len()];
        for run in plan(&lengths, self.max_batch, self.max_tokens) {
            let batch: Vec<ContinuedRow<'_>> = run.iter().map(|&i| rows[i].clone()).collect();
            for (&i, (_, kv)) in run.iter().zip(self.run_continued(cont, &batch, true)?) {
                kvs[i] = kv;
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
        kv: Option<(&Continuation, Option<RowKv<Tensor>>)>,
    ) -> VerifierState {
        let end = enc.positions.last().map_or(enc.ids.len(), |&p| p + 1);
        let (kv, held) = match kv {
            Some((cont, Some(kv))) => {
                let bytes = end * cont.shape.bytes_per_token();
                match self.budget.hold(bytes) {
                    Some(held) => (Some(kv.truncated(end)), Some(held)),
                    None => (None, None),
                }
            }
            _ => (None, None),
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
}
