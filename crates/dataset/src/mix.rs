//! The knobs of the demo world and their distribution.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{DatasetError, Result};

/// The largest number of steps (operations) in a demo problem.
pub const MAX_STEPS: u8 = 16;
/// The largest size of the start number and of `+`/`-` operands, in decimal digits
/// (`x` always multiplies by a single digit, 2 to 9).
pub const MAX_DIGITS: u8 = 2;

/// One arithmetic operation of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpKind {
    /// `+`, "Add n."
    Add,
    /// `-`, "Subtract n."
    Sub,
    /// `x`, "Multiply by n.": by a single digit 2-9, on values below 100.
    Mul,
}

impl OpKind {
    /// All operations, in a fixed order.
    pub const ALL: [OpKind; 3] = [OpKind::Add, OpKind::Sub, OpKind::Mul];

    /// The symbol used in solution lines: `+`, `-` or `x`.
    pub fn symbol(self) -> char {
        match self {
            OpKind::Add => '+',
            OpKind::Sub => '-',
            OpKind::Mul => 'x',
        }
    }

    /// The instruction used in problem texts: `Add`, `Subtract` or `Multiply by`.
    pub fn verb(self) -> &'static str {
        match self {
            OpKind::Add => "Add",
            OpKind::Sub => "Subtract",
            OpKind::Mul => "Multiply by",
        }
    }

    /// Applies the operation; `None` on a negative result or overflow.
    pub fn apply(self, value: u32, operand: u32) -> Option<u32> {
        match self {
            OpKind::Add => value.checked_add(operand),
            OpKind::Sub => value.checked_sub(operand),
            OpKind::Mul => value.checked_mul(operand),
        }
    }

    fn bit(self) -> u8 {
        match self {
            OpKind::Add => 1,
            OpKind::Sub => 2,
            OpKind::Mul => 4,
        }
    }
}

/// A non-empty set of operations. Written in config as a list
/// (`["add", "sub", "mul"]`) and displayed as its symbols (`+-x`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<OpKind>", into = "Vec<OpKind>")]
pub struct OpSet(u8);

impl OpSet {
    /// `+` and `-`.
    pub const ADD_SUB: OpSet = OpSet(3);
    /// `+`, `-` and `x`.
    pub const ALL: OpSet = OpSet(7);

    /// The set of the given operations; an error when empty.
    pub fn new(ops: &[OpKind]) -> Result<Self> {
        let bits = ops.iter().fold(0, |acc, op| acc | op.bit());
        if bits == 0 {
            return Err(DatasetError::InvalidConfig(
                "an operator set is empty; list at least one of \"add\", \"sub\", \"mul\"".into(),
            ));
        }
        Ok(OpSet(bits))
    }

    /// Whether `op` is in the set.
    pub fn contains(self, op: OpKind) -> bool {
        self.0 & op.bit() != 0
    }

    /// The operations of the set, in the order add, sub, mul.
    pub fn iter(self) -> impl Iterator<Item = OpKind> {
        OpKind::ALL.into_iter().filter(move |op| self.contains(*op))
    }
}

impl TryFrom<Vec<OpKind>> for OpSet {
    type Error = DatasetError;
    fn try_from(ops: Vec<OpKind>) -> Result<Self> {
        OpSet::new(&ops)
    }
}

impl From<OpSet> for Vec<OpKind> {
    fn from(set: OpSet) -> Self {
        set.iter().collect()
    }
}

impl fmt::Display for OpSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.iter().try_for_each(|op| write!(f, "{}", op.symbol()))
    }
}

impl fmt::Debug for OpSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OpSet({self})")
    }
}

/// One component of the [`DifficultyMix`]: a weight and ranges for the knobs.
///
/// A problem drawn from it has a number of steps uniform in
/// `min_steps..=max_steps`, an operand size uniform in `min_digits..=max_digits`
/// (the start number and every `+`/`-` operand have that many digits), and each
/// step's operation drawn uniformly from those of `operators` that keep the value in
/// range. A `+`/`-` step carries (or borrows) in its units digit with probability
/// `carry` where both kinds of operand exist: carries are where small models slip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MixComponent {
    /// A name for reports, e.g. `easy`.
    pub name: String,
    /// Relative weight (> 0); weights need not sum to 1.
    pub weight: f64,
    /// Fewest steps, 1 to 8.
    pub min_steps: u8,
    /// Most steps, `min_steps` to 8.
    pub max_steps: u8,
    /// Smallest operand size in digits, 1 to 3.
    pub min_digits: u8,
    /// Largest operand size in digits, `min_digits` to 3.
    pub max_digits: u8,
    /// Operations steps may use.
    pub operators: OpSet,
    /// Probability, 0 to 1, that a `+`/`-` step carries or borrows in its units digit.
    pub carry: f64,
}

