//! A small exact/approximate evaluator for answer expressions: numbers, `+ - * /`,
//! `^`, `\frac`, `\sqrt`, `\pi`, implicit products, mixed numbers and variables.

use std::fmt;

/// Greek letters read as variables.
const GREEK: &[&str] = &[
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "varepsilon",
    "zeta",
    "eta",
    "theta",
    "vartheta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "varphi",
    "chi",
    "psi",
    "omega",
    "Gamma",
    "Delta",
    "Theta",
    "Lambda",
    "Sigma",
    "Phi",
    "Psi",
    "Omega",
];

const MAX_TOKENS: usize = 500;
const MAX_NESTING: usize = 32;

/// A reduced fraction with a positive denominator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ratio {
    num: i128,
    den: i128,
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    i128::try_from(a).unwrap_or(1)
}

impl Ratio {
    fn new(num: i128, den: i128) -> Option<Ratio> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den).max(1);
        let sign = if den < 0 { -1 } else { 1 };
        Some(Ratio {
            num: (num / g).checked_mul(sign)?,
            den: (den / g).checked_mul(sign)?,
        })
    }

    fn int(n: i128) -> Ratio {
        Ratio { num: n, den: 1 }
    }

    fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }

    fn add(self, o: Ratio) -> Option<Ratio> {
        let num = self
            .num
            .checked_mul(o.den)?
            .checked_add(o.num.checked_mul(self.den)?)?;
        Ratio::new(num, self.den.checked_mul(o.den)?)
    }

    fn mul(self, o: Ratio) -> Option<Ratio> {
        Ratio::new(self.num.checked_mul(o.num)?, self.den.checked_mul(o.den)?)
    }

    fn recip(self) -> Option<Ratio> {
        Ratio::new(self.den, self.num)
    }

    fn powi(self, e: i128) -> Option<Ratio> {
        if e.unsigned_abs() > 4096 {
            return None;
        }
        let mut result = Ratio::int(1);
        for _ in 0..e.unsigned_abs() {
            result = result.mul(self)?;
        }
        if e < 0 { result.recip() } else { Some(result) }
    }

    /// The exact `k`-th root, if the numerator and denominator are perfect powers.
    fn root(self, k: u32) -> Option<Ratio> {
        let exact = |n: i128| -> Option<i128> {
            if n < 0 {
                return (k % 2 == 1)
                    .then(|| exact_root(n.checked_neg()?, k))
                    .flatten()
                    .map(|r| -r);
            }
            exact_root(n, k)
        };
        Ratio::new(exact(self.num)?, exact(self.den)?)
    }
}

fn exact_root(n: i128, k: u32) -> Option<i128> {
    let guess = (n as f64).powf(1.0 / f64::from(k)).round() as i128;
    (guess.saturating_sub(1)..=guess.saturating_add(1))
        .find(|r| *r >= 0 && r.checked_pow(k) == Some(n))
}

/// A number: exact when only rational operations made it, else a float.
#[derive(Clone, Copy, Debug)]
pub(super) enum Num {
    Exact(Ratio),
    Approx(f64),
}

impl Num {
    pub(super) fn to_f64(self) -> f64 {
        match self {
            Num::Exact(r) => r.to_f64(),
            Num::Approx(x) => x,
        }
    }

    fn approx(x: f64) -> Option<Num> {
        x.is_finite().then_some(Num::Approx(x))
    }

    fn binary(
        self,
        other: Num,
        exact: impl Fn(Ratio, Ratio) -> Option<Ratio>,
        float: impl Fn(f64, f64) -> f64,
    ) -> Option<Num> {
        if let (Num::Exact(a), Num::Exact(b)) = (self, other)
            && let Some(r) = exact(a, b)
        {
            return Some(Num::Exact(r));
        }
        Num::approx(float(self.to_f64(), other.to_f64()))
    }

    pub(super) fn add(self, other: Num) -> Option<Num> {
        self.binary(other, Ratio::add, |x, y| x + y)
    }

    pub(super) fn mul(self, other: Num) -> Option<Num> {
        self.binary(other, Ratio::mul, |x, y| x * y)
    }

    pub(super) fn neg(self) -> Option<Num> {
        self.mul(Num::Exact(Ratio::int(-1)))
    }

    pub(super) fn div(self, other: Num) -> Option<Num> {
        if other.is_zero() {
            return None;
        }
        self.binary(other, |x, y| x.mul(y.recip()?), |x, y| x / y)
    }

    pub(super) fn int(n: i128) -> Num {
        Num::Exact(Ratio::int(n))
    }

