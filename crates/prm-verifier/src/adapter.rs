//! How a reward model wants its input laid out and its output read, as data.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ttc_core::{Error, Result};

/// A named adapter for a published reward model or the project's demo PRM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The project's demo PRM: plain text, a value head read at each step's "\n".
    Demo,
    /// Qwen2.5-Math-PRM: chat template, `<extra_0>` after each step, two-class head.
    #[serde(rename = "qwen2.5-math-prm")]
    Qwen25MathPrm,
    /// Math-Shepherd: a causal LM, ` ки` after each step, ` +` vs ` -`.
    MathShepherd,
    /// RLHFlow Llama3.1-8B-PRM: multi-turn chat, user = step, assistant = `+`.
    Rlhflow,
    /// Skywork-o1-PRM: bos + problem + "\n", each step + "\n", a value head.
    Skywork,
}

impl Preset {
    /// Every preset, in documentation order.
    pub const ALL: [Preset; 5] = [
        Preset::Demo,
        Preset::Qwen25MathPrm,
        Preset::MathShepherd,
        Preset::Rlhflow,
        Preset::Skywork,
    ];

    /// The name used in config files.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Demo => "demo",
            Preset::Qwen25MathPrm => "qwen2.5-math-prm",
            Preset::MathShepherd => "math-shepherd",
            Preset::Rlhflow => "rlhflow",
            Preset::Skywork => "skywork",
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = Error;

    fn from_str(s: &str) -> Result<Preset> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
                Error::invalid(
                    "PRM preset",
                    format!("`{s}` is not one of {}", names.join(", ")),
                )
            })
    }
}

/// How a tokenizer reads a plain-text layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tokenize {
    /// The prompt, each step and the separators are tokenized on their own and the
    /// tag's token id is appended after each step, so a tag can never merge with the
    /// text around it.
    #[default]
    Pieces,
    /// The whole text is tokenized at once (as most model cards do); the tags are
    /// found as tokens in the solution part.
    Whole,
}

fn yes() -> bool {
    true
}

fn first_turn_default() -> String {
    "{question} {step}".to_string()
}

fn is_empty(s: &str) -> bool {
    s.is_empty()
}

/// How the question and the steps become the model's text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case",
    deny_unknown_fields
)]
pub enum Layout {
    /// `prompt` (with `{question}` and `{bos}` filled in), then each step followed by
    /// `tag`, consecutive steps joined by `separator`.
    Plain {
        /// Text before the first step; `{question}` is the question, `{bos}` the
        /// tokenizer's BOS token text.
        prompt: String,
        /// Text after every step; must be a single token.
        tag: String,
        /// Text between one step's tag and the next step.
        #[serde(default, skip_serializing_if = "is_empty")]
        separator: String,
        #[serde(default)]
        tokenize: Tokenize,
        /// Encode the prompt with the tokenizer's special tokens (BOS for Llama-style
        /// tokenizers).
        #[serde(default = "yes")]
        add_special_tokens: bool,
    },
    /// The model's chat template with (optionally) system, user = question, assistant = each
    /// step followed by `tag`, joined by `separator`.
    Chat {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        system: Option<String>,
        /// Text after every step in the assistant turn; must be a single token.
        tag: String,
        #[serde(default, skip_serializing_if = "is_empty")]
        separator: String,
    },
    /// The model's chat template with one user turn per step and `tag` as each
    /// assistant reply; the first user turn is `first_turn` with `{question}` and
    /// `{step}` filled in.
    ChatTurns {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        system: Option<String>,
        #[serde(default = "first_turn_default")]
        first_turn: String,
        /// Each assistant reply; must be a single token.
        tag: String,
    },
}

impl Layout {
    /// The step tag: the token whose position is read.
    pub fn tag(&self) -> &str {
        match self {
            Layout::Plain { tag, .. }
            | Layout::Chat { tag, .. }
            | Layout::ChatTurns { tag, .. } => tag,
        }
    }
}

