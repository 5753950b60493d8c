//! The generator against transformers' own output on the committed fixtures, and its
//! sampling, forking and stopping behaviour. Needs ONNX Runtime (`cargo xtask setup`).

use std::path::{Path, PathBuf};

use serde_json::Value;
use ttc_core::{
    ChatMessage, Error, ExecutionProvider, FallbackPolicy, FinishReason, Generator, Prompt,
    RuntimeSettings, SamplingParams, Sequence, StopCriteria,
};
use ttc_generator::{Contract, OnnxGenerator};

/// The Llama fixture on both contracts: an Optimum export and an ONNX Runtime GenAI
/// folder of the same weights.
const LLAMAS: [&str; 2] = ["tiny-llama", "tiny-llama-genai"];
/// The Qwen2 fixture on both contracts.
const QWENS: [&str; 2] = ["tiny-qwen2", "tiny-qwen2-genai"];

/// Where the model's number of positions comes from, as errors name it.
fn positions_field(g: &OnnxGenerator) -> &'static str {
    match g.contract() {
        Contract::Optimum => "max_position_embeddings",
        Contract::GenAi => "context_length",
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/fixtures")
        .join(name)
}

fn load_with(name: &str, settings: RuntimeSettings) -> OnnxGenerator {
    OnnxGenerator::load(&fixture(name), &settings).unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

fn load(name: &str) -> OnnxGenerator {
    load_with(name, RuntimeSettings::default())
}

fn golden(name: &str) -> Value {
    let path = fixture(name).join("golden.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("golden.json"))
        .expect("golden json")
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("id list")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("float list")
        .iter()
        .map(|x| x.as_f64().expect("float") as f32)
        .collect()
}

fn assert_close(ours: &[f32], theirs: &[f32], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    let worst = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "{what}: max abs difference {worst}");
}

fn greedy(max_new_tokens: usize) -> (SamplingParams, StopCriteria) {
    (
        SamplingParams::GREEDY,
        StopCriteria::max_tokens(max_new_tokens),
    )
}

fn check_single_parity(model: &str, golden_of: &str) {
    let g = load(model);
    let gold = golden(golden_of);
    let max_new = gold["max_new_tokens"].as_u64().unwrap() as usize;
    for case in gold["single"].as_array().unwrap() {
        let prompt = Prompt::Text(case["prompt"].as_str().unwrap().to_string());
        let seq = g.start(&prompt, 0).unwrap();
        assert_eq!(
            seq.tokens,
            ids(&case["input_ids"]),
            "tokenization of {:?}",
            case["prompt"]
        );
        let logits = g.next_token_logits(std::slice::from_ref(&seq)).unwrap();
        assert_close(
            &logits[0],
            &floats(&case["last_logits"]),
            &format!("{model} logits for {:?}", case["prompt"]),
        );
        let mut seqs = vec![seq];
        let (s, stop) = greedy(max_new);
        let out = g.generate(&mut seqs, &s, &stop).unwrap();
        assert_eq!(
            out[0].token_ids,
            ids(&case["output_ids"]),
            "{model} greedy ids for {:?}",
            case["prompt"]
        );
    }
}

fn check_batch_parity(model: &str, golden_of: &str) {
    let g = load(model);
    let gold = golden(golden_of);
    let max_new = gold["max_new_tokens"].as_u64().unwrap() as usize;
    let batch = &gold["padded_batch"];
    let mut seqs: Vec<Sequence> = batch["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            g.start(&Prompt::Text(p.as_str().unwrap().to_string()), 0)
                .unwrap()
        })
        .collect();
    let want_ids = batch["input_ids"].as_array().unwrap();
    for (s, want) in seqs.iter().zip(want_ids) {
        assert_eq!(s.tokens, ids(want));
    }
    let logits = g.next_token_logits(&seqs).unwrap();
    for (r, want) in batch["last_logits"].as_array().unwrap().iter().enumerate() {
        assert_close(
            &logits[r],
            &floats(want),
            &format!("{model} padded-batch logits row {r}"),
        );
    }
    let (s, stop) = greedy(max_new);
    let out = g.generate(&mut seqs, &s, &stop).unwrap();
    for (r, want) in batch["output_ids"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            out[r].token_ids,
            ids(want),
            "{model} padded-batch greedy ids row {r}"
        );
    }
}

