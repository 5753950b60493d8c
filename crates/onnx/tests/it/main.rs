//! ttc-onnx on a committed fixture graph (`models/fixtures/tiny-llama/model.onnx`,
//! a two-layer Llama exported with its KV cache): graph specs, tensors built from
//! Rust data and from the session's arena, run and output errors, and what a GPU
//! request does on a build or machine without the provider. Needs ONNX Runtime
//! (`cargo xtask setup`).

use std::path::{Path, PathBuf};

use ttc_core::{Error, ExecutionProvider, FallbackPolicy, RuntimeSettings, ShapeProfile};
use ttc_onnx::{DType, Dim, OnnxModel, Placement, Tensor, graph_inputs, tensorrt_profile};

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

/// Greedy decoding of `steps` tokens after `prompt`, one row, through bound runs:
/// each step's `present.*` (left in device memory) is bound as the next step's
/// `past_key_values.*`; only the logits come to the host.
fn decode_bound(m: &OnnxModel, prompt: &[i64], steps: usize) -> (Vec<i64>, Vec<Vec<f32>>) {
    let names = present(LAYERS);
    let mut wanted = vec![("logits", Placement::Host)];
    wanted.extend(names.iter().map(|n| (n.as_str(), Placement::Device)));
    let mut cache: Option<Vec<Tensor>> = None;
    let (mut feed, mut past) = (prompt.to_vec(), 0);
    let (mut tokens, mut all_logits) = (Vec::new(), Vec::new());
    for _ in 0..steps {
        let mut pasts = cache.take().map(Vec::into_iter);
        let feed_inputs = inputs(&feed, past, |s| match pasts.as_mut() {
            Some(p) => p.next().expect("a cache per input"),
            None => Tensor::f32(s, Vec::new()).unwrap(),
        });
        let mut out = m.run_bound(feed_inputs, &wanted).unwrap();
        let logits = out.take("logits").unwrap();
        assert!(logits.on_host());
        assert_eq!(logits.shape(), vec![1, feed.len(), VOCAB]);
        let last = logits.f32_data().unwrap()[(feed.len() - 1) * VOCAB..].to_vec();
        let next = last
            .iter()
            .enumerate()
            .fold(
                (0, f32::NEG_INFINITY),
                |b, (i, &x)| if x > b.1 { (i, x) } else { b },
            )
            .0 as i64;
        past += feed.len();
        let presents: Vec<Tensor> = names.iter().map(|n| out.take(n).unwrap()).collect();
        for p in &presents {
            assert_eq!(p.shape(), vec![1, KV_HEADS, past, HEAD_DIM]);
            assert_eq!(p.on_host(), m.device_is_host());
        }
        cache = Some(presents);
        tokens.push(next);
        all_logits.push(last);
        feed = vec![next];
    }
    (tokens, all_logits)
}

#[test]
fn bound_runs_feed_the_cache_back_in_place_and_match_plain_runs() {
    let m = load();
    assert!(
        m.device_is_host(),
        "a CPU session's device memory is the host's"
    );
    let prompt = [1i64, 45, 300, 12, 7];
    let steps = 6;
    let (bound_tokens, bound_logits) = decode_bound(&m, &prompt, steps);
    // The same decode through plain runs, the cache taken out and fed back as values.
    let names = present(LAYERS);
    let mut wanted = vec!["logits"];
    wanted.extend(names.iter().map(String::as_str));
    let mut cache: Option<Vec<Tensor>> = None;
    let (mut feed, mut past) = (prompt.to_vec(), 0);
    for step in 0..steps {
        let mut pasts = cache.take().map(Vec::into_iter);
        let feed_inputs = inputs(&feed, past, |s| match pasts.as_mut() {
            Some(p) => p.next().unwrap(),
            None => Tensor::f32(s, Vec::new()).unwrap(),
        });
        let mut out = m.run(feed_inputs, &wanted).unwrap();
        let logits = out.take("logits").unwrap();
        let last = &logits.f32_data().unwrap()[(feed.len() - 1) * VOCAB..];
        // Bound and plain runs compute the same graph on the same values.
        assert_eq!(last, bound_logits[step].as_slice(), "step {step}");
        past += feed.len();
        cache = Some(names.iter().map(|n| out.take(n).unwrap()).collect());
        feed = vec![bound_tokens[step]];
    }
    // Distinct logits each step: the cache grew and was read.
    assert_ne!(bound_logits[0], bound_logits[1]);
    // The binding let go of the last run's inputs: the model runs again from scratch
    // with the same result.
    assert_eq!(decode_bound(&m, &prompt, 2).0, bound_tokens[..2]);
}

