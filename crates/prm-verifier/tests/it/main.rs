//! The verifier against torch's step probabilities on the committed fixtures
//! (`models/fixtures/tiny-prm-*`, made by `xtask/python/make_prm_fixtures.py`), and its
//! batching, ORM mode, config parsing and errors. Needs ONNX Runtime (`cargo xtask setup`).

mod cache;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use ttc_core::{ScoreRequest, StepScores, Verifier};
use ttc_prm_verifier::{
    AdapterConfig, Layout, Preset, PrmAdapter, Probability, ReadAt, ScoreMode, Tokenize,
};

const TOLERANCE: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/fixtures")
        .join(name)
}

fn try_load(name: &str, adapter: &PrmAdapter) -> ttc_core::Result<ttc_prm_verifier::PrmVerifier> {
    ttc_prm_verifier::PrmVerifier::load(
        &fixture(name),
        adapter,
        &ttc_core::RuntimeSettings::default(),
    )
}

fn load(name: &str, adapter: &PrmAdapter) -> ttc_prm_verifier::PrmVerifier {
    try_load(name, adapter).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

fn load_err(name: &str, adapter: &PrmAdapter) -> String {
    match try_load(name, adapter) {
        Ok(_) => panic!("{name} loaded with {adapter:?}"),
        Err(e) => e.to_string(),
    }
}

#[derive(Debug, Deserialize)]
struct Case {
    question: String,
    steps: Vec<String>,
    input_ids: Vec<u32>,
    positions: Vec<usize>,
    scores: Vec<f32>,
}

#[derive(Debug, Deserialize)]
struct Golden {
    cases: Vec<Case>,
    batch_scores: Vec<Vec<f32>>,
}

fn golden(folder: &str, adapter: &str) -> Golden {
    let path = fixture(folder).join("golden.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut all: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).expect("golden.json");
    serde_json::from_value(
        all.remove(adapter)
            .unwrap_or_else(|| panic!("{folder}: no golden data for {adapter}")),
    )
    .expect("golden layout")
}

fn request(case: &Case) -> ScoreRequest<'_> {
    ScoreRequest {
        question: &case.question,
        steps: &case.steps,
    }
}

fn assert_close(ours: &[f32], theirs: &[f32], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: number of scores");
    let worst = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < TOLERANCE,
        "{what}: max abs difference {worst} ({ours:?} vs {theirs:?})"
    );
}

/// Token ids, read positions and probabilities match torch, one at a time and batched.
fn check_parity(folder: &str, golden_name: &str, adapter: &PrmAdapter) {
    let v = load(folder, adapter);
    let gold = golden(folder, golden_name);
    for (i, case) in gold.cases.iter().enumerate() {
        let enc = v.encode(&request(case)).unwrap();
        assert_eq!(enc.ids, case.input_ids, "{golden_name} case {i}: token ids");
        assert_eq!(
            enc.positions, case.positions,
            "{golden_name} case {i}: positions read"
        );
        let out = v.score(&[request(case)]).unwrap();
        assert_close(
            &out[0].scores,
            &case.scores,
            &format!("{golden_name} case {i} alone"),
        );
        assert_eq!(
            out[0].processed_tokens,
            case.input_ids.len(),
            "{golden_name} case {i}: processed tokens"
        );
    }
    // Encoded again, the texts' token ids come from what the verifier remembers.
    for (i, case) in gold.cases.iter().enumerate() {
        let enc = v.encode(&request(case)).unwrap();
        assert_eq!(
            enc.ids, case.input_ids,
            "{golden_name} case {i}: token ids encoded again"
        );
    }
    let requests: Vec<ScoreRequest<'_>> = gold.cases.iter().map(request).collect();
    let lengths: std::collections::BTreeSet<usize> =
        gold.cases.iter().map(|c| c.input_ids.len()).collect();
    assert!(
        lengths.len() > 1,
        "{golden_name}: the batch should mix lengths"
    );
    let batched = v.score(&requests).unwrap();
    assert_eq!(batched.len(), gold.cases.len());
    for (i, ((out, case), want)) in batched
        .iter()
        .zip(&gold.cases)
        .zip(&gold.batch_scores)
        .enumerate()
    {
        assert_close(
            &out.scores,
            &case.scores,
            &format!("{golden_name} case {i} in a batch"),
        );
        assert_close(
            &out.scores,
            want,
            &format!("{golden_name} case {i} vs torch's padded batch"),
        );
        assert_eq!(out.processed_tokens, case.input_ids.len());
    }
}

