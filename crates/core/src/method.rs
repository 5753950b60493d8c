//! A method's identity: one grammar for run files, records, policy files, reports
//! and the command line.
//!
//! | text | method |
//! |---|---|
//! | `greedy` | the generator's greedy answer (temperature 0): one generation, N = 1 |
//! | `majority`, `best-of-n-weighted`, `best-of-n-naive` | best-of-N with that selection rule |
//! | `beam-m4`, `beam-msqrt` | beam search, width 4 or sqrt N |
//! | `lookahead-m4-k1` | beam search scoring each step after k greedy steps |
//! | `dvts-m4` | diverse verifier tree search, subtrees of width 4 |
//! | `revise-r4`, `revise-r1/4` | revisions at sequential ratio (length / chains) 4 or 1/4 |
//! | `revise-r4-majority` | the same with its selection rule named (`-weighted`, `-naive`) |
//!
//! Ratios are powers of two. `Display` writes exactly what `FromStr` reads, and
//! serde uses the same text. What a record holds beside the method (the verifier,
//! the family, the params) is [`crate::MethodId`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result, Selector};

/// Beam width M: fixed, or sqrt(N) as the paper also sweeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BeamWidth {
    Fixed(usize),
    Sqrt,
}

impl BeamWidth {
    /// M for budget N: at least 1, at most N.
    pub fn resolve(self, budget: usize) -> usize {
        let m = match self {
            BeamWidth::Fixed(m) => m,
            BeamWidth::Sqrt => (budget as f64).sqrt().round() as usize,
        };
        m.clamp(1, budget.max(1))
    }
}

impl fmt::Display for BeamWidth {
    /// `m4`, `msqrt`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BeamWidth::Fixed(m) => write!(f, "m{m}"),
            BeamWidth::Sqrt => f.write_str("msqrt"),
        }
    }
}

impl FromStr for BeamWidth {
    type Err = Error;

    /// `m4`, `msqrt`, or as the command line writes it, `4` or `sqrt`.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.strip_prefix('m').unwrap_or(s);
        match t {
            "sqrt" => Ok(BeamWidth::Sqrt),
            m => m
                .parse()
                .ok()
                .filter(|&m: &usize| m >= 1)
                .map(BeamWidth::Fixed)
                .ok_or_else(|| {
                    Error::invalid(
                        "beam width",
                        format!("{s:?}: use a positive number or `sqrt`"),
                    )
                }),
        }
    }
}

/// Which kind of method: what policies choose between and reports group by.
/// Serde uses [`Family::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    BestOfN,
    Search,
    Revisions,
    /// A search method run against a diagnostic verifier (see
    /// [`crate::MethodId::diagnostic`]): reported, never chosen by a policy. No
    /// [`MethodSpec`] is of this family by itself.
    Diagnostic,
}

impl Family {
    /// `best-of-n`, `search`, `revisions`, `diagnostic`, as records name it.
    pub fn name(self) -> &'static str {
        match self {
            Family::BestOfN => "best-of-n",
            Family::Search => "search",
            Family::Revisions => "revisions",
            Family::Diagnostic => "diagnostic",
        }
    }

    /// The family named `name` ([`Family::name`]).
    pub fn from_name(name: &str) -> Option<Family> {
        [
            Family::BestOfN,
            Family::Search,
            Family::Revisions,
            Family::Diagnostic,
        ]
        .into_iter()
        .find(|f| f.name() == name)
    }
}

/// A method and its settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MethodSpec {
    /// One greedy (temperature 0) sample of the generator, no verifier: the cheapest
    /// baseline. Its budget is always N = 1 ([`MethodSpec::fixed_budget`]); it is of
    /// family best-of-N (best-of-1 at temperature 0), so a policy may choose it.
    Greedy,
    /// N full samples, then one answer by `selector`.
    BestOfN { selector: Selector },
    /// Step-level beam search; `lookahead` > 0 rolls each step out that many more steps.
    Beam { width: BeamWidth, lookahead: usize },
    /// Diverse verifier tree search.
    Dvts { width: BeamWidth },
    /// Revision chains at sequential ratio `ratio` (length / chains, a power of two);
    /// `selector` is the rule the text names, if any (else the run's default).
    Revise {
        ratio: f64,
        selector: Option<Selector>,
    },
}

