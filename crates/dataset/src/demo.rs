//! The demo world: seeded multi-step arithmetic problems with step-by-step solutions.
//!
//! A problem is a chain of operations applied left to right to a start number:
//!
//! ```text
//! Start with 37. Add 5. Multiply by 3. Subtract 8. What is the result?
//! ```
//!
//! Its solution has one step per line and ends with the answer line:
//!
//! ```text
//! 37 + 5 = 42
//! 42 x 3 = 126
//! 126 - 8 = 118
//! Answer: 118
//! ```
//!
//! Every step is one a small model can learn: `+` and `-` with 1-2-digit operands
//! on values up to [`MAX_VALUE`] (999), and `x` by a single digit 2-9 on values
//! below 100. Values never go below 0: an operation that would leave the range is
//! not drawn for that step. Difficulty comes from the number of steps (1 to 16) and
//! the share of steps that carry or borrow in the units digit, so a model whose
//! errors are occasional slips, not missing skills, has a pass@1 that falls
//! smoothly with both. The knobs come from a [`DifficultyMix`]; [`Chain::level`]
//! derives a level 1-5 from them.
//!
//! **Slips.** [`Chain::slipped_solution`] writes a solution with controlled slips
//! (a forgotten carry or borrow, a multiplication off by one multiple, a units digit
//! off by one; later steps follow the wrong value), at per-kind [`SlipRates`]. The
//! demo generator's training file uses them so that the trained model slips now and
//! then, as real models do, instead of never or always.
//!
//! **Splits.** Every problem belongs to exactly one [`Split`], a function of a
//! stable hash of its text ([`split_of`]): 5% validation, 5% test, 90% train. The
//! training stream skips any problem that is not in `train`, and the fixed sets keep
//! only their own split, so the three are disjoint by construction, whatever the
//! seed. The validation and test sets are the first [`FIXED_SPLIT_SIZE`] distinct
//! problems of their split drawn from built-in seeds.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde_json::{Map, Value};
use ttc_core::hash::{fnv1a, splitmix64_finalize};

use crate::error::{DatasetError, Result};
use crate::jsonl::write_jsonl;
use crate::mix::{DifficultyMix, MixComponent, OpKind, OpSet};
use crate::record::Problem;

/// The largest value a chain may reach (the start, each intermediate and the answer).
pub const MAX_VALUE: u32 = 999;
/// `x` steps multiply values below this by a single digit.
const MUL_BELOW: u32 = 100;
/// The size of the fixed validation and test sets.
pub const FIXED_SPLIT_SIZE: usize = 500;

const VALIDATION_SEED: u64 = 0x7474_632d_7661_6c31;
const TEST_SEED: u64 = 0x7474_632d_7465_7374;
/// Mixed into the training seed for the slip stream of [`DemoWorld::slipped_train_problems`].
const SLIP_SEED: u64 = 0x7474_632d_736c_6970;
/// Per mille of problems in validation (`0..VALIDATION_PER_MILLE`) and test (up to `TEST_END`).
const VALIDATION_PER_MILLE: u64 = 50;
const TEST_END_PER_MILLE: u64 = 100;

/// The three disjoint parts of the demo world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The endless training stream.
    Train,
    /// The fixed validation set (500 problems).
    Validation,
    /// The fixed test set (500 problems).
    Test,
}

impl Split {
    /// The name used in file names and `unique_id`s: `train`, `validation`, `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Split {
    type Err = DatasetError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Split::Train),
            "validation" | "val" => Ok(Split::Validation),
            "test" => Ok(Split::Test),
            other => Err(DatasetError::InvalidRequest(format!(
                "unknown split {other:?}; use train, validation or test"
            ))),
        }
    }
}

/// The knob values a chain was drawn with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Knobs {
    /// Number of operations, 1 to 16.
    pub steps: u8,
    /// Digits of the start number and of every `+`/`-` operand, 1 to 2.
    pub digits: u8,
    /// Operations the steps could use.
    pub operators: OpSet,
}

/// One operation of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    /// The operation.
    pub op: OpKind,
    /// Its right-hand operand.
    pub operand: u32,
}

/// A demo problem in structured form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Chain {
    /// The start number.
    pub start: u32,
    /// The operations, applied left to right.
    pub steps: Vec<Step>,
    /// The knobs it was drawn with.
    pub knobs: Knobs,
}

impl Chain {
    /// The start value followed by the value after each step (`steps.len() + 1` values).
    /// `None` if a step leaves `0..=MAX_VALUE` (never for a generated chain).
    pub fn values(&self) -> Option<Vec<u32>> {
        let mut values = Vec::with_capacity(self.steps.len() + 1);
        let mut value = self.start;
        values.push(value);
        for step in &self.steps {
            value = step.op.apply(value, step.operand)?;
            if value > MAX_VALUE {
                return None;
            }
            values.push(value);
        }
        Some(values)
    }

    /// The final value. `None` as for [`Chain::values`].
    pub fn answer(&self) -> Option<u32> {
        self.values().and_then(|v| v.last().copied())
    }

