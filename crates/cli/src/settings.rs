//! Runtime settings from a TOML run file and flags, resolved before any component sees them.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;
use ttc_core::{ExecutionProvider, FallbackPolicy, RuntimeSettings};

/// The `[runtime]` table of a run file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RuntimeSection {
    /// Path of libonnxruntime.so (relative paths are taken from the run file's folder).
    pub(crate) library: Option<PathBuf>,
    pub(crate) provider: Option<ExecutionProvider>,
    pub(crate) fallback: Option<FallbackPolicy>,
    pub(crate) device_id: Option<i32>,
    pub(crate) fp16: Option<bool>,
    pub(crate) engine_cache: Option<PathBuf>,
    pub(crate) threads: Option<usize>,
}

/// Reads the `[runtime]` table of a run file; errors name the file, line and allowed values.
pub(crate) fn load_runtime_section(path: &Path) -> Result<RuntimeSection> {
    Ok(crate::run_file::RunFile::load(path)?.runtime)
}

/// Runtime flags shared by every subcommand that loads a model.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct RuntimeArgs {
    /// TOML run file (see config/); its `[runtime]` table sets the defaults below.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// ONNX Runtime library (default: run file, then ORT_DYLIB_PATH, then `cargo xtask setup`'s install).
    #[arg(long, value_name = "PATH")]
    pub(crate) ort_library: Option<PathBuf>,
    /// Execution provider.
    #[arg(long, value_enum)]
    pub(crate) provider: Option<ProviderArg>,
    /// When the provider cannot be used: fall back to `cpu` (logged) or stop with an `error`.
    #[arg(long, value_enum)]
    pub(crate) fallback: Option<FallbackArg>,
    /// GPU ordinal for cuda and tensorrt.
    #[arg(long)]
    pub(crate) device_id: Option<i32>,
    /// TensorRT: build fp16 engines.
    #[arg(long)]
    pub(crate) fp16: bool,
    /// TensorRT: cache built engines in this folder.
    #[arg(long, value_name = "DIR")]
    pub(crate) engine_cache: Option<PathBuf>,
    /// ONNX Runtime intra-op threads (default: all cores).
    #[arg(long)]
    pub(crate) threads: Option<usize>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum ProviderArg {
    Cpu,
    Cuda,
    Tensorrt,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum FallbackArg {
    Cpu,
    Error,
}

impl RuntimeArgs {
    /// Flags over the run file given with `--config` over defaults.
    pub(crate) fn resolve(&self) -> Result<RuntimeSettings> {
        let file = match &self.config {
            Some(path) => load_runtime_section(path)?,
            None => RuntimeSection::default(),
        };
        self.resolve_with(&file)
    }

    /// Flags over `file` over defaults.
    pub(crate) fn resolve_with(&self, file: &RuntimeSection) -> Result<RuntimeSettings> {
        let file = file.clone();
        let d = RuntimeSettings::default();
        Ok(RuntimeSettings {
            library: self.ort_library.clone().or(file.library),
            provider: match self.provider {
                Some(ProviderArg::Cpu) => ExecutionProvider::Cpu,
                Some(ProviderArg::Cuda) => ExecutionProvider::Cuda,
                Some(ProviderArg::Tensorrt) => ExecutionProvider::Tensorrt,
                None => file.provider.unwrap_or(d.provider),
            },
            fallback: match self.fallback {
                Some(FallbackArg::Cpu) => FallbackPolicy::Cpu,
                Some(FallbackArg::Error) => FallbackPolicy::Error,
                None => file.fallback.unwrap_or(d.fallback),
            },
            device_id: self.device_id.or(file.device_id).unwrap_or(d.device_id),
            fp16: self.fp16 || file.fp16.unwrap_or(d.fp16),
            engine_cache: self.engine_cache.clone().or(file.engine_cache),
            threads: self.threads.or(file.threads),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuntimeSection> {
        let dir = std::env::temp_dir().join(format!("ttc-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("run-{}.toml", text.len()));
        std::fs::write(&path, text)?;
        load_runtime_section(&path)
    }

    #[test]
    fn reads_a_runtime_table() {
        let rt =
            parse("[runtime]\nprovider = \"cuda\"\nfallback = \"error\"\ndevice-id = 1\n").unwrap();
        assert_eq!(rt.provider, Some(ExecutionProvider::Cuda));
        assert_eq!(rt.fallback, Some(FallbackPolicy::Error));
        assert_eq!(rt.device_id, Some(1));
    }

    #[test]
    fn bad_provider_names_line_and_allowed_values() {
        let err = parse("[runtime]\n\nprovider = \"gpu\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("`cpu`, `cuda`, `tensorrt`"), "{err}");
    }

    #[test]
    fn unknown_key_is_an_error() {
        let err = parse("[runtime]\nprovidr = \"cpu\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("providr") && err.contains("line 2"), "{err}");
    }
}
