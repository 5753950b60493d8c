//! KV-cache bookkeeping as plain data: one sequence's cache without padding, and
//! the copies between it and left-padded batch tensors [batch, kv_heads, len, head_dim]
//! (the layout of Optimum's `past_key_values.{i}.key` / `.value` inputs and
//! `present.*` outputs). The generator and the reward models share it.
//!
//! Copies between batches that stay in the model's memory are planned here
//! ([`GatherPlan`]) and run by `ttc_onnx::OnnxModel::gather_kv` on the device;
//! [`GatherPlan::apply`] is the same copy on host slices, for tests and reference.

use std::sync::Arc;

/// Geometry shared by every layer's keys and values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvShape {
    pub layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl KvShape {
    /// Bytes one cached token takes: a key and a value per layer, f32.
    pub fn bytes_per_token(&self) -> usize {
        2 * self.layers * self.kv_heads * self.head_dim * 4
    }
}

/// One sequence's keys and values for its first `len` tokens, no padding:
/// per layer, keys then values, each [kv_heads, len, head_dim].
#[derive(Clone, Debug, PartialEq)]
pub struct SeqKv {
    pub len: usize,
    /// 2 x layers buffers: k0, v0, k1, v1, ...
    pub buffers: Vec<Vec<f32>>,
}

impl SeqKv {
    pub fn empty(shape: KvShape) -> SeqKv {
        SeqKv {
            len: 0,
            buffers: vec![Vec::new(); 2 * shape.layers],
        }
    }

    /// The cache of the first `len` tokens only (`len` at most `self.len`); no copy
    /// when that is all of it.
    pub fn truncated(self, shape: KvShape, len: usize) -> SeqKv {
        let len = len.min(self.len);
        if len == self.len {
            return self;
        }
        let (h, d) = (shape.kv_heads, shape.head_dim);
        let buffers = self
            .buffers
            .iter()
            .map(|src| {
                let mut dst = Vec::with_capacity(h * len * d);
                for head in 0..h {
                    let s = head * self.len * d;
                    dst.extend_from_slice(&src[s..s + len * d]);
                }
                dst
            })
            .collect();
        SeqKv { len, buffers }
    }

    /// Bytes held by the keys and values.
    pub fn bytes(&self) -> usize {
        self.buffers.iter().map(|b| b.len() * 4).sum()
    }
}

/// Left-pads each row's cache to the longest and stacks them: returns the padded
/// length P and 2 x layers buffers of [rows, kv_heads, P, head_dim] (pads are zeros,
/// masked out by the attention mask).
pub fn stack_left_padded(shape: KvShape, rows: &[&SeqKv]) -> (usize, Vec<Vec<f32>>) {
    let p = padded_len(rows);
    let (h, d) = (shape.kv_heads, shape.head_dim);
    let mut out = vec![vec![0.0f32; rows.len() * h * p * d]; 2 * shape.layers];
    for (buf_i, dst) in out.iter_mut().enumerate() {
        stack_buffer_into(shape, rows, buf_i, dst);
    }
    (p, out)
}

/// The padded length P of [`stack_left_padded`]: the longest row's.
pub fn padded_len(rows: &[&SeqKv]) -> usize {
    rows.iter().map(|r| r.len).max().unwrap_or(0)
}

/// Buffer `buf_i` (of the 2 x layers) of [`stack_left_padded`], written into `dst`
/// ([rows, kv_heads, P, head_dim], pads already zero).
pub fn stack_buffer_into(shape: KvShape, rows: &[&SeqKv], buf_i: usize, dst: &mut [f32]) {
    let p = padded_len(rows);
    let (h, d) = (shape.kv_heads, shape.head_dim);
    for (b, row) in rows.iter().enumerate() {
        let src = &row.buffers[buf_i];
        let pad = p - row.len;
        for head in 0..h {
            let s = head * row.len * d;
            let t = ((b * h + head) * p + pad) * d;
            dst[t..t + row.len * d].copy_from_slice(&src[s..s + row.len * d]);
        }
    }
}

