//! Finding the final answer in a model's whole output, rule by rule.
//!
//! An [`ExtractRules`] is an ordered list of [`ExtractRule`]s; the first rule that
//! finds something wins. The rules, as graders of MATH-style sets apply them:
//!
//! | rule | finds |
//! |---|---|
//! | `boxed` | the content of the last `\boxed{...}` or `\fbox{...}` (nested braces); boxes joined only by separators (`$\boxed{1}$ and $\boxed{2}$`) are one answer |
//! | `final-answer` | what follows the last "final answer is", "final answer:" or "answer is" |
//! | `answer-line` | the text after `Answer:` on the last line starting with it (the demo world) |
//! | `bare` | the whole text, when it reads as a bare answer rather than prose |
//! | `last-math` | the content of the last `$...$`, `$$...$$`, `\(...\)` or `\[...\]`; a number stated after it instead, when the math only names the quantity (`the smallest $k$ is 12`) or the number follows "is" (`a multiple of $4$, which is 20`) |
//! | `last-number` | the last number standing alone (not inside a word) |

use std::fmt;
use std::str::FromStr;

use crate::answer::{closing_brace, extract_answer_line, extract_boxed_group};
use crate::error::{GradeError, Result};

/// One way of finding the final answer in a solution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExtractRule {
    /// The last `\boxed{...}` / `\fbox{...}`.
    Boxed,
    /// "The final answer is ...", "Final answer: ...", "the answer is ...".
    FinalAnswer,
    /// A line `Answer: ...` (the demo world's format).
    AnswerLine,
    /// The whole text when it is a bare answer (no prose around it).
    Bare,
    /// The last math environment.
    LastMath,
    /// The last number.
    LastNumber,
}

impl ExtractRule {
    /// Every rule, in the default grading order.
    pub const ALL: [ExtractRule; 6] = [
        ExtractRule::Boxed,
        ExtractRule::FinalAnswer,
        ExtractRule::AnswerLine,
        ExtractRule::Bare,
        ExtractRule::LastMath,
        ExtractRule::LastNumber,
    ];

    /// The name used in run files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ExtractRule::Boxed => "boxed",
            ExtractRule::FinalAnswer => "final-answer",
            ExtractRule::AnswerLine => "answer-line",
            ExtractRule::Bare => "bare",
            ExtractRule::LastMath => "last-math",
            ExtractRule::LastNumber => "last-number",
        }
    }

    /// The answer this rule finds in `text`, trimmed, or `None`.
    pub fn apply(self, text: &str) -> Option<&str> {
        let found = match self {
            ExtractRule::Boxed => extract_boxed_group(text),
            ExtractRule::FinalAnswer => final_answer(text),
            ExtractRule::AnswerLine => extract_answer_line(text),
            ExtractRule::Bare => bare(text),
            ExtractRule::LastMath => last_math(text),
            ExtractRule::LastNumber => last_number(text),
        }?;
        let found = trim_answer(found);
        (!found.is_empty()).then_some(found)
    }
}

/// Trims spaces, trailing spacing commands (`\,`, `\quad`) and the punctuation
/// that ends a sentence around an answer (`$x = 5$.`, `$-14,$`).
fn trim_answer(s: &str) -> &str {
    let mut s = s.trim();
    loop {
        let before = s.len();
        for tail in [
            "\\,", "\\;", "\\!", "\\:", "\\quad", "\\qquad", ".", ",", ";",
        ] {
            if let Some(rest) = s.strip_suffix(tail)
                && !(tail == "." && rest.ends_with('.'))
                && !rest.ends_with('\\')
            {
                s = rest.trim_end();
            }
        }
        if s.len() == before {
            return s.trim_start();
        }
    }
}

impl fmt::Display for ExtractRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ExtractRule {
    type Err = GradeError;
    fn from_str(s: &str) -> Result<Self> {
        ExtractRule::ALL
            .into_iter()
            .find(|r| r.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = ExtractRule::ALL.iter().map(|r| r.name()).collect();
                GradeError::InvalidRequest(format!(
                    "unknown answer extraction rule {s:?}; use {}",
                    names.join(", ")
                ))
            })
    }
}

/// An ordered list of extraction rules (at most one of each). `Copy`, so a
/// grading setting can be passed around like a mode.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtractRules {
    rules: [ExtractRule; 6],
    len: u8,
}