#[test]
fn host_tensors_come_to_the_host_without_a_copy_and_bound_errors_are_named() {
    let m = load();
    let t = Tensor::f32(&[2], vec![1.0, 2.0]).unwrap();
    assert!(t.on_host());
    let t = t.to_host().unwrap();
    assert_eq!(t.f32_data().unwrap(), &[1.0, 2.0]);
    let empty = |s: &[usize]| Tensor::f32(s, Vec::new()).unwrap();
    let mut out = m
        .run_bound(
            inputs(&[1, 2], 0, empty),
            &[("present.0.key", Placement::Device)],
        )
        .unwrap();
    let key = out.take("present.0.key").unwrap().to_host().unwrap();
    assert_eq!(key.shape(), vec![1, KV_HEADS, 2, HEAD_DIM]);
    assert!(key.f32_data().unwrap().iter().all(|x| x.is_finite()));
    // An output the graph lacks, and a missing input, name the model.
    let err = m
        .run_bound(
            inputs(&[1, 2], 0, empty),
            &[("hidden_states", Placement::Host)],
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Inference { .. }), "{msg}");
    assert!(
        msg.contains("hidden_states") && msg.contains("model.onnx"),
        "{msg}"
    );
    let mut missing = inputs(&[1, 2], 0, empty);
    missing.retain(|(n, _)| n != "attention_mask");
    let msg = m
        .run_bound(missing, &[("logits", Placement::Host)])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("attention_mask"), "{msg}");
    // The binding is cleared after a failed run: the model runs again.
    assert!(
        m.run_bound(inputs(&[1, 2], 0, empty), &[("logits", Placement::Host)])
            .is_ok()
    );
}

/// The caches of a batch of `rows` (token ids, same length), as device tensors.
fn batch_cache(m: &OnnxModel, rows: &[&[i64]]) -> Vec<Tensor> {
    let (b, n) = (rows.len(), rows[0].len());
    let mut feed = vec![
        (
            "input_ids".to_string(),
            Tensor::i64(&[b, n], rows.concat()).unwrap(),
        ),
        (
            "attention_mask".to_string(),
            Tensor::i64(&[b, n], vec![1; b * n]).unwrap(),
        ),
        (
            "position_ids".to_string(),
            Tensor::i64(&[b, n], (0..b).flat_map(|_| 0..n as i64).collect()).unwrap(),
        ),
    ];
    let names = present(LAYERS);
    for name in &names {
        let past = name.replace("present.", "past_key_values.");
        feed.push((
            past,
            Tensor::f32(&[b, KV_HEADS, 0, HEAD_DIM], Vec::new()).unwrap(),
        ));
    }
    let wanted: Vec<(&str, Placement)> = names
        .iter()
        .map(|n| (n.as_str(), Placement::Device))
        .collect();
    let mut out = m.run_bound(feed, &wanted).unwrap();
    names.iter().map(|n| out.take(n).unwrap()).collect()
}