/// Copies row `b` of batch buffers [batch, kv_heads, t, head_dim] into a sequence
/// cache, keeping only the positions where `mask_row` is 1.
pub fn extract_row(
    shape: KvShape,
    buffers: &[&[f32]],
    t: usize,
    b: usize,
    mask_row: &[i64],
) -> SeqKv {
    let (h, d) = (shape.kv_heads, shape.head_dim);
    // Kept positions as runs [start, end): one run after left padding, a few more
    // when a prefill left pads between the cache and the new tokens.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (j, &m) in mask_row.iter().enumerate().take(t) {
        if m == 0 {
            continue;
        }
        match runs.last_mut() {
            Some((_, end)) if *end == j => *end = j + 1,
            _ => runs.push((j, j + 1)),
        }
    }
    let len: usize = runs.iter().map(|(a, b)| b - a).sum();
    let out = buffers
        .iter()
        .map(|src| {
            let mut dst = Vec::with_capacity(h * len * d);
            for head in 0..h {
                let base = (b * h + head) * t;
                for &(start, end) in &runs {
                    dst.extend_from_slice(&src[(base + start) * d..(base + end) * d]);
                }
            }
            dst
        })
        .collect();
    SeqKv { len, buffers: out }
}

/// Gathers rows `idx` (repeats allowed) of a batch buffer [batch, kv_heads, t, head_dim],
/// dropping the first `skip` positions (columns masked out for every kept row).
pub fn select_rows(shape: KvShape, src: &[f32], t: usize, idx: &[usize], skip: usize) -> Vec<f32> {
    let mut dst = vec![0.0; idx.len() * shape.kv_heads * (t - skip) * shape.head_dim];
    select_rows_into(shape, src, t, idx, skip, &mut dst);
    dst
}

/// [`select_rows`] written into `dst` ([idx.len(), kv_heads, t - skip, head_dim]).
pub fn select_rows_into(
    shape: KvShape,
    src: &[f32],
    t: usize,
    idx: &[usize],
    skip: usize,
    dst: &mut [f32],
) {
    let (h, d) = (shape.kv_heads, shape.head_dim);
    let run = (t - skip) * d;
    let mut at = 0;
    for &b in idx {
        for head in 0..h {
            let s = ((b * h + head) * t + skip) * d;
            dst[at..at + run].copy_from_slice(&src[s..s + run]);
            at += run;
        }
    }
}

/// Keys and values of a batch, held wherever its buffers live (for the models, ONNX
/// Runtime tensors in the model's memory: the GPU's on CUDA): 2 x layers buffers
/// [rows, kv_heads, len, head_dim]. Shared by the rows that keep their caches in it
/// ([`RowKv`]), and freed when the last of them lets go.
#[derive(Debug)]
pub struct KvBatch<T> {
    pub buffers: Vec<T>,
    pub dims: BatchDims,
}

/// One sequence's cache: a row of a shared batch and the positions of that row that
/// hold its tokens, in order. Cloning (a fork) shares the batch.
#[derive(Debug)]
pub struct RowKv<T> {
    pub batch: Arc<KvBatch<T>>,
    pub row: usize,
    pub positions: Vec<usize>,
}

impl<T> Clone for RowKv<T> {
    fn clone(&self) -> Self {
        RowKv {
            batch: Arc::clone(&self.batch),
            row: self.row,
            positions: self.positions.clone(),
        }
    }
}

impl<T> RowKv<T> {
    /// Every row of `batch` at `rows`, each with the positions where its mask row
    /// (`masks[b]`, the batch's attention mask) is 1.
    pub fn rows_of(batch: KvBatch<T>, rows: &[usize], masks: &[Vec<i64>]) -> Vec<RowKv<T>> {
        let batch = Arc::new(batch);
        rows.iter()
            .map(|&b| RowKv {
                batch: Arc::clone(&batch),
                row: b,
                positions: kept_positions(&masks[b]),
            })
            .collect()
    }

    /// Cached tokens.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether it holds no token.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The cache of the first `len` tokens only (`len` at most `self.len()`), in the
    /// same batch.
    pub fn truncated(&self, len: usize) -> RowKv<T> {
        let mut cut = self.clone();
        cut.positions.truncate(len);
        cut
    }
}

