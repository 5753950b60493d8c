//! `cargo xtask test` and `cargo xtask ttc`: plain cargo commands that need the
//! ONNX Runtime library installed first.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::{setup, util};

/// `cargo test --workspace ARGS... [-- HARNESS_ARGS...]`, with its exit code passed on.
pub(crate) fn test(root: &Path, args: &[OsString], harness_args: &[OsString]) -> Result<ExitCode> {
    setup::ensure(root)?;
    let mut test = util::cargo();
    test.arg("test")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"));
    // `--workspace` would override a package selection given in ARGS.
    let selects_package = args.iter().take_while(|arg| *arg != "--").any(|arg| {
        arg == "-p" || arg == "--package" || arg.to_string_lossy().starts_with("--package=")
    });
    if !selects_package {
        test.arg("--workspace");
    }
    test.args(args);
    if !harness_args.is_empty() {
        test.arg("--").args(harness_args);
    }
    Ok(util::exit_code(util::status(&mut test)?))
}

/// `cargo run --release -p ttc-cli -- ARGS...`, with its exit code passed on.
pub(crate) fn ttc(root: &Path, args: &[OsString]) -> Result<ExitCode> {
    setup::ensure(root)?;
    // The current directory is kept so relative paths in ARGS mean what the user meant.
    let mut run = util::cargo();
    run.arg("run")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .args(["--release", "--package", "ttc-cli", "--"])
        .args(args);
    Ok(util::exit_code(util::status(&mut run)?))
}
