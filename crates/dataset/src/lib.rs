//! Math datasets for ttc.
//!
//! - [`demo`]: the demo world, a seeded generator of multi-step arithmetic problems
//!   with one-step-per-line solutions, an endless training stream and fixed,
//!   disjoint validation and test sets of 500 problems each.
//! - [`Problem`] and the JSONL reader/writer ([`read_problems`], [`write_problems`]):
//!   dataset files use the field names of MATH-500, so real MATH-500 files load too.
//! - [`answer`]: the demo world's answers (the last `Answer: ...` line, the last
//!   `\boxed{...}`, integers as models write them).
//! - [`extract`]: ordered extraction rules ([`ExtractRules`]) that find the final
//!   answer in a whole model output as MATH graders do.
//! - [`checker`]: the demo world's exact step checker, a `Verifier` that scores
//!   each step by its arithmetic (a diagnostic upper bound for search).
//! - [`grade()`]: deciding whether a predicted answer equals the gold answer, exactly
//!   for integers or through a MATH-style equivalence ([`MathAnswer`]: numbers in
//!   any format, exact arithmetic, expressions, relations, intervals, tuples, sets,
//!   matrices; *different* when in doubt), with an [`AnswerSpec`]'s rules.
//!
//! ```
//! use ttc_dataset::{GradeMode, demo, grade, read_problems};
//!
//! let path = std::env::temp_dir().join("ttc-dataset-doc").join("train.jsonl");
//! assert_eq!(demo::write_train(&path, 0, 100)?, 100);
//! let problems = read_problems(&path)?;
//! let first = &problems[0];
//! assert!(first.solution.ends_with(&format!("Answer: {}", first.answer)));
//! assert!(grade(&first.answer, &first.solution, GradeMode::Integer)?.correct);
//! assert!(grade("\\frac{1}{2}", "The answer is $\\boxed{0.5}$.", GradeMode::Math)?.correct);
//! # Ok::<(), ttc_dataset::DatasetError>(())
//! ```
//!
//! Feature flags: none.

pub mod answer;
pub mod checker;
pub mod demo;
mod error;
pub mod extract;
mod grade;
mod jsonl;
mod math;
mod mix;
mod record;

pub use error::{DatasetError, Result};
pub use extract::{ExtractRule, ExtractRules};
pub use grade::{AnswerSpec, GradeMode, Verdict, answer_key, grade};
pub use jsonl::{read_jsonl, read_problems, write_jsonl, write_problems};
pub use math::{MathAnswer, math_equivalent};
pub use mix::{DifficultyMix, MAX_DIGITS, MAX_STEPS, MixComponent, OpKind, OpSet};
pub use record::Problem;
