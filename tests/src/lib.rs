//! Workspace-level checks live in `tests/tidy.rs`; this library is empty on purpose
//! (a package needs a target), and holds the path helpers the checks share.

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
