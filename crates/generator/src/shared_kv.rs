//! Generation over a GenAI folder's graph, where one buffer per layer's keys and
//! values, `[rows, kv_heads, capacity, head_dim]`, is bound as both
//! `past_key_values.*` and `present.*`: GroupQueryAttention sees the same pointer
//! and writes each new position in place, so no step copies the cache.
//!
//! The buffer is sized from the call: its rows, and as capacity the longest
//! sequence the call can reach (each row's tokens plus its new-token limit), not the
//! model's context length. Rows are right-padded: row b's cache is positions
//! `0..filled[b]`, and the attention mask of a run only says each row's length
//! (the graph takes `seqlens_k = sum(mask) - 1` and the mask's width as the total
//! length), so a row's mask is `filled[b] + new` ones.
//!
//! GroupQueryAttention reads several new tokens per row in two cases only: a batch
//! of empty caches (the first prompt, any rows), or one row with a cache. So a call
//! reads its pending tokens as follows, each row the same way whatever else is in
//! the batch (so the same seed gives the same tokens whatever the batch
//! composition):
//! - rows without a cache: one batch of prompts (a prompt longer than the prefill
//!   window is read alone, in windows);
//! - rows with a cache and one pending token (a search continuing its beams): one
//!   decode step over their caches gathered into a fresh buffer;
//! - rows with a cache and several pending tokens (an appended prompt): one at a
//!   time, at batch 1.
//!
//! The parts are then gathered into the call's buffer (rows sharing a state copied
//! there, as forks), unless one part already is it. Each decode step feeds every
//! row one token: a finished row gets the pad, written at its first free position
//! (inside the capacity, overwritten by nothing it keeps), so its cache is intact.
//! When half the rows have finished, the others are gathered into a smaller buffer;
//! finished rows keep their rows of the buffer they leave (`RowKv`), as on the
//! Optimum contract.

use ttc_core::{Completion, Result, SamplingParams, Sequence, StopCriteria};
use ttc_kv_cache::{self as kv, BatchDims, GatherPlan, GatherRow, KvBatch, RowKv};
use ttc_onnx::{Placement, Tensor};

use crate::OnnxGenerator;
use crate::genai_dir::GenAiIo;
use crate::generate::NextLogits;

/// Rows read together into one set of shared buffers.
struct Part {
    /// 2 x layers buffers `[rows, kv_heads, capacity, head_dim]`.
    buffers: Vec<Tensor>,
    rows: usize,
}

/// Where a row read by [`OnnxGenerator::read_pending`] ended up.
struct Read {
    part: usize,
    row: usize,
    /// Positions of its cache after the read.
    filled: usize,
    logits: Vec<f32>,
}

impl OnnxGenerator {
    /// One run over shared `buffers`: `ids` is `[rows, cols]`, row b's cache holds
    /// `before[b]` positions and its new tokens are its first `new[b]` columns (the
    /// rest pads). Returns the logits after each row's last new token.
    #[allow(clippy::too_many_arguments)]
    fn run_shared(
        &self,
        io: &GenAiIo,
        buffers: &mut [Tensor],
        ids: Vec<i64>,
        rows: usize,
        cols: usize,
        before: &[usize],
        new: &[usize],
    ) -> Result<NextLogits> {
        let lens: Vec<usize> = before.iter().zip(new).map(|(b, n)| b + n).collect();
        let width = lens.iter().copied().max().unwrap_or(0);
        let mut mask = vec![0i64; rows * width];
        for (r, &len) in lens.iter().enumerate() {
            mask[r * width..r * width + len].fill(1);
        }
        let mut inputs = vec![
            (io.input_ids.as_str(), Tensor::i64(&[rows, cols], ids)?),
            (
                io.attention_mask.as_str(),
                Tensor::i64(&[rows, width], mask)?,
            ),
        ];
        if let Some(name) = &io.position_ids {
            let pos = (0..rows)
                .flat_map(|r| (0..cols).map(move |j| (before[r] + j) as i64))
                .collect();
            inputs.push((name.as_str(), Tensor::i64(&[rows, cols], pos)?));
        }
        let _span = tracing::trace_span!("model_run", rows, cols, width).entered();
        let mut out = self.model.run_shared(
            inputs,
            buffers,
            &io.shared,
            &[(io.logits.as_str(), Placement::Host)],
        )?;
        let logits = out.take(&io.logits)?;
        if cols == 1 {
            return Ok(NextLogits::Output(logits));
        }
        let v = logits.shape().get(2).copied().unwrap_or(0);
        let data = logits.f32_data()?;
        let mut last = Vec::with_capacity(rows * v);
        for (r, &n) in new.iter().enumerate() {
            let at = (r * cols + n - 1) * v;
            last.extend_from_slice(&data[at..at + v]);
        }
        Ok(NextLogits::Owned(last))
    }