impl ExtractRules {
    /// All rules in the default grading order: `boxed, final-answer, answer-line,
    /// bare, last-math, last-number`. What `ttc grade` uses for MATH-style data.
    pub const GRADING: ExtractRules = ExtractRules {
        rules: ExtractRule::ALL,
        len: 6,
    };

    /// `boxed, answer-line`: the demo world's solutions and `\boxed{}` answers, as
    /// search reads the answer of a finished path.
    pub const ANCHORED: ExtractRules = ExtractRules {
        rules: ExtractRule::ALL,
        len: 0,
    }
    .with(ExtractRule::Boxed)
    .with(ExtractRule::AnswerLine);

    /// `boxed, final-answer, answer-line`: the rules that only fire on a stated
    /// final answer (a step with a number in it is not a final answer).
    pub const STATED: ExtractRules = ExtractRules::ANCHORED
        .without_last()
        .with(ExtractRule::FinalAnswer)
        .with(ExtractRule::AnswerLine);

    const fn with(mut self, rule: ExtractRule) -> ExtractRules {
        self.rules[self.len as usize] = rule;
        self.len += 1;
        self
    }

    const fn without_last(mut self) -> ExtractRules {
        self.len -= 1;
        self
    }

    /// The rules from a list; fails on an empty list or a repeated rule.
    pub fn new(rules: &[ExtractRule]) -> Result<ExtractRules> {
        if rules.is_empty() {
            return Err(GradeError::InvalidRequest(
                "the list of answer extraction rules is empty".into(),
            ));
        }
        let mut out = ExtractRules {
            rules: ExtractRule::ALL,
            len: 0,
        };
        for (i, rule) in rules.iter().enumerate() {
            if rules[..i].contains(rule) {
                return Err(GradeError::InvalidRequest(format!(
                    "answer extraction rule {rule} is listed twice"
                )));
            }
            out = out.with(*rule);
        }
        Ok(out)
    }

    /// The rules in order.
    pub fn rules(&self) -> &[ExtractRule] {
        &self.rules[..usize::from(self.len)]
    }

    /// The answer the first matching rule finds, with that rule.
    pub fn find<'a>(&self, text: &'a str) -> Option<(ExtractRule, &'a str)> {
        self.rules()
            .iter()
            .find_map(|rule| rule.apply(text).map(|a| (*rule, a)))
    }

    /// The answer the first matching rule finds.
    pub fn extract<'a>(&self, text: &'a str) -> Option<&'a str> {
        self.find(text).map(|(_, a)| a)
    }
}

impl fmt::Debug for ExtractRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rules()).finish()
    }
}

impl fmt::Display for ExtractRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.rules().iter().map(|r| r.name()).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for ExtractRules {
    type Err = GradeError;
    /// A comma-separated list of rule names, e.g. `boxed,last-number`.
    fn from_str(s: &str) -> Result<Self> {
        let rules = s
            .split(',')
            .filter(|r| !r.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<ExtractRule>>>()?;
        ExtractRules::new(&rules)
    }
}

/// Reads a list of rule names, e.g. `["boxed", "last-number"]` in a run file.
impl<'de> serde::Deserialize<'de> for ExtractRules {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let rules = Vec::<ExtractRule>::deserialize(d)?;
        ExtractRules::new(&rules).map_err(serde::de::Error::custom)
    }
}

/// Byte index of the last case-insensitive occurrence of the ASCII `needle`.
fn rfind_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.len() > h.len() {
        return None;
    }
    (0..=h.len() - n.len())
        .rev()
        .find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// What follows the last "final answer is" (or "final answer:", "answer is"):
/// a math environment right after it, else the rest of the sentence.
fn final_answer(text: &str) -> Option<&str> {
    let after = ["final answer is", "final answer:", "answer is"]
        .iter()
        .find_map(|p| rfind_ascii_ci(text, p).map(|i| &text[i + p.len()..]))?;
    let rest = after
        .trim_start()
        .trim_start_matches([':', '*'])
        .trim_start();
    if let Some((start, end)) = first_math(rest)
        && rest[..start]
            .trim_end_matches(['$', '(', '[', '\\'])
            .trim()
            .is_empty()
    {
        return Some(&rest[start..end]);
    }
    let line = rest.lines().next().unwrap_or("");
    // The sentence ends at a period followed by a space or the end (not `3.5`).
    let bytes = line.as_bytes();
    let end = (0..bytes.len())
        .find(|&i| bytes[i] == b'.' && bytes.get(i + 1).is_none_or(|b| b.is_ascii_whitespace()))
        .unwrap_or(line.len());
    let answer = line[..end].trim().trim_matches(['"', '*']);
    (!answer.is_empty()).then_some(answer)
}