#[test]
fn classifier_matches_qwen_prm_reference() {
    check_parity(
        "tiny-prm-classifier",
        "qwen2.5-math-prm",
        &PrmAdapter::preset(Preset::Qwen25MathPrm),
    );
}

#[test]
fn value_head_matches_demo_reference() {
    check_parity("tiny-prm-value", "demo", &PrmAdapter::preset(Preset::Demo));
}

#[test]
fn value_head_matches_skywork_reference() {
    check_parity(
        "tiny-prm-value",
        "skywork",
        &PrmAdapter::preset(Preset::Skywork),
    );
}

#[test]
fn causal_lm_matches_math_shepherd_reference() {
    check_parity(
        "tiny-prm-causal",
        "math-shepherd",
        &PrmAdapter::preset(Preset::MathShepherd),
    );
}

#[test]
fn causal_lm_matches_rlhflow_reference() {
    check_parity(
        "tiny-prm-causal",
        "rlhflow",
        &PrmAdapter::preset(Preset::Rlhflow),
    );
}

#[test]
fn rlhflow_reads_only_the_assistant_plus() {
    // Steps full of "+" (the tag text) in the user turns do not add positions.
    let v = load("tiny-prm-causal", &PrmAdapter::preset(Preset::Rlhflow));
    let steps = vec!["1+1=2".to_string(), "+".to_string(), "2+2+2=6".to_string()];
    let enc = v
        .encode(&ScoreRequest {
            question: "+?",
            steps: &steps,
        })
        .unwrap();
    assert_eq!(enc.positions.len(), 3);
    let plus = enc.ids[enc.positions[0] + 1];
    for &p in &enc.positions {
        assert_eq!(
            enc.ids[p + 1],
            plus,
            "the token after each read position is the assistant `+`"
        );
    }
    assert!(
        enc.ids.iter().filter(|&&id| id == plus).count() > 3,
        "steps contain `+` tokens too"
    );
}

#[test]
fn batched_equals_unbatched_under_every_cap() {
    let v = load("tiny-prm-causal", &PrmAdapter::preset(Preset::MathShepherd));
    let gold = golden("tiny-prm-causal", "math-shepherd");
    let requests: Vec<ScoreRequest<'_>> = gold.cases.iter().map(request).collect();
    let one_by_one: Vec<StepScores> = requests
        .iter()
        .map(|r| v.score(std::slice::from_ref(r)).unwrap().remove(0))
        .collect();
    let v = v.with_max_batch(2).with_max_tokens(100);
    for capped in [v.score(&requests).unwrap(), {
        let v = v.with_max_batch(64).with_max_tokens(1 << 20);
        v.score(&requests).unwrap()
    }] {
        for (i, (a, b)) in capped.iter().zip(&one_by_one).enumerate() {
            assert_eq!(a.processed_tokens, b.processed_tokens);
            let worst = a
                .scores
                .iter()
                .zip(&b.scores)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 1e-5,
                "case {i}: batched differs from alone by {worst}"
            );
        }
    }
}

