//! Properties of difficulty binning, and the edges' file format.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use ttc_difficulty::{
    BinEdges, PassRate, QuestionScores, Statistic, agreement, bin_values, oracle_bins,
    predicted_bins,
};

/// Values with many ties (a small grid), as pass@1 from few samples gives.
fn tied_values() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec((0u32..8).prop_map(|v| f64::from(v) / 8.0), 1..60)
}

/// Distinct values.
fn distinct_values() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::btree_set(-1_000_000i64..1_000_000, 1..80).prop_flat_map(|set| {
        let values: Vec<f64> = set.into_iter().map(|v| v as f64 / 1000.0).collect();
        Just(values).prop_shuffle()
    })
}

fn named(values: &[f64]) -> Vec<(String, f64)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("q{i:03}"), *v))
        .collect()
}

fn bin_map(values: &[(String, f64)], k: usize) -> HashMap<String, usize> {
    bin_values(Statistic::PassAt1, values, k)
        .unwrap()
        .questions
        .into_iter()
        .map(|q| (q.question, q.bin))
        .collect()
}

proptest! {
    #[test]
    fn bins_lie_in_one_to_k(values in tied_values(), k in 1usize..8) {
        let b = bin_values(Statistic::PassAt1, &named(&values), k).unwrap();
        prop_assert_eq!(b.questions.len(), values.len());
        for q in &b.questions {
            prop_assert!((1..=k).contains(&q.bin), "bin {} of {}", q.bin, k);
        }
        prop_assert_eq!(b.sizes().iter().sum::<usize>(), values.len());
    }

    #[test]
    fn distinct_values_give_sizes_within_one(values in distinct_values(), k in 1usize..8) {
        let sizes = bin_values(Statistic::MeanVerifierScore, &named(&values), k).unwrap().sizes();
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        prop_assert!(max - min <= 1, "sizes {:?}", sizes);
    }

    #[test]
    fn a_higher_value_never_gets_a_harder_bin(values in tied_values(), k in 1usize..8) {
        let b = bin_values(Statistic::PassAt1, &named(&values), k).unwrap();
        for x in &b.questions {
            for y in &b.questions {
                if x.value > y.value {
                    prop_assert!(x.bin <= y.bin, "{:?} vs {:?}", x, y);
                }
                if x.value == y.value {
                    prop_assert_eq!(x.bin, y.bin);
                }
            }
        }
    }

    #[test]
    fn input_order_does_not_matter(
        (values, shuffled) in tied_values().prop_flat_map(|v| {
            let n = named(&v);
            (Just(n.clone()), Just(n).prop_shuffle())
        }),
        k in 1usize..8,
    ) {
        prop_assert_eq!(bin_map(&values, k), bin_map(&shuffled, k));
        let a = bin_values(Statistic::PassAt1, &values, k).unwrap().edges;
        let b = bin_values(Statistic::PassAt1, &shuffled, k).unwrap().edges;
        prop_assert_eq!(a, b);
    }

    #[test]
    fn learned_edges_reproduce_the_bins(values in tied_values(), k in 1usize..8) {
        let b = bin_values(Statistic::PassAt1, &named(&values), k).unwrap();
        let raw: Vec<f64> = values.clone();
        let edges = BinEdges::learn(Statistic::PassAt1, &raw, k).unwrap();
        prop_assert_eq!(&edges, &b.edges);
        for q in &b.questions {
            prop_assert_eq!(edges.bin(q.value).unwrap(), q.bin);
        }
    }

    #[test]
    fn learned_edges_reproduce_distinct_bins(values in distinct_values(), k in 1usize..8) {
        let b = bin_values(Statistic::MeanVerifierScore, &named(&values), k).unwrap();
        for q in &b.questions {
            prop_assert_eq!(b.edges.bin(q.value).unwrap(), q.bin);
        }
    }

    #[test]
    fn edges_bin_new_values_monotonically(
        values in distinct_values(),
        k in 1usize..8,
        probes in prop::collection::vec(-2000.0f64..2000.0, 2..20),
    ) {
        let edges = BinEdges::learn(Statistic::MeanVerifierScore, &values, k).unwrap();
        let mut probes = probes;
        probes.sort_by(f64::total_cmp);
        let bins: Vec<usize> = probes.iter().map(|p| edges.bin(*p).unwrap()).collect();
        prop_assert!(bins.windows(2).all(|w| w[0] >= w[1]), "{:?} -> {:?}", probes, bins);
    }

    #[test]
    fn oracle_bins_keep_the_properties(
        counts in prop::collection::vec((0usize..=16, 1usize..=16), 1..50),
        k in 1usize..7,
    ) {
        let rates: Vec<PassRate> = counts
            .iter()
            .enumerate()
            .map(|(i, (c, s))| PassRate { question: format!("q{i}"), correct: (*c).min(*s), samples: *s })
            .collect();
        let b = oracle_bins(&rates, k).unwrap();
        for (r, q) in rates.iter().zip(&b.questions) {
            prop_assert_eq!(&r.question, &q.question);
            prop_assert_eq!(q.value, r.correct as f64 / r.samples as f64);
            prop_assert_eq!(b.edges.bin(q.value).unwrap(), q.bin);
        }
        // Against itself, agreement is perfect.
        let a = agreement(&b, &b).unwrap();
        prop_assert_eq!(a.same_bin, 1.0);
        prop_assert_eq!(a.within_one, 1.0);
    }

    #[test]
    fn edges_survive_toml_and_json(values in distinct_values(), k in 1usize..8) {
        let edges = BinEdges::learn(Statistic::MeanVerifierScore, &values, k).unwrap();
        let text = toml::to_string(&edges).unwrap();
        prop_assert_eq!(&toml::from_str::<BinEdges>(&text).unwrap(), &edges);
        // serde_json (without its `float_roundtrip` feature) may read a float back one
        // unit in the last place off; policy files are TOML, which is exact.
        let json = serde_json::to_string(&edges).unwrap();
        let back = serde_json::from_str::<BinEdges>(&json).unwrap();
        prop_assert_eq!(back.statistic(), edges.statistic());
        prop_assert_eq!(back.bins(), edges.bins());
        for (a, b) in back.edges().iter().zip(edges.edges()) {
            prop_assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{} vs {}", a, b);
        }
    }
}