#[test]
fn gathers_copy_rows_and_positions_where_the_cache_lives() {
    let m = load();
    let a = batch_cache(&m, &[&[1, 2, 3], &[4, 5, 6]]);
    let b = batch_cache(&m, &[&[7, 8]]);
    let host = |t: &[Tensor]| -> Vec<Vec<f32>> {
        t.iter().map(|x| x.f32_data().unwrap().to_vec()).collect()
    };
    let (ha, hb) = (host(&a), host(&b));
    // Out row 0: source b row 0, positions [_, 0, 1]; out row 1: source a row 1,
    // positions [0, 2, 1]; out row 2: all pads. Flat rows of D: a has 2*2*3, b 1*2*2.
    let (ta, tb, p) = (3, 2, 3);
    let picks: [Vec<Option<(usize, usize, usize)>>; 3] = [
        vec![None, Some((1, 0, 0)), Some((1, 0, 1))],
        vec![Some((0, 1, 0)), Some((0, 1, 2)), Some((0, 1, 1))],
        vec![None, None, None],
    ];
    let offset = [0, 2 * KV_HEADS * ta];
    let len = [ta, tb];
    let mut index = Vec::new();
    let mut keep = Vec::new();
    for row in &picks {
        for head in 0..KV_HEADS {
            for c in row {
                index.push(c.map_or(0, |(s, r, t)| {
                    (offset[s] + (r * KV_HEADS + head) * len[s] + t) as i64
                }));
            }
        }
        keep.extend(row.iter().map(|c| if c.is_some() { 1.0 } else { 0.0 }));
    }
    let out = m
        .gather_kv(
            &[&a, &b],
            2 * LAYERS,
            index,
            keep,
            [3, KV_HEADS, p, HEAD_DIM],
        )
        .unwrap();
    assert_eq!(out.len(), 2 * LAYERS);
    for (i, t) in out.iter().enumerate() {
        assert_eq!(t.shape(), vec![3, KV_HEADS, p, HEAD_DIM]);
        let got = t.f32_data().unwrap();
        for (r, row) in picks.iter().enumerate() {
            for head in 0..KV_HEADS {
                for (j, c) in row.iter().enumerate() {
                    let at = ((r * KV_HEADS + head) * p + j) * HEAD_DIM;
                    let want: Vec<f32> = match c {
                        None => vec![0.0; HEAD_DIM],
                        Some((s, src_row, t)) => {
                            let src = if *s == 0 { &ha[i] } else { &hb[i] };
                            let from = ((src_row * KV_HEADS + head) * len[*s] + t) * HEAD_DIM;
                            src[from..from + HEAD_DIM].to_vec()
                        }
                    };
                    assert_eq!(
                        &got[at..at + HEAD_DIM],
                        want.as_slice(),
                        "buffer {i} row {r} head {head} col {j}"
                    );
                }
            }
        }
    }
    // A gathered cache runs like the original: row 1 of `a` alone, its positions in
    // order, continues with token 9 as the one-row cache does.
    let single = batch_cache(&m, &[&[4, 5, 6]]);
    let mut index = Vec::new();
    for head in 0..KV_HEADS {
        index.extend((0..ta).map(|t| ((KV_HEADS + head) * ta + t) as i64));
    }
    let moved = m
        .gather_kv(
            &[&a],
            2 * LAYERS,
            index,
            vec![1.0; ta],
            [1, KV_HEADS, ta, HEAD_DIM],
        )
        .unwrap();
    let next = |cache: Vec<Tensor>| {
        let mut it = cache.into_iter();
        let feed = inputs(&[9], ta, |_| it.next().unwrap());
        m.run_bound(feed, &[("logits", Placement::Host)])
            .unwrap()
            .take("logits")
            .unwrap()
            .f32_data()
            .unwrap()
            .to_vec()
    };
    let (x, y) = (next(moved), next(single));
    let worst = x
        .iter()
        .zip(&y)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "gathered and direct caches differ by {worst}");
    // Nothing to read gives zeros; sources of unequal buffer counts are refused.
    let zeros = m
        .gather_kv(&[], 2, Vec::new(), Vec::new(), [2, KV_HEADS, 0, HEAD_DIM])
        .unwrap();
    assert_eq!(zeros[1].shape(), vec![2, KV_HEADS, 0, HEAD_DIM]);
    let msg = m
        .gather_kv(
            &[&a, &b[..1]],
            2 * LAYERS,
            vec![0],
            vec![1.0],
            [1, KV_HEADS, 1, HEAD_DIM],
        )
        .unwrap_err()
        .to_string();
    assert!(msg.contains("same number of buffers"), "{msg}");
}

#[test]
fn tensorrt_profiles_cover_every_dynamic_input_of_the_graph() {
    let m = load();
    let declared = graph_inputs(&graph()).unwrap();
    let names: Vec<&str> = declared.iter().map(|i| i.name.as_str()).collect();
    let session: Vec<&str> = m.inputs().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, session, "the file's inputs are the session's");
    let past = &declared[names
        .iter()
        .position(|n| *n == "past_key_values.1.value")
        .unwrap()];
    assert!(matches!(past.dims[0], Dim::Named(_)));
    assert_eq!(past.dims[1], Dim::Fixed(KV_HEADS as i64));
    assert_eq!(past.dims[3], Dim::Fixed(HEAD_DIM as i64));
    let profile = ShapeProfile {
        batch: [1, 8, 64],
        length: [1, 128, 1024],
    };
    let (min, opt, max) = tensorrt_profile(&graph(), &profile).unwrap().unwrap();
    for shapes in [&min, &opt, &max] {
        assert_eq!(shapes.split(',').count(), names.len(), "{shapes}");
    }
    assert!(
        min.contains("input_ids:1x1,") && min.contains("past_key_values.0.key:1x2x0x16"),
        "{min}"
    );
    assert!(
        opt.contains("attention_mask:8x128") && opt.contains("past_key_values.0.value:8x2x128x16"),
        "{opt}"
    );
    assert!(
        max.contains("position_ids:64x1024")
            && max.ends_with("past_key_values.1.value:64x2x1024x16"),
        "{max}"
    );
    // A profile out of order, a file that is not a graph, and a missing one.
    let bad = ShapeProfile {
        batch: [4, 2, 8],
        length: [1, 1, 1],
    };
    let msg = tensorrt_profile(&graph(), &bad).unwrap_err().to_string();
    assert!(
        msg.contains("batch = [4, 2, 8]") && msg.contains("min <= opt <= max"),
        "{msg}"
    );
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("model.onnx");
    std::fs::write(&junk, b"\x0a\x05hello").unwrap();
    let msg = graph_inputs(&junk).unwrap_err().to_string();
    assert!(
        msg.contains("model.onnx") && msg.contains("no graph input"),
        "{msg}"
    );
    assert!(graph_inputs(&dir.path().join("none.onnx")).is_err());
    // On a machine without TensorRT, a profiled request falls back like any other.
    let settings = RuntimeSettings {
        provider: ExecutionProvider::Tensorrt,
        tensorrt_profile: Some(profile),
        ..RuntimeSettings::default()
    };
    let m = OnnxModel::load(&graph(), &settings).unwrap();
    if m.provider().active == ExecutionProvider::Cpu {
        let empty = |s: &[usize]| Tensor::f32(s, Vec::new()).unwrap();
        assert!(m.run(inputs(&[1, 2], 0, empty), &["logits"]).is_ok());
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

fn genai_graph() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fixtures/tiny-llama-genai/model.onnx")
}