/// The math environments of `text`, in order: (content start, content end) byte
/// offsets. Inline `$...$` and `\(...\)` do not cross a line; `$$...$$` and
/// `\[...\]` may. `\$` is a dollar sign, not a delimiter.
fn math_spans(text: &str, first_only: bool) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        let (open_len, close, multiline) = if rest.starts_with("$$") {
            (2, "$$", true)
        } else if rest.starts_with('$') {
            (1, "$", false)
        } else if rest.starts_with("\\(") {
            (2, "\\)", false)
        } else if rest.starts_with("\\[") {
            (2, "\\]", true)
        } else if let Some(escaped) = rest.strip_prefix('\\') {
            // Skip the escaped character (`\$`, `\\`).
            i += 1 + escaped.chars().next().map_or(0, char::len_utf8);
            continue;
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let start = i + open_len;
        match find_close(&text[start..], close, multiline) {
            Some(len) => {
                spans.push((start, start + len));
                if first_only {
                    return spans;
                }
                i = start + len + close.len();
            }
            None => i = start,
        }
    }
    spans
}

/// Offset of the closing delimiter `close` in `s`, skipping `\`-escapes; `None` if
/// it is missing (or, for inline math, not on the same line).
fn find_close(s: &str, close: &str, multiline: bool) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if s[i..].starts_with(close) {
            return Some(i);
        }
        match bytes[i] {
            b'\n' if !multiline => return None,
            b'\\' if !close.starts_with('\\') || !s[i..].starts_with(close) => {
                i += 1 + s[i + 1..].chars().next().map_or(0, char::len_utf8);
                continue;
            }
            _ => {}
        }
        i += s[i..].chars().next().map_or(1, char::len_utf8);
    }
    None
}

fn first_math(text: &str) -> Option<(usize, usize)> {
    math_spans(text, true).first().copied()
}

/// The content of the last non-empty math environment.
///
/// Sentences often end by stating the value in words after the math: "so the
/// smallest $k$ is 12", "a multiple of $4$ below 21, which is 20". A number later
/// in the same sentence wins when the math only names a quantity (`k`, `a_1`,
/// `f(2)`) or when "is", "are", "equals" or "=" stands right before the number.
fn last_math(text: &str) -> Option<&str> {
    let (start, end) = math_spans(text, false)
        .into_iter()
        .rev()
        .find(|(s, e)| !text[*s..*e].trim().is_empty())?;
    let math = text[start..end].trim();
    let after = &text[end..];
    let after = ["$$", "$", "\\)", "\\]"]
        .iter()
        .find_map(|close| after.strip_prefix(close))
        .unwrap_or(after);
    if let Some(number) = stated_number(after)
        && (crate::math::names_a_quantity(math) || number.1)
    {
        return Some(number.0);
    }
    Some(math)
}

/// The last number of `after` (text following a math span) when it stands in the
/// same sentence, and whether a copula ("is", "=", ...) stands right before it.
fn stated_number(after: &str) -> Option<(&str, bool)> {
    let number = last_number(after)?;
    let at = number.as_ptr() as usize - after.as_ptr() as usize;
    let between = &after[..at];
    let sentence_ends = between.contains('\n')
        || [". ", "? ", "! ", ": "]
            .iter()
            .any(|end| between.contains(end));
    if sentence_ends || between.contains(['$', '\\']) {
        return None;
    }
    let lead = between.trim_end().to_ascii_lowercase();
    let copula = ["is", "are", "equals", "was", "be", "="]
        .iter()
        .any(|w| lead.ends_with(w) && !lead[..lead.len() - w.len()].ends_with(char::is_alphabetic));
    Some((number, copula))
}

/// Words that do not make a text prose: joining words, units and counted nouns.
const NOT_PROSE: &[&str] = &[
    "or", "and", "to", "of", "per", "pct", "percent", "units", "unit", "square", "cubic",
    "degrees", "degree", "dollars", "dollar", "cents", "cent", "meters", "feet", "inches", "miles",
    "hours", "minutes", "seconds", "days", "years", "cm", "mm", "km", "ft", "mph",
];

