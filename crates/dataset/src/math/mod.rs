//! MATH-style answer normalisation and equivalence.
//!
//! An answer is cleaned at the string level (see [`clean`]), then read into a
//! structure: a number (exact rational, or a float once `\sqrt`/`\pi` make it
//! irrational), an expression with variables, a tuple or interval, an unordered
//! set of solutions, or plain text. Two answers are equivalent when their
//! structures match: numbers by value (`0.5` = `\frac12`), expressions by value at
//! fixed sample points (`x^2+2x+1` = `(x+1)^2`), tuples item by item, sets in any
//! order, text exactly.

mod clean;
mod expr;

use std::fmt;

use clean::{clean, replace_command};
use expr::{Ast, Num};

/// A normalised MATH-style answer. Its `Display` is a canonical key: equal keys
/// mean equivalent answers (the converse holds for numbers, text and their
/// tuples and sets, not always for expressions with variables).
#[derive(Clone, Debug)]
pub struct MathAnswer {
    node: Node,
}

#[derive(Clone, Debug)]
enum Node {
    Number(Num),
    Expr {
        text: String,
        ast: Ast,
    },
    Text(String),
    Tuple {
        open: String,
        close: String,
        items: Vec<Node>,
    },
    Set(Vec<Node>),
}

impl MathAnswer {
    /// Normalises one answer (the content of a `\boxed{}`, or a bare answer).
    pub fn parse(answer: &str) -> MathAnswer {
        MathAnswer {
            node: structure(&clean(answer), 0),
        }
    }

    /// Whether two answers are equivalent (see the module documentation).
    pub fn equivalent(&self, other: &MathAnswer) -> bool {
        self.node.equivalent(&other.node)
    }
}

impl fmt::Display for MathAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.node.fmt(f)
    }
}

/// Whether the answers `gold` and `pred` are equivalent MATH-style answers.
pub fn math_equivalent(gold: &str, pred: &str) -> bool {
    MathAnswer::parse(gold).equivalent(&MathAnswer::parse(pred))
}

const MAX_DEPTH: u32 = 8;
const SAMPLE_POINTS: u64 = 3;

/// Walks `s` at bracket depth 0 and returns the byte offsets where `sep` starts.
fn top_level(s: &str, sep: &str) -> Vec<usize> {
    let bytes = s.as_bytes();
    let mut found = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &s[i..];
        if depth == 0 && rest.starts_with(sep) {
            let after = &rest[sep.len()..];
            let boundary =
                !sep.starts_with('\\') || !after.starts_with(|c: char| c.is_ascii_alphabetic());
            if boundary {
                found.push(i);
                i += sep.len();
                continue;
            }
        }
        if let Some(cmd) = rest.strip_prefix('\\') {
            let len = match cmd.chars().next() {
                Some(c) if c.is_ascii_alphabetic() => cmd
                    .find(|c: char| !c.is_ascii_alphabetic())
                    .unwrap_or(cmd.len()),
                Some(c) => c.len_utf8(),
                None => 0,
            };
            let name = &cmd[..len];
            match name {
                "{" | "langle" => depth += 1,
                "}" | "rangle" => depth = depth.saturating_sub(1),
                _ => {}
            }
            i += 1 + len;
            continue;
        }
        match bytes[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    found
}

fn split_top<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let mut start = 0;
    for i in top_level(s, sep) {
        parts.push(&s[start..i]);
        start = i + sep.len();
    }
    parts.push(&s[start..]);
    parts
}

const OPENERS: [(&str, &str); 4] = [
    ("\\{", "\\}"),
    ("\\langle", "\\rangle"),
    ("(", ")"),
    ("[", "]"),
];

/// `(open, inner, close)` when the whole of `s` is one bracketed group. The
/// closing bracket may differ from the opening one (half-open intervals).
fn bracketed(s: &str) -> Option<(&str, &str, &str)> {
    let open = OPENERS.iter().map(|(o, _)| *o).find(|o| s.starts_with(o))?;
    let close = OPENERS.iter().map(|(_, c)| *c).find(|c| s.ends_with(c))?;
    if s.len() < open.len() + close.len() {
        return None;
    }
    let inner = &s[open.len()..s.len() - close.len()];
    // The group must not close before the end: inner must be balanced.
    let mut depth = 0i32;
    let probe = format!("({inner})");
    for (i, c) in probe.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 && i + 1 < probe.len() {
                    return None;
                }
            }
            _ => {}
        }
    }
    (depth == 0).then_some((open, inner, close))
}

