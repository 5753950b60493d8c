use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::value::{TensorElementType, ValueType};
use ttc_core::{ActiveProvider, Error, ExecutionProvider, FallbackPolicy, Result, RuntimeSettings};

use crate::{Tensor, runtime};

/// Element type of a graph input or output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    F16,
    I64,
    I32,
    Bool,
    Other(String),
}

/// Name, element type and shape of a graph input or output; -1 marks a dynamic dimension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<i64>,
}

impl TensorSpec {
    /// Dimension `i` when the graph fixes it (not dynamic).
    pub fn fixed_dim(&self, i: usize) -> Option<usize> {
        self.shape.get(i).filter(|&&d| d > 0).map(|&d| d as usize)
    }
}

/// One ONNX model loaded into an ONNX Runtime session on the configured provider.
#[derive(Debug)]
pub struct OnnxModel {
    path: PathBuf,
    // `Session::run` takes `&mut self`; one run at a time per model.
    session: Mutex<Session>,
    /// The session's CPU arena, for input tensors filled in place (`None` when the
    /// session has none): memory reused from run to run instead of fresh pages.
    arena: Mutex<Option<Allocator>>,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    provider: ActiveProvider,
}

/// Named outputs of one run.
#[derive(Debug)]
pub struct Outputs(Vec<(String, Tensor)>);

impl Outputs {
    /// Takes the output `name` out.
    pub fn take(&mut self, name: &str) -> Result<Tensor> {
        let i = self.0.iter().position(|(n, _)| n == name).ok_or_else(|| {
            Error::invalid("output name", format!("the model has no output `{name}`"))
        })?;
        Ok(self.0.swap_remove(i).1)
    }
}

fn spec(name: &str, ty: &ValueType) -> TensorSpec {
    let (dtype, shape) = match ty {
        ValueType::Tensor { ty, shape, .. } => {
            let dtype = match ty {
                TensorElementType::Float32 => DType::F32,
                TensorElementType::Float16 => DType::F16,
                TensorElementType::Int64 => DType::I64,
                TensorElementType::Int32 => DType::I32,
                TensorElementType::Bool => DType::Bool,
                other => DType::Other(format!("{other:?}")),
            };
            (dtype, shape.to_vec())
        }
        other => (DType::Other(format!("{other:?}")), Vec::new()),
    };
    TensorSpec {
        name: name.to_string(),
        dtype,
        shape,
    }
}

