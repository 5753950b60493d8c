use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which ONNX Runtime execution provider a model should run on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionProvider {
    /// ONNX Runtime's CPU provider.
    #[default]
    Cpu,
    /// NVIDIA CUDA (needs the `onnxruntime-gpu` library: `cargo xtask setup --gpu`).
    Cuda,
    /// NVIDIA TensorRT, with CUDA for the nodes TensorRT does not take.
    Tensorrt,
}

impl std::fmt::Display for ExecutionProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ExecutionProvider::Cpu => "cpu",
            ExecutionProvider::Cuda => "cuda",
            ExecutionProvider::Tensorrt => "tensorrt",
        })
    }
}

/// What to do when the requested provider cannot be registered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FallbackPolicy {
    /// Log a warning and run on the CPU provider.
    #[default]
    Cpu,
    /// Fail with an error naming the provider and the reason.
    Error,
}

/// Resolved runtime settings for one model: library, provider, threads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeSettings {
    /// Path of `libonnxruntime.so`; `None` looks at ORT_DYLIB_PATH, then the project-local install.
    pub library: Option<PathBuf>,
    pub provider: ExecutionProvider,
    pub fallback: FallbackPolicy,
    /// GPU ordinal for CUDA and TensorRT.
    pub device_id: i32,
    /// TensorRT: build fp16 engines.
    pub fp16: bool,
    /// TensorRT: folder where built engines are cached between runs.
    pub engine_cache: Option<PathBuf>,
    /// Intra-op threads; `None` lets ONNX Runtime use every core.
    pub threads: Option<usize>,
    /// TensorRT: the optimisation profile engines are built for (one engine per
    /// profile); `None` lets TensorRT take each new shape as it comes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensorrt_profile: Option<ShapeProfile>,
}

/// A TensorRT optimisation profile: (min, opt, max) of the batch and of the sequence
/// lengths (new tokens, cache, attention mask) a model will see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeProfile {
    pub batch: [usize; 3],
    pub length: [usize; 3],
}

impl ShapeProfile {
    /// Checks that each range is ordered and starts at 1 or more.
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (name, [min, opt, max]) in [("batch", self.batch), ("length", self.length)] {
            if min == 0 || min > opt || opt > max {
                return Err(format!(
                    "tensorrt-profile {name} = [{min}, {opt}, {max}]: needs 1 <= min <= opt <= max"
                ));
            }
        }
        Ok(())
    }
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            library: None,
            provider: ExecutionProvider::Cpu,
            fallback: FallbackPolicy::Cpu,
            device_id: 0,
            fp16: false,
            engine_cache: None,
            threads: None,
            tensorrt_profile: None,
        }
    }
}

/// The provider a session actually runs on, recorded with every result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveProvider {
    /// What was asked for.
    pub requested: ExecutionProvider,
    /// What is in use.
    pub active: ExecutionProvider,
    /// Why the two differ, when they do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}
