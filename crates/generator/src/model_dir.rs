//! What the generator reads from its model folder (through `ttc-model-folder`), and
//! whether the ONNX graph agrees with it (on top of `ttc_onnx::GraphSignature`, the
//! checks every Optimum export shares with the reward model's).

use std::path::{Path, PathBuf};

use ttc_core::{Error, Result};
use ttc_model_folder::ModelFolder;
use ttc_onnx::{GraphSignature, TensorSpec};

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
    pub(crate) max_positions: Option<usize>,
}

/// Finds the graph file in the folder (a GenAI folder's is the one genai_config.json
/// names).
pub(crate) fn graph_file(folder: &ModelFolder) -> Result<PathBuf> {
    if let Some(g) = folder.genai() {
        return folder.graph(
            &[g.filename.as_str()],
            &format!(
                "genai_config.json names it (model.decoder.filename); export the folder again \
                 with `cargo xtask export SRC {} --format genai`",
                folder.dir().display()
            ),
        );
    }
    folder.graph(
        &GRAPH_FILES,
        &format!(
            "export the model with `cargo xtask export SRC {}`",
            folder.dir().display()
        ),
    )
}

impl ModelConfig {
    /// The decoder's shape from config.json (GenAI: genai_config.json), its end and
    /// pad tokens.
    pub(crate) fn load(folder: &ModelFolder) -> Result<ModelConfig> {
        if let Some(g) = folder.genai() {
            return Ok(ModelConfig {
                model_type: g.model_type.clone(),
                layers: g.num_hidden_layers,
                kv_heads: g.num_key_value_heads,
                head_dim: g.head_size,
                vocab: g.vocab_size,
                eos: g.eos_token_id.clone(),
                pad: g.pad_token_id,
                max_positions: Some(g.context_length),
            });
        }
        let heads = folder.need("num_attention_heads")?;
        let hidden = folder.need("hidden_size")?;
        Ok(ModelConfig {
            model_type: folder.model_type().to_string(),
            layers: folder.need("num_hidden_layers")?,
            kv_heads: folder.kv_heads().unwrap_or(heads),
            head_dim: folder.head_dim().unwrap_or(hidden / heads.max(1)),
            vocab: folder.need("vocab_size")?,
            eos: folder.eos_ids(),
            pad: folder.pad_id(),
            max_positions: folder.max_positions(),
        })
    }
}

/// The graph's KV-cache layout, checked against config.json.
#[derive(Clone, Debug)]
pub(crate) struct Signature {
    pub(crate) has_position_ids: bool,
    pub(crate) has_use_cache_branch: bool,
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
    let sig = GraphSignature::read(
        inputs,
        outputs,
        &format!(
            "not a text-generation export; export the model with `cargo xtask export SRC {}`",
            dir.display()
        ),
    )
    .map_err(err)?;
    if let Some(v) = sig.logits_width()
        && v != cfg.vocab
    {
        return Err(err(format!(
            "logits have {v} columns but config.json declares vocab_size = {}",
            cfg.vocab
        )));
    }
    let Some(past) = &sig.past else {
        return Err(err(
            "has no past_key_values.*.key inputs: export with `--task text-generation-with-past`"
                .into(),
        ));
    };
    let graph_layers = past.layers();
    if graph_layers != cfg.layers {
        return Err(err(format!(
            "config.json declares num_hidden_layers = {} but the graph has {graph_layers} layers of past_key_values inputs",
            cfg.layers
        )));
    }
    let find = |specs: &[TensorSpec], name: &str| specs.iter().find(|s| s.name == name).cloned();
    for i in 0..cfg.layers {
        for kind in ["key", "value"] {
            let name = format!("past_key_values.{i}.{kind}");
            let present = format!("present.{i}.{kind}");
            let p =
                find(&past.specs, &name).ok_or_else(|| err(format!("has no input `{name}`")))?;
            find(outputs, &present).ok_or_else(|| err(format!("has no output `{present}`")))?;
            if let Some(h) = p.fixed_dim(1)
                && h != cfg.kv_heads
            {
                return Err(err(format!(
                    "`{name}` has {h} KV heads but config.json implies {} (num_key_value_heads)",
                    cfg.kv_heads
                )));
            }
            if let Some(d) = p.fixed_dim(3)
                && d != cfg.head_dim
            {
                return Err(err(format!(
                    "`{name}` has head dim {d} but config.json implies {} (head_dim or hidden_size / num_attention_heads)",
                    cfg.head_dim
                )));
            }
        }
    }
    Ok(Signature {
        has_position_ids: sig.position_ids,
        has_use_cache_branch: sig.use_cache_branch,
    })
}
