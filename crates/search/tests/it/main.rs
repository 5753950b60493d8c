//! Search bookkeeping on the scripted generator of `ttc-core`'s test doubles, so no
//! ONNX Runtime is needed. The verifiers are simple scoring rules (a constant, a
//! hash of the text), which is what the properties are about; end-to-end runs with
//! real models live in the CLI tests.

use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use ttc_core::testing::{ConstantVerifier, HashVerifier, ScriptedGenerator};
use ttc_core::{AnswerFormat, Verifier};
use ttc_search::{
    BeamWidth, NodeStatus, SearchOutcome, SearchSettings, Searcher, Selector, Strategy,
};

fn generator() -> &'static ScriptedGenerator {
    static G: std::sync::OnceLock<ScriptedGenerator> = std::sync::OnceLock::new();
    G.get_or_init(ScriptedGenerator::default)
}

/// An answer is the last character of a text of at least 24 characters, so short
/// steps do not end a path but full solutions carry one of a few answers.
struct LastChar;

impl AnswerFormat for LastChar {
    fn extract(&self, solution: &str) -> Option<String> {
        (solution.chars().count() >= 24)
            .then(|| solution.chars().last().map(|c| (c as u32 % 3).to_string()))
            .flatten()
    }
    fn key(&self, answer: &str) -> String {
        answer.to_string()
    }
}

/// A step's score is a hash of the text so far, in [0, 1].
fn hashed() -> HashVerifier {
    HashVerifier::default()
}

fn settings() -> SearchSettings {
    SearchSettings {
        max_step_tokens: 4,
        max_solution_tokens: 24,
        max_rounds: 5,
        ..SearchSettings::default()
    }
}

fn solve(v: &dyn Verifier, strategy: Strategy, budget: usize, seed: u64) -> SearchOutcome {
    let st = settings();
    let s = Searcher {
        generator: generator(),
        verifier: Some(v),
        answers: &LastChar,
        settings: &st,
    };
    s.solve("12 + 7 =", &strategy, budget, seed)
        .expect("search")
}

