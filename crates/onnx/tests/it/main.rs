//! ttc-onnx on a committed fixture graph (`models/fixtures/tiny-llama/model.onnx`,
//! a two-layer Llama exported with its KV cache): graph specs, tensors built from
//! Rust data and from the session's arena, run and output errors, and what a GPU
//! request does on a build or machine without the provider. Needs ONNX Runtime
//! (`cargo xtask setup`).

use std::path::{Path, PathBuf};

use ttc_core::{Error, ExecutionProvider, FallbackPolicy, RuntimeSettings};
use ttc_onnx::{DType, OnnxModel, Tensor};

/// The fixture's shape (its config.json): 2 layers, 2 KV heads of 16, 512 tokens.
const LAYERS: usize = 2;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = 16;
const VOCAB: usize = 512;

fn graph() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fixtures/tiny-llama/model.onnx")
}

fn load() -> OnnxModel {
    OnnxModel::load(&graph(), &RuntimeSettings::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// Inputs reading `ids` (one row) after `past` cached positions, with the cache
/// tensors made by `cache(shape)`.
fn inputs(
    ids: &[i64],
    past: usize,
    mut cache: impl FnMut(&[usize]) -> Tensor,
) -> Vec<(String, Tensor)> {
    let n = ids.len();
    let mut v = vec![
        (
            "input_ids".to_string(),
            Tensor::i64(&[1, n], ids.to_vec()).unwrap(),
        ),
        (
            "attention_mask".to_string(),
            Tensor::i64(&[1, past + n], vec![1; past + n]).unwrap(),
        ),
        (
            "position_ids".to_string(),
            Tensor::i64(&[1, n], (past as i64..(past + n) as i64).collect()).unwrap(),
        ),
    ];
    for layer in 0..LAYERS {
        for kind in ["key", "value"] {
            v.push((
                format!("past_key_values.{layer}.{kind}"),
                cache(&[1, KV_HEADS, past, HEAD_DIM]),
            ));
        }
    }
    v
}

fn present(layers: usize) -> Vec<String> {
    (0..layers)
        .flat_map(|l| [format!("present.{l}.key"), format!("present.{l}.value")])
        .collect()
}

#[test]
fn specs_name_every_input_and_output_with_its_dtype() {
    let m = load();
    assert_eq!(m.path(), graph());
    let input = |name: &str| {
        m.inputs()
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no input {name} in {:?}", m.inputs()))
    };
    assert_eq!(input("input_ids").dtype, DType::I64);
    assert_eq!(input("attention_mask").dtype, DType::I64);
    let past = input("past_key_values.1.value");
    assert_eq!(past.dtype, DType::F32);
    assert_eq!(past.shape.len(), 4);
    assert_eq!(past.shape[1], KV_HEADS as i64);
    assert_eq!(past.shape[3], HEAD_DIM as i64);
    assert_eq!(past.shape[0], -1, "the batch is dynamic");
    let logits = m.outputs().iter().find(|s| s.name == "logits").unwrap();
    assert_eq!(logits.dtype, DType::F32);
    assert_eq!(logits.shape.last(), Some(&(VOCAB as i64)));
    assert_eq!(m.outputs().len(), 1 + 2 * LAYERS);
    assert_eq!(m.provider().active, ExecutionProvider::Cpu);
    assert_eq!(m.provider().fallback_reason, None);
}

#[test]
fn tensors_check_their_length_and_keep_shape_and_values() {
    let t = Tensor::f32(&[2, 3], vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0]).unwrap();
    assert_eq!(t.shape(), vec![2, 3]);
    assert_eq!(t.f32_data().unwrap(), &[0.5, 1.0, 1.5, 2.0, 2.5, 3.0]);
    // An empty KV cache: a zero-length dimension.
    let empty = Tensor::f32(&[1, KV_HEADS, 0, HEAD_DIM], Vec::new()).unwrap();
    assert_eq!(empty.shape(), vec![1, KV_HEADS, 0, HEAD_DIM]);
    assert!(empty.f32_data().unwrap().is_empty());
    for err in [
        Tensor::f32(&[2, 3], vec![0.0; 5]).unwrap_err(),
        Tensor::i64(&[4], vec![1, 2]).unwrap_err(),
        Tensor::bool(&[1], Vec::new()).unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(matches!(err, Error::InvalidInput { .. }), "{msg}");
        assert!(
            msg.contains("needs") && msg.contains("values, got"),
            "{msg}"
        );
    }
    assert_eq!(
        Tensor::f32(&[2, 3], vec![0.0; 5]).unwrap_err().to_string(),
        "invalid tensor: shape [2, 3] needs 6 values, got 5"
    );
    // Reading a tensor as another element type is an error, not reinterpreted bytes.
    let ids = Tensor::i64(&[3], vec![1, 2, 3]).unwrap();
    assert!(ids.f32_data().is_err());
    assert!(Tensor::bool(&[1], vec![true]).unwrap().f32_data().is_err());
}

#[test]
fn arena_tensors_are_zeroed_filled_in_place_and_run_like_owned_ones() {
    let m = load();
    // Zeros where the fill writes nothing; the fill sees the whole buffer.
    let z = m.f32_tensor(&[2, 3, 4], |_| {}).unwrap();
    assert_eq!(z.shape(), vec![2, 3, 4]);
    assert_eq!(z.f32_data().unwrap(), &[0.0; 24]);
    let t = m
        .f32_tensor(&[2, 5], |d| {
            assert_eq!(d.len(), 10);
            for (i, x) in d.iter_mut().enumerate() {
                *x = i as f32 * 0.25;
            }
        })
        .unwrap();
    assert_eq!(t.shape(), vec![2, 5]);
    let want: Vec<f32> = (0..10).map(|i| i as f32 * 0.25).collect();
    assert_eq!(t.f32_data().unwrap(), want.as_slice());
    // Many allocations in turn (the decode loop's pattern) each start from zeros,
    // whatever the buffer before held.
    for round in 0..50 {
        let t = m.f32_tensor(&[1, KV_HEADS, 7, HEAD_DIM], |_| {}).unwrap();
        assert!(
            t.f32_data().unwrap().iter().all(|&x| x == 0.0),
            "round {round}"
        );
        drop(
            m.f32_tensor(&[1, KV_HEADS, 7, HEAD_DIM], |d| d.fill(9.0))
                .unwrap(),
        );
    }

    // A prompt read in one run, then its last token read after the first tokens'
    // cache: the same logits, with the cache fed from the arena or from Rust data.
    let ids = [1i64, 45, 300, 12, 7];
    let mut out = m
        .run(inputs(&ids, 0, |s| m.f32_tensor(s, |_| {}).unwrap()), &[])
        .unwrap();
    let whole = out.take("logits").unwrap();
    assert_eq!(whole.shape(), vec![1, ids.len(), VOCAB]);
    let last_whole = whole.f32_data().unwrap()[(ids.len() - 1) * VOCAB..].to_vec();

    let names = present(LAYERS);
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut first = m
        .run(
            inputs(&ids[..4], 0, |s| Tensor::f32(s, Vec::new()).unwrap()),
            &wanted,
        )
        .unwrap();
    let caches: Vec<Vec<f32>> = names
        .iter()
        .map(|n| first.take(n).unwrap().f32_data().unwrap().to_vec())
        .collect();
    for arena in [true, false] {
        let mut k = 0;
        let feed = inputs(&ids[4..], 4, |shape| {
            let data = &caches[k];
            k += 1;
            assert_eq!(data.len(), shape.iter().product::<usize>());
            if arena {
                m.f32_tensor(shape, |d| d.copy_from_slice(data)).unwrap()
            } else {
                Tensor::f32(shape, data.clone()).unwrap()
            }
        });
        let logits = m.run(feed, &["logits"]).unwrap().take("logits").unwrap();
        assert_eq!(logits.shape(), vec![1, 1, VOCAB]);
        let worst = logits
            .f32_data()
            .unwrap()
            .iter()
            .zip(&last_whole)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-4,
            "arena {arena}: cached and whole differ by {worst}"
        );
    }
}

