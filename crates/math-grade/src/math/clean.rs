//! String-level clean-up of a LaTeX answer before it is parsed.

use crate::answer::closing_brace;

/// Commands whose argument is text: unwrapped, or dropped when they hold a unit.
const TEXT_COMMANDS: &[&str] = &[
    "text",
    "textbf",
    "textit",
    "textrm",
    "textsf",
    "textup",
    "textnormal",
    "mbox",
    "mathrm",
    "mathbf",
    "mathit",
    "mathsf",
    "operatorname",
];

/// Words dropped when they trail a number: units and counted nouns.
const UNIT_WORDS: &[&str] = &[
    "unit",
    "units",
    "square",
    "sq",
    "cubic",
    "cm",
    "mm",
    "km",
    "m",
    "meter",
    "meters",
    "metre",
    "metres",
    "centimeter",
    "centimeters",
    "millimeter",
    "millimeters",
    "kilometer",
    "kilometers",
    "inch",
    "inches",
    "in",
    "ft",
    "foot",
    "feet",
    "yard",
    "yards",
    "yd",
    "mile",
    "miles",
    "mph",
    "degree",
    "degrees",
    "deg",
    "dollar",
    "dollars",
    "cent",
    "cents",
    "percent",
    "percentage",
    "pct",
    "euro",
    "euros",
    "usd",
    "hour",
    "hours",
    "hr",
    "hrs",
    "minute",
    "minutes",
    "min",
    "second",
    "seconds",
    "sec",
    "day",
    "days",
    "week",
    "weeks",
    "month",
    "months",
    "year",
    "years",
    "pound",
    "pounds",
    "lb",
    "lbs",
    "ounce",
    "ounces",
    "oz",
    "gallon",
    "gallons",
    "liter",
    "liters",
    "litre",
    "litres",
    "ml",
    "gram",
    "grams",
    "kg",
    "kilograms",
    "people",
    "students",
    "ways",
    "times",
    "sides",
    "points",
    "marbles",
    "coins",
    "books",
    "cookies",
    "apples",
    "handshakes",
    "games",
    "boxes",
];

/// Rewrites `s` into a canonical LaTeX-ish string, keeping spaces (they separate
/// words): drops `$`, spacing, `\left`/`\right`, degrees, percent signs and units;
/// unwraps `\text{...}`; turns `\dfrac`/`\tfrac` into `\frac`; braces the short
/// forms `\frac12` and `\sqrt2`; turns the words "or"/"and" into commas.
pub(super) fn clean(raw: &str) -> String {
    let mut s = raw.trim().to_owned();
    for (from, to) in [
        ("\u{2212}", "-"),
        ("\u{2013}", "-"),
        ("\u{00d7}", "\\times "),
        ("\u{22c5}", "\\cdot "),
        ("\u{00b7}", "\\cdot "),
        ("\u{00b0}", ""),
        ("\u{221a}", "\\sqrt"),
        ("\u{03c0}", "\\pi "),
        ("\u{221e}", "\\infty "),
        ("\u{00b2}", "^2"),
        ("\u{00b3}", "^3"),
        ("\u{20ac}", ""),
        ("\u{00a3}", ""),
        ("\u{00a5}", ""),
        ("\u{00a0}", " "),
        ("\u{2009}", " "),
        ("\u{202f}", " "),
        ("\u{222a}", "\\cup "),
        ("\u{00b1}", "\\pm "),
    ] {
        replace_in(&mut s, from, to);
    }
    s = strip_math_delimiters(&s);
    // Protect the row separator `\\` from the one-character commands below.
    replace_in(&mut s, "\\\\", ROW_BREAK);
    for delimiter in ["\\(", "\\)", "\\[", "\\]"] {
        replace_in(&mut s, delimiter, " ");
    }
    s = unwrap_boxes(&s);
    replace_in(&mut s, "\\$", "");
    replace_in(&mut s, "$", "");
    for (from, to) in [
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", " "),
        ("\\:", " "),
        ("\\ ", " "),
    ] {
        replace_in(&mut s, from, to);
    }
    replace_in(&mut s, "~", " ");
    s = join_digit_groups(&s);
    for (name, to) in [
        ("qquad", " "),
        ("quad", " "),
        ("displaystyle", ""),
        ("textstyle", ""),
        ("left", ""),
        ("right", ""),
        ("bigl", ""),
        ("bigr", ""),
        ("Bigl", ""),
        ("Bigr", ""),
        ("big", ""),
        ("Big", ""),
        ("dfrac", "\\frac"),
        ("tfrac", "\\frac"),
        ("cfrac", "\\frac"),
        ("dbinom", "\\binom"),
        ("tbinom", "\\binom"),
        ("degree", ""),
    ] {
        s = replace_command(&s, name, to);
    }
    for pattern in [
        "^{\\circ}",
        "^{ \\circ }",
        "^{\\circ }",
        "^{ \\circ}",
        "^\\circ",
    ] {
        replace_in(&mut s, pattern, "");
    }
    s = replace_command(&s, "circ", "");
    replace_in(&mut s, "\\%", "");
    replace_in(&mut s, "%", "");
    s = canonical_relations(&s);
    replace_in(&mut s, "{,}", ",");
    s = unwrap_text_commands(&s);
    s = brace_sqrt_arguments(&s);
    s = brace_frac_arguments(&s);
    s = drop_trailing_unit_words(&s);
    // The reals as a set: one interval.
    for reals in ["\\mathbb{R}", "\\mathbb R", "all real numbers"] {
        replace_in(&mut s, reals, "(-\\infty, \\infty)");
    }
    s = replace_word(&s, "or", ",");
    s = replace_word(&s, "and", AND);
    s = replace_command(&s, "colon", ":");
    let trimmed = s.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    trimmed.trim().replace(ROW_BREAK, "\\\\")
}

