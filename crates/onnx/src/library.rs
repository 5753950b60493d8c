use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ttc_core::{Error, Result};

/// The library file name `cargo xtask setup` installs.
const LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";

/// Where a library path came from, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibrarySource {
    RunConfig,
    Environment,
    ProjectLocal,
}

impl LibrarySource {
    fn name(self) -> &'static str {
        match self {
            LibrarySource::RunConfig => "from --ort-library or the run config",
            LibrarySource::Environment => "from ORT_DYLIB_PATH",
            LibrarySource::ProjectLocal => "the project-local install",
        }
    }
}

/// A library path and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedLibrary {
    pub path: PathBuf,
    pub source: LibrarySource,
}

/// The project-local install made by `cargo xtask setup`: `.ttc/onnxruntime/` in the
/// workspace this binary was built from, or above the running executable.
pub fn project_library_path() -> PathBuf {
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut roots = vec![built_in];
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    let candidates: Vec<PathBuf> = roots
        .iter()
        .map(|r| r.join(".ttc/onnxruntime").join(LIBRARY_FILE))
        .collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .or(candidates.first())
        .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
        .expect("at least one candidate")
}

/// Picks the library path: `configured`, then `ORT_DYLIB_PATH`, then the project-local install.
pub fn resolve_library(configured: Option<&Path>) -> ResolvedLibrary {
    if let Some(path) = configured {
        return ResolvedLibrary {
            path: path.to_path_buf(),
            source: LibrarySource::RunConfig,
        };
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return ResolvedLibrary {
            path: PathBuf::from(path),
            source: LibrarySource::Environment,
        };
    }
    ResolvedLibrary {
        path: project_library_path(),
        source: LibrarySource::ProjectLocal,
    }
}

/// The loaded ONNX Runtime and the process's one environment.
#[derive(Debug)]
pub struct Runtime {
    pub(crate) environment: ort::environment::Environment,
    library: ResolvedLibrary,
}

impl Runtime {
    /// The library in use.
    pub fn library(&self) -> &ResolvedLibrary {
        &self.library
    }

    /// ONNX Runtime's version (from the library's file name, `libonnxruntime.so.X.Y.Z`,
    /// when it has one) and build (commit, build type), which a run records: another
    /// build may compute slightly different floats.
    pub fn build_info(&self) -> String {
        let name = self
            .library
            .path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        let version = name
            .split_once(".so.")
            .map(|(_, v)| v)
            .filter(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
            .unwrap_or("version unknown");
        // The build string ends with the compiler flags, which say nothing to a reader.
        let info = ort::info().trim_start_matches("ORT Build Info: ");
        let keep: Vec<&str> = info
            .split(", ")
            .filter(|part| !part.starts_with("cmake"))
            .collect();
        format!("ONNX Runtime {version} ({})", keep.join(", "))
    }
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
/// Serialises first loads, so that a failed load can be retried with another path
/// (for instance after `cargo xtask setup`) while a successful one stays for good.
static LOADING: Mutex<()> = Mutex::new(());

/// ONNX Runtime if this process has loaded it (a run on test doubles has not).
pub fn loaded() -> Option<&'static Runtime> {
    RUNTIME.get()
}

/// Loads ONNX Runtime once per process and returns it. A later call asking for a
/// different library gets an error: ONNX Runtime cannot be loaded twice.
pub fn runtime(configured: Option<&Path>) -> Result<&'static Runtime> {
    let wanted = resolve_library(configured);
    let _guard = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = RUNTIME.get() {
        if configured.is_some() && !same_file(&rt.library.path, &wanted.path) {
            return Err(library_error(
                &wanted,
                format!(
                    "this process already loaded ONNX Runtime from {}; one library per process",
                    rt.library.path.display()
                ),
            ));
        }
        return Ok(rt);
    }
    check_file(&wanted)?;
    let builder =
        ort::init_from(&wanted.path).map_err(|e| library_error(&wanted, e.to_string()))?;
    // One intra-op thread pool (a thread per core) for every session that does not ask
    // for its own thread count: a process runs its models one after another (a search
    // alternates the generator and the reward model), and per-session pools would keep
    // a second set of workers spinning on the same cores after each model's run.
    let pool = ort::environment::GlobalThreadPoolOptions::default()
        .with_intra_threads(0)
        .map_err(|e| library_error(&wanted, format!("configuring the thread pool failed: {e}")))?;
    let environment = builder
        .with_name("ttc")
        .with_global_thread_pool(pool)
        .build()
        .map_err(|e| library_error(&wanted, format!("creating the environment failed: {e}")))?;
    tracing::info!(library = %wanted.path.display(), source = wanted.source.name(), "ONNX Runtime loaded");
    Ok(RUNTIME.get_or_init(|| Runtime {
        environment,
        library: wanted,
    }))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn library_error(lib: &ResolvedLibrary, reason: String) -> Error {
    Error::RuntimeLibrary {
        path: lib.path.clone(),
        source_name: lib.source.name(),
        reason,
    }
}

/// Checks what dlopen would otherwise report badly or not at all.
fn check_file(lib: &ResolvedLibrary) -> Result<()> {
    let meta = std::fs::metadata(&lib.path).map_err(|e| {
        let reason = if e.kind() == std::io::ErrorKind::NotFound {
            "no such file".to_string()
        } else {
            e.to_string()
        };
        library_error(lib, reason)
    })?;
    if !meta.is_file() {
        return Err(library_error(lib, "not a file".into()));
    }
    std::fs::File::open(&lib.path)
        .map_err(|e| library_error(lib, format!("cannot be read: {e}")))?;
    Ok(())
}
