//! The Hugging Face Optimum model folder: which files, what config.json says, and
//! whether the ONNX graph agrees with it.

use std::path::{Path, PathBuf};

use serde_json::Value;
use ttc_core::{Error, Result};
use ttc_onnx::{DType, TensorSpec};

/// Graph file names accepted, in order of preference.
pub(crate) const GRAPH_FILES: [&str; 2] = ["model.onnx", "decoder_model_merged.onnx"];

/// What the generator needs from config.json and generation_config.json.
#[derive(Clone, Debug)]
pub(crate) struct ModelConfig {
    pub(crate) model_type: String,
    pub(crate) layers: usize,
    pub(crate) kv_heads: usize,
    pub(crate) head_dim: usize,
    pub(crate) vocab: usize,
    pub(crate) eos: Vec<u32>,
    pub(crate) pad: Option<u32>,
    pub(crate) parameters: Option<u64>,
    pub(crate) max_positions: Option<usize>,
}

fn read_json(path: &Path, dir: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::model(dir, format!("{}: invalid JSON: {e}", path.display())))
}

fn usize_field(cfg: &Value, key: &str) -> Option<usize> {
    cfg.get(key).and_then(Value::as_u64).map(|v| v as usize)
}

/// Token ids from a field that may be an integer or a list of integers.
fn ids_field(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_u64)
            .map(|x| x as u32)
            .collect(),
        _ => Vec::new(),
    }
}

/// Finds the graph file in `dir`.
pub(crate) fn graph_file(dir: &Path) -> Result<PathBuf> {
    if !dir.is_dir() {
        return Err(Error::model(
            dir,
            "not a folder (expected an Optimum export: model.onnx, config.json, tokenizer.json, ...)",
        ));
    }
    GRAPH_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::model(
                dir,
                format!(
                    "no {} found; export the model with `cargo xtask export SRC {}`",
                    GRAPH_FILES.join(" or "),
                    dir.display()
                ),
            )
        })
}