/// Spells every relation as one symbol: `<`, `>`, `=`, `\u{2264}`, `\u{2265}`,
/// `\u{2260}`, from LaTeX (`\le`, `\leq`, `\leqslant`, `\lt`, `\ne`, `\neq`),
/// ASCII (`<=`, `>=`, `!=`, `==`) and negated forms (`\not<` is `\ge`, `\nleq`
/// is `>`, `\not=` is `\ne`).
fn canonical_relations(s: &str) -> String {
    let (le, ge, ne) = ("\u{2264}", "\u{2265}", "\u{2260}");
    let mut s = s.to_owned();
    if !s.contains(['\\', '<', '>', '!', '=']) {
        return s;
    }
    for (from, to) in [
        ("\\not<", ge),
        ("\\not>", le),
        ("\\not=", ne),
        ("\\not\\lt", ge),
        ("\\not\\gt", le),
        ("\\not\\leq", ">"),
        ("\\not\\geq", "<"),
        ("\\not\\le", ">"),
        ("\\not\\ge", "<"),
        ("\\not\\eq", ne),
        ("<=", le),
        (">=", ge),
        ("!=", ne),
        ("==", "="),
    ] {
        replace_in(&mut s, from, to);
    }
    for (name, to) in [
        ("nless", ge),
        ("ngtr", le),
        ("nleq", ">"),
        ("nleqslant", ">"),
        ("ngeq", "<"),
        ("ngeqslant", "<"),
        ("leqslant", le),
        ("geqslant", ge),
        ("leq", le),
        ("geq", ge),
        ("le", le),
        ("ge", ge),
        ("neq", ne),
        ("ne", ne),
        ("lt", "<"),
        ("gt", ">"),
    ] {
        s = replace_command(&s, name, to);
    }
    s
}