impl MethodSpec {
    pub fn family(&self) -> Family {
        match self {
            MethodSpec::Greedy | MethodSpec::BestOfN { .. } => Family::BestOfN,
            MethodSpec::Beam { .. } | MethodSpec::Dvts { .. } => Family::Search,
            MethodSpec::Revise { .. } => Family::Revisions,
        }
    }

    /// The one budget the method runs at whatever budgets a sweep names: `greedy`
    /// spends exactly one generation. `None`: the method runs at every budget.
    pub fn fixed_budget(&self) -> Option<usize> {
        match self {
            MethodSpec::Greedy => Some(1),
            _ => None,
        }
    }

    /// Whether the method can take a difficulty probe's samples (independent full
    /// samples at the run's temperature) as its first samples: majority and
    /// best-of-N can; greedy decoding, step-level search and revisions cannot.
    pub fn reuses_probe_samples(&self) -> bool {
        matches!(self, MethodSpec::BestOfN { .. })
    }

    /// The selection rule the method names, if any.
    pub fn selector(&self) -> Option<Selector> {
        match *self {
            MethodSpec::BestOfN { selector } => Some(selector),
            MethodSpec::Revise { selector, .. } => selector,
            _ => None,
        }
    }
}

/// A sequential ratio as text: `4`, `1`, `1/4`.
pub fn ratio_text(ratio: f64) -> String {
    if ratio >= 1.0 {
        format!("{}", ratio.round() as u64)
    } else {
        format!("1/{}", (1.0 / ratio).round() as u64)
    }
}

/// Parses a sequential ratio: `4`, `0.25` or `1/4`, a power of two.
pub fn parse_ratio(text: &str) -> Result<f64> {
    let bad = || {
        Error::invalid(
            "sequential ratio",
            format!("{text:?} is not a power of two; write it as 4, 1, 0.25 or 1/4"),
        )
    };
    let t = text.trim();
    let value: f64 = match t.split_once('/') {
        Some((a, b)) => {
            let a: f64 = a.trim().parse().map_err(|_| bad())?;
            let b: f64 = b.trim().parse().map_err(|_| bad())?;
            a / b
        }
        None => t.parse().map_err(|_| bad())?,
    };
    let k = value.log2();
    if value.is_finite() && value > 0.0 && (k - k.round()).abs() < 1e-9 {
        Ok(value)
    } else {
        Err(bad())
    }
}

impl fmt::Display for MethodSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MethodSpec::Greedy => f.write_str("greedy"),
            MethodSpec::BestOfN {
                selector: Selector::Majority,
            } => f.write_str("majority"),
            MethodSpec::BestOfN { selector } => write!(f, "best-of-n-{}", selector.name()),
            MethodSpec::Beam {
                width,
                lookahead: 0,
            } => write!(f, "beam-{width}"),
            MethodSpec::Beam { width, lookahead } => write!(f, "lookahead-{width}-k{lookahead}"),
            MethodSpec::Dvts { width } => write!(f, "dvts-{width}"),
            MethodSpec::Revise { ratio, selector } => {
                write!(f, "revise-r{}", ratio_text(*ratio))?;
                match selector {
                    Some(s) => write!(f, "-{}", s.name()),
                    None => Ok(()),
                }
            }
        }
    }
}

