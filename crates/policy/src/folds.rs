//! The two folds of questions for cross-validation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ttc_core::hash::{FNV1A_OFFSET, fnv1a_extend, splitmix64};
use ttc_core::{Error, Result};

/// One of the two halves of the questions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fold {
    A,
    B,
}

impl std::fmt::Display for Fold {
    /// `A` or `B`, as reports print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fold::A => "A",
            Fold::B => "B",
        })
    }
}

impl Fold {
    /// The other half.
    pub fn other(self) -> Fold {
        match self {
            Fold::A => Fold::B,
            Fold::B => Fold::A,
        }
    }
}

/// A seeded 64-bit hash of a question id: FNV-1a over its UTF-8 bytes, started from
/// a mix of the seed and finished with the SplitMix64 finaliser. Defined here (not
/// `std`'s hasher) so folds are the same on every platform and Rust version.
pub fn question_hash(seed: u64, question: &str) -> u64 {
    let h = fnv1a_extend(FNV1A_OFFSET ^ splitmix64(seed), question.as_bytes());
    splitmix64(h)
}

/// Every question's fold.
///
/// The split is stratified by difficulty bin: within each bin the questions are
/// ordered by [`question_hash`] (then id) and dealt alternately to A and B, so each
/// bin's folds differ in size by at most one and both are non-empty once a bin has
/// two questions. A question's fold depends on the seed, its id and the ids of the
/// other questions in its bin, never on input order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folds {
    seed: u64,
    of: BTreeMap<String, Fold>,
}

impl Folds {
    /// Splits `(question, bin)` pairs. A question may be listed more than once with
    /// the same bin; with two different bins it is an error.
    pub fn split<'a>(
        questions: impl IntoIterator<Item = (&'a str, usize)>,
        seed: u64,
    ) -> Result<Self> {
        let mut bins: BTreeMap<&str, usize> = BTreeMap::new();
        for (q, bin) in questions {
            if let Some(prev) = bins.insert(q, bin)
                && prev != bin
            {
                return Err(Error::invalid(
                    "cross-validation folds",
                    format!(
                        "question `{q}` is given bins {prev} and {bin}; give each question one bin"
                    ),
                ));
            }
        }
        let mut by_bin: BTreeMap<usize, Vec<(u64, &str)>> = BTreeMap::new();
        for (q, bin) in bins {
            by_bin
                .entry(bin)
                .or_default()
                .push((question_hash(seed, q), q));
        }
        let mut of = BTreeMap::new();
        for (_, mut qs) in by_bin {
            qs.sort_unstable();
            for (i, (_, q)) in qs.into_iter().enumerate() {
                of.insert(q.to_string(), if i % 2 == 0 { Fold::A } else { Fold::B });
            }
        }
        Ok(Folds { seed, of })
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The fold of `question`, if it was split.
    pub fn fold_of(&self, question: &str) -> Option<Fold> {
        self.of.get(question).copied()
    }

    /// The questions of one fold, in id order.
    pub fn questions(&self, fold: Fold) -> impl Iterator<Item = &str> {
        self.of
            .iter()
            .filter(move |(_, f)| **f == fold)
            .map(|(q, _)| q.as_str())
    }

    /// The number of questions split.
    pub fn len(&self) -> usize {
        self.of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.of.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_that_of_earlier_releases() {
        // Golden values: a policy fitted before must split its questions the same way.
        assert_eq!(question_hash(0, "q1"), 0xdd57_7d01_3537_f547);
        assert_eq!(
            question_hash(42, "test/algebra/1.json"),
            0x6f6c_543b_e593_80fa
        );
        assert_eq!(question_hash(u64::MAX, ""), 0xcc0d_c891_0321_bcb5);
    }

    #[test]
    fn the_hash_is_fixed() {
        // Pinned: folds must not change between platforms or releases.
        assert_eq!(
            question_hash(0, ""),
            splitmix64(FNV1A_OFFSET ^ splitmix64(0))
        );
        assert_ne!(question_hash(0, "q1"), question_hash(1, "q1"));
        assert_ne!(question_hash(0, "q1"), question_hash(0, "q2"));
        assert_eq!(
            question_hash(7, "test/algebra/1.json"),
            question_hash(7, "test/algebra/1.json")
        );
    }

    #[test]
    fn bins_are_split_evenly() {
        let qs: Vec<(String, usize)> = (0..11).map(|i| (format!("q{i}"), 1 + i % 2)).collect();
        let folds = Folds::split(qs.iter().map(|(q, b)| (q.as_str(), *b)), 3).unwrap();
        assert_eq!(folds.len(), 11);
        for bin in [1, 2] {
            let count = |f| {
                qs.iter()
                    .filter(|(q, b)| *b == bin && folds.fold_of(q) == Some(f))
                    .count()
            };
            assert!(count(Fold::A).abs_diff(count(Fold::B)) <= 1);
        }
        assert_eq!(
            folds.questions(Fold::A).count() + folds.questions(Fold::B).count(),
            11
        );
    }

    #[test]
    fn the_seed_changes_the_split() {
        let qs: Vec<String> = (0..40).map(|i| format!("q{i}")).collect();
        let split = |seed| Folds::split(qs.iter().map(|q| (q.as_str(), 1)), seed).unwrap();
        assert_eq!(split(5), split(5));
        assert_ne!(
            split(5).questions(Fold::A).collect::<Vec<_>>(),
            split(6).questions(Fold::A).collect::<Vec<_>>()
        );
    }

    #[test]
    fn conflicting_bins_are_named() {
        let err = Folds::split([("q", 1), ("q", 2)], 0).unwrap_err();
        assert!(
            err.to_string()
                .contains("question `q` is given bins 1 and 2"),
            "{err}"
        );
        assert_eq!(Folds::split([("q", 1), ("q", 1)], 0).unwrap().len(), 1);
    }
}
