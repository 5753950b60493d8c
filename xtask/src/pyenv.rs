//! `cargo xtask pyenv`: the Python environment used for export, fixtures and the
//! Python benchmark, pinned by `xtask/python/requirements.txt`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{self, LOCAL_DIR};

const REQUIREMENTS: &str = "xtask/python/requirements.txt";
/// Holds the requirements file content the venv was last built from.
const STAMP: &str = ".ttc-stamp";
/// Imports that must work before the venv counts as built.
const SMOKE_IMPORTS: &str = "import torch, transformers, optimum, onnxruntime, onnx, tokenizers";

fn venv_dir(root: &Path) -> PathBuf {
    root.join(LOCAL_DIR).join("pyenv")
}

fn venv_python(root: &Path) -> PathBuf {
    venv_dir(root).join("bin").join("python")
}

/// Creates or updates the venv when its stamp differs from the requirements file;
/// otherwise does nothing. Returns the venv's python.
pub(crate) fn ensure(root: &Path) -> Result<PathBuf> {
    build_if_stale(root).map(|(python, _)| python)
}

/// Returns the venv's python and whether it had to be (re)built.
fn build_if_stale(root: &Path) -> Result<(PathBuf, bool)> {
    let requirements_path = root.join(REQUIREMENTS);
    let requirements = fs::read_to_string(&requirements_path)
        .with_context(|| format!("cannot read {}", requirements_path.display()))?;
    let venv = venv_dir(root);
    let python = venv_python(root);
    let stamp = venv.join(STAMP);
    if python.is_file() && fs::read_to_string(&stamp).is_ok_and(|built| built == requirements) {
        return Ok((python, false));
    }

    if !python.is_file() {
        eprintln!("creating the Python environment {}", venv.display());
        let mut create = Command::new("python3");
        create.args(["-m", "venv"]).arg(&venv);
        util::run(&mut create)
            .context("pyenv needs python3 (3.10 or newer) with the venv module")?;
    }
    eprintln!(
        "installing {} into {} (a first install downloads about 3 GB)",
        requirements_path.display(),
        venv.display()
    );
    let mut install = Command::new(&python);
    install
        .args(["-m", "pip", "install", "-r"])
        .arg(&requirements_path);
    if !util::status(&mut install)?.success() {
        bail!(
            "pip could not install {} into {} (see its output above); check that the package \
             registry is reachable, then rerun `cargo xtask pyenv`",
            requirements_path.display(),
            venv.display()
        );
    }
    let mut check = offline(Command::new(&python));
    check.args(["-c", SMOKE_IMPORTS]);
    util::run(&mut check).with_context(|| {
        format!(
            "the Python environment {} is broken; delete it and rerun `cargo xtask pyenv`",
            venv.display()
        )
    })?;
    fs::write(&stamp, &requirements)
        .with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok((python, true))
}

pub(crate) fn run(root: &Path) -> Result<()> {
    let (python, built) = build_if_stale(root)?;
    if !built {
        eprintln!("the Python environment is up to date");
    }
    println!("{}", python.display());
    Ok(())
}

/// Model hubs are unreachable: every Python run is offline, unbuffered (so progress
/// shows as it happens) and leaves no `__pycache__` in the source tree.
fn offline(mut command: Command) -> Command {
    command
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

/// A command running `xtask/python/<script>` with the venv's python (built if
/// needed), offline. Add arguments and run it.
pub(crate) fn script(root: &Path, script: &str) -> Result<Command> {
    let python = ensure(root)?;
    let path = root.join("xtask").join("python").join(script);
    if !path.is_file() {
        bail!("the Python helper {} is missing", path.display());
    }
    let mut command = offline(Command::new(python));
    command.arg(path);
    Ok(command)
}
