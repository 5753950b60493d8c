//! The tokenizer, its special tokens and the chat template of one model folder.

use std::path::Path;

use serde_json::Value;
use tokenizers::Tokenizer;
use ttc_core::{Error, Result};

/// A token's byte range in the encoded text.
pub type Span = (usize, usize);

/// tokenizer.json with what tokenizer_config.json adds.
#[derive(Debug)]
pub struct Codec {
    tokenizer: Tokenizer,
    /// tokenizer.json's path, for errors.
    name: String,
    /// The chat template, compiled at load.
    template: Option<minijinja::Environment<'static>>,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

/// A special-token entry in tokenizer_config.json: a string or `{"content": ...}`.
fn token_string(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// The template's source: `chat_template` (a string, or the entry named "default" of
/// a list of named templates), else `chat_template.jinja` (transformers >= 4.43 may
/// save it there).
fn template_source(dir: &Path, cfg: &Value) -> Result<Option<String>> {
    let source = match cfg.get("chat_template") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(list)) => list
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
            .and_then(|t| t.get("template").and_then(Value::as_str))
            .map(str::to_string),
        _ => None,
    };
    let jinja = dir.join("chat_template.jinja");
    match source {
        None if jinja.is_file() => Ok(Some(
            std::fs::read_to_string(&jinja).map_err(|e| Error::io(&jinja, e))?,
        )),
        other => Ok(other),
    }
}

fn compile(dir: &Path, source: String) -> Result<minijinja::Environment<'static>> {
    let mut env = minijinja::Environment::new();
    // Hugging Face renders with trim_blocks and lstrip_blocks; Python string methods
    // used by real templates (strip, startswith, ...) come from minijinja's pycompat.
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function(
        "raise_exception",
        |msg: String| -> std::result::Result<String, minijinja::Error> {
            Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                msg,
            ))
        },
    );
    env.add_template_owned("chat", source)
        .map_err(|e| Error::model(dir, format!("chat_template: {e}")))?;
    Ok(env)
}

impl Codec {
    /// Reads tokenizer.json and compiles the chat template, if there is one.
    pub(crate) fn load(dir: &Path, tokenizer_config: &Value) -> Result<Codec> {
        let path = dir.join("tokenizer.json");
        let name = path.display().to_string();
        if !path.is_file() {
            return Err(Error::model(
                dir,
                "no tokenizer.json (an Optimum export copies it from the checkpoint)",
            ));
        }
        let tokenizer = Tokenizer::from_file(&path).map_err(|e| Error::Tokenizer {
            model: name.clone(),
            message: e.to_string(),
        })?;
        let template = template_source(dir, tokenizer_config)?
            .map(|s| compile(dir, s))
            .transpose()?;
        Ok(Codec {
            tokenizer,
            name,
            template,
            bos_token: token_string(tokenizer_config.get("bos_token")),
            eos_token: token_string(tokenizer_config.get("eos_token")),
        })
    }

    /// A tokenizer error naming tokenizer.json.
    pub fn err(&self, message: impl std::fmt::Display) -> Error {
        Error::Tokenizer {
            model: self.name.clone(),
            message: message.to_string(),
        }
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// tokenizer_config.json's `bos_token`, when it names one.
    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    /// tokenizer_config.json's `eos_token`, when it names one.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    pub fn has_chat_template(&self) -> bool {
        self.template.is_some()
    }

    /// Token ids of `text`; `special` adds the post-processor's tokens (BOS).
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        Ok(self.encode_with_offsets(text, special)?.0)
    }

    /// Token ids and their byte ranges in `text`.
    pub fn encode_with_offsets(&self, text: &str, special: bool) -> Result<(Vec<u32>, Vec<Span>)> {
        let enc = self
            .tokenizer
            .encode(text, special)
            .map_err(|e| self.err(format!("encoding {}: {e}", preview(text))))?;
        Ok((enc.get_ids().to_vec(), enc.get_offsets().to_vec()))
    }

    /// Text of token ids, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer.decode(ids, true).map_err(|e| self.err(e))
    }

    /// Renders (role, content) turns through the chat template; missing bos/eos
    /// strings render as "".
    pub fn render_chat(
        &self,
        messages: &[(&str, &str)],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let env = self.template.as_ref().ok_or_else(|| {
            self.err("tokenizer_config.json has no chat_template (nor is there a chat_template.jinja); use a plain text prompt")
        })?;
        let template = env.get_template("chat").map_err(|e| self.err(e))?;
        let messages: Vec<_> = messages
            .iter()
            .map(|(role, content)| minijinja::context! { role => role, content => content })
            .collect();
        template
            .render(minijinja::context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token.as_deref().unwrap_or(""),
                eos_token => self.eos_token.as_deref().unwrap_or(""),
            })
            .map_err(|e| self.err(format!("rendering the chat template: {e}")))
    }
}

/// The start of a long text, quoted, for errors.
pub fn preview(text: &str) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{:?}...", &text[..i]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_shortens_long_text() {
        let long = "x".repeat(100);
        assert!(preview(&long).ends_with("..."));
        assert_eq!(preview("ab"), "\"ab\"");
    }
}