/// Which token's output is read for a step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadAt {
    /// The step tag itself.
    #[default]
    Tag,
    /// The token before the tag: the one whose logits predict it (RLHFlow's `+`).
    BeforeTag,
}

fn class_one() -> usize {
    1
}

/// How the logits at a read position become a probability.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "kebab-case",
    deny_unknown_fields
)]
pub enum Probability {
    /// Softmax over a classifier head's classes; the probability of `class`.
    Softmax {
        #[serde(default = "class_one")]
        class: usize,
    },
    /// Sigmoid of a one-output (value) head.
    Sigmoid,
    /// A causal LM: softmax over the logits of two label tokens; the probability of
    /// `positive`. Only those two columns of the vocabulary are read.
    LabelTokens { positive: String, negative: String },
}

/// A score per step, or one for the whole answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreMode {
    /// Process reward: one probability per step.
    #[default]
    Prm,
    /// Outcome reward: one probability, read at the last step's position only.
    Orm,
}

/// A complete description of how to use one reward model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PrmAdapter {
    pub layout: Layout,
    #[serde(default)]
    pub read: ReadAt,
    pub probability: Probability,
    #[serde(default)]
    pub mode: ScoreMode,
}

/// The system prompt of Qwen2.5-Math-PRM's model card.
pub const QWEN_PRM_SYSTEM: &str =
    "Please reason step by step, and put your final answer within \\boxed{}.";

impl PrmAdapter {
    /// The adapter a preset stands for.
    pub fn preset(preset: Preset) -> PrmAdapter {
        match preset {
            Preset::Demo => PrmAdapter {
                layout: Layout::Plain {
                    prompt: "Question: {question}\nSolution:\n".into(),
                    tag: "\n".into(),
                    separator: String::new(),
                    tokenize: Tokenize::Pieces,
                    add_special_tokens: true,
                },
                read: ReadAt::Tag,
                probability: Probability::Sigmoid,
                mode: ScoreMode::Prm,
            },
            Preset::Qwen25MathPrm => PrmAdapter {
                layout: Layout::Chat {
                    system: Some(QWEN_PRM_SYSTEM.into()),
                    tag: "<extra_0>".into(),
                    separator: String::new(),
                },
                read: ReadAt::Tag,
                probability: Probability::Softmax { class: 1 },
                mode: ScoreMode::Prm,
            },
            Preset::MathShepherd => PrmAdapter {
                layout: Layout::Plain {
                    prompt: "{question} ".into(),
                    tag: " ки".into(),
                    separator: "\n".into(),
                    tokenize: Tokenize::Whole,
                    add_special_tokens: true,
                },
                read: ReadAt::Tag,
                probability: Probability::LabelTokens {
                    positive: " +".into(),
                    negative: " -".into(),
                },
                mode: ScoreMode::Prm,
            },
            Preset::Rlhflow => PrmAdapter {
                layout: Layout::ChatTurns {
                    system: None,
                    first_turn: first_turn_default(),
                    tag: "+".into(),
                },
                read: ReadAt::BeforeTag,
                probability: Probability::LabelTokens {
                    positive: "+".into(),
                    negative: "-".into(),
                },
                mode: ScoreMode::Prm,
            },
            Preset::Skywork => PrmAdapter {
                layout: Layout::Plain {
                    prompt: "{bos}{question}\n".into(),
                    tag: "\n".into(),
                    separator: String::new(),
                    tokenize: Tokenize::Pieces,
                    add_special_tokens: false,
                },
                read: ReadAt::Tag,
                probability: Probability::Sigmoid,
                mode: ScoreMode::Prm,
            },
        }
    }

    /// The same adapter in another mode.
    pub fn with_mode(mut self, mode: ScoreMode) -> PrmAdapter {
        self.mode = mode;
        self
    }