/// For `x = 5`, `(x, y) = (1, 2)`, `x \in [1, 2]`: the right-hand side, when there
/// is exactly one `=` (or `\in`) at the top level and the left side has no digit.
fn strip_lhs(s: &str) -> Option<&str> {
    for sep in ["=", "\\in"] {
        let at = top_level(s, sep);
        if let [i] = at[..] {
            let (lhs, rhs) = (s[..i].trim(), s[i + sep.len()..].trim());
            if !lhs.is_empty()
                && !rhs.is_empty()
                && lhs.len() <= 24
                && !lhs.contains(|c: char| c.is_ascii_digit() || "<>".contains(c))
                && !lhs.ends_with(['\\', '!'])
            {
                return Some(rhs);
            }
        }
    }
    None
}

/// `1,000` and `-12,345.5`: a number with thousands separators.
fn thousands(s: &str) -> Option<String> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let mut groups = int.split(',');
    let first = groups.next()?;
    let rest: Vec<&str> = groups.collect();
    let ok = !rest.is_empty()
        && (1..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_digit())
        && rest
            .iter()
            .all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))
        && frac.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| s.replace(',', ""))
}

fn squash(s: &str) -> String {
    let mut t: String = s.split_whitespace().collect();
    for (from, to) in [("^{", "^"), ("_{", "_")] {
        // `x^{2}` -> `x^2` when the group is a single character.
        let mut out = String::with_capacity(t.len());
        let mut rest = t.as_str();
        while let Some(i) = rest.find(from) {
            out.push_str(&rest[..i]);
            let after = &rest[i + from.len()..];
            let mut chars = after.chars();
            match (chars.next(), chars.next()) {
                (Some(c), Some('}')) if c != '}' && c != '\\' => {
                    out.push_str(to);
                    out.push(c);
                    rest = &after[c.len_utf8() + 1..];
                }
                _ => {
                    out.push_str(from);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        t = out;
    }
    while let Some(inner) = t.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        if crate::answer::closing_brace(inner).is_some() {
            break;
        }
        t = inner.to_owned();
    }
    if t.chars().all(|c| c.is_alphabetic()) && t.chars().count() >= 2 {
        t = t.to_lowercase();
    }
    t
}

fn set_of(items: Vec<Node>) -> Node {
    let mut items = items;
    if items.len() == 1 {
        return items.remove(0);
    }
    Node::Set(items)
}

fn structure(s: &str, depth: u32) -> Node {
    let s = s.trim();
    if depth > MAX_DEPTH {
        return Node::Text(squash(s));
    }
    let recurse = |part: &str| structure(part, depth + 1);
    let unions = split_top(s, "\\cup");
    if unions.len() > 1 {
        return set_of(unions.into_iter().map(recurse).collect());
    }
    if let Some(rhs) = strip_lhs(s) {
        return recurse(rhs);
    }
    if let Some(plain) = thousands(&squash(s)) {
        return atom(&plain);
    }
    if let Some(node) = matrix(s, depth) {
        return node;
    }
    if let Some((open, inner, close)) = bracketed(s) {
        let items = split_top(inner, ",");
        if open == "\\{" {
            return set_of(items.into_iter().map(recurse).collect());
        }
        if items.len() == 1 && open == "(" && close == ")" {
            return recurse(inner);
        }
        if !(items.len() == 1 && open == "{") {
            return Node::Tuple {
                open: open.to_owned(),
                close: close.to_owned(),
                items: items.into_iter().map(recurse).collect(),
            };
        }
    }
    let items: Vec<&str> = split_top(s, ",")
        .into_iter()
        .filter(|i| !i.trim().is_empty())
        .collect();
    if items.len() > 1 {
        return set_of(items.into_iter().map(recurse).collect());
    }
    let pm = top_level(s, "\\pm");
    if let [i] = pm[..] {
        let (a, b) = (s[..i].trim(), s[i + 3..].trim());
        let plus = if a.is_empty() {
            b.to_owned()
        } else {
            format!("{a}+{b}")
        };
        let minus = format!("{a}-{b}");
        return Node::Set(vec![atom(&plus), atom(&minus)]);
    }
    atom(s)
}

/// `\begin{pmatrix} a & b \\ c & d \end{pmatrix}` (also `bmatrix`, `matrix`):
/// a tuple of row tuples.
fn matrix(s: &str, depth: u32) -> Option<Node> {
    let rest = s.strip_prefix("\\begin{")?;
    let (env, body) = rest.split_once('}')?;
    if !matches!(
        env,
        "pmatrix" | "bmatrix" | "matrix" | "smallmatrix" | "array"
    ) {
        return None;
    }
    let body = body.strip_suffix(&format!("\\end{{{env}}}"))?;
    let body = if env == "array" {
        // Skip the column specification `{cc}`.
        let spec = body.trim_start().strip_prefix('{')?;
        &spec[crate::answer::closing_brace(spec)? + 1..]
    } else {
        body
    };
    let rows = split_top(body, "\\\\")
        .into_iter()
        .filter(|r| !r.trim().is_empty())
        .map(|row| Node::Tuple {
            open: "[".into(),
            close: "]".into(),
            items: split_top(row, "&")
                .into_iter()
                .map(|cell| structure(cell, depth + 1))
                .collect(),
        })
        .collect();
    Some(Node::Tuple {
        open: "matrix(".into(),
        close: ")".into(),
        items: rows,
    })
}

fn atom(s: &str) -> Node {
    let text = squash(s);
    let spaced = replace_command(s.trim(), "infty", "\\infty ");
    match expr::parse(&spaced) {
        Some(ast) if ast.has_vars() => Node::Expr { text, ast },
        Some(ast) => match ast.value() {
            Some(n) => Node::Number(n),
            None => Node::Text(text),
        },
        None => Node::Text(text),
    }
}

/// A deterministic value in [0.5, 2.5) for variable `name` at sample point `k`.
fn sample(name: &str, k: u64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 29;
    0.5 + (h % 1_000_003) as f64 / 1_000_003.0 * 2.0
}

fn expr_equivalent(a: &Ast, b: &Ast) -> bool {
    let mut agreeing = 0;
    for k in 0..SAMPLE_POINTS {
        let var = |name: &str| sample(name, k);
        let (x, y) = (a.eval(&var), b.eval(&var));
        match (x.is_finite(), y.is_finite()) {
            (false, false) => continue,
            (true, true) if expr::close(x, y) => agreeing += 1,
            _ => return false,
        }
    }
    agreeing > 0
}

impl Node {
    fn equivalent(&self, other: &Node) -> bool {
        match (self, other) {
            (Node::Number(a), Node::Number(b)) => a.equals(*b),
            (Node::Expr { ast: a, .. }, Node::Expr { ast: b, .. }) => expr_equivalent(a, b),
            (Node::Text(a), Node::Text(b))
            | (Node::Text(a), Node::Expr { text: b, .. })
            | (Node::Expr { text: a, .. }, Node::Text(b)) => a == b,
            (
                Node::Tuple {
                    open: o1,
                    close: c1,
                    items: i1,
                },
                Node::Tuple {
                    open: o2,
                    close: c2,
                    items: i2,
                },
            ) => {
                o1 == o2
                    && c1 == c2
                    && i1.len() == i2.len()
                    && i1.iter().zip(i2).all(|(a, b)| a.equivalent(b))
            }
            (Node::Set(a), Node::Set(b)) => {
                if a.len() != b.len() {
                    return false;
                }
                let mut used = vec![false; b.len()];
                a.iter().all(|x| {
                    let found = b
                        .iter()
                        .enumerate()
                        .find(|(j, y)| !used[*j] && x.equivalent(y));
                    found.map(|(j, _)| used[j] = true).is_some()
                })
            }
            _ => false,
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Number(n) => write!(f, "{n}"),
            Node::Expr { text, .. } | Node::Text(text) => f.write_str(text),
            Node::Tuple { open, close, items } => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "{open}{}{close}", items.join(","))
            }
            Node::Set(items) => {
                let mut items: Vec<String> = items.iter().map(ToString::to_string).collect();
                items.sort();
                write!(f, "\\{{{}\\}}", items.join(","))
            }
        }
    }
}
