//! The solution sets of one-variable inequalities, as unions of intervals.
//!
//! `|x-1| < 2`, `-1 < x < 3`, `x > -1 \text{ and } x < 3` and `(-1, 3)` all
//! describe one set of reals; so do `x \le -1 \text{ or } x \ge 3`, `|x-1| \ge 2`
//! and `(-\infty, -1] \cup [3, \infty)`. A side is read when it is a polynomial of
//! degree one or two in one variable (roots exact when rational, else compared
//! within 1e-9), or the absolute value of one against a constant; anything else
//! has no solution set here, and is compared as it is written.

use std::cmp::Ordering;

use super::expr::{Ast, Num};
use super::{Node, Rel};

/// One end of an interval: a value (`None`: infinite) and whether it belongs.
#[derive(Clone, Copy, Debug)]
struct End {
    at: Option<Num>,
    closed: bool,
}

/// An interval `lo..hi`; `lo.at == None` is -infinity, `hi.at == None` +infinity.
#[derive(Clone, Copy, Debug)]
struct Interval {
    lo: End,
    hi: End,
}

/// A union of disjoint intervals in increasing order, and the variable it is
/// about (`None` for a bare interval such as `(-1, 3)`).
#[derive(Clone, Debug)]
pub(super) struct SolutionSet {
    var: Option<String>,
    parts: Vec<Interval>,
}

fn value(n: Num) -> f64 {
    n.to_f64()
}