/// The whole text, when it is a bare answer: one line (or one math environment
/// around all of it) with at most one word of prose outside `\text{...}`.
fn bare(text: &str) -> Option<&str> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let spans = math_spans(t, false);
    let wrapped = match spans[..] {
        [] => false,
        [(s, e)] => t[..s].len() <= 2 && t.len() - e <= 2,
        _ => return None,
    };
    if !wrapped && (t.contains('\n') || !spans.is_empty()) {
        return None;
    }
    // `Soucis : 2,74`: a word and a colon introduce an answer, they are not one.
    if t.match_indices(':')
        .any(|(i, _)| t[..i].trim_end().ends_with(char::is_alphabetic))
        && !crate::math::states_a_ratio(t)
    {
        return None;
    }
    let mut words = 0;
    // The names of a stated ratio (`AB:BC = 2:3`) are not prose.
    let mut rest = match t.split_once('=') {
        Some((_, value)) if crate::math::states_a_ratio(t) => value,
        _ => t,
    };
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('\\') {
            let name_len = match after.find(|c: char| !c.is_ascii_alphabetic()) {
                Some(0) => after.chars().next().map_or(0, char::len_utf8),
                Some(n) => n,
                None => after.len(),
            };
            let name = &after[..name_len];
            let mut next = &after[name_len..];
            if name.chars().all(|c| c.is_ascii_alphabetic()) {
                // Skip the first argument: `\text{Evelyn}`, `\begin{pmatrix}`.
                if let Some(arg) = next.strip_prefix('{') {
                    next = closing_brace(arg).map_or("", |end| &arg[end + 1..]);
                }
            }
            rest = next;
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c.is_alphabetic() {
            let len = rest
                .find(|c: char| !c.is_alphabetic())
                .unwrap_or(rest.len());
            let word = rest[..len].to_ascii_lowercase();
            if len >= 2 && !NOT_PROSE.contains(&word.as_str()) {
                words += 1;
            }
            rest = &rest[len..];
        } else {
            rest = &rest[c.len_utf8()..];
        }
    }
    (words <= 1).then_some(t)
}

/// The last number standing alone: an optional minus, digits with `,` or `.`
/// inside, not touching a letter or another digit group.
fn last_number(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut end = bytes.len();
    while end > 0 {
        // The next digit from the end.
        let last = bytes[..end].iter().rposition(u8::is_ascii_digit)?;
        let mut start = last;
        while start > 0 {
            let b = bytes[start - 1];
            let inner = (b == b',' || b == b'.') && start >= 2 && bytes[start - 2].is_ascii_digit();
            if b.is_ascii_digit() || inner {
                start -= 1;
            } else {
                break;
            }
        }
        let before = text[..start].chars().next_back();
        let after = text[last + 1..].chars().next();
        let in_word = before.is_some_and(|c| c.is_alphabetic() || c == '_' || c == '^')
            || after.is_some_and(char::is_alphabetic) && !after_is_unit(&text[last + 1..]);
        // Inside an unclosed `$` (math that failed to parse, e.g. split over
        // lines) a number is not an answer.
        let dollars = text[..start]
            .match_indices('$')
            .filter(|(i, _)| !text[..*i].ends_with('\\'))
            .count();
        if !in_word && dollars % 2 == 1 {
            return None;
        }
        if !in_word {
            if text[..start].ends_with('-') || text[..start].ends_with('\u{2212}') {
                let sign = if text[..start].ends_with('-') { 1 } else { 3 };
                // `-` is a sign unless it follows a digit or a closing bracket.
                let prev = text[..start - sign].trim_end().chars().next_back();
                if !prev.is_some_and(|c| c.is_ascii_digit() || c == ')') {
                    start -= sign;
                }
            }
            return Some(&text[start..=last]);
        }
        end = start;
    }
    None
}

