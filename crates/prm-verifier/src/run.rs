//! One model run: a right-padded batch read from the start, or a left-padded batch
//! continuing from each row's cache; logits to probabilities at the read positions.

use ttc_core::{Error, Result};
use ttc_kv_cache::{self as kv, BatchDims, GatherPlan, KvBatch, RowKv};
use ttc_onnx::{Placement, Tensor};

use crate::text::EncodedRequest;
use crate::{Continuation, PrmVerifier, Readout, graph};

/// A continued row's probabilities and, when asked for, its cache after the run.
pub(crate) type RowResult = (Vec<f32>, Option<RowKv<Tensor>>);

impl PrmVerifier {
    /// Runs one right-padded batch; the probabilities at each row's positions.
    pub(crate) fn run_batch(&self, rows: &[&EncodedRequest]) -> Result<Vec<Vec<f32>>> {
        let b = rows.len();
        let width = rows.iter().map(|r| r.ids.len()).max().unwrap_or(0);
        let _span = tracing::debug_span!("prm_run", rows = b, width).entered();
        let mut ids = vec![i64::from(self.pad); b * width];
        let mut mask = vec![0i64; b * width];
        for (r, row) in rows.iter().enumerate() {
            for (j, &id) in row.ids.iter().enumerate() {
                ids[r * width + j] = i64::from(id);
                mask[r * width + j] = 1;
            }
        }
        let mut inputs = vec![
            ("input_ids".to_string(), Tensor::i64(&[b, width], ids)?),
            (
                "attention_mask".to_string(),
                Tensor::i64(&[b, width], mask)?,
            ),
        ];
        if self.sig.position_ids {
            let positions = (0..b).flat_map(|_| 0..width as i64).collect();
            inputs.push((
                "position_ids".to_string(),
                Tensor::i64(&[b, width], positions)?,
            ));
        }
        if self.sig.token_type_ids {
            inputs.push((
                "token_type_ids".to_string(),
                Tensor::i64(&[b, width], vec![0; b * width])?,
            ));
        }
        if self.sig.use_cache_branch {
            inputs.push((
                "use_cache_branch".to_string(),
                Tensor::bool(&[1], vec![false])?,
            ));
        }
        if let Some(past) = &self.sig.past {
            for name in &past.names {
                let empty = Tensor::f32(&[b, past.kv_heads, 0, past.head_dim], Vec::new())?;
                inputs.push((name.clone(), empty));
            }
        }
        let mut out = self.model.run(inputs, &["logits"])?;
        let logits = out.take("logits")?;
        let shape = logits.shape();
        let inference = |message: String| Error::Inference {
            model: self.dir.display().to_string(),
            message,
        };
        let [ob, ow, columns] = shape[..] else {
            return Err(inference(format!(
                "logits have shape {shape:?}, expected [batch, sequence, labels]"
            )));
        };
        if ob != b || ow != width {
            return Err(inference(format!(
                "logits have shape {shape:?} for a [{b}, {width}] input"
            )));
        }
        if self.sig.width.is_none() {
            let labels = match self.readout {
                Readout::Labels { positive, negative } => Some([positive as u32, negative as u32]),
                _ => None,
            };
            graph::check_width(
                &self.dir,
                &self.cfg,
                Some(columns),
                &self.adapter().probability,
                labels,
            )?;
        }
        // Read in place: only the needed columns at the read positions.
        let data = logits.f32_data()?;
        let mut scores = Vec::with_capacity(b);
        for (r, row) in rows.iter().enumerate() {
            let mut row_scores = Vec::with_capacity(row.positions.len());
            for &pos in &row.positions {
                let at = (r * width + pos) * columns;
                let p = probability(self.readout, &data[at..at + columns]);
                if !p.is_finite() {
                    return Err(inference(format!(
                        "the model produced a non-finite score ({p}) at token {pos}"
                    )));
                }
                row_scores.push(p);
            }
            scores.push(row_scores);
        }
        Ok(scores)
    }

