//! FLOPs-matched comparison against a larger model (docs/method.md §6).
//!
//! Pretraining a model of N parameters on D_pretrain tokens costs X = 6 N D_pretrain
//! FLOPs; serving D_inference tokens costs Y = 2 N D_inference. A model M times
//! larger, trained on the same data, costs M (X + Y). The small model matches that
//! total when its inference spends k times more tokens, with
//!
//! ```text
//! 6 N D_p + 2 N k D_i = M (6 N D_p + 2 N D_i)   =>   k = M + 3 (D_p / D_i) (M - 1)
//!                                                      = M + 3 (M - 1) / R,  R = D_i / D_p
//! ```
//!
//! Against the large model's greedy answer (one generation per question), k is the
//! small model's generation budget per question. With M = 14:
//!
//! | R | k | floor | nearest power of two (log2) | largest power of two <= k |
//! |---|---|---|---|---|
//! | 0.16 | 257.75 | 257 | 256 | 256 |
//! | 0.79 | 63.367 | 63 | 64 | 32 |
//! | 22 | 15.773 | 15 | 16 | 8 |
//!
//! The paper's "roughly 256, 64, 16 generations" are the nearest powers of two; 64
//! and 16 slightly exceed the matched FLOPs (by 1.0% and 1.4%).

use serde::{Deserialize, Serialize};
use ttc_core::{Error, Result};

/// The small model's FLOPs-matched inference budget against an M-times larger model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlopsMatch {
    /// M: the larger model's parameters over the small model's.
    pub model_ratio: f64,
    /// R: inference tokens over pretraining tokens.
    pub data_ratio: f64,
    /// k = M + 3 (M - 1) / R: inference compute the small model may spend, as a
    /// multiple of the larger model's. Against greedy decoding, generations per question.
    pub multiplier: f64,
    /// The largest whole number of generations within the matched FLOPs: floor(k).
    pub budget_within: usize,
    /// k rounded to the nearest power of two in log2 (the budgets sweeps use).
    pub budget_power_of_two: usize,
    /// The largest power of two not above k.
    pub budget_power_of_two_within: usize,
}

/// The inference multiplier k = M + 3 (M - 1) / R (docs/method.md §6). `m` must be at least
/// 1 (the other model is larger) and `r` positive, both finite.
pub fn inference_multiplier(m: f64, r: f64) -> Result<f64> {
    if !(m.is_finite() && m >= 1.0) {
        return Err(Error::invalid(
            "model size ratio M",
            format!(
                "{m}; it is the larger model's parameter count over the small one's, at least 1"
            ),
        ));
    }
    if !(r.is_finite() && r > 0.0) {
        return Err(Error::invalid(
            "data ratio R",
            format!(
                "{r}; it is D_inference / D_pretrain, a positive number (the paper uses 0.16, 0.79, 22)"
            ),
        ));
    }
    Ok(m + 3.0 * (m - 1.0) / r)
}

/// The FLOPs-matched generation budget for the small model against an `m`-times
/// larger model decoding greedily, at data ratio `r`.
pub fn flops_match(m: f64, r: f64) -> Result<FlopsMatch> {
    let k = inference_multiplier(m, r)?;
    let log = k.log2();
    Ok(FlopsMatch {
        model_ratio: m,
        data_ratio: r,
        multiplier: k,
        budget_within: k.floor() as usize,
        budget_power_of_two: 1usize << (log.round() as u32),
        budget_power_of_two_within: 1usize << (log.floor() as u32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_papers_three_regimes() {
        let cases = [
            (0.16, 257.75, 257, 256, 256),
            (0.79, 63.367_088_607_594_94, 63, 64, 32),
            (22.0, 15.772_727_272_727_273, 15, 16, 8),
        ];
        for (r, k, within, pow2, pow2_within) in cases {
            let m = flops_match(14.0, r).unwrap();
            assert!((m.multiplier - k).abs() < 1e-9, "R = {r}: {}", m.multiplier);
            assert_eq!(m.budget_within, within, "R = {r}");
            assert_eq!(m.budget_power_of_two, pow2, "R = {r}");
            assert_eq!(m.budget_power_of_two_within, pow2_within, "R = {r}");
        }
    }

    #[test]
    fn the_multiplier_matches_the_flops() {
        // Check the closed form against the FLOPs it claims to balance.
        let (n, d_p) = (1.0e9, 1.0e12);
        for (m, r) in [(14.0, 0.16), (2.0, 1.0), (4.0, 7.5), (1.0, 3.0)] {
            let d_i = r * d_p;
            let k = inference_multiplier(m, r).unwrap();
            let small = 6.0 * n * d_p + 2.0 * n * k * d_i;
            let large = m * (6.0 * n * d_p + 2.0 * n * d_i);
            assert!((small - large).abs() / large < 1e-12, "M {m} R {r}");
        }
        // Same size: no extra inference.
        assert_eq!(inference_multiplier(1.0, 0.5).unwrap(), 1.0);
    }

    #[test]
    fn impossible_ratios_are_refused() {
        let err = inference_multiplier(0.5, 1.0).unwrap_err();
        assert!(err.to_string().contains("model size ratio M: 0.5"), "{err}");
        let err = inference_multiplier(14.0, 0.0).unwrap_err();
        assert!(err.to_string().contains("data ratio R: 0"), "{err}");
        assert!(inference_multiplier(f64::NAN, 1.0).is_err());
        assert!(flops_match(14.0, f64::INFINITY).is_err());
    }
}