/// The index of `batch` in `sources`, compared by address (rows of one batch share
/// one source), appended when it is not there yet.
pub fn source_index<'a, T>(sources: &mut Vec<&'a KvBatch<T>>, batch: &'a KvBatch<T>) -> usize {
    match sources.iter().position(|&b| std::ptr::eq(b, batch)) {
        Some(i) => i,
        None => {
            sources.push(batch);
            sources.len() - 1
        }
    }
}

/// What stacking `rows` left-padded takes: the distinct batches they live in (in
/// order of first use), a [`GatherRow`] per row (`None`: no cache, all pads), and
/// the padded length P, the longest row's.
pub fn stack_plan<'a, T>(
    rows: &[Option<&'a RowKv<T>>],
) -> (Vec<&'a KvBatch<T>>, Vec<BatchDims>, Vec<GatherRow>) {
    let p = rows
        .iter()
        .map(|r| r.map_or(0, RowKv::len))
        .max()
        .unwrap_or(0);
    let mut sources: Vec<&KvBatch<T>> = Vec::new();
    let plan = rows
        .iter()
        .map(|r| match r {
            None => GatherRow {
                source: 0,
                row: 0,
                cols: vec![None; p],
            },
            Some(r) => GatherRow {
                source: source_index(&mut sources, &r.batch),
                row: r.row,
                cols: left_padded(&r.positions, p),
            },
        })
        .collect();
    let dims = sources.iter().map(|b| b.dims).collect();
    (sources, dims, plan)
}

/// Rows and positions of a source batch [rows, kv_heads, len, head_dim].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchDims {
    pub rows: usize,
    pub len: usize,
}

/// One row of a gathered batch: a row of a source batch, and for each of the new
/// batch's positions the source position copied there (`None`: a zero pad).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatherRow {
    pub source: usize,
    pub row: usize,
    pub cols: Vec<Option<usize>>,
}

/// `positions` right-aligned in `len` columns, pads first (the layout of
/// [`stack_left_padded`]).
pub fn left_padded(positions: &[usize], len: usize) -> Vec<Option<usize>> {
    let pad = len.saturating_sub(positions.len());
    let mut cols = vec![None; pad];
    cols.extend(positions.iter().map(|&p| Some(p)));
    cols
}

/// `positions` from the first column of `len`, pads after: the layout of a shared
/// past/present buffer (GenAI graphs), whose rows are right-padded.
pub fn right_padded(positions: &[usize], len: usize) -> Vec<Option<usize>> {
    let mut cols: Vec<Option<usize>> = positions.iter().map(|&p| Some(p)).collect();
    cols.resize(len.max(positions.len()), None);
    cols
}

/// The positions of a batch row whose attention-mask row is `mask_row`: where it is 1.
pub fn kept_positions(mask_row: &[i64]) -> Vec<usize> {
    mask_row
        .iter()
        .enumerate()
        .filter(|&(_, &m)| m != 0)
        .map(|(j, _)| j)
        .collect()
}

/// A copy of rows and positions from source batches into a new batch
/// [rows, kv_heads, len, head_dim]: `index` ([rows, kv_heads, len]) picks rows of
/// head_dim values from the sources' buffers flattened and concatenated in order,
/// and `keep` ([rows, len]) is 0 at pads, which come out zero.
#[derive(Clone, Debug, PartialEq)]
pub struct GatherPlan {
    pub rows: usize,
    pub len: usize,
    pub index: Vec<i64>,
    pub keep: Vec<f32>,
}