#[test]
fn llama_matches_transformers_at_batch_one() {
    check_single_parity("tiny-llama", "tiny-llama");
}

#[test]
fn llama_matches_transformers_in_a_left_padded_batch() {
    check_batch_parity("tiny-llama", "tiny-llama");
}

#[test]
fn qwen2_matches_transformers_at_batch_one() {
    check_single_parity("tiny-qwen2", "tiny-qwen2");
}

#[test]
fn qwen2_matches_transformers_in_a_left_padded_batch() {
    check_batch_parity("tiny-qwen2", "tiny-qwen2");
}

#[test]
fn genai_llama_matches_transformers_at_batch_one() {
    check_single_parity("tiny-llama-genai", "tiny-llama-genai");
}

#[test]
fn genai_llama_matches_transformers_in_a_padded_batch() {
    check_batch_parity("tiny-llama-genai", "tiny-llama-genai");
}

#[test]
fn genai_qwen2_matches_transformers_at_batch_one() {
    check_single_parity("tiny-qwen2-genai", "tiny-qwen2-genai");
}

#[test]
fn genai_qwen2_matches_transformers_in_a_padded_batch() {
    check_batch_parity("tiny-qwen2-genai", "tiny-qwen2-genai");
}

#[test]
fn legacy_merged_decoder_matches_transformers() {
    check_single_parity("tiny-llama-merged", "tiny-llama");
    check_batch_parity("tiny-llama-merged", "tiny-llama");
}

#[test]
fn windowed_prefill_reads_long_prompts_the_same() {
    for model in LLAMAS {
        windowed_prefill_reads_long_prompts_the_same_on(model);
    }
}

fn windowed_prefill_reads_long_prompts_the_same_on(model: &str) {
    let whole = load(model);
    let windowed = load(model).with_prefill_window(3);
    let gold = golden(model);
    let batch = &gold["padded_batch"];
    let seqs: Vec<Sequence> = batch["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            whole
                .start(&Prompt::Text(p.as_str().unwrap().to_string()), 0)
                .unwrap()
        })
        .collect();
    let a = whole.next_token_logits(&seqs).unwrap();
    let b = windowed.next_token_logits(&seqs).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert_close(x, y, "windowed prefill");
    }
}

#[test]
fn chat_template_renders_like_transformers() {
    let g = load("tiny-llama");
    let gold = golden("tiny-llama");
    let messages: Vec<ChatMessage> =
        serde_json::from_value(gold["chat"]["messages"].clone()).unwrap();
    assert_eq!(
        g.render_chat(&messages).unwrap(),
        gold["chat"]["rendered"].as_str().unwrap()
    );
}

/// Samples of two prompts x 8 at temperature 1, as token lists.
fn sample_run(g: &OnnxGenerator, seed: u64) -> Vec<Vec<u32>> {
    let mut seqs = Vec::new();
    for (i, p) in ["12 + 7 =", "The cat sat"].iter().enumerate() {
        seqs.extend(
            g.start(&Prompt::Text(p.to_string()), seed + i as u64)
                .unwrap()
                .fork(8),
        );
    }
    let out = g
        .generate(
            &mut seqs,
            &SamplingParams {
                temperature: 1.0,
                top_k: 50,
                top_p: 0.95,
            },
            &StopCriteria::max_tokens(12),
        )
        .unwrap();
    out.into_iter().map(|c| c.token_ids).collect()
}

#[test]
fn same_seed_same_samples_whatever_batch_size_and_threads() {
    for model in LLAMAS {
        same_seed_same_samples_whatever_batch_size_and_threads_on(model);
    }
}

fn same_seed_same_samples_whatever_batch_size_and_threads_on(model: &str) {
    let threads = |n| RuntimeSettings {
        threads: Some(n),
        ..RuntimeSettings::default()
    };
    let reference = sample_run(&load_with(model, threads(1)).with_max_batch(1), 3);
    let batched = sample_run(&load_with(model, threads(1)).with_max_batch(16), 3);
    let two_threads = sample_run(&load_with(model, threads(2)).with_max_batch(16), 3);
    let two_threads_b1 = sample_run(&load_with(model, threads(2)).with_max_batch(1), 3);
    assert_eq!(reference, batched);
    assert_eq!(reference, two_threads);
    assert_eq!(reference, two_threads_b1);
    // The samples do differ from one another and from another seed.
    assert!(reference.iter().skip(1).any(|s| s != &reference[0]));
    assert_ne!(reference, sample_run(&load(model), 4));
}

