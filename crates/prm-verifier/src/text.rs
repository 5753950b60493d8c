//! The model's tokenizer and chat template, and the adapter's text layouts as token
//! ids plus the positions to read.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokenizers::Tokenizer;
use ttc_core::{Error, Result, ScoreRequest};

use crate::adapter::{Layout, PrmAdapter, ReadAt, ScoreMode, Tokenize, fill};

/// A special-token entry in tokenizer_config.json: a string or `{"content": ...}`.
fn token_string(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// A token's byte range in the encoded text.
type Span = (usize, usize);

/// The tokenizer, special tokens and (compiled) chat template of one model folder.
#[derive(Debug)]
pub(crate) struct Codec {
    tokenizer: Tokenizer,
    tokenizer_path: PathBuf,
    template: Option<minijinja::Environment<'static>>,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

impl Codec {
    /// Reads tokenizer.json and tokenizer_config.json; compiles the chat template when
    /// `need_template`.
    pub(crate) fn load(dir: &Path, need_template: bool) -> Result<Codec> {
        let tokenizer_path = dir.join("tokenizer.json");
        if !tokenizer_path.is_file() {
            return Err(Error::model(
                dir,
                "no tokenizer.json (an Optimum export copies it from the checkpoint)",
            ));
        }
        let tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| Error::Tokenizer {
            model: dir.display().to_string(),
            message: format!("{}: {e}", tokenizer_path.display()),
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
        let template = if need_template {
            Some(compile_template(dir, &cfg_path, &cfg)?)
        } else {
            None
        };
        Ok(Codec {
            tokenizer,
            tokenizer_path,
            template,
            bos_token: token_string(cfg.get("bos_token")),
            eos_token: token_string(cfg.get("eos_token")),
        })
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error::Tokenizer {
            model: self.tokenizer_path.display().to_string(),
            message: message.into(),
        }
    }

    /// Token ids and their byte offsets in `text`.
    fn encode(&self, text: &str, special: bool) -> Result<(Vec<u32>, Vec<Span>)> {
        let enc = self
            .tokenizer
            .encode(text, special)
            .map_err(|e| self.err(format!("encoding {}: {e}", preview(text))))?;
        Ok((enc.get_ids().to_vec(), enc.get_offsets().to_vec()))
    }

    fn ids(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        Ok(self.encode(text, special)?.0)
    }

    fn piece(&self, id: u32) -> String {
        self.tokenizer
            .id_to_token(id)
            .unwrap_or_else(|| format!("#{id}"))
    }

    /// The id of the single token that `text` stands for. Tried in order: `text` as a
    /// vocabulary entry (added tokens such as `<extra_0>`), `text` encoded alone, and
    /// `text` encoded after "0" (tokenizers that prepend a space marker to a lone
    /// string, e.g. SentencePiece's "▁", give `" +"` as "▁+" only in context).
    pub(crate) fn single_token(&self, text: &str, what: &str) -> Result<u32> {
        if let Some(id) = self.tokenizer.token_to_id(text) {
            return Ok(id);
        }
        let alone = self.ids(text, false)?;
        if let [id] = alone[..] {
            return Ok(id);
        }
        let anchor = self.ids("0", false)?;
        let with = self.ids(&format!("0{text}"), false)?;
        if let Some(rest) = with.strip_prefix(&anchor[..])
            && let [id] = rest[..]
        {
            return Ok(id);
        }
        let pieces: Vec<String> = alone.iter().map(|&id| self.piece(id)).collect();
        Err(self.err(format!(
            "the {what} {text:?} is not a single token: it encodes to {} tokens {pieces:?}; the adapter \
             must name text that is one token of this tokenizer",
            alone.len()
        )))
    }

    fn bos(&self) -> Result<&str> {
        self.bos_token
            .as_deref()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| {
                self.err(
                "the layout's prompt uses `{bos}` but tokenizer_config.json names no bos_token; \
                 remove `{bos}` from the prompt (add-special-tokens = true adds the tokenizer's own \
                 special tokens instead)",
            )
            })
    }

    /// Renders chat messages through the model's template.
    fn render(&self, messages: &[(&str, &str)], add_generation_prompt: bool) -> Result<String> {
        let env = self
            .template
            .as_ref()
            .ok_or_else(|| self.err("this layout needs the chat template, which was not loaded"))?;
        let template = env
            .get_template("chat")
            .map_err(|e| self.err(e.to_string()))?;
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

fn compile_template(
    dir: &Path,
    cfg_path: &Path,
    cfg: &Value,
) -> Result<minijinja::Environment<'static>> {
    // `chat_template` is a string, or a list of named templates where "default" is used.
    let source = match cfg.get("chat_template") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(list)) => list
            .iter()
            .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
            .and_then(|t| t.get("template").and_then(Value::as_str))
            .map(str::to_string),
        _ => None,
    };
    let source = source.ok_or_else(|| {
        Error::model(
            dir,
            format!(
                "{} has no chat_template, but the adapter's layout is a chat layout; use a plain \
                 layout or a model folder with a chat template",
                cfg_path.display()
            ),
        )
    })?;
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
        .map_err(|e| Error::model(dir, format!("{}: chat_template: {e}", cfg_path.display())))?;
    Ok(env)
}

fn preview(text: &str) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{:?}...", &text[..i]),
        None => format!("{text:?}"),
    }
}