    /// Checks what can be checked without the model: non-empty tags and labels, and
    /// the placeholders each template needs.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, message: String| {
            Err(Error::invalid(format!("PRM adapter {what}"), message))
        };
        if self.layout.tag().is_empty() {
            return bad(
                "layout.tag",
                "it is empty; give the text that ends each step (e.g. \"\\n\" or \"<extra_0>\")"
                    .into(),
            );
        }
        match &self.layout {
            Layout::Plain { prompt, .. } => {
                check_placeholders(prompt, "layout.prompt", &["question", "bos"])?;
                if !prompt.contains("{question}") {
                    return bad(
                        "layout.prompt",
                        format!("{prompt:?} has no `{{question}}` placeholder"),
                    );
                }
            }
            Layout::ChatTurns { first_turn, .. } => {
                check_placeholders(first_turn, "layout.first-turn", &["question", "step"])?;
                if !first_turn.contains("{step}") {
                    return bad(
                        "layout.first-turn",
                        format!("{first_turn:?} has no `{{step}}` placeholder"),
                    );
                }
            }
            Layout::Chat { .. } => {}
        }
        if let Probability::LabelTokens { positive, negative } = &self.probability {
            if positive.is_empty() || negative.is_empty() {
                return bad(
                    "probability",
                    "label-tokens needs a non-empty `positive` and `negative`".into(),
                );
            }
            if positive == negative {
                return bad(
                    "probability",
                    format!("label-tokens has the same `positive` and `negative` ({positive:?})"),
                );
            }
        }
        Ok(())
    }
}

impl From<Preset> for PrmAdapter {
    fn from(preset: Preset) -> PrmAdapter {
        PrmAdapter::preset(preset)
    }
}