#[test]
fn orm_mode_returns_the_last_steps_score_only() {
    for (folder, name, preset) in [
        (
            "tiny-prm-classifier",
            "qwen2.5-math-prm",
            Preset::Qwen25MathPrm,
        ),
        ("tiny-prm-value", "demo", Preset::Demo),
        ("tiny-prm-causal", "rlhflow", Preset::Rlhflow),
    ] {
        let gold = golden(folder, name);
        let v = load(
            folder,
            &PrmAdapter::preset(preset).with_mode(ScoreMode::Orm),
        );
        let requests: Vec<ScoreRequest<'_>> = gold.cases.iter().map(request).collect();
        for (out, case) in v.score(&requests).unwrap().iter().zip(&gold.cases) {
            assert_eq!(
                out.scores.len(),
                1,
                "{name} ORM: one score for {} steps",
                case.steps.len()
            );
            assert_close(
                &out.scores,
                &case.scores[case.scores.len() - 1..],
                &format!("{name} ORM"),
            );
            assert_eq!(out.processed_tokens, case.input_ids.len());
        }
    }
}

#[test]
fn long_input_on_the_causal_fixture() {
    let gold = golden("tiny-prm-causal", "math-shepherd-long");
    let long = &gold.cases[0];
    assert!(
        long.input_ids.len() >= 2000,
        "the long case has {} tokens",
        long.input_ids.len()
    );
    // A token cap below the request's length: it runs alone, the short one separately.
    let v = load("tiny-prm-causal", &PrmAdapter::preset(Preset::MathShepherd)).with_max_tokens(512);
    let requests: Vec<ScoreRequest<'_>> = gold.cases.iter().map(request).collect();
    let out = v.score(&requests).unwrap();
    assert_eq!(out[0].processed_tokens, long.input_ids.len());
    assert_close(&out[0].scores, &long.scores, "2,000-token case");
    assert_close(
        &out[1].scores,
        &gold.cases[1].scores,
        "short case beside it",
    );
    // A causal model's score of step k depends only on the text up to it.
    for k in [1, long.steps.len() / 2] {
        let prefix = ScoreRequest {
            question: &long.question,
            steps: &long.steps[..k],
        };
        let short = v.score(&[prefix]).unwrap();
        assert_close(
            &short[0].scores,
            &long.scores[..k],
            &format!("first {k} steps alone"),
        );
    }
}

#[test]
fn default_token_cap_bounds_the_logits() {
    let causal = load("tiny-prm-causal", &PrmAdapter::preset(Preset::MathShepherd));
    // 512 vocabulary columns: 1 GiB of logits would be 524,288 tokens, above the default cap.
    assert_eq!(causal.max_tokens(), ttc_prm_verifier::DEFAULT_MAX_TOKENS);
    assert_eq!(causal.max_batch(), ttc_prm_verifier::DEFAULT_MAX_BATCH);
    let info = causal.info();
    assert!(
        info.parameters > 100_000 && info.parameters < 200_000,
        "parameters {}",
        info.parameters
    );
    assert!(info.name.ends_with("tiny-prm-causal"));
}

#[test]
fn tag_count_mismatch_names_both_numbers() {
    // A separator made of the tag token puts extra tags between the steps.
    let mut adapter = PrmAdapter::preset(Preset::Demo);
    if let Layout::Plain { separator, .. } = &mut adapter.layout {
        *separator = "\n".into();
    }
    let v = load("tiny-prm-value", &adapter);
    let steps = vec![
        "1 + 1 = 2".to_string(),
        "2 + 2 = 4".to_string(),
        "done".to_string(),
    ];
    let err = v
        .score(&[ScoreRequest {
            question: "q",
            steps: &steps,
        }])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("found 5 step tags") && err.contains("3 steps") && err.contains("separator"),
        "{err}"
    );

    // The same with the whole text tokenized at once.
    if let Layout::Plain { tokenize, .. } = &mut adapter.layout {
        *tokenize = Tokenize::Whole;
    }
    let v = load("tiny-prm-value", &adapter);
    let requests = [
        ScoreRequest {
            question: "q",
            steps: &steps[..1],
        },
        ScoreRequest {
            question: "q",
            steps: &steps,
        },
    ];
    let err = v.score(&requests).unwrap_err().to_string();
    assert!(
        err.contains("score request 1")
            && err.contains("found 5 step tags")
            && err.contains("3 steps"),
        "{err}"
    );
}