#[test]
fn edges_file_format() {
    let edges = BinEdges::new(Statistic::MeanVerifierScore, vec![0.81, 0.66, 0.43, 0.2]).unwrap();
    let text = toml::to_string(&edges).unwrap();
    assert_eq!(
        text,
        "statistic = \"mean-verifier-score\"\nbins = 5\nedges = [0.81, 0.66, 0.43, 0.2]\n"
    );
    let json = serde_json::to_string(&edges).unwrap();
    assert_eq!(
        json,
        r#"{"statistic":"mean-verifier-score","bins":5,"edges":[0.81,0.66,0.43,0.2]}"#
    );
}

#[test]
fn bad_edges_files_say_what_is_wrong() {
    let cases = [
        (
            "statistic = \"pass-at-1\"\nbins = 4\nedges = [0.5]\n",
            "`bins = 4` but 1 edges were given",
        ),
        (
            "statistic = \"pass-at-1\"\nbins = 3\nedges = [0.2, 0.5]\n",
            "edge 2 (0.5) is larger than edge 1 (0.2)",
        ),
        (
            "statistic = \"pass-at-1\"\nbins = 2\nedges = [0.5]\nsource = \"x\"\n",
            "unknown field `source`",
        ),
        (
            "statistic = \"accuracy\"\nbins = 2\nedges = [0.5]\n",
            "unknown variant `accuracy`",
        ),
        (
            "statistic = \"pass-at-1\"\nbins = 2\n",
            "missing field `edges`",
        ),
    ];
    for (text, want) in cases {
        let err = toml::from_str::<BinEdges>(text).unwrap_err().to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
    // TOML errors carry the line.
    let err =
        toml::from_str::<BinEdges>("statistic = \"pass-at-1\"\nbins = 2\nedges = [0.5]\nx = 1\n")
            .unwrap_err()
            .to_string();
    assert!(err.contains("line 4"), "{err}");
}

#[test]
fn predicted_edges_bin_held_out_questions_like_the_reference() {
    // Reference: 100 questions whose mean scores spread over [0, 1).
    let reference: Vec<QuestionScores> = (0..100)
        .map(|i| QuestionScores {
            question: format!("ref{i}"),
            scores: vec![f64::from(i) / 100.0, f64::from(i) / 100.0 + 0.005],
        })
        .collect();
    let b = predicted_bins(&reference, 5).unwrap();
    assert_eq!(b.sizes(), vec![20; 5]);
    // Edges sit between neighbouring means: e.g. bin 1 is the top 20 (0.8025 and up).
    let edges = b.edges.edges().to_vec();
    let want = [0.7975, 0.5975, 0.3975, 0.1975];
    for (e, w) in edges.iter().zip(want) {
        assert!((e - w).abs() < 1e-9, "{edges:?}");
    }
    let new: Vec<(f64, usize)> = vec![
        (0.99, 1),
        (0.8, 1),
        (0.79, 2),
        (0.5, 3),
        (0.25, 4),
        (0.0, 5),
    ];
    for (score, bin) in new {
        assert_eq!(b.edges.bin(score).unwrap(), bin, "score {score}");
    }
    let bins: BTreeSet<usize> = b.questions.iter().map(|q| q.bin).collect();
    assert_eq!(bins, (1..=5).collect());
}
