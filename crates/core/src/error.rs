use std::path::PathBuf;

/// The one error type of the library crates. Each variant says what failed and
/// with which file or value; the `Display` text also says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ONNX Runtime shared library could not be used.
    #[error(
        "ONNX Runtime library {path} ({source_name}): {reason}. Run `cargo xtask setup` \
         to install it into the project, or point ORT_DYLIB_PATH or the run config's \
         `runtime.library` to a libonnxruntime.so of version 1.31 or newer"
    )]
    RuntimeLibrary {
        path: PathBuf,
        /// Where the path came from: the run config, ORT_DYLIB_PATH, or the project-local install.
        source_name: &'static str,
        reason: String,
    },
    /// An execution provider could not be registered and the policy said not to fall back.
    #[error("execution provider `{provider}` could not be used: {reason}")]
    Provider { provider: String, reason: String },
    /// A model folder is missing a file or disagrees with itself.
    #[error("model folder {dir}: {message}")]
    Model { dir: PathBuf, message: String },
    /// ONNX Runtime failed while running a model.
    #[error("running {model}: {message}")]
    Inference { model: String, message: String },
    /// A tokenizer or chat template failed.
    #[error("tokenizer of {model}: {message}")]
    Tokenizer { model: String, message: String },
    /// A caller passed a value that cannot work.
    #[error("invalid {what}: {message}")]
    InvalidInput { what: String, message: String },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            what: what.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Model`].
    pub fn model(dir: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Model {
            dir: dir.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
