use ort::memory::AllocationDevice;
use ort::value::{DynTensorValueType, DynValue, Tensor as OrtTensor, ValueType};
use ttc_core::{Error, Result};

/// A tensor built from Rust data, or owned by ONNX Runtime (a run's output, or an
/// input allocated from a model's arena). Outputs of one run can be fed to the next
/// as they are (the KV cache), without copying.
///
/// Built from Rust data, it stays plain Rust until [`crate::OnnxModel::run`] hands it
/// to ONNX Runtime (moving the buffer, not copying it): only an `OnnxModel`, which
/// exists once the library is loaded, reaches `ort`, so building inputs before any
/// model is loaded cannot make `ort` panic.
#[derive(Debug)]
pub struct Tensor(pub(crate) Repr);

#[derive(Debug)]
pub(crate) enum Repr {
    Host { shape: Vec<usize>, data: HostData },
    Ort(DynValue),
}

#[derive(Debug)]
pub(crate) enum HostData {
    F32(Vec<f32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

fn shape_i64(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

fn check_len(shape: &[usize], len: usize) -> Result<()> {
    let want: usize = shape.iter().product();
    if want != len {
        return Err(Error::invalid(
            "tensor",
            format!("shape {shape:?} needs {want} values, got {len}"),
        ));
    }
    Ok(())
}

/// Whether an ONNX Runtime value's memory is readable from the host.
fn ort_on_host(v: &DynValue) -> bool {
    v.view()
        .downcast::<DynTensorValueType>()
        .map_or(true, |t| t.memory_info().is_cpu_accessible())
}

fn ort_err(e: ort::Error) -> Error {
    Error::invalid("tensor", e.to_string())
}

impl Tensor {
    fn host(shape: &[usize], data: HostData, len: usize) -> Result<Tensor> {
        check_len(shape, len)?;
        Ok(Tensor(Repr::Host {
            shape: shape.to_vec(),
            data,
        }))
    }

    /// An f32 tensor; zero-length dimensions are allowed (an empty KV cache).
    pub fn f32(shape: &[usize], data: Vec<f32>) -> Result<Tensor> {
        let len = data.len();
        Tensor::host(shape, HostData::F32(data), len)
    }

    /// An i64 tensor (token ids, masks, positions).
    pub fn i64(shape: &[usize], data: Vec<i64>) -> Result<Tensor> {
        let len = data.len();
        Tensor::host(shape, HostData::I64(data), len)
    }

    /// A bool tensor (the legacy `use_cache_branch` flag).
    pub fn bool(shape: &[usize], data: Vec<bool>) -> Result<Tensor> {
        let len = data.len();
        Tensor::host(shape, HostData::Bool(data), len)
    }

    /// The dimensions.
    pub fn shape(&self) -> Vec<usize> {
        match &self.0 {
            Repr::Host { shape, .. } => shape.clone(),
            Repr::Ort(v) => match v.dtype() {
                ValueType::Tensor { shape, .. } => {
                    shape.iter().map(|&d| d.max(0) as usize).collect()
                }
                _ => Vec::new(),
            },
        }
    }

    /// Whether the values are in host memory, readable with [`Tensor::f32_data`]:
    /// always for Rust data and on the CPU provider; not for a bound run's device
    /// outputs on a GPU.
    pub fn on_host(&self) -> bool {
        match &self.0 {
            Repr::Host { .. } => true,
            Repr::Ort(v) => ort_on_host(v),
        }
    }

    /// This tensor with its values in host memory: itself when they are there
    /// already (no copy), otherwise a copy from the device.
    pub fn to_host(self) -> Result<Tensor> {
        match self.0 {
            Repr::Ort(v) if !ort_on_host(&v) => {
                let t = v.downcast::<DynTensorValueType>().map_err(ort_err)?;
                let host = t.to(AllocationDevice::CPU, 0).map_err(ort_err)?;
                Ok(Tensor(Repr::Ort(host.into_dyn())))
            }
            repr => Ok(Tensor(repr)),
        }
    }

    /// The values of an f32 tensor, row-major.
    pub fn f32_data(&self) -> Result<&[f32]> {
        match &self.0 {
            Repr::Host {
                data: HostData::F32(data),
                ..
            } => Ok(data),
            Repr::Host { .. } => Err(Error::invalid(
                "tensor",
                "not an f32 tensor: its values cannot be read as f32",
            )),
            Repr::Ort(v) if !ort_on_host(v) => Err(Error::invalid(
                "tensor",
                "its values are in device memory; bring them to the host with `to_host` first",
            )),
            Repr::Ort(v) => v
                .try_extract_tensor::<f32>()
                .map(|(_, data)| data)
                .map_err(ort_err),
        }
    }

    /// The ONNX Runtime value, built from Rust data (the buffer moves) if need be.
    /// Called by [`crate::OnnxModel`] only, after the library was loaded.
    pub(crate) fn into_ort(self) -> Result<DynValue> {
        let (shape, data) = match self.0 {
            Repr::Ort(v) => return Ok(v),
            Repr::Host { shape, data } => (shape_i64(&shape), data),
        };
        Ok(match data {
            HostData::F32(d) => OrtTensor::from_array((shape, d))
                .map_err(ort_err)?
                .into_dyn(),
            HostData::I64(d) => OrtTensor::from_array((shape, d))
                .map_err(ort_err)?
                .into_dyn(),
            HostData::Bool(d) => OrtTensor::from_array((shape, d))
                .map_err(ort_err)?
                .into_dyn(),
        })
    }
}
