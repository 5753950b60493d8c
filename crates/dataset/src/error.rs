//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while building, reading or writing datasets.
///
/// Messages name the file, line or value at fault and say what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file could not be opened, read, created or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("cannot read", "cannot create", ...).
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// One line of a JSONL file is not a valid record.
    #[error(
        "{path}:{line}: {message}; fix or remove this line (each line must be one JSON object{expected})"
    )]
    BadLine {
        /// The file concerned.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
        /// A short note on the expected fields, starting with ", " or empty.
        expected: String,
    },
    /// A record could not be turned into JSON.
    #[error("cannot encode record {index} for {path}: {source}")]
    Encode {
        /// The file being written.
        path: PathBuf,
        /// 0-based index of the record.
        index: usize,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// A difficulty mix or another generator setting is out of range.
    #[error("invalid demo-world setting: {0}")]
    InvalidConfig(String),
    /// The difficulty mix cannot supply enough distinct problems for a fixed split.
    #[error(
        "the difficulty mix yields only {found} distinct {split} problems after {attempts} draws, \
         {wanted} are needed; widen the mix (more steps, digits or operators)"
    )]
    MixTooNarrow {
        /// The split being filled.
        split: &'static str,
        /// Problems found.
        found: usize,
        /// Problems wanted.
        wanted: usize,
        /// Draws made before giving up.
        attempts: u64,
    },
    /// A request for a split is inconsistent (e.g. a count larger than a fixed split).
    #[error("{0}")]
    InvalidRequest(String),
}

/// Result alias of this crate.
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;
