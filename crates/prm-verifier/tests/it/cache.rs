//! Continuing from a scored prefix: the cached path gives the scores of full
//! rescoring on every preset whose fixture can have a cache, reads only the new
//! tokens, and falls back (counted) where a layout cannot be continued.

use ttc_core::{Continued, ScoreRequest, Verifier, VerifierState};
use ttc_prm_verifier::{Layout, Preset, PrmAdapter, PrmVerifier, Probability};

use super::{fixture, golden, load};

/// Cached and full rescoring agree this closely (the bar).
const PARITY: f32 = 1e-5;

fn worst(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "number of scores");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn continue_one(
    v: &PrmVerifier,
    q: &str,
    steps: &[String],
    prior: Option<VerifierState>,
) -> Continued {
    let r = ScoreRequest { question: q, steps };
    v.score_continuing(&[r], &[prior]).unwrap().remove(0)
}

/// Scores each golden case one step at a time from the previous step's state, and
/// a batch of forks sharing one parent's state, against full rescoring: the same
/// model with its cache off, each request read from its first token alone.
fn check_continuation(folder: &str, golden_name: &str, preset: Preset) {
    let v = load(folder, &PrmAdapter::preset(preset));
    let whole = load(folder, &PrmAdapter::preset(preset)).with_cache(false);
    let rescore = |r: &ScoreRequest<'_>| whole.score(std::slice::from_ref(r)).unwrap().remove(0);
    let per_token = v
        .cache_bytes_per_token()
        .unwrap_or_else(|why| panic!("{folder} with {golden_name} should continue: {why}"));
    assert!(per_token > 0);
    let gold = golden(folder, golden_name);
    let mut checked = 0;
    for (i, case) in gold.cases.iter().enumerate() {
        let mut state: Option<VerifierState> = None;
        for k in 1..=case.steps.len() {
            let steps = &case.steps[..k];
            let full = rescore(&ScoreRequest {
                question: &case.question,
                steps,
            });
            let cont = continue_one(&v, &case.question, steps, state.take());
            let diff = worst(&cont.scores.scores, &full.scores);
            assert!(
                diff < PARITY,
                "{golden_name} case {i}, {k} steps: cached vs full differ by {diff}"
            );
            assert_eq!(
                cont.reread_tokens, 0,
                "{golden_name} case {i}, {k} steps: nothing re-read"
            );
            if k == 1 {
                assert_eq!(cont.scores.processed_tokens, full.processed_tokens);
            } else {
                assert!(
                    cont.scores.processed_tokens < full.processed_tokens,
                    "{golden_name} case {i}, {k} steps: read {} of {} tokens",
                    cont.scores.processed_tokens,
                    full.processed_tokens
                );
                checked += 1;
            }
            state = cont.state;
        }
        // The whole solution's scores still match torch's.
        let last = continue_one(&v, &case.question, &case.steps, None);
        assert!(worst(&last.scores.scores, &case.scores) < super::TOLERANCE);
    }
    assert!(checked > 0, "{golden_name}: no multi-step case");

    // Forks: one parent's state continued by different next steps in one batch,
    // beside a request that starts from nothing. Three steps at least, so that the
    // second step and the last differ.
    let case = gold
        .cases
        .iter()
        .find(|c| c.steps.len() >= 3)
        .expect("a case of three steps or more");
    let parent = continue_one(&v, &case.question, &case.steps[..1], None).state;
    let a = case.steps[..2].to_vec();
    let mut b = case.steps[..1].to_vec();
    b.push(case.steps[case.steps.len() - 1].clone());
    let other = gold
        .cases
        .iter()
        .find(|c| c.question != case.question)
        .expect("a case on another question");
    let requests = [
        ScoreRequest {
            question: &case.question,
            steps: &a,
        },
        ScoreRequest {
            question: &case.question,
            steps: &b,
        },
        ScoreRequest {
            question: &other.question,
            steps: &other.steps,
        },
    ];
    let prior = [parent.clone(), parent, None];
    let batched = v.score_continuing(&requests, &prior).unwrap();
    let full: Vec<_> = requests.iter().map(rescore).collect();
    for (j, (c, f)) in batched.iter().zip(&full).enumerate() {
        let diff = worst(&c.scores.scores, &f.scores);
        assert!(
            diff < PARITY,
            "{golden_name} fork batch row {j}: differ by {diff}"
        );
        assert_eq!(c.reread_tokens, 0, "{golden_name} fork batch row {j}");
    }
    // The reference read every token of every request: nothing came from a cache.
    for (j, (f, r)) in full.iter().zip(&requests).enumerate() {
        let tokens = whole.encode(r).unwrap().ids.len();
        assert_eq!(
            f.processed_tokens, tokens,
            "{golden_name} reference row {j}"
        );
    }
    assert!(batched[0].scores.processed_tokens < full[0].processed_tokens);
    assert!(batched[1].scores.processed_tokens < full[1].processed_tokens);
    // The forks' second steps differ, and so do their scores by more than the
    // tolerance: a fork continued from the wrong state, or given its sibling's
    // scores, fails the comparison above.
    assert_ne!(a, b, "{golden_name}: the forks' next steps are the same");
    let fork_gap = (full[0].scores[1] - full[1].scores[1]).abs();
    assert!(
        fork_gap > 100.0 * PARITY,
        "{golden_name}: the two forks score alike ({fork_gap}); pick forks that differ"
    );

    // Fresh requests on one question (best-of-N's samples, a search's first round)
    // read the question's prompt once, and score as they do alone.
    let samples: Vec<Vec<String>> = (1..=case.steps.len())
        .map(|k| case.steps[..k].to_vec())
        .collect();
    let requests: Vec<ScoreRequest<'_>> = samples
        .iter()
        .map(|steps| ScoreRequest {
            question: &case.question,
            steps,
        })
        .collect();
    let together = v.score(&requests).unwrap();
    let mut alone_tokens = 0;
    for (j, (t, r)) in together.iter().zip(&requests).enumerate() {
        let alone = v.score(std::slice::from_ref(r)).unwrap().remove(0);
        alone_tokens += alone.processed_tokens;
        let diff = worst(&t.scores, &alone.scores);
        assert!(
            diff < PARITY,
            "{golden_name} shared prompt, sample {j}: differ by {diff}"
        );
    }
    let read: usize = together.iter().map(|t| t.processed_tokens).sum();
    assert!(
        read < alone_tokens,
        "{golden_name}: the prompt read once ({read} vs {alone_tokens})"
    );
}