    /// The question, e.g. `Start with 37. Add 5. Multiply by 3. What is the result?`.
    pub fn problem_text(&self) -> String {
        let mut text = format!("Start with {}.", self.start);
        for step in &self.steps {
            text.push_str(&format!(" {} {}.", step.op.verb(), step.operand));
        }
        text.push_str(" What is the result?");
        text
    }

    /// The reference solution: one line `a op b = c` per step, then `Answer: n`.
    /// `None` as for [`Chain::values`].
    pub fn solution_text(&self) -> Option<String> {
        let values = self.values()?;
        let mut lines: Vec<String> = self
            .steps
            .iter()
            .zip(values.windows(2))
            .map(|(step, w)| format!("{} {} {} = {}", w[0], step.op.symbol(), step.operand, w[1]))
            .collect();
        lines.push(format!("Answer: {}", values[values.len() - 1]));
        Some(lines.join("\n"))
    }

    /// The steps that carry or borrow in the units digit, or multiply: the steps
    /// where slips happen. 0 when the chain leaves the range.
    pub fn hard_steps(&self) -> usize {
        let Some(values) = self.values() else {
            return 0;
        };
        self.steps
            .iter()
            .zip(&values)
            .filter(|(step, value)| step_kind(step.op, **value, step.operand) != StepKind::Plain)
            .count()
    }

    /// Difficulty level 1-5, from the points `steps + hard steps` (carries, borrows
    /// and multiplications; 1 to 32): up to 5 is level 1, 6-10 level 2, 11-14
    /// level 3, 15-19 level 4, 20 and more level 5. The thresholds cut the default
    /// mix into roughly equal fifths; the levels are a label, the difficulty bins of
    /// the method come from the model's pass@1.
    pub fn level(&self) -> u8 {
        match self.steps.len() + self.hard_steps() {
            0..=5 => 1,
            6..=10 => 2,
            11..=14 => 3,
            15..=19 => 4,
            _ => 5,
        }
    }

    /// A solution with slips, for training a model that slips as real models do:
    /// each step slips with the probability [`SlipRates`] gives its kind, writing a
    /// wrong result that later steps continue from, and the answer line gives the
    /// final (wrong) value. Returns the text and the number of slips. A draw whose
    /// wrong values would leave the range is redrawn (up to 8 times), then the
    /// reference solution is returned with 0 slips. `None` as for [`Chain::values`].
    pub fn slipped_solution(
        &self,
        rng: &mut ChaCha8Rng,
        rates: &SlipRates,
    ) -> Option<(String, usize)> {
        let reference = self.solution_text()?;
        'draw: for _ in 0..8 {
            let mut value = self.start;
            let mut slips = 0;
            let mut lines = Vec::with_capacity(self.steps.len() + 1);
            for step in &self.steps {
                let Some(right) = step.op.apply(value, step.operand) else {
                    continue 'draw;
                };
                let kind = step_kind(step.op, value, step.operand);
                let mut result = right;
                if unit_f64(rng) < rates.of(kind) {
                    let up = rng.next_u64() & 1 == 1;
                    let wrong = match (kind, step.op) {
                        (StepKind::Carry, OpKind::Add) => right.checked_sub(10),
                        (StepKind::Carry, _) => Some(right + 10),
                        (StepKind::Mul, _) if up => Some(right + value),
                        (StepKind::Mul, _) => right.checked_sub(value),
                        (StepKind::Plain, _) if up => Some(right + 1),
                        (StepKind::Plain, _) => right.checked_sub(1),
                    };
                    match wrong {
                        Some(w) if w <= MAX_VALUE && w != right => {
                            result = w;
                            slips += 1;
                        }
                        _ => continue 'draw,
                    }
                }
                if result > MAX_VALUE {
                    continue 'draw;
                }
                lines.push(format!(
                    "{value} {} {} = {result}",
                    step.op.symbol(),
                    step.operand
                ));
                value = result;
            }
            lines.push(format!("Answer: {value}"));
            return Some((lines.join("\n"), slips));
        }
        Some((reference, 0))
    }

    /// The split this problem belongs to (see [`split_of`]).
    pub fn split(&self) -> Split {
        split_of(&self.problem_text())
    }

    /// The dataset row for this problem. Besides the MATH-500 fields it carries
    /// `steps`, `digits` and `operators` (e.g. `"+-x"`) for analysis.
    /// `None` as for [`Chain::values`].
    pub fn to_problem(&self, unique_id: String) -> Option<Problem> {
        let solution = self.solution_text()?;
        let answer = self.answer()?.to_string();
        let mut extra = Map::new();
        extra.insert("steps".into(), Value::from(self.knobs.steps));
        extra.insert("digits".into(), Value::from(self.knobs.digits));
        extra.insert(
            "operators".into(),
            Value::from(self.knobs.operators.to_string()),
        );
        extra.insert("hard_steps".into(), Value::from(self.hard_steps()));
        Some(Problem {
            problem: self.problem_text(),
            solution,
            answer,
            level: self.level(),
            unique_id,
            extra,
        })
    }
}