/// Rows of every kind a call can hold: fresh prompts of different lengths, samples
/// sharing one prompt, a sequence continuing from its cache with one pending token,
/// and one with appended text (several pending tokens on a cache).
fn mixed_rows(g: &OnnxGenerator) -> Vec<Sequence> {
    let mut rows = vec![
        g.start(&Prompt::Text("12 + 7 =".into()), 11).unwrap(),
        g.start(&Prompt::Text("The cat sat on the mat and".into()), 12)
            .unwrap(),
    ];
    rows.extend(g.start(&Prompt::Text("Hi".into()), 13).unwrap().fork(2));
    let mut cont = vec![g.start(&Prompt::Text("3 * 4 =".into()), 14).unwrap()];
    g.generate(
        &mut cont,
        &SamplingParams::GREEDY,
        &StopCriteria {
            ignore_eos: true,
            ..StopCriteria::max_tokens(3)
        },
    )
    .unwrap();
    let mut appended = cont[0].clone();
    g.append(&mut appended, " and 25 - 9 =").unwrap();
    assert!(appended.tokens.len() - appended.cached_len > 1);
    assert_eq!(cont[0].tokens.len() - cont[0].cached_len, 1);
    rows.push(cont.remove(0));
    rows.push(appended);
    rows
}

/// Each row's sampled tokens, generated in the given groups of rows.
fn sampled_in_groups(g: &OnnxGenerator, groups: &[&[usize]]) -> Vec<Vec<u32>> {
    let rows = mixed_rows(g);
    let mut out = vec![Vec::new(); rows.len()];
    for group in groups {
        let mut seqs: Vec<Sequence> = group.iter().map(|&i| rows[i].clone()).collect();
        let done = g
            .generate(
                &mut seqs,
                &SamplingParams::with_temperature(0.8),
                &StopCriteria {
                    ignore_eos: true,
                    ..StopCriteria::max_tokens(10)
                },
            )
            .unwrap();
        for (&i, c) in group.iter().zip(done) {
            out[i] = c.token_ids;
        }
    }
    out
}

#[test]
fn same_seed_same_tokens_whatever_the_batch_composition() {
    for model in LLAMAS {
        let g = load(model);
        let alone = sampled_in_groups(&g, &[&[0], &[1], &[2], &[3], &[4], &[5]]);
        let together = sampled_in_groups(&g, &[&[0, 1, 2, 3, 4, 5]]);
        let shuffled = sampled_in_groups(&g, &[&[5, 2, 0], &[4, 1, 3]]);
        assert_eq!(alone, together, "{model}");
        assert_eq!(alone, shuffled, "{model}");
        let small = sampled_in_groups(&g.with_max_batch(2), &[&[0, 1, 2, 3, 4, 5]]);
        assert_eq!(alone, small, "{model}");
        // Forks of one state draw their own streams; the rows differ.
        assert!(alone.iter().skip(1).any(|t| t != &alone[0]), "{model}");
    }
}

#[test]
fn forked_continuation_equals_generation_from_the_concatenation() {
    for model in LLAMAS {
        forked_continuation_equals_generation_from_the_concatenation_on(model);
    }
}

