//! A method's identity as records, sweeps, policy files and reports carry it.
//!
//! [`MethodId`] is one method setting: the method ([`MethodSpec`]), the verifier it
//! ran against when that is not the run's own, its [`Family`], and parameters the
//! method text does not name (a temperature, say). Files write it as three fields,
//! the same in every file that holds one:
//!
//! ```json
//! {"method": "beam-m4@demo-step-checker", "family": "diagnostic", "params": {"temperature": 0.8}}
//! ```
//!
//! - `method`: the label, `METHOD` or `METHOD@VERIFIER`, where `METHOD` is
//!   [`MethodSpec`]'s text (which never holds `@`) and `VERIFIER` names the verifier
//!   the run was scored by instead of the run's `[verifier]`;
//! - `family`: [`Family`]'s name; it must be the method's own family, or
//!   `diagnostic` for a run against a named verifier that no policy may choose;
//!   left out, it is the method's own family;
//! - `params`: scalar settings ([`Param`]) by name; left out when empty.
//!
//! Its text ([`MethodId::key`], also its `Display`) is the label followed by the
//! params in key order in braces: `beam-m4`, `beam-m4{temperature=0.8}`. Two runs
//! are of the same setting exactly when their keys are equal.
//!
//! **Room to grow without a format change.** A new method (e.g. `greedy`) is a new
//! [`MethodSpec`] variant with its own text; a new verifier (a built-in `confidence`
//! verifier, a second reward model) is a new `@VERIFIER` name, deployable
//! ([`MethodId::scored_by`], family unchanged, so a policy may choose it) or
//! diagnostic ([`MethodId::diagnostic`]); a new setting is a new param. None of them
//! adds a field, so older files keep loading.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Family, MethodSpec, Result};

/// One scalar setting of a method beyond its text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Param {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl fmt::Display for Param {
    /// As keys write it: `true`, `40`, `0.8` (an f64 as Rust prints it, `4` for 4.0),
    /// `"last"` (text quoted).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Param::Bool(b) => write!(f, "{b}"),
            Param::Int(i) => write!(f, "{i}"),
            Param::Float(x) => write!(f, "{x}"),
            Param::Text(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<bool> for Param {
    fn from(b: bool) -> Self {
        Param::Bool(b)
    }
}

impl From<i64> for Param {
    fn from(i: i64) -> Self {
        Param::Int(i)
    }
}

impl From<f64> for Param {
    fn from(x: f64) -> Self {
        Param::Float(x)
    }
}

impl From<&str> for Param {
    fn from(s: &str) -> Self {
        Param::Text(s.to_string())
    }
}

/// A method's params by name, in key order.
pub type Params = BTreeMap<String, Param>;

/// A method setting: method, optional verifier, family and params (see the module
/// docs for the file shape). The fields are private so that every value is valid:
/// the family fits the method, the verifier's name and the params can be written
/// as a key and read back.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodId {
    method: MethodSpec,
    verifier: Option<String>,
    family: Family,
    params: Params,
}

impl From<MethodSpec> for MethodId {
    fn from(method: MethodSpec) -> Self {
        MethodId::new(method)
    }
}

impl MethodId {
    /// The method against the run's own verifier, in its own family, without params.
    pub fn new(method: MethodSpec) -> Self {
        MethodId {
            method,
            verifier: None,
            family: method.family(),
            params: Params::new(),
        }
    }

    /// The same setting with `params` (replacing any). Fails on an empty name, a name
    /// holding one of `{},=`, or a number that is not finite.
    pub fn with_params(mut self, params: Params) -> Result<Self> {
        for (name, value) in &params {
            check_param(name, value)?;
        }
        self.params = params;
        Ok(self)
    }

    /// The same method scored by the verifier `name` instead of the run's own, in
    /// its own family: a deployable alternative that a policy may choose.
    pub fn scored_by(mut self, name: &str) -> Result<Self> {
        self.verifier = Some(check_verifier(name)?);
        Ok(self)
    }

    /// The same method scored by the verifier `name`, in family `diagnostic`: shown
    /// beside the run's own methods, never chosen by a policy (such a verifier may
    /// know more than any deployable one, as the demo's exact step checker does).
    pub fn diagnostic(self, name: &str) -> Result<Self> {
        let mut id = self.scored_by(name)?;
        id.family = Family::Diagnostic;
        Ok(id)
    }

