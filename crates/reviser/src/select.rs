//! Choosing one answer among every attempt of every chain (docs/method.md §3).

use serde::{Deserialize, Serialize};
use ttc_core::{Selector, Vote, select};

/// One attempt of one chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pick {
    pub chain: usize,
    /// Index of the attempt within its chain (0 is the reviser's first attempt).
    pub attempt: usize,
}

/// A chain's own pick among its attempts' votes:
/// - `Weighted`: the answer whose attempts' scores sum highest, represented by its
///   highest-scored attempt (ties: the earliest);
/// - `Naive`: the highest-scored attempt with an answer (ties: the earliest);
/// - `Majority`: the first attempt with the most frequent answer.
///
/// `None` when no attempt has an answer.
pub fn select_in_chain(votes: &[Vote<'_>], selector: Selector) -> Option<usize> {
    let first = select(votes, selector)?;
    if selector != Selector::Weighted {
        return Some(first);
    }
    let key = votes[first].key;
    let mut best = first;
    for (i, v) in votes.iter().enumerate().skip(first + 1) {
        if v.key == key && v.score > votes[best].score {
            best = i;
        }
    }
    Some(best)
}

/// The answer of a set of chains, given each chain's votes in attempt order.
///
/// - `Majority`: flat, over every attempt of every chain as one list (chains in
///   order, attempts in order): the most frequent answer; ties go to the answer seen
///   first, and the pick is its first attempt.
/// - `Weighted` and `Naive`: hierarchical. Each chain picks with [`select_in_chain`];
///   then the chains' picks vote with the same selector, each carrying the score of
///   its picked attempt. For `Naive` this is the top-scored attempt overall.
///
/// `None` when no attempt has an answer.
pub fn select_over_chains(chains: &[Vec<Vote<'_>>], selector: Selector) -> Option<Pick> {
    if selector == Selector::Majority {
        let flat: Vec<Vote<'_>> = chains.iter().flatten().copied().collect();
        let mut i = select(&flat, Selector::Majority)?;
        for (chain, votes) in chains.iter().enumerate() {
            if i < votes.len() {
                return Some(Pick { chain, attempt: i });
            }
            i -= votes.len();
        }
        unreachable!("select returns an index into the flattened votes");
    }
    let picks: Vec<Pick> = chains
        .iter()
        .enumerate()
        .filter_map(|(chain, votes)| {
            select_in_chain(votes, selector).map(|attempt| Pick { chain, attempt })
        })
        .collect();
    let across: Vec<Vote<'_>> = picks.iter().map(|p| chains[p.chain][p.attempt]).collect();
    select(&across, selector).map(|i| picks[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Chains = Vec<Vec<(Option<u8>, f32)>>;

    fn keys(chains: &Chains) -> Vec<Vec<Option<String>>> {
        chains
            .iter()
            .map(|c| c.iter().map(|(k, _)| k.map(|k| format!("a{k}"))).collect())
            .collect()
    }

    fn votes<'a>(chains: &Chains, keys: &'a [Vec<Option<String>>]) -> Vec<Vec<Vote<'a>>> {
        chains
            .iter()
            .zip(keys)
            .map(|(c, k)| {
                c.iter()
                    .zip(k)
                    .map(|((_, s), k)| Vote {
                        key: k.as_deref(),
                        score: *s,
                    })
                    .collect()
            })
            .collect()
    }

    fn arb_chains() -> impl Strategy<Value = Chains> {
        proptest::collection::vec(
            proptest::collection::vec(
                (proptest::option::weighted(0.8, 0u8..4), 0.0f32..=1.0),
                1..8,
            ),
            1..6,
        )
    }

    #[test]
    fn hierarchy_can_differ_from_flat_weighting() {
        // Chain 0 says 1 three times weakly, chains 1 and 2 say 2 once each, a bit stronger.
        let chains: Chains = vec![
            vec![(Some(1), 0.4), (Some(1), 0.4), (Some(1), 0.4)],
            vec![(Some(2), 0.5)],
            vec![(None, 0.9), (Some(2), 0.5)],
        ];
        let k = keys(&chains);
        let v = votes(&chains, &k);
        // Flat weighted: 1 has 1.2, 2 has 1.0. Hierarchical: picks 1 (0.4), 2 (0.5), 2 (0.5).
        let flat: Vec<Vote<'_>> = v.iter().flatten().copied().collect();
        assert_eq!(
            flat[select(&flat, Selector::Weighted).unwrap()].key,
            Some("a1")
        );
        let p = select_over_chains(&v, Selector::Weighted).unwrap();
        assert_eq!(v[p.chain][p.attempt].key, Some("a2"));
        assert_eq!(
            p,
            Pick {
                chain: 1,
                attempt: 0
            }
        );
        // Majority is flat: 1 appears three times.
        let p = select_over_chains(&v, Selector::Majority).unwrap();
        assert_eq!(
            p,
            Pick {
                chain: 0,
                attempt: 0
            }
        );
    }

    #[test]
    fn a_weighted_pick_is_the_best_scored_attempt_of_the_winning_answer() {
        let chains: Chains = vec![vec![(Some(1), 0.2), (Some(2), 0.5), (Some(1), 0.4)]];
        let k = keys(&chains);
        let v = votes(&chains, &k);
        assert_eq!(select_in_chain(&v[0], Selector::Weighted), Some(2));
        assert_eq!(select_in_chain(&v[0], Selector::Naive), Some(1));
        assert_eq!(select_in_chain(&v[0], Selector::Majority), Some(0));
    }

    #[test]
    fn no_answers_no_pick() {
        let chains: Chains = vec![vec![(None, 0.9)], vec![(None, 0.1), (None, 0.5)]];
        let k = keys(&chains);
        let v = votes(&chains, &k);
        for s in [Selector::Majority, Selector::Naive, Selector::Weighted] {
            assert_eq!(select_over_chains(&v, s), None);
        }
    }

    proptest! {
        #[test]
        fn one_chain_is_weighted_best_of_n_within_it(chains in arb_chains()) {
            let one = vec![chains[0].clone()];
            let k = keys(&one);
            let v = votes(&one, &k);
            let h = select_over_chains(&v, Selector::Weighted);
            let w = select(&v[0], Selector::Weighted);
            prop_assert_eq!(h.map(|p| v[0][p.attempt].key), w.map(|i| v[0][i].key));
            if let Some(p) = h {
                prop_assert_eq!(p.chain, 0);
            }
        }

        #[test]
        fn majority_over_chains_is_majority_over_the_flattened_answers(chains in arb_chains()) {
            let k = keys(&chains);
            let v = votes(&chains, &k);
            let flat: Vec<Vote<'_>> = v.iter().flatten().copied().collect();
            let h = select_over_chains(&v, Selector::Majority);
            let f = select(&flat, Selector::Majority);
            prop_assert_eq!(h.map(|p| v[p.chain][p.attempt].key), f.map(|i| flat[i].key));
            // The pick is the flattened winner's own position.
            if let (Some(p), Some(i)) = (h, f) {
                let before: usize = v[..p.chain].iter().map(Vec::len).sum();
                prop_assert_eq!(before + p.attempt, i);
            }
        }

        #[test]
        fn naive_over_chains_is_the_top_scored_attempt(chains in arb_chains()) {
            let k = keys(&chains);
            let v = votes(&chains, &k);
            let top = v.iter().flatten().filter(|x| x.key.is_some()).map(|x| x.score).fold(f32::MIN, f32::max);
            match select_over_chains(&v, Selector::Naive) {
                Some(p) => prop_assert_eq!(v[p.chain][p.attempt].score, top),
                None => prop_assert!(v.iter().flatten().all(|x| x.key.is_none())),
            }
        }

        #[test]
        fn the_winner_is_some_chain_pick(chains in arb_chains()) {
            let k = keys(&chains);
            let v = votes(&chains, &k);
            if let Some(p) = select_over_chains(&v, Selector::Weighted) {
                prop_assert_eq!(select_in_chain(&v[p.chain], Selector::Weighted), Some(p.attempt));
                prop_assert!(v[p.chain][p.attempt].key.is_some());
            }
        }
    }
}
