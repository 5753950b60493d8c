//! Workspace paths and child-process helpers shared by the commands.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Output, Stdio};

use anyhow::{Context, Result, bail};

/// Folder (git-ignored) holding everything xtask installs or caches.
pub(crate) const LOCAL_DIR: &str = ".ttc";

/// The workspace root: the parent of this package's manifest folder, so xtask works
/// from any current directory.
pub(crate) fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .with_context(|| format!("{} has no parent folder", manifest_dir.display()))
}

/// `path` made absolute against the current directory, because child processes
/// (cargo bench, python) run in other directories.
pub(crate) fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve the path {}", path.display()))
}

/// The cargo that runs xtask (set by cargo), so nested builds use the same toolchain.
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// `program arg1 arg2 ...` for messages.
pub(crate) fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

fn spawn_error(command: &Command, error: &std::io::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "could not start `{}`: {error}; is `{}` installed and on PATH?",
        describe(command),
        command.get_program().to_string_lossy()
    )
}

/// Runs `command` with inherited stdio and returns its exit status.
pub(crate) fn status(command: &mut Command) -> Result<ExitStatus> {
    command
        .status()
        .map_err(|error| spawn_error(command, &error))
}

/// Runs `command` with inherited stdio; a non-zero exit is an error.
pub(crate) fn run(command: &mut Command) -> Result<()> {
    let status = status(command)?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(command));
    }
    Ok(())
}

/// Runs `command` with captured stdout and stderr (stdin closed).
pub(crate) fn output(command: &mut Command) -> Result<Output> {
    command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| spawn_error(command, &error))
}

/// The exit code to pass on for a child's status (a signal becomes failure).
pub(crate) fn exit_code(status: ExitStatus) -> ExitCode {
    status
        .code()
        .and_then(|code| u8::try_from(code).ok())
        .map_or(ExitCode::FAILURE, ExitCode::from)
}