    /// Reads the three fields of a file. `family` left out is the method's own.
    pub fn from_fields(label: &str, family: Option<Family>, params: Params) -> Result<Self> {
        let (method, verifier) = MethodId::parse_label(label)?;
        let id = MethodId::new(method).with_params(params)?;
        let id = match (verifier, family) {
            (None, None) => id,
            (None, Some(f)) if f == method.family() => id,
            (None, Some(f)) => {
                return Err(Error::invalid(
                    format!("family of method {label:?}"),
                    format!(
                        "`{}` is not its family `{}`{}",
                        f.name(),
                        method.family().name(),
                        if f == Family::Diagnostic {
                            "; a diagnostic run names its verifier, METHOD@VERIFIER"
                        } else {
                            ""
                        }
                    ),
                ));
            }
            (Some(v), Some(Family::Diagnostic)) => id.diagnostic(&v)?,
            (Some(v), None) => id.scored_by(&v)?,
            (Some(v), Some(f)) if f == method.family() => id.scored_by(&v)?,
            (Some(_), Some(f)) => {
                return Err(Error::invalid(
                    format!("family of method {label:?}"),
                    format!(
                        "`{}` is neither its family `{}` nor `diagnostic`",
                        f.name(),
                        method.family().name()
                    ),
                ));
            }
        };
        Ok(id)
    }

    /// Splits a label, `METHOD` or `METHOD@VERIFIER`, into the method and the
    /// verifier's name; the error says what a label looks like.
    pub fn parse_label(label: &str) -> Result<(MethodSpec, Option<String>)> {
        let (method, verifier) = match label.split_once('@') {
            Some((m, v)) => (m, Some(v)),
            None => (label, None),
        };
        let method: MethodSpec = method.parse()?;
        let verifier = verifier.map(check_verifier).transpose()?;
        Ok((method, verifier))
    }

    pub fn method(&self) -> MethodSpec {
        self.method
    }

    /// The verifier the run was scored by, when not the run's own.
    pub fn verifier(&self) -> Option<&str> {
        self.verifier.as_deref()
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The same setting against the run's own verifier, in the method's family.
    pub fn without_verifier(&self) -> MethodId {
        MethodId {
            verifier: None,
            family: self.method.family(),
            ..self.clone()
        }
    }

    /// `METHOD` or `METHOD@VERIFIER`: the `method` field of files.
    pub fn label(&self) -> String {
        match &self.verifier {
            Some(v) => format!("{}@{v}", self.method),
            None => self.method.to_string(),
        }
    }

    /// The label, then the params in key order in braces:
    /// `beam-m4{aggregation="last",temperature=0.8}`.
    pub fn key(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for MethodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())?;
        if !self.params.is_empty() {
            f.write_str("{")?;
            for (i, (k, v)) in self.params.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{k}={v}")?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

fn check_verifier(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.trim() == name
        && !name.contains(['{', '}'])
        && !name.chars().any(char::is_control);
    if ok {
        Ok(name.to_string())
    } else {
        Err(Error::invalid(
            "verifier name",
            format!(
                "{name:?} cannot name a verifier in a method label (METHOD@VERIFIER): it must \
                 be non-empty, without surrounding spaces, braces or control characters"
            ),
        ))
    }
}

fn check_param(name: &str, value: &Param) -> Result<()> {
    if name.is_empty() || name.contains(['{', '}', ',', '=']) {
        return Err(Error::invalid(
            "method parameter",
            format!("{name:?} cannot be a parameter name: give a non-empty name without {{}},="),
        ));
    }
    if let Param::Float(x) = value
        && !x.is_finite()
    {
        return Err(Error::invalid(
            "method parameter",
            format!("`{name}` is {x}; use a finite number"),
        ));
    }
    Ok(())
}

impl Serialize for Family {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Family {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Family::from_name(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "family {text:?} is not one; use best-of-n, search, revisions or diagnostic"
            ))
        })
    }
}

/// The file shape of [`MethodId`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdFields {
    method: String,
    #[serde(default)]
    family: Option<Family>,
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    params: Params,
}

impl Serialize for MethodId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        IdFields {
            method: self.label(),
            family: Some(self.family),
            params: self.params.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for MethodId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let f = IdFields::deserialize(d)?;
        MethodId::from_fields(&f.method, f.family, f.params).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Selector;

    fn beam() -> MethodSpec {
        "beam-m4".parse().unwrap()
    }

