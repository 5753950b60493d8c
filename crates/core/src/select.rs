//! Choosing one answer among scored candidates.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// How N scored answers become one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selector {
    /// The most frequent answer.
    Majority,
    /// The answer of the single highest-scored candidate.
    Naive,
    /// The answer whose candidates' scores sum highest (the paper's default).
    Weighted,
}

impl Selector {
    /// Its name in run files and method labels (the serde name).
    pub fn name(self) -> &'static str {
        match self {
            Selector::Majority => "majority",
            Selector::Naive => "naive",
            Selector::Weighted => "weighted",
        }
    }

    /// The selector named `name` ([`Selector::name`]).
    pub fn from_name(name: &str) -> Option<Selector> {
        [Selector::Majority, Selector::Naive, Selector::Weighted]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

/// A candidate's vote: its answer key (None when it gave no parsable answer) and score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vote<'a> {
    pub key: Option<&'a str>,
    pub score: f32,
}

/// Index of the candidate whose answer wins, or None when no candidate has an answer.
/// Ties go to the answer seen first, so the choice is deterministic. For majority and
/// weighted voting the returned index is the first candidate with the winning answer.
pub fn select(votes: &[Vote<'_>], selector: Selector) -> Option<usize> {
    if selector == Selector::Naive {
        let mut best: Option<usize> = None;
        for (i, v) in votes.iter().enumerate() {
            if v.key.is_some() && best.is_none_or(|b| v.score > votes[b].score) {
                best = Some(i);
            }
        }
        return best;
    }
    // Per answer: first index and total weight, in order of first appearance.
    let mut order: Vec<(usize, f64)> = Vec::new();
    let mut slot: HashMap<&str, usize> = HashMap::new();
    for (i, v) in votes.iter().enumerate() {
        let Some(key) = v.key else { continue };
        let weight = match selector {
            Selector::Majority => 1.0,
            _ => f64::from(v.score),
        };
        let s = *slot.entry(key).or_insert_with(|| {
            order.push((i, 0.0));
            order.len() - 1
        });
        order[s].1 += weight;
    }
    let mut best: Option<(usize, f64)> = None;
    for &(first, total) in &order {
        if best.is_none_or(|(_, t)| total > t) {
            best = Some((first, total));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_the_serde_names_and_parse_back() {
        for s in [Selector::Majority, Selector::Naive, Selector::Weighted] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
            assert_eq!(Selector::from_name(s.name()), Some(s));
        }
        assert_eq!(Selector::from_name("Weighted"), None);
    }

    fn votes(keys: &[Option<u8>], scores: &[f32]) -> (Vec<Option<String>>, Vec<f32>) {
        (
            keys.iter().map(|k| k.map(|k| format!("a{k}"))).collect(),
            scores.to_vec(),
        )
    }

    fn as_votes<'a>(keys: &'a [Option<String>], scores: &[f32]) -> Vec<Vote<'a>> {
        keys.iter()
            .zip(scores)
            .map(|(k, &s)| Vote {
                key: k.as_deref(),
                score: s,
            })
            .collect()
    }

    #[test]
    fn weighted_can_overturn_the_majority() {
        let (k, s) = votes(&[Some(1), Some(1), Some(2)], &[0.1, 0.2, 0.9]);
        let v = as_votes(&k, &s);
        assert_eq!(select(&v, Selector::Majority), Some(0));
        assert_eq!(select(&v, Selector::Weighted), Some(2));
        assert_eq!(select(&v, Selector::Naive), Some(2));
    }

    #[test]
    fn no_answers_no_choice() {
        let (k, s) = votes(&[None, None], &[0.5, 0.9]);
        for sel in [Selector::Majority, Selector::Naive, Selector::Weighted] {
            assert_eq!(select(&as_votes(&k, &s), sel), None);
        }
    }

    fn arb() -> impl Strategy<Value = (Vec<Option<u8>>, Vec<f32>)> {
        (1usize..30).prop_flat_map(|n| {
            (
                proptest::collection::vec(proptest::option::weighted(0.85, 0u8..5), n),
                proptest::collection::vec(0.0f32..=1.0, n),
            )
        })
    }

    proptest! {
        #[test]
        fn weighted_equals_majority_when_scores_are_equal((keys, _) in arb(), s in 0.01f32..=1.0) {
            let (k, scores) = votes(&keys, &vec![s; keys.len()]);
            let v = as_votes(&k, &scores);
            let (a, b) = (select(&v, Selector::Weighted), select(&v, Selector::Majority));
            prop_assert_eq!(a.map(|i| &k[i]), b.map(|i| &k[i]));
        }

        #[test]
        fn naive_returns_the_top_scored_answered_candidate((keys, scores) in arb()) {
            let (k, s) = votes(&keys, &scores);
            let v = as_votes(&k, &s);
            match select(&v, Selector::Naive) {
                Some(i) => {
                    prop_assert!(k[i].is_some());
                    let top = v.iter().filter(|x| x.key.is_some()).map(|x| x.score).fold(f32::MIN, f32::max);
                    prop_assert_eq!(s[i], top);
                }
                None => prop_assert!(k.iter().all(Option::is_none)),
            }
        }

        #[test]
        fn majority_winner_has_the_highest_count((keys, scores) in arb()) {
            let (k, s) = votes(&keys, &scores);
            if let Some(i) = select(&as_votes(&k, &s), Selector::Majority) {
                let count = |key: &Option<String>| k.iter().filter(|x| *x == key).count();
                let winner = count(&k[i]);
                prop_assert!(k.iter().filter(|x| x.is_some()).all(|x| count(x) <= winner));
            }
        }
    }
}