/// Whether `s` (right after a number) starts with a unit such as `cm` or `m²`.
fn after_is_unit(s: &str) -> bool {
    let len = s
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    matches!(
        &s[..len],
        "cm" | "mm"
            | "km"
            | "m"
            | "kg"
            | "g"
            | "ft"
            | "s"
            | "h"
            | "min"
            | "mph"
            | "st"
            | "nd"
            | "rd"
            | "th"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_print() {
        let rules: ExtractRules = "boxed, last-number".parse().unwrap();
        assert_eq!(rules.rules(), [ExtractRule::Boxed, ExtractRule::LastNumber]);
        assert_eq!(rules.to_string(), "boxed,last-number");
        assert!("boxed,boxed".parse::<ExtractRules>().is_err());
        assert!("".parse::<ExtractRules>().is_err());
        let err = "box".parse::<ExtractRules>().unwrap_err().to_string();
        assert!(
            err.contains("\"box\"") && err.contains("last-math"),
            "{err}"
        );
        assert_eq!(
            ExtractRules::STATED.rules(),
            [
                ExtractRule::Boxed,
                ExtractRule::FinalAnswer,
                ExtractRule::AnswerLine
            ]
        );
        assert_eq!(ExtractRules::ANCHORED.to_string(), "boxed,answer-line");
    }

    #[test]
    fn each_rule_on_its_own() {
        let table: &[(ExtractRule, &str, Option<&str>)] = &[
            (
                ExtractRule::Boxed,
                "so $\\boxed{\\frac{1}{2}}$.",
                Some("\\frac{1}{2}"),
            ),
            (
                ExtractRule::FinalAnswer,
                "Final Answer: The final answer is $28\\%$. I hope it is correct.",
                Some("28\\%"),
            ),
            (
                ExtractRule::FinalAnswer,
                "The answer is 3.5. Done",
                Some("3.5"),
            ),
            (
                ExtractRule::FinalAnswer,
                "**Final answer:** (C)",
                Some("(C)"),
            ),
            (ExtractRule::FinalAnswer, "the answer is", None),
            (ExtractRule::AnswerLine, "1 + 2 = 3\nAnswer: 3", Some("3")),
            (ExtractRule::Bare, "$x = 5$", Some("$x = 5$")),
            (
                ExtractRule::Bare,
                "12 square units",
                Some("12 square units"),
            ),
            (
                ExtractRule::Bare,
                "\\text{no solution}",
                Some("\\text{no solution}"),
            ),
            (ExtractRule::Bare, "Evelyn", Some("Evelyn")),
            (ExtractRule::Bare, "The sum is 5", None),
            (ExtractRule::Bare, "Answer $9$", None),
            (ExtractRule::Bare, "5\n6", None),
            (
                ExtractRule::LastMath,
                "so $x=1$ and \\[ y = 2 \\] ok",
                Some("y = 2"),
            ),
            (ExtractRule::LastMath, "cost \\$5 and $7$", Some("7")),
            (ExtractRule::LastMath, "$ \n 9 \n $", None),
            (ExtractRule::LastMath, "$$\n9\n$$", Some("9")),
            (
                ExtractRule::LastMath,
                "\\(\\frac{1}{2}\\).",
                Some("\\frac{1}{2}"),
            ),
            (
                ExtractRule::LastNumber,
                "it is 1,000.99m² here",
                Some("1,000.99"),
            ),
            (ExtractRule::LastNumber, "so x = -12.", Some("-12")),
            (ExtractRule::LastNumber, "3 - 2 is 1", Some("1")),
            (ExtractRule::LastNumber, "AZYUK2A", None),
            (ExtractRule::LastNumber, "x_2 and x^3", None),
            (ExtractRule::LastNumber, "5 - 3", Some("3")),
            (ExtractRule::LastNumber, "Answer $ \n 9 \n $", None),
            (ExtractRule::LastNumber, "Soucis : 2,74 $ a..", Some("2,74")),
            (ExtractRule::Bare, "Soucis : 2,74 $ a..", None),
            (ExtractRule::Bare, "3:4", Some("3:4")),
        ];
        for &(rule, text, expected) in table {
            assert_eq!(rule.apply(text), expected, "{rule} on {text:?}");
        }
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let g = ExtractRules::GRADING;
        assert_eq!(g.extract("The answer is $\\boxed{4}$, not 5"), Some("4"));
        assert_eq!(g.extract("We get 7. So the answer is 8."), Some("8"));
        assert_eq!(g.extract("We get $7$ and then 9 apples"), Some("7"));
        assert_eq!(g.extract("We get seven and then 9 apples"), Some("9"));
        assert_eq!(g.extract("x \\ge 3"), Some("x \\ge 3"));
        assert_eq!(ExtractRules::ANCHORED.extract("We get 7."), None);
    }
}