impl OnnxModel {
    /// Loads `path` on the provider `settings` asks for, falling back to the CPU or
    /// failing as the settings' policy says. The provider in use is logged.
    pub fn load(path: &Path, settings: &RuntimeSettings) -> Result<OnnxModel> {
        let rt = runtime(settings.library.as_deref())?;
        if !path.is_file() {
            return Err(Error::model(
                path.parent().unwrap_or(Path::new(".")),
                format!("{} does not exist", path.display()),
            ));
        }
        let model_err = |stage: &str, e: String| {
            Error::model(
                path.parent().unwrap_or(Path::new(".")),
                format!("{stage} {}: {e}", path.display()),
            )
        };
        let mut builder = Session::builder(&rt.environment)
            .map_err(|e| model_err("creating a session for", e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| model_err("configuring", e.to_string()))?;
        // Sessions share the environment's pool (a thread per core) unless a thread
        // count is asked for.
        if let Some(threads) = settings.threads {
            builder = builder
                .with_independent_thread_pool()
                .map_err(|e| model_err("configuring", e.to_string()))?
                .with_intra_threads(threads)
                .map_err(|e| model_err("configuring", e.to_string()))?;
        }
        let (mut builder, provider) = register_provider(builder, settings)?;
        let session = builder
            .commit_from_file(path)
            .map_err(|e| model_err("loading", e.to_string()))?;
        let inputs = session
            .inputs()
            .iter()
            .map(|o| spec(o.name(), o.dtype()))
            .collect();
        let outputs = session
            .outputs()
            .iter()
            .map(|o| spec(o.name(), o.dtype()))
            .collect();
        tracing::info!(
            model = %path.display(),
            requested = %provider.requested,
            active = %provider.active,
            "session ready"
        );
        let arena = MemoryInfo::new(
            AllocationDevice::CPU,
            0,
            AllocatorType::Arena,
            MemoryType::Default,
        )
        .and_then(|info| Allocator::new(&session, info))
        .ok();
        tracing::debug!(model = %path.display(), arena = arena.is_some(), "input arena");
        Ok(OnnxModel {
            path: path.to_path_buf(),
            arena: Mutex::new(arena),
            session: Mutex::new(session),
            inputs,
            outputs,
            provider,
        })
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Graph inputs.
    pub fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    /// Graph outputs.
    pub fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    /// The provider in use.
    pub fn provider(&self) -> &ActiveProvider {
        &self.provider
    }

    /// An f32 tensor of `shape`, zeros, then filled in place by `fill`: allocated from
    /// the session's CPU arena when it has one.
    pub fn f32_tensor(&self, shape: &[usize], fill: impl FnOnce(&mut [f32])) -> Result<Tensor> {
        let arena = self.arena.lock().unwrap_or_else(|e| e.into_inner());
        let Some(arena) = arena.as_ref() else {
            let mut data = vec![0.0f32; shape.iter().product()];
            fill(&mut data);
            return Tensor::f32(shape, data);
        };
        let mut t = ort::value::Tensor::<f32>::new(arena, shape.to_vec())
            .map_err(|e| Error::invalid("tensor", e.to_string()))?;
        fill(t.extract_tensor_mut().1);
        Ok(Tensor(t.into_dyn()))
    }

    /// Runs the graph on named inputs and returns the outputs named in `wanted` (all when empty).
    pub fn run<N: AsRef<str>>(&self, inputs: Vec<(N, Tensor)>, wanted: &[&str]) -> Result<Outputs> {
        let values: Vec<(&str, ort::session::SessionInputValue<'_>)> = inputs
            .iter()
            .map(|(n, t)| (n.as_ref(), (&t.0).into()))
            .collect();
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = session.run(values).map_err(|e| Error::Inference {
            model: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        let names: Vec<String> = if wanted.is_empty() {
            self.outputs.iter().map(|o| o.name.clone()).collect()
        } else {
            wanted.iter().map(|s| s.to_string()).collect()
        };
        let mut taken = Vec::with_capacity(names.len());
        for name in names {
            let value = out.remove(&name).ok_or_else(|| Error::Inference {
                model: self.path.display().to_string(),
                message: format!("the run produced no output `{name}`"),
            })?;
            taken.push((name, Tensor(value)));
        }
        Ok(Outputs(taken))
    }
}

fn register_provider(
    builder: SessionBuilder,
    settings: &RuntimeSettings,
) -> Result<(SessionBuilder, ActiveProvider)> {
    let requested = settings.provider.clone();
    if requested == ExecutionProvider::Cpu {
        let active = ActiveProvider {
            requested: ExecutionProvider::Cpu,
            active: ExecutionProvider::Cpu,
            fallback_reason: None,
        };
        return Ok((builder, active));
    }
    let attempt = match dispatch(settings) {
        Ok(providers) => builder.with_execution_providers(providers).map_err(|e| {
            let reason = e.to_string().trim_end_matches('.').to_string();
            (e.recover(), reason)
        }),
        Err(reason) => Err((builder, reason)),
    };
    match attempt {
        Ok(builder) => Ok((
            builder,
            ActiveProvider {
                requested: requested.clone(),
                active: requested,
                fallback_reason: None,
            },
        )),
        Err((builder, reason)) => match settings.fallback {
            FallbackPolicy::Error => Err(Error::Provider {
                provider: requested.to_string(),
                reason: format!(
                    "{reason}. Install the GPU build with `cargo xtask setup --gpu` on a machine \
                     with CUDA, or set `fallback = \"cpu\"` to run on the CPU instead"
                ),
            }),
            FallbackPolicy::Cpu => {
                tracing::warn!(provider = %requested, %reason, "execution provider unavailable; falling back to cpu");
                Ok((
                    builder,
                    ActiveProvider {
                        requested,
                        active: ExecutionProvider::Cpu,
                        fallback_reason: Some(reason),
                    },
                ))
            }
        },
    }
}

/// The provider list for a GPU request; registration errors are not silenced.
fn dispatch(
    settings: &RuntimeSettings,
) -> std::result::Result<Vec<ort::ep::ExecutionProviderDispatch>, String> {
    match settings.provider {
        ExecutionProvider::Cpu => Ok(Vec::new()),
        ExecutionProvider::Cuda => Ok(vec![cuda(settings)?.error_on_failure()]),
        // CUDA after TensorRT takes the nodes TensorRT does not support.
        ExecutionProvider::Tensorrt => Ok(vec![
            tensorrt(settings)?.error_on_failure(),
            cuda(settings)?.error_on_failure(),
        ]),
    }
}

#[cfg(feature = "cuda")]
fn cuda(
    settings: &RuntimeSettings,
) -> std::result::Result<ort::ep::ExecutionProviderDispatch, String> {
    Ok(ort::ep::CUDA::default()
        .with_device_id(settings.device_id)
        .build())
}

#[cfg(not(feature = "cuda"))]
fn cuda(_: &RuntimeSettings) -> std::result::Result<ort::ep::ExecutionProviderDispatch, String> {
    Err("this build of ttc was compiled without the `cuda` feature".into())
}

#[cfg(feature = "tensorrt")]
fn tensorrt(
    settings: &RuntimeSettings,
) -> std::result::Result<ort::ep::ExecutionProviderDispatch, String> {
    let mut ep = ort::ep::TensorRT::default()
        .with_device_id(settings.device_id)
        .with_fp16(settings.fp16);
    if let Some(dir) = &settings.engine_cache {
        ep = ep
            .with_engine_cache(true)
            .with_engine_cache_path(dir.display())
            .with_timing_cache(true)
            .with_timing_cache_path(dir.display());
    }
    Ok(ep.build())
}

#[cfg(not(feature = "tensorrt"))]
fn tensorrt(
    _: &RuntimeSettings,
) -> std::result::Result<ort::ep::ExecutionProviderDispatch, String> {
    Err("this build of ttc was compiled without the `tensorrt` feature".into())
}
