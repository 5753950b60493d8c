//! Extracting the final answer from a generated solution.

/// The final answer of a solution: the content of the last `\boxed{...}` (or
/// `\fbox{...}`) if there is one, else the text after the last `Answer:` line.
///
/// `None` when neither is present, or when the last box is cut off (unbalanced
/// braces, e.g. a generation that hit its length limit).
pub fn extract_answer(text: &str) -> Option<&str> {
    if last_box_start(text).is_some() {
        return extract_boxed(text);
    }
    extract_answer_line(text)
}

/// The text after `Answer:` on the last line that starts with it (leading spaces
/// allowed), trimmed; `None` if no such line or nothing follows `Answer:`.
///
/// This is how the demo world's solutions end: `Answer: 118`.
pub fn extract_answer_line(text: &str) -> Option<&str> {
    text.lines()
        .rev()
        .find_map(|line| line.trim_start().strip_prefix("Answer:"))
        .map(str::trim)
        .filter(|a| !a.is_empty())
}

/// Byte offset of the last `\boxed` or `\fbox` command (not `\boxedfoo`).
pub(crate) fn last_box_start(text: &str) -> Option<(usize, usize)> {
    ["\\boxed", "\\fbox"]
        .iter()
        .filter_map(|cmd| {
            text.match_indices(cmd)
                .filter(|(i, _)| {
                    let rest = &text[i + cmd.len()..];
                    !rest.starts_with(|c: char| c.is_ascii_alphabetic())
                })
                .map(|(i, _)| (i, cmd.len()))
                .last()
        })
        .max()
}

/// The content of the last `\boxed{...}` or `\fbox{...}`, with balanced braces
/// (escaped `\{` and `\}` do not count), trimmed. The brace-less form
/// `\boxed 5` gives the text up to the next space or `$`.
///
/// `None` if there is no box, or the last one is not closed.
pub fn extract_boxed(text: &str) -> Option<&str> {
    let (start, len) = last_box_start(text)?;
    let rest = &text[start + len..];
    let trimmed = rest.trim_start();
    if let Some(inner) = trimmed.strip_prefix('{') {
        let end = closing_brace(inner)?;
        return Some(inner[..end].trim());
    }
    let end = trimmed
        .find(|c: char| c.is_whitespace() || c == '$')
        .unwrap_or(trimmed.len());
    Some(trimmed[..end].trim()).filter(|a| !a.is_empty())
}

/// The boxes (`\boxed{...}` / `\fbox{...}` with braces) of `text`, in order: the
/// byte range of each whole box and of its content.
fn boxes(text: &str) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let mut found = Vec::new();
    for cmd in ["\\boxed", "\\fbox"] {
        for (i, _) in text.match_indices(cmd) {
            let rest = &text[i + cmd.len()..];
            let trimmed = rest.trim_start();
            let Some(inner) = trimmed.strip_prefix('{') else {
                continue;
            };
            let Some(len) = closing_brace(inner) else {
                continue;
            };
            let start = text.len() - inner.len();
            found.push((i..start + len + 1, start..start + len));
        }
    }
    found.sort_by_key(|(whole, _)| whole.start);
    found
}

/// Whether the text between two boxes only joins them into one answer: spaces,
/// math delimiters, `,` `;` `&`, "and"/"or" (also in `\text{}`), spacing
/// commands, and a name with `=` before the next box (`$x=\boxed{1}$ or
/// $x=\boxed{2}$`). At least one separator must be there, or only spaces and
/// delimiters.
fn joins_boxes(glue: &str) -> bool {
    if glue.len() > 48 || glue.contains("\n\n") {
        return false;
    }
    let mut g = glue.to_owned();
    for (from, to) in [
        ("\\text{", " "),
        ("\\textrm{", " "),
        ("\\mbox{", " "),
        ("\\quad", " "),
        ("\\qquad", " "),
        ("\\(", " "),
        ("\\)", " "),
        ("\\[", " "),
        ("\\]", " "),
        ("\\,", " "),
        ("\\;", " "),
        ("\\ ", " "),
        ("$", " "),
        ("}", " "),
        (",", " , "),
        (";", " ; "),
        ("&", " & "),
        ("=", " = "),
    ] {
        g = g.replace(from, to);
    }
    let words: Vec<&str> = g.split_whitespace().collect();
    let name = |w: &str| {
        w.len() <= 12
            && w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '\\')
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "\\_{}^'".contains(c))
    };
    let mut i = 0;
    while i < words.len() {
        match words[i] {
            "," | ";" | "&" | "and" | "or" => i += 1,
            w if name(w) && words.get(i + 1) == Some(&"=") && i + 2 == words.len() => i += 2,
            _ => return false,
        }
    }
    true
}

