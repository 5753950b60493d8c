//! The application's error: a library error, or a run file or flag that cannot work.

/// What went wrong, with the file, line or value it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A run file, policy file or option that cannot work; the message names the
    /// file (and line or value) and what to do.
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Core(#[from] ttc_core::Error),
    #[error(transparent)]
    Dataset(#[from] ttc_dataset::DatasetError),
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result with the application's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns early with an [`Error::Config`] built like `format!`.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::Error::Config(format!($($arg)*)))
    };
}
pub(crate) use bail;