#[test]
fn output_errors_name_the_model_and_the_output() {
    let m = load();
    let empty = |s: &[usize]| Tensor::f32(s, Vec::new()).unwrap();
    // Asking the run for an output the graph does not have.
    let err = m
        .run(inputs(&[1, 2], 0, empty), &["logits", "hidden_states"])
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Inference { .. }), "{msg}");
    assert!(
        msg.contains("hidden_states") && msg.contains("model.onnx"),
        "{msg}"
    );
    // Taking an output that was not asked for, or twice.
    let mut out = m.run(inputs(&[1, 2], 0, empty), &["logits"]).unwrap();
    let msg = out.take("present.0.key").unwrap_err().to_string();
    assert!(msg.contains("no output `present.0.key`"), "{msg}");
    out.take("logits").unwrap();
    let msg = out.take("logits").unwrap_err().to_string();
    assert!(msg.contains("no output `logits`"), "{msg}");
    // All outputs when none is named.
    let mut all = m.run(inputs(&[1, 2], 0, empty), &[]).unwrap();
    for name in present(LAYERS) {
        assert_eq!(
            all.take(&name).unwrap().shape(),
            vec![1, KV_HEADS, 2, HEAD_DIM]
        );
    }
}

#[test]
fn inputs_of_the_wrong_dtype_or_name_are_run_errors() {
    let m = load();
    let empty = |s: &[usize]| Tensor::f32(s, Vec::new()).unwrap();
    // Token ids as floats.
    let mut wrong = inputs(&[1, 2], 0, empty);
    wrong[0].1 = Tensor::f32(&[1, 2], vec![1.0, 2.0]).unwrap();
    let err = m.run(wrong, &["logits"]).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Inference { .. }), "{msg}");
    assert!(msg.contains("model.onnx"), "{msg}");
    // An input the graph does not have.
    let mut extra = inputs(&[1, 2], 0, empty);
    extra.push((
        "use_cache_branch".into(),
        Tensor::bool(&[1], vec![false]).unwrap(),
    ));
    let msg = m.run(extra, &["logits"]).unwrap_err().to_string();
    assert!(msg.contains("use_cache_branch"), "{msg}");
    // A required input left out.
    let mut missing = inputs(&[1, 2], 0, empty);
    missing.retain(|(n, _)| n != "attention_mask");
    let msg = m.run(missing, &["logits"]).unwrap_err().to_string();
    assert!(msg.contains("attention_mask"), "{msg}");
    // The model still runs after the errors.
    assert!(m.run(inputs(&[1, 2], 0, empty), &["logits"]).is_ok());
}