/// The split of a problem text: a stable 64-bit hash of the exact text (FNV-1a,
/// then a SplitMix64 finaliser), taken modulo 1000: below 50 is validation, below
/// 100 test, the rest train. The hash does not depend on the Rust version or platform.
pub fn split_of(problem_text: &str) -> Split {
    let hash = splitmix64_finalize(fnv1a(problem_text.as_bytes()));
    match hash % 1000 {
        b if b < VALIDATION_PER_MILLE => Split::Validation,
        b if b < TEST_END_PER_MILLE => Split::Test,
        _ => Split::Train,
    }
}

/// Uniform integer in `lo..=hi` (requires `lo <= hi`), by rejection sampling so
/// that the data never depends on a `rand` version's range algorithm.
fn uniform(rng: &mut ChaCha8Rng, lo: u32, hi: u32) -> u32 {
    let span = u64::from(hi - lo) + 1;
    let limit = u64::MAX - u64::MAX % span;
    loop {
        let x = rng.next_u64();
        if x < limit {
            return lo + (x % span) as u32;
        }
    }
}

fn unit_f64(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// What kind of step an operation is, for difficulty and slips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// `+`/`-` without a carry or borrow in the units digit.
    Plain,
    /// `+` with a carry or `-` with a borrow in the units digit.
    Carry,
    /// `x` by a single digit.
    Mul,
}

/// The kind of the step `value op operand`.
pub fn step_kind(op: OpKind, value: u32, operand: u32) -> StepKind {
    match op {
        OpKind::Mul => StepKind::Mul,
        OpKind::Add if value % 10 + operand % 10 >= 10 => StepKind::Carry,
        OpKind::Sub if value % 10 < operand % 10 => StepKind::Carry,
        _ => StepKind::Plain,
    }
}

/// Per-step slip probabilities of [`Chain::slipped_solution`], by [`StepKind`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SlipRates {
    /// A `+`/`-` step without carry: the units digit off by one.
    pub plain: f64,
    /// A carry or borrow forgotten: the result off by 10.
    pub carry: f64,
    /// A multiplication off by one multiple of the value.
    pub mul: f64,
}

impl SlipRates {
    /// No slips.
    pub const NONE: SlipRates = SlipRates {
        plain: 0.0,
        carry: 0.0,
        mul: 0.0,
    };

    fn of(&self, kind: StepKind) -> f64 {
        match kind {
            StepKind::Plain => self.plain,
            StepKind::Carry => self.carry,
            StepKind::Mul => self.mul,
        }
    }

    /// Checks that every rate is a probability; the error names the rate.
    pub fn validate(&self) -> Result<()> {
        for (name, rate) in [
            ("plain", self.plain),
            ("carry", self.carry),
            ("mul", self.mul),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(DatasetError::InvalidConfig(format!(
                    "slip rate {name} is {rate}, it must be a probability from 0 to 1"
                )));
            }
        }
        Ok(())
    }
}

/// The operand range of `op` at `value` with `digits`-digit `+`/`-` operands, if
/// not empty. `x` takes a single digit 2-9, and only on values below 100.
fn operand_range(op: OpKind, value: u32, digits: u8) -> Option<(u32, u32)> {
    let lo = if digits == 1 {
        1
    } else {
        10u32.pow(u32::from(digits) - 1)
    };
    let hi = 10u32.pow(u32::from(digits)) - 1;
    let (lo, hi) = match op {
        OpKind::Add => (lo, hi.min(MAX_VALUE.saturating_sub(value))),
        OpKind::Sub => (lo, hi.min(value)),
        OpKind::Mul if (2..MUL_BELOW).contains(&value) => (2, 9.min(MAX_VALUE / value)),
        OpKind::Mul => return None,
    };
    (lo <= hi).then_some((lo, hi))
}

/// An operand in `lo..=hi` that carries (or not, by the mix's `carry` probability)
/// where the range has both kinds; by rejection, 64 tries, then whatever came.
fn draw_operand(
    rng: &mut ChaCha8Rng,
    op: OpKind,
    value: u32,
    (lo, hi): (u32, u32),
    carry: f64,
) -> u32 {
    if op == OpKind::Mul {
        return uniform(rng, lo, hi);
    }
    let want_carry = unit_f64(rng) < carry;
    let mut operand = uniform(rng, lo, hi);
    for _ in 0..64 {
        if (step_kind(op, value, operand) == StepKind::Carry) == want_carry {
            break;
        }
        operand = uniform(rng, lo, hi);
    }
    operand
}

/// A demo world: a validated [`DifficultyMix`] and everything drawn from it.
#[derive(Clone, Debug)]
pub struct DemoWorld {
    mix: DifficultyMix,
    total_weight: f64,
}

impl Default for DemoWorld {
    fn default() -> Self {
        let mix = DifficultyMix::default();
        let total_weight = mix.total_weight();
        DemoWorld { mix, total_weight }
    }
}

