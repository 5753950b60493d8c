//! The batched decode loop: read every sequence's pending tokens (once per shared
//! state), then sample, feed and stop row by row, handing each finished row its own
//! KV cache so it can be continued later.
//!
//! The cache never passes through Rust: runs leave `present.*` in the model's memory
//! (the GPU's on CUDA) and the next run is bound to them as `past_key_values.*`; a
//! finished row keeps a handle on the batch it was computed in ([`KvBatch`]) with
//! its positions, and batches are rebuilt (a later call stacking rows, rows sharing
//! a state, dropping finished rows) by gathers run on the model's own provider. Only
//! the logits come to the host.

use std::collections::HashMap;
use std::sync::Arc;

use ttc_core::{
    Completion, Error, FinishReason, Result, SamplingParams, Sequence, SequenceCache, StopCriteria,
};
use ttc_onnx::{Outputs, Placement, Tensor};

use crate::model_dir::Signature;
use crate::sampling;
use crate::{Decoder, IoNames, OnnxGenerator};
use ttc_kv_cache::{self as kv, BatchDims, GatherPlan, GatherRow, KvBatch, RowKv};

/// The cache a sequence carries, tagged with the generator that made it: a row of a
/// batch in the model's memory (shared by forks, freed with its last sequence).
#[derive(Debug)]
pub(crate) struct CachedKv {
    owner: usize,
    kv: RowKv<Tensor>,
}

/// Next-token logits of a batch, [rows, vocab]: copied out of a longer output, or the
/// model's own output when it has one position per row (no copy).
pub(crate) enum NextLogits {
    Owned(Vec<f32>),
    Output(Tensor),
}

impl NextLogits {
    pub(crate) fn as_slice(&self) -> Result<&[f32]> {
        match self {
            NextLogits::Owned(v) => Ok(v),
            NextLogits::Output(t) => t.f32_data(),
        }
    }
}

/// Result of reading the pending tokens of a batch of distinct rows.
pub(crate) struct Prefill {
    /// Next-token logits per row.
    pub(crate) logits: Vec<Vec<f32>>,
    /// present.* of the last run: 2 x layers tensors [rows, kv_heads, t, head_dim].
    past: Vec<Tensor>,
    /// Attention mask per row, length t.
    mask: Vec<Vec<i64>>,
    /// Position id of the next token per row.
    next_pos: Vec<i64>,
}

/// Tokens before a call's first new token that are decoded with it.
pub(crate) const DECODE_CONTEXT: usize = 8;

/// Per-row progress within one call.
pub(crate) struct Row {
    pub(crate) seq: usize,
    pub(crate) new_ids: Vec<u32>,
    pub(crate) logprobs: Vec<f32>,
    pub(crate) processed: usize,
    pub(crate) context_tokens: usize,
    /// Where the decoding context starts in the sequence's tokens.
    pub(crate) ctx_start: usize,
    /// The most new tokens: `max_new_tokens`, or fewer where the model's positions
    /// end first.
    pub(crate) limit: usize,
    pub(crate) finish: Option<FinishReason>,
    pub(crate) context_text: String,
}

