//! Correctness transitions within revision chains, counted with the
//! [`Transitions`] of `ttc-core`.

use ttc_core::Transitions;

use crate::{Attempt, Chain};

/// The transitions within each chain; `correct` decides an attempt (an attempt
/// without an answer should count as incorrect).
pub fn chain_transitions(chains: &[Chain], correct: impl Fn(&Attempt) -> bool) -> Transitions {
    Transitions::of_sequences(
        chains
            .iter()
            .map(|c| c.attempts.iter().map(&correct).collect::<Vec<bool>>()),
    )
}
