//! How correctness changes from one revision attempt to the next (docs/method.md §3:
//! about 38% of correct answers are turned incorrect by the next revision).

use serde::{Deserialize, Serialize};

/// Counts of consecutive attempt pairs (attempt i, attempt i + 1 of the same chain)
/// by the correctness of each. Add counts over questions with [`Transitions::absorb`];
/// the evaluation records one per revision run ([`crate::EvalRecord::transitions`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transitions {
    pub correct_to_correct: usize,
    pub correct_to_incorrect: usize,
    pub incorrect_to_correct: usize,
    pub incorrect_to_incorrect: usize,
}

impl Transitions {
    /// The transitions within each sequence of correctness values.
    pub fn of_sequences<I, S>(sequences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[bool]>,
    {
        let mut t = Transitions::default();
        for s in sequences {
            for w in s.as_ref().windows(2) {
                match (w[0], w[1]) {
                    (true, true) => t.correct_to_correct += 1,
                    (true, false) => t.correct_to_incorrect += 1,
                    (false, true) => t.incorrect_to_correct += 1,
                    (false, false) => t.incorrect_to_incorrect += 1,
                }
            }
        }
        t
    }

    /// Adds another count to this one.
    pub fn absorb(&mut self, other: &Transitions) {
        self.correct_to_correct += other.correct_to_correct;
        self.correct_to_incorrect += other.correct_to_incorrect;
        self.incorrect_to_correct += other.incorrect_to_correct;
        self.incorrect_to_incorrect += other.incorrect_to_incorrect;
    }

    /// Pairs counted.
    pub fn total(&self) -> usize {
        self.correct_to_correct
            + self.correct_to_incorrect
            + self.incorrect_to_correct
            + self.incorrect_to_incorrect
    }

    /// Of the correct attempts that were revised, the fraction whose revision is
    /// incorrect (the paper: about 0.38); `None` when no correct attempt was revised.
    pub fn correct_turned_incorrect(&self) -> Option<f64> {
        let base = self.correct_to_correct + self.correct_to_incorrect;
        (base > 0).then(|| self.correct_to_incorrect as f64 / base as f64)
    }

    /// Of the incorrect attempts that were revised, the fraction whose revision is
    /// correct; `None` when no incorrect attempt was revised.
    pub fn incorrect_turned_correct(&self) -> Option<f64> {
        let base = self.incorrect_to_correct + self.incorrect_to_incorrect;
        (base > 0).then(|| self.incorrect_to_correct as f64 / base as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_each_consecutive_pair() {
        let t = Transitions::of_sequences([vec![true, false, true, true], vec![false, false]]);
        assert_eq!(
            t,
            Transitions {
                correct_to_correct: 1,
                correct_to_incorrect: 1,
                incorrect_to_correct: 1,
                incorrect_to_incorrect: 1,
            }
        );
        assert_eq!(t.correct_turned_incorrect(), Some(0.5));
        assert_eq!(t.incorrect_turned_correct(), Some(0.5));
        assert_eq!(Transitions::default().correct_turned_incorrect(), None);
    }

    proptest! {
        #[test]
        fn every_pair_is_counted_once(seqs in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 0..10), 0..6)) {
            let t = Transitions::of_sequences(&seqs);
            let pairs: usize = seqs.iter().map(|s| s.len().saturating_sub(1)).sum();
            prop_assert_eq!(t.total(), pairs);
            // Correct attempts with a successor = correct-to-anything.
            let correct_revised: usize = seqs.iter().map(|s| s.iter().rev().skip(1).filter(|&&c| c).count()).sum();
            prop_assert_eq!(t.correct_to_correct + t.correct_to_incorrect, correct_revised);
            if let Some(f) = t.correct_turned_incorrect() {
                prop_assert!((0.0..=1.0).contains(&f));
            }
            let mut twice = t;
            twice.absorb(&t);
            prop_assert_eq!(twice.total(), 2 * pairs);
        }
    }
}