    /// Runs one batch of rows that continue from a cache (or from nothing): each row's
    /// new tokens after its past, left-padded like the generator's batches. Returns,
    /// per row, the probabilities at its read positions from `start` on and, with
    /// `want_kv`, its keys and values after the run (all of the row's tokens), which
    /// stay in the model's memory: the pasts are gathered there, the run is bound to
    /// them and leaves its `present.*` there; only the logits come to the host.
    pub(crate) fn run_continued(
        &self,
        cont: &Continuation,
        rows: &[ContinuedRow<'_>],
        want_kv: bool,
    ) -> Result<Vec<RowResult>> {
        let b = rows.len();
        let (sources, dims, plan_rows) =
            kv::stack_plan(&rows.iter().map(|r| r.past).collect::<Vec<_>>());
        let p = plan_rows.first().map_or(0, |r| r.cols.len());
        let past_len = |r: usize| rows[r].past.map_or(0, RowKv::len);
        let s_max = rows.iter().map(|r| r.new_ids().len()).max().unwrap_or(0);
        let t = p + s_max;
        let _span =
            tracing::debug_span!("prm_run_continued", rows = b, past = p, new = s_max).entered();
        let mut ids = vec![i64::from(self.pad); b * s_max];
        let mut pos = vec![1i64; b * s_max];
        let mut mask = vec![0i64; b * t];
        for (r, row) in rows.iter().enumerate() {
            let past = past_len(r);
            mask[r * t + p - past..r * t + p].fill(1);
            let new = row.new_ids();
            let off = s_max - new.len();
            for (j, &id) in new.iter().enumerate() {
                ids[r * s_max + off + j] = i64::from(id);
                pos[r * s_max + off + j] = (past + j) as i64;
                mask[r * t + p + off + j] = 1;
            }
        }
        let mut inputs = vec![
            ("input_ids".to_string(), Tensor::i64(&[b, s_max], ids)?),
            (
                "attention_mask".to_string(),
                Tensor::i64(&[b, t], mask.clone())?,
            ),
            ("position_ids".to_string(), Tensor::i64(&[b, s_max], pos)?),
        ];
        if self.sig.token_type_ids {
            inputs.push((
                "token_type_ids".to_string(),
                Tensor::i64(&[b, s_max], vec![0; b * s_max])?,
            ));
        }
        if self.sig.use_cache_branch {
            inputs.push((
                "use_cache_branch".to_string(),
                Tensor::bool(&[1], vec![p > 0])?,
            ));
        }
        let past_names = self
            .sig
            .past
            .as_ref()
            .map(|x| x.names.clone())
            .unwrap_or_default();
        let plan = GatherPlan::new(cont.shape, &dims, &plan_rows);
        let shape = plan.shape(cont.shape);
        let buffers: Vec<&[Tensor]> = sources.iter().map(|s| s.buffers.as_slice()).collect();
        let pasts =
            self.model
                .gather_kv(&buffers, past_names.len(), plan.index, plan.keep, shape)?;
        inputs.extend(past_names.into_iter().zip(pasts));
        let mut wanted = vec![("logits", Placement::Host)];
        wanted.extend(
            cont.presents
                .iter()
                .map(|n| (n.as_str(), Placement::Device)),
        );
        let mut out = self.model.run_bound(inputs, &wanted)?;
        let logits = out.take("logits")?;
        let presents = cont
            .presents
            .iter()
            .map(|n| out.take(n))
            .collect::<Result<Vec<_>>>()?;
        let inference = |message: String| Error::Inference {
            model: self.dir.display().to_string(),
            message,
        };
        let lshape = logits.shape().to_vec();
        let [ob, ow, columns] = lshape[..] else {
            return Err(inference(format!(
                "logits have shape {lshape:?}, expected [batch, sequence, labels]"
            )));
        };
        if ob != b || ow != s_max {
            return Err(inference(format!(
                "logits have shape {lshape:?} for a [{b}, {s_max}] input"
            )));
        }
        for present in &presents {
            let expect = [b, cont.shape.kv_heads, t, cont.shape.head_dim];
            if present.shape() != expect {
                return Err(inference(format!(
                    "a present.* output has shape {:?}, expected {expect:?}",
                    present.shape()
                )));
            }
        }
        let data = logits.f32_data()?;
        // Each row keeps its cache in this run's batch (the positions its mask holds).
        let masks: Vec<Vec<i64>> = mask.chunks(t.max(1)).map(<[i64]>::to_vec).collect();
        let mut kvs = if want_kv {
            let all: Vec<usize> = (0..b).collect();
            let batch = KvBatch {
                buffers: presents,
                dims: BatchDims { rows: b, len: t },
            };
            RowKv::rows_of(batch, &all, &masks)
                .into_iter()
                .map(Some)
                .collect()
        } else {
            vec![None; b]
        };
        let mut results = Vec::with_capacity(b);
        for (r, row) in rows.iter().enumerate() {
            let past = past_len(r);
            let off = s_max - row.new_ids().len();
            let mut scores = Vec::new();
            for &at in row.positions.iter().filter(|&&q| q >= row.start) {
                let col = off + at - past;
                let base = (r * s_max + col) * columns;
                let prob = probability(self.readout, &data[base..base + columns]);
                if !prob.is_finite() {
                    return Err(inference(format!(
                        "the model produced a non-finite score ({prob}) at token {at}"
                    )));
                }
                scores.push(prob);
            }
            results.push((scores, kvs[r].take()));
        }
        Ok(results)
    }
}

/// The probability from one position's logits.
pub(crate) fn probability(readout: Readout, logits: &[f32]) -> f32 {
    match readout {
        Readout::Sigmoid => sigmoid(logits[0]),
        // softmax over two columns = sigmoid of their difference.
        Readout::Labels { positive, negative } => sigmoid(logits[positive] - logits[negative]),
        Readout::Softmax { class } => {
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = logits.iter().map(|&x| (x - max).exp()).sum();
            (logits[class] - max).exp() / sum
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// One request in a continued batch: its tokens, where reading starts, and the
/// cache and scores of what came before.
#[derive(Clone, Debug)]
pub(crate) struct ContinuedRow<'a> {
    pub(crate) ids: &'a [u32],
    pub(crate) positions: &'a [usize],
    /// Tokens before this are in `past` (0 when read from the start).
    pub(crate) start: usize,
    pub(crate) past: Option<&'a RowKv<Tensor>>,
    /// Scores of the read positions before `start`.
    pub(crate) known: Vec<f32>,
    /// Tokens of a prior state read again because it could not be continued.
    pub(crate) reread: usize,
}

impl ContinuedRow<'_> {
    pub(crate) fn new_ids(&self) -> &[u32] {
        &self.ids[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities() {
        assert!((probability(Readout::Sigmoid, &[0.0]) - 0.5).abs() < 1e-7);
        let p = probability(Readout::Softmax { class: 1 }, &[1.0, 3.0]);
        assert!((p - 1.0 / (1.0 + (-2.0f32).exp())).abs() < 1e-6);
        let p = probability(
            Readout::Labels {
                positive: 3,
                negative: 0,
            },
            &[2.0, 9.0, 9.0, 1.0],
        );
        assert!((p - 1.0 / (1.0 + 1.0f32.exp())).abs() < 1e-6);
        // Large logits do not overflow.
        let p = probability(Readout::Softmax { class: 0 }, &[1000.0, 0.0, -1000.0]);
        assert!((p - 1.0).abs() < 1e-6);
    }
}
