use ort::value::{DynValue, Tensor as OrtTensor, ValueType};
use ttc_core::{Error, Result};

/// A tensor owned by ONNX Runtime's allocator or built from Rust data. Outputs of one
/// run can be fed to the next as they are (the KV cache), without copying.
#[derive(Debug)]
pub struct Tensor(pub(crate) DynValue);

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

fn ort_err(e: ort::Error) -> Error {
    Error::invalid("tensor", e.to_string())
}

impl Tensor {
    /// An f32 tensor; zero-length dimensions are allowed (an empty KV cache).
    pub fn f32(shape: &[usize], data: Vec<f32>) -> Result<Tensor> {
        check_len(shape, data.len())?;
        Ok(Tensor(
            OrtTensor::from_array((shape_i64(shape), data))
                .map_err(ort_err)?
                .into_dyn(),
        ))
    }

    /// An i64 tensor (token ids, masks, positions).
    pub fn i64(shape: &[usize], data: Vec<i64>) -> Result<Tensor> {
        check_len(shape, data.len())?;
        Ok(Tensor(
            OrtTensor::from_array((shape_i64(shape), data))
                .map_err(ort_err)?
                .into_dyn(),
        ))
    }

    /// A bool tensor (the legacy `use_cache_branch` flag).
    pub fn bool(shape: &[usize], data: Vec<bool>) -> Result<Tensor> {
        check_len(shape, data.len())?;
        Ok(Tensor(
            OrtTensor::from_array((shape_i64(shape), data))
                .map_err(ort_err)?
                .into_dyn(),
        ))
    }

    /// The dimensions.
    pub fn shape(&self) -> Vec<usize> {
        match self.0.dtype() {
            ValueType::Tensor { shape, .. } => shape.iter().map(|&d| d.max(0) as usize).collect(),
            _ => Vec::new(),
        }
    }

    /// The values of an f32 tensor, row-major.
    pub fn f32_data(&self) -> Result<&[f32]> {
        self.0
            .try_extract_tensor::<f32>()
            .map(|(_, data)| data)
            .map_err(ort_err)
    }
}