impl OnnxGenerator {
    pub(crate) fn kv_of<'a>(&self, seq: &'a Sequence) -> Result<Option<&'a RowKv<Tensor>>> {
        match &seq.cache {
            None if seq.cached_len == 0 => Ok(None),
            None => Err(Error::invalid(
                "sequence",
                "it claims cached tokens but carries no cache",
            )),
            Some(c) => match c.0.downcast_ref::<CachedKv>() {
                Some(k) if k.owner == self.id && k.kv.len() == seq.cached_len => Ok(Some(&k.kv)),
                _ => Err(Error::invalid(
                    "sequence",
                    "its cache was made by another model; start it again on this one",
                )),
            },
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        sig: &Signature,
        io: &IoNames,
        ids: Vec<i64>,
        rows: usize,
        cols: usize,
        mask: &[Vec<i64>],
        pos: Vec<i64>,
        past: Vec<Tensor>,
    ) -> Result<(NextLogits, Vec<Tensor>)> {
        let t = mask.first().map_or(0, Vec::len);
        // Everything in the mask before the new columns is the cache.
        let past_len = t - cols;
        let mut inputs = vec![
            ("input_ids", Tensor::i64(&[rows, cols], ids)?),
            ("attention_mask", Tensor::i64(&[rows, t], mask.concat())?),
        ];
        if sig.has_position_ids {
            inputs.push(("position_ids", Tensor::i64(&[rows, cols], pos)?));
        }
        if sig.has_use_cache_branch {
            inputs.push(("use_cache_branch", Tensor::bool(&[1], vec![past_len > 0])?));
        }
        inputs.extend(io.past.iter().map(String::as_str).zip(past));
        let wanted: Vec<&str> = io.wanted.iter().map(String::as_str).collect();
        // Logits to the host; the cache stays where the model computed it.
        let placed: Vec<(&str, Placement)> = wanted
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                (
                    n,
                    if i == 0 {
                        Placement::Host
                    } else {
                        Placement::Device
                    },
                )
            })
            .collect();
        let _span = tracing::trace_span!("model_run", rows, cols, past_len).entered();
        let mut out: Outputs = self.model.run_bound(inputs, &placed)?;
        let logits = out.take("logits")?;
        let shape = logits.shape();
        let (v, s) = (
            shape.get(2).copied().unwrap_or(0),
            shape.get(1).copied().unwrap_or(0),
        );
        let past = wanted[1..]
            .iter()
            .map(|n| out.take(n))
            .collect::<Result<Vec<_>>>()?;
        if s == 1 {
            // One position per row: the output is already [rows, vocab].
            return Ok((NextLogits::Output(logits), past));
        }
        // Only the last position of each row is needed.
        let data = logits.f32_data()?;
        let mut last = Vec::with_capacity(rows * v);
        for r in 0..rows {
            let at = (r * s + s - 1) * v;
            last.extend_from_slice(&data[at..at + v]);
        }
        Ok((NextLogits::Owned(last), past))
    }

    /// Checks that each of `rows` has a token to read and fits the model.
    pub(crate) fn check_pending(&self, rows: &[&Sequence]) -> Result<()> {
        for s in rows {
            if s.cached_len >= s.tokens.len() {
                return Err(Error::invalid(
                    "sequence",
                    "it has no pending token to read",
                ));
            }
            if let Some(max) = self.info.max_positions
                && s.tokens.len() > max
            {
                return Err(Error::invalid(
                    "sequence",
                    format!(
                        "it is {} tokens long but {} holds {max} positions ({}); shorten it",
                        s.tokens.len(),
                        self.dir.display(),
                        self.positions_field()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Where the model's number of positions comes from (the field and its file),
    /// for messages.
    pub fn positions_field(&self) -> &'static str {
        match self.decoder {
            Decoder::Optimum { .. } => "max_position_embeddings in config.json",
            Decoder::GenAi(_) => "model.context_length in genai_config.json",
        }
    }

    /// Reads the pending tokens of `rows` (distinct states), in windows.
    pub(crate) fn prefill(
        &self,
        sig: &Signature,
        io: &IoNames,
        rows: &[&Sequence],
    ) -> Result<Prefill> {
        let caches = rows
            .iter()
            .map(|s| self.kv_of(s))
            .collect::<Result<Vec<_>>>()?;
        self.check_pending(rows)?;
        // Each row's cache, right-aligned before its new tokens, gathered from the
        // batches the caches live in.
        let (sources, dims, plan_rows) = kv::stack_plan(&caches);
        let p = plan_rows.first().map_or(0, |r| r.cols.len());
        let n = rows.len();
        let s_max = rows
            .iter()
            .map(|s| s.tokens.len() - s.cached_len)
            .max()
            .unwrap_or(0);
        let width = p + s_max;
        let mut ids = vec![i64::from(self.pad); n * s_max];
        let mut pos = vec![1i64; n * s_max];
        let mut full_mask = vec![vec![0i64; width]; n];
        for (r, s) in rows.iter().enumerate() {
            let pending = &s.tokens[s.cached_len..];
            full_mask[r][p - s.cached_len..p].fill(1);
            let off = s_max - pending.len();
            for (j, &tok) in pending.iter().enumerate() {
                ids[r * s_max + off + j] = i64::from(tok);
                pos[r * s_max + off + j] = (s.cached_len + j) as i64;
                full_mask[r][p + off + j] = 1;
            }
        }
        let mut past = self.gather(&sources, &dims, &plan_rows)?;
        let mut logits = Vec::new();
        let mut start = 0;
        while start < s_max {
            let end = (start + self.prefill_window).min(s_max);
            let cols = end - start;
            let take = |m: &[i64]| -> Vec<i64> {
                (0..n)
                    .flat_map(|r| m[r * s_max + start..r * s_max + end].iter().copied())
                    .collect()
            };
            let mask: Vec<Vec<i64>> = full_mask.iter().map(|m| m[..p + end].to_vec()).collect();
            let (l, present) = self.run(sig, io, take(&ids), n, cols, &mask, take(&pos), past)?;
            logits = l.as_slice()?.to_vec();
            past = present;
            start = end;
        }
        let v = logits.len() / n.max(1);
        Ok(Prefill {
            logits: logits.chunks(v.max(1)).map(<[f32]>::to_vec).collect(),
            past,
            mask: full_mask,
            next_pos: rows.iter().map(|s| s.tokens.len() as i64).collect(),
        })
    }

    /// Gathers `plan_rows` out of `sources` (of `dims`) into a new batch, on the
    /// model's provider.
    pub(crate) fn gather(
        &self,
        sources: &[&KvBatch<Tensor>],
        dims: &[BatchDims],
        plan_rows: &[GatherRow],
    ) -> Result<Vec<Tensor>> {
        let plan = GatherPlan::new(self.shape, dims, plan_rows);
        let shape = plan.shape(self.shape);
        let buffers: Vec<&[Tensor]> = sources.iter().map(|b| b.buffers.as_slice()).collect();
        self.model.gather_kv(
            &buffers,
            2 * self.shape.layers,
            plan.index,
            plan.keep,
            shape,
        )
    }

    /// Gives the rows at batch positions `which` (finished) their caches: positions
    /// of `buffers` (the batch, `t` columns) where their mask is 1. Rows that stopped
    /// at a step boundary or a length keep their row of this batch (no copy: the next
    /// round continues them from it); rows that ended at EOS, which are seldom
    /// continued, get a compact batch of their own, so that a finished answer kept
    /// to the end of a search does not hold a whole batch of other rows' caches.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn hand_over(
        &self,
        seqs: &mut [Sequence],
        rows: &[Row],
        slot: &[usize],
        which: &[usize],
        buffers: Vec<Tensor>,
        mask: &[Vec<i64>],
        t: usize,
    ) -> Result<()> {
        let batch = KvBatch {
            buffers,
            dims: BatchDims {
                rows: slot.len(),
                len: t,
            },
        };
        let (ended, open): (Vec<usize>, Vec<usize>) = which
            .iter()
            .partition(|&&b| rows[slot[b]].finish == Some(FinishReason::Eos));
        let mut caches: Vec<(usize, RowKv<Tensor>)> = Vec::with_capacity(which.len());
        if !ended.is_empty() && ended.len() < slot.len() {
            let positions: Vec<Vec<usize>> = ended
                .iter()
                .map(|&b| kv::kept_positions(&mask[b]))
                .collect();
            let p = positions.iter().map(Vec::len).max().unwrap_or(0);
            let plan_rows: Vec<GatherRow> = ended
                .iter()
                .zip(&positions)
                .map(|(&b, pos)| GatherRow {
                    source: 0,
                    row: b,
                    cols: kv::left_padded(pos, p),
                })
                .collect();
            let compact = Arc::new(KvBatch {
                buffers: self.gather(&[&batch], &[batch.dims], &plan_rows)?,
                dims: BatchDims {
                    rows: ended.len(),
                    len: p,
                },
            });
            for (i, (&b, pos)) in ended.iter().zip(&positions).enumerate() {
                let kv = RowKv {
                    batch: Arc::clone(&compact),
                    row: i,
                    positions: (p - pos.len()..p).collect(),
                };
                caches.push((b, kv));
            }
        }
        // Every row of the batch is handed over at once: none is wasted, keep it.
        let keep: Vec<usize> = if ended.len() == slot.len() {
            ended
        } else {
            open
        };
        caches.extend(keep.iter().copied().zip(RowKv::rows_of(batch, &keep, mask)));
        for (b, kv) in caches {
            let seq = &mut seqs[rows[slot[b]].seq];
            // Keep the row's cache even at EOS: appending to an ended sequence (a new
            // turn, a revision) continues from it.
            debug_assert_eq!(kv.len(), seq.tokens.len() - 1);
            seq.cached_len = kv.len();
            seq.cache = Some(SequenceCache(Arc::new(CachedKv { owner: self.id, kv })));
        }
        Ok(())
    }

    pub(crate) fn generate_all(
        &self,
        seqs: &mut [Sequence],
        sampling: &SamplingParams,
        stop: &StopCriteria,
    ) -> Result<Vec<Completion>> {
        let mut out: Vec<Option<Completion>> = vec![None; seqs.len()];
        let mut live = Vec::new();
        for (i, s) in seqs.iter().enumerate() {
            if let Some(max) = self.info.max_positions
                && !s.ended
                && stop.max_new_tokens > 0
                && s.tokens.len() >= max
            {
                return Err(Error::invalid(
                    format!("sequence {i}"),
                    format!(
                        "it is {} tokens long and {} holds {max} positions ({}): no room \
                         for a new token; shorten the prompt",
                        s.tokens.len(),
                        self.dir.display(),
                        self.positions_field()
                    ),
                ));
            }
            if s.ended || stop.max_new_tokens == 0 {
                out[i] = Some(Completion {
                    token_ids: Vec::new(),
                    text: String::new(),
                    logprobs: Vec::new(),
                    finish_reason: if s.ended {
                        FinishReason::Eos
                    } else {
                        FinishReason::Length
                    },
                    context_tokens: s.tokens.len(),
                    processed_tokens: 0,
                });
            } else {
                live.push(i);
            }
        }
        for chunk in live.chunks(self.max_batch) {
            let _span = tracing::debug_span!("generate_batch", rows = chunk.len()).entered();
            let done = match &self.decoder {
                Decoder::Optimum { sig, io } => {
                    self.generate_chunk(sig, io, seqs, chunk, sampling, stop)?
                }
                Decoder::GenAi(io) => self.generate_shared(io, seqs, chunk, sampling, stop)?,
            };
            for (i, c) in done {
                out[i] = Some(c);
            }
        }
        Ok(out
            .into_iter()
            .map(|c| c.expect("every sequence gets a completion"))
            .collect())
    }

    /// Rows sharing a state and pending tokens, read once: each row's group and each
    /// group's first row.
    pub(crate) fn group_states(seqs: &[Sequence], chunk: &[usize]) -> (Vec<usize>, Vec<usize>) {
        let mut group_of = Vec::with_capacity(chunk.len());
        let mut reps: Vec<usize> = Vec::new();
        let mut seen: HashMap<(usize, usize, &[u32]), usize> = HashMap::new();
        for &i in chunk {
            let s = &seqs[i];
            let ptr = s
                .cache
                .as_ref()
                .map_or(0, |c| Arc::as_ptr(&c.0) as *const () as usize);
            let g = *seen
                .entry((ptr, s.cached_len, &s.tokens[s.cached_len..]))
                .or_insert_with(|| {
                    reps.push(i);
                    reps.len() - 1
                });
            group_of.push(g);
        }
        (group_of, reps)
    }

    #[allow(clippy::too_many_arguments)]
    fn generate_chunk(
        &self,
        sig: &Signature,
        io: &IoNames,
        seqs: &mut [Sequence],
        chunk: &[usize],
        sampling: &SamplingParams,
        stop: &StopCriteria,
    ) -> Result<Vec<(usize, Completion)>> {
        // Rows sharing a state and pending tokens are read once, then copied.
        let (group_of, reps) = Self::group_states(seqs, chunk);
        let rep_seqs: Vec<&Sequence> = reps.iter().map(|&i| &seqs[i]).collect();
        let pre = self.prefill(sig, io, &rep_seqs)?;
        let pending: Vec<usize> = reps
            .iter()
            .map(|&i| seqs[i].tokens.len() - seqs[i].cached_len)
            .collect();
        let t0 = pre.mask[0].len();
        let identity = reps.len() == chunk.len();
        let (mut past, mut mask, mut next_pos, logits) = if identity {
            (pre.past, pre.mask, pre.next_pos, pre.logits)
        } else {
            let batch = KvBatch {
                buffers: pre.past,
                dims: BatchDims {
                    rows: reps.len(),
                    len: t0,
                },
            };
            let plan_rows: Vec<GatherRow> = group_of
                .iter()
                .map(|&g| GatherRow {
                    source: 0,
                    row: g,
                    cols: (0..t0).map(Some).collect(),
                })
                .collect();
            let past = self.gather(&[&batch], &[batch.dims], &plan_rows)?;
            (
                past,
                group_of.iter().map(|&g| pre.mask[g].clone()).collect(),
                group_of
                    .iter()
                    .map(|&g| pre.next_pos[g])
                    .collect::<Vec<_>>(),
                group_of
                    .iter()
                    .map(|&g| pre.logits[g].clone())
                    .collect::<Vec<_>>(),
            )
        };
        // From here on, next-token logits are one flat [rows, vocab] buffer.
        let vocab = logits.first().map_or(0, Vec::len);
        let mut logits = NextLogits::Owned(logits.concat());
        let max_stop = stop.stop_strings.iter().map(String::len).max().unwrap_or(0);
        let mut rows = self.new_rows(seqs, chunk, &group_of, &pending, stop)?;
        // `slot[b]` is the row in `rows` that batch position b holds.
        let mut slot: Vec<usize> = (0..rows.len()).collect();
        loop {
            let t = mask[0].len();
            self.sample_step(
                seqs,
                &mut rows,
                &slot,
                logits.as_slice()?,
                vocab,
                sampling,
                stop,
                max_stop,
            )?;
            let active: Vec<usize> = (0..slot.len())
                .filter(|&b| rows[slot[b]].finish.is_none())
                .collect();
            if active.is_empty() {
                // Every row keeps its cache in the last batch: the next call gathers
                // from it without a copy now.
                let all: Vec<usize> = (0..slot.len()).collect();
                self.hand_over(seqs, &rows, &slot, &all, past, &mask, t)?;
                break;
            }
            // Drop finished rows once they are half the batch: fewer rows to compute.
            if active.len() * 2 <= slot.len() {
                let skip = active
                    .iter()
                    .map(|&b| mask[b].iter().take_while(|&&m| m == 0).count())
                    .min()
                    .unwrap_or(0);
                let plan_rows: Vec<GatherRow> = active
                    .iter()
                    .map(|&b| GatherRow {
                        source: 0,
                        row: b,
                        cols: (skip..t).map(Some).collect(),
                    })
                    .collect();
                let dropped: Vec<usize> = (0..slot.len())
                    .filter(|&b| rows[slot[b]].finish.is_some())
                    .collect();
                let batch = KvBatch {
                    buffers: past,
                    dims: BatchDims {
                        rows: slot.len(),
                        len: t,
                    },
                };
                past = self.gather(&[&batch], &[batch.dims], &plan_rows)?;
                // The dropped rows keep their caches in the batch they leave.
                self.hand_over(seqs, &rows, &slot, &dropped, batch.buffers, &mask, t)?;
                mask = active.iter().map(|&b| mask[b][skip..].to_vec()).collect();
                next_pos = active.iter().map(|&b| next_pos[b]).collect();
                slot = active.iter().map(|&b| slot[b]).collect();
            }
            let n = slot.len();
            let ids = self.next_ids(&rows, &slot);
            let mut pos = Vec::with_capacity(n);
            for (b, &r) in slot.iter().enumerate() {
                let row = &mut rows[r];
                let live = row.finish.is_none();
                pos.push(if live { next_pos[b] } else { 1 });
                mask[b].push(i64::from(live));
                if live {
                    next_pos[b] += 1;
                    row.processed += 1;
                }
            }
            let (l, present) = self.run(sig, io, ids, n, 1, &mask, pos, past)?;
            logits = l;
            past = present;
        }
        self.completions(seqs, rows)
    }

    /// Each row's progress record at the start of a call: the first row of a group
    /// counts the group's pending tokens as processed (they are read once).
    pub(crate) fn new_rows(
        &self,
        seqs: &[Sequence],
        chunk: &[usize],
        group_of: &[usize],
        pending: &[usize],
        stop: &StopCriteria,
    ) -> Result<Vec<Row>> {
        let mut first_of_group = vec![true; pending.len()];
        chunk
            .iter()
            .zip(group_of)
            .map(|(&i, &g)| {
                let s = &seqs[i];
                let processed = if std::mem::take(&mut first_of_group[g]) {
                    pending[g]
                } else {
                    0
                };
                // A few tokens of context let the decoder place spaces and merges right.
                let ctx_start = s.tokens.len().saturating_sub(DECODE_CONTEXT);
                // A row stops at the model's last position, as at max_new_tokens: past
                // it the model has no position embedding to read a token with.
                let room = self
                    .info
                    .max_positions
                    .map_or(usize::MAX, |m| m - s.tokens.len());
                let context_text = self.codec.decode(&s.tokens[ctx_start..])?;
                Ok(Row {
                    seq: i,
                    new_ids: Vec::new(),
                    logprobs: Vec::new(),
                    processed,
                    context_tokens: s.tokens.len(),
                    ctx_start,
                    limit: stop.max_new_tokens.min(room),
                    finish: None,
                    context_text,
                })
            })
            .collect()
    }

    /// Samples the next token of every unfinished row from its logits (row b of
    /// `all_logits`, `[rows, vocab]`, is `slot[b]`'s), appends it, and marks the rows
    /// that stop: at EOS, at a stop string, at their length limit.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sample_step(
        &self,
        seqs: &mut [Sequence],
        rows: &mut [Row],
        slot: &[usize],
        all_logits: &[f32],
        vocab: usize,
        sampling: &SamplingParams,
        stop: &StopCriteria,
        max_stop: usize,
    ) -> Result<()> {
        for (b, &r) in slot.iter().enumerate() {
            let row = &mut rows[r];
            if row.finish.is_some() {
                continue;
            }
            let seq = &mut seqs[row.seq];
            let row_logits = &all_logits[b * vocab..(b + 1) * vocab];
            let (tok, logprob) = sampling::draw(row_logits, sampling, &mut seq.rng);
            row.logprobs.push(logprob);
            let tok = tok as u32;
            row.new_ids.push(tok);
            seq.tokens.push(tok);
            if !stop.ignore_eos && self.cfg.eos.contains(&tok) {
                row.finish = Some(FinishReason::Eos);
            } else {
                // A stop string that has just appeared ends within the last few
                // tokens: decode only those (a string of n bytes spans at most n tokens).
                if !stop.stop_strings.is_empty() {
                    let from = row.new_ids.len().saturating_sub(max_stop + 1);
                    let window = self.codec.decode(&row.new_ids[from..])?;
                    if stop
                        .stop_strings
                        .iter()
                        .any(|s| window.contains(s.as_str()))
                    {
                        row.finish = Some(FinishReason::Stop);
                    }
                }
                if row.finish.is_none() && row.new_ids.len() >= row.limit {
                    row.finish = Some(FinishReason::Length);
                }
            }
            if row.finish.is_some() {
                // The row's cache is handed over when it leaves the batch: its later
                // positions are not its own and its length stays as it is.
                seq.ended = row.finish == Some(FinishReason::Eos);
            }
        }
        Ok(())
    }

    /// The next token fed at each batch position: the row's last sampled token, or
    /// the pad for a finished row (computed, never kept).
    pub(crate) fn next_ids(&self, rows: &[Row], slot: &[usize]) -> Vec<i64> {
        slot.iter()
            .map(|&r| match rows[r].finish {
                None => i64::from(*rows[r].new_ids.last().expect("sampled")),
                Some(_) => i64::from(self.pad),
            })
            .collect()
    }

    /// The completions of finished rows, with their text decoded in context.
    pub(crate) fn completions(
        &self,
        seqs: &mut [Sequence],
        rows: Vec<Row>,
    ) -> Result<Vec<(usize, Completion)>> {
        rows.into_iter()
            .map(|row| {
                let seq = &mut seqs[row.seq];
                // Decode with the context so spaces and merges at the join come out right.
                let joined = self
                    .codec
                    .decode(&seq.tokens[row.ctx_start..row.context_tokens + row.new_ids.len()])?;
                let text = match joined.strip_prefix(row.context_text.as_str()) {
                    Some(rest) => rest.to_string(),
                    None => self.codec.decode(&row.new_ids)?,
                };
                seq.text.push_str(&text);
                Ok((
                    row.seq,
                    Completion {
                        token_ids: row.new_ids,
                        text,
                        logprobs: row.logprobs,
                        finish_reason: row.finish.expect("every row finished"),
                        context_tokens: row.context_tokens,
                        processed_tokens: row.processed,
                    },
                ))
            })
            .collect()
    }
}
