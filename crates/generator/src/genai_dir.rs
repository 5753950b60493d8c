//! The GenAI contract: an ONNX Runtime GenAI folder's graph checked against its
//! `genai_config.json` (names, types and shapes of the decoder's inputs and outputs,
//! the shared-buffer attention, the external weights), and the names its runs bind.

use std::path::Path;

use ttc_core::{Error, Result};
use ttc_model_folder::{GENAI_CONFIG, GenAiConfig};
use ttc_onnx::{DType, GraphWeights, TensorSpec};

/// The operator that writes a shared past/present buffer in place.
const SHARED_ATTENTION: &str = "com.microsoft.GroupQueryAttention";

/// The names a GenAI graph's runs bind.
#[derive(Clone, Debug)]
pub(crate) struct GenAiIo {
    pub(crate) input_ids: String,
    pub(crate) attention_mask: String,
    pub(crate) position_ids: Option<String>,
    pub(crate) logits: String,
    /// Per KV buffer, in the order k0, v0, k1, v1, ...: its past input and present
    /// output, bound to the same tensor.
    pub(crate) shared: Vec<(String, String)>,
}

/// Checks that the external-data files the graph's weights live in are there.
pub(crate) fn check_weights(dir: &Path, graph: &Path, weights: &GraphWeights) -> Result<()> {
    let base = graph.parent().unwrap_or(dir);
    let file = graph.file_name().unwrap_or_default().to_string_lossy();
    for name in &weights.external_files {
        if !base.join(name).is_file() {
            return Err(Error::model(
                dir,
                format!(
                    "{file} keeps its weights in `{name}`, which is missing; copy it beside \
                     {file} (or export the folder again)"
                ),
            ));
        }
    }
    Ok(())
}