/// One request as the model reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedRequest {
    /// The token ids fed to the model.
    pub ids: Vec<u32>,
    /// The positions whose outputs become scores: one per step, or only the last
    /// step's in ORM mode.
    pub positions: Vec<usize>,
}

/// The adapter's layout with its token ids resolved for one tokenizer.
#[derive(Debug)]
pub(crate) struct Encoder {
    pub(crate) adapter: PrmAdapter,
    pub(crate) tag_id: u32,
}

impl Encoder {
    pub(crate) fn new(codec: &Codec, adapter: PrmAdapter) -> Result<Encoder> {
        let tag_id = codec.single_token(adapter.layout.tag(), "step tag")?;
        if let Layout::Plain { prompt, .. } = &adapter.layout
            && prompt.contains("{bos}")
        {
            codec.bos()?;
        }
        Ok(Encoder { adapter, tag_id })
    }

    /// Token ids and read positions of request number `index` of a call.
    pub(crate) fn encode(
        &self,
        codec: &Codec,
        index: usize,
        req: &ScoreRequest<'_>,
    ) -> Result<EncodedRequest> {
        let invalid = |message: String| Error::invalid(format!("score request {index}"), message);
        if req.steps.is_empty() {
            return Err(invalid(
                "it has no steps; a reward model scores at least one step".into(),
            ));
        }
        let tag = self.adapter.layout.tag();
        // In the plain and chat layouts the tag ends each step, so a step containing it
        // would read as two steps: reject it rather than guess where the step ends.
        // In chat turns the tag is the assistant's reply and steps may contain it.
        if !matches!(self.adapter.layout, Layout::ChatTurns { .. })
            && let Some(k) = req.steps.iter().position(|s| s.contains(tag))
        {
            return Err(invalid(format!(
                "step {k} contains the adapter's step tag {tag:?}, which marks where a step ends; \
                 split the solution on the tag first, or remove the tag from the step"
            )));
        }
        let (ids, tags) = match &self.adapter.layout {
            Layout::Plain {
                prompt,
                separator,
                tokenize,
                add_special_tokens,
                ..
            } => {
                let bos = if prompt.contains("{bos}") {
                    codec.bos()?
                } else {
                    ""
                };
                let prompt = fill(prompt, &[("question", req.question), ("bos", bos)]);
                match tokenize {
                    Tokenize::Pieces => self.pieces(
                        codec,
                        index,
                        &prompt,
                        req.steps,
                        separator,
                        *add_special_tokens,
                    )?,
                    Tokenize::Whole => {
                        let text = joined(&prompt, req.steps, tag, separator);
                        self.find_tags(codec, &text, prompt.len(), *add_special_tokens)?
                    }
                }
            }
            Layout::Chat {
                system, separator, ..
            } => {
                let content = joined("", req.steps, tag, separator);
                let mut messages: Vec<(&str, &str)> =
                    system.iter().map(|s| ("system", s.as_str())).collect();
                messages.push(("user", req.question));
                let prefix = codec.render(&messages, true)?;
                messages.push(("assistant", &content));
                let text = codec.render(&messages, false)?;
                if !text.starts_with(&prefix) {
                    return Err(codec.err(
                        "the chat template does not render the conversation as the generation prompt \
                         followed by the assistant turn, so the solution cannot be located; use a \
                         plain layout",
                    ));
                }
                self.find_tags(codec, &text, prefix.len(), false)?
            }
            Layout::ChatTurns {
                system, first_turn, ..
            } => self.turns(codec, req, system.as_deref(), first_turn)?,
        };
        let steps = req.steps.len();
        if tags.len() != steps {
            return Err(self.mismatch(index, tags.len(), steps));
        }
        let mut positions = Vec::with_capacity(steps);
        for (k, &t) in tags.iter().enumerate() {
            positions.push(match self.adapter.read {
                ReadAt::Tag => t,
                ReadAt::BeforeTag => t.checked_sub(1).ok_or_else(|| {
                    invalid(format!(
                        "the tag of step {k} is the first token, so no token comes before it"
                    ))
                })?,
            });
        }
        if self.adapter.mode == ScoreMode::Orm {
            positions.drain(..steps - 1);
        }
        Ok(EncodedRequest { ids, positions })
    }

    fn mismatch(&self, index: usize, found: usize, steps: usize) -> Error {
        Error::invalid(
            format!("score request {index}"),
            format!(
                "found {found} step tags ({:?}, token {}) in the solution but it has {steps} steps; {}",
                self.adapter.layout.tag(),
                self.tag_id,
                if found > steps {
                    "the separator or a step's text tokenizes to the tag token: change the separator or \
                     remove the tag token from the steps"
                } else {
                    "the tokenizer merged a tag with the text around it (a plain layout with tokenize = \
                     \"pieces\" keeps every tag a token of its own)"
                }
            ),
        )
    }