#[test]
fn tags_in_the_question_are_not_steps() {
    let v = load("tiny-prm-value", &PrmAdapter::preset(Preset::Demo));
    let steps = vec!["3 + 4 = 7".to_string()];
    let out = v
        .score(&[ScoreRequest {
            question: "line one\nline two\n",
            steps: &steps,
        }])
        .unwrap();
    assert_eq!(out[0].scores.len(), 1);
}

#[test]
fn a_step_containing_the_tag_is_rejected() {
    let v = load(
        "tiny-prm-classifier",
        &PrmAdapter::preset(Preset::Qwen25MathPrm),
    );
    let steps = vec!["fine".to_string(), "sneaky<extra_0>step".to_string()];
    let err = v
        .score(&[ScoreRequest {
            question: "q",
            steps: &steps,
        }])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("step 1") && err.contains("<extra_0>") && err.contains("split"),
        "{err}"
    );
    let v = load("tiny-prm-value", &PrmAdapter::preset(Preset::Demo));
    let steps = vec!["two\nlines".to_string()];
    let err = v
        .score(&[ScoreRequest {
            question: "q",
            steps: &steps,
        }])
        .unwrap_err()
        .to_string();
    assert!(err.contains("step 0") && err.contains("\"\\n\""), "{err}");
}

#[test]
fn unknown_tokens_are_load_errors() {
    let mut adapter = PrmAdapter::preset(Preset::Qwen25MathPrm);
    if let Layout::Chat { tag, .. } = &mut adapter.layout {
        *tag = "<extra_1>".into();
    }
    let err = load_err("tiny-prm-classifier", &adapter);
    assert!(
        err.contains("\"<extra_1>\"")
            && err.contains("not a single token")
            && err.contains("tokenizer.json"),
        "{err}"
    );

    let mut adapter = PrmAdapter::preset(Preset::MathShepherd);
    adapter.probability = Probability::LabelTokens {
        positive: " correct!".into(),
        negative: " -".into(),
    };
    let err = load_err("tiny-prm-causal", &adapter);
    assert!(
        err.contains("positive label token") && err.contains("\" correct!\""),
        "{err}"
    );
}

#[test]
fn a_genai_folder_is_refused_as_a_reward_model_with_the_export_to_use() {
    let err = load_err("tiny-llama-genai", &PrmAdapter::preset(Preset::Demo));
    assert!(err.contains("ONNX Runtime GenAI folder"), "{err}");
    assert!(err.contains("cargo xtask export"), "{err}");
}