    /// Fresh shared buffers for `rows` rows of `capacity` positions.
    fn new_buffers(&self, rows: usize, capacity: usize) -> Result<Vec<Tensor>> {
        self.model.zeros_kv(
            2 * self.shape.layers,
            [rows, self.shape.kv_heads, capacity, self.shape.head_dim],
        )
    }

    /// Copies `plan_rows` (each `capacity` columns) out of `sources` into new buffers.
    fn gather_shared(
        &self,
        sources: &[(&[Tensor], BatchDims)],
        plan_rows: &[GatherRow],
        capacity: usize,
    ) -> Result<Vec<Tensor>> {
        let dims: Vec<BatchDims> = sources.iter().map(|s| s.1).collect();
        let plan = GatherPlan::new(self.shape, &dims, plan_rows);
        let buffers: Vec<&[Tensor]> = sources.iter().map(|s| s.0).collect();
        debug_assert_eq!(plan.len, capacity);
        let shape = plan.shape(self.shape);
        self.model.gather_kv(
            &buffers,
            2 * self.shape.layers,
            plan.index,
            plan.keep,
            shape,
        )
    }

    /// Reads the pending tokens of `reps` (distinct states) into parts of
    /// `capacity` positions, each row the way its own state decides (module docs).
    fn read_pending(
        &self,
        io: &GenAiIo,
        reps: &[&Sequence],
        capacity: usize,
    ) -> Result<(Vec<Part>, Vec<Read>)> {
        self.check_pending(reps)?;
        let caches = reps
            .iter()
            .map(|s| self.kv_of(s))
            .collect::<Result<Vec<_>>>()?;
        let pending = |i: usize| reps[i].tokens.len() - reps[i].cached_len;
        let mut parts = Vec::new();
        let mut reads: Vec<Option<Read>> = (0..reps.len()).map(|_| None).collect();
        // Prompts: one batch, but a prompt longer than the window alone.
        let fresh: Vec<usize> = (0..reps.len()).filter(|&i| caches[i].is_none()).collect();
        let (short, long): (Vec<usize>, Vec<usize>) = fresh
            .iter()
            .partition(|&&i| pending(i) <= self.prefill_window);
        let mut groups: Vec<Vec<usize>> = long.into_iter().map(|i| vec![i]).collect();
        if !short.is_empty() {
            groups.insert(0, short);
        }
        for group in groups {
            let n = group.len();
            let mut buffers = self.new_buffers(n, capacity)?;
            let lens: Vec<usize> = group.iter().map(|&i| pending(i)).collect();
            let mut done = vec![0usize; n];
            let mut logits = Vec::new();
            // Windows: the first is a prompt, the later ones (one row) continue it.
            while done[0] < lens[0] {
                let cols = if n == 1 {
                    (lens[0] - done[0]).min(self.prefill_window)
                } else {
                    lens.iter().copied().max().unwrap_or(0)
                };
                let mut ids = vec![i64::from(self.pad); n * cols];
                let mut new = vec![0usize; n];
                for (r, &i) in group.iter().enumerate() {
                    let toks = &reps[i].tokens[done[r]..];
                    new[r] = toks.len().min(cols);
                    for (j, &t) in toks[..new[r]].iter().enumerate() {
                        ids[r * cols + j] = i64::from(t);
                    }
                }
                let l = self.run_shared(io, &mut buffers, ids, n, cols, &done, &new)?;
                logits = l.as_slice()?.to_vec();
                for (d, k) in done.iter_mut().zip(&new) {
                    *d += k;
                }
            }
            let v = logits.len() / n;
            for (r, &i) in group.iter().enumerate() {
                reads[i] = Some(Read {
                    part: parts.len(),
                    row: r,
                    filled: lens[r],
                    logits: logits[r * v..(r + 1) * v].to_vec(),
                });
            }
            parts.push(Part { buffers, rows: n });
        }
        // Caches with one pending token: one decode step; with more: one row at a time.
        let cached: Vec<usize> = (0..reps.len()).filter(|&i| caches[i].is_some()).collect();
        let (step, append): (Vec<usize>, Vec<usize>) =
            cached.iter().partition(|&&i| pending(i) == 1);
        let mut groups: Vec<Vec<usize>> = append.into_iter().map(|i| vec![i]).collect();
        if !step.is_empty() {
            groups.insert(0, step);
        }
        for group in groups {
            let n = group.len();
            let rows: Vec<Option<&RowKv<Tensor>>> = group.iter().map(|&i| caches[i]).collect();
            let mut buffers = self.gather_caches(&rows, capacity)?;
            let mut done: Vec<usize> = group.iter().map(|&i| reps[i].cached_len).collect();
            let total: Vec<usize> = group.iter().map(|&i| reps[i].tokens.len()).collect();
            let mut logits = Vec::new();
            while done[0] < total[0] {
                // One token per row for a batch; windows of the appended text for one.
                let cols = if n == 1 {
                    (total[0] - done[0]).min(self.prefill_window)
                } else {
                    1
                };
                let ids: Vec<i64> = group
                    .iter()
                    .zip(&done)
                    .flat_map(|(&i, &d)| reps[i].tokens[d..d + cols].iter().map(|&t| i64::from(t)))
                    .collect();
                let l = self.run_shared(io, &mut buffers, ids, n, cols, &done, &vec![cols; n])?;
                logits = l.as_slice()?.to_vec();
                for d in &mut done {
                    *d += cols;
                }
            }
            let v = logits.len() / n;
            for (r, &i) in group.iter().enumerate() {
                reads[i] = Some(Read {
                    part: parts.len(),
                    row: r,
                    filled: total[r],
                    logits: logits[r * v..(r + 1) * v].to_vec(),
                });
            }
            parts.push(Part { buffers, rows: n });
        }
        let reads = reads
            .into_iter()
            .map(|r| r.expect("every row is read"))
            .collect();
        Ok((parts, reads))
    }