/// The last group of boxes that together give one answer (see [`joins_boxes`]),
/// as the span from the first box's `\boxed` to the last box's closing brace; a
/// lone box (or a group whose boxes all hold the same answer) gives its content.
///
/// `None` if there is no box, or the last one is not closed.
pub fn extract_boxed_group(text: &str) -> Option<&str> {
    let last = extract_boxed(text)?;
    let boxes = boxes(text);
    let Some(((last_whole, last_inner), earlier)) = boxes.split_last() else {
        return Some(last);
    };
    if text[last_inner.clone()].trim() != last {
        return Some(last);
    }
    let mut first = last_whole.start;
    let mut end_of_previous = first;
    for (whole, _) in earlier.iter().rev() {
        if whole.end > end_of_previous || !joins_boxes(&text[whole.end..end_of_previous]) {
            break;
        }
        first = whole.start;
        end_of_previous = whole.start;
    }
    let group = &text[first..last_whole.end];
    let same = boxes
        .iter()
        .filter(|(whole, _)| whole.start >= first)
        .all(|(_, inner)| text[inner.clone()].trim() == last);
    Some(if same { last } else { group })
}

/// The index of the `}` closing an already opened `{`, skipping `\`-escapes.
pub(crate) fn closing_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Parses an integer answer as models write it: optional sign, optional `$`
/// around it, thousands separators (`1,234`), a trailing period. `None` otherwise.
pub fn parse_integer(answer: &str) -> Option<i64> {
    let s = answer.trim().trim_matches('$').trim();
    let s = s.strip_suffix('.').unwrap_or(s).trim();
    let (negative, digits) = match s.strip_prefix(['-', '\u{2212}']) {
        Some(rest) => (true, rest.trim_start()),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let plain: String = if digits.contains(',') {
        let mut groups = digits.split(',');
        let first = groups.next()?;
        if first.is_empty() || first.len() > 3 || groups.clone().any(|g| g.len() != 3) {
            return None;
        }
        digits.chars().filter(|&c| c != ',').collect()
    } else {
        digits.to_owned()
    };
    if plain.is_empty() || !plain.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = plain.parse().ok()?;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Option<&str>) {
        assert_eq!(extract_answer(text), expected, "text: {text:?}");
    }

    #[test]
    fn extraction_table() {
        let demo = "37 + 5 = 42\n42 x 3 = 126\nAnswer: 126";
        check(demo, Some("126"));
        check("Answer: 3\nwait\n  Answer:  5 \n", Some("5"));
        check("37 + 5 = 42\nAnswer:", None);
        check("no answer here", None);
        check("So $x = \\boxed{\\frac{1}{2}}$.", Some("\\frac{1}{2}"));
        check(
            "first \\boxed{1} then \\boxed{\\{1, 2\\}}",
            Some("\\{1, 2\\}"),
        );
        check(
            "\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}",
            Some("\\left( 3, \\frac{\\pi}{2} \\right)"),
        );
        check("\\fbox{7} is it", Some("7"));
        check("The answer is $\\boxed 5$.", Some("5"));
        check("cut off \\boxed{\\frac{1}{2", None);
        check("\\boxed{2}\nAnswer: 3", Some("2"));
        check("\\boxedx{2}\nAnswer: 3", Some("3"));
        check("\\boxed{a}{b} and \\fbox{c}", Some("c"));
    }

    #[test]
    fn integers_as_models_write_them() {
        let table = [
            ("118", Some(118)),
            (" -7 ", Some(-7)),
            ("+4", Some(4)),
            ("1,234", Some(1234)),
            ("$12$", Some(12)),
            ("12.", Some(12)),
            ("\u{2212}3", Some(-3)),
            ("1,23", None),
            ("12.5", None),
            ("x", None),
            ("", None),
            ("99999999999999999999999", None),
        ];
        for (text, expected) in table {
            assert_eq!(parse_integer(text), expected, "{text:?}");
        }
    }
}