/// `1 000 000` -> `1000000`: digit groups of three after a group of one to three
/// digits, separated by single spaces, joined (not `12 345.6 7`).
fn join_digit_groups(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let starts_run = b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_digit() || b[i - 1] == b'.' || b[i - 1] == b','));
        if starts_run {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let head = j - i;
            let mut end = j;
            let mut groups = 0;
            while end + 4 <= b.len()
                && b[end] == b' '
                && b[end + 1..end + 4].iter().all(u8::is_ascii_digit)
                && !b.get(end + 4).is_some_and(u8::is_ascii_digit)
            {
                end += 4;
                groups += 1;
            }
            if (1..=3).contains(&head) && groups > 0 && b[i] != b'0' {
                out.extend(s[i..end].chars().filter(|c| *c != ' '));
            } else {
                out.push_str(&s[i..j]);
                end = j;
            }
            i = end;
            continue;
        }
        let c = s[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Stands for the word "and" between two parts of an answer: a list separator,
/// except between inequalities, where it intersects their solution sets.
pub(super) const AND: &str = "\u{2}";

/// `\boxed{A}` (or `\fbox{A}`) anywhere becomes `A`; boxes separated only by
/// spaces and math delimiters (`$\boxed{1}$ $\boxed{2}$`) become the list `A, B`.
fn unwrap_boxes(s: &str) -> String {
    if !s.contains("\\boxed") && !s.contains("\\fbox") {
        return s.to_owned();
    }
    let box_at = |rest: &str| -> Option<usize> {
        ["\\boxed", "\\fbox"].iter().find_map(|cmd| {
            let after = rest.strip_prefix(cmd)?;
            let trimmed = after.trim_start();
            trimmed
                .starts_with('{')
                .then(|| rest.len() - trimmed.len() + 1)
        })
    };
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if let Some(open) = box_at(rest)
            && let Some(len) = closing_brace(&rest[open..])
        {
            out.push_str(&rest[open..open + len]);
            i += open + len + 1;
            let gap = s[i..]
                .find(|c: char| !(c.is_whitespace() || c == '$'))
                .unwrap_or(s.len() - i);
            if box_at(&s[i + gap..]).is_some() {
                out.push_str(", ");
                i += gap;
            }
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Stands for `\\` while one-character commands (`\ `, `\,`) are removed.
const ROW_BREAK: &str = "\u{1}";

/// Removes `\(...\)` or `\[...\]` around the whole answer.
fn strip_math_delimiters(s: &str) -> String {
    for (open, close) in [("\\(", "\\)"), ("\\[", "\\]")] {
        if let Some(inner) = s.strip_prefix(open).and_then(|r| r.strip_suffix(close)) {
            return inner.trim().to_owned();
        }
    }
    s.to_owned()
}

/// Replaces `from` by `to` in place, allocating only when `from` occurs.
fn replace_in(s: &mut String, from: &str, to: &str) {
    if s.contains(from) {
        *s = s.replace(from, to);
    }
}

/// Replaces the command `\name` (not a longer command such as `\leftarrow` for
/// `\left`) by `to`.
pub(super) fn replace_command(s: &str, name: &str, to: &str) -> String {
    if !s.contains('\\') || !s.contains(name) {
        return s.to_owned();
    }
    let pattern = format!("\\{name}");
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(&pattern) {
        let after = &rest[i + pattern.len()..];
        out.push_str(&rest[..i]);
        if after.starts_with(|c: char| c.is_ascii_alphabetic()) {
            out.push_str(&pattern);
        } else {
            out.push_str(to);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Replaces the stand-alone word `word` (not inside a longer word or a command).
fn replace_word(s: &str, word: &str, to: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut prev: Option<char> = None;
    while let Some(i) = rest.find(word) {
        let before = rest[..i].chars().next_back().or(prev);
        let after = rest[i + word.len()..].chars().next();
        let standalone = !before.is_some_and(|c| c.is_ascii_alphabetic() || c == '\\')
            && !after.is_some_and(|c| c.is_ascii_alphabetic());
        out.push_str(&rest[..i]);
        out.push_str(if standalone { to } else { word });
        prev = word.chars().next_back();
        rest = &rest[i + word.len()..];
    }
    out.push_str(rest);
    out
}

fn ends_numeric(prefix: &str) -> bool {
    let p = prefix.trim_end();
    p.ends_with(|c: char| c.is_ascii_digit() || c == '}' || c == ')') || p.ends_with("\\pi")
}

fn is_unit_text(content: &str) -> bool {
    let t = content.trim();
    let letters = t.chars().filter(char::is_ascii_alphabetic).count();
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_alphabetic() || c == ' ' || c == '.')
        && !matches!(t, "or" | "and")
        && (letters >= 2 || matches!(t, "m" | "g" | "s" | "h" | "L"))
}

/// The length of a `^2`, `^3`, `^{2}` or `^{3}` at the start of `s`, else 0.
fn unit_exponent_len(s: &str) -> usize {
    ["^{2}", "^{3}", "^2", "^3"]
        .iter()
        .find(|p| s.starts_with(*p))
        .map_or(0, |p| p.len())
}

/// Unwraps `\text{...}` and friends; drops the argument (and a following `^2`) when
/// it is a unit after a number, e.g. `5\text{ cm}^2`.
fn unwrap_text_commands(s: &str) -> String {
    let mut s = s.to_owned();
    if !s.contains("\\text") && !s.contains("\\m") && !s.contains("\\operatorname") {
        return s;
    }
    let mut from = 0;
    loop {
        let found = TEXT_COMMANDS
            .iter()
            .filter_map(|name| {
                let pattern = format!("\\{name}");
                let mut search = from;
                while let Some(i) = s[search..].find(&pattern) {
                    let start = search + i;
                    let after = &s[start + pattern.len()..];
                    if after.trim_start().starts_with('{') {
                        let open = start + pattern.len() + (after.len() - after.trim_start().len());
                        return Some((start, open));
                    }
                    search = start + pattern.len();
                }
                None
            })
            .min();
        let Some((start, open)) = found else {
            return s;
        };
        let Some(len) = closing_brace(&s[open + 1..]) else {
            return s;
        };
        let content = s[open + 1..open + 1 + len].to_owned();
        let mut end = open + 1 + len + 1;
        let replacement = if is_unit_text(&content) && ends_numeric(&s[..start]) {
            end += unit_exponent_len(&s[end..]);
            String::new()
        } else {
            format!(" {content} ")
        };
        s.replace_range(start..end, &replacement);
        from = start;
    }
}

/// `\sqrt2` -> `\sqrt{2}` (one character, as TeX reads it).
fn brace_sqrt_arguments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\sqrt") {
        out.push_str(&rest[..i + 5]);
        rest = &rest[i + 5..];
        let trimmed = rest.trim_start();
        if let Some(c) = trimmed.chars().next().filter(|c| c.is_ascii_alphanumeric())
            && !(rest.len() == trimmed.len() && c.is_ascii_alphabetic())
        {
            out.push('{');
            out.push(c);
            out.push('}');
            rest = &trimmed[c.len_utf8()..];
        }
    }
    out.push_str(rest);
    out
}

/// `\frac12` -> `\frac{1}{2}`, `\frac1{x}` -> `\frac{1}{x}`: each argument that is
/// not a braced group is one character.
fn brace_frac_arguments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\frac") {
        out.push_str(&rest[..i + 5]);
        rest = &rest[i + 5..];
        if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        for _ in 0..2 {
            let trimmed = rest.trim_start();
            if let Some(inner) = trimmed.strip_prefix('{') {
                match closing_brace(inner) {
                    Some(len) => {
                        out.push_str(&trimmed[..len + 2]);
                        rest = &trimmed[len + 2..];
                    }
                    None => break,
                }
            } else if let Some(c) = trimmed.chars().next().filter(|c| c.is_ascii_alphanumeric()) {
                out.push('{');
                out.push(c);
                out.push('}');
                rest = &trimmed[c.len_utf8()..];
            } else {
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Drops trailing unit words after a number: `10 square units` -> `10`.
fn drop_trailing_unit_words(s: &str) -> String {
    let mut end = s.trim_end().len();
    let mut dropped = false;
    loop {
        let head = &s[..end];
        let Some(space) = head.rfind(char::is_whitespace) else {
            break;
        };
        let word = &head[space + 1..];
        let word = word.strip_suffix('.').unwrap_or(word);
        let word = &word[..word.len() - trailing_exponent_len(word)];
        if !UNIT_WORDS.contains(&word.to_ascii_lowercase().as_str()) {
            break;
        }
        end = head[..space].trim_end().len();
        dropped = true;
    }
    if dropped && end > 0 && ends_numeric(&s[..end]) {
        s[..end].to_owned()
    } else {
        s.to_owned()
    }
}

fn trailing_exponent_len(word: &str) -> usize {
    ["^{2}", "^{3}", "^2", "^3"]
        .iter()
        .find(|p| word.ends_with(*p))
        .map_or(0, |p| p.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_table() {
        let table = [
            ("$\\dfrac{1}{2}$", "\\frac{1}{2}"),
            ("\\frac12", "\\frac{1}{2}"),
            ("\\tfrac1{x}", "\\frac{1}{x}"),
            ("\\sqrt2+\\sqrt 3", "\\sqrt{2}+\\sqrt{3}"),
            ("\\sqrt{x}", "\\sqrt{x}"),
            ("\\left( 1, 2 \\right)", "( 1, 2 )"),
            ("\\leftarrow", "\\leftarrow"),
            ("30^\\circ", "30"),
            ("30^{\\circ}", "30"),
            ("50\\%", "50"),
            ("\\$18.90", "18.90"),
            ("1{,}000", "1,000"),
            ("1,\\!000", "1,000"),
            ("5\\text{ cm}^2", "5"),
            ("4 \\mbox{ inches}", "4"),
            ("\\text{(C)}", "(C)"),
            ("1 \\text{ or } 2", "1 , 2"),
            ("12 square units", "12"),
            ("x \\text{ feet}", "x feet"),
            ("the end.", "the end"),
            (
                "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
                "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
            ),
            ("\\textbf{Evelyn}", "Evelyn"),
        ];
        for (input, expected) in table {
            let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            assert_eq!(words(&clean(input)), expected, "input {input:?}");
        }
    }
}
