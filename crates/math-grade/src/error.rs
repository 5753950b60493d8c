//! The one error type of this crate.

/// Everything that can go wrong while setting up or running grading.
///
/// Messages name the value at fault and say what to do about it. Grading itself
/// never fails in math mode: an answer that cannot be read is graded *different*.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GradeError {
    /// A grading mode or extraction rule list is not one this crate knows.
    #[error("{0}")]
    InvalidRequest(String),
    /// A gold answer cannot be graded in the requested mode.
    #[error("gold answer {gold:?} is not {expected}; {hint}")]
    BadGold {
        /// The offending gold answer.
        gold: String,
        /// What it should have been.
        expected: &'static str,
        /// What to do.
        hint: &'static str,
    },
}

/// Result alias of this crate.
pub type Result<T, E = GradeError> = std::result::Result<T, E>;
