//! The model's tokenizer and chat template, and the adapter's text layouts as token
//! ids plus the positions to read.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use ttc_core::{Error, Result, ScoreRequest};
use ttc_model_folder::Codec;

use crate::adapter::{Layout, PrmAdapter, ReadAt, ScoreMode, Tokenize, fill};

/// What the verifier asks of its model's tokenizer beyond encoding and decoding.
pub(crate) trait CodecExt {
    fn ids(&self, text: &str, special: bool) -> Result<Vec<u32>>;
    fn piece(&self, id: u32) -> String;
    fn single_token(&self, text: &str, what: &str) -> Result<u32>;
    fn bos(&self) -> Result<&str>;
}

impl CodecExt for Codec {
    fn ids(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        self.encode(text, special)
    }

    fn piece(&self, id: u32) -> String {
        self.tokenizer()
            .id_to_token(id)
            .unwrap_or_else(|| format!("#{id}"))
    }

    /// The id of the single token that `text` stands for. Tried in order: `text` as a
    /// vocabulary entry (added tokens such as `<extra_0>`), `text` encoded alone, and
    /// `text` encoded after "0" (tokenizers that prepend a space marker to a lone
    /// string, e.g. SentencePiece's "▁", give `" +"` as "▁+" only in context).
    fn single_token(&self, text: &str, what: &str) -> Result<u32> {
        if let Some(id) = self.tokenizer().token_to_id(text) {
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
        self.bos_token().filter(|b| !b.is_empty()).ok_or_else(|| {
            self.err(
                "the layout's prompt uses `{bos}` but tokenizer_config.json names no bos_token; \
                 remove `{bos}` from the prompt (add-special-tokens = true adds the tokenizer's own \
                 special tokens instead)",
            )
        })
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

/// The most texts [`Encoder`] keeps the token ids of; it forgets them all when full.
const PIECE_MEMO_ENTRIES: usize = 1 << 14;

type PieceMemo = HashMap<String, Vec<u32>>;

/// The adapter's layout with its token ids resolved for one tokenizer.
#[derive(Debug)]
pub(crate) struct Encoder {
    pub(crate) adapter: PrmAdapter,
    pub(crate) tag_id: u32,
    /// Token ids of texts encoded piece by piece (prompts, steps, separators), by
    /// text, without and with special tokens. A search scores the same steps again
    /// every round (each candidate's earlier steps, shared by siblings); tokenizing
    /// is a pure function of the text, so the ids are kept.
    pieces: Mutex<[PieceMemo; 2]>,
}

impl Encoder {
    pub(crate) fn new(codec: &Codec, adapter: PrmAdapter) -> Result<Encoder> {
        let tag_id = codec.single_token(adapter.layout.tag(), "step tag")?;
        if let Layout::Plain { prompt, .. } = &adapter.layout
            && prompt.contains("{bos}")
        {
            codec.bos()?;
        }
        Ok(Encoder {
            adapter,
            tag_id,
            pieces: Mutex::new(Default::default()),
        })
    }

    /// `codec.ids(text, special)`, remembered.
    fn piece_ids(
        memo: &mut MutexGuard<'_, [PieceMemo; 2]>,
        codec: &Codec,
        text: &str,
        special: bool,
        out: &mut Vec<u32>,
    ) -> Result<()> {
        let memo = &mut memo[usize::from(special)];
        if let Some(ids) = memo.get(text) {
            out.extend_from_slice(ids);
            return Ok(());
        }
        let ids = codec.ids(text, special)?;
        out.extend_from_slice(&ids);
        if memo.len() >= PIECE_MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(text.to_string(), ids);
        Ok(())
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
                let prefix = codec.render_chat(&messages, true)?;
                messages.push(("assistant", &content));
                let text = codec.render_chat(&messages, false)?;
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
        let mut memo = self.pieces.lock().unwrap_or_else(|e| e.into_inner());
        let mut ids = Vec::new();
        Self::piece_ids(&mut memo, codec, prompt, special, &mut ids)?;
        let region = ids.len();
        let mut sep = Vec::new();
        if !separator.is_empty() {
            Self::piece_ids(&mut memo, codec, separator, false, &mut sep)?;
        }
        let mut tags = Vec::with_capacity(steps.len());
        for (k, step) in steps.iter().enumerate() {
            if k > 0 {
                ids.extend_from_slice(&sep);
            }
            Self::piece_ids(&mut memo, codec, step, false, &mut ids)?;
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
        let (ids, offsets) = codec.encode_with_offsets(text, special)?;
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
        let text = codec.render_chat(&messages, false)?;
        let (ids, offsets) = codec.encode_with_offsets(&text, false)?;
        let mut tags = Vec::with_capacity(req.steps.len());
        for (k, &end) in user_turns.iter().enumerate() {
            let prefix = codec.render_chat(&messages[..end], true)?;
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
}
