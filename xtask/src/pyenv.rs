//! The pinned Python environments under `.ttc/`, each a venv built from its own
//! requirements file on first use and rebuilt when that file changes:
//! - [`TRAINING`] (`cargo xtask pyenv`, `.ttc/pyenv`, `xtask/python/requirements.txt`):
//!   torch, transformers, optimum and onnxruntime for export, fixtures and demo
//!   training, about 3 GB.
//! - [`BENCH`] (`.ttc/bench-env`, `xtask/python/requirements-bench.txt`): only
//!   onnxruntime, onnxruntime-genai, numpy and tokenizers, for the Python peers of
//!   `cargo xtask bench generate`.
//! - [`GENAI`] (`cargo xtask pyenv --genai`, `.ttc/genai-env`,
//!   `xtask/python/requirements-genai.txt`): onnxruntime-genai's model builder with
//!   the transformers 5.x it needs (the training environment pins 4.x for
//!   optimum-onnx). It installs no torch of its own: the training environment's
//!   site-packages are appended to its path after its own, so transformers 5 is
//!   found first and torch (3 GB) is not downloaded twice.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{self, LOCAL_DIR};

/// A pinned venv: where it lives, what it is built from and how it is checked.
pub(crate) struct PyEnv {
    /// Folder under `.ttc/`.
    dir: &'static str,
    /// Requirements file, relative to the workspace root.
    requirements: &'static str,
    /// Imports that must work before the venv counts as built.
    smoke_imports: &'static str,
    /// The download size of a first install, for the progress message.
    download: &'static str,
    /// The command that builds the venv, for error messages.
    command: &'static str,
    /// A venv whose packages this one reads after its own (from a `.pth` file
    /// written at build time), for what it does not install itself.
    base: Option<&'static PyEnv>,
}

/// The exporter and training environment of `cargo xtask pyenv`.
pub(crate) const TRAINING: PyEnv = PyEnv {
    dir: "pyenv",
    requirements: "xtask/python/requirements.txt",
    smoke_imports: "import torch, transformers, optimum, onnxruntime, onnx, tokenizers",
    download: "about 3 GB",
    command: "cargo xtask pyenv",
    base: None,
};

/// The small environment of the Python benchmark peers (`bench_ort_loop.py`,
/// `bench_ort_genai.py`).
pub(crate) const BENCH: PyEnv = PyEnv {
    dir: "bench-env",
    requirements: "xtask/python/requirements-bench.txt",
    smoke_imports: "import numpy, onnxruntime, onnxruntime_genai, tokenizers",
    download: "about 60 MB, about 250 MB installed",
    command: "cargo xtask bench generate",
    base: None,
};

/// The GenAI export environment: onnxruntime-genai's model builder, with torch read
/// from [`TRAINING`].
pub(crate) const GENAI: PyEnv = PyEnv {
    dir: "genai-env",
    requirements: "xtask/python/requirements-genai.txt",
    smoke_imports: "import torch, transformers, onnxruntime_genai, onnx_ir; \
                    assert transformers.__version__.startswith('5.'), transformers.__version__",
    download: "about 150 MB; torch comes from .ttc/pyenv",
    command: "cargo xtask pyenv --genai",
    base: Some(&TRAINING),
};

/// The `.pth` file (in the venv's site-packages) naming [`PyEnv::base`]'s
/// site-packages; `zz` sorts it last, after any other `.pth`.
const BASE_PTH: &str = "zz-ttc-base.pth";

/// Holds the requirements file content the venv was last built from.
const STAMP: &str = ".ttc-stamp";

impl PyEnv {
    fn venv_dir(&self, root: &Path) -> PathBuf {
        root.join(LOCAL_DIR).join(self.dir)
    }

    /// Creates or updates the venv when its stamp differs from the requirements
    /// file; otherwise does nothing. Returns the venv's python.
    pub(crate) fn ensure(&self, root: &Path) -> Result<PathBuf> {
        self.build_if_stale(root).map(|(python, _)| python)
    }

