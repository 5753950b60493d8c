//! `genai_config.json`, the configuration of an ONNX Runtime GenAI model folder (what
//! onnxruntime-genai's model builder and Olive write): the decoder's file, shape and
//! input / output names, the context length, special tokens and search defaults.
//! Read once, with every field checked: an error names the file, the field and what
//! to do.

use std::path::Path;

use serde_json::Value;
use ttc_core::{Error, Result};

/// The file's name in a model folder.
pub const GENAI_CONFIG: &str = "genai_config.json";

/// How to repair a folder whose genai_config.json is wrong.
const FIX: &str = "export the folder again with `cargo xtask export SRC DIR --format genai`, \
                   or correct the file";

/// The decoder's input names (`model.decoder.inputs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenAiInputs {
    pub input_ids: String,
    pub attention_mask: String,
    /// Absent when the graph takes none (GroupQueryAttention derives positions from
    /// the attention mask).
    pub position_ids: Option<String>,
    /// `past_key_values.%d.key`: `%d` is the layer.
    pub past_key_names: String,
    pub past_value_names: String,
}

/// The decoder's output names (`model.decoder.outputs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenAiOutputs {
    pub logits: String,
    /// `present.%d.key`.
    pub present_key_names: String,
    pub present_value_names: String,
}

/// The `search` defaults the folder ships (ttc's own sampling settings decide a
/// run; these are read for checking and reporting).
#[derive(Clone, Debug, PartialEq)]
pub struct SearchDefaults {
    pub do_sample: bool,
    pub temperature: f64,
    pub top_k: Option<usize>,
    pub top_p: f64,
    pub max_length: Option<usize>,
    /// Past and present bound to one buffer per layer (onnxruntime-genai's default).
    pub past_present_share_buffer: bool,
}

/// What genai_config.json says about the model.
#[derive(Clone, Debug, PartialEq)]
pub struct GenAiConfig {
    /// `model.type` ("llama", "qwen2", ...).
    pub model_type: String,
    /// `model.decoder.filename`, relative to the folder.
    pub filename: String,
    pub head_size: usize,
    pub hidden_size: usize,
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub num_key_value_heads: usize,
    /// `model.context_length`: the most positions a sequence may take.
    pub context_length: usize,
    pub vocab_size: usize,
    pub bos_token_id: Option<u32>,
    /// `model.eos_token_id`: one id or a list.
    pub eos_token_id: Vec<u32>,
    pub pad_token_id: Option<u32>,
    pub inputs: GenAiInputs,
    pub outputs: GenAiOutputs,
    pub search: SearchDefaults,
}

/// A field reader that names `genai_config.json` and the field's path in errors.
struct Fields<'a> {
    dir: &'a Path,
    root: &'a Value,
}

impl Fields<'_> {
    fn err(&self, path: &str, what: &str) -> Error {
        Error::model(self.dir, format!("{GENAI_CONFIG}: `{path}` {what}; {FIX}"))
    }

    fn get(&self, path: &str) -> Option<&Value> {
        path.split('.').try_fold(self.root, |v, key| v.get(key))
    }

    fn usize(&self, path: &str) -> Result<usize> {
        match self.get(path) {
            None | Some(Value::Null) => Err(self.err(path, "is missing (a whole number)")),
            Some(v) => v
                .as_u64()
                .filter(|&n| n > 0)
                .map(|n| n as usize)
                .ok_or_else(|| self.err(path, &format!("is {v}, not a whole number above 0"))),
        }
    }

    fn opt_usize(&self, path: &str) -> Result<Option<usize>> {
        match self.get(path) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.usize(path).map(Some),
        }
    }

    fn string(&self, path: &str) -> Result<String> {
        match self.get(path) {
            None | Some(Value::Null) => Err(self.err(path, "is missing (a string)")),
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(v) => Err(self.err(path, &format!("is {v}, not a name"))),
        }
    }

    fn opt_string(&self, path: &str) -> Result<Option<String>> {
        match self.get(path) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.string(path).map(Some),
        }
    }

    /// A per-layer name pattern: one `%d`.
    fn pattern(&self, path: &str) -> Result<String> {
        let p = self.string(path)?;
        if p.matches("%d").count() != 1 {
            return Err(self.err(
                path,
                &format!("is \"{p}\", which needs one `%d` where the layer number goes"),
            ));
        }
        Ok(p)
    }

    fn token_ids(&self, path: &str) -> Result<Option<Vec<u32>>> {
        let id = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
        match self.get(path) {
            None | Some(Value::Null) => Ok(None),
            Some(v @ Value::Number(_)) => id(v)
                .map(|n| Some(vec![n]))
                .ok_or_else(|| self.err(path, &format!("is {v}, not a token id"))),
            Some(Value::Array(list)) if !list.is_empty() => list
                .iter()
                .map(|v| id(v).ok_or_else(|| self.err(path, &format!("holds {v}, not a token id"))))
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Some(v) => Err(self.err(path, &format!("is {v}, not a token id or a list of them"))),
        }
    }

    fn bool_or(&self, path: &str, default: bool) -> Result<bool> {
        match self.get(path) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.err(path, &format!("is {v}, not true or false"))),
        }
    }

    fn f64_or(&self, path: &str, default: f64) -> Result<f64> {
        match self.get(path) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| self.err(path, &format!("is {v}, not a number"))),
        }
    }
}

