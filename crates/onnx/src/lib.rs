//! The one crate that touches ONNX Runtime.
//!
//! ONNX Runtime is loaded at run time from a shared library (`load-dynamic`), found
//! in this order: the run config, `ORT_DYLIB_PATH`, the project-local install made by
//! `cargo xtask setup`. `ort` panics when used before its library is loaded, so every
//! entry point goes through [`runtime`], which checks the file and loads it first and
//! otherwise returns an error that names the path and the fix.
//!
//! One ONNX Runtime environment exists per process and all sessions share it, and
//! with it one intra-op thread pool (a thread per core) unless a session's settings
//! ask for a thread count (it then gets a pool of its own).
//! Foreign errors (`ort::Error`) are converted here; no ort type leaves this crate.
//!
//! Cargo features: `cuda` and `tensorrt` (default on) compile the wrappers of those
//! execution providers; the providers themselves come with `cargo xtask setup --gpu`.

mod gather;
mod library;
mod profile;
mod protobuf;
mod session;
mod signature;
mod tensor;
mod weights;

pub use library::{
    LibrarySource, ResolvedLibrary, Runtime, loaded, project_library_path, resolve_library, runtime,
};
pub use profile::{Dim, GraphInput, graph_inputs, profile_shapes};
pub use session::{DType, OnnxModel, Outputs, Placement, TensorSpec, tensorrt_profile};
pub use signature::{GraphSignature, PastInputs};
pub use tensor::Tensor;
pub use weights::{GraphWeights, graph_weights};