    /// Plain layout, tokenized piece by piece: the tag id is appended after each step.
    fn pieces(
        &self,
        codec: &Codec,
        index: usize,
        prompt: &str,
        steps: &[String],
        separator: &str,
        special: bool,
    ) -> Result<(Vec<u32>, Vec<usize>)> {
        let mut ids = codec.ids(prompt, special)?;
        let region = ids.len();
        let sep = if separator.is_empty() {
            Vec::new()
        } else {
            codec.ids(separator, false)?
        };
        let mut tags = Vec::with_capacity(steps.len());
        for (k, step) in steps.iter().enumerate() {
            if k > 0 {
                ids.extend_from_slice(&sep);
            }
            ids.extend(codec.ids(step, false)?);
            ids.push(self.tag_id);
            tags.push(ids.len() - 1);
        }
        // A separator or a step that tokenizes to the tag token would shift the reading.
        let found = ids[region..]
            .iter()
            .filter(|&&id| id == self.tag_id)
            .count();
        if found != tags.len() {
            return Err(self.mismatch(index, found, steps.len()));
        }
        Ok((ids, tags))
    }

    /// The tag tokens in `text` from byte `region` on (the solution part).
    fn find_tags(
        &self,
        codec: &Codec,
        text: &str,
        region: usize,
        special: bool,
    ) -> Result<(Vec<u32>, Vec<usize>)> {
        let (ids, offsets) = codec.encode(text, special)?;
        let tags = ids
            .iter()
            .zip(&offsets)
            .enumerate()
            .filter(|(_, (id, (start, _)))| **id == self.tag_id && *start >= region)
            .map(|(i, _)| i)
            .collect();
        Ok((ids, tags))
    }

    /// Multi-turn chat: each step a user turn, the tag each assistant reply. The tag's
    /// place in the text is where the generation prompt after that step's user turn
    /// ends, so tag-like text inside steps is never mistaken for it.
    fn turns(
        &self,
        codec: &Codec,
        req: &ScoreRequest<'_>,
        system: Option<&str>,
        first_turn: &str,
    ) -> Result<(Vec<u32>, Vec<usize>)> {
        let tag = self.adapter.layout.tag();
        let first = fill(
            first_turn,
            &[("question", req.question), ("step", &req.steps[0])],
        );
        let mut messages: Vec<(&str, &str)> = system.iter().map(|s| ("system", *s)).collect();
        let mut user_turns = Vec::with_capacity(req.steps.len());
        for (k, step) in req.steps.iter().enumerate() {
            messages.push(("user", if k == 0 { &first } else { step }));
            user_turns.push(messages.len());
            messages.push(("assistant", tag));
        }
        let text = codec.render(&messages, false)?;
        let (ids, offsets) = codec.encode(&text, false)?;
        let mut tags = Vec::with_capacity(req.steps.len());
        for (k, &end) in user_turns.iter().enumerate() {
            let prefix = codec.render(&messages[..end], true)?;
            if !text.starts_with(&prefix) || !text[prefix.len()..].starts_with(tag) {
                return Err(codec.err(format!(
                    "the chat template does not render step {k}'s assistant reply {tag:?} right after \
                     its generation prompt, so the position to read cannot be found"
                )));
            }
            let at = prefix.len();
            let i = offsets
                .iter()
                .position(|&(start, end)| start <= at && at < end)
                .ok_or_else(|| {
                    codec.err(format!(
                        "no token covers byte {at}, where step {k}'s assistant reply starts"
                    ))
                })?;
            if ids[i] != self.tag_id {
                return Err(codec.err(format!(
                    "step {k}'s assistant reply {tag:?} is tokenized as {:?} (token {}), not as the tag \
                     token {}: the tokenizer merged it with the text around it",
                    codec.piece(ids[i]),
                    ids[i],
                    self.tag_id
                )));
            }
            tags.push(i);
        }
        Ok((ids, tags))
    }
}

/// `prefix`, then each step followed by `tag`, joined by `separator`.
fn joined(prefix: &str, steps: &[String], tag: &str, separator: &str) -> String {
    let mut text = String::from(prefix);
    for (k, step) in steps.iter().enumerate() {
        if k > 0 {
            text.push_str(separator);
        }
        text.push_str(step);
        text.push_str(tag);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_puts_tags_after_steps_and_separators_between() {
        let steps = vec!["a".to_string(), "b".to_string()];
        assert_eq!(joined("Q ", &steps, " ки", "\n"), "Q a ки\nb ки");
        assert_eq!(joined("", &steps, "<extra_0>", ""), "a<extra_0>b<extra_0>");
    }

    #[test]
    fn preview_shortens_long_text() {
        let long = "x".repeat(100);
        assert!(preview(&long).ends_with("..."));
        assert_eq!(preview("ab"), "\"ab\"");
    }
}