    /// New shared buffers holding `rows`' caches at positions `0..len`, zeros after,
    /// gathered from the batches they live in.
    fn gather_caches(
        &self,
        rows: &[Option<&RowKv<Tensor>>],
        capacity: usize,
    ) -> Result<Vec<Tensor>> {
        let mut sources: Vec<&KvBatch<Tensor>> = Vec::new();
        let plan_rows: Vec<GatherRow> = rows
            .iter()
            .map(|r| {
                let r = r.expect("a cached row");
                GatherRow {
                    source: kv::source_index(&mut sources, &r.batch),
                    row: r.row,
                    cols: kv::right_padded(&r.positions, capacity),
                }
            })
            .collect();
        let sources: Vec<(&[Tensor], BatchDims)> = sources
            .iter()
            .map(|b| (b.buffers.as_slice(), b.dims))
            .collect();
        self.gather_shared(&sources, &plan_rows, capacity)
    }

    /// Next-token logits after each sequence's tokens (parity checks).
    pub(crate) fn next_logits_shared(
        &self,
        io: &GenAiIo,
        rows: &[&Sequence],
    ) -> Result<Vec<Vec<f32>>> {
        let capacity = rows.iter().map(|s| s.tokens.len()).max().unwrap_or(0);
        let (_, reads) = self.read_pending(io, rows, capacity)?;
        Ok(reads.into_iter().map(|r| r.logits).collect())
    }

