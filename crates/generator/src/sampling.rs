//! Drawing the next token from one row of logits, with its log-probability.

use ttc_core::{SamplingParams, SeqRng};

/// exp(x) for x <= 0, to a relative error of about 2e-7 x (1 + |x log2 e|), in a form
/// the compiler vectorises (libm's expf is a call per element and dominated decoding).
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    // 2^t with t = x log2(e), split as 2^i x 2^f with i = round(t), f in [-0.5, 0.5],
    // where the Taylor series of 2^f to degree 6 is within 2e-8.
    let t = (x * std::f32::consts::LOG2_E).max(-125.0);
    let i = (t - 0.5) as i32;
    let f = t - i as f32;
    let p = 1.0
        + f * (std::f32::consts::LN_2
            + f * (0.240_226_5
                + f * (0.055_504_11
                    + f * (0.009_618_129 + f * (0.001_333_355_8 + f * 0.000_154_035_3)))));
    f32::from_bits(((i + 127) as u32) << 23) * p
}

/// The largest logit (NaN ignored), in a vectorisable fold.
fn max_of(logits: &[f32]) -> f32 {
    logits.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// sum exp((x - max) * scale) over the row. On x86-64 CPUs with AVX2 the same code
/// runs in 8-wide registers; without FMA contraction every operation rounds as in
/// the portable path, so results are bit-identical either way.
fn sum_exp(logits: &[f32], max: f32, scale: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { sum_exp_avx2(logits, max, scale) };
    }
    sum_exp_lanes(logits, max, scale)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_exp_avx2(logits: &[f32], max: f32, scale: f32) -> f32 {
    sum_exp_lanes(logits, max, scale)
}

/// Eight running sums so that the compiler vectorises the loop (one strict-order
/// sum cannot be).
#[inline(always)]
fn sum_exp_lanes(logits: &[f32], max: f32, scale: f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = logits.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane += exp_nonpositive((x - max) * scale);
        }
    }
    lanes.iter().sum::<f32>()
        + rest
            .iter()
            .map(|&x| exp_nonpositive((x - max) * scale))
            .sum::<f32>()
}

/// Draws a token and returns it with its natural-log probability under the model's
/// distribution (temperature 1, before top-k/top-p). Greedy at temperature 0 (the
/// lowest index wins ties, as torch's argmax); otherwise from softmax(logits / T)
/// restricted by top-k and top-p. Every draw takes one uniform number from the
/// sequence's own stream, so the stream advances the same way whatever the settings.
pub(crate) fn draw(logits: &[f32], params: &SamplingParams, rng: &mut SeqRng) -> (usize, f32) {
    let u = rng.next_f64();
    let max = max_of(logits);
    let log_z = max + sum_exp(logits, max, 1.0).ln();
    let token = if params.temperature == 0.0 {
        logits.iter().position(|&x| x == max).unwrap_or(0)
    } else {
        sample(logits, max, params, u)
    };
    (token, logits[token] - log_z)
}

fn sample(logits: &[f32], max: f32, params: &SamplingParams, u: f64) -> usize {
    let inv_t = 1.0 / params.temperature;
    let top_k = params.top_k > 0 && params.top_k < logits.len();
    if !top_k && params.top_p >= 1.0 {
        // Plain sampling: inverse CDF over the whole row, no sorting.
        let total = sum_exp(logits, max, inv_t) as f64;
        let target = u * total;
        let mut acc = 0.0f64;
        for (i, &x) in logits.iter().enumerate() {
            acc += f64::from(exp_nonpositive((x - max) * inv_t));
            if target < acc {
                return i;
            }
        }
        return logits.len() - 1;
    }
    let mut cand: Vec<(usize, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &x)| (i, exp_nonpositive((x - max) * inv_t)))
        .collect();
    let by_prob_desc = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if top_k {
        cand.select_nth_unstable_by(params.top_k - 1, by_prob_desc);
        cand.truncate(params.top_k);
    }
    cand.sort_unstable_by(by_prob_desc);
    if params.top_p < 1.0 {
        let total: f64 = cand.iter().map(|c| f64::from(c.1)).sum();
        let mut acc = 0.0;
        let mut keep = cand.len();
        for (i, c) in cand.iter().enumerate() {
            acc += f64::from(c.1) / total;
            if acc >= f64::from(params.top_p) {
                keep = i + 1;
                break;
            }
        }
        cand.truncate(keep);
    }
    let total: f64 = cand.iter().map(|c| f64::from(c.1)).sum();
    let target = u * total;
    let mut acc = 0.0;
    for &(i, w) in &cand {
        acc += f64::from(w);
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

    fn token(logits: &[f32], params: &SamplingParams, rng: &mut SeqRng) -> usize {
        draw(logits, params, rng).0
    }

    #[test]
    fn simd_and_portable_sums_agree_bit_for_bit() {
        let l: Vec<f32> = (0..1003)
            .map(|i| ((i * 7919) % 1000) as f32 * 0.013 - 6.0)
            .collect();
        let max = max_of(&l);
        for scale in [1.0f32, 1.25, 0.7] {
            assert_eq!(
                sum_exp(&l, max, scale).to_bits(),
                sum_exp_lanes(&l, max, scale).to_bits()
            );
        }
    }

    #[test]
    fn greedy_takes_first_maximum() {
        let mut rng = SeqRng::new(0);
        assert_eq!(
            token(&[0.1, 3.0, 3.0, -1.0], &SamplingParams::GREEDY, &mut rng),
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
        let l: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin() * 4.0).collect();
        let z: f64 = l.iter().map(|&x| f64::from(x).exp()).sum();
        for temperature in [0.0, 0.7, 1.3] {
            let mut rng = SeqRng::new(5);
            let (t, lp) = draw(&l, &SamplingParams::with_temperature(temperature), &mut rng);
            assert!((f64::from(lp) - (f64::from(l[t]).exp() / z).ln()).abs() < 1e-5);
        }
    }

    #[test]
    fn sampling_frequencies_follow_the_distribution() {
        let logits = [0.0f32, (2.0f32).ln(), (3.0f32).ln()];
        for params in [
            SamplingParams::with_temperature(1.0),
            SamplingParams {
                temperature: 1.0,
                top_k: 3,
                top_p: 1.0,
            },
        ] {
            let mut rng = SeqRng::new(42);
            let mut counts = [0usize; 3];
            let n = 60_000;
            for _ in 0..n {
                counts[token(&logits, &params, &mut rng)] += 1;
            }
            for (c, p) in counts.iter().zip([1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0]) {
                assert!(((*c as f64 / n as f64) - p).abs() < 0.01, "{counts:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn top_k_only_returns_the_k_best(logits in proptest::collection::vec(-5.0f32..5.0, 2..40), k in 1usize..5, seed: u64) {
            let params = SamplingParams { temperature: 1.0, top_k: k, top_p: 1.0 };
            let mut rng = SeqRng::new(seed);
            let t = token(&logits, &params, &mut rng);
            let better = logits.iter().filter(|&&x| x > logits[t]).count();
            prop_assert!(better < k);
        }

        #[test]
        fn tiny_top_p_is_greedy(logits in proptest::collection::vec(-5.0f32..5.0, 2..40), seed: u64) {
            let params = SamplingParams { temperature: 0.7, top_k: 0, top_p: 1e-6 };
            let mut rng = SeqRng::new(seed);
            let t = token(&logits, &params, &mut rng);
            prop_assert_eq!(logits[t], max_of(&logits));
        }
    }
}