impl DemoWorld {
    /// A world over `mix`; fails with the component and bound if the mix is invalid.
    pub fn new(mix: DifficultyMix) -> Result<Self> {
        mix.validate()?;
        let total_weight = mix.total_weight();
        Ok(DemoWorld { mix, total_weight })
    }

    /// The mix this world draws from.
    pub fn mix(&self) -> &DifficultyMix {
        &self.mix
    }

    fn pick_component(&self, rng: &mut ChaCha8Rng) -> &MixComponent {
        let mut target = unit_f64(rng) * self.total_weight;
        for component in &self.mix.components {
            if target < component.weight {
                return component;
            }
            target -= component.weight;
        }
        // Rounding can leave `target` a hair above the last weight.
        &self.mix.components[self.mix.components.len() - 1]
    }

    /// Draws one chain (of any split) from `rng`.
    ///
    /// Each step draws its operation uniformly among the component's operators whose
    /// result can stay within `0..=MAX_VALUE` (see the module docs), then the operand
    /// within that bound, carrying in the units digit with the component's `carry`
    /// probability where both kinds exist. If no operator can (only possible for
    /// sets without both `+` and `-`), the step subtracts, or adds when the value is
    /// too small to subtract from.
    pub fn sample_chain(&self, rng: &mut ChaCha8Rng) -> Chain {
        let component = self.pick_component(rng);
        let steps = uniform(
            rng,
            u32::from(component.min_steps),
            u32::from(component.max_steps),
        ) as u8;
        let digits = uniform(
            rng,
            u32::from(component.min_digits),
            u32::from(component.max_digits),
        ) as u8;
        let knobs = Knobs {
            steps,
            digits,
            operators: component.operators,
        };
        let (lo, hi) = operand_range(OpKind::Add, 0, digits).unwrap_or((1, 9));
        let start = uniform(rng, lo, hi);
        let mut value = start;
        let mut chain_steps = Vec::with_capacity(usize::from(steps));
        for _ in 0..steps {
            let feasible: Vec<(OpKind, (u32, u32))> = component
                .operators
                .iter()
                .filter_map(|op| operand_range(op, value, digits).map(|r| (op, r)))
                .collect();
            let (op, (lo, hi)) = if feasible.is_empty() {
                match operand_range(OpKind::Sub, value, digits) {
                    Some(range) => (OpKind::Sub, range),
                    // Sub is empty only when value < 10^(digits-1) <= 10, so Add fits.
                    None => (
                        OpKind::Add,
                        operand_range(OpKind::Add, value, digits).unwrap_or((1, 9)),
                    ),
                }
            } else {
                feasible[uniform(rng, 0, feasible.len() as u32 - 1) as usize]
            };
            let operand = draw_operand(rng, op, value, (lo, hi), component.carry);
            value = op.apply(value, operand).unwrap_or(value);
            chain_steps.push(Step { op, operand });
        }
        Chain {
            start,
            steps: chain_steps,
            knobs,
        }
    }