impl GatherPlan {
    /// Plans `rows` (each with the same number of columns) out of `sources`.
    /// Panics on a row or position outside its source: callers build the rows from
    /// the sources' own dimensions.
    pub fn new(shape: KvShape, sources: &[BatchDims], rows: &[GatherRow]) -> GatherPlan {
        let h = shape.kv_heads;
        let len = rows.first().map_or(0, |r| r.cols.len());
        if sources.is_empty() {
            // Nothing to read from: every column is a pad.
            assert!(rows.iter().all(|r| r.cols.iter().all(Option::is_none)));
            return GatherPlan {
                rows: rows.len(),
                len,
                index: vec![0; rows.len() * h * len],
                keep: vec![0.0; rows.len() * len],
            };
        }
        let mut offsets = Vec::with_capacity(sources.len());
        let mut at = 0;
        for s in sources {
            offsets.push(at);
            at += s.rows * h * s.len;
        }
        let mut index = Vec::with_capacity(rows.len() * h * len);
        let mut keep = Vec::with_capacity(rows.len() * len);
        for r in rows {
            assert_eq!(r.cols.len(), len, "every gathered row has the same length");
            let src = sources[r.source];
            assert!(
                r.row < src.rows,
                "row {} of a {}-row source",
                r.row,
                src.rows
            );
            for head in 0..h {
                let base = offsets[r.source] + (r.row * h + head) * src.len;
                index.extend(r.cols.iter().map(|c| match c {
                    Some(t) => {
                        assert!(*t < src.len, "position {t} of a {}-long source", src.len);
                        (base + t) as i64
                    }
                    // Any valid row: `keep` zeroes it.
                    None => 0,
                }));
            }
            keep.extend(r.cols.iter().map(|c| if c.is_some() { 1.0 } else { 0.0 }));
        }
        GatherPlan {
            rows: rows.len(),
            len,
            index,
            keep,
        }
    }

    /// The gathered tensor's shape [rows, kv_heads, len, head_dim].
    pub fn shape(&self, shape: KvShape) -> [usize; 4] {
        [self.rows, shape.kv_heads, self.len, shape.head_dim]
    }