#[test]
fn missing_or_broken_graphs_are_named() {
    let err = OnnxModel::load(
        Path::new("/no/such/model.onnx"),
        &RuntimeSettings::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Model { .. }), "{msg}");
    assert!(
        msg.contains("/no/such/model.onnx") && msg.contains("does not exist"),
        "{msg}"
    );
    let dir_tmp = tempfile::tempdir().unwrap();
    let dir = dir_tmp.path().join("run");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("model.onnx");
    std::fs::write(&bad, b"not a protobuf").unwrap();
    let msg = OnnxModel::load(&bad, &RuntimeSettings::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("loading") && msg.contains(&bad.display().to_string()),
        "{msg}"
    );
}

/// Whether ONNX Runtime's CUDA provider can run here: this project's CPU builds
/// and machines without a GPU cannot.
fn gpu_here() -> bool {
    Path::new("/dev/nvidia0").exists()
}

#[test]
fn a_gpu_request_without_the_provider_falls_back_or_fails_by_policy() {
    for provider in [ExecutionProvider::Cuda, ExecutionProvider::Tensorrt] {
        let settings = |fallback| RuntimeSettings {
            provider: provider.clone(),
            fallback,
            ..RuntimeSettings::default()
        };
        let m = OnnxModel::load(&graph(), &settings(FallbackPolicy::Cpu))
            .unwrap_or_else(|e| panic!("{provider} with fallback cpu: {e}"));
        let p = m.provider();
        assert_eq!(p.requested, provider);
        if p.active == ExecutionProvider::Cpu {
            let reason = p.fallback_reason.as_deref().unwrap_or_default();
            assert!(!reason.is_empty(), "{provider}: a fallback says why");
            // The CPU session runs.
            let empty = |s: &[usize]| Tensor::f32(s, Vec::new()).unwrap();
            assert!(m.run(inputs(&[1, 2], 0, empty), &["logits"]).is_ok());
        } else {
            assert!(gpu_here(), "{provider} claimed active without a GPU");
            assert_eq!(p.active, provider);
        }
        match OnnxModel::load(&graph(), &settings(FallbackPolicy::Error)) {
            Err(Error::Provider {
                provider: named,
                reason,
            }) => {
                assert_eq!(named, provider.to_string());
                assert!(
                    reason.contains("cargo xtask setup --gpu")
                        && reason.contains("fallback = \"cpu\""),
                    "{reason}"
                );
            }
            Err(other) => panic!("{provider}: unexpected error {other}"),
            Ok(m) => {
                assert!(gpu_here(), "{provider} registered without a GPU");
                assert_eq!(m.provider().active, provider);
            }
        }
    }
}