#[test]
fn graph_and_adapter_must_agree() {
    // A two-class head read as a value head.
    let mut adapter = PrmAdapter::preset(Preset::Qwen25MathPrm);
    adapter.probability = Probability::Sigmoid;
    let err = load_err("tiny-prm-classifier", &adapter);
    assert!(
        err.contains("2 logits per token") && err.contains("sigmoid"),
        "{err}"
    );
    // A class the head does not have.
    adapter.probability = Probability::Softmax { class: 2 };
    let err = load_err("tiny-prm-classifier", &adapter);
    assert!(
        err.contains("2 classes") && err.contains("class 2"),
        "{err}"
    );
    // A value head read as a causal LM.
    let mut adapter = PrmAdapter::preset(Preset::Demo);
    adapter.probability = Probability::LabelTokens {
        positive: "+".into(),
        negative: "-".into(),
    };
    let err = load_err("tiny-prm-value", &adapter);
    assert!(
        err.contains("1 logits per token")
            && err.contains("vocab_size = 512")
            && err.contains("kind = \"sigmoid\""),
        "{err}"
    );
    // A causal LM read as a value head.
    let mut adapter = PrmAdapter::preset(Preset::MathShepherd);
    adapter.probability = Probability::Sigmoid;
    let err = load_err("tiny-prm-causal", &adapter);
    assert!(
        err.contains("512 logits per token") && err.contains("label-tokens"),
        "{err}"
    );
    adapter.probability = Probability::Softmax { class: 1 };
    let err = load_err("tiny-prm-causal", &adapter);
    assert!(
        err.contains("512 logits per token") && err.contains("label-tokens"),
        "{err}"
    );
    // A chat layout without a chat template.
    let err = load_err("tiny-prm-value", &PrmAdapter::preset(Preset::Qwen25MathPrm));
    assert!(
        err.contains("tokenizer_config.json has no chat_template"),
        "{err}"
    );
    // Not a model folder.
    let err = load_err("no-such-prm", &PrmAdapter::preset(Preset::Demo));
    assert!(
        err.contains("no-such-prm") && err.contains("not a folder"),
        "{err}"
    );
}

#[test]
fn graphs_that_are_not_per_token_scorers_are_refused() {
    let demo = PrmAdapter::preset(Preset::Demo);
    let err = load_err("tiny-prm-bad/rank2", &demo);
    assert!(
        err.contains("tiny-prm-bad/rank2")
            && err.contains("rank 2")
            && err.contains("token-classification"),
        "{err}"
    );
    let err = load_err("tiny-prm-bad/no-mask", &demo);
    assert!(err.contains("no input `attention_mask`"), "{err}");
}

#[test]
fn bad_requests_are_errors() {
    let v = load("tiny-prm-value", &PrmAdapter::preset(Preset::Demo));
    assert!(v.score(&[]).unwrap().is_empty());
    let none: Vec<String> = Vec::new();
    let steps = vec!["x".to_string()];
    let err = v
        .score(&[
            ScoreRequest {
                question: "q",
                steps: &steps,
            },
            ScoreRequest {
                question: "q",
                steps: &none,
            },
        ])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("score request 1") && err.contains("no steps"),
        "{err}"
    );
    // Longer than max_position_embeddings (4096).
    let many = vec!["1 + 1 = 2".to_string(); 1000];
    let err = v
        .score(&[ScoreRequest {
            question: "q",
            steps: &many,
        }])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("at most 4096") && err.contains("max_position_embeddings"),
        "{err}"
    );
}

// ---- configuration -------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunFile {
    verifier: VerifierSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifierSection {
    adapter: AdapterConfig,
}

fn parse(text: &str) -> Result<PrmAdapter, String> {
    let file: RunFile = toml::from_str(text).map_err(|e| e.to_string())?;
    file.verifier.adapter.resolve().map_err(|e| e.to_string())
}

/// Each preset written out in full, as the crate docs and the report show them.
const SPELLED_OUT: [(Preset, &str); 5] = [
    (
        Preset::Demo,
        r#"
[verifier.adapter]
layout = { kind = "plain", prompt = "Question: {question}\nSolution:\n", tag = "\n", tokenize = "pieces" }
read = "tag"
probability = { kind = "sigmoid" }
mode = "prm"
"#,
    ),
    (
        Preset::Qwen25MathPrm,
        r#"
[verifier.adapter]
layout = { kind = "chat", system = "Please reason step by step, and put your final answer within \\boxed{}.", tag = "<extra_0>" }
read = "tag"
probability = { kind = "softmax", class = 1 }
"#,
    ),
    (
        Preset::MathShepherd,
        r#"
[verifier.adapter]
layout = { kind = "plain", prompt = "{question} ", tag = " ки", separator = "\n", tokenize = "whole" }
probability = { kind = "label-tokens", positive = " +", negative = " -" }
"#,
    ),
    (
        Preset::Rlhflow,
        r#"
[verifier.adapter]
layout = { kind = "chat-turns", first-turn = "{question} {step}", tag = "+" }
read = "before-tag"
probability = { kind = "label-tokens", positive = "+", negative = "-" }
"#,
    ),
    (
        Preset::Skywork,
        r#"
[verifier.adapter]
layout = { kind = "plain", prompt = "{bos}{question}\n", tag = "\n", add-special-tokens = false }
probability = { kind = "sigmoid" }
"#,
    ),
];