    pub(super) fn is_zero(self) -> bool {
        match self {
            Num::Exact(r) => r.num == 0,
            Num::Approx(x) => x.abs() < 1e-12,
        }
    }

    /// The square root, exact for perfect squares; `None` for a negative number.
    pub(super) fn sqrt(self) -> Option<Num> {
        if self.to_f64() < 0.0 {
            return None;
        }
        if let Num::Exact(r) = self
            && let Some(root) = r.root(2)
        {
            return Some(Num::Exact(root));
        }
        Num::approx(self.to_f64().sqrt())
    }

    /// Whether two numbers are equal: exactly, within a relative 1e-9 once one is
    /// irrational, or as a decimal of six or more places rounds the other
    /// (`0.083333` for `\frac{1}{12}`, `1.414214` for `\sqrt{2}`).
    pub(super) fn equals(self, other: Num) -> bool {
        match (self, other) {
            (Num::Exact(a), Num::Exact(b)) => a == b || rounds(a, other) || rounds(b, self),
            (Num::Exact(a), Num::Approx(_)) | (Num::Approx(_), Num::Exact(a)) => {
                close(self.to_f64(), other.to_f64())
                    || rounds(
                        a,
                        if matches!(self, Num::Exact(_)) {
                            other
                        } else {
                            self
                        },
                    )
            }
            _ => close(self.to_f64(), other.to_f64()),
        }
    }
}

/// The number of decimal places of `r` when it is a terminating decimal.
fn decimal_places(r: Ratio) -> Option<u32> {
    let mut den = r.den;
    let (mut twos, mut fives) = (0u32, 0u32);
    while den % 2 == 0 {
        den /= 2;
        twos += 1;
    }
    while den % 5 == 0 {
        den /= 5;
        fives += 1;
    }
    (den == 1).then_some(twos.max(fives))
}

/// Whether the decimal `d`, of at least six places, is `x` rounded to its places.
fn rounds(d: Ratio, x: Num) -> bool {
    let Some(places) = decimal_places(d).filter(|p| (6..=30).contains(p)) else {
        return false;
    };
    if let Num::Exact(x) = x {
        if decimal_places(x).is_some() {
            return false;
        }
        // |d - x| <= 1/2 10^-places, exactly: 2 |d.num x.den - x.num d.den| 10^places <= d.den x.den.
        let exact = || -> Option<bool> {
            let diff = d
                .num
                .checked_mul(x.den)?
                .checked_sub(x.num.checked_mul(d.den)?)?;
            let lhs = diff
                .checked_abs()?
                .checked_mul(2)?
                .checked_mul(10i128.checked_pow(places)?)?;
            Some(lhs <= d.den.checked_mul(x.den)?)
        };
        if let Some(verdict) = exact() {
            return verdict;
        }
    }
    let (d, x) = (d.to_f64(), x.to_f64());
    (d - x).abs() <= 0.5 * 10f64.powi(-(places as i32)) * (1.0 + 1e-9)
}

pub(super) fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Exact(r) if r.den == 1 => write!(f, "{}", r.num),
            Num::Exact(r) => write!(f, "{}/{}", r.num, r.den),
            Num::Approx(x) => write!(f, "{x:.9e}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(String),
    Var(String),
    Cmd(&'static str),
    Op(char),
    Open(char),
    Close(char),
    /// `|`: opens or closes an absolute value.
    Bar,
}

/// Splits an expression into tokens; `None` for anything the evaluator does not
/// know (words of three or more letters, unknown commands, `=`, `<`, ...).
fn tokenize(s: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = s.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i < chars.len() && chars[i] == '.' {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if matches!(toks.last(), Some(Tok::Num(_))) {
                // `1 000` or `2 3`: two numbers side by side are not a product.
                return None;
            }
            toks.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            if i - start >= 3 {
                return None;
            }
            toks.extend(chars[start..i].iter().map(|c| Tok::Var(c.to_string())));
        } else if c == '\\' {
            let start = i + 1;
            i = start;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            toks.push(match name.as_str() {
                "frac" => Tok::Cmd("frac"),
                "sqrt" => Tok::Cmd("sqrt"),
                "pi" => Tok::Cmd("pi"),
                "cdot" | "times" => Tok::Op('*'),
                "lvert" | "rvert" | "vert" => Tok::Bar,
                "div" => Tok::Op('/'),
                n if GREEK.contains(&n) => Tok::Var(name),
                _ => return None,
            });
        } else {
            toks.push(match c {
                '+' | '-' | '*' | '/' | '^' => Tok::Op(c),
                '(' | '[' | '{' => Tok::Open(c),
                ')' | ']' | '}' => Tok::Close(c),
                '|' => Tok::Bar,
                _ => return None,
            });
            i += 1;
        }
    }
    Some(toks)
}

