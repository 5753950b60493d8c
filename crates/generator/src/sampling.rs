//! Drawing the next token from one row of logits.

use ttc_core::{SamplingParams, SeqRng};

/// Index of the largest logit; the lowest index wins ties, as argmax does in torch.
pub(crate) fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in logits.iter().enumerate() {
        if x > logits[best] {
            best = i;
        }
    }
    best
}

/// exp(x) for x <= 0, to a relative error of about 2e-7 x (1 + |x log2 e|), in a form the compiler
/// vectorises (libm's expf is a call per element and dominated the decode loop).
#[inline]
fn exp_nonpositive(x: f32) -> f32 {
    // 2^t with t = x log2(e), split as 2^i x 2^f with i = round(t), f in [-0.5, 0.5],
    // where the Taylor series of 2^f to degree 6 is within 2e-8.
    let t = (x * std::f32::consts::LOG2_E).max(-125.0);
    let i = (t - 0.5) as i32;
    let f = t - i as f32;
    let p = 1.0
        + f * (0.693_147_2
            + f * (0.240_226_5
                + f * (0.055_504_11
                    + f * (0.009_618_129 + f * (0.001_333_355_8 + f * 0.000_154_035_3)))));
    f32::from_bits(((i + 127) as u32) << 23) * p
}

/// log softmax(logits)[token], computed stably.
pub(crate) fn logprob(logits: &[f32], token: usize) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // Eight running sums let the compiler vectorise (one strict-order sum cannot be).
    let mut lanes = [0.0f32; 8];
    let chunks = logits.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += exp_nonpositive(x - max);
        }
    }
    let sum: f32 =
        lanes.iter().sum::<f32>() + rest.iter().map(|&x| exp_nonpositive(x - max)).sum::<f32>();
    logits[token] - max - sum.ln()
}

/// Draws a token: greedy at temperature 0, else from softmax(logits / T) restricted
/// by top-k and top-p, using one uniform draw from the sequence's own stream (so
/// sampling consumes the stream identically whatever the distribution).
pub(crate) fn sample(logits: &[f32], params: &SamplingParams, rng: &mut SeqRng) -> usize {
    let u = rng.next_f64();
    if params.temperature == 0.0 {
        return argmax(logits);
    }
    let inv_t = 1.0 / params.temperature as f64;
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    // Candidates in descending probability when a filter needs the order, else in index order.
    let mut cand: Vec<(usize, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &x)| (i, ((x as f64 - max) * inv_t).exp()))
        .collect();
    let filtered = params.top_k > 0 && params.top_k < cand.len() || params.top_p < 1.0;
    if filtered {
        let by_prob_desc =
            |a: &(usize, f64), b: &(usize, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if params.top_k > 0 && params.top_k < cand.len() {
            cand.select_nth_unstable_by(params.top_k - 1, by_prob_desc);
            cand.truncate(params.top_k);
        }
        cand.sort_unstable_by(by_prob_desc);
        if params.top_p < 1.0 {
            let total: f64 = cand.iter().map(|c| c.1).sum();
            let mut acc = 0.0;
            let mut keep = cand.len();
            for (i, c) in cand.iter().enumerate() {
                acc += c.1 / total;
                if acc >= params.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            cand.truncate(keep);
        }
    }
    let total: f64 = cand.iter().map(|c| c.1).sum();
    let target = u * total;
    let mut acc = 0.0;
    for &(i, w) in &cand {
        acc += w;
        if target < acc {
            return i;
        }
    }
    cand.last().map_or(0, |c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn greedy_takes_first_maximum() {
        let mut rng = SeqRng::new(0);
        assert_eq!(
            sample(&[0.1, 3.0, 3.0, -1.0], &SamplingParams::GREEDY, &mut rng),
            1
        );
    }

    #[test]
    fn fast_exp_is_accurate() {
        // Down to exp(-85); below, results are clamped near 2^-125 (as good as zero here).
        assert!(exp_nonpositive(-200.0) < 1e-37);
        for k in 0..=17_000 {
            let x = -(k as f32) * 0.005;
            let (a, b) = (exp_nonpositive(x), x.exp());
            // f32 rounding of x log2(e) alone costs about 1e-7 x |x log2 e| relative.
            let tolerance = 2e-7 * (1.0 + (x * std::f32::consts::LOG2_E).abs());
            assert!(
                (a - b).abs() <= tolerance * b + 1e-38,
                "x = {x}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn logprob_matches_softmax() {
        let l = [1.0f32, 2.0, 3.0];
        let z: f32 = l.iter().map(|x| x.exp()).sum();
        assert!((logprob(&l, 2) - (3.0f32.exp() / z).ln()).abs() < 1e-6);
    }

    #[test]
    fn sampling_frequencies_follow_the_distribution() {
        let logits = [0.0f32, (2.0f32).ln(), (3.0f32).ln()];
        let mut rng = SeqRng::new(42);
        let mut counts = [0usize; 3];
        let n = 60_000;
        for _ in 0..n {
            counts[sample(&logits, &SamplingParams::with_temperature(1.0), &mut rng)] += 1;
        }
        for (c, p) in counts.iter().zip([1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0]) {
            assert!(((*c as f64 / n as f64) - p).abs() < 0.01, "{counts:?}");
        }
    }

    proptest! {
        #[test]
        fn top_k_only_returns_the_k_best(logits in proptest::collection::vec(-5.0f32..5.0, 2..40), k in 1usize..5, seed: u64) {
            let params = SamplingParams { temperature: 1.0, top_k: k, top_p: 1.0 };
            let mut rng = SeqRng::new(seed);
            let t = sample(&logits, &params, &mut rng);
            let better = logits.iter().filter(|&&x| x > logits[t]).count();
            prop_assert!(better < k);
        }

        #[test]
        fn tiny_top_p_is_greedy(logits in proptest::collection::vec(-5.0f32..5.0, 2..40), seed: u64) {
            let params = SamplingParams { temperature: 0.7, top_k: 0, top_p: 1e-6 };
            let mut rng = SeqRng::new(seed);
            let t = sample(&logits, &params, &mut rng);
            prop_assert_eq!(logits[t], logits[argmax(&logits)]);
        }
    }
}
