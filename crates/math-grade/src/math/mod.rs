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
mod solve;

use std::fmt;

use clean::{AND, clean, replace_command};
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
    /// `x = 5`, `(x, y) = (1, 2)`: a value with the name it is given. `lhs` is the
    /// name as an expression, when it reads as one (for comparing equations);
    /// `name` the name as written (spaces dropped).
    Assign {
        lhs: Option<Ast>,
        name: Option<String>,
        value: Box<Node>,
    },
    /// `a = 3, b = 1`: values given under distinct names, an ordered tuple whose
    /// items carry names.
    Named {
        names: Vec<String>,
        values: Vec<Node>,
    },
    /// `5:9`, `1:2:3`: a ratio, equal to any multiple of itself.
    Ratio(Vec<Node>),
    /// `x > -1 \text{ and } x < 3`: inequalities that hold together.
    All(Vec<Node>),
    /// `a < b`, `a \le b`, `a = b`, `a \ne b` (two sides).
    Relation {
        rel: Rel,
        sides: Vec<Node>,
    },
    /// `a < b \le c`: `rels[i]` stands between `sides[i]` and `sides[i + 1]`.
    Chain {
        rels: Vec<Rel>,
        sides: Vec<Node>,
    },
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
    top_level_any(s, &[sep])
        .into_iter()
        .map(|(i, _)| i)
        .collect()
}

/// Walks `s` at bracket depth 0 and returns where any of `seps` starts, with it
/// (the first of `seps` that matches at a position wins).
fn top_level_any<'s>(s: &str, seps: &[&'s str]) -> Vec<(usize, &'s str)> {
    let bytes = s.as_bytes();
    let mut found = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &s[i..];
        if depth == 0
            && let Some(sep) = seps.iter().find(|sep| {
                rest.starts_with(**sep)
                    && (!sep.starts_with('\\')
                        || !rest[sep.len()..].starts_with(|c: char| c.is_ascii_alphabetic()))
            })
        {
            found.push((i, *sep));
            i += sep.len();
            continue;
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

/// Whether the math `s` (as written in a solution) only names a quantity: `k`,
/// `a_1`, `f(2)`, `\overline{AB}`, not a value.
pub(crate) fn names_a_quantity(s: &str) -> bool {
    is_simple_lhs(&clean(s))
}

/// Whether `s` states a ratio under names: `AB:BC = 2:3`.
pub(crate) fn states_a_ratio(s: &str) -> bool {
    s.split_once('=')
        .is_some_and(|(lhs, _)| is_ratio_of_names(&clean(lhs)))
}

/// `S_1 : S_2`, `a:b:c`: a ratio of names, the left side of a stated ratio.
fn is_ratio_of_names(s: &str) -> bool {
    let parts = split_top(s, ":");
    parts.len() >= 2 && parts.iter().all(|p| is_simple_name(p.trim()))
}

/// Whether a comma is followed by a space: then it separates list items
/// (`1, 000` is the list 1, 0), never thousands.
fn comma_space(s: &str) -> bool {
    s.match_indices(',')
        .any(|(i, _)| s[i + 1..].starts_with(char::is_whitespace))
}

/// Whether `s` is one group in plain braces, `{1, 2, 3}`.
fn plain_braced(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('{')?.strip_suffix('}')?;
    (crate::answer::closing_brace(&format!("{inner}}}")) == Some(inner.len())).then_some(inner)
}

/// Whether `s` names what an answer is about rather than being a value: a
/// variable (`x`, `a_1`, `\theta`, `AB`), a function value (`f(2)`, `p(x)`), or
/// a tuple of those (`(x, y)`). No digits or operators outside arguments.
fn is_simple_lhs(s: &str) -> bool {
    let s = s.trim();
    if s.is_empty() || s.len() > 32 {
        return false;
    }
    if let Some(("(", inner, ")")) = bracketed(s) {
        let items = split_top(inner, ",");
        return items.len() > 1 && items.iter().all(|i| is_simple_name(i.trim()));
    }
    is_simple_name(s)
}

fn is_simple_name(s: &str) -> bool {
    let mut letters = 0;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c.is_alphabetic() {
            letters += 1;
            rest = &rest[c.len_utf8()..];
        } else if c == ' ' || c == '\'' || c == '|' {
            rest = &rest[1..];
        } else if c == '_' {
            // A subscript: one character or a group.
            let after = &rest[1..];
            rest = if let Some(group) = after.strip_prefix('{') {
                match crate::answer::closing_brace(group) {
                    Some(end) => &group[end + 1..],
                    None => return false,
                }
            } else {
                let skip = after.chars().next().map_or(0, char::len_utf8);
                &after[skip..]
            };
        } else if c == '(' {
            // A function's argument: anything balanced.
            let Some(end) = rest.find(')') else {
                return false;
            };
            if letters == 0 {
                return false;
            }
            rest = &rest[end + 1..];
        } else if let Some(cmd) = rest.strip_prefix('\\') {
            let len = cmd
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(cmd.len());
            let name = &cmd[..len];
            if len == 0
                || matches!(
                    name,
                    "frac" | "sqrt" | "cdot" | "times" | "pm" | "div" | "infty" | "pi"
                )
            {
                return false;
            }
            letters += 1;
            rest = &cmd[len..];
            if let Some(group) = rest.strip_prefix('{') {
                // `\\overline{AB}`, `\\mathbf{v}`.
                match crate::answer::closing_brace(group) {
                    Some(end) => rest = &group[end + 1..],
                    None => return false,
                }
            }
        } else {
            return false;
        }
    }
    letters > 0
}

/// Whether `s` has no letters outside command names (`\sin 30`, `2 \cdot 3`).
fn no_free_letters(s: &str) -> bool {
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if let Some(cmd) = rest.strip_prefix('\\') {
            let len = cmd
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(cmd.len());
            let len = if len == 0 {
                cmd.chars().next().map_or(0, char::len_utf8)
            } else {
                len
            };
            rest = &cmd[len..];
            continue;
        }
        if c.is_alphabetic() {
            return false;
        }
        rest = &rest[c.len_utf8()..];
    }
    true
}

