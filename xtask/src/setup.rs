//! `cargo xtask setup`: the ONNX Runtime shared library, taken from the PyPI wheel
//! (the `ort` crate's own download comes from a CDN that may be unreachable).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util::{self, LOCAL_DIR};

pub(crate) const ORT_VERSION: &str = "1.31.1";
/// The runtime crate loads exactly this file from `.ttc/onnxruntime/`.
const LIB_NAME: &str = "libonnxruntime.so.1.31.1";
/// Names the installed flavour, e.g. `onnxruntime-gpu 1.31.1`.
const MARKER: &str = "INSTALLED";

/// Copies the wanted libraries out of a wheel (a zip): argv = wheel, destination,
/// main library name. Provider libraries must sit beside the main library.
const EXTRACT_PY: &str = r#"
import fnmatch, shutil, sys, zipfile
from pathlib import Path
wheel, dest, main = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        folder, _, base = name.rpartition("/")
        if folder == "onnxruntime/capi" and (base == main or fnmatch.fnmatch(base, "libonnxruntime_providers_*.so")):
            with archive.open(name) as source, open(dest / base, "wb") as target:
                shutil.copyfileobj(source, target)
            print(f"extracted {base}", file=sys.stderr)
"#;

#[derive(Debug, clap::Args)]
pub(crate) struct SetupArgs {
    /// Install the CUDA build (`onnxruntime-gpu`, a 256 MB wheel) with its
    /// `libonnxruntime_providers_*.so` libraries instead of the CPU build.
    #[arg(long)]
    gpu: bool,
    /// Download and install again even when the requested build is already there.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Cpu,
    Gpu,
}

impl Flavour {
    fn package(self) -> &'static str {
        match self {
            Self::Cpu => "onnxruntime",
            Self::Gpu => "onnxruntime-gpu",
        }
    }

    fn marker(self) -> String {
        format!("{} {ORT_VERSION}", self.package())
    }

    /// Wheel file names normalise `-` in the project name to `_`.
    fn wheel_prefix(self) -> String {
        format!("{}-{ORT_VERSION}-", self.package().replace('-', "_"))
    }
}

fn install_dir(root: &Path) -> PathBuf {
    root.join(LOCAL_DIR).join("onnxruntime")
}

/// The installed flavour's marker, if the library and its marker are both there.
fn installed(dir: &Path) -> Option<String> {
    if !dir.join(LIB_NAME).is_file() {
        return None;
    }
    fs::read_to_string(dir.join(MARKER))
        .ok()
        .map(|text| text.trim().to_owned())
}

pub(crate) fn run(root: &Path, args: &SetupArgs) -> Result<()> {
    let flavour = if args.gpu { Flavour::Gpu } else { Flavour::Cpu };
    let dir = install_dir(root);
    match installed(&dir) {
        Some(marker) if !args.force && marker == flavour.marker() => {
            eprintln!("{marker} is already installed");
        }
        // The GPU build also has the CPU provider: don't downgrade it silently.
        Some(marker)
            if !args.force && flavour == Flavour::Cpu && marker == Flavour::Gpu.marker() =>
        {
            eprintln!(
                "{marker} is installed and includes the CPU provider; keeping it \
                 (pass --force to replace it with the CPU build)"
            );
        }
        _ => {
            install(root, flavour, args.force)?;
            eprintln!("installed {}", flavour.marker());
        }
    }
    println!("{}", dir.join(LIB_NAME).display());
    Ok(())
}

/// Makes sure some ONNX Runtime build is installed (the CPU one if none is) and
/// returns the library path. Used before building or running anything that loads it.
pub(crate) fn ensure(root: &Path) -> Result<PathBuf> {
    let dir = install_dir(root);
    if installed(&dir).is_none() {
        eprintln!(
            "ONNX Runtime is not installed in {}; installing the CPU build",
            dir.display()
        );
        install(root, Flavour::Cpu, false)?;
    }
    Ok(dir.join(LIB_NAME))
}

fn install(root: &Path, flavour: Flavour, force: bool) -> Result<()> {
    let cache = root.join(LOCAL_DIR).join("cache");
    fs::create_dir_all(&cache).with_context(|| format!("cannot create {}", cache.display()))?;
    if force {
        for wheel in cached_wheels(&cache, flavour)? {
            fs::remove_file(&wheel)
                .with_context(|| format!("cannot remove {}", wheel.display()))?;
        }
    }
    let wheel = match cached_wheels(&cache, flavour)?.into_iter().next() {
        Some(wheel) => wheel,
        None => download(&cache, flavour)?,
    };

    // Extract into a staging folder and swap it in, so an interrupted run never
    // leaves a half-written library where the runtime looks for it.
    let dir = install_dir(root);
    let staging = dir.with_extension("partial");
    if staging.exists() {
        fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot remove {}", staging.display()))?;
    }
    fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
    let mut extract = Command::new("python3");
    extract
        .args(["-c", EXTRACT_PY])
        .arg(&wheel)
        .arg(&staging)
        .arg(LIB_NAME);
    util::run(&mut extract).context("cannot extract ONNX Runtime from the wheel")?;
    if !staging.join(LIB_NAME).is_file() {
        bail!(
            "{} has no onnxruntime/capi/{LIB_NAME}; only Linux wheels are supported \
             (delete the file and rerun on Linux)",
            wheel.display()
        );
    }
    fs::write(staging.join(MARKER), flavour.marker() + "\n")
        .with_context(|| format!("cannot write {}", staging.join(MARKER).display()))?;
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    fs::rename(&staging, &dir)
        .with_context(|| format!("cannot rename {} to {}", staging.display(), dir.display()))?;
    Ok(())
}

fn cached_wheels(cache: &Path, flavour: Flavour) -> Result<Vec<PathBuf>> {
    let prefix = flavour.wheel_prefix();
    let mut wheels = Vec::new();
    for entry in fs::read_dir(cache).with_context(|| format!("cannot list {}", cache.display()))? {
        let path = entry
            .with_context(|| format!("cannot list {}", cache.display()))?
            .path();
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
        if name.is_some_and(|name| name.starts_with(&prefix) && name.ends_with(".whl")) {
            wheels.push(path);
        }
    }
    wheels.sort();
    Ok(wheels)
}

fn download(cache: &Path, flavour: Flavour) -> Result<PathBuf> {
    let requirement = format!("{}=={ORT_VERSION}", flavour.package());
    eprintln!(
        "downloading the {requirement} wheel into {}",
        cache.display()
    );
    let mut pip = Command::new("python3");
    pip.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .arg(&requirement)
        .arg("-d")
        .arg(cache);
    let status = util::status(&mut pip)
        .context("setup needs python3 with pip to download the ONNX Runtime wheel")?;
    if !status.success() {
        bail!(
            "pip could not download {requirement} ({status}; see its output above). Check that \
             the package registry is reachable (or point PIP_INDEX_URL at a mirror), or put \
             the {}*.whl file for this platform into {} and rerun",
            flavour.wheel_prefix(),
            cache.display()
        );
    }
    cached_wheels(cache, flavour)?
        .into_iter()
        .next()
        .with_context(|| {
            format!(
                "pip reported success but {} holds no {}*.whl",
                cache.display(),
                flavour.wheel_prefix()
            )
        })
}
