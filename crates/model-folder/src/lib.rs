//! A model folder, read once for every model crate, in one of two layouts
//! ("contracts"):
//! - the **Optimum contract** (Hugging Face Optimum's export): `config.json`,
//!   `generation_config.json`, the graph (`model.onnx`, ...);
//! - the **GenAI contract** (ONNX Runtime GenAI's, written by onnxruntime-genai's
//!   model builder and Olive): `genai_config.json` and the graph it names, no
//!   `config.json` ([`GenAiConfig`]);
//!
//! and in both `tokenizer.json` with `tokenizer_config.json` (special tokens, chat
//! template), which ONNX graph to load, and the parameter count that FLOPs are
//! counted with.
//!
//! One rule for each thing the generator and the verifier both need:
//! - end and pad tokens: `generation_config.json` first, then `config.json`;
//! - bos and eos *strings* (for chat templates): absent when tokenizer_config.json
//!   names none (templates see "");
//! - the chat template: `chat_template` in tokenizer_config.json (a string, or the
//!   entry named "default" of a list), else `chat_template.jinja` beside it; compiled
//!   once at load, so a broken template is an error there;
//! - parameters: exact from config.json for the Llama family (Llama, Mistral, Qwen2)
//!   with a causal-LM or token-classification head, else the weight bytes / 4
//!   (Optimum); a GenAI folder's come from its graph's initializers
//!   (`ttc_onnx::graph_weights`: its weights are often int4 or fp16);
//! - GenAI folders: end, pad and bos tokens, the context length and the decoder's
//!   shape from genai_config.json.
//!
//! And, for the report only, the folder's optional `training.json`: the model's
//! one-time cost ([`training_cost`]).

mod codec;
mod genai;
mod params;
mod training;

use std::path::{Path, PathBuf};

use serde_json::Value;
use ttc_core::{Error, Result};

pub use codec::{Codec, Span, preview};
pub use genai::{GENAI_CONFIG, GenAiConfig, GenAiInputs, GenAiOutputs, SearchDefaults};
pub use training::{TRAINING_FILE, training_cost};

/// Which layout a model folder has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contract {
    /// A Hugging Face Optimum export: config.json beside the graph.
    Optimum,
    /// An ONNX Runtime GenAI folder: genai_config.json, no config.json.
    GenAi,
}

/// The JSON files of one model folder.
#[derive(Clone, Debug)]
pub struct ModelFolder {
    dir: PathBuf,
    /// config.json (null in a GenAI folder).
    config: Value,
    /// genai_config.json, read and checked (GenAI folders only).
    genai: Option<GenAiConfig>,
    /// generation_config.json, or null.
    generation: Value,
    /// tokenizer_config.json, or null.
    tokenizer_config: Value,
}

fn read_json(path: &Path, dir: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::model(dir, format!("{}: invalid JSON: {e}", path.display())))
}

fn read_optional(path: &Path, dir: &Path) -> Result<Value> {
    if path.is_file() {
        read_json(path, dir)
    } else {
        Ok(Value::Null)
    }
}