    /// Returns the venv's python and whether it had to be (re)built.
    fn build_if_stale(&self, root: &Path) -> Result<(PathBuf, bool)> {
        let requirements_path = root.join(self.requirements);
        let requirements = fs::read_to_string(&requirements_path)
            .with_context(|| format!("cannot read {}", requirements_path.display()))?;
        // The base first: its packages are part of this venv.
        let base_python = self.base.map(|b| b.ensure(root)).transpose()?;
        let venv = self.venv_dir(root);
        let python = venv.join("bin").join("python");
        let stamp = venv.join(STAMP);
        if python.is_file() && fs::read_to_string(&stamp).is_ok_and(|built| built == requirements) {
            return Ok((python, false));
        }

        if !python.is_file() {
            self.create(&venv)?;
        }
        eprintln!(
            "installing {} into {} (a first install downloads {})",
            requirements_path.display(),
            venv.display(),
            self.download
        );
        let mut install = Command::new(&python);
        install
            .args(["-m", "pip", "install", "-r"])
            .arg(&requirements_path);
        if !util::status(&mut install)?.success() {
            bail!(
                "pip could not install {} into {} (see its output above); check that the \
                 package registry is reachable, then rerun `{}`",
                requirements_path.display(),
                venv.display(),
                self.command
            );
        }
        if let Some(base_python) = &base_python {
            let own = site_packages(&python)?;
            let base = site_packages(base_python)?;
            let pth = own.join(BASE_PTH);
            fs::write(&pth, format!("{}\n", base.display()))
                .with_context(|| format!("cannot write {}", pth.display()))?;
        }
        let mut check = offline(Command::new(&python));
        check.args(["-c", self.smoke_imports]);
        util::run(&mut check).with_context(|| {
            format!(
                "the Python environment {} is broken; delete it and rerun `{}`",
                venv.display(),
                self.command
            )
        })?;
        fs::write(&stamp, &requirements)
            .with_context(|| format!("cannot write {}", stamp.display()))?;
        Ok((python, true))
    }

    /// `python3 -m venv VENV`; a venv left half made (no pip: Debian's python3
    /// without python3-venv) is removed, so the next run starts over.
    fn create(&self, venv: &Path) -> Result<()> {
        eprintln!("creating the Python environment {}", venv.display());
        let existed = venv.exists();
        let mut create = Command::new("python3");
        create.args(["-m", "venv"]).arg(venv);
        let created = util::run(&mut create);
        if created.is_err() && !existed {
            // Best effort: the error below is what matters.
            let _ = fs::remove_dir_all(venv);
        }
        created.with_context(|| {
            format!(
                "`{}` needs python3 (3.10 or newer) with the venv module (Debian and \
                 Ubuntu: apt-get install python3-venv), then rerun it",
                self.command
            )
        })
    }

    /// A command running `xtask/python/<script>` with the venv's python (built if
    /// needed), offline. Add arguments and run it.
    pub(crate) fn script(&self, root: &Path, script: &str) -> Result<Command> {
        let python = self.ensure(root)?;
        let path = root.join("xtask").join("python").join(script);
        if !path.is_file() {
            bail!("the Python helper {} is missing", path.display());
        }
        let mut command = offline(Command::new(python));
        command.arg(path);
        Ok(command)
    }
}

/// The site-packages folder of the venv whose python is `python`.
fn site_packages(python: &Path) -> Result<PathBuf> {
    let mut ask = Command::new(python);
    ask.args([
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
    ]);
    let out = util::output(&mut ask)?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            util::describe(&ask),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// `cargo xtask pyenv [--genai]`: builds the training (or GenAI export) environment
/// if stale and prints its python.
pub(crate) fn run(root: &Path, genai: bool) -> Result<()> {
    let env = if genai { &GENAI } else { &TRAINING };
    let (python, built) = env.build_if_stale(root)?;
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

/// [`PyEnv::script`] in the training environment [`TRAINING`] (export, fixtures,
/// demo training).
pub(crate) fn script(root: &Path, script: &str) -> Result<Command> {
    TRAINING.script(root, script)
}