/// A whole number in another format, rewritten plainly: thousands separators
/// (`1,000`, `-12,345.5`) and decimal commas where they cannot be thousands
/// (`1,22`, `0,111`, `1000,99`).
fn number_format(s: &str) -> Option<String> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let mut groups = int.split(',');
    let first = groups.next()?;
    let rest: Vec<&str> = groups.collect();
    let digits = |g: &str| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
    if rest.is_empty() || !digits(first) || !rest.iter().all(|g| digits(g)) {
        return None;
    }
    let thousands = (1..=3).contains(&first.len())
        && !(first.starts_with('0'))
        && rest.iter().all(|g| g.len() == 3)
        && (frac.is_empty() || digits(frac));
    if thousands {
        return Some(s.replace(',', ""));
    }
    // A decimal comma: one comma, no point, and not a list of two integers
    // (`1,2` and `12,5` stay lists; `1,22` and `0,5` are decimals).
    let [decimals] = rest[..] else {
        return None;
    };
    let decimal = s.split_once('.').is_none()
        && (first == "0" || first.len() >= 4 || (decimals.len() >= 2 && decimals.len() != 3));
    decimal.then(|| s.replacen(',', ".", 1))
}

/// `x = 1,234`: rejoins a number that the list splitter would cut at its
/// thousands separators (every later part exactly three digits).
fn rejoin_thousands(s: &str) -> Option<String> {
    let parts = split_top(s, ",");
    if parts.len() < 2 || comma_space(s) {
        return None;
    }
    let three = |g: &str| {
        let (int, frac) = g.split_once('.').unwrap_or((g, ""));
        int.len() == 3
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
    };
    let last_is_three = parts[1..].iter().all(|p| three(p));
    let earlier_plain = parts[1..parts.len() - 1].iter().all(|p| !p.contains('.'));
    let head = parts[0];
    let run = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let before = head[..head.len() - run].chars().next_back();
    let ok = last_is_three
        && earlier_plain
        && (1..=3).contains(&run)
        && !head[head.len() - run..].starts_with('0')
        && !before.is_some_and(|c| c == '.' || c.is_alphanumeric() || c == '_');
    ok.then(|| parts.concat())
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

/// The set of `items`, with sets among them merged in (`\{1 \pm \sqrt5, -2\}`
/// has three elements); one item is itself.
fn set_of(items: Vec<Node>) -> Node {
    let mut items: Vec<Node> = items
        .into_iter()
        .flat_map(|item| match item {
            Node::Set(inner) => inner,
            other => vec![other],
        })
        .collect();
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
    let approx = split_top(s, "\\approx");
    if approx.len() > 1 {
        // `x \approx 11` is 11; `\frac13 \approx 0.33` and `x = \frac13 \approx 0.3`
        // are their exact side.
        let first = approx[0].trim();
        let last = approx[approx.len() - 1];
        return recurse(if is_simple_lhs(first) { last } else { first });
    }
    if !comma_space(s)
        && let Some(plain) = number_format(&squash(s))
    {
        return atom(&plain);
    }
    if let Some(joined) = rejoin_thousands(s) {
        return recurse(&joined);
    }
    if bracketed(s).is_none() {
        if let Some(node) = list(s, depth) {
            return node;
        }
        if let Some(inner) = plain_braced(s)
            && !top_level(inner, ",").is_empty()
        {
            return set_of(split_top(inner, ",").into_iter().map(recurse).collect());
        }
    }
    if let Some(node) = relation(s, depth) {
        return node;
    }
    if let Some(node) = ratio(s, depth) {
        return node;
    }
    if let Some(node) = matrix(s, depth) {
        return node;
    }
    if let Some((open, inner, close)) = bracketed(s) {
        let items = split_top(inner, ",");
        if open == "\\{" {
            return set_of(items.into_iter().map(recurse).collect());
        }
        let single = items.len() == 1;
        if single && ((open == "(" && close == ")") || inner.trim().starts_with("\\begin{")) {
            return recurse(inner);
        }
        if !(single && open == "{") {
            return Node::Tuple {
                open: open.to_owned(),
                close: close.to_owned(),
                items: items.into_iter().map(recurse).collect(),
            };
        }
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

/// A list: items separated by `;` (groups, each a tuple when it is a list
/// itself: `1, 2; 3, 4`), else by `,` and "and"/"or". Inequalities joined by "and"
/// hold together; values under distinct names form a named tuple (`a=3, b=1`),
/// repeated names a list of them (`a=3, b=1, a=4, b=2`).
fn list(s: &str, depth: u32) -> Option<Node> {
    let recurse = |part: &str| structure(part, depth + 1);
    let nonempty = |parts: Vec<&str>| -> Vec<String> {
        parts
            .into_iter()
            .filter(|p| !p.trim().is_empty())
            .map(str::to_owned)
            .collect()
    };
    let groups = nonempty(split_top(s, ";"));
    if groups.len() > 1 {
        let items = groups
            .iter()
            .map(|g| match recurse(g) {
                Node::Set(items) => Node::Tuple {
                    open: "(".into(),
                    close: ")".into(),
                    items,
                },
                other => other,
            })
            .collect();
        return Some(Node::Set(items));
    }
    let mut parts = Vec::new();
    let mut start = 0;
    let mut joined_by_and = false;
    for (i, sep) in top_level_any(s, &[",", AND]) {
        parts.push(&s[start..i]);
        joined_by_and |= sep == AND;
        start = i + sep.len();
    }
    parts.push(&s[start..]);
    let items: Vec<Node> = nonempty(parts).iter().map(|p| recurse(p)).collect();
    if items.len() < 2 {
        return None;
    }
    let inequality = |n: &Node| match n {
        Node::Relation { rel, .. } => *rel != Rel::Eq,
        Node::Chain { .. } => true,
        _ => false,
    };
    if joined_by_and && items.iter().all(inequality) {
        return Some(Node::All(items));
    }
    Some(named(items).unwrap_or_else(set_of))
}

/// Values under names, `a=3, b=1` (a named tuple) or `a=3, b=1, a=4, b=2` (a set of
/// them); `Err` gives the items back when they are not all named, or when one
/// name repeats right away (`x = 1, x = 2` is a set of values).
fn named(items: Vec<Node>) -> Result<Node, Vec<Node>> {
    let names: Option<Vec<String>> = items
        .iter()
        .map(|n| match n {
            Node::Assign {
                name: Some(name), ..
            } => Some(name.clone()),
            _ => None,
        })
        .collect();
    let Some(names) = names else {
        return Err(items);
    };
    let period = names[1..]
        .iter()
        .position(|n| *n == names[0])
        .map_or(names.len(), |i| i + 1);
    let first: Vec<&String> = names[..period].iter().collect();
    let distinct = first
        .iter()
        .enumerate()
        .all(|(i, n)| !first[..i].contains(n));
    let regular = period >= 2
        && names.len() % period == 0
        && names
            .chunks(period)
            .all(|chunk| chunk.len() == first.len() && chunk.iter().all(|n| first.contains(&n)));
    if !(distinct && regular) {
        return Err(items);
    }
    let values: Vec<Node> = items
        .into_iter()
        .map(|n| match n {
            Node::Assign { value, .. } => *value,
            other => other,
        })
        .collect();
    let mut tuples: Vec<Node> = names
        .chunks(period)
        .zip(values.chunks(period))
        .map(|(names, values)| Node::Named {
            names: names.to_vec(),
            values: values.to_vec(),
        })
        .collect();
    Ok(if tuples.len() == 1 {
        tuples.remove(0)
    } else {
        Node::Set(tuples)
    })
}

/// `5:9`, `1 : 2 : 3`: a ratio of numbers or expressions.
fn ratio(s: &str, depth: u32) -> Option<Node> {
    let parts = split_top(s, ":");
    if parts.len() < 2 || parts.iter().any(|p| p.trim().is_empty()) {
        return None;
    }
    let items: Vec<Node> = parts.into_iter().map(|p| structure(p, depth + 1)).collect();
    items
        .iter()
        .all(|n| matches!(n, Node::Number(_) | Node::Expr { .. }))
        .then_some(Node::Ratio(items))
}

/// The relation symbols, as [`clean`] spells them.
const RELATIONS: [&str; 7] = ["=", "<", ">", "\u{2264}", "\u{2265}", "\u{2260}", "\\in"];

/// A relation after reading `>` as a reversed `<` and `\ge` as a reversed `\le`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rel {
    Eq,
    Ne,
    Lt,
    Le,
}

impl Rel {
    /// The relation and whether its sides were swapped to read it.
    fn read(sym: &str) -> Option<(Rel, bool)> {
        Some(match sym {
            "=" => (Rel::Eq, false),
            "\u{2260}" => (Rel::Ne, false),
            "<" => (Rel::Lt, false),
            ">" => (Rel::Lt, true),
            "\u{2264}" => (Rel::Le, false),
            "\u{2265}" => (Rel::Le, true),
            _ => return None,
        })
    }

    fn symbol(self) -> &'static str {
        match self {
            Rel::Eq => "=",
            Rel::Ne => "\\ne",
            Rel::Lt => "<",
            Rel::Le => "\\le",
        }
    }
}

/// Equations, inequalities and chains of them:
/// - `x = 5`, `f(2) = 7`, `(x, y) = (1, 2)`, `x \in [1, 2]`: the value, named;
/// - `x = 2 + 3 = 5`: an equation chain is its last side;
/// - `x > 3`, `3 < x`, `2x + 1 \ge y`: a relation;
/// - `1 < x \le 5`, `f(2) < f(1) < f(4)`: a chain in one direction.
fn relation(s: &str, depth: u32) -> Option<Node> {
    let found = top_level_any(s, &RELATIONS);
    if found.is_empty() {
        return None;
    }
    let mut sides = Vec::with_capacity(found.len() + 1);
    let mut start = 0;
    for (i, sym) in &found {
        sides.push(s[start..*i].trim());
        start = i + sym.len();
    }
    sides.push(s[start..].trim());
    if sides.iter().any(|side| side.is_empty()) {
        return Some(Node::Text(squash(s)));
    }
    let recurse = |part: &str| structure(part, depth + 1);
    let symbols: Vec<&str> = found.iter().map(|(_, sym)| *sym).collect();
    if symbols.iter().all(|sym| *sym == "=" || *sym == "\\in") {
        if symbols.len() >= 2 && !symbols.contains(&"\\in") {
            return Some(recurse(sides[sides.len() - 1]));
        }
        // `5 \cdot 5 = 25`, `\sin 30 = \frac12`: a computation (no variable on
        // the left), answered by its result.
        let constant = |side: &str| expr::parse(side).is_some_and(|a| !a.has_vars());
        if let [lhs, rhs] = sides[..]
            && symbols[0] == "="
            && no_free_letters(lhs)
            && constant(rhs)
        {
            return Some(recurse(rhs));
        }
        if let [lhs, rhs] = sides[..] {
            if is_simple_lhs(lhs) || is_ratio_of_names(lhs) {
                return Some(Node::Assign {
                    lhs: (symbols[0] == "=").then(|| expr::parse(lhs)).flatten(),
                    name: is_simple_lhs(lhs).then(|| squash(lhs)),
                    value: Box::new(recurse(rhs)),
                });
            }
            if symbols[0] == "=" {
                return Some(Node::Relation {
                    rel: Rel::Eq,
                    sides: vec![recurse(lhs), recurse(rhs)],
                });
            }
        }
        return Some(Node::Text(squash(s)));
    }
    let rels: Option<Vec<(Rel, bool)>> = symbols.iter().map(|sym| Rel::read(sym)).collect();
    let Some(rels) = rels else {
        return Some(Node::Text(squash(s)));
    };
    let swapped = rels[0].1;
    let one_way = rels
        .iter()
        .all(|(r, sw)| *sw == swapped && matches!(r, Rel::Lt | Rel::Le));
    if rels.len() > 1 && !one_way {
        return Some(Node::Text(squash(s)));
    }
    let mut nodes: Vec<Node> = sides.into_iter().map(recurse).collect();
    let mut rels: Vec<Rel> = rels.into_iter().map(|(r, _)| r).collect();
    if swapped {
        nodes.reverse();
        rels.reverse();
    }
    if let [rel] = rels[..] {
        return Some(Node::Relation { rel, sides: nodes });
    }
    Some(Node::Chain { rels, sides: nodes })
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
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
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
    // Absolute values hide signs at positive points: sample negative ones too.
    let signs: &[f64] = if a.has_abs() || b.has_abs() {
        &[1.0, -1.0]
    } else {
        &[1.0]
    };
    for k in 0..SAMPLE_POINTS * signs.len() as u64 {
        let sign = signs[(k % signs.len() as u64) as usize];
        let var = |name: &str| sign * sample(name, k);
        let (x, y) = (a.eval(&var), b.eval(&var));
        match (x.is_finite(), y.is_finite()) {
            (false, false) => continue,
            (true, true) if expr::close(x, y) => agreeing += 1,
            _ => return false,
        }
    }
    agreeing > 0
}

const RELATION_SAMPLES: u64 = 5;

/// Whether `d1 = 0` and `d2 = 0` (or `< 0`, ...) say the same: `d1 / d2` is one
/// constant at every sample point, positive for inequalities.
fn proportional(rel: Rel, d1: &Ast, d2: &Ast) -> bool {
    // An absolute value is not proportional to anything at positive samples alone;
    // one-variable cases are compared by their solution sets.
    if !d1.has_vars() || !d2.has_vars() || d1.has_abs() || d2.has_abs() {
        return false;
    }
    let mut ratio: Option<f64> = None;
    for k in 0..RELATION_SAMPLES {
        let var = |name: &str| sample(name, k);
        let (x, y) = (d1.eval(&var), d2.eval(&var));
        if !x.is_finite() || !y.is_finite() {
            return false;
        }
        let tiny = 1e-12;
        match (x.abs() < tiny, y.abs() < tiny) {
            (true, true) => continue,
            (false, false) => {}
            _ => return false,
        }
        let q = x / y;
        match ratio {
            None => ratio = Some(q),
            Some(r) if expr::close(q, r) => {}
            Some(_) => return false,
        }
    }
    ratio.is_some_and(|q| match rel {
        Rel::Lt | Rel::Le => q > 0.0,
        Rel::Eq | Rel::Ne => q != 0.0,
    })
}

fn difference(a: Ast, b: Ast) -> Ast {
    Ast::Sub(Box::new(a), Box::new(b))
}

impl Node {
    /// A number or an expression as an expression.
    fn as_ast(&self) -> Option<Ast> {
        match self {
            Node::Number(n) => Some(Ast::Lit(*n)),
            Node::Expr { ast, .. } => Some(ast.clone()),
            _ => None,
        }
    }

    /// A relation between two expressions, as `lhs - rhs` (rel) `0`; `x = 5`
    /// counts as the equation `x - 5 = 0`.
    fn relation_parts(&self) -> Option<(Rel, Ast)> {
        match self {
            Node::Relation { rel, sides } => {
                let [l, r] = &sides[..] else { return None };
                Some((*rel, difference(l.as_ast()?, r.as_ast()?)))
            }
            Node::Assign {
                lhs: Some(lhs),
                value,
                ..
            } => Some((Rel::Eq, difference(lhs.clone(), value.as_ast()?))),
            _ => None,
        }
    }

    fn is_variable(&self) -> bool {
        matches!(
            self,
            Node::Expr {
                ast: Ast::Var(_),
                ..
            }
        )
    }

    /// `x < 3` as `(-\infty, 3)`, `1 \le x < 2` as `[1, 2)`: a relation of one
    /// variable and numbers as the interval it describes.
    fn as_interval(&self) -> Option<Node> {
        let (rels, sides) = match self {
            Node::Relation { rel, sides } => (std::slice::from_ref(rel), sides),
            Node::Chain { rels, sides } => (&rels[..], sides),
            _ => return None,
        };
        let bound = |rel: &Rel, low: bool| match (rel, low) {
            (Rel::Lt, true) => Some("("),
            (Rel::Le, true) => Some("["),
            (Rel::Lt, false) => Some(")"),
            (Rel::Le, false) => Some("]"),
            _ => None,
        };
        let number = |n: &Node| matches!(n, Node::Number(_));
        let infinity = |sign: &str| Node::Text(format!("{sign}\\infty"));
        let (open, low, close, high) = match (rels, &sides[..]) {
            ([rel], [v, n]) if v.is_variable() && number(n) => {
                ("(", infinity("-"), bound(rel, false)?, n.clone())
            }
            ([rel], [n, v]) if v.is_variable() && number(n) => {
                (bound(rel, true)?, n.clone(), ")", infinity(""))
            }
            ([r1, r2], [a, v, b]) if v.is_variable() && number(a) && number(b) => {
                (bound(r1, true)?, a.clone(), bound(r2, false)?, b.clone())
            }
            _ => return None,
        };
        Some(Node::Tuple {
            open: open.into(),
            close: close.into(),
            items: vec![low, high],
        })
    }

    fn relations_equivalent(&self, other: &Node) -> bool {
        if let (Node::Relation { rel: r1, sides: s1 }, Node::Relation { rel: r2, sides: s2 }) =
            (self, other)
            && r1 == r2
            && let ([a1, b1], [a2, b2]) = (&s1[..], &s2[..])
        {
            let symmetric = matches!(r1, Rel::Eq | Rel::Ne);
            if (a1.equivalent(a2) && b1.equivalent(b2))
                || (symmetric && a1.equivalent(b2) && b1.equivalent(a2))
            {
                return true;
            }
        }
        match (self.relation_parts(), other.relation_parts()) {
            (Some((r1, d1)), Some((r2, d2))) => r1 == r2 && proportional(r1, &d1, &d2),
            _ => false,
        }
    }

    fn equivalent(&self, other: &Node) -> bool {
        self.equivalent_as_written(other) || self.equivalent_as_sets(other)
    }

    /// Inequalities, intervals and unions of them, compared by the set of reals
    /// they describe (at least one side written as an inequality).
    fn equivalent_as_sets(&self, other: &Node) -> bool {
        let candidate = |n: &Node| {
            matches!(
                n,
                Node::Relation { .. } | Node::Chain { .. } | Node::All(_) | Node::Set(_)
            ) || matches!(n, Node::Assign { value, .. } if matches!(**value, Node::Tuple { .. } | Node::Set(_)))
        };
        if !candidate(self) && !candidate(other) {
            return false;
        }
        match (solve::solution_set(self), solve::solution_set(other)) {
            (Some((a, ia)), Some((b, ib))) => (ia || ib) && a.equals(&b),
            _ => false,
        }
    }

    fn equivalent_as_written(&self, other: &Node) -> bool {
        match (self, other) {
            (Node::Assign { value: a, .. }, Node::Assign { value: b, .. }) => a.equivalent(b),
            (Node::Relation { .. }, Node::Relation { .. }) => self.relations_equivalent(other),
            (Node::Assign { value, .. }, Node::Relation { .. })
            | (Node::Relation { .. }, Node::Assign { value, .. }) => {
                // `y = x^2` against `x^2 = y`; `x \in (3, \infty)` against `x > 3`.
                let relation = if matches!(self, Node::Relation { .. }) {
                    self
                } else {
                    other
                };
                self.relations_equivalent(other) || value.equivalent(relation)
            }
            (Node::Assign { value, .. }, x) | (x, Node::Assign { value, .. }) => {
                value.equivalent(x)
            }
            (Node::Relation { .. } | Node::Chain { .. }, Node::Tuple { .. }) => {
                self.as_interval().is_some_and(|i| i.equivalent(other))
            }
            (Node::Tuple { .. }, Node::Relation { .. } | Node::Chain { .. }) => {
                other.as_interval().is_some_and(|i| self.equivalent(&i))
            }
            (
                Node::Chain {
                    rels: r1,
                    sides: s1,
                },
                Node::Chain {
                    rels: r2,
                    sides: s2,
                },
            ) => {
                r1 == r2 && s1.len() == s2.len() && s1.iter().zip(s2).all(|(a, b)| a.equivalent(b))
            }
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
            (Node::Set(set), Node::Tuple { open, close, items })
            | (Node::Tuple { open, close, items }, Node::Set(set))
                if open == "(" && close == ")" =>
            {
                set_matches_tuple(set, items)
            }
            (
                Node::Named {
                    names: n1,
                    values: v1,
                },
                Node::Named {
                    names: n2,
                    values: v2,
                },
            ) => {
                if n1.len() != n2.len() {
                    return false;
                }
                let same_names = n1.iter().all(|n| n2.contains(n));
                if same_names {
                    n1.iter().zip(v1).all(|(name, a)| {
                        n2.iter()
                            .zip(v2)
                            .any(|(other, b)| other == name && a.equivalent(b))
                    })
                } else {
                    v1.iter().zip(v2).all(|(a, b)| a.equivalent(b))
                }
            }
            (Node::Named { values, .. }, Node::Tuple { open, close, items })
            | (Node::Tuple { open, close, items }, Node::Named { values, .. })
                if open == "(" && close == ")" =>
            {
                in_order(values, items)
            }
            (Node::Named { values, .. }, Node::Set(items))
            | (Node::Set(items), Node::Named { values, .. }) => in_order(values, items),
            (Node::Ratio(a), Node::Ratio(b)) => proportional_ratios(a, b),
            (Node::Ratio(r), Node::Number(n)) | (Node::Number(n), Node::Ratio(r)) => {
                ratio_is_fraction(r, *n)
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

/// Items equal one by one, in order.
fn in_order(a: &[Node], b: &[Node]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.equivalent(y))
}

/// A set written in braces (or as a bare list) against the same values in
/// parentheses: equal in the order written (a bare list may be an ordered pair,
/// so `2, 1` is not `(1, 2)`).
fn set_matches_tuple(set: &[Node], items: &[Node]) -> bool {
    if set.len() < 2 || set.len() != items.len() {
        return false;
    }
    in_order(set, items)
}

/// The items of a ratio as numbers, if they all are.
fn ratio_numbers(r: &[Node]) -> Option<Vec<Num>> {
    r.iter()
        .map(|n| match n {
            Node::Number(n) => Some(*n),
            _ => None,
        })
        .collect()
}

/// `a_1 : ... : a_k` and `b_1 : ... : b_k` with `a_i b_1 = b_i a_1` for every i;
/// ratios of expressions item by item.
fn proportional_ratios(a: &[Node], b: &[Node]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (Some(x), Some(y)) = (ratio_numbers(a), ratio_numbers(b)) else {
        return in_order(a, b);
    };
    if x[0].is_zero() || y[0].is_zero() {
        return in_order(a, b);
    }
    x.iter()
        .zip(&y)
        .all(|(xi, yi)| match (xi.mul(y[0]), yi.mul(x[0])) {
            (Some(l), Some(r)) => l.equals(r),
            _ => false,
        })
}

/// `3:4` against `\frac34`: a two-term ratio read as a fraction; not against an
/// integer (`2:1` is not the answer `2`).
fn ratio_is_fraction(r: &[Node], n: Num) -> bool {
    let Some(x) = ratio_numbers(r) else {
        return false;
    };
    let [p, q] = x[..] else { return false };
    let integer = n.to_f64().fract() == 0.0;
    !integer && p.div(q).is_some_and(|v| v.equals(n))
}

fn write_chain(f: &mut fmt::Formatter<'_>, rels: &[Rel], sides: &[Node]) -> fmt::Result {
    for (i, side) in sides.iter().enumerate() {
        if i > 0 {
            f.write_str(rels.get(i - 1).map_or("?", |r| r.symbol()))?;
        }
        write!(f, "{side}")?;
    }
    Ok(())
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Number(n) => write!(f, "{n}"),
            Node::Expr { text, .. } => f.write_str(text),
            // Marked, so that the text `100` (from `1 00`) keys apart from the number.
            Node::Text(text) => write!(f, "\\text{{{text}}}"),
            Node::Tuple { open, close, items } => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "{open}{}{close}", items.join(","))
            }
            Node::Set(items) => {
                let mut items: Vec<String> = items.iter().map(ToString::to_string).collect();
                items.sort();
                write!(f, "\\{{{}\\}}", items.join(","))
            }
            Node::Assign { value, .. } => value.fmt(f),
            Node::Named { names, values } => {
                let items: Vec<String> = names
                    .iter()
                    .zip(values)
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect();
                write!(f, "({})", items.join(","))
            }
            Node::Ratio(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                f.write_str(&items.join(":"))
            }
            Node::All(items) => {
                let items: Vec<String> = items.iter().map(ToString::to_string).collect();
                f.write_str(&items.join("\\land "))
            }
            Node::Relation { rel, sides } => write_chain(f, std::slice::from_ref(rel), sides),
            Node::Chain { rels, sides } => write_chain(f, rels, sides),
        }
    }
}