#[test]
fn continued_scores_equal_full_rescoring_demo() {
    check_continuation("tiny-prm-value", "demo", Preset::Demo);
}

#[test]
fn continued_scores_equal_full_rescoring_skywork() {
    check_continuation("tiny-prm-value", "skywork", Preset::Skywork);
}

#[test]
fn continued_scores_equal_full_rescoring_qwen_prm() {
    check_continuation(
        "tiny-prm-classifier",
        "qwen2.5-math-prm",
        Preset::Qwen25MathPrm,
    );
}

#[test]
fn continued_scores_equal_full_rescoring_math_shepherd() {
    check_continuation("tiny-prm-causal", "math-shepherd", Preset::MathShepherd);
}

#[test]
fn continued_scores_equal_full_rescoring_rlhflow() {
    check_continuation("tiny-prm-causal", "rlhflow", Preset::Rlhflow);
}

/// A copy of the causal fixture whose chat template writes the length of each
/// message before it: adding a step changes tokens before the first step.
fn fixture_with_counting_template() -> tempfile::TempDir {
    let src = fixture("tiny-prm-causal");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let path = dir.join("tokenizer_config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let template = cfg["chat_template"].as_str().unwrap().to_string();
    let counted = template.replace(
        "' + message['content'] | trim + '",
        "' + (message['content'] | length | string) + ': ' + message['content'] | trim + '",
    );
    assert_ne!(
        counted, template,
        "the fixture's template changed; update this test"
    );
    cfg["chat_template"] = serde_json::Value::String(counted);
    std::fs::write(&path, serde_json::to_string(&cfg).unwrap()).unwrap();
    tmp
}

#[test]
fn a_layout_that_cannot_be_continued_is_rescored_in_full_and_counted() {
    let dir = fixture_with_counting_template();
    let dir = dir.path();
    let adapter = PrmAdapter {
        layout: Layout::Chat {
            system: None,
            tag: " ки".into(),
            separator: String::new(),
        },
        read: Default::default(),
        probability: Probability::LabelTokens {
            positive: " +".into(),
            negative: " -".into(),
        },
        mode: Default::default(),
    };
    let v = PrmVerifier::load(dir, &adapter, &ttc_core::RuntimeSettings::default()).unwrap();
    let why = v
        .cache_bytes_per_token()
        .expect_err("the counting template cannot be continued");
    assert!(why.contains("changes tokens before the last step"), "{why}");
    let steps: Vec<String> = ["one plus one", "is two"].map(String::from).to_vec();
    let first = continue_one(&v, "What is 1 + 1?", &steps[..1], None);
    let covered = first.scores.processed_tokens;
    let second = continue_one(&v, "What is 1 + 1?", &steps, first.state);
    let full = v
        .score(&[ScoreRequest {
            question: "What is 1 + 1?",
            steps: &steps,
        }])
        .unwrap();
    assert_eq!(second.scores.scores, full[0].scores);
    assert_eq!(
        second.scores.processed_tokens, full[0].processed_tokens,
        "read in full"
    );
    assert!(
        second.reread_tokens > 0 && second.reread_tokens <= covered,
        "re-read counted"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn turning_the_cache_off_rescores_in_full() {
    let v = load("tiny-prm-causal", &PrmAdapter::preset(Preset::MathShepherd)).with_cache(false);
    assert!(v.cache_bytes_per_token().is_err());
    let gold = golden("tiny-prm-causal", "math-shepherd");
    let case = gold.cases.iter().find(|c| c.steps.len() >= 2).unwrap();
    let first = continue_one(&v, &case.question, &case.steps[..1], None);
    let second = continue_one(&v, &case.question, &case.steps[..2], first.state);
    let full = v
        .score(&[ScoreRequest {
            question: &case.question,
            steps: &case.steps[..2],
        }])
        .unwrap();
    assert_eq!(second.scores, full[0]);
    assert!(second.reread_tokens > 0);
}

#[test]
fn a_full_cache_budget_falls_back_and_frees_with_the_states() {
    let v = load("tiny-prm-causal", &PrmAdapter::preset(Preset::MathShepherd)).with_cache_bytes(1);
    let gold = golden("tiny-prm-causal", "math-shepherd");
    let case = gold.cases.iter().find(|c| c.steps.len() >= 2).unwrap();
    let first = continue_one(&v, &case.question, &case.steps[..1], None);
    assert_eq!(v.cache_usage(), (1, 0), "nothing fits in one byte");
    let second = continue_one(&v, &case.question, &case.steps[..2], first.state);
    assert!(second.reread_tokens > 0);

    let v = load("tiny-prm-causal", &PrmAdapter::preset(Preset::MathShepherd));
    let first = continue_one(&v, &case.question, &case.steps[..1], None);
    let held = v.cache_usage().1;
    assert!(held > 0);
    let fork = first.state.clone();
    drop(first);
    assert_eq!(v.cache_usage().1, held, "a fork keeps the state alive");
    drop(fork);
    assert_eq!(v.cache_usage().1, 0, "the last fork's drop frees it");
}