fn forked_continuation_equals_generation_from_the_concatenation_on(model: &str) {
    let g = load(model);
    let greedy = |n| (SamplingParams::GREEDY, StopCriteria::max_tokens(n));
    let mut text_checks = 0;
    for prompt in ["12 + 7 = 19\n3 +", "The cat sat", "7 x 8 ="] {
        for step_len in 1..=4 {
            let mut first = vec![g.start(&Prompt::Text(prompt.into()), 0).unwrap()];
            let (s, stop) = greedy(step_len);
            let step = g.generate(&mut first, &s, &stop).unwrap();
            if step[0].finish_reason == FinishReason::Eos {
                continue;
            }
            // Three children continue from the parent's cache.
            let mut children = first[0].fork(3);
            let (s, stop) = greedy(8);
            let cont = g.generate(&mut children, &s, &stop).unwrap();
            // No child re-read the prefix: one reads the shared pending token, then each its own steps.
            let steps = |c: &ttc_core::Completion| c.token_ids.len() - 1;
            assert_eq!(
                cont.iter().map(|c| c.processed_tokens).sum::<usize>(),
                1 + cont.iter().map(steps).sum::<usize>()
            );
            // From scratch, the same tokens in one go.
            let mut fresh = vec![Sequence::new(first[0].tokens.clone(), 0)];
            let whole = g.generate(&mut fresh, &s, &stop).unwrap();
            for (c, child) in cont.iter().zip(&children) {
                assert_eq!(c.token_ids, whole[0].token_ids);
                assert_eq!(child.text, format!("{}{}", step[0].text, c.text));
            }
            // From the concatenated text, where the tokenizer gives the same tokens back
            // (a random model's steps do not always re-tokenize the same way).
            let mut from_text = vec![
                g.start(&Prompt::Text(format!("{prompt}{}", step[0].text)), 0)
                    .unwrap(),
            ];
            if from_text[0].tokens == first[0].tokens {
                let again = g.generate(&mut from_text, &s, &stop).unwrap();
                assert_eq!(again[0].token_ids, cont[2].token_ids);
                text_checks += 1;
            }
        }
    }
    assert!(
        text_checks >= 3,
        "only {text_checks} steps round-tripped through text"
    );
}

#[test]
fn samples_of_one_prompt_read_it_once() {
    for model in LLAMAS {
        samples_of_one_prompt_read_it_once_on(model);
    }
}

fn samples_of_one_prompt_read_it_once_on(model: &str) {
    let g = load(model);
    let start = g.start(&Prompt::Text("The cat sat on".into()), 1).unwrap();
    let prompt_len = start.tokens.len();
    let mut seqs = start.fork(6);
    let out = g
        .generate(
            &mut seqs,
            &SamplingParams::with_temperature(1.0),
            &StopCriteria {
                ignore_eos: true,
                ..StopCriteria::max_tokens(5)
            },
        )
        .unwrap();
    let total: usize = out.iter().map(|c| c.processed_tokens).sum();
    assert_eq!(
        total,
        prompt_len + 6 * 4,
        "prompt once, then four fed tokens per sample"
    );
}

#[test]
fn appended_text_is_read_before_generating() {
    for model in LLAMAS {
        appended_text_is_read_before_generating_on(model);
    }
}

fn appended_text_is_read_before_generating_on(model: &str) {
    let g = load(model);
    let mut a = g.start(&Prompt::Text("12 + 7 =".into()), 0).unwrap();
    g.generate(
        std::slice::from_mut(&mut a),
        &SamplingParams::GREEDY,
        &StopCriteria::max_tokens(3),
    )
    .unwrap();
    g.append(&mut a, " and then").unwrap();
    let out_a = g
        .generate(
            std::slice::from_mut(&mut a),
            &SamplingParams::GREEDY,
            &StopCriteria::max_tokens(6),
        )
        .unwrap();
    let mut b = Sequence::new(
        a.tokens[..a.tokens.len() - out_a[0].token_ids.len()].to_vec(),
        0,
    );
    let out_b = g
        .generate(
            std::slice::from_mut(&mut b),
            &SamplingParams::GREEDY,
            &StopCriteria::max_tokens(6),
        )
        .unwrap();
    assert_eq!(out_a[0].token_ids, out_b[0].token_ids);
}

#[test]
fn stop_strings_end_a_step_on_decoded_text() {
    for model in LLAMAS {
        stop_strings_end_a_step_on_decoded_text_on(model);
    }
}