#[test]
fn adapters_parse_from_toml() {
    for (preset, text) in SPELLED_OUT {
        assert_eq!(
            parse(text).unwrap(),
            PrmAdapter::preset(preset),
            "{preset} spelled out"
        );
        let by_name = format!("[verifier.adapter]\npreset = \"{preset}\"\n");
        assert_eq!(
            parse(&by_name).unwrap(),
            PrmAdapter::preset(preset),
            "{preset} by name"
        );
    }
    let adapter = parse("[verifier.adapter]\npreset = \"qwen2.5-math-prm\"\nmode = \"orm\"\nprobability = { kind = \"softmax\", class = 0 }\n").unwrap();
    assert_eq!(adapter.mode, ScoreMode::Orm);
    assert_eq!(adapter.probability, Probability::Softmax { class: 0 });
    assert_eq!(adapter.read, ReadAt::Tag);
    // The resolved adapter serializes back to TOML that parses to itself.
    for preset in Preset::ALL {
        let adapter = PrmAdapter::preset(preset);
        let text = toml::to_string(&adapter).unwrap();
        assert_eq!(
            toml::from_str::<PrmAdapter>(&text).unwrap(),
            adapter,
            "{preset}: {text}"
        );
    }
}

#[test]
fn bad_toml_values_name_the_allowed_ones() {
    let err = parse("[verifier.adapter]\npreset = \"qwen\"\n").unwrap_err();
    for name in [
        "qwen",
        "demo",
        "qwen2.5-math-prm",
        "math-shepherd",
        "rlhflow",
        "skywork",
    ] {
        assert!(err.contains(name), "{err}");
    }
    let err = parse("[verifier.adapter]\npreset = \"demo\"\nmode = \"both\"\n").unwrap_err();
    assert!(
        err.contains("both")
            && err.contains("prm")
            && err.contains("orm")
            && err.contains("line 3"),
        "{err}"
    );
    let err = parse("[verifier.adapter]\nlayout = { kind = \"json\", tag = \"x\" }\nprobability = { kind = \"sigmoid\" }\n").unwrap_err();
    assert!(
        err.contains("json") && err.contains("plain") && err.contains("chat-turns"),
        "{err}"
    );
    let err = parse("[verifier.adapter]\npreset = \"demo\"\nread = \"after-tag\"\n").unwrap_err();
    assert!(
        err.contains("after-tag") && err.contains("before-tag"),
        "{err}"
    );
    let err =
        parse("[verifier.adapter]\npreset = \"demo\"\nprobability = { kind = \"softmax2\" }\n")
            .unwrap_err();
    assert!(
        err.contains("softmax2") && err.contains("label-tokens"),
        "{err}"
    );
    let err = parse("[verifier.adapter]\nlayout = { kind = \"plain\", prompt = \"{question}\", tag = \"\\n\", tokenise = \"whole\" }\nprobability = { kind = \"sigmoid\" }\n").unwrap_err();
    assert!(
        err.contains("tokenise") && err.contains("tokenize"),
        "{err}"
    );
    let err = parse("[verifier.adapter]\npreset = \"demo\"\nmodel = \"x\"\n").unwrap_err();
    assert!(err.contains("model") && err.contains("preset"), "{err}");
    let err = parse("[verifier.adapter]\nprobability = { kind = \"sigmoid\" }\n").unwrap_err();
    assert!(err.contains("no `preset` and no `layout`"), "{err}");
}
