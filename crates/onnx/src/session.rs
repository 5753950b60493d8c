use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::{IoBinding, Session};
use ort::value::{DynValue, TensorElementType, ValueType};
use ttc_core::{
    ActiveProvider, Error, ExecutionProvider, FallbackPolicy, Result, RuntimeSettings, ShapeProfile,
};

use crate::gather::Gathers;
use crate::profile::{graph_inputs, profile_shapes};
use crate::tensor::Repr;
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

/// Where a bound run leaves an output (see [`OnnxModel::run_bound`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The provider's memory: the GPU's on CUDA and TensorRT, the session's arena on
    /// the CPU. For outputs that the next run takes as inputs (the KV cache): they
    /// stay where they are and are bound again as they are.
    Device,
    /// Host memory, readable with [`Tensor::f32_data`]: for what the caller reads
    /// (the logits).
    Host,
}

/// A session and the binding its bound runs reuse.
#[derive(Debug)]
pub(crate) struct Runner {
    pub(crate) session: Session,
    /// Made on the first bound run.
    pub(crate) binding: Option<IoBinding>,
}

/// One ONNX model loaded into an ONNX Runtime session on the configured provider.
#[derive(Debug)]
pub struct OnnxModel {
    path: PathBuf,
    // `Session::run` takes `&mut self`; one run at a time per model.
    session: Mutex<Runner>,
    /// Where [`Placement::Device`] outputs are allocated.
    device: MemoryInfo<'static>,
    /// Where [`Placement::Host`] outputs are allocated.
    host: MemoryInfo<'static>,
    /// The settings it was loaded with (the gather sessions use them too).
    pub(crate) settings: RuntimeSettings,
    /// Sessions that copy KV-cache rows on the model's provider.
    pub(crate) gathers: Gathers,
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
        let (mut builder, provider) = register_provider(builder, settings, path)?;
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
        let (device, host) = placements(&provider.active, settings.device_id)
            .map_err(|e| model_err("configuring", e.to_string()))?;
        Ok(OnnxModel {
            path: path.to_path_buf(),
            arena: Mutex::new(arena),
            session: Mutex::new(Runner {
                session,
                binding: None,
            }),
            device,
            host,
            settings: settings.clone(),
            gathers: Gathers::default(),
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
        Ok(Tensor(Repr::Ort(t.into_dyn())))
    }

    /// Runs the graph on named inputs and returns the outputs named in `wanted` (all when empty).
    pub fn run<N: AsRef<str>>(&self, inputs: Vec<(N, Tensor)>, wanted: &[&str]) -> Result<Outputs> {
        // Inputs built from Rust data become ONNX Runtime values here (buffers move).
        let owned = inputs
            .into_iter()
            .map(|(n, t)| Ok((n, t.into_ort()?)))
            .collect::<Result<Vec<_>>>()?;
        let values: Vec<(&str, ort::session::SessionInputValue<'_>)> =
            owned.iter().map(|(n, v)| (n.as_ref(), v.into())).collect();
        let mut runner = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = runner.session.run(values).map_err(|e| self.inference(e))?;
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
            taken.push((name, Tensor(Repr::Ort(value))));
        }
        Ok(Outputs(taken))
    }

    /// Whether [`Placement::Device`] outputs are in host memory (true on the CPU).
    pub fn device_is_host(&self) -> bool {
        self.device.is_cpu_accessible()
    }

    /// Runs the graph through an I/O binding: every input is bound where it is (an
    /// output of an earlier run stays in device memory; Rust data is copied to the
    /// device by ONNX Runtime when the provider needs it there) and each output in
    /// `outputs` is allocated where its [`Placement`] says, so a KV cache passed from
    /// run to run never leaves the device and only host outputs cross to the host.
    pub fn run_bound<N: AsRef<str>>(
        &self,
        inputs: Vec<(N, Tensor)>,
        outputs: &[(&str, Placement)],
    ) -> Result<Outputs> {
        let owned = inputs
            .into_iter()
            .map(|(n, t)| Ok((n, t.into_ort()?)))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<(&str, &DynValue)> = owned.iter().map(|(n, v)| (n.as_ref(), v)).collect();
        let mut runner = self.session.lock().unwrap_or_else(|e| e.into_inner());
        self.run_bound_on(&mut runner, &refs, outputs)
    }

    /// [`OnnxModel::run_bound`] with `shared` buffers: each tensor is bound as the
    /// input and the output its pair of names gives (`past_key_values.0.key` and
    /// `present.0.key`), one buffer for both, so an operator that recognises the
    /// sharing (GroupQueryAttention compares the pointers) writes the new positions
    /// into it in place and nothing is copied. The tensors must be the model's own
    /// (from [`OnnxModel::zeros_kv`], [`OnnxModel::gather_kv`] or an earlier run).
    pub fn run_shared<N: AsRef<str>>(
        &self,
        inputs: Vec<(N, Tensor)>,
        shared: &mut [Tensor],
        names: &[(String, String)],
        outputs: &[(&str, Placement)],
    ) -> Result<Outputs> {
        if shared.len() != names.len() {
            return Err(Error::invalid(
                "shared buffers",
                format!("{} buffers for {} name pairs", shared.len(), names.len()),
            ));
        }
        let owned = inputs
            .into_iter()
            .map(|(n, t)| Ok((n, t.into_ort()?)))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<(&str, &DynValue)> = owned.iter().map(|(n, v)| (n.as_ref(), v)).collect();
        let mut values = Vec::with_capacity(shared.len());
        for t in shared.iter_mut() {
            match &mut t.0 {
                Repr::Ort(v) => values.push(v),
                Repr::Host { .. } => {
                    return Err(Error::invalid(
                        "shared buffers",
                        "a buffer is Rust data, not a tensor of the model's (make it with zeros_kv)",
                    ));
                }
            }
        }
        let mut runner = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let Runner { session, binding } = &mut *runner;
        let binding = match binding {
            Some(b) => b,
            None => binding.insert(session.create_binding().map_err(|e| self.inference(e))?),
        };
        binding.clear();
        let result = (|| {
            for (value, (input, output)) in values.into_iter().zip(names) {
                binding
                    .bind_input(input.as_str(), &*value)
                    .map_err(|e| self.inference(e))?;
                binding
                    .bind_output(output.as_str(), value)
                    .map_err(|e| self.inference(e))?;
            }
            self.bind_and_run(session, binding, &refs, outputs)
        })();
        binding.clear();
        Ok(Outputs(result?))
    }

    /// [`OnnxModel::run_bound`] on `runner` (this model's session or one of its
    /// gather sessions), with inputs bound by reference.
    pub(crate) fn run_bound_on<N: AsRef<str>>(
        &self,
        runner: &mut Runner,
        inputs: &[(N, &DynValue)],
        outputs: &[(&str, Placement)],
    ) -> Result<Outputs> {
        let Runner { session, binding } = runner;
        let binding = match binding {
            Some(b) => b,
            None => binding.insert(session.create_binding().map_err(|e| self.inference(e))?),
        };
        // A binding allocates a device output once and hands the same buffer to the
        // next run: outputs are bound afresh each run, so a cache kept from this run
        // is not overwritten by the next.
        binding.clear();
        let result = self.bind_and_run(session, binding, inputs, outputs);
        // The binding holds its inputs until cleared: let the caller's cache go.
        binding.clear();
        Ok(Outputs(result?))
    }

    /// Binds `inputs` and `outputs` (on top of what is bound already), runs, and
    /// takes the outputs named in `outputs`.
    fn bind_and_run<N: AsRef<str>>(
        &self,
        session: &mut Session,
        binding: &mut IoBinding,
        inputs: &[(N, &DynValue)],
        outputs: &[(&str, Placement)],
    ) -> Result<Vec<(String, Tensor)>> {
        {
            for (name, value) in inputs {
                binding
                    .bind_input(name.as_ref(), *value)
                    .map_err(|e| self.inference(e))?;
            }
            for &(name, place) in outputs {
                let memory = match place {
                    Placement::Device => &self.device,
                    Placement::Host => &self.host,
                };
                binding
                    .bind_output_to_device(name, memory)
                    .map_err(|e| self.inference(e))?;
            }
            let mut out = session
                .run_binding(binding)
                .map_err(|e| self.inference(e))?;
            outputs
                .iter()
                .map(|&(name, _)| {
                    let value = out.remove(name).ok_or_else(|| Error::Inference {
                        model: self.path.display().to_string(),
                        message: format!("the run produced no output `{name}`"),
                    })?;
                    Ok((name.to_string(), Tensor(Repr::Ort(value))))
                })
                .collect::<Result<Vec<_>>>()
        }
    }

    fn inference(&self, e: ort::Error) -> Error {
        Error::Inference {
            model: self.path.display().to_string(),
            message: e.to_string(),
        }
    }
}

/// The memory of [`Placement::Device`] and [`Placement::Host`] outputs for a session on
/// `provider`: the GPU's (device `device_id`) under CUDA and TensorRT, the CPU's
/// otherwise.
fn placements(
    provider: &ExecutionProvider,
    device_id: i32,
) -> ort::Result<(MemoryInfo<'static>, MemoryInfo<'static>)> {
    let host = MemoryInfo::new(
        AllocationDevice::CPU,
        0,
        AllocatorType::Device,
        MemoryType::Default,
    )?;
    let device = match provider {
        ExecutionProvider::Cpu => MemoryInfo::new(
            AllocationDevice::CPU,
            0,
            AllocatorType::Arena,
            MemoryType::Default,
        )?,
        ExecutionProvider::Cuda | ExecutionProvider::Tensorrt => MemoryInfo::new(
            AllocationDevice::CUDA,
            device_id,
            AllocatorType::Device,
            MemoryType::Default,
        )?,
    };
    Ok((device, host))
}

/// The TensorRT profile shapes `(min, opt, max)` of the graph at `path` for
/// `profile` (see `profile.rs`); `None` when no input has a dynamic dimension.
pub fn tensorrt_profile(
    path: &Path,
    profile: &ShapeProfile,
) -> Result<Option<(String, String, String)>> {
    profile
        .validate()
        .map_err(|e| Error::invalid("runtime settings", e))?;
    Ok(profile_shapes(&graph_inputs(path)?, profile))
}

fn register_provider(
    builder: SessionBuilder,
    settings: &RuntimeSettings,
    path: &Path,
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
    let attempt = match dispatch(settings, path) {
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
    path: &Path,
) -> std::result::Result<Vec<ort::ep::ExecutionProviderDispatch>, String> {
    match settings.provider {
        ExecutionProvider::Cpu => Ok(Vec::new()),
        ExecutionProvider::Cuda => Ok(vec![cuda(settings)?.error_on_failure()]),
        // CUDA after TensorRT takes the nodes TensorRT does not support.
        ExecutionProvider::Tensorrt => Ok(vec![
            tensorrt(settings, path)?.error_on_failure(),
            cuda(settings)?.error_on_failure(),
        ]),
    }
}

#[cfg(feature = "cuda")]
pub(crate) fn cuda(
    settings: &RuntimeSettings,
) -> std::result::Result<ort::ep::ExecutionProviderDispatch, String> {
    Ok(ort::ep::CUDA::default()
        .with_device_id(settings.device_id)
        .build())
}

#[cfg(not(feature = "cuda"))]
pub(crate) fn cuda(
    _: &RuntimeSettings,
) -> std::result::Result<ort::ep::ExecutionProviderDispatch, String> {
    Err("this build of ttc was compiled without the `cuda` feature".into())
}

#[cfg(feature = "tensorrt")]
fn tensorrt(
    settings: &RuntimeSettings,
    path: &Path,
) -> std::result::Result<ort::ep::ExecutionProviderDispatch, String> {
    let mut ep = ort::ep::TensorRT::default()
        .with_device_id(settings.device_id)
        .with_fp16(settings.fp16);
    if let Some(profile) = &settings.tensorrt_profile
        && let Some((min, opt, max)) = tensorrt_profile(path, profile).map_err(|e| e.to_string())?
    {
        tracing::info!(model = %path.display(), %min, %opt, %max, "tensorrt profile");
        ep = ep
            .with_profile_min_shapes(min)
            .with_profile_opt_shapes(opt)
            .with_profile_max_shapes(max);
    }
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
    _: &Path,
) -> std::result::Result<ort::ep::ExecutionProviderDispatch, String> {
    Err("this build of ttc was compiled without the `tensorrt` feature".into())
}