/// A run of the GenAI fixture on `buffers` shared as past and present: `ids` after
/// `past` cached positions, one row. Returns the last position's logits.
fn shared_run(model: &OnnxModel, buffers: &mut [Tensor], ids: &[i64], past: usize) -> Vec<f32> {
    let names: Vec<(String, String)> = (0..LAYERS)
        .flat_map(|l| {
            ["key", "value"].map(|k| {
                (
                    format!("past_key_values.{l}.{k}"),
                    format!("present.{l}.{k}"),
                )
            })
        })
        .collect();
    let n = ids.len();
    let inputs = vec![
        ("input_ids", Tensor::i64(&[1, n], ids.to_vec()).unwrap()),
        (
            "attention_mask",
            Tensor::i64(&[1, past + n], vec![1; past + n]).unwrap(),
        ),
    ];
    let mut out = model
        .run_shared(inputs, buffers, &names, &[("logits", Placement::Host)])
        .unwrap();
    let logits = out.take("logits").unwrap();
    let data = logits.f32_data().unwrap();
    data[(n - 1) * VOCAB..n * VOCAB].to_vec()
}

#[test]
fn a_shared_buffer_is_written_in_place_and_reads_like_a_whole_prompt() {
    let model = OnnxModel::load(&genai_graph(), &RuntimeSettings::default()).unwrap();
    let cap = 8;
    let shape = [1, KV_HEADS, cap, HEAD_DIM];
    let mut buffers = model.zeros_kv(2 * LAYERS, shape).unwrap();
    assert_eq!(buffers[0].shape(), shape);
    assert!(buffers[0].f32_data().unwrap().iter().all(|&x| x == 0.0));
    // A prompt of 3, then one token: the cache grows in the same buffers.
    shared_run(&model, &mut buffers, &[1, 40, 41], 0);
    let filled = |t: &Tensor, upto: usize| {
        let d = t.f32_data().unwrap();
        (0..KV_HEADS).all(|h| {
            let row = &d[h * cap * HEAD_DIM..(h + 1) * cap * HEAD_DIM];
            row[..upto * HEAD_DIM].iter().any(|&x| x != 0.0)
                && row[upto * HEAD_DIM..].iter().all(|&x| x == 0.0)
        })
    };
    assert!(
        buffers.iter().all(|b| filled(b, 3)),
        "three positions written in place"
    );
    let stepped = shared_run(&model, &mut buffers, &[42], 3);
    assert!(
        buffers.iter().all(|b| filled(b, 4)),
        "the fourth written after them"
    );
    // The same four tokens read at once give the same logits.
    let mut fresh = model.zeros_kv(2 * LAYERS, shape).unwrap();
    let whole = shared_run(&model, &mut fresh, &[1, 40, 41, 42], 0);
    let worst = stepped
        .iter()
        .zip(&whole)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "{worst}");
    // Rust data cannot be bound as an output.
    let mut host = vec![Tensor::f32(&shape, vec![0.0; cap * KV_HEADS * HEAD_DIM]).unwrap()];
    let err = model
        .run_shared(
            vec![("input_ids", Tensor::i64(&[1, 1], vec![1]).unwrap())],
            &mut host,
            &[("past_key_values.0.key".into(), "present.0.key".into())],
            &[("logits", Placement::Host)],
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("Rust data"), "{err}");
}

#[test]
fn the_genai_graphs_weights_are_counted_and_located() {
    let w = ttc_onnx::graph_weights(&genai_graph()).unwrap();
    // config.json's exact count for this Llama: embeddings, 2 layers, norm, LM head.
    let (h, inter, v) = (64u64, 128u64, VOCAB as u64);
    let layer = h * h + 2 * h * 32 + h * h + 3 * h * inter + 2 * h;
    assert_eq!(w.parameters, v * h + 2 * layer + h + h * v);
    assert_eq!(w.external_files, ["model.onnx.data"]);
    assert!(w.rotary_attention);
    assert!(w.operators.contains("com.microsoft.GroupQueryAttention"));
    let optimum = ttc_onnx::graph_weights(&graph()).unwrap();
    assert!(optimum.external_files.is_empty());
    assert!(!optimum.rotary_attention);
}
