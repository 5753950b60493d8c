//! Math datasets for ttc.
//!
//! - [`demo`]: the demo world, a seeded generator of multi-step arithmetic problems
//!   with one-step-per-line solutions, an endless training stream and fixed,
//!   disjoint validation and test sets of 500 problems each.
//! - [`Problem`] and the JSONL reader/writer ([`read_problems`], [`write_problems`]):
//!   dataset files use the field names of MATH-500, so real MATH-500 files load too.
//! - [`checker`]: the demo world's exact step checker, a `Verifier` that scores
//!   each step by its arithmetic (a diagnostic upper bound for search).
//!
//! Grading answers (extraction, integer and MATH-style equivalence) lives in
//! `ttc-math-grade`; the demo world reads its `Answer:` lines with that crate's
//! integer parser, so both agree on what an integer answer is.
//!
//! ```
//! use ttc_dataset::{demo, read_problems};
//! use ttc_math_grade::{GradeMode, grade};
//!
//! let path = std::env::temp_dir().join("ttc-dataset-doc").join("train.jsonl");
//! assert_eq!(demo::write_train(&path, 0, 100)?, 100);
//! let problems = read_problems(&path)?;
//! let first = &problems[0];
//! assert!(first.solution.ends_with(&format!("Answer: {}", first.answer)));
//! assert!(grade(&first.answer, &first.solution, GradeMode::Integer)?.correct);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Feature flags: none.

pub mod checker;
pub mod demo;
mod error;
mod jsonl;
mod mix;
mod record;

pub use error::{DatasetError, Result};
pub use jsonl::{read_jsonl, read_problems, write_jsonl, write_problems};
pub use mix::{DifficultyMix, MAX_DIGITS, MAX_STEPS, MixComponent, OpKind, OpSet};
pub use record::Problem;
