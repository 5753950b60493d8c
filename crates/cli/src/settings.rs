//! Runtime flags shared by the subcommands that load a model.

use std::path::PathBuf;

use anyhow::Result;
use ttc_app::run_file::{RunFile, RuntimeSection};
use ttc_core::{ExecutionProvider, FallbackPolicy, RuntimeSettings};

/// Runtime flags shared by every subcommand that loads a model.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct RuntimeArgs {
    /// TOML run file (see config/); its `[runtime]` table sets the defaults below.
    /// Beside `ttc eval RUN.toml`: a file with only a `[runtime]` table, over RUN.toml's.
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
    /// TensorRT: build fp16 engines (over the run file's `fp16`).
    #[arg(long, overrides_with = "no_fp16")]
    pub(crate) fp16: bool,
    /// TensorRT: build fp32 engines, whatever the run file's `fp16` says.
    #[arg(long, overrides_with = "fp16")]
    pub(crate) no_fp16: bool,
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
            Some(path) => RunFile::load(path)?.runtime,
            None => RuntimeSection::default(),
        };
        Ok(file.resolve(&self.overrides()))
    }

    /// The flags as a `[runtime]` table, to lay over a run file's.
    pub(crate) fn overrides(&self) -> RuntimeSection {
        RuntimeSection {
            library: self.ort_library.clone(),
            provider: self.provider.map(|p| match p {
                ProviderArg::Cpu => ExecutionProvider::Cpu,
                ProviderArg::Cuda => ExecutionProvider::Cuda,
                ProviderArg::Tensorrt => ExecutionProvider::Tensorrt,
            }),
            fallback: self.fallback.map(|f| match f {
                FallbackArg::Cpu => FallbackPolicy::Cpu,
                FallbackArg::Error => FallbackPolicy::Error,
            }),
            device_id: self.device_id,
            fp16: (self.fp16 || self.no_fp16).then_some(self.fp16),
            engine_cache: self.engine_cache.clone(),
            threads: self.threads,
            tensorrt_profile: None,
        }
    }
}