/// Orders two finite-or-infinite values; `low` says how `None` reads (-inf or +inf).
fn cmp_at(a: Option<Num>, a_low: bool, b: Option<Num>, b_low: bool) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) if x.equals(y) => Ordering::Equal,
        (Some(x), Some(y)) => value(x).total_cmp(&value(y)),
        (None, None) if a_low == b_low => Ordering::Equal,
        (None, _) => {
            if a_low {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (_, None) => {
            if b_low {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

impl Interval {
    fn point(at: Num) -> Interval {
        let end = End {
            at: Some(at),
            closed: true,
        };
        Interval { lo: end, hi: end }
    }

    fn is_empty(&self) -> bool {
        match cmp_at(self.lo.at, true, self.hi.at, false) {
            Ordering::Greater => true,
            Ordering::Equal => !(self.lo.closed && self.hi.closed),
            Ordering::Less => false,
        }
    }

    fn intersect(&self, other: &Interval) -> Interval {
        let lo = match cmp_at(self.lo.at, true, other.lo.at, true) {
            Ordering::Less => other.lo,
            Ordering::Greater => self.lo,
            Ordering::Equal => End {
                at: self.lo.at,
                closed: self.lo.closed && other.lo.closed,
            },
        };
        let hi = match cmp_at(self.hi.at, false, other.hi.at, false) {
            Ordering::Less => self.hi,
            Ordering::Greater => other.hi,
            Ordering::Equal => End {
                at: self.hi.at,
                closed: self.hi.closed && other.hi.closed,
            },
        };
        Interval { lo, hi }
    }
}

/// Sorts, drops empty intervals and merges those that overlap or touch at a point
/// one of them contains.
fn normalise(mut parts: Vec<Interval>) -> Vec<Interval> {
    parts.retain(|p| !p.is_empty());
    parts.sort_by(|a, b| {
        cmp_at(a.lo.at, true, b.lo.at, true).then_with(|| b.lo.closed.cmp(&a.lo.closed))
    });
    let mut out: Vec<Interval> = Vec::with_capacity(parts.len());
    for p in parts {
        if let Some(last) = out.last_mut() {
            let joins = match cmp_at(p.lo.at, true, last.hi.at, false) {
                Ordering::Less => true,
                Ordering::Equal => p.lo.closed || last.hi.closed,
                Ordering::Greater => false,
            };
            if joins {
                match cmp_at(p.hi.at, false, last.hi.at, false) {
                    Ordering::Greater => last.hi = p.hi,
                    Ordering::Equal => last.hi.closed |= p.hi.closed,
                    Ordering::Less => {}
                }
                continue;
            }
        }
        out.push(p);
    }
    out
}

impl SolutionSet {
    fn union(self, other: SolutionSet) -> Option<SolutionSet> {
        let var = same_var(self.var, other.var)?;
        let mut parts = self.parts;
        parts.extend(other.parts);
        Some(SolutionSet {
            var,
            parts: normalise(parts),
        })
    }

    fn intersect(self, other: SolutionSet) -> Option<SolutionSet> {
        let var = same_var(self.var, other.var)?;
        let parts = self
            .parts
            .iter()
            .flat_map(|a| other.parts.iter().map(move |b| a.intersect(b)))
            .collect();
        Some(SolutionSet {
            var,
            parts: normalise(parts),
        })
    }

    /// The same set of reals, about the same variable when both name one.
    pub(super) fn equals(&self, other: &SolutionSet) -> bool {
        if let (Some(a), Some(b)) = (&self.var, &other.var)
            && a != b
        {
            return false;
        }
        let end_eq = |a: End, b: End, low: bool| {
            cmp_at(a.at, low, b.at, low) == Ordering::Equal && a.closed == b.closed
        };
        self.parts.len() == other.parts.len()
            && self
                .parts
                .iter()
                .zip(&other.parts)
                .all(|(a, b)| end_eq(a.lo, b.lo, true) && end_eq(a.hi, b.hi, false))
    }
}

/// Two sets combine only when they speak of one variable (or one is a bare set).
fn same_var(a: Option<String>, b: Option<String>) -> Option<Option<String>> {
    match (a, b) {
        (Some(a), Some(b)) if a != b => None,
        (Some(a), _) | (_, Some(a)) => Some(Some(a)),
        (None, None) => Some(None),
    }
}

const MAX_DEGREE: usize = 4;

/// The coefficients (constant first) of `ast` as a polynomial in `var`, or `None`
/// when it is not one (another variable, a variable under a root, in a
/// denominator, in an absolute value, or a degree above four).
fn poly(ast: &Ast, var: &str) -> Option<Vec<Num>> {
    let p = match ast {
        Ast::Lit(n) => vec![*n],
        Ast::Pi | Ast::Root(..) | Ast::Abs(_) if !ast.has_vars() => vec![ast.value()?],
        Ast::Var(v) if v == var => vec![Num::int(0), Num::int(1)],
        Ast::Neg(a) => poly(a, var)?
            .into_iter()
            .map(Num::neg)
            .collect::<Option<_>>()?,
        Ast::Add(a, b) => add(&poly(a, var)?, &poly(b, var)?)?,
        Ast::Sub(a, b) => {
            let nb: Vec<Num> = poly(b, var)?
                .into_iter()
                .map(Num::neg)
                .collect::<Option<_>>()?;
            add(&poly(a, var)?, &nb)?
        }
        Ast::Mul(a, b) => mul(&poly(a, var)?, &poly(b, var)?)?,
        Ast::Div(a, b) => {
            let d = trim(poly(b, var)?);
            let [d] = d[..] else { return None };
            poly(a, var)?
                .into_iter()
                .map(|c| c.div(d))
                .collect::<Option<_>>()?
        }
        Ast::Pow(a, b) => {
            let e = b.value()?.to_f64();
            if e.fract() != 0.0 || !(0.0..=MAX_DEGREE as f64).contains(&e) {
                return None;
            }
            let base = poly(a, var)?;
            let mut out = vec![Num::int(1)];
            for _ in 0..e as usize {
                out = mul(&out, &base)?;
            }
            out
        }
        _ => return None,
    };
    let p = trim(p);
    (p.len() <= MAX_DEGREE + 1).then_some(p)
}

fn trim(mut p: Vec<Num>) -> Vec<Num> {
    while p.len() > 1 && p.last().is_some_and(|c| c.is_zero()) {
        p.pop();
    }
    p
}

fn add(a: &[Num], b: &[Num]) -> Option<Vec<Num>> {
    (0..a.len().max(b.len()))
        .map(|i| {
            let x = a.get(i).copied().unwrap_or(Num::int(0));
            let y = b.get(i).copied().unwrap_or(Num::int(0));
            x.add(y)
        })
        .collect()
}

fn mul(a: &[Num], b: &[Num]) -> Option<Vec<Num>> {
    if a.len() + b.len() > MAX_DEGREE + 2 {
        return None;
    }
    let mut out = vec![Num::int(0); a.len() + b.len() - 1];
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            out[i + j] = out[i + j].add(x.mul(*y)?)?;
        }
    }
    Some(out)
}

fn eval(p: &[Num], x: f64) -> f64 {
    p.iter().rev().fold(0.0, |acc, c| acc * x + c.to_f64())
}

/// The real roots of a polynomial of degree one or two, in increasing order.
fn roots(p: &[Num]) -> Option<Vec<Num>> {
    match *p {
        [c0, c1] => Some(vec![c0.neg()?.div(c1)?]),
        [c0, c1, c2] => {
            let disc = c1.mul(c1)?.add(Num::int(-4).mul(c2)?.mul(c0)?)?;
            let two_a = Num::int(2).mul(c2)?;
            if disc.is_zero() {
                return Some(vec![c1.neg()?.div(two_a)?]);
            }
            if disc.to_f64() < 0.0 {
                return Some(Vec::new());
            }
            let s = disc.sqrt()?;
            let mut r = vec![
                c1.neg()?.add(s.neg()?)?.div(two_a)?,
                c1.neg()?.add(s)?.div(two_a)?,
            ];
            r.sort_by(|a, b| a.to_f64().total_cmp(&b.to_f64()));
            Some(r)
        }
        _ => None,
    }
}

/// The set where `p rel 0` (rel one of `<`, `\le`, `=`, `\ne`).
fn solve_poly(p: &[Num], rel: Rel) -> Option<Vec<Interval>> {
    let roots = roots(p)?;
    let open = |at: Option<Num>| End { at, closed: false };
    let mut bounds: Vec<Option<Num>> = vec![None];
    bounds.extend(roots.iter().copied().map(Some));
    bounds.push(None);
    let mut parts = Vec::new();
    for w in bounds.windows(2) {
        let test = match (w[0], w[1]) {
            (None, None) => 0.0,
            (None, Some(b)) => b.to_f64() - 1.0,
            (Some(a), None) => a.to_f64() + 1.0,
            (Some(a), Some(b)) => (a.to_f64() + b.to_f64()) / 2.0,
        };
        let sign = eval(p, test);
        let keep = match rel {
            Rel::Lt | Rel::Le => sign < 0.0,
            Rel::Eq => false,
            Rel::Ne => true,
        };
        if keep {
            parts.push(Interval {
                lo: open(w[0]),
                hi: open(w[1]),
            });
        }
    }
    if matches!(rel, Rel::Le | Rel::Eq) {
        parts.extend(roots.into_iter().map(Interval::point));
    }
    Some(normalise(parts))
}

fn sub(a: Ast, b: Ast) -> Ast {
    Ast::Sub(Box::new(a), Box::new(b))
}

fn neg(a: Ast) -> Ast {
    Ast::Neg(Box::new(a))
}

/// The one variable of `asts`, if there is exactly one.
fn one_var(asts: &[&Ast]) -> Option<String> {
    let mut vars: Vec<String> = asts.iter().flat_map(|a| a.vars()).collect();
    vars.sort();
    vars.dedup();
    match &vars[..] {
        [v] => Some(v.clone()),
        _ => None,
    }
}

/// The set where `l rel r`.
fn solve_relation(rel: Rel, l: &Ast, r: &Ast) -> Option<SolutionSet> {
    let var = one_var(&[l, r])?;
    let set = |parts| SolutionSet {
        var: Some(var.clone()),
        parts,
    };
    let solve = |d: Ast, rel: Rel| -> Option<SolutionSet> {
        let p = poly(&d, &var)?;
        (p.len() >= 2).then_some(())?;
        Some(set(solve_poly(&p, rel)?))
    };
    if !l.has_abs() && !r.has_abs() {
        return solve(sub(l.clone(), r.clone()), rel);
    }
    // |P| rel c and c rel |P|, with c a constant.
    let (inner, c, abs_left) = match (l, r) {
        (Ast::Abs(p), c) if !c.has_vars() && !p.has_abs() => (p.as_ref(), c, true),
        (c, Ast::Abs(p)) if !c.has_vars() && !p.has_abs() => (p.as_ref(), c, false),
        _ => return None,
    };
    let (p, c) = (inner.clone(), c.clone());
    // |P| = c: P = c or P = -c; |P| != c: both unequal.
    let plus = if abs_left {
        sub(p.clone(), c.clone())
    } else {
        sub(c.clone(), p.clone())
    };
    let minus = if abs_left {
        sub(neg(p), c)
    } else {
        sub(c, neg(p))
    };
    let (a, b) = (solve(plus, rel)?, solve(minus, rel)?);
    match (rel, abs_left) {
        // |P| < c: P < c and -P < c; c < |P|: c < P or c < -P.
        (Rel::Lt | Rel::Le, true) | (Rel::Ne, _) => a.intersect(b),
        (Rel::Lt | Rel::Le, false) | (Rel::Eq, _) => a.union(b),
    }
}

/// An interval written as a tuple: `(a, b)`, `[a, b)`, ... with `\pm\infty` ends.
fn interval_of(open: &str, close: &str, items: &[Node]) -> Option<Interval> {
    let [lo, hi] = items else { return None };
    let end = |node: &Node, low: bool, closed: bool| -> Option<End> {
        match node {
            Node::Number(n) => Some(End {
                at: Some(*n),
                closed,
            }),
            Node::Text(t) if t == if low { "-\\infty" } else { "\\infty" } => Some(End {
                at: None,
                closed: false,
            }),
            _ => None,
        }
    };
    let lo = end(lo, true, open == "[")?;
    let hi = end(hi, false, close == "]")?;
    let iv = Interval { lo, hi };
    (matches!(open, "(" | "[") && matches!(close, ")" | "]") && !iv.is_empty()).then_some(iv)
}

/// The solution set a node describes, and whether it is written as an inequality
/// (so that the comparison by sets applies); `None` when it describes none.
pub(super) fn solution_set(node: &Node) -> Option<(SolutionSet, bool)> {
    match node {
        Node::Relation { rel, sides } => {
            let [l, r] = &sides[..] else { return None };
            let set = solve_relation(*rel, &l.as_ast()?, &r.as_ast()?)?;
            Some((set, *rel != Rel::Eq))
        }
        Node::Chain { rels, sides } => {
            let [a, m, b] = &sides[..] else { return None };
            let [r1, r2] = rels[..] else { return None };
            let m = m.as_ast()?;
            let left = solve_relation(r1, &a.as_ast()?, &m)?;
            let right = solve_relation(r2, &m, &b.as_ast()?)?;
            Some((left.intersect(right)?, true))
        }
        Node::Tuple { open, close, items } => Some((
            SolutionSet {
                var: None,
                parts: vec![interval_of(open, close, items)?],
            },
            false,
        )),
        Node::Number(n) => Some((
            SolutionSet {
                var: None,
                parts: vec![Interval::point(*n)],
            },
            false,
        )),
        Node::Assign { name, value, .. } => {
            let (set, inequality) = solution_set(value)?;
            let var = same_var(set.var, name.clone())?;
            Some((
                SolutionSet {
                    var,
                    parts: set.parts,
                },
                inequality,
            ))
        }
        Node::Set(items) | Node::All(items) => {
            let mut sets = items.iter().map(solution_set);
            let (mut acc, mut inequality) = sets.next()??;
            let mut points_only = matches!(items[0], Node::Number(_));
            for (item, next) in items[1..].iter().zip(sets) {
                let (set, ineq) = next?;
                inequality |= ineq;
                points_only &= matches!(item, Node::Number(_));
                acc = if matches!(node, Node::All(_)) {
                    acc.intersect(set)?
                } else {
                    acc.union(set)?
                };
            }
            (!points_only).then_some((acc, inequality))
        }
        _ => None,
    }
}
