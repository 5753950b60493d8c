//! Grading math answers: finding the final answer in a model's output and deciding
//! whether it equals the gold answer.
//!
//! - [`answer`]: the demo world's answers (the last `Answer: ...` line, the last
//!   `\boxed{...}`, integers as models write them).
//! - [`extract`]: ordered extraction rules ([`ExtractRules`]) that find the final
//!   answer in a whole model output as MATH graders do (several boxes that together
//!   give one answer, a value stated in words after a named quantity).
//! - [`grade()`]: deciding whether a predicted answer equals the gold answer, exactly
//!   for integers or through a MATH-style equivalence ([`MathAnswer`]: numbers in
//!   any format, exact arithmetic, expressions, relations and the solution sets
//!   of one-variable inequalities, intervals, ratios, tuples, sets, named values,
//!   matrices; *different* when in doubt), with an [`AnswerSpec`]'s rules.
//!
//! The modes are `ttc_core::AnswerFormat`s, so search and revisions vote with the
//! same keys the grader compares.
//!
//! ```
//! use ttc_math_grade::{GradeMode, grade};
//!
//! assert!(grade("118", "42 x 3 = 126\n126 - 8 = 118\nAnswer: 118", GradeMode::Integer)?.correct);
//! assert!(grade("\\frac{1}{2}", "The answer is $\\boxed{0.5}$.", GradeMode::Math)?.correct);
//! assert!(grade("(-1, 3)", "so $|x-1|<2$", GradeMode::Math)?.correct);
//! assert!(!grade("1000", "1, 000", GradeMode::Math)?.correct);
//! # Ok::<(), ttc_math_grade::GradeError>(())
//! ```
//!
//! Feature flags: none.

pub mod answer;
mod error;
pub mod extract;
mod grade;
mod math;

pub use error::{GradeError, Result};
pub use extract::{ExtractRule, ExtractRules};
pub use grade::{AnswerSpec, GradeMode, Verdict, answer_key, grade};
pub use math::{MathAnswer, math_equivalent};