fn strategies() -> impl proptest::strategy::Strategy<Value = Strategy> + Clone {
    prop_oneof![
        Just(Strategy::BestOfN {
            selector: Selector::Majority
        }),
        Just(Strategy::BestOfN {
            selector: Selector::Naive
        }),
        Just(Strategy::BestOfN {
            selector: Selector::Weighted
        }),
        (1usize..5).prop_map(|m| Strategy::Beam {
            width: BeamWidth::Fixed(m),
            lookahead: 0
        }),
        Just(Strategy::Beam {
            width: BeamWidth::Sqrt,
            lookahead: 0
        }),
        (1usize..4, 1usize..3).prop_map(|(m, k)| Strategy::Beam {
            width: BeamWidth::Fixed(m),
            lookahead: k
        }),
        (1usize..5).prop_map(|m| Strategy::Dvts {
            width: BeamWidth::Fixed(m)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_budget_is_never_exceeded(strategy in strategies(), n in 1usize..13, seed in 0u64..1000) {
        let out = solve(&hashed(), strategy, n, seed);
        prop_assert!(out.candidates.len() <= n, "{} candidates for N = {n}", out.candidates.len());
        prop_assert_eq!(out.compute.generations, strategy.generations(n));
        // Beams (sampled steps) per round never exceed N.
        let rounds = out.trace.iter().map(|t| t.round).max().unwrap_or(0);
        for r in 0..=rounds {
            let beams = out.trace.iter().filter(|t| t.round == r).count();
            prop_assert!(beams <= n, "round {r}: {beams} beams for N = {n}");
        }
        // The tree is well formed: parents come first and were kept.
        for t in &out.trace {
            if let Some(p) = t.parent {
                prop_assert!(p < t.id);
                prop_assert_eq!(out.trace[p].status, NodeStatus::Kept);
            }
        }
        if let Some(i) = out.chosen {
            prop_assert_eq!(&out.answer, &out.candidates[i].answer);
        }
    }

    #[test]
    fn weighted_best_of_n_equals_majority_when_scores_are_equal(n in 1usize..12, seed in 0u64..1000, c in 0.05f32..1.0) {
        let weighted = solve(&ConstantVerifier::new(c), Strategy::BestOfN { selector: Selector::Weighted }, n, seed);
        let majority = solve(&ConstantVerifier::new(c), Strategy::BestOfN { selector: Selector::Majority }, n, seed);
        prop_assert_eq!(weighted.answer, majority.answer);
    }

    #[test]
    fn naive_best_of_n_returns_the_top_scored_candidate(n in 1usize..12, seed in 0u64..1000) {
        let out = solve(&hashed(), Strategy::BestOfN { selector: Selector::Naive }, n, seed);
        if let Some(i) = out.chosen {
            let top = out.candidates.iter().filter(|c| c.answer.is_some()).filter_map(|c| c.score).fold(f32::MIN, f32::max);
            prop_assert_eq!(out.candidates[i].score, Some(top));
        } else {
            prop_assert!(out.candidates.iter().all(|c| c.answer.is_none()));
        }
    }

    /// A verifier that continues each candidate from its state reads less and
    /// changes nothing else: the same tree, scores, answer and generator compute.
    #[test]
    fn a_continuing_verifier_gives_the_same_search(strategy in strategies(), n in 1usize..13, seed in 0u64..1000) {
        let full = solve(&hashed(), strategy, n, seed);
        let cont = solve(&HashVerifier::continuing(), strategy, n, seed);
        prop_assert_eq!(&full.trace, &cont.trace);
        prop_assert_eq!(&full.candidates, &cont.candidates);
        prop_assert_eq!(&full.answer, &cont.answer);
        prop_assert_eq!(full.compute.generator_processed_tokens, cont.compute.generator_processed_tokens);
        prop_assert!(cont.compute.verifier_tokens <= full.compute.verifier_tokens);
        let rounds = full.trace.iter().map(|t| t.round).max().unwrap_or(0);
        let steps_searched = !matches!(strategy, Strategy::BestOfN { .. } | Strategy::Beam { lookahead: 1.., .. });
        if steps_searched && rounds > 0 && full.compute.verifier_tokens > 0 {
            prop_assert!(cont.compute.verifier_tokens < full.compute.verifier_tokens);
        }
        prop_assert_eq!(cont.compute.verifier_reread_tokens, 0);
    }

    #[test]
    fn same_seed_same_result(strategy in strategies(), n in 1usize..9, seed in 0u64..1000) {
        prop_assert_eq!(solve(&hashed(), strategy, n, seed), solve(&hashed(), strategy, n, seed));
    }
}

#[test]
fn lookahead_zero_is_beam_search() {
    for seed in 0..4 {
        let beam = solve(
            &hashed(),
            Strategy::Beam {
                width: BeamWidth::Fixed(2),
                lookahead: 0,
            },
            8,
            seed,
        );
        let k1 = solve(
            &hashed(),
            Strategy::Beam {
                width: BeamWidth::Fixed(2),
                lookahead: 1,
            },
            8,
            seed,
        );
        assert_eq!(beam.compute.generations * 2, k1.compute.generations);
        assert!(
            k1.compute.sampled_steps > beam.compute.sampled_steps,
            "rollouts cost steps"
        );
        assert!(k1.trace.iter().any(|t| !t.rollout.is_empty()));
        assert!(beam.trace.iter().all(|t| t.rollout.is_empty()));
    }
}

#[test]
fn dvts_returns_one_candidate_per_subtree() {
    let out = solve(
        &hashed(),
        Strategy::Dvts {
            width: BeamWidth::Fixed(4),
        },
        16,
        3,
    );
    assert_eq!(out.candidates.len(), 4);
    let out = solve(
        &hashed(),
        Strategy::Dvts {
            width: BeamWidth::Fixed(4),
        },
        2,
        3,
    );
    assert_eq!(out.candidates.len(), 1, "N < M still makes one subtree");
}

#[test]
fn beam_search_continues_prefixes_from_their_cache() {
    let out = solve(
        &hashed(),
        Strategy::Beam {
            width: BeamWidth::Fixed(4),
            lookahead: 0,
        },
        16,
        1,
    );
    let c = &out.compute;
    // Without the KV cache every step would re-read its whole context.
    assert!(c.generator_processed_tokens < c.context_tokens / 2, "{c:?}");
    assert!(c.verifier_tokens > 0 && c.verifier_flops > 0.0 && c.generator_flops > 0.0);
}

#[test]
fn majority_needs_no_verifier_and_others_do() {
    let st = settings();
    let s = Searcher {
        generator: generator(),
        verifier: None,
        answers: &LastChar,
        settings: &st,
    };
    let out = s
        .solve(
            "7 x 8 =",
            &Strategy::BestOfN {
                selector: Selector::Majority,
            },
            6,
            0,
        )
        .unwrap();
    assert_eq!(out.compute.verifier_tokens, 0);
    let err = s
        .solve(
            "7 x 8 =",
            &Strategy::Beam {
                width: BeamWidth::Fixed(2),
                lookahead: 0,
            },
            4,
            0,
        )
        .unwrap_err();
    assert!(err.to_string().contains("needs a verifier"), "{err}");
}

#[test]
fn bad_settings_are_named() {
    let st = SearchSettings {
        prompt_template: "no placeholder".into(),
        ..settings()
    };
    let s = Searcher {
        generator: generator(),
        verifier: None,
        answers: &LastChar,
        settings: &st,
    };
    let err = s
        .solve(
            "q",
            &Strategy::BestOfN {
                selector: Selector::Majority,
            },
            2,
            0,
        )
        .unwrap_err();
    assert!(err.to_string().contains("{question}"), "{err}");
    let st = settings();
    let s = Searcher {
        generator: generator(),
        verifier: None,
        answers: &LastChar,
        settings: &st,
    };
    assert!(
        s.solve(
            "q",
            &Strategy::BestOfN {
                selector: Selector::Majority
            },
            0,
            0
        )
        .is_err()
    );
}

#[test]
fn greedy_is_one_unscored_temperature_zero_sample() {
    let st = settings();
    let s = Searcher {
        generator: generator(),
        verifier: None,
        answers: &LastChar,
        settings: &st,
    };
    let a = s.solve("12 + 7 =", &Strategy::Greedy, 1, 0).unwrap();
    let b = s.solve("12 + 7 =", &Strategy::Greedy, 1, 99).unwrap();
    assert_eq!(a.strategy, "greedy");
    assert_eq!(a.candidates.len(), 1);
    // Temperature 0 whatever the run's sampling: the seed does not matter.
    assert_eq!(a.candidates[0].text, b.candidates[0].text);
    assert!(a.candidates[0].step_scores.is_empty());
    assert_eq!(a.compute.generations, 1);
    assert_eq!(a.compute.verifier_tokens, 0);
    assert_eq!(a.compute.verifier_flops, 0.0);
    assert!(a.compute.generated_tokens > 0);
    assert_eq!(
        a.compute.generator_flops,
        2.0 * 1000.0 * a.compute.generator_processed_tokens as f64
    );
    assert_eq!(a.answer, LastChar.extract(&a.candidates[0].text));
    // The same text as a one-sample best-of-N at temperature 0.
    let st0 = SearchSettings {
        sampling: ttc_core::SamplingParams::GREEDY,
        ..settings()
    };
    let s0 = Searcher {
        settings: &st0,
        ..s
    };
    let m = s0
        .solve(
            "12 + 7 =",
            &Strategy::BestOfN {
                selector: Selector::Majority,
            },
            1,
            5,
        )
        .unwrap();
    assert_eq!(m.candidates[0].text, a.candidates[0].text);
    let err = s.solve("12 + 7 =", &Strategy::Greedy, 4, 0).unwrap_err();
    assert!(err.to_string().contains("N = 4 for greedy"), "{err}");
}

#[test]
fn best_of_n_after_a_probe_is_the_full_run_paying_only_the_new_samples() {
    let v = hashed();
    let st = settings();
    let s = Searcher {
        generator: generator(),
        verifier: Some(&v),
        answers: &LastChar,
        settings: &st,
    };
    let weighted = Strategy::BestOfN {
        selector: Selector::Weighted,
    };
    for selector in [Selector::Weighted, Selector::Majority, Selector::Naive] {
        let full = s
            .solve("12 + 7 =", &Strategy::BestOfN { selector }, 8, 3)
            .unwrap();
        let probe = s.solve("12 + 7 =", &weighted, 3, 3).unwrap();
        let after = s
            .best_of_n_after("12 + 7 =", &probe.candidates, selector, 8, 3)
            .unwrap();
        let texts = |o: &SearchOutcome| {
            o.candidates
                .iter()
                .map(|c| c.text.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(texts(&after), texts(&full), "{selector:?}");
        assert_eq!(after.answer, full.answer, "{selector:?}");
        assert_eq!(after.chosen, full.chosen, "{selector:?}");
        assert_eq!(after.compute.generations, 5);
        let new_tokens: usize = full.candidates[3..]
            .iter()
            .map(|c| c.text.chars().count())
            .sum::<usize>();
        assert!(after.compute.generated_tokens >= new_tokens);
        assert!(after.compute.generated_tokens < full.compute.generated_tokens);
    }
    let probe = s.solve("12 + 7 =", &weighted, 3, 3).unwrap();
    let err = s
        .best_of_n_after("12 + 7 =", &probe.candidates, Selector::Weighted, 2, 3)
        .unwrap_err();
    assert!(
        err.to_string().contains("at least the samples reused"),
        "{err}"
    );
}

/// The confidence a step gets: the geometric-mean probability of its characters
/// under the scripted generator (see `scripted_logprob`), the delimiter and EOS
/// going to the step they start.
fn confidence_of(text: &str) -> f32 {
    let lps: Vec<f32> = text
        .chars()
        .map(|c| ttc_core::testing::scripted_logprob(ttc_core::testing::Next::Char(c)))
        .collect();
    ttc_core::ConfidenceVerifier::step_score(&lps)
}

#[test]
fn the_confidence_verifier_scores_steps_by_their_tokens_probability() {
    let v = ttc_core::ConfidenceVerifier::default();
    let st = SearchSettings {
        aggregation: ttc_core::ScoreAggregation::Min,
        ..settings()
    };
    let s = Searcher {
        generator: generator(),
        verifier: Some(&v),
        answers: &LastChar,
        settings: &st,
    };
    // Beam search: each node's score is its own step's confidence (the step text,
    // then the delimiter newline it stopped on).
    let out = s
        .solve(
            "12 + 7 =",
            &Strategy::Beam {
                width: BeamWidth::Fixed(2),
                lookahead: 0,
            },
            4,
            1,
        )
        .unwrap();
    let mut checked = 0;
    for node in &out.trace {
        let score = node.score.unwrap();
        assert!((0.0..=1.0).contains(&score));
        // A step that stopped on the delimiter read it too; one that ended at EOS
        // or the length limit did not (EOS counted apart below).
        let with_delimiter = confidence_of(&format!("{}\n", node.step));
        let alone = confidence_of(&node.step);
        let eos = {
            let mut lps: Vec<f32> = node
                .step
                .chars()
                .map(|c| ttc_core::testing::scripted_logprob(ttc_core::testing::Next::Char(c)))
                .collect();
            lps.push(ttc_core::testing::scripted_logprob(
                ttc_core::testing::Next::Eos,
            ));
            ttc_core::ConfidenceVerifier::step_score(&lps)
        };
        assert!(
            [with_delimiter, alone, eos]
                .iter()
                .any(|w| (w - score).abs() < 1e-6),
            "{node:?}: {with_delimiter} / {alone} / {eos}"
        );
        checked += 1;
    }
    assert!(checked >= 4);
    assert_eq!(out.compute.verifier_tokens, 0);
    assert_eq!(out.compute.verifier_flops, 0.0);
    // Weighted best-of-N: each full sample's step scores are its steps' confidences,
    // aggregated by min.
    let out = s
        .solve(
            "12 + 7 =",
            &Strategy::BestOfN {
                selector: Selector::Weighted,
            },
            4,
            2,
        )
        .unwrap();
    let mut steps_checked = 0;
    for c in &out.candidates {
        assert_eq!(c.step_scores.len(), c.steps.len(), "{c:?}");
        // The text is the steps with the delimiters after them, then EOS or not:
        // each step's tokens run up to the next step's first character.
        let mut rest = c.text.as_str();
        let n = c.steps.len();
        for (k, (step, &score)) in c.steps.iter().zip(&c.step_scores).enumerate() {
            let from = rest.find(step.as_str()).unwrap();
            let until = if k + 1 < n {
                from + step.len()
                    + rest[from + step.len()..]
                        .find(c.steps[k + 1].as_str())
                        .unwrap()
            } else {
                rest.len()
            };
            let mut lps: Vec<f32> = rest[..until]
                .chars()
                .map(|ch| ttc_core::testing::scripted_logprob(ttc_core::testing::Next::Char(ch)))
                .collect();
            if k + 1 == n && c.finished && c.text.chars().count() < 24 {
                lps.push(ttc_core::testing::scripted_logprob(
                    ttc_core::testing::Next::Eos,
                ));
            }
            let want = ttc_core::ConfidenceVerifier::step_score(&lps);
            assert!((0.0..=1.0).contains(&score));
            if k + 1 < n {
                assert!(
                    (want - score).abs() < 1e-6,
                    "{k} {step:?}: {score} vs {want}"
                );
                steps_checked += 1;
            }
            rest = &rest[until..];
        }
        let min = c.step_scores.iter().copied().fold(f32::INFINITY, f32::min);
        assert_eq!(c.score, Some(min));
    }
    assert!(steps_checked >= 4, "{steps_checked}");
    // Without sampled steps (given text) it says what it can do.
    let steps = vec!["1 + 1".to_string()];
    let err = v
        .score(&[ttc_core::ScoreRequest {
            question: "q",
            steps: &steps,
        }])
        .unwrap_err();
    assert!(err.to_string().contains("cannot score given text"), "{err}");
}