/// Token ids from a field that may be an integer or a list of integers.
fn ids(v: Option<&Value>) -> Vec<u32> {
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

impl ModelFolder {
    /// Reads the folder's JSON files: config.json (an Optimum export) or, where
    /// there is none, genai_config.json (an ONNX Runtime GenAI folder).
    pub fn open(dir: &Path) -> Result<ModelFolder> {
        if !dir.is_dir() {
            return Err(Error::model(
                dir,
                "not a folder (expected an Optimum export: model.onnx, config.json, tokenizer.json, ...; \
                 or an ONNX Runtime GenAI folder: genai_config.json, model.onnx, tokenizer.json, ...)",
            ));
        }
        let config_path = dir.join("config.json");
        let genai_path = dir.join(GENAI_CONFIG);
        let genai = if !config_path.is_file() && genai_path.is_file() {
            Some(GenAiConfig::parse(dir, &read_json(&genai_path, dir)?)?)
        } else {
            None
        };
        if genai.is_none() && !config_path.is_file() {
            return Err(Error::model(
                dir,
                format!(
                    "has no config.json (an Optimum export) nor {GENAI_CONFIG} (an ONNX Runtime \
                     GenAI folder); export the model with `cargo xtask export SRC {0}` or \
                     `cargo xtask export SRC {0} --format genai`",
                    dir.display()
                ),
            ));
        }
        Ok(ModelFolder {
            config: match genai {
                Some(_) => Value::Null,
                None => read_json(&config_path, dir)?,
            },
            genai,
            generation: read_optional(&dir.join("generation_config.json"), dir)?,
            tokenizer_config: read_optional(&dir.join("tokenizer_config.json"), dir)?,
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder's layout.
    pub fn contract(&self) -> Contract {
        match self.genai {
            Some(_) => Contract::GenAi,
            None => Contract::Optimum,
        }
    }

    /// genai_config.json, in a GenAI folder.
    pub fn genai(&self) -> Option<&GenAiConfig> {
        self.genai.as_ref()
    }

    /// config.json as read.
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// An integer field of config.json.
    pub fn usize_field(&self, key: &str) -> Option<usize> {
        self.config
            .get(key)
            .and_then(Value::as_u64)
            .map(|v| v as usize)
    }

    /// An integer field of config.json that must be there.
    pub fn need(&self, key: &str) -> Result<usize> {
        self.usize_field(key)
            .ok_or_else(|| Error::model(&self.dir, format!("config.json has no integer `{key}`")))
    }

    /// `model_type` (GenAI: `model.type`), or "" when config.json has none.
    pub fn model_type(&self) -> &str {
        if let Some(g) = &self.genai {
            return &g.model_type;
        }
        self.config
            .get("model_type")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `max_position_embeddings` (GenAI: `model.context_length`).
    pub fn max_positions(&self) -> Option<usize> {
        match &self.genai {
            Some(g) => Some(g.context_length),
            None => self.usize_field("max_position_embeddings"),
        }
    }

    /// KV heads (`num_key_value_heads`, else `num_attention_heads`).
    pub fn kv_heads(&self) -> Option<usize> {
        self.usize_field("num_key_value_heads")
            .or_else(|| self.usize_field("num_attention_heads"))
    }

    /// Per-head width (`head_dim`, else `hidden_size / num_attention_heads`).
    pub fn head_dim(&self) -> Option<usize> {
        self.usize_field("head_dim").or_else(|| {
            let heads = self.usize_field("num_attention_heads").filter(|&h| h > 0)?;
            Some(self.usize_field("hidden_size")? / heads)
        })
    }

    /// End-of-sequence token ids: generation_config.json's, else config.json's
    /// (GenAI: genai_config.json's).
    pub fn eos_ids(&self) -> Vec<u32> {
        if let Some(g) = &self.genai {
            return g.eos_token_id.clone();
        }
        let from_generation = ids(self.generation.get("eos_token_id"));
        if from_generation.is_empty() {
            ids(self.config.get("eos_token_id"))
        } else {
            from_generation
        }
    }

    /// The pad token id: generation_config.json's, else config.json's (GenAI:
    /// genai_config.json's).
    pub fn pad_id(&self) -> Option<u32> {
        if let Some(g) = &self.genai {
            return g.pad_token_id;
        }
        ids(self.generation.get("pad_token_id"))
            .first()
            .or(ids(self.config.get("pad_token_id")).first())
            .copied()
    }

    /// The first of `names` that is a file in the folder; `hint` says how to make one.
    pub fn graph(&self, names: &[&str], hint: &str) -> Result<PathBuf> {
        names
            .iter()
            .map(|f| self.dir.join(f))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Error::model(
                    &self.dir,
                    format!("no {} found; {hint}", names.join(" or ")),
                )
            })
    }

    /// Parameters of the model in `graph`, for FLOPs = 2 x parameters x tokens: exact
    /// from config.json where the architecture is known, else the weight bytes / 4.
    /// (A GenAI folder's count comes from its graph, `ttc_onnx::graph_weights`.)
    pub fn parameters(&self, graph: &Path) -> u64 {
        params::from_config(&self.config).unwrap_or_else(|| params::weight_bytes(graph) / 4)
    }

    /// The tokenizer with its special tokens and compiled chat template.
    pub fn codec(&self) -> Result<Codec> {
        Codec::load(&self.dir, &self.tokenizer_config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model folder holding `files`, removed when dropped.
    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models/fixtures")
            .join(name)
    }

    #[test]
    fn end_and_pad_tokens_come_from_generation_config_first() {
        let dir = folder(&[
            ("config.json", r#"{"eos_token_id": 2, "pad_token_id": 0}"#),
            (
                "generation_config.json",
                r#"{"eos_token_id": [5, 6], "pad_token_id": 7}"#,
            ),
        ]);
        let f = ModelFolder::open(dir.path()).unwrap();
        assert_eq!(f.eos_ids(), vec![5, 6]);
        assert_eq!(f.pad_id(), Some(7));
        let dir = folder(&[("config.json", r#"{"eos_token_id": 2, "pad_token_id": 0}"#)]);
        let f = ModelFolder::open(dir.path()).unwrap();
        assert_eq!(f.eos_ids(), vec![2]);
        assert_eq!(f.pad_id(), Some(0));
    }

    #[test]
    fn missing_files_and_graphs_are_named() {
        let err = ModelFolder::open(Path::new("/nowhere/model"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a folder"), "{err}");
        let dir = folder(&[("config.json", "{}")]);
        let f = ModelFolder::open(dir.path()).unwrap();
        let err = f
            .graph(&["model.onnx", "decoder_model_merged.onnx"], "export it")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no model.onnx or decoder_model_merged.onnx found; export it"),
            "{err}"
        );
        let err = f.codec().unwrap_err().to_string();
        assert!(err.contains("no tokenizer.json"), "{err}");
        let err = ModelFolder::open(folder(&[("config.json", "{")]).path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid JSON"), "{err}");
    }

    #[test]
    fn parameters_are_exact_for_both_heads_of_the_fixtures() {
        for (name, head) in [("tiny-llama", 64 * 512), ("tiny-prm-value", 64 + 1)] {
            let f = ModelFolder::open(&fixture(name)).unwrap();
            let graph = f.graph(&["model.onnx"], "").unwrap();
            let p = f.parameters(&graph);
            // The body's weights plus the head, not the file size.
            assert_ne!(p, params::weight_bytes(&graph) / 4, "{name}");
            let h = f.usize_field("hidden_size").unwrap() as u64;
            let v = f.usize_field("vocab_size").unwrap() as u64;
            assert!(p > v * h + head, "{name}: {p}");
        }
    }

    #[test]
    fn a_genai_folder_is_read_from_genai_config_json() {
        let f = ModelFolder::open(&fixture("tiny-llama-genai")).unwrap();
        assert_eq!(f.contract(), Contract::GenAi);
        assert_eq!(f.model_type(), "llama");
        assert_eq!((f.eos_ids(), f.pad_id()), (vec![2], Some(0)));
        assert_eq!(f.max_positions(), Some(512));
        assert_eq!(f.genai().unwrap().num_key_value_heads, 2);
        let codec = f.codec().unwrap();
        assert_eq!(codec.eos_token(), Some("</s>"));
        assert!(codec.has_chat_template());
        let optimum = ModelFolder::open(&fixture("tiny-llama")).unwrap();
        assert_eq!(optimum.contract(), Contract::Optimum);
        assert!(optimum.genai().is_none());
        // Neither file: the error names both and how to make one.
        let err = ModelFolder::open(folder(&[("tokenizer.json", "{}")]).path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no config.json"), "{err}");
        assert!(err.contains("genai_config.json"), "{err}");
        assert!(err.contains("--format genai"), "{err}");
        // A broken genai_config.json fails at open, naming the field.
        let bad = folder(&[(GENAI_CONFIG, r#"{"model": {"type": "llama"}}"#)]);
        let err = ModelFolder::open(bad.path()).unwrap_err().to_string();
        assert!(err.contains("`model.decoder.filename` is missing"), "{err}");
    }

    #[test]
    fn the_chat_template_falls_back_to_the_jinja_file_and_compiles_at_load() {
        let tok = std::fs::read_to_string(fixture("tiny-llama").join("tokenizer.json")).unwrap();
        let dir = folder(&[
            ("config.json", "{}"),
            ("tokenizer.json", &tok),
            (
                "tokenizer_config.json",
                r#"{"eos_token": {"content": "</s>"}}"#,
            ),
            (
                "chat_template.jinja",
                "{% for m in messages %}{{ bos_token }}{{ m.role }}: {{ m.content }}{{ eos_token }}\n{% endfor %}",
            ),
        ]);
        let codec = ModelFolder::open(dir.path()).unwrap().codec().unwrap();
        assert_eq!(codec.bos_token(), None);
        assert_eq!(codec.eos_token(), Some("</s>"));
        assert_eq!(
            codec.render_chat(&[("user", "hi")], true).unwrap(),
            "user: hi</s>\n"
        );
        let bad = folder(&[
            ("config.json", "{}"),
            ("tokenizer.json", &tok),
            ("tokenizer_config.json", r#"{"chat_template": "{% for %}"}"#),
        ]);
        let err = ModelFolder::open(bad.path())
            .unwrap()
            .codec()
            .unwrap_err()
            .to_string();
        assert!(err.contains("chat_template"), "{err}");
        let none = folder(&[("config.json", "{}"), ("tokenizer.json", &tok)]);
        let codec = ModelFolder::open(none.path()).unwrap().codec().unwrap();
        assert!(!codec.has_chat_template());
        assert!(
            codec
                .render_chat(&[("user", "hi")], true)
                .unwrap_err()
                .to_string()
                .contains("no chat_template")
        );
    }
}