impl GenAiConfig {
    /// Parses the JSON of `dir`'s genai_config.json.
    pub fn parse(dir: &Path, json: &Value) -> Result<GenAiConfig> {
        let f = Fields { dir, root: json };
        let d = "model.decoder";
        let one = |path: &str| -> Result<Option<u32>> {
            Ok(f.token_ids(path)?.and_then(|ids| ids.first().copied()))
        };
        Ok(GenAiConfig {
            model_type: f.string("model.type")?,
            filename: f.string(&format!("{d}.filename"))?,
            head_size: f.usize(&format!("{d}.head_size"))?,
            hidden_size: f.usize(&format!("{d}.hidden_size"))?,
            num_attention_heads: f.usize(&format!("{d}.num_attention_heads"))?,
            num_hidden_layers: f.usize(&format!("{d}.num_hidden_layers"))?,
            num_key_value_heads: f.usize(&format!("{d}.num_key_value_heads"))?,
            context_length: f.usize("model.context_length")?,
            vocab_size: f.usize("model.vocab_size")?,
            bos_token_id: one("model.bos_token_id")?,
            eos_token_id: f
                .token_ids("model.eos_token_id")?
                .ok_or_else(|| f.err("model.eos_token_id", "is missing (a token id or a list)"))?,
            pad_token_id: one("model.pad_token_id")?,
            inputs: GenAiInputs {
                input_ids: f.string(&format!("{d}.inputs.input_ids"))?,
                attention_mask: f.string(&format!("{d}.inputs.attention_mask"))?,
                position_ids: f.opt_string(&format!("{d}.inputs.position_ids"))?,
                past_key_names: f.pattern(&format!("{d}.inputs.past_key_names"))?,
                past_value_names: f.pattern(&format!("{d}.inputs.past_value_names"))?,
            },
            outputs: GenAiOutputs {
                logits: f.string(&format!("{d}.outputs.logits"))?,
                present_key_names: f.pattern(&format!("{d}.outputs.present_key_names"))?,
                present_value_names: f.pattern(&format!("{d}.outputs.present_value_names"))?,
            },
            search: SearchDefaults {
                do_sample: f.bool_or("search.do_sample", false)?,
                temperature: f.f64_or("search.temperature", 1.0)?,
                top_k: f.opt_usize("search.top_k")?,
                top_p: f.f64_or("search.top_p", 1.0)?,
                max_length: f.opt_usize("search.max_length")?,
                past_present_share_buffer: f.bool_or("search.past_present_share_buffer", true)?,
            },
        })
    }

    /// Layer `layer`'s name in a `%d` pattern.
    pub fn layer_name(pattern: &str, layer: usize) -> String {
        pattern.replacen("%d", &layer.to_string(), 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models/fixtures/tiny-llama-genai")
            .join(GENAI_CONFIG);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_builders_config_reads_whole() {
        let c = GenAiConfig::parse(Path::new("m"), &fixture()).unwrap();
        assert_eq!(c.model_type, "llama");
        assert_eq!(c.filename, "model.onnx");
        assert_eq!(
            (c.head_size, c.hidden_size, c.num_attention_heads),
            (16, 64, 4)
        );
        assert_eq!((c.num_hidden_layers, c.num_key_value_heads), (2, 2));
        assert_eq!((c.context_length, c.vocab_size), (512, 512));
        assert_eq!(
            (c.bos_token_id, c.eos_token_id.as_slice(), c.pad_token_id),
            (Some(1), &[2][..], Some(0))
        );
        assert_eq!(c.inputs.position_ids, None);
        assert_eq!(
            GenAiConfig::layer_name(&c.inputs.past_key_names, 1),
            "past_key_values.1.key"
        );
        assert_eq!(
            GenAiConfig::layer_name(&c.outputs.present_value_names, 0),
            "present.0.value"
        );
        assert!(c.search.past_present_share_buffer);
        assert_eq!(c.search.max_length, Some(512));
    }

    #[test]
    fn each_bad_field_is_named_with_the_file_and_the_fix() {
        let cases: [(&str, Value, &str); 6] = [
            (
                "/model/decoder/head_size",
                Value::Null,
                "`model.decoder.head_size` is missing",
            ),
            (
                "/model/context_length",
                Value::from(0),
                "`model.context_length` is 0",
            ),
            (
                "/model/decoder/inputs/past_key_names",
                Value::from("past.key"),
                "needs one `%d`",
            ),
            (
                "/model/eos_token_id",
                Value::from("x"),
                "`model.eos_token_id` is \"x\"",
            ),
            (
                "/search/past_present_share_buffer",
                Value::from(1),
                "not true or false",
            ),
            (
                "/model/decoder/filename",
                Value::from(3),
                "`model.decoder.filename` is 3",
            ),
        ];
        for (pointer, value, want) in cases {
            let mut json = fixture();
            *json.pointer_mut(pointer).unwrap() = value;
            let err = GenAiConfig::parse(Path::new("m"), &json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(GENAI_CONFIG), "{err}");
            assert!(err.contains(want), "{pointer}: {err}");
            assert!(err.contains("--format genai"), "{err}");
        }
        let mut json = fixture();
        json["model"]["eos_token_id"] = serde_json::json!([2, 7]);
        json["model"]
            .as_object_mut()
            .unwrap()
            .remove("pad_token_id");
        let c = GenAiConfig::parse(Path::new("m"), &json).unwrap();
        assert_eq!((c.eos_token_id, c.pad_token_id), (vec![2, 7], None));
    }
}