    /// The endless training stream for `seed`: only problems of [`Split::Train`],
    /// with `unique_id`s `demo/train/000000`, `demo/train/000001`, ...
    pub fn train_stream(&self, seed: u64) -> TrainStream {
        TrainStream {
            world: self.clone(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            index: 0,
        }
    }

    /// The first `count` problems of the training stream for `seed`.
    pub fn train_problems(&self, seed: u64, count: usize) -> Vec<Problem> {
        self.train_stream(seed).take(count).collect()
    }

    /// The first `count` problems of the training stream for `seed` (the same
    /// problems as [`DemoWorld::train_problems`]), each with a
    /// [`Chain::slipped_solution`] at `rates` as its `solution` and the number of
    /// slips in `extra.slips`; `answer` stays the right answer. The slips draw from
    /// their own stream, so the problems do not depend on the rates.
    pub fn slipped_train_problems(
        &self,
        seed: u64,
        count: usize,
        rates: &SlipRates,
    ) -> Result<Vec<Problem>> {
        rates.validate()?;
        let mut slip_rng = ChaCha8Rng::seed_from_u64(seed ^ SLIP_SEED);
        let mut stream = self.train_stream(seed);
        let mut problems = Vec::with_capacity(count);
        while problems.len() < count {
            let chain = stream.next_chain();
            let id = format!("demo/train/{:06}", stream.index);
            let (Some(mut problem), Some((solution, slips))) = (
                chain.to_problem(id),
                chain.slipped_solution(&mut slip_rng, rates),
            ) else {
                continue;
            };
            stream.index += 1;
            problem.solution = solution;
            problem.extra.insert("slips".into(), Value::from(slips));
            problems.push(problem);
        }
        Ok(problems)
    }

    /// The fixed validation or test set: [`FIXED_SPLIT_SIZE`] distinct problems with
    /// `unique_id`s `demo/<split>/00000` ... `demo/<split>/00499`, in a fixed order.
    /// Fails for [`Split::Train`] (use [`DemoWorld::train_stream`]) and when the mix
    /// is too narrow to supply 500 distinct problems of the split.
    pub fn fixed_split(&self, split: Split) -> Result<Vec<Problem>> {
        let seed = match split {
            Split::Validation => VALIDATION_SEED,
            Split::Test => TEST_SEED,
            Split::Train => {
                return Err(DatasetError::InvalidRequest(
                    "the train split is an endless stream, not a fixed set; ask for a count of \
                     training problems instead"
                        .into(),
                ));
            }
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut seen = HashSet::new();
        let mut problems = Vec::with_capacity(FIXED_SPLIT_SIZE);
        let max_attempts = 400 * FIXED_SPLIT_SIZE as u64 + 100_000;
        let mut attempts = 0;
        while problems.len() < FIXED_SPLIT_SIZE {
            if attempts == max_attempts {
                return Err(DatasetError::MixTooNarrow {
                    split: split.name(),
                    found: problems.len(),
                    wanted: FIXED_SPLIT_SIZE,
                    attempts,
                });
            }
            attempts += 1;
            let chain = self.sample_chain(&mut rng);
            let text = chain.problem_text();
            if split_of(&text) != split || !seen.insert(text) {
                continue;
            }
            let id = format!("demo/{}/{:05}", split.name(), problems.len());
            if let Some(problem) = chain.to_problem(id) {
                problems.push(problem);
            }
        }
        Ok(problems)
    }

    /// The problems of a split: for [`Split::Train`] the first `count` of the stream
    /// for `seed` (`count` required); for validation/test the fixed set, or its first
    /// `count` problems (`seed` must then be `None`: those sets are fixed).
    pub fn problems(
        &self,
        split: Split,
        count: Option<usize>,
        seed: Option<u64>,
    ) -> Result<Vec<Problem>> {
        match split {
            Split::Train => {
                let count = count.ok_or_else(|| {
                    DatasetError::InvalidRequest(
                        "the train split is endless: give the number of problems to write".into(),
                    )
                })?;
                Ok(self.train_problems(seed.unwrap_or(0), count))
            }
            Split::Validation | Split::Test => {
                if let Some(seed) = seed {
                    return Err(DatasetError::InvalidRequest(format!(
                        "the {split} set is fixed and takes no seed (got {seed}); a seed applies \
                         to the train split only"
                    )));
                }
                let mut problems = self.fixed_split(split)?;
                if let Some(count) = count {
                    if count > problems.len() {
                        return Err(DatasetError::InvalidRequest(format!(
                            "the {split} set has {} problems, cannot take {count}; give a count \
                             of at most {}",
                            problems.len(),
                            problems.len()
                        )));
                    }
                    problems.truncate(count);
                }
                Ok(problems)
            }
        }
    }

    /// Writes [`DemoWorld::problems`] to a JSONL file (see [`crate::write_problems`]);
    /// returns the number of lines written.
    pub fn write_split(
        &self,
        path: impl AsRef<Path>,
        split: Split,
        count: Option<usize>,
        seed: Option<u64>,
    ) -> Result<usize> {
        write_jsonl(path, &self.problems(split, count, seed)?)
    }
}

/// Reads a demo problem text (`Start with 37. Add 5. ... What is the result?`)
/// back into a [`Chain`]; its knobs are inferred (steps, digits of the start
/// number, operators used). `None` if the text is not a demo problem.
pub fn parse_problem(text: &str) -> Option<Chain> {
    let body = text
        .trim()
        .strip_prefix("Start with ")?
        .strip_suffix(" What is the result?")?;
    let mut parts = body.split(". ");
    let start: u32 = parts.next()?.trim_end_matches('.').parse().ok()?;
    let mut steps = Vec::new();
    for part in parts {
        let part = part.trim_end_matches('.');
        let (op, operand) = OpKind::ALL
            .into_iter()
            .find_map(|op| Some((op, part.strip_prefix(op.verb())?.strip_prefix(' ')?)))?;
        steps.push(Step {
            op,
            operand: operand.parse().ok()?,
        });
    }
    if steps.is_empty() || steps.len() > usize::from(crate::mix::MAX_STEPS) {
        return None;
    }
    let ops: Vec<OpKind> = steps.iter().map(|s| s.op).collect();
    let knobs = Knobs {
        steps: steps.len() as u8,
        digits: start
            .to_string()
            .len()
            .min(usize::from(crate::mix::MAX_DIGITS)) as u8,
        operators: OpSet::new(&ops).ok()?,
    };
    let chain = Chain {
        start,
        steps,
        knobs,
    };
    chain.values().map(|_| chain)
}

/// One solution line read as `a op b = c` (spaces optional; `x`, `*` or `×`
/// for multiplication) or `Answer: n`.
enum Line {
    Step(u32, OpKind, u32, u32),
    Answer(i64),
    Other,
}

fn read_line(line: &str) -> Line {
    let line = line.trim();
    if let Some(answer) = line.strip_prefix("Answer:") {
        return ttc_math_grade::answer::parse_integer(answer).map_or(Line::Other, Line::Answer);
    }
    let step = || -> Option<Line> {
        let (lhs, result) = line.split_once('=')?;
        let (i, op) = lhs.char_indices().skip(1).find_map(|(i, c)| match c {
            '+' => Some((i, OpKind::Add)),
            '-' => Some((i, OpKind::Sub)),
            'x' | '*' | '\u{00d7}' => Some((i, OpKind::Mul)),
            _ => None,
        })?;
        let symbol_len = lhs[i..].chars().next()?.len_utf8();
        Some(Line::Step(
            lhs[..i].trim().parse().ok()?,
            op,
            lhs[i + symbol_len..].trim().parse().ok()?,
            result.trim().parse().ok()?,
        ))
    };
    step().unwrap_or(Line::Other)
}

/// Oracle step labels for a demo solution: for each line of `solution`, whether
/// the solution is still correct up to and including that line (the line is the
/// next step of the problem, with the right operands and result, or the right
/// `Answer:` line after the last step). Once a line is wrong, every later label is
/// `false`. `None` if `problem` is not a demo problem.
///
/// This is the exact process reward of the demo world, for testing verifiers and
/// search without a trained model.
pub fn step_labels(problem: &str, solution: &str) -> Option<Vec<bool>> {
    let chain = parse_problem(problem)?;
    Some(prefix_labels(
        &chain,
        solution.lines().filter(|l| !l.trim().is_empty()),
    ))
}

/// For each of `lines` (one solution step each), whether the solution is still
/// right up to and including it: [`step_labels`] on steps already split. An empty
/// line is a wrong step.
pub(crate) fn prefix_labels<'a>(chain: &Chain, lines: impl Iterator<Item = &'a str>) -> Vec<bool> {
    // `parse_problem` only returns chains whose values exist.
    let values = chain.values().unwrap_or_default();
    let mut ok = !values.is_empty();
    let mut labels = Vec::new();
    for (i, line) in lines.enumerate() {
        ok = ok
            && match (read_line(line), chain.steps.get(i)) {
                (Line::Step(a, op, b, c), Some(step)) => {
                    a == values[i] && op == step.op && b == step.operand && c == values[i + 1]
                }
                (Line::Answer(n), None) => {
                    i == chain.steps.len() && n == i64::from(values[values.len() - 1])
                }
                _ => false,
            };
        labels.push(ok);
    }
    labels
}

/// The endless training stream of a [`DemoWorld`] (see [`DemoWorld::train_stream`]).
#[derive(Debug)]
pub struct TrainStream {
    world: DemoWorld,
    rng: ChaCha8Rng,
    index: u64,
}

impl TrainStream {
    /// The next training chain (without numbering it).
    pub fn next_chain(&mut self) -> Chain {
        loop {
            let chain = self.world.sample_chain(&mut self.rng);
            if chain.split() == Split::Train {
                return chain;
            }
        }
    }
}

impl Iterator for TrainStream {
    type Item = Problem;