    /// The copy on host data: `sources` are one buffer of each source batch, in order.
    pub fn apply(&self, shape: KvShape, sources: &[&[f32]]) -> Vec<f32> {
        let (h, d) = (shape.kv_heads, shape.head_dim);
        let flat: Vec<f32> = sources.concat();
        let mut out = Vec::with_capacity(self.rows * h * self.len * d);
        for (i, &ix) in self.index.iter().enumerate() {
            let (r, j) = (i / (h * self.len), i % self.len);
            if self.keep[r * self.len + j] == 0.0 {
                out.extend(std::iter::repeat_n(0.0, d));
            } else {
                let ix = ix as usize * d;
                out.extend_from_slice(&flat[ix..ix + d]);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SHAPE: KvShape = KvShape {
        layers: 2,
        kv_heads: 2,
        head_dim: 3,
    };

    fn seq(len: usize, tag: f32) -> SeqKv {
        let n = SHAPE.kv_heads * len * SHAPE.head_dim;
        SeqKv {
            len,
            buffers: (0..2 * SHAPE.layers)
                .map(|b| (0..n).map(|i| tag + b as f32 * 1000.0 + i as f32).collect())
                .collect(),
        }
    }

    #[test]
    fn right_padded_rows_start_at_the_first_column() {
        assert_eq!(right_padded(&[4, 5], 4), [Some(4), Some(5), None, None]);
        assert_eq!(left_padded(&[4, 5], 4), [None, None, Some(4), Some(5)]);
        // A right-padded gather copies the row to the front and zeroes the rest.
        let src = seq(3, 0.0);
        let (p, stacked) = stack_left_padded(SHAPE, &[&src]);
        let plan = GatherPlan::new(
            SHAPE,
            &[BatchDims { rows: 1, len: p }],
            &[GatherRow {
                source: 0,
                row: 0,
                cols: right_padded(&[0, 1, 2], 5),
            }],
        );
        let out = plan.apply(SHAPE, &[&stacked[0]]);
        let d = SHAPE.head_dim;
        for head in 0..SHAPE.kv_heads {
            let row = &out[head * 5 * d..(head + 1) * 5 * d];
            assert_eq!(
                row[..3 * d],
                src.buffers[0][head * 3 * d..(head + 1) * 3 * d]
            );
            assert!(row[3 * d..].iter().all(|&x| x == 0.0));
        }
    }

    proptest! {
        /// Stacking then extracting with the matching mask gives every cache back.
        #[test]
        fn stack_then_extract_round_trips(lens in proptest::collection::vec(0usize..6, 1..5)) {
            let rows: Vec<SeqKv> = lens.iter().enumerate().map(|(i, &l)| seq(l, i as f32 * 10_000.0)).collect();
            let refs: Vec<&SeqKv> = rows.iter().collect();
            let (p, bufs) = stack_left_padded(SHAPE, &refs);
            let slices: Vec<&[f32]> = bufs.iter().map(Vec::as_slice).collect();
            for (b, row) in rows.iter().enumerate() {
                let mask: Vec<i64> = (0..p).map(|j| i64::from(j >= p - row.len)).collect();
                prop_assert_eq!(kept_positions(&mask), (p - row.len..p).collect::<Vec<_>>());
                prop_assert_eq!(&extract_row(SHAPE, &slices, p, b, &mask), row);
            }
        }

        /// Truncating keeps each head's first positions, in order.
        #[test]
        fn truncation_keeps_the_first_positions(len in 0usize..6, keep in 0usize..8) {
            let row = seq(len, 0.0);
            let cut = row.clone().truncated(SHAPE, keep);
            let kept = keep.min(len);
            prop_assert_eq!(cut.len, kept);
            for (full, short) in row.buffers.iter().zip(&cut.buffers) {
                for head in 0..SHAPE.kv_heads {
                    let a = &full[head * len * SHAPE.head_dim..][..kept * SHAPE.head_dim];
                    let b = &short[head * kept * SHAPE.head_dim..][..kept * SHAPE.head_dim];
                    prop_assert_eq!(a, b);
                }
            }
            prop_assert_eq!(cut.bytes(), kept * SHAPE.bytes_per_token());
        }

        /// A plan of each row's kept positions, left-padded, stacks like
        /// [`stack_left_padded`] from batches made of those rows (two sources).
        #[test]
        fn gather_plans_stack_like_the_host(lens in proptest::collection::vec(0usize..6, 1..5), split in 0usize..5) {
            let rows: Vec<SeqKv> = lens.iter().enumerate().map(|(i, &l)| seq(l, i as f32 * 10_000.0)).collect();
            let refs: Vec<&SeqKv> = rows.iter().collect();
            let (p, want) = stack_left_padded(SHAPE, &refs);
            // The rows as two stacked source batches, the second shifted right by
            // one pad column (so positions differ from row to row).
            let split = split.min(rows.len());
            let (a, b) = (&refs[..split], &refs[split..]);
            let (pa, bufs_a) = stack_left_padded(SHAPE, a);
            let (pb0, bufs_b0) = stack_left_padded(SHAPE, b);
            let pb = pb0 + 1;
            let bufs_b: Vec<Vec<f32>> = bufs_b0.iter().map(|buf| {
                if pb0 == 0 {
                    return vec![7.0; b.len() * SHAPE.kv_heads * SHAPE.head_dim];
                }
                let mut out = Vec::new();
                for chunk in buf.chunks(pb0 * SHAPE.head_dim) {
                    out.extend(vec![7.0; SHAPE.head_dim]);
                    out.extend_from_slice(chunk);
                }
                out
            }).collect();
            let dims = [BatchDims { rows: a.len(), len: pa }, BatchDims { rows: b.len(), len: pb }];
            let plan_rows: Vec<GatherRow> = refs.iter().enumerate().map(|(i, r)| {
                let (source, row, len) = if i < split { (0, i, pa) } else { (1, i - split, pb) };
                let positions: Vec<usize> = (len - r.len..len).collect();
                GatherRow { source, row, cols: left_padded(&positions, p) }
            }).collect();
            let plan = GatherPlan::new(SHAPE, &dims, &plan_rows);
            prop_assert_eq!(plan.shape(SHAPE), [rows.len(), SHAPE.kv_heads, p, SHAPE.head_dim]);
            for (i, want_buf) in want.iter().enumerate() {
                let got = plan.apply(SHAPE, &[&bufs_a[i], &bufs_b[i]]);
                prop_assert_eq!(&got, want_buf);
            }
        }

        /// Rows kept in shared batches stack like their host copies; rows without a
        /// cache are all pads; truncation keeps the first positions.
        #[test]
        fn row_caches_stack_like_their_host_copies(lens in proptest::collection::vec(0usize..6, 1..6), none_at in 0usize..8, cut in 0usize..6) {
            let rows: Vec<SeqKv> = lens.iter().enumerate().map(|(i, &l)| seq(l, i as f32 * 10_000.0)).collect();
            // Two source batches, alternating rows, each row right-aligned with a
            // mask of its positions.
            let mut halves: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
            for i in 0..rows.len() { halves[i % 2].push(i); }
            let mut kept: Vec<Option<RowKv<Vec<f32>>>> = vec![None; rows.len()];
            for half in &halves {
                let refs: Vec<&SeqKv> = half.iter().map(|&i| &rows[i]).collect();
                let (p, bufs) = stack_left_padded(SHAPE, &refs);
                let masks: Vec<Vec<i64>> = refs.iter().map(|r| (0..p).map(|j| i64::from(j >= p - r.len)).collect()).collect();
                let batch = KvBatch { buffers: bufs, dims: BatchDims { rows: refs.len(), len: p } };
                let idx: Vec<usize> = (0..refs.len()).collect();
                for (k, r) in RowKv::rows_of(batch, &idx, &masks).into_iter().enumerate() {
                    prop_assert_eq!(r.len(), refs[k].len);
                    kept[half[k]] = Some(r);
                }
            }
            // One row carries no cache, one is cut short.
            let mut want_rows = rows.clone();
            if none_at < rows.len() { kept[none_at] = None; want_rows[none_at] = SeqKv::empty(SHAPE); }
            let last = rows.len() - 1;
            if let Some(r) = kept[last].as_mut() {
                *r = r.truncated(cut);
                want_rows[last] = want_rows[last].clone().truncated(SHAPE, cut);
            }
            let refs: Vec<Option<&RowKv<Vec<f32>>>> = kept.iter().map(Option::as_ref).collect();
            let (sources, dims, plan_rows) = stack_plan(&refs);
            let plan = GatherPlan::new(SHAPE, &dims, &plan_rows);
            let want_refs: Vec<&SeqKv> = want_rows.iter().collect();
            let (p, want) = stack_left_padded(SHAPE, &want_refs);
            prop_assert_eq!(plan.len, p);
            for (i, w) in want.iter().enumerate() {
                let srcs: Vec<&[f32]> = sources.iter().map(|b| b.buffers[i].as_slice()).collect();
                prop_assert_eq!(&plan.apply(SHAPE, &srcs), w);
            }
        }

        /// Selecting rows then extracting equals extracting from the source row.
        #[test]
        fn select_keeps_rows_intact(lens in proptest::collection::vec(1usize..6, 2..5), pick in proptest::collection::vec(0usize..4, 1..6)) {
            let rows: Vec<SeqKv> = lens.iter().enumerate().map(|(i, &l)| seq(l, i as f32 * 10_000.0)).collect();
            let refs: Vec<&SeqKv> = rows.iter().collect();
            let (p, bufs) = stack_left_padded(SHAPE, &refs);
            let idx: Vec<usize> = pick.iter().map(|&i| i % rows.len()).collect();
            let min_len = idx.iter().map(|&i| rows[i].len).max().unwrap();
            let skip = p - min_len;
            let sel: Vec<Vec<f32>> = bufs.iter().map(|b| select_rows(SHAPE, b, p, &idx, skip)).collect();
            // The same selection as a gather plan.
            let plan_rows: Vec<GatherRow> = idx.iter().map(|&row| GatherRow { source: 0, row, cols: (skip..p).map(Some).collect() }).collect();
            let plan = GatherPlan::new(SHAPE, &[BatchDims { rows: rows.len(), len: p }], &plan_rows);
            for (b, s) in bufs.iter().zip(&sel) {
                prop_assert_eq!(&plan.apply(SHAPE, &[b]), s);
            }
            let slices: Vec<&[f32]> = sel.iter().map(Vec::as_slice).collect();
            for (k, &i) in idx.iter().enumerate() {
                let mask: Vec<i64> = (0..p - skip).map(|j| i64::from(j + skip >= p - rows[i].len)).collect();
                prop_assert_eq!(&extract_row(SHAPE, &slices, p - skip, k, &mask), &rows[i]);
            }
        }
    }
}