impl MixComponent {
    fn check(&self) -> Result<()> {
        let bad = |what: String| {
            Err(DatasetError::InvalidConfig(format!(
                "difficulty-mix component {:?}: {what}",
                self.name
            )))
        };
        if !(self.weight.is_finite() && self.weight > 0.0) {
            return bad(format!(
                "weight is {}, it must be a positive number",
                self.weight
            ));
        }
        if !(1 <= self.min_steps && self.min_steps <= self.max_steps && self.max_steps <= MAX_STEPS)
        {
            return bad(format!(
                "steps {}..={} must satisfy 1 <= min-steps <= max-steps <= {MAX_STEPS}",
                self.min_steps, self.max_steps
            ));
        }
        if !(1 <= self.min_digits
            && self.min_digits <= self.max_digits
            && self.max_digits <= MAX_DIGITS)
        {
            return bad(format!(
                "digits {}..={} must satisfy 1 <= min-digits <= max-digits <= {MAX_DIGITS}",
                self.min_digits, self.max_digits
            ));
        }
        if !(0.0..=1.0).contains(&self.carry) {
            return bad(format!(
                "carry is {}, it must be a probability from 0 to 1",
                self.carry
            ));
        }
        Ok(())
    }
}

/// The distribution of the knobs (steps, digits, operators) over demo problems:
/// a weighted mixture of [`MixComponent`]s.
///
/// Every step kind is one a small model learns; difficulty comes from the length of
/// the chain and its share of carries, so a model that slips now and then has a
/// pass@1 that falls smoothly with both. The default:
///
/// | component | weight | steps | digits | operators | carry |
/// |---|---|---|---|---|---|
/// | easy | 0.20 | 1-4 | 1-2 | + - | 0.2 |
/// | medium | 0.30 | 4-8 | 1-2 | + - x | 0.4 |
/// | hard | 0.30 | 8-12 | 2 | + - x | 0.5 |
/// | very-hard | 0.20 | 12-16 | 2 | + - x | 0.6 |
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DifficultyMix {
    /// The components; at least one.
    pub components: Vec<MixComponent>,
}

impl Default for DifficultyMix {
    fn default() -> Self {
        let component =
            |name: &str, weight, steps: (u8, u8), digits: (u8, u8), operators, carry| {
                MixComponent {
                    name: name.to_owned(),
                    weight,
                    min_steps: steps.0,
                    max_steps: steps.1,
                    min_digits: digits.0,
                    max_digits: digits.1,
                    operators,
                    carry,
                }
            };
        DifficultyMix {
            components: vec![
                component("easy", 0.20, (1, 4), (1, 2), OpSet::ADD_SUB, 0.2),
                component("medium", 0.30, (4, 8), (1, 2), OpSet::ALL, 0.4),
                component("hard", 0.30, (8, 12), (2, 2), OpSet::ALL, 0.5),
                component("very-hard", 0.20, (12, 16), (2, 2), OpSet::ALL, 0.6),
            ],
        }
    }
}

impl DifficultyMix {
    /// Checks every range and weight; the error names the component and the bound.
    pub fn validate(&self) -> Result<()> {
        if self.components.is_empty() {
            return Err(DatasetError::InvalidConfig(
                "the difficulty mix has no components; give at least one".into(),
            ));
        }
        self.components.iter().try_for_each(MixComponent::check)
    }

    pub(crate) fn total_weight(&self) -> f64 {
        self.components.iter().map(|c| c.weight).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mix_is_valid_and_covers_every_knob_value() {
        let mix = DifficultyMix::default();
        mix.validate().unwrap();
        for steps in 1..=MAX_STEPS {
            assert!(
                mix.components
                    .iter()
                    .any(|c| (c.min_steps..=c.max_steps).contains(&steps))
            );
        }
        for digits in 1..=MAX_DIGITS {
            assert!(
                mix.components
                    .iter()
                    .any(|c| (c.min_digits..=c.max_digits).contains(&digits))
            );
        }
    }

    #[test]
    fn op_set_round_trips_through_json_and_rejects_empty() {
        let json = serde_json::to_string(&OpSet::ALL).unwrap();
        assert_eq!(json, r#"["add","sub","mul"]"#);
        assert_eq!(serde_json::from_str::<OpSet>(&json).unwrap(), OpSet::ALL);
        let err = serde_json::from_str::<OpSet>("[]").unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
        assert_eq!(OpSet::ADD_SUB.to_string(), "+-");
    }

    #[test]
    fn validate_names_the_component_and_bound() {
        let mut mix = DifficultyMix::default();
        mix.components[2].max_steps = 17;
        let err = mix.validate().unwrap_err().to_string();
        assert!(err.contains("\"hard\"") && err.contains("17"), "{err}");
        mix.components[2].max_steps = 12;
        mix.components[1].carry = 1.5;
        let err = mix.validate().unwrap_err().to_string();
        assert!(err.contains("\"medium\"") && err.contains("carry"), "{err}");
        mix.components[1].carry = 0.4;
        mix.components[0].weight = 0.0;
        let err = mix.validate().unwrap_err().to_string();
        assert!(err.contains("\"easy\"") && err.contains("weight"), "{err}");
        let err = DifficultyMix { components: vec![] }.validate().unwrap_err();
        assert!(err.to_string().contains("no components"));
    }

    #[test]
    fn unknown_config_keys_are_rejected() {
        let err = serde_json::from_str::<DifficultyMix>(r#"{"components": [], "extra": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("extra"), "{err}");
    }
}