fn stop_strings_end_a_step_on_decoded_text_on(model: &str) {
    let g = load(model);
    let mut probe = vec![g.start(&Prompt::Text("The cat sat".into()), 0).unwrap()];
    let free = g
        .generate(
            &mut probe,
            &SamplingParams::GREEDY,
            &StopCriteria {
                ignore_eos: true,
                ..StopCriteria::max_tokens(16)
            },
        )
        .unwrap();
    let text = &free[0].text;
    // Stop on a piece from the middle of what greedy decoding writes anyway.
    let mid = text
        .char_indices()
        .nth(text.chars().count() / 2)
        .map(|(i, _)| i)
        .unwrap();
    let needle: String = text[mid..].chars().take(2).collect();
    let mut seqs = vec![g.start(&Prompt::Text("The cat sat".into()), 0).unwrap()];
    let out = g
        .generate(
            &mut seqs,
            &SamplingParams::GREEDY,
            &StopCriteria {
                ignore_eos: true,
                ..StopCriteria::one_step(16, &needle)
            },
        )
        .unwrap();
    assert_eq!(
        out[0].finish_reason,
        FinishReason::Stop,
        "stop {needle:?} in {text:?}"
    );
    assert!(out[0].text.contains(&needle));
    assert!(free[0].text.starts_with(&out[0].text));
    assert!(out[0].token_ids.len() < free[0].token_ids.len());
    // The stopped sequence continues from its cache to the same tokens.
    let rest = g
        .generate(
            &mut seqs,
            &SamplingParams::GREEDY,
            &StopCriteria {
                ignore_eos: true,
                ..StopCriteria::max_tokens(16 - out[0].token_ids.len())
            },
        )
        .unwrap();
    assert_eq!(
        [out[0].token_ids.clone(), rest[0].token_ids.clone()].concat(),
        free[0].token_ids
    );
}

#[test]
fn logprobs_are_those_of_the_chosen_tokens() {
    for model in QWENS {
        logprobs_are_those_of_the_chosen_tokens_on(model);
    }
}

fn logprobs_are_those_of_the_chosen_tokens_on(model: &str) {
    let g = load(model);
    let mut seqs = vec![g.start(&Prompt::Text("12 + 7 =".into()), 0).unwrap()];
    let before = g.next_token_logits(&seqs).unwrap();
    let out = g
        .generate(
            &mut seqs,
            &SamplingParams::GREEDY,
            &StopCriteria::max_tokens(4),
        )
        .unwrap();
    let l = &before[0];
    let max = l.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + l.iter().map(|x| (x - max).exp()).sum::<f32>().ln();
    assert!((out[0].logprobs[0] - (l[out[0].token_ids[0] as usize] - lse)).abs() < 1e-4);
    assert!(out[0].logprobs.iter().all(|&p| p <= 0.0));
}

/// A copy of a fixture folder to change, removed when dropped.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    let dst = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dst.path().join(p.file_name().unwrap())).unwrap();
    }
    dst
}