    /// One batch of a generate call on the GenAI contract (module docs).
    pub(crate) fn generate_shared(
        &self,
        io: &GenAiIo,
        seqs: &mut [Sequence],
        chunk: &[usize],
        sampling: &SamplingParams,
        stop: &StopCriteria,
    ) -> Result<Vec<(usize, Completion)>> {
        let (group_of, reps) = Self::group_states(seqs, chunk);
        let pending: Vec<usize> = reps
            .iter()
            .map(|&i| seqs[i].tokens.len() - seqs[i].cached_len)
            .collect();
        let mut rows = self.new_rows(seqs, chunk, &group_of, &pending, stop)?;
        // Room for every position the call can write: a row's tokens and its limit
        // (its last token is sampled, not fed, and a finished row's pad goes to its
        // first free position, which is inside that).
        let capacity = rows
            .iter()
            .map(|r| r.context_tokens + r.limit)
            .max()
            .unwrap_or(0);
        let rep_seqs: Vec<&Sequence> = reps.iter().map(|&i| &seqs[i]).collect();
        let (mut parts, reads) = self.read_pending(io, &rep_seqs, capacity)?;
        let mut filled: Vec<usize> = group_of.iter().map(|&g| reads[g].filled).collect();
        // The call's buffer: a part as it is when it holds exactly the rows in order.
        let identity = parts.len() == 1
            && parts[0].rows == chunk.len()
            && group_of
                .iter()
                .enumerate()
                .all(|(b, &g)| g == b && reads[g].row == b);
        let mut buffers = if identity {
            parts.pop().expect("one part").buffers
        } else {
            let plan_rows: Vec<GatherRow> = group_of
                .iter()
                .map(|&g| GatherRow {
                    source: reads[g].part,
                    row: reads[g].row,
                    cols: kv::right_padded(&(0..reads[g].filled).collect::<Vec<_>>(), capacity),
                })
                .collect();
            let sources: Vec<(&[Tensor], BatchDims)> = parts
                .iter()
                .map(|p| {
                    (
                        p.buffers.as_slice(),
                        BatchDims {
                            rows: p.rows,
                            len: capacity,
                        },
                    )
                })
                .collect();
            self.gather_shared(&sources, &plan_rows, capacity)?
        };
        drop(parts);
        let vocab = reads.first().map_or(0, |r| r.logits.len());
        let mut logits = NextLogits::Owned(
            group_of
                .iter()
                .flat_map(|&g| reads[g].logits.iter().copied())
                .collect(),
        );
        let max_stop = stop.stop_strings.iter().map(String::len).max().unwrap_or(0);
        // `slot[b]` is the row in `rows` that batch position b holds.
        let mut slot: Vec<usize> = (0..rows.len()).collect();
        // A row's positions in a buffer, as the mask `hand_over` reads them.
        let masks = |filled: &[usize]| -> Vec<Vec<i64>> {
            filled
                .iter()
                .map(|&f| {
                    let mut m = vec![1i64; f];
                    m.resize(capacity, 0);
                    m
                })
                .collect()
        };
        loop {
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
                let all: Vec<usize> = (0..slot.len()).collect();
                self.hand_over(seqs, &rows, &slot, &all, buffers, &masks(&filled), capacity)?;
                break;
            }
            // Drop finished rows once they are half the batch: fewer rows to compute.
            if active.len() * 2 <= slot.len() {
                let plan_rows: Vec<GatherRow> = active
                    .iter()
                    .map(|&b| GatherRow {
                        source: 0,
                        row: b,
                        cols: kv::right_padded(&(0..filled[b]).collect::<Vec<_>>(), capacity),
                    })
                    .collect();
                let dims = BatchDims {
                    rows: slot.len(),
                    len: capacity,
                };
                let kept = self.gather_shared(&[(&buffers, dims)], &plan_rows, capacity)?;
                let dropped: Vec<usize> = (0..slot.len())
                    .filter(|&b| rows[slot[b]].finish.is_some())
                    .collect();
                // The dropped rows keep their caches in the buffers they leave.
                let left = std::mem::replace(&mut buffers, kept);
                self.hand_over(
                    seqs,
                    &rows,
                    &slot,
                    &dropped,
                    left,
                    &masks(&filled),
                    capacity,
                )?;
                filled = active.iter().map(|&b| filled[b]).collect();
                slot = active.iter().map(|&b| slot[b]).collect();
            }
            let n = slot.len();
            let ids = self.next_ids(&rows, &slot);
            logits = self.run_shared(io, &mut buffers, ids, n, 1, &filled, &vec![1; n])?;
            for (b, &r) in slot.iter().enumerate() {
                let row = &mut rows[r];
                // A finished row's pad took its first free position, which stays free.
                if row.finish.is_none() {
                    filled[b] += 1;
                    row.processed += 1;
                }
            }
        }
        self.completions(seqs, rows)
    }
}
