//! KV-cache bookkeeping as plain data: one sequence's cache without padding, and
//! the copies between it and left-padded batch tensors [batch, kv_heads, len, head_dim]
//! (the layout of Optimum's `past_key_values.{i}.key` / `.value` inputs and
//! `present.*` outputs). The generator and the reward models share it.

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
            let slices: Vec<&[f32]> = sel.iter().map(Vec::as_slice).collect();
            for (k, &i) in idx.iter().enumerate() {
                let mask: Vec<i64> = (0..p - skip).map(|j| i64::from(j + skip >= p - rows[i].len)).collect();
                prop_assert_eq!(&extract_row(SHAPE, &slices, p - skip, k, &mask), &rows[i]);
            }
        }
    }
}
