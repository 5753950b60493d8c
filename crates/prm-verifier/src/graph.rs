//! The model folder's config.json and the ONNX graph's inputs and outputs, checked
//! against the adapter when loading, on top of `ttc_onnx::GraphSignature` (the
//! checks every Optimum export shares with the generator's).

use std::path::{Path, PathBuf};

use ttc_core::{Error, Result};
use ttc_model_folder::ModelFolder;
use ttc_onnx::{GraphSignature, TensorSpec};

use crate::adapter::Probability;

/// What the verifier needs from config.json.
#[derive(Clone, Debug, Default)]
pub(crate) struct FolderConfig {
    pub(crate) vocab: Option<usize>,
    /// Classes of a token-classification head (`id2label`, or `num_labels`).
    pub(crate) num_labels: Option<usize>,
    pub(crate) max_positions: Option<usize>,
    pub(crate) pad: Option<u32>,
    pub(crate) kv_heads: Option<usize>,
    pub(crate) head_dim: Option<usize>,
}

/// Finds `model.onnx` in the folder.
pub(crate) fn graph_file(folder: &ModelFolder) -> Result<PathBuf> {
    folder.graph(
        &["model.onnx"],
        &format!(
            "export a classifier-head PRM with `cargo xtask export SRC {0} --task \
             token-classification-with-past`, a causal-LM PRM with `cargo xtask export SRC {0}`",
            folder.dir().display()
        ),
    )
}

impl FolderConfig {
    pub(crate) fn load(folder: &ModelFolder) -> FolderConfig {
        let num_labels = folder
            .config()
            .get("id2label")
            .and_then(serde_json::Value::as_object)
            .map(|m| m.len())
            .or_else(|| folder.usize_field("num_labels"));
        FolderConfig {
            vocab: folder.usize_field("vocab_size"),
            num_labels,
            max_positions: folder.max_positions(),
            pad: folder.pad_id(),
            kv_heads: folder.kv_heads(),
            head_dim: folder.head_dim(),
        }
    }
}

/// The KV-cache inputs of a graph exported with past key values (a causal LM, or
/// a classifier exported with `token-classification-with-past`).
#[derive(Clone, Debug)]
pub(crate) struct Past {
    /// past_key_values.{i}.key, .value in graph order.
    pub(crate) names: Vec<String>,
    /// The matching present.{i}.key, .value outputs, when the graph has them all.
    pub(crate) presents: Option<Vec<String>>,
    pub(crate) kv_heads: usize,
    pub(crate) head_dim: usize,
}

/// The graph inputs to feed, and the width of its logits.
#[derive(Clone, Debug)]
pub(crate) struct Signature {
    pub(crate) position_ids: bool,
    pub(crate) token_type_ids: bool,
    pub(crate) use_cache_branch: bool,
    pub(crate) past: Option<Past>,
    /// Columns of `logits`, when the graph fixes them.
    pub(crate) width: Option<usize>,
}

/// Checks the graph: token inputs, a per-token `logits` output whose width fits the
/// adapter's probability (`labels` are the label-token ids of a causal LM).
pub(crate) fn check(
    dir: &Path,
    cfg: &FolderConfig,
    inputs: &[TensorSpec],
    outputs: &[TensorSpec],
    probability: &Probability,
    labels: Option<[u32; 2]>,
) -> Result<Signature> {
    let err = |m: String| Error::model(dir, format!("model.onnx: {m}"));
    let graph = GraphSignature::read(
        inputs,
        outputs,
        "a PRM graph takes input_ids and attention_mask and returns per-token logits: export a \
         classifier head with --task token-classification (not sequence-classification) or a \
         causal LM with the default task",
    )
    .map_err(err)?;
    if let Some(name) = graph.other_inputs.first() {
        return Err(err(format!(
            "has an input `{name}` a PRM run cannot fill; expected input_ids, attention_mask and \
             optionally position_ids, token_type_ids, past_key_values.*"
        )));
    }
    let past = match &graph.past {
        None => None,
        Some(p) => {
            let first = &p.specs[0].name;
            let kv_heads = p.kv_heads().or(cfg.kv_heads).ok_or_else(|| {
                err(format!(
                    "`{first}` has no fixed head count and config.json has no num_key_value_heads"
                ))
            })?;
            let head_dim = p.head_dim().or(cfg.head_dim).ok_or_else(|| {
                err(format!(
                    "`{first}` has no fixed head size and config.json has no head_dim or hidden_size"
                ))
            })?;
            Some(Past {
                names: p.names(),
                presents: p.presents.clone(),
                kv_heads,
                head_dim,
            })
        }
    };
    let sig = Signature {
        position_ids: graph.position_ids,
        token_type_ids: graph.token_type_ids,
        use_cache_branch: graph.use_cache_branch,
        past,
        width: graph.logits_width(),
    };
    check_width(dir, cfg, sig.width, probability, labels)?;
    Ok(sig)
}