/// A parsed expression.
#[derive(Clone, Debug)]
pub(super) enum Ast {
    Lit(Num),
    Var(String),
    Pi,
    Neg(Box<Ast>),
    Add(Box<Ast>, Box<Ast>),
    Sub(Box<Ast>, Box<Ast>),
    Mul(Box<Ast>, Box<Ast>),
    Div(Box<Ast>, Box<Ast>),
    Pow(Box<Ast>, Box<Ast>),
    Root(u32, Box<Ast>),
    Abs(Box<Ast>),
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// How many `|...|` are open: inside one, a `|` closes it rather than
    /// starting an implicit product.
    bars: usize,
}

fn parse_literal(text: &str) -> Option<Num> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    if digits.len() <= 30 && frac.len() <= 30 {
        let num: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        let den = 10i128.checked_pow(frac.len() as u32)?;
        return Ratio::new(num, den).map(Num::Exact);
    }
    Num::approx(text.parse().ok()?)
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, tok: Tok) -> Option<()> {
        (self.next()? == tok).then_some(())
    }

    fn expr(&mut self) -> Option<Ast> {
        let mut left = self.term()?;
        while let Some(Tok::Op(op @ ('+' | '-'))) = self.peek() {
            let op = *op;
            self.pos += 1;
            let right = self.term()?;
            left = if op == '+' {
                Ast::Add(Box::new(left), Box::new(right))
            } else {
                Ast::Sub(Box::new(left), Box::new(right))
            };
        }
        Some(left)
    }

    fn term(&mut self) -> Option<Ast> {
        let mut left = self.signed()?;
        loop {
            match self.peek() {
                Some(Tok::Op('*')) => {
                    self.pos += 1;
                    left = Ast::Mul(Box::new(left), Box::new(self.signed()?));
                }
                Some(Tok::Op('/')) => {
                    self.pos += 1;
                    left = Ast::Div(Box::new(left), Box::new(self.signed()?));
                }
                Some(Tok::Num(_) | Tok::Var(_) | Tok::Cmd(_) | Tok::Open(_)) => {
                    left = Ast::Mul(Box::new(left), Box::new(self.power()?));
                }
                Some(Tok::Bar) if self.bars == 0 => {
                    left = Ast::Mul(Box::new(left), Box::new(self.power()?));
                }
                _ => return Some(left),
            }
        }
    }

    fn signed(&mut self) -> Option<Ast> {
        match self.peek() {
            Some(Tok::Op('-')) => {
                self.pos += 1;
                Some(Ast::Neg(Box::new(self.signed()?)))
            }
            Some(Tok::Op('+')) => {
                self.pos += 1;
                self.signed()
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Option<Ast> {
        let base = self.primary()?;
        if self.peek() == Some(&Tok::Op('^')) {
            self.pos += 1;
            let exponent = if self.peek() == Some(&Tok::Op('-')) {
                self.pos += 1;
                Ast::Neg(Box::new(self.primary()?))
            } else {
                self.primary()?
            };
            return Some(Ast::Pow(Box::new(base), Box::new(exponent)));
        }
        Some(base)
    }

    /// `{expr}` or one primary: the argument of `\frac` and `\sqrt`.
    fn argument(&mut self) -> Option<Ast> {
        self.primary()
    }

    /// A mixed number `2\frac{1}{4}`: an integer followed by a fraction of integers.
    fn mixed_fraction(&self) -> Option<(Num, usize)> {
        let t = self.toks.get(self.pos..self.pos + 7)?;
        match t {
            [
                Tok::Cmd("frac"),
                Tok::Open('{'),
                Tok::Num(a),
                Tok::Close('}'),
                Tok::Open('{'),
                Tok::Num(b),
                Tok::Close('}'),
            ] if !a.contains('.') && !b.contains('.') => {
                let (Num::Exact(a), Num::Exact(b)) = (parse_literal(a)?, parse_literal(b)?) else {
                    return None;
                };
                Some((Num::Exact(a.mul(b.recip()?)?), 7))
            }
            _ => None,
        }
    }

    fn primary(&mut self) -> Option<Ast> {
        match self.next()? {
            Tok::Num(text) => {
                let value = parse_literal(&text)?;
                if !text.contains('.')
                    && let Some((fraction, len)) = self.mixed_fraction()
                {
                    self.pos += len;
                    return Some(Ast::Add(
                        Box::new(Ast::Lit(value)),
                        Box::new(Ast::Lit(fraction)),
                    ));
                }
                Some(Ast::Lit(value))
            }
            Tok::Var(name) => Some(Ast::Var(name)),
            Tok::Cmd("pi") => Some(Ast::Pi),
            Tok::Cmd("frac") => {
                let num = self.argument()?;
                let den = self.argument()?;
                Some(Ast::Div(Box::new(num), Box::new(den)))
            }
            Tok::Cmd("sqrt") => {
                let mut index = 2;
                if self.peek() == Some(&Tok::Open('[')) {
                    self.pos += 1;
                    let Tok::Num(k) = self.next()? else {
                        return None;
                    };
                    index = k.parse().ok().filter(|k| (2..=64).contains(k))?;
                    self.expect(Tok::Close(']'))?;
                }
                Some(Ast::Root(index, Box::new(self.argument()?)))
            }
            Tok::Bar => {
                self.bars += 1;
                let inner = self.expr();
                self.bars -= 1;
                self.expect(Tok::Bar)?;
                Some(Ast::Abs(Box::new(inner?)))
            }
            Tok::Open(open) => {
                let outer_bars = std::mem::take(&mut self.bars);
                let inner = self.expr();
                self.bars = outer_bars;
                let inner = inner?;
                let close = match open {
                    '(' => ')',
                    '[' => ']',
                    _ => '}',
                };
                self.expect(Tok::Close(close))?;
                Some(inner)
            }
            _ => None,
        }
    }
}

/// Parses an expression; `None` if it is not one the evaluator understands.
pub(super) fn parse(s: &str) -> Option<Ast> {
    let toks = tokenize(s)?;
    if toks.is_empty() || toks.len() > MAX_TOKENS {
        return None;
    }
    // Bound the recursion of the parser and of the evaluation.
    let mut depth = 0usize;
    for tok in &toks {
        match tok {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_NESTING {
            return None;
        }
    }
    let mut parser = Parser {
        toks,
        pos: 0,
        bars: 0,
    };
    let ast = parser.expr()?;
    (parser.pos == parser.toks.len()).then_some(ast)
}

impl Ast {
    pub(super) fn has_vars(&self) -> bool {
        match self {
            Ast::Var(_) => true,
            Ast::Lit(_) | Ast::Pi => false,
            Ast::Neg(a) | Ast::Root(_, a) | Ast::Abs(a) => a.has_vars(),
            Ast::Add(a, b) | Ast::Sub(a, b) | Ast::Mul(a, b) | Ast::Div(a, b) | Ast::Pow(a, b) => {
                a.has_vars() || b.has_vars()
            }
        }
    }

    /// Whether an absolute value occurs (its sign is lost at positive samples).
    pub(super) fn has_abs(&self) -> bool {
        match self {
            Ast::Abs(_) => true,
            Ast::Lit(_) | Ast::Pi | Ast::Var(_) => false,
            Ast::Neg(a) | Ast::Root(_, a) => a.has_abs(),
            Ast::Add(a, b) | Ast::Sub(a, b) | Ast::Mul(a, b) | Ast::Div(a, b) | Ast::Pow(a, b) => {
                a.has_abs() || b.has_abs()
            }
        }
    }

    /// The variables, sorted, without repeats.
    pub(super) fn vars(&self) -> Vec<String> {
        fn walk(ast: &Ast, out: &mut Vec<String>) {
            match ast {
                Ast::Var(v) => out.push(v.clone()),
                Ast::Lit(_) | Ast::Pi => {}
                Ast::Neg(a) | Ast::Root(_, a) | Ast::Abs(a) => walk(a, out),
                Ast::Add(a, b)
                | Ast::Sub(a, b)
                | Ast::Mul(a, b)
                | Ast::Div(a, b)
                | Ast::Pow(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out.sort();
        out.dedup();
        out
    }

    /// The value of a variable-free expression; `None` on division by zero, an
    /// even root of a negative number, overflow, or a variable.
    pub(super) fn value(&self) -> Option<Num> {
        match self {
            Ast::Lit(n) => Some(*n),
            Ast::Var(_) => None,
            Ast::Pi => Some(Num::Approx(std::f64::consts::PI)),
            Ast::Neg(a) => a
                .value()?
                .binary(Num::Exact(Ratio::int(-1)), Ratio::mul, |x, y| x * y),
            Ast::Add(a, b) => a.value()?.binary(b.value()?, Ratio::add, |x, y| x + y),
            Ast::Sub(a, b) => {
                let neg_b = b
                    .value()?
                    .binary(Num::Exact(Ratio::int(-1)), Ratio::mul, |x, y| x * y)?;
                a.value()?.binary(neg_b, Ratio::add, |x, y| x + y)
            }
            Ast::Mul(a, b) => a.value()?.binary(b.value()?, Ratio::mul, |x, y| x * y),
            Ast::Div(a, b) => {
                let b = b.value()?;
                if b.to_f64() == 0.0 {
                    return None;
                }
                a.value()?.binary(b, |x, y| x.mul(y.recip()?), |x, y| x / y)
            }
            Ast::Pow(a, b) => {
                let (base, exp) = (a.value()?, b.value()?);
                if let (Num::Exact(base), Num::Exact(exp)) = (base, exp) {
                    if exp.den == 1 {
                        if let Some(r) = base.powi(exp.num) {
                            return Some(Num::Exact(r));
                        }
                    } else if let Ok(k) = u32::try_from(exp.den)
                        && let Some(r) = base.root(k).and_then(|r| r.powi(exp.num))
                    {
                        return Some(Num::Exact(r));
                    }
                }
                Num::approx(base.to_f64().powf(exp.to_f64()))
            }
            Ast::Abs(a) => {
                let x = a.value()?;
                if x.to_f64() < 0.0 {
                    x.binary(Num::Exact(Ratio::int(-1)), Ratio::mul, |x, y| x * y)
                } else {
                    Some(x)
                }
            }
            Ast::Root(k, a) => {
                let x = a.value()?;
                if let Num::Exact(r) = x
                    && let Some(root) = r.root(*k)
                {
                    return Some(Num::Exact(root));
                }
                Num::approx(real_root(x.to_f64(), *k))
            }
        }
    }

    /// The value with each variable set by `var`; NaN where undefined.
    pub(super) fn eval(&self, var: &dyn Fn(&str) -> f64) -> f64 {
        match self {
            Ast::Lit(n) => n.to_f64(),
            Ast::Var(name) => var(name),
            Ast::Pi => std::f64::consts::PI,
            Ast::Neg(a) => -a.eval(var),
            Ast::Add(a, b) => a.eval(var) + b.eval(var),
            Ast::Sub(a, b) => a.eval(var) - b.eval(var),
            Ast::Mul(a, b) => a.eval(var) * b.eval(var),
            Ast::Div(a, b) => a.eval(var) / b.eval(var),
            Ast::Pow(a, b) => a.eval(var).powf(b.eval(var)),
            Ast::Root(k, a) => real_root(a.eval(var), *k),
            Ast::Abs(a) => a.eval(var).abs(),
        }
    }
}

fn real_root(x: f64, k: u32) -> f64 {
    if x < 0.0 && k % 2 == 1 {
        -(-x).powf(1.0 / f64::from(k))
    } else {
        x.powf(1.0 / f64::from(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> Option<String> {
        parse(s)?.value().map(|n| n.to_string())
    }

    #[test]
    fn exact_values() {
        let table = [
            ("1/2", "1/2"),
            ("\\frac{3}{6}", "1/2"),
            ("0.50", "1/2"),
            ("-\\frac{-1}{2}", "1/2"),
            ("2\\frac{1}{4}", "9/4"),
            ("10^{10}", "10000000000"),
            ("2^{-2}", "1/4"),
            ("\\sqrt{16}", "4"),
            ("\\sqrt[3]{-27}", "-3"),
            ("8^{2/3}", "4"),
            ("3(2+1)", "9"),
            ("1.5\\times10^3", "1500"),
            ("2\\cdot3-4/2", "4"),
            ("-3^2", "-9"),
        ];
        for (input, expected) in table {
            assert_eq!(value(input).as_deref(), Some(expected), "{input:?}");
        }
    }

    #[test]
    fn approximate_and_undefined_values() {
        let sqrt2 = parse("\\sqrt{2}").unwrap().value().unwrap();
        assert!(matches!(sqrt2, Num::Approx(_)));
        let half = parse("\\frac{\\sqrt{2}}{2}").unwrap().value().unwrap();
        let inv = parse("\\frac{1}{\\sqrt{2}}").unwrap().value().unwrap();
        assert!(half.equals(inv));
        assert_eq!(value("1/0"), None);
        assert_eq!(value("\\sqrt{-4}"), None);
        assert!(parse("x+1").unwrap().has_vars());
        for bad in ["odd", "\\infty", "1=1", "(1", "2+", "\\sin x"] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }
}
