//! Text to tokens and back, and chat prompts through the model's own Jinja template.

use std::path::Path;

use serde_json::Value;
use tokenizers::Tokenizer;
use ttc_core::{ChatMessage, Error, Result};

/// The tokenizer and chat template of one model folder.
#[derive(Debug)]
pub(crate) struct Codec {
    pub(crate) tokenizer: Tokenizer,
    name: String,
    chat_template: Option<String>,
    bos_token: String,
    eos_token: String,
}

/// A special-token entry in tokenizer_config.json: a string or `{"content": ...}`.
fn token_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    }
}

impl Codec {
    pub(crate) fn load(dir: &Path) -> Result<Codec> {
        let name = dir.display().to_string();
        let tok_path = dir.join("tokenizer.json");
        if !tok_path.is_file() {
            return Err(Error::model(
                dir,
                "no tokenizer.json (an Optimum export copies it from the checkpoint)",
            ));
        }
        let tokenizer = Tokenizer::from_file(&tok_path).map_err(|e| Error::Tokenizer {
            model: name.clone(),
            message: format!("{}: {e}", tok_path.display()),
        })?;
        let cfg_path = dir.join("tokenizer_config.json");
        let cfg: Value = if cfg_path.is_file() {
            let text = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
            serde_json::from_str(&text).map_err(|e| {
                Error::model(dir, format!("{}: invalid JSON: {e}", cfg_path.display()))
            })?
        } else {
            Value::Null
        };
        // `chat_template` is a string, or a list of named templates where "default" is used.
        let chat_template = match cfg.get("chat_template") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                .and_then(|t| t.get("template").and_then(Value::as_str))
                .map(str::to_string),
            _ => None,
        };
        // transformers >= 4.43 may save the template beside the config instead.
        let jinja = dir.join("chat_template.jinja");
        let chat_template = match chat_template {
            None if jinja.is_file() => {
                Some(std::fs::read_to_string(&jinja).map_err(|e| Error::io(&jinja, e))?)
            }
            other => other,
        };
        Ok(Codec {
            tokenizer,
            name,
            chat_template,
            bos_token: token_string(cfg.get("bos_token")),
            eos_token: token_string(cfg.get("eos_token")),
        })
    }

    fn tok_err(&self, e: impl std::fmt::Display) -> Error {
        Error::Tokenizer {
            model: self.name.clone(),
            message: e.to_string(),
        }
    }

    /// Token ids of `text`; `special` adds the post-processor's tokens (BOS).
    pub(crate) fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        let enc = self
            .tokenizer
            .encode(text, special)
            .map_err(|e| self.tok_err(e))?;
        Ok(enc.get_ids().to_vec())
    }

    pub(crate) fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| self.tok_err(e))
    }

    /// Renders chat turns with the template, the generation prompt appended.
    pub(crate) fn render_chat(&self, messages: &[ChatMessage]) -> Result<String> {
        let template = self
            .chat_template
            .as_deref()
            .ok_or_else(|| Error::Tokenizer {
                model: self.name.clone(),
                message: "tokenizer_config.json has no chat_template; use a plain text prompt"
                    .into(),
            })?;
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    msg,
                ))
            },
        );
        // Hugging Face renders with trim_blocks and lstrip_blocks; Python string methods
        // used by real templates (strip, startswith, ...) come from minijinja's pycompat.
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_template("chat", template)
            .map_err(|e| self.tok_err(format!("chat_template: {e}")))?;
        let tmpl = env.get_template("chat").map_err(|e| self.tok_err(e))?;
        tmpl.render(minijinja::context! {
            messages => messages.iter().map(|m| minijinja::context!{ role => m.role, content => m.content }).collect::<Vec<_>>(),
            add_generation_prompt => true,
            bos_token => self.bos_token,
            eos_token => self.eos_token,
        })
        .map_err(|e| self.tok_err(format!("rendering chat_template: {e}")))
    }
}