impl ModelConfig {
    /// Reads config.json and (if present) generation_config.json.
    pub(crate) fn load(dir: &Path) -> Result<ModelConfig> {
        let cfg_path = dir.join("config.json");
        let cfg = read_json(&cfg_path, dir)?;
        let need = |key: &str| {
            usize_field(&cfg, key)
                .ok_or_else(|| Error::model(dir, format!("config.json has no integer `{key}`")))
        };
        let layers = need("num_hidden_layers")?;
        let heads = need("num_attention_heads")?;
        let hidden = need("hidden_size")?;
        let vocab = need("vocab_size")?;
        let kv_heads = usize_field(&cfg, "num_key_value_heads").unwrap_or(heads);
        let head_dim = usize_field(&cfg, "head_dim").unwrap_or(hidden / heads.max(1));
        let gen_path = dir.join("generation_config.json");
        let gen_cfg = if gen_path.is_file() {
            read_json(&gen_path, dir)?
        } else {
            Value::Null
        };
        let mut eos = ids_field(gen_cfg.get("eos_token_id"));
        if eos.is_empty() {
            eos = ids_field(cfg.get("eos_token_id"));
        }
        let pad = ids_field(gen_cfg.get("pad_token_id"))
            .first()
            .or(ids_field(cfg.get("pad_token_id")).first())
            .copied();
        let model_type = cfg
            .get("model_type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let parameters = llama_family_parameters(&cfg, &model_type);
        Ok(ModelConfig {
            model_type,
            layers,
            kv_heads,
            head_dim,
            vocab,
            eos,
            pad,
            parameters,
            max_positions: usize_field(&cfg, "max_position_embeddings"),
        })
    }
}

/// Exact parameter count for the Llama family (Llama, Mistral, Qwen2), whose layer
/// layout is fixed; `None` for other architectures.
fn llama_family_parameters(cfg: &Value, model_type: &str) -> Option<u64> {
    if !matches!(model_type, "llama" | "mistral" | "qwen2") {
        return None;
    }
    let g = |k: &str| usize_field(cfg, k).map(|v| v as u64);
    let (h, l, nh, v, inter) = (
        g("hidden_size")?,
        g("num_hidden_layers")?,
        g("num_attention_heads")?,
        g("vocab_size")?,
        g("intermediate_size")?,
    );
    let kvh = g("num_key_value_heads").unwrap_or(nh);
    let hd = g("head_dim").unwrap_or(h / nh);
    let tied = cfg
        .get("tie_word_embeddings")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let attn = h * nh * hd + 2 * h * kvh * hd + nh * hd * h;
    // Qwen2 has biases on q, k and v; Llama may (attention_bias).
    let bias = model_type == "qwen2"
        || cfg
            .get("attention_bias")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let attn_bias = if bias { nh * hd + 2 * kvh * hd } else { 0 };
    let layer = attn + attn_bias + 3 * h * inter + 2 * h;
    Some(v * h + if tied { 0 } else { v * h } + l * layer + h)
}

/// The graph's KV-cache layout, checked against config.json.
#[derive(Clone, Debug)]
pub(crate) struct Signature {
    pub(crate) has_position_ids: bool,
    pub(crate) has_use_cache_branch: bool,
}

fn dim(spec: &TensorSpec, i: usize) -> Option<usize> {
    spec.shape.get(i).filter(|&&d| d > 0).map(|&d| d as usize)
}

/// Checks that `inputs`/`outputs` are a decoder with past key values matching `cfg`.
pub(crate) fn check_signature(
    dir: &Path,
    graph: &Path,
    cfg: &ModelConfig,
    inputs: &[TensorSpec],
    outputs: &[TensorSpec],
) -> Result<Signature> {
    let file = graph
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let err = |m: String| Error::model(dir, format!("{file}: {m}"));
    let find = |specs: &[TensorSpec], name: &str| specs.iter().find(|s| s.name == name).cloned();
    for name in ["input_ids", "attention_mask"] {
        match find(inputs, name) {
            Some(s) if s.dtype == DType::I64 => {}
            Some(s) => {
                return Err(err(format!(
                    "input `{name}` is {:?}, expected int64",
                    s.dtype
                )));
            }
            None => {
                return Err(err(format!(
                    "has no input `{name}`: not a text-generation export"
                )));
            }
        }
    }
    let logits = find(outputs, "logits").ok_or_else(|| err("has no output `logits`".into()))?;
    if let Some(v) = dim(&logits, 2)
        && v != cfg.vocab
    {
        return Err(err(format!(
            "logits have {v} columns but config.json declares vocab_size = {}",
            cfg.vocab
        )));
    }
    let graph_layers = inputs
        .iter()
        .filter(|s| s.name.starts_with("past_key_values.") && s.name.ends_with(".key"))
        .count();
    if graph_layers == 0 {
        return Err(err(
            "has no past_key_values.*.key inputs: export with `--task text-generation-with-past`"
                .into(),
        ));
    }
    if graph_layers != cfg.layers {
        return Err(err(format!(
            "config.json declares num_hidden_layers = {} but the graph has {graph_layers} layers of past_key_values inputs",
            cfg.layers
        )));
    }
    for i in 0..cfg.layers {
        for kind in ["key", "value"] {
            let past = format!("past_key_values.{i}.{kind}");
            let present = format!("present.{i}.{kind}");
            let p = find(inputs, &past).ok_or_else(|| err(format!("has no input `{past}`")))?;
            find(outputs, &present).ok_or_else(|| err(format!("has no output `{present}`")))?;
            match p.dtype {
                DType::F32 => {}
                DType::F16 => {
                    return Err(err(format!(
                        "`{past}` is float16; only float32 KV caches are supported (export in fp32)"
                    )));
                }
                ref d => {
                    return Err(err(format!(
                        "`{past}` has element type {d:?}, expected float32"
                    )));
                }
            }
            if let Some(h) = dim(&p, 1)
                && h != cfg.kv_heads
            {
                return Err(err(format!(
                    "`{past}` has {h} KV heads but config.json implies {} (num_key_value_heads)",
                    cfg.kv_heads
                )));
            }
            if let Some(d) = dim(&p, 3)
                && d != cfg.head_dim
            {
                return Err(err(format!(
                    "`{past}` has head dim {d} but config.json implies {} (head_dim or hidden_size / num_attention_heads)",
                    cfg.head_dim
                )));
            }
        }
    }
    Ok(Signature {
        has_position_ids: find(inputs, "position_ids").is_some(),
        has_use_cache_branch: find(inputs, "use_cache_branch").is_some(),
    })
}