impl FromStr for MethodSpec {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let width = |s: &str| {
            s.starts_with('m')
                .then(|| s.parse::<BeamWidth>().ok())
                .flatten()
        };
        let parsed = match text {
            "greedy" => Some(MethodSpec::Greedy),
            "majority" => Some(MethodSpec::BestOfN {
                selector: Selector::Majority,
            }),
            "best-of-n-weighted" => Some(MethodSpec::BestOfN {
                selector: Selector::Weighted,
            }),
            "best-of-n-naive" => Some(MethodSpec::BestOfN {
                selector: Selector::Naive,
            }),
            _ => match text.split('-').collect::<Vec<_>>().as_slice() {
                ["beam", w] => width(w).map(|width| MethodSpec::Beam {
                    width,
                    lookahead: 0,
                }),
                ["lookahead", w, k] => {
                    let k = k.strip_prefix('k').and_then(|k| k.parse().ok());
                    match (width(w), k) {
                        (Some(width), Some(lookahead)) if lookahead > 0 => {
                            Some(MethodSpec::Beam { width, lookahead })
                        }
                        _ => None,
                    }
                }
                ["dvts", w] => width(w).map(|width| MethodSpec::Dvts { width }),
                ["revise", r, rule @ ..] if rule.len() <= 1 => {
                    let selector = match rule {
                        [] => Some(None),
                        [name] => Selector::from_name(name).map(Some),
                        _ => None,
                    };
                    let ratio = r.strip_prefix('r').and_then(|r| parse_ratio(r).ok());
                    ratio
                        .zip(selector)
                        .map(|(ratio, selector)| MethodSpec::Revise { ratio, selector })
                }
                _ => None,
            },
        };
        parsed.ok_or_else(|| {
            Error::invalid(
                "method",
                format!(
                    "{text:?}: use greedy, majority, best-of-n-weighted, best-of-n-naive, beam-mM, \
                     beam-msqrt, lookahead-mM-kK, dvts-mM or revise-rR[-majority|-weighted|-naive] \
                     (R = chain length / chains, a power of two such as 4 or 1/4)"
                ),
            )
        })
    }
}

impl Serialize for MethodSpec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MethodSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_round_trips_through_its_text() {
        for text in [
            "greedy",
            "majority",
            "best-of-n-weighted",
            "best-of-n-naive",
            "beam-m4",
            "beam-msqrt",
            "lookahead-m4-k1",
            "lookahead-msqrt-k3",
            "dvts-m2",
            "revise-r4",
            "revise-r1",
            "revise-r1/4",
            "revise-r4-majority",
            "revise-r1/16-weighted",
            "revise-r1-naive",
        ] {
            let spec: MethodSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
            let json = serde_json::to_string(&spec).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<MethodSpec>(&json).unwrap(), spec);
        }
        assert_eq!(
            "revise-r1/4-majority".parse::<MethodSpec>().unwrap(),
            MethodSpec::Revise {
                ratio: 0.25,
                selector: Some(Selector::Majority)
            }
        );
    }

    #[test]
    fn greedy_is_best_of_one_at_one_budget() {
        let g: MethodSpec = "greedy".parse().unwrap();
        assert_eq!(g, MethodSpec::Greedy);
        assert_eq!(g.family(), Family::BestOfN);
        assert_eq!(g.fixed_budget(), Some(1));
        assert_eq!(g.selector(), None);
        assert!(!g.reuses_probe_samples());
        let m: MethodSpec = "majority".parse().unwrap();
        assert_eq!(m.fixed_budget(), None);
        assert!(m.reuses_probe_samples());
        assert!(
            !"beam-m4"
                .parse::<MethodSpec>()
                .unwrap()
                .reuses_probe_samples()
        );
        assert!(
            !"revise-r4"
                .parse::<MethodSpec>()
                .unwrap()
                .reuses_probe_samples()
        );
    }

    #[test]
    fn bad_methods_name_the_grammar() {
        for text in [
            "best-of-n",
            "beam-4",
            "beam-m0",
            "lookahead-m4-k0",
            "revise-r3",
            "revise-r4-best",
            "dvts",
            "greedy-m4",
        ] {
            let err = text.parse::<MethodSpec>().unwrap_err().to_string();
            assert!(err.contains(text) && err.contains("beam-mM"), "{err}");
        }
    }
}