    #[test]
    fn keys_are_the_label_then_params_in_key_order() {
        let id = MethodId::new(beam())
            .with_params(Params::from([
                ("temperature".into(), Param::Float(0.8)),
                ("aggregation".into(), Param::from("last")),
                ("rounds".into(), Param::Int(40)),
                ("chat".into(), Param::Bool(false)),
            ]))
            .unwrap();
        assert_eq!(
            id.key(),
            "beam-m4{aggregation=\"last\",chat=false,rounds=40,temperature=0.8}"
        );
        assert_eq!(MethodId::new(beam()).key(), "beam-m4");
        let whole = MethodId::new(beam())
            .with_params(Params::from([("ratio".into(), Param::Float(4.0))]))
            .unwrap();
        assert_eq!(whole.key(), "beam-m4{ratio=4}");
    }

    #[test]
    fn fields_round_trip_and_family_defaults_to_the_methods() {
        let diag = MethodId::new(beam())
            .diagnostic("demo-step-checker")
            .unwrap()
            .with_params(Params::from([("temperature".into(), Param::Float(0.8))]))
            .unwrap();
        let json = serde_json::to_string(&diag).unwrap();
        assert_eq!(
            json,
            r#"{"method":"beam-m4@demo-step-checker","family":"diagnostic","params":{"temperature":0.8}}"#
        );
        assert_eq!(serde_json::from_str::<MethodId>(&json).unwrap(), diag);
        assert_eq!(diag.key(), "beam-m4@demo-step-checker{temperature=0.8}");
        assert_eq!(diag.without_verifier().key(), "beam-m4{temperature=0.8}");
        assert_eq!(diag.without_verifier().family(), Family::Search);

        let plain: MethodId = serde_json::from_str(r#"{"method":"majority"}"#).unwrap();
        assert_eq!(
            plain,
            MethodId::new(MethodSpec::BestOfN {
                selector: Selector::Majority
            })
        );
        assert_eq!(plain.family(), Family::BestOfN);
        // A deployable second verifier keeps the method's family.
        let alt: MethodId =
            serde_json::from_str(r#"{"method":"beam-m4@confidence","family":"search"}"#).unwrap();
        assert_eq!(
            (alt.verifier(), alt.family()),
            (Some("confidence"), Family::Search)
        );
        let alt: MethodId = serde_json::from_str(r#"{"method":"dvts-m4@models/a@b"}"#).unwrap();
        assert_eq!(alt.verifier(), Some("models/a@b"));
    }

    #[test]
    fn bad_fields_say_what_is_wrong() {
        for (json, expect) in [
            (r#"{"method":"revise-4x4"}"#, "beam-mM"),
            (r#"{"method":"revise-c2x8-majority"}"#, "revise-rR"),
            (
                r#"{"method":"beam-m4","family":"revisions"}"#,
                "is not its family `search`",
            ),
            (
                r#"{"method":"beam-m4","family":"diagnostic"}"#,
                "METHOD@VERIFIER",
            ),
            (
                r#"{"method":"beam-m4@v","family":"best-of-n"}"#,
                "nor `diagnostic`",
            ),
            (
                r#"{"method":"beam-m4@","family":"diagnostic"}"#,
                "cannot name a verifier",
            ),
            (
                r#"{"method":"beam-m4","family":"other"}"#,
                "use best-of-n, search",
            ),
            (
                r#"{"method":"beam-m4","params":{"a=b":1}}"#,
                "cannot be a parameter name",
            ),
            (r#"{"method":"beam-m4","flavour":1}"#, "unknown field"),
        ] {
            let err = serde_json::from_str::<MethodId>(json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{json}: {err}");
        }
        let err = MethodId::new(beam())
            .with_params(Params::from([("t".into(), Param::Float(f64::NAN))]))
            .unwrap_err();
        assert!(err.to_string().contains("`t` is NaN"), "{err}");
    }

    #[test]
    fn params_read_from_json_keep_their_types() {
        let p: Params =
            serde_json::from_str(r#"{"a":1,"b":0.5,"c":"s","d":true,"e":4.0}"#).unwrap();
        assert_eq!(p["a"], Param::Int(1));
        assert_eq!(p["b"], Param::Float(0.5));
        assert_eq!(p["c"], Param::Text("s".into()));
        assert_eq!(p["d"], Param::Bool(true));
        assert_eq!(p["e"], Param::Float(4.0));
        // Written back as read: a float stays a float.
        assert_eq!(serde_json::to_string(&p["e"]).unwrap(), "4.0");
    }
}