/// Checks the graph's `inputs` and `outputs` against `cfg` and returns the names to
/// bind. Errors name the graph file, genai_config.json's field and what to do.
pub(crate) fn check_genai(
    dir: &Path,
    graph: &Path,
    cfg: &GenAiConfig,
    weights: &GraphWeights,
    inputs: &[TensorSpec],
    outputs: &[TensorSpec],
) -> Result<GenAiIo> {
    let file = graph
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let err = |m: String| Error::model(dir, format!("{file}: {m}"));
    let disagree = "the graph and genai_config.json disagree: export the folder again with \
                    `cargo xtask export SRC DIR --format genai`";
    if !cfg.search.past_present_share_buffer {
        return Err(Error::model(
            dir,
            format!(
                "{GENAI_CONFIG}: `search.past_present_share_buffer` is false; ttc binds one KV \
                 buffer per layer as both past and present, as onnxruntime-genai does by \
                 default: export the folder with onnxruntime-genai's model builder \
                 (`cargo xtask export SRC DIR --format genai`)"
            ),
        ));
    }
    if !weights.operators.contains(SHARED_ATTENTION) {
        return Err(err(
            "has no GroupQueryAttention node (com.microsoft), the operator that writes a KV \
             buffer shared by past and present in place; ttc runs GenAI folders through it: \
             export with onnxruntime-genai's model builder for the CPU \
             (`cargo xtask export SRC DIR --format genai`)"
                .to_string(),
        ));
    }
    if weights.rotary_attention && !cfg.head_size.is_multiple_of(16) {
        return Err(err(format!(
            "its GroupQueryAttention applies the rotary embedding, which onnxruntime runs only \
             for a head size that is a multiple of 16, and {GENAI_CONFIG} declares \
             model.decoder.head_size = {}; this model cannot run as a GenAI folder: use its \
             Optimum export (`cargo xtask export SRC DIR`)",
            cfg.head_size
        )));
    }
    let find = |specs: &[TensorSpec], name: &str| specs.iter().find(|s| s.name == name).cloned();
    let need = |specs: &[TensorSpec], name: &str, field: &str, kind: &str| {
        find(specs, name).ok_or_else(|| {
            err(format!(
                "{GENAI_CONFIG} names the {kind} `{name}` ({field}) but the graph has none; {disagree}"
            ))
        })
    };
    let d = "model.decoder";
    let mut expected = Vec::new();
    for (name, field) in [
        (&cfg.inputs.input_ids, "inputs.input_ids"),
        (&cfg.inputs.attention_mask, "inputs.attention_mask"),
    ] {
        let spec = need(inputs, name, &format!("{d}.{field}"), "input")?;
        if spec.dtype != DType::I64 {
            return Err(err(format!(
                "input `{name}` is {:?}; ttc feeds token ids and masks as int64",
                spec.dtype
            )));
        }
        expected.push(name.clone());
    }
    if let Some(name) = &cfg.inputs.position_ids {
        let spec = need(inputs, name, &format!("{d}.inputs.position_ids"), "input")?;
        if spec.dtype != DType::I64 {
            return Err(err(format!(
                "input `{name}` is {:?}; ttc feeds positions as int64",
                spec.dtype
            )));
        }
        expected.push(name.clone());
    }
    let logits = need(
        outputs,
        &cfg.outputs.logits,
        &format!("{d}.outputs.logits"),
        "output",
    )?;
    if logits.dtype != DType::F32 {
        return Err(err(format!(
            "output `{}` is {:?}; ttc reads float32 logits (export with -p fp32 or int4 for the CPU)",
            logits.name, logits.dtype
        )));
    }
    if let Some(v) = logits.fixed_dim(2)
        && v != cfg.vocab_size
    {
        return Err(err(format!(
            "`{}` has {v} columns but {GENAI_CONFIG} declares model.vocab_size = {}; {disagree}",
            logits.name, cfg.vocab_size
        )));
    }
    let mut shared = Vec::new();
    for layer in 0..cfg.num_hidden_layers {
        for (past_pattern, present_pattern, kind) in [
            (
                &cfg.inputs.past_key_names,
                &cfg.outputs.present_key_names,
                "key",
            ),
            (
                &cfg.inputs.past_value_names,
                &cfg.outputs.present_value_names,
                "value",
            ),
        ] {
            let past = GenAiConfig::layer_name(past_pattern, layer);
            let present = GenAiConfig::layer_name(present_pattern, layer);
            let p = need(
                inputs,
                &past,
                &format!(
                    "{d}.inputs.past_{kind}_names, layer {layer} of num_hidden_layers = {}",
                    cfg.num_hidden_layers
                ),
                "input",
            )?;
            let q = need(
                outputs,
                &present,
                &format!("{d}.outputs.present_{kind}_names"),
                "output",
            )?;
            for spec in [&p, &q] {
                if spec.dtype != DType::F32 {
                    return Err(err(format!(
                        "the KV cache `{}` is {:?}; ttc runs float32 caches only (onnxruntime's \
                         CPU GroupQueryAttention is float32): export for the CPU with -p fp32 \
                         or -p int4 (`cargo xtask export SRC DIR --format genai` writes fp32)",
                        spec.name, spec.dtype
                    )));
                }
            }
            if let Some(h) = p.fixed_dim(1)
                && h != cfg.num_key_value_heads
            {
                return Err(err(format!(
                    "`{past}` has {h} KV heads but {GENAI_CONFIG} declares \
                     {d}.num_key_value_heads = {}; {disagree}",
                    cfg.num_key_value_heads
                )));
            }
            if let Some(s) = p.fixed_dim(3)
                && s != cfg.head_size
            {
                return Err(err(format!(
                    "`{past}` has head size {s} but {GENAI_CONFIG} declares {d}.head_size = {}; \
                     {disagree}",
                    cfg.head_size
                )));
            }
            expected.push(past.clone());
            shared.push((past, present));
        }
    }
    if let Some(extra) = inputs.iter().find(|i| !expected.contains(&i.name)) {
        return Err(err(format!(
            "has an input `{}` that {GENAI_CONFIG} does not name ({d}.inputs, \
             num_hidden_layers = {}); {disagree}",
            extra.name, cfg.num_hidden_layers
        )));
    }
    Ok(GenAiIo {
        input_ids: cfg.inputs.input_ids.clone(),
        attention_mask: cfg.inputs.attention_mask.clone(),
        position_ids: cfg.inputs.position_ids.clone(),
        logits: cfg.outputs.logits.clone(),
        shared,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn cfg() -> GenAiConfig {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models/fixtures/tiny-llama-genai")
            .join(GENAI_CONFIG);
        let json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        GenAiConfig::parse(Path::new("m"), &json).unwrap()
    }

    fn spec(name: &str, dtype: DType, shape: &[i64]) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
        }
    }

    /// The fixture graph's inputs and outputs, with its caches in `cache`.
    fn io(cache: DType) -> (Vec<TensorSpec>, Vec<TensorSpec>) {
        let mut inputs = vec![
            spec("input_ids", DType::I64, &[-1, -1]),
            spec("attention_mask", DType::I64, &[-1, -1]),
        ];
        let mut outputs = vec![spec("logits", DType::F32, &[-1, -1, 512])];
        for layer in 0..2 {
            for kind in ["key", "value"] {
                let past = format!("past_key_values.{layer}.{kind}");
                let present = format!("present.{layer}.{kind}");
                inputs.push(spec(&past, cache.clone(), &[-1, 2, -1, -1]));
                outputs.push(spec(&present, cache.clone(), &[-1, 2, -1, -1]));
            }
        }
        (inputs, outputs)
    }

    fn weights(gqa: bool) -> GraphWeights {
        let mut operators = BTreeSet::from(["MatMul".to_string()]);
        if gqa {
            operators.insert(SHARED_ATTENTION.to_string());
        }
        GraphWeights {
            parameters: 1,
            external_files: Vec::new(),
            operators,
            rotary_attention: gqa,
        }
    }

    fn check(
        cfg: &GenAiConfig,
        gqa: bool,
        io: (Vec<TensorSpec>, Vec<TensorSpec>),
    ) -> Result<GenAiIo> {
        check_genai(
            Path::new("m"),
            Path::new("m/model.onnx"),
            cfg,
            &weights(gqa),
            &io.0,
            &io.1,
        )
    }

    #[test]
    fn the_fixture_signature_binds_each_past_to_its_present() {
        let io = check(&cfg(), true, io(DType::F32)).unwrap();
        assert_eq!(io.shared.len(), 4);
        assert_eq!(
            io.shared[3],
            (
                "past_key_values.1.value".to_string(),
                "present.1.value".to_string()
            )
        );
        assert_eq!(io.position_ids, None);
    }

    #[test]
    fn other_caches_graphs_and_inputs_are_refused_with_the_reason() {
        let err = check(&cfg(), true, io(DType::F16)).unwrap_err().to_string();
        assert!(
            err.contains("model.onnx: the KV cache `past_key_values.0.key` is F16")
                && err.contains("float32 caches only"),
            "{err}"
        );
        let err = check(&cfg(), false, io(DType::F32))
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no GroupQueryAttention node"), "{err}");
        // The demo generator's shape: heads of 24.
        let mut odd = cfg();
        odd.head_size = 24;
        let err = check(&odd, true, io(DType::F32)).unwrap_err().to_string();
        assert!(
            err.contains("multiple of 16") && err.contains("head_size = 24"),
            "{err}"
        );
        let mut with_positions = cfg();
        with_positions.inputs.position_ids = Some("position_ids".into());
        let err = check(&with_positions, true, io(DType::F32))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("names the input `position_ids` (model.decoder.inputs.position_ids)"),
            "{err}"
        );
        let (mut inputs, outputs) = io(DType::F32);
        inputs.push(spec("token_type_ids", DType::I64, &[-1, -1]));
        let err = check(&cfg(), true, (inputs, outputs))
            .unwrap_err()
            .to_string();
        assert!(err.contains("has an input `token_type_ids`"), "{err}");
        let (mut inputs, outputs) = io(DType::F32);
        inputs[1].dtype = DType::I32;
        let err = check(&cfg(), true, (inputs, outputs))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`attention_mask` is I32"), "{err}");
        let (inputs, mut outputs) = io(DType::F32);
        outputs[0].dtype = DType::F16;
        let err = check(&cfg(), true, (inputs, outputs))
            .unwrap_err()
            .to_string();
        assert!(err.contains("output `logits` is F16"), "{err}");
    }
}