#[test]
fn config_that_disagrees_with_the_graph_is_rejected() {
    let dir = copy_fixture("tiny-llama");
    let dir = dir.path();
    let cfg_path = dir.join("config.json");
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    let layers = cfg["num_hidden_layers"].as_u64().unwrap();
    cfg["num_hidden_layers"] = Value::from(layers + 1);
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let err = OnnxGenerator::load(dir, &RuntimeSettings::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("num_hidden_layers = {}", layers + 1)),
        "{err}"
    );
    assert!(err.contains(&format!("{layers} layers")), "{err}");

    cfg["num_hidden_layers"] = Value::from(layers);
    cfg["num_key_value_heads"] = Value::from(cfg["num_attention_heads"].as_u64().unwrap());
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let err = OnnxGenerator::load(dir, &RuntimeSettings::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("KV heads"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

/// Loads a copy of the GenAI fixture after `edit` changed its genai_config.json
/// (and whatever else it touches); the error's text.
fn genai_load_error(edit: impl Fn(&Path, &mut Value)) -> String {
    let dir = copy_fixture("tiny-llama-genai");
    let path = dir.path().join("genai_config.json");
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(dir.path(), &mut cfg);
    std::fs::write(&path, cfg.to_string()).unwrap();
    match OnnxGenerator::load(dir.path(), &RuntimeSettings::default()) {
        Ok(_) => panic!("a broken GenAI folder loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn broken_genai_folders_are_refused_naming_the_file_and_field() {
    // A field genai_config.json must have.
    let err = genai_load_error(|_, c| {
        c["model"]["decoder"]
            .as_object_mut()
            .unwrap()
            .remove("num_key_value_heads");
    });
    assert!(
        err.contains("genai_config.json: `model.decoder.num_key_value_heads` is missing"),
        "{err}"
    );
    assert!(err.contains("--format genai"), "{err}");
    // A graph whose inputs disagree: more layers than it has, fewer, other heads,
    // another input name.
    let err = genai_load_error(|_, c| c["model"]["decoder"]["num_hidden_layers"] = 3.into());
    assert!(
        err.contains("model.onnx: genai_config.json names the input `past_key_values.2.key`"),
        "{err}"
    );
    let err = genai_load_error(|_, c| c["model"]["decoder"]["num_hidden_layers"] = 1.into());
    assert!(
        err.contains("has an input `past_key_values.1.key` that genai_config.json does not name"),
        "{err}"
    );
    let err = genai_load_error(|_, c| c["model"]["decoder"]["num_key_value_heads"] = 4.into());
    assert!(
        err.contains("has 2 KV heads") && err.contains("num_key_value_heads = 4"),
        "{err}"
    );
    let err =
        genai_load_error(|_, c| c["model"]["decoder"]["inputs"]["attention_mask"] = "mask".into());
    assert!(
        err.contains("names the input `mask` (model.decoder.inputs.attention_mask)"),
        "{err}"
    );
    let err = genai_load_error(|_, c| c["model"]["vocab_size"] = 500.into());
    assert!(
        err.contains("512 columns") && err.contains("vocab_size = 500"),
        "{err}"
    );
    // The external weights.
    let err = genai_load_error(|dir, _| std::fs::remove_file(dir.join("model.onnx.data")).unwrap());
    assert!(
        err.contains("model.onnx keeps its weights in `model.onnx.data`, which is missing"),
        "{err}"
    );
    // The graph file it names.
    let err = genai_load_error(|_, c| c["model"]["decoder"]["filename"] = "decoder.onnx".into());
    assert!(
        err.contains("no decoder.onnx found") && err.contains("model.decoder.filename"),
        "{err}"
    );
    // Past and present in separate buffers: not how ttc runs these graphs.
    let err = genai_load_error(|_, c| c["search"]["past_present_share_buffer"] = false.into());
    assert!(
        err.contains("`search.past_present_share_buffer` is false"),
        "{err}"
    );
}

#[test]
fn a_genai_folder_counts_its_parameters_from_the_graph() {
    // The GenAI folders hold the Optimum fixtures' weights: the same exact count
    // (config.json's formula there, the graph's initializers here, without the
    // rotary tables), except that the model builder leaves out biases that are all
    // zero, as tiny-qwen2's q, k and v biases are (transformers initialises biases
    // to zero): 2 layers x (64 + 32 + 32).
    for (optimum, genai, dropped) in [
        ("tiny-llama", "tiny-llama-genai", 0),
        ("tiny-qwen2", "tiny-qwen2-genai", 2 * (64 + 32 + 32)),
    ] {
        let a = load(optimum);
        let b = load(genai);
        assert_eq!(b.contract(), Contract::GenAi);
        assert_eq!(
            a.info().parameters - dropped,
            b.info().parameters,
            "{genai}"
        );
        assert_eq!(b.info().max_positions, Some(512));
        assert_eq!(b.eos_ids(), a.eos_ids());
    }
}

#[test]
fn missing_files_are_named() {
    let dir = copy_fixture("tiny-llama");
    let dir = dir.path();
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    let err = OnnxGenerator::load(dir, &RuntimeSettings::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
    let err = OnnxGenerator::load(Path::new("/no/such/model"), &RuntimeSettings::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("/no/such/model"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn cuda_request_falls_back_to_cpu_or_errors_by_policy() {
    let cuda = |fallback| RuntimeSettings {
        provider: ExecutionProvider::Cuda,
        fallback,
        ..RuntimeSettings::default()
    };
    let gpu_here = Path::new("/dev/nvidia0").exists();
    let g = load_with("tiny-llama", cuda(FallbackPolicy::Cpu));
    let p = &g.info().provider;
    assert_eq!(p.requested, ExecutionProvider::Cuda);
    if p.active == ExecutionProvider::Cpu {
        assert!(p.fallback_reason.as_deref().is_some_and(|r| !r.is_empty()));
    } else {
        assert!(gpu_here, "CUDA claimed active without a GPU");
    }
    match OnnxGenerator::load(&fixture("tiny-llama"), &cuda(FallbackPolicy::Error)) {
        Err(Error::Provider { provider, reason }) => {
            assert_eq!(provider, "cuda");
            assert!(reason.contains("cargo xtask setup --gpu"), "{reason}");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(g) => {
            assert!(gpu_here, "CUDA registration succeeded without a GPU");
            assert_eq!(g.info().provider.active, ExecutionProvider::Cuda);
        }
    }
}

#[test]
fn chat_template_can_come_from_chat_template_jinja() {
    let dir = copy_fixture("tiny-llama");
    let dir = dir.path();
    let cfg_path = dir.join("tokenizer_config.json");
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    let template = cfg["chat_template"].as_str().unwrap().to_string();
    cfg.as_object_mut().unwrap().remove("chat_template");
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let messages = vec![ChatMessage {
        role: "user".into(),
        content: "hi".into(),
    }];
    let g = OnnxGenerator::load(dir, &RuntimeSettings::default()).unwrap();
    assert!(
        g.render_chat(&messages)
            .unwrap_err()
            .to_string()
            .contains("no chat_template")
    );
    std::fs::write(dir.join("chat_template.jinja"), template).unwrap();
    let g = OnnxGenerator::load(dir, &RuntimeSettings::default()).unwrap();
    assert_eq!(
        g.render_chat(&messages).unwrap(),
        load("tiny-llama").render_chat(&messages).unwrap()
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn appending_after_eos_continues_without_the_eos() {
    for model in LLAMAS {
        appending_after_eos_continues_without_the_eos_on(model);
    }
}

fn appending_after_eos_continues_without_the_eos_on(model: &str) {
    let g = load(model);
    let gold = golden(model);
    // The padded batch has a row that ends with EOS under greedy decoding.
    let batch = &gold["padded_batch"];
    let (row, prompt) = batch["output_ids"]
        .as_array()
        .unwrap()
        .iter()
        .zip(batch["prompts"].as_array().unwrap())
        .find(|(ids, _)| {
            ids.as_array().unwrap().last().and_then(Value::as_u64) == gold["eos_token_id"].as_u64()
        })
        .expect("a row that ends with EOS");
    let mut seq = vec![
        g.start(&Prompt::Text(prompt.as_str().unwrap().into()), 0)
            .unwrap(),
    ];
    let out = g
        .generate(
            &mut seq,
            &SamplingParams::GREEDY,
            &StopCriteria::max_tokens(16),
        )
        .unwrap();
    assert_eq!(out[0].finish_reason, FinishReason::Eos);
    assert_eq!(out[0].token_ids, ids(row));
    // Ended: generating again does nothing.
    let again = g
        .generate(
            &mut seq,
            &SamplingParams::GREEDY,
            &StopCriteria::max_tokens(4),
        )
        .unwrap();
    assert!(again[0].token_ids.is_empty());
    let without_eos = seq[0].tokens[..seq[0].tokens.len() - 1].to_vec();
    g.append(&mut seq[0], " and").unwrap();
    let more = g
        .generate(
            &mut seq,
            &SamplingParams::GREEDY,
            &StopCriteria::max_tokens(5),
        )
        .unwrap();
    // Only the appended tokens were read: the prefix came from the cache.
    let appended = seq[0].tokens.len() - without_eos.len() - more[0].token_ids.len();
    assert_eq!(
        more[0].processed_tokens,
        appended + more[0].token_ids.len() - 1
    );
    let mut fresh = vec![Sequence::new(
        seq[0].tokens[..seq[0].tokens.len() - more[0].token_ids.len()].to_vec(),
        0,
    )];
    assert!(
        !fresh[0].tokens[..without_eos.len()]
            .contains(&(gold["eos_token_id"].as_u64().unwrap() as u32))
    );
    let same = g
        .generate(
            &mut fresh,
            &SamplingParams::GREEDY,
            &StopCriteria::max_tokens(5),
        )
        .unwrap();
    assert_eq!(same[0].token_ids, more[0].token_ids);
}

/// A request for more tokens than the model has positions left stops at the last
/// position (finish reason `length`), with the tokens it would have generated up to
/// there; a sequence that fills the model is refused with both lengths named.
#[test]
fn generation_stops_at_the_models_last_position() {
    for model in LLAMAS {
        generation_stops_at_the_models_last_position_on(model);
    }
}

fn generation_stops_at_the_models_last_position_on(model: &str) {
    let g = load(model);
    let max = g
        .info()
        .max_positions
        .expect("the fixture declares 512 positions");
    assert_eq!(max, 512);
    let short = g.start(&Prompt::Text("The cat sat on".into()), 0).unwrap();
    let long = g
        .start(&Prompt::Text("one two three four five ".repeat(20)), 0)
        .unwrap();
    let lens = [short.tokens.len(), long.tokens.len()];
    assert!(lens[0] < lens[1] && lens[1] < max, "{lens:?}");
    let stop = StopCriteria {
        ignore_eos: true,
        ..StopCriteria::max_tokens(2 * max)
    };
    let mut seqs = vec![short.clone(), long];
    let out = g
        .generate(&mut seqs, &SamplingParams::GREEDY, &stop)
        .unwrap();
    for ((c, s), len) in out.iter().zip(&seqs).zip(lens) {
        assert_eq!(c.finish_reason, FinishReason::Length);
        assert_eq!(c.token_ids.len(), max - len, "prompt of {len} tokens");
        assert_eq!(s.tokens.len(), max);
    }
    // The same tokens as a request that asked for exactly the room left.
    let mut exact = vec![short];
    let fitted = g
        .generate(
            &mut exact,
            &SamplingParams::GREEDY,
            &StopCriteria {
                ignore_eos: true,
                ..StopCriteria::max_tokens(max - lens[0])
            },
        )
        .unwrap();
    assert_eq!(fitted[0].token_ids, out[0].token_ids);
    // A full sequence cannot take another token.
    let err = g
        .generate(&mut seqs[..1], &SamplingParams::GREEDY, &stop)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("512 tokens long") && err.contains("512 positions"),
        "{err}"
    );
    // Nor can a prompt longer than the model.
    let mut too_long = vec![
        g.start(&Prompt::Text("one two three four five ".repeat(200)), 0)
            .unwrap(),
    ];
    let n = too_long[0].tokens.len();
    assert!(n > max);
    let err = g
        .generate(&mut too_long, &SamplingParams::GREEDY, &stop)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("{n} tokens long")) && err.contains(positions_field(&g)),
        "{err}"
    );
}

#[test]
fn rows_of_a_batch_continue_from_their_caches_like_fresh_reads() {
    for model in LLAMAS {
        rows_of_a_batch_continue_from_their_caches_like_fresh_reads_on(model);
    }
}

fn rows_of_a_batch_continue_from_their_caches_like_fresh_reads_on(model: &str) {
    let g = load(model);
    let gold = golden(model);
    // A batch where one row ends with EOS (its cache is copied out compactly) and the
    // others stop at the length (they keep their rows of the batch).
    let prompts: Vec<String> = gold["padded_batch"]["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    let mut seqs: Vec<Sequence> = prompts
        .iter()
        .map(|p| g.start(&Prompt::Text(p.clone()), 0).unwrap())
        .collect();
    let out = g
        .generate(
            &mut seqs,
            &SamplingParams::GREEDY,
            &StopCriteria::max_tokens(16),
        )
        .unwrap();
    let eos = out
        .iter()
        .filter(|c| c.finish_reason == FinishReason::Eos)
        .count();
    assert!(
        eos >= 1 && eos < seqs.len(),
        "the batch needs rows ending both ways"
    );
    // Every row, given more text, continues from its cache: only the new tokens are
    // read, and the tokens are those of reading everything afresh. Continued in one
    // batch, so rows gather from both the shared batch and the compact copy.
    for s in seqs.iter_mut() {
        g.append(s, " and 3").unwrap();
    }
    let pending: Vec<usize> = seqs.iter().map(|s| s.tokens.len() - s.cached_len).collect();
    let more = g
        .generate(
            &mut seqs,
            &SamplingParams::GREEDY,
            &StopCriteria::max_tokens(6),
        )
        .unwrap();
    for (i, (c, s)) in more.iter().zip(&seqs).enumerate() {
        assert_eq!(
            c.processed_tokens,
            pending[i] + c.token_ids.len() - 1,
            "row {i} re-read its prefix"
        );
        let mut fresh = vec![Sequence::new(
            s.tokens[..s.tokens.len() - c.token_ids.len()].to_vec(),
            0,
        )];
        let same = g
            .generate(
                &mut fresh,
                &SamplingParams::GREEDY,
                &StopCriteria::max_tokens(6),
            )
            .unwrap();
        assert_eq!(same[0].token_ids, c.token_ids, "row {i}");
    }
}
