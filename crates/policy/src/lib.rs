//! The compute-optimal policy (docs/method.md §5, §6): which setting to run for a
//! question of a given difficulty at a given budget.
//!
//! 1. **Sweep** ([`Sweep`], JSON Lines): one [`SweepRecord`] per (question, setting,
//!    budget, seed): the question's difficulty bin, the setting (core's
//!    [`ttc_core::MethodId`]), the budget N in generations, whether the answer was
//!    correct, and what it cost ([`Cost`]: generations, generated tokens, FLOPs).
//! 2. **Fit** ([`fit`]): for each (bin, budget) the setting with the highest
//!    accuracy, ties to lower mean compute then name. Questions are split into two
//!    folds by a seeded hash of their id ([`Folds`], stratified by bin); the setting
//!    chosen on one fold is scored on the other, both ways, and the mean is the
//!    cell's held-out accuracy, the number to report. The policy itself is chosen on
//!    all questions.
//! 3. **Policy file** ([`Policy`], TOML, format [`POLICY_FORMAT`]): provenance
//!    filled by the caller, the difficulty edges the bins came from
//!    (`ttc_difficulty::BinEdges`), how it was fitted, and one [`Choice`]
//!    per (bin, budget). [`Policy::choose`] applies it: the choice at the largest
//!    fitted budget not above the requested one; [`Policy::apply`] adds the split
//!    of the budget between the difficulty probe and the choice.
//! 5. **The probe rule** ([`probe_rule`]): one rule for the probe, used by the fit
//!    ([`under_probe`] puts a sweep under it) and at inference ([`probe_split`]):
//!    the probe is paid from N and best-of-N settings reuse its samples.
//! 6. **Judged against fixed settings** ([`judge`]): at each budget, the policy's
//!    held-out outcome per question beside the best single setting chosen on the
//!    same folds and a named one (always beam search), in generations and FLOPs.
//! 4. **Report helpers**: [`efficiency`] (the budget a baseline needs to match the
//!    policy's accuracy, interpolated in log2 budget: the "4x less compute" figure)
//!    and [`flops_match`] (the FLOPs-matched generation budget against a larger
//!    model).
//!
//! It reads difficulty bins from the sweep, and its policy files hold
//! `ttc-difficulty`'s bin edges; it runs no model. The policy file is a data
//! artifact this crate owns (like a dataset file), not run configuration, so it is
//! read here, with `deny_unknown_fields`, and checked as it is read.

mod efficiency;
mod file;
mod fit;
mod flops;
mod folds;
mod judge;
pub mod probe_rule;
mod sweep;

pub use efficiency::{Curve, Efficiency, MatchedBudget, efficiency};
pub use file::{Applied, Choice, FitSummary, Lookup, POLICY_FORMAT, Policy, Provenance};
pub use fit::{Cell, Fit, FitOptions, FoldChoice, MeanCost, SettingScore, fit};
pub use flops::{FlopsMatch, flops_match, inference_multiplier};
pub use folds::{Fold, Folds, question_hash};
pub use judge::{Arm, HeldOut, Judged, Pick, judge};
pub use probe_rule::{probe_split, under_probe};
pub use sweep::{Cost, Sweep, SweepRecord};