/// Whether `width` logits per token (when known; else config.json's count) fit the
/// adapter's probability.
pub(crate) fn check_width(
    dir: &Path,
    cfg: &FolderConfig,
    width: Option<usize>,
    probability: &Probability,
    labels: Option<[u32; 2]>,
) -> Result<()> {
    let err = |m: String| Error::model(dir, format!("model.onnx: {m}"));
    match probability {
        Probability::Sigmoid => {
            let n = width.or(cfg.num_labels);
            if let Some(n) = n.filter(|&n| n != 1) {
                return Err(err(format!(
                    "has {n} logits per token but the adapter's probability `sigmoid` reads one value; {}",
                    other_head(cfg, n)
                )));
            }
            if let (Some(w), Some(c)) = (width, cfg.num_labels)
                && w != c
            {
                return Err(err(format!(
                    "has {w} logits per token but config.json declares {c} labels (id2label)"
                )));
            }
        }
        Probability::Softmax { class } => {
            if let Some(n) = width.or(cfg.num_labels) {
                if n < 2 {
                    return Err(err(format!(
                        "has {n} logit per token; softmax needs a classifier head with two or more classes; {}",
                        other_head(cfg, n)
                    )));
                }
                if Some(n) == cfg.vocab && n > 2 {
                    return Err(err(format!(
                        "has {n} logits per token (the vocabulary) but the adapter's probability `softmax` \
                         reads a classifier head; {}",
                        other_head(cfg, n)
                    )));
                }
                if *class >= n {
                    return Err(err(format!(
                        "has {n} classes but the adapter reads class {class}; classes are numbered from 0"
                    )));
                }
            }
            if let (Some(w), Some(c)) = (width, cfg.num_labels)
                && w != c
            {
                return Err(err(format!(
                    "has {w} logits per token but config.json declares {c} labels (id2label)"
                )));
            }
        }
        Probability::LabelTokens { .. } => {
            if let (Some(w), Some(v)) = (width, cfg.vocab)
                && w != v
            {
                return Err(err(format!(
                    "has {w} logits per token but config.json declares vocab_size = {v}: the adapter's \
                     probability `label-tokens` reads a causal LM's vocabulary logits; {}",
                    other_head(cfg, w)
                )));
            }
            let n = width.or(cfg.vocab);
            if let (Some(n), Some(ids)) = (n, labels)
                && let Some(&id) = ids.iter().find(|&&id| id as usize >= n)
            {
                return Err(err(format!(
                    "has {n} logits per token but the label token id {id} is not below {n}: label-tokens \
                     reads a causal LM's vocabulary logits; for a classifier or value head use softmax or \
                     sigmoid"
                )));
            }
        }
    }
    Ok(())
}

/// What to use instead for a model with `n` logits per token.
fn other_head(cfg: &FolderConfig, n: usize) -> &'static str {
    match n {
        1 => "this is a value head: use probability = { kind = \"sigmoid\" }",
        _ if Some(n) == cfg.vocab => {
            "this is a causal LM's vocabulary: use probability = { kind = \"label-tokens\", positive = ..., \
             negative = ... }"
        }
        _ => "this is a classifier head: use probability = { kind = \"softmax\", class = ... }",
    }
}