/// The `{name}` placeholders of `template`, each checked against `allowed`.
fn check_placeholders(template: &str, what: &str, allowed: &[&str]) -> Result<()> {
    for name in placeholders(template) {
        if !allowed.contains(&name) {
            let list: Vec<String> = allowed.iter().map(|a| format!("{{{a}}}")).collect();
            return Err(Error::invalid(
                format!("PRM adapter {what}"),
                format!(
                    "unknown placeholder `{{{name}}}` in {template:?}; the placeholders are {}",
                    list.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Names written as `{name}` (letters and underscores) in `template`.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template.match_indices('{').filter_map(move |(i, _)| {
        let rest = &template[i + 1..];
        let end = rest.find('}')?;
        let name = &rest[..end];
        (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
            .then_some(name)
    })
}

/// Replaces each `{name}` of `values` in `template` in one pass, so text inserted
/// for one placeholder is never searched for another.
pub(crate) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let hit = values
            .iter()
            .find(|(name, _)| after.starts_with(name) && after[name.len()..].starts_with('}'));
        match hit {
            Some((name, value)) => {
                out.push_str(value);
                rest = &after[name.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The adapter as written in a run file: a preset, fields overriding it, or a
/// complete description without a preset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdapterConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<Layout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<ReadAt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<Probability>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ScoreMode>,
}

impl AdapterConfig {
    /// A config that selects `preset` unchanged.
    pub fn from_preset(preset: Preset) -> AdapterConfig {
        AdapterConfig {
            preset: Some(preset),
            ..AdapterConfig::default()
        }
    }

    /// The complete adapter: the preset's fields, replaced by the ones given here.
    /// Without a preset, `layout` and `probability` are required.
    pub fn resolve(&self) -> Result<PrmAdapter> {
        let adapter = match self.preset {
            Some(preset) => {
                let base = PrmAdapter::preset(preset);
                PrmAdapter {
                    layout: self.layout.clone().unwrap_or(base.layout),
                    read: self.read.unwrap_or(base.read),
                    probability: self.probability.clone().unwrap_or(base.probability),
                    mode: self.mode.unwrap_or(base.mode),
                }
            }
            None => {
                let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
                let missing = |key: &str| {
                    Error::invalid(
                        "PRM adapter",
                        format!(
                            "no `preset` and no `{key}`: name a preset ({}) or describe the model with \
                             `layout`, `probability` and optionally `read` and `mode`",
                            names.join(", ")
                        ),
                    )
                };
                PrmAdapter {
                    layout: self.layout.clone().ok_or_else(|| missing("layout"))?,
                    read: self.read.unwrap_or_default(),
                    probability: self
                        .probability
                        .clone()
                        .ok_or_else(|| missing("probability"))?,
                    mode: self.mode.unwrap_or_default(),
                }
            }
        };
        adapter.validate()?;
        Ok(adapter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_round_trip() {
        for preset in Preset::ALL {
            let adapter = PrmAdapter::preset(preset);
            adapter
                .validate()
                .unwrap_or_else(|e| panic!("{preset}: {e}"));
            let json = serde_json::to_string(&adapter).unwrap();
            let back: PrmAdapter = serde_json::from_str(&json).unwrap();
            assert_eq!(back, adapter, "{preset} through JSON: {json}");
            assert_eq!(preset.name().parse::<Preset>().unwrap(), preset);
            let quoted = serde_json::to_string(&preset).unwrap();
            assert_eq!(quoted, format!("\"{}\"", preset.name()));
        }
    }

    #[test]
    fn unknown_preset_names_the_allowed_ones() {
        let err = "qwen".parse::<Preset>().unwrap_err().to_string();
        assert!(
            err.contains("`qwen`") && err.contains("qwen2.5-math-prm") && err.contains("skywork"),
            "{err}"
        );
    }

    #[test]
    fn fill_replaces_placeholders_once() {
        let values = [("question", "what is {bos}?"), ("bos", "<s>")];
        assert_eq!(fill("{bos}{question}\n", &values), "<s>what is {bos}?\n");
        assert_eq!(fill("{x} {question", &values), "{x} {question");
        assert_eq!(fill("a}{question}{", &values), "a}what is {bos}?{");
    }

    #[test]
    fn overrides_replace_preset_fields() {
        let config = AdapterConfig {
            preset: Some(Preset::MathShepherd),
            mode: Some(ScoreMode::Orm),
            ..AdapterConfig::default()
        };
        let adapter = config.resolve().unwrap();
        assert_eq!(adapter.mode, ScoreMode::Orm);
        assert_eq!(
            adapter.layout,
            PrmAdapter::preset(Preset::MathShepherd).layout
        );
    }

    #[test]
    fn no_preset_needs_layout_and_probability() {
        let config = AdapterConfig {
            probability: Some(Probability::Sigmoid),
            ..AdapterConfig::default()
        };
        let err = config.resolve().unwrap_err().to_string();
        assert!(err.contains("`layout`") && err.contains("demo"), "{err}");
    }

    #[test]
    fn validation_names_the_field() {
        let mut adapter = PrmAdapter::preset(Preset::Demo);
        adapter.layout = Layout::Plain {
            prompt: "Q: {question} {answer}".into(),
            tag: "\n".into(),
            separator: String::new(),
            tokenize: Tokenize::Pieces,
            add_special_tokens: true,
        };
        let err = adapter.validate().unwrap_err().to_string();
        assert!(
            err.contains("layout.prompt") && err.contains("{answer}") && err.contains("{bos}"),
            "{err}"
        );

        let mut adapter = PrmAdapter::preset(Preset::Rlhflow);
        adapter.layout = Layout::ChatTurns {
            system: None,
            first_turn: "{question}".into(),
            tag: "+".into(),
        };
        let err = adapter.validate().unwrap_err().to_string();
        assert!(
            err.contains("layout.first-turn") && err.contains("{step}"),
            "{err}"
        );

        let mut adapter = PrmAdapter::preset(Preset::MathShepherd);
        adapter.probability = Probability::LabelTokens {
            positive: "+".into(),
            negative: "+".into(),
        };
        assert!(adapter.validate().unwrap_err().to_string().contains("same"));
    }
}