    fn next(&mut self) -> Option<Problem> {
        loop {
            let chain = self.next_chain();
            if let Some(problem) = chain.to_problem(format!("demo/train/{:06}", self.index)) {
                self.index += 1;
                return Some(problem);
            }
        }
    }
}

/// Writes `count` training problems of the default demo world for `seed` to a JSONL
/// file; returns the number of lines written. The demo training pipeline calls this.
pub fn write_train(path: impl AsRef<Path>, seed: u64, count: usize) -> Result<usize> {
    DemoWorld::default().write_split(path, Split::Train, Some(count), Some(seed))
}

/// Writes the default demo world's fixed validation or test set (all 500, or the
/// first `count`) to a JSONL file; returns the number of lines written.
pub fn write_fixed(path: impl AsRef<Path>, split: Split, count: Option<usize>) -> Result<usize> {
    DemoWorld::default().write_split(path, split, count, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_that_of_earlier_releases() {
        // Golden values: the demo's splits (and so its test questions) must not move.
        let splits: String = (0..400)
            .map(
                |i| match split_of(&format!("What is {i} + {}?", i * 7 % 13)) {
                    Split::Train => 'r',
                    Split::Test => 't',
                    Split::Validation => 'v',
                },
            )
            .collect();
        let golden = [
            "rrrrrvrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrtrrtrrrtrtrrttrrrrvrrrrrrrrrrrrrrrr",
            "rrrrrrrrrrrrrrrrrrvtrrrrrrrrrrrrrrrrrrrrrrtrrrrrrrrrrrrrrrvtrrrtrrtrrrrrrrrrrrrr",
            "rrrtrrrrrrrrrtrrvrrrrrrrrrrtrrrrrrrrrrrrrrvrrrrvvvrrrrrrvrrrrvrrrrrrrrrrvrrrrrrr",
            "rvrrrrrrrvrrrrrrrrtrrrrvvrrtrrrrrrrrrrrrrrrrrrrrrrrrtrrrtrrrvrrrrrrrvrtrrvtrrrrr",
            "rrtrvrrvrrrrrrrrrrrrrtttrrrrvrrrrrrrrrtrrrtrrrrrrrrrrrrrrrrrrrrrrrrrrrvrrrvrrvrr",
        ];
        assert_eq!(splits, golden.concat());
    }

    fn chain(start: u32, steps: &[(OpKind, u32)]) -> Chain {
        Chain {
            start,
            steps: steps
                .iter()
                .map(|&(op, operand)| Step { op, operand })
                .collect(),
            knobs: Knobs {
                steps: steps.len() as u8,
                digits: 2,
                operators: OpSet::ALL,
            },
        }
    }

    #[test]
    fn renders_the_documented_example() {
        let c = chain(37, &[(OpKind::Add, 5), (OpKind::Mul, 3), (OpKind::Sub, 8)]);
        assert_eq!(
            c.problem_text(),
            "Start with 37. Add 5. Multiply by 3. Subtract 8. What is the result?"
        );
        assert_eq!(
            c.solution_text().unwrap(),
            "37 + 5 = 42\n42 x 3 = 126\n126 - 8 = 118\nAnswer: 118"
        );
        let p = c.to_problem("demo/test/00042".into()).unwrap();
        assert_eq!(p.answer, "118");
        assert_eq!(p.extra["operators"], "+-x");
    }

    #[test]
    fn out_of_range_chains_have_no_solution() {
        assert_eq!(chain(5, &[(OpKind::Sub, 8)]).answer(), None);
        assert_eq!(chain(999, &[(OpKind::Add, 1)]).solution_text(), None);
    }

    #[test]
    fn level_grows_with_length_and_hard_steps() {
        let easy = chain(3, &[(OpKind::Add, 4)]);
        assert_eq!((easy.hard_steps(), easy.level()), (0, 1));
        // 12 steps, 6 of them borrowing: 200 - 9 = 191, 191 + 10 = 201, 201 - 9 = 192, ...
        let mut steps = Vec::new();
        for _ in 0..6 {
            steps.extend([(OpKind::Sub, 9), (OpKind::Add, 10)]);
        }
        let long = chain(200, &steps);
        assert_eq!(long.values().unwrap()[..4], [200, 191, 201, 192]);
        assert_eq!((long.hard_steps(), long.level()), (6, 4));
        let mut steps = vec![(OpKind::Mul, 9)];
        steps.extend(std::iter::repeat_n((OpKind::Add, 19), 15));
        let hard = chain(11, &steps);
        // The x step, then every +19 but the one on 270 (units digit 0).
        assert_eq!((hard.hard_steps(), hard.level()), (15, 5));
    }

    #[test]
    fn step_kinds_follow_the_units_digit() {
        assert_eq!(step_kind(OpKind::Add, 37, 5), StepKind::Carry);
        assert_eq!(step_kind(OpKind::Add, 37, 52), StepKind::Plain);
        assert_eq!(step_kind(OpKind::Sub, 42, 8), StepKind::Carry);
        assert_eq!(step_kind(OpKind::Sub, 48, 8), StepKind::Plain);
        assert_eq!(step_kind(OpKind::Mul, 12, 3), StepKind::Mul);
    }

    #[test]
    fn slips_are_the_documented_kinds_and_later_steps_follow_them() {
        let c = chain(37, &[(OpKind::Add, 5), (OpKind::Mul, 3), (OpKind::Sub, 8)]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (text, slips) = c.slipped_solution(&mut rng, &SlipRates::NONE).unwrap();
        assert_eq!((text, slips), (c.solution_text().unwrap(), 0));
        let always = SlipRates {
            plain: 1.0,
            carry: 1.0,
            mul: 1.0,
        };
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (text, slips) = c.slipped_solution(&mut rng, &always).unwrap();
            assert_eq!(slips, 3, "{text}");
            let lines: Vec<&str> = text.lines().collect();
            // 37 + 5 carries: forgetting it gives 32; 32 x 3 is off by 32; 128 - 8 has
            // no borrow (its units digit is off by one), 64 - 8 forgets its borrow.
            assert_eq!(lines[0], "37 + 5 = 32");
            let expected_last: &[&str] = match lines[1] {
                "32 x 3 = 128" => &["128 - 8 = 121", "128 - 8 = 119"],
                "32 x 3 = 64" => &["64 - 8 = 66"],
                other => panic!("{other}"),
            };
            assert!(expected_last.contains(&lines[2]), "{text}");
            let last = lines[2].rsplit(' ').next().unwrap();
            assert_eq!(lines[3], format!("Answer: {last}"));
            assert_eq!(step_labels(&c.problem_text(), &text).unwrap(), [false; 4]);
        }
        let bad = SlipRates {
            carry: 2.0,
            ..always
        };
        let err = DemoWorld::default()
            .slipped_train_problems(1, 1, &bad)
            .unwrap_err();
        assert!(err.to_string().contains("carry"), "{err}");
    }

    #[test]
    fn slipped_training_problems_match_the_stream_and_slip_at_about_the_rate() {
        let world = DemoWorld::default();
        let rates = SlipRates {
            plain: 0.0,
            carry: 0.2,
            mul: 0.0,
        };
        let plain = world.train_problems(3, 400);
        let slipped = world.slipped_train_problems(3, 400, &rates).unwrap();
        let (mut carries, mut slips) = (0, 0);
        for (p, s) in plain.iter().zip(&slipped) {
            assert_eq!(
                (&p.problem, &p.answer, &p.unique_id),
                (&s.problem, &s.answer, &s.unique_id)
            );
            let n = s.extra["slips"].as_u64().unwrap();
            assert_eq!(n == 0, p.solution == s.solution);
            slips += n;
            let chain = parse_problem(&p.problem).unwrap();
            let values = chain.values().unwrap();
            carries += chain
                .steps
                .iter()
                .zip(&values)
                .filter(|(st, v)| step_kind(st.op, **v, st.operand) == StepKind::Carry)
                .count() as u64;
        }
        // Slips follow wrong values, whose carries differ; the rate holds roughly.
        let rate = slips as f64 / carries as f64;
        assert!(
            (0.15..0.25).contains(&rate),
            "{slips} slips over {carries} carries"
        );
    }

    #[test]
    fn problems_parse_back_and_steps_get_oracle_labels() {
        let c = chain(37, &[(OpKind::Add, 5), (OpKind::Mul, 3), (OpKind::Sub, 8)]);
        let text = c.problem_text();
        let parsed = parse_problem(&text).unwrap();
        assert_eq!((parsed.start, &parsed.steps), (c.start, &c.steps));
        assert_eq!(parsed.knobs.operators, OpSet::ALL);
        let table: &[(&str, &[bool])] = &[
            (
                "37 + 5 = 42\n42 x 3 = 126\n126 - 8 = 118\nAnswer: 118",
                &[true, true, true, true],
            ),
            (
                "37+5=42\n\n42 * 3 = 126\n126 - 8 = 118\nAnswer: 118",
                &[true, true, true, true],
            ),
            (
                "37 + 5 = 42\n42 x 3 = 127\n127 - 8 = 119\nAnswer: 119",
                &[true, false, false, false],
            ),
            (
                "37 + 5 = 42\n42 x 3 = 126\nAnswer: 126",
                &[true, true, false],
            ),
            (
                "37 + 5 = 42\n42 x 3 = 126\n126 - 8 = 118\nAnswer: 117",
                &[true, true, true, false],
            ),
            ("37 + 5 = 42\nhmm", &[true, false]),
            ("", &[]),
        ];
        for (solution, expected) in table {
            assert_eq!(
                step_labels(&text, solution).unwrap(),
                *expected,
                "{solution:?}"
            );
        }
        assert_eq!(step_labels("What is 2+2?", "4"), None);
        assert!(parse_problem("Start with 5. Subtract 8. What is the result?").is_none());
    }

    #[test]
    fn split_names_parse_and_bad_names_are_explained() {
        assert_eq!("validation".parse::<Split>().unwrap(), Split::Validation);
        assert_eq!("val".parse::<Split>().unwrap(), Split::Validation);
        let err = "dev".parse::<Split>().unwrap_err().to_string();
        assert!(
            err.contains("\"dev\"") && err.contains("validation"),
            "{err}"
        );
    }

    #[test]
    fn split_fractions_are_about_five_percent() {
        let world = DemoWorld::default();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 20_000;
        let mut counts = [0usize; 3];
        for _ in 0..n {
            match world.sample_chain(&mut rng).split() {
                Split::Train => counts[0] += 1,
                Split::Validation => counts[1] += 1,
                Split::Test => counts[2] += 1,
            }
        }
        for (count, share) in counts.iter().zip([0.90, 0.05, 0.05]) {
            let got = *count as f64 / n as f64;
            assert!((got - share).abs() < 0.01, "{counts:?}");
        }
    }

    #[test]
    fn narrow_mix_fails_instead_of_looping() {
        let mix = DifficultyMix {
            components: vec![MixComponent {
                name: "tiny".into(),
                weight: 1.0,
                min_steps: 1,
                max_steps: 1,
                min_digits: 1,
                max_digits: 1,
                operators: OpSet::new(&[OpKind::Add]).unwrap(),
                carry: 0.0,
            }],
        };
        let err = DemoWorld::new(mix)
            .unwrap()
            .fixed_split(Split::Test)
            .unwrap_err();
        assert!(
            matches!(err, DatasetError::MixTooNarrow { wanted: 500, .. }),
            "{err}"
        );
    }

    #[test]
    fn requests_are_checked() {
        let world = DemoWorld::default();
        let err = world.problems(Split::Train, None, Some(1)).unwrap_err();
        assert!(err.to_string().contains("endless"), "{err}");
        let err = world.problems(Split::Test, Some(501), None).unwrap_err();
        assert!(err.to_string().contains("501"), "{err}");
        let err = world.problems(Split::Test, Some(5), Some(3)).unwrap_err();
        assert!(err.to_string().contains("fixed"), "{err}");
        assert_eq!(world.problems(Split::Test, Some(5), None).unwrap().len(), 5);
    }
}
