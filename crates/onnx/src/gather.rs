//! Copies between KV-cache tensors where they live: a tiny ONNX graph (Flatten,
//! Concat, Gather, Mul) run on the model's own provider through an I/O binding, so
//! that rows and positions move from batch to batch inside device memory on a GPU,
//! and inside the session's arena on the CPU. The same code runs on both; only the
//! memory differs.
//!
//! A gather reads `k` source batches of `m` buffers each (`[B_s, H, T_s, D]`, the
//! layout of `past_key_values.*`), flattens every source buffer to rows of `D`
//! values, concatenates the sources of each buffer, and picks `index[n, H, P]` of
//! those rows into `[n, H, P, D]`, zeroing the positions where `keep[n, 1, P, 1]` is
//! 0 (pads). Index arithmetic is plain data and lives in `ttc-kv-cache`.

use std::collections::HashMap;
use std::sync::Mutex;

use ort::session::Session;
use ort::value::DynValue;
use ttc_core::{Error, ExecutionProvider, Result, RuntimeSettings};

use crate::session::{Placement, Runner};
use crate::tensor::Repr;
use crate::{OnnxModel, Tensor, runtime};

/// Gather sessions of one model, by (sources, buffers).
#[derive(Debug, Default)]
pub(crate) struct Gathers(Mutex<HashMap<(usize, usize), Runner>>);

/// The minimal protobuf writer the gather graph needs (ONNX's `ModelProto`).
pub(crate) mod proto {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// Field `field` as a varint.
    pub(crate) fn int(out: &mut Vec<u8>, field: u32, v: i64) {
        varint(out, u64::from(field) << 3);
        varint(out, v as u64);
    }

    /// Field `field` as length-delimited bytes (strings, messages).
    pub(crate) fn bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
        varint(out, (u64::from(field) << 3) | 2);
        varint(out, data.len() as u64);
        out.extend_from_slice(data);
    }

    /// A `NodeProto`: inputs, outputs, op type and integer attributes.
    pub(crate) fn node(
        inputs: &[&str],
        outputs: &[&str],
        op: &str,
        attrs: &[(&str, i64)],
    ) -> Vec<u8> {
        let mut n = Vec::new();
        for i in inputs {
            bytes(&mut n, 1, i.as_bytes());
        }
        for o in outputs {
            bytes(&mut n, 2, o.as_bytes());
        }
        bytes(&mut n, 4, op.as_bytes());
        for (name, v) in attrs {
            let mut a = Vec::new();
            bytes(&mut a, 1, name.as_bytes());
            int(&mut a, 3, *v);
            int(&mut a, 20, 2); // AttributeType INT
            bytes(&mut n, 5, &a);
        }
        n
    }

    /// A `ValueInfoProto` for a tensor of `elem_type` (1 float, 7 int64) and `rank`
    /// dynamic dimensions.
    pub(crate) fn value_info(name: &str, elem_type: i64, rank: usize) -> Vec<u8> {
        let mut shape = Vec::new();
        for d in 0..rank {
            let mut dim = Vec::new();
            bytes(&mut dim, 2, format!("{name}_d{d}").as_bytes());
            bytes(&mut shape, 1, &dim);
        }
        let mut tensor = Vec::new();
        int(&mut tensor, 1, elem_type);
        bytes(&mut tensor, 2, &shape);
        let mut ty = Vec::new();
        bytes(&mut ty, 1, &tensor);
        let mut v = Vec::new();
        bytes(&mut v, 1, name.as_bytes());
        bytes(&mut v, 2, &ty);
        v
    }

    /// A `ModelProto` (IR 8, default opset 13) around a graph.
    pub(crate) fn model(graph: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        int(&mut m, 1, 8);
        let mut opset = Vec::new();
        bytes(&mut opset, 1, b"");
        int(&mut opset, 2, 13);
        bytes(&mut m, 8, &opset);
        bytes(&mut m, 7, graph);
        m
    }
}

/// Name of source `s`'s buffer `i`, and of output buffer `i`.
fn source_name(s: usize, i: usize) -> String {
    format!("source{s}_{i}")
}
fn output_name(i: usize) -> String {
    format!("out{i}")
}

/// The gather graph for `sources` batches of `buffers` buffers each.
pub(crate) fn gather_graph(sources: usize, buffers: usize) -> Vec<u8> {
    let mut g = Vec::new();
    for i in 0..buffers {
        let flat: Vec<String> = (0..sources).map(|s| format!("flat{s}_{i}")).collect();
        for (s, f) in flat.iter().enumerate() {
            let src = source_name(s, i);
            proto::bytes(
                &mut g,
                1,
                &proto::node(&[&src], &[f], "Flatten", &[("axis", 3)]),
            );
        }
        let joined = if sources == 1 {
            flat[0].clone()
        } else {
            let name = format!("joined{i}");
            let refs: Vec<&str> = flat.iter().map(String::as_str).collect();
            proto::bytes(
                &mut g,
                1,
                &proto::node(&refs, &[&name], "Concat", &[("axis", 0)]),
            );
            name
        };
        let picked = format!("picked{i}");
        proto::bytes(
            &mut g,
            1,
            &proto::node(&[&joined, "index"], &[&picked], "Gather", &[("axis", 0)]),
        );
        proto::bytes(
            &mut g,
            1,
            &proto::node(&[&picked, "keep"], &[&output_name(i)], "Mul", &[]),
        );
    }
    proto::bytes(&mut g, 2, b"kv_gather");
    for s in 0..sources {
        for i in 0..buffers {
            proto::bytes(&mut g, 11, &proto::value_info(&source_name(s, i), 1, 4));
        }
    }
    proto::bytes(&mut g, 11, &proto::value_info("index", 7, 3));
    proto::bytes(&mut g, 11, &proto::value_info("keep", 1, 4));
    for i in 0..buffers {
        proto::bytes(&mut g, 12, &proto::value_info(&output_name(i), 1, 4));
    }
    proto::model(&g)
}

/// The zeros graph: `buffers` outputs of the shape held by its input `shape`
/// (int64[4]), float32 zeros (ConstantOfShape's default value).
pub(crate) fn zeros_graph(buffers: usize) -> Vec<u8> {
    let mut g = Vec::new();
    for i in 0..buffers {
        proto::bytes(
            &mut g,
            1,
            &proto::node(&["shape"], &[&output_name(i)], "ConstantOfShape", &[]),
        );
    }
    proto::bytes(&mut g, 2, b"kv_zeros");
    proto::bytes(&mut g, 11, &proto::value_info("shape", 7, 1));
    for i in 0..buffers {
        proto::bytes(&mut g, 12, &proto::value_info(&output_name(i), 1, 4));
    }
    proto::model(&g)
}

/// The key of the zeros session in [`Gathers`] (a gather always has a source).
const ZEROS: usize = 0;

impl OnnxModel {
    /// `buffers` tensors of `shape` (`[n, H, P, D]`), float32 zeros, allocated in
    /// device memory by the model's provider (the session's arena on the CPU): KV
    /// buffers that a run may write into in place ([`OnnxModel::run_shared`]).
    pub fn zeros_kv(&self, buffers: usize, shape: [usize; 4]) -> Result<Vec<Tensor>> {
        let dims = Tensor::i64(&[4], shape.iter().map(|&d| d as i64).collect())?.into_ort()?;
        let names: Vec<String> = (0..buffers).map(output_name).collect();
        let outputs: Vec<(&str, Placement)> = names
            .iter()
            .map(|n| (n.as_str(), Placement::Device))
            .collect();
        let mut gathers = self.gathers.0.lock().unwrap_or_else(|e| e.into_inner());
        let runner = match gathers.entry((ZEROS, buffers)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(Runner {
                session: self.gather_session(&zeros_graph(buffers))?,
                binding: None,
            }),
        };
        let mut out = self.run_bound_on(runner, &[("shape", &dims)], &outputs)?;
        names.iter().map(|n| out.take(n)).collect()
    }

    /// Copies rows and positions of cached batches into a new batch, on the model's
    /// provider: `sources` are `k` batches of `buffers` (`m`) tensors `[B_s, H, T_s, D]`
    /// (every source the same `H` and `D`); `index` (`shape[0] * H * P` values) picks rows
    /// of `D` values from the concatenation of the sources' buffers flattened in
    /// order, and `keep` (`shape[0] * P`) zeroes the positions where it is 0. Returns
    /// `m` tensors of `shape` (`[n, H, P, D]`) in device memory.
    pub fn gather_kv(
        &self,
        sources: &[&[Tensor]],
        buffers: usize,
        index: Vec<i64>,
        keep: Vec<f32>,
        shape: [usize; 4],
    ) -> Result<Vec<Tensor>> {
        if sources.iter().any(|s| s.len() != buffers) {
            return Err(Error::invalid(
                "kv gather",
                "every source needs the same number of buffers",
            ));
        }
        let [n, h, p, d] = shape;
        if shape.contains(&0) || sources.is_empty() {
            // Nothing to read (no row has a cache; an empty cache has P = 0): zeros.
            return (0..buffers)
                .map(|_| Tensor::f32(&shape, vec![0.0; n * h * p * d]))
                .collect();
        }
        let index = Tensor::i64(&[n, h, p], index)?.into_ort()?;
        let keep = Tensor::f32(&[n, 1, p, 1], keep)?.into_ort()?;
        let mut inputs: Vec<(String, &DynValue)> = Vec::with_capacity(sources.len() * buffers + 2);
        for (s, source) in sources.iter().enumerate() {
            for (i, t) in source.iter().enumerate() {
                let Repr::Ort(v) = &t.0 else {
                    return Err(Error::invalid(
                        "kv gather",
                        "a source is Rust data, not a tensor of the model's",
                    ));
                };
                inputs.push((source_name(s, i), v));
            }
        }
        inputs.push(("index".into(), &index));
        inputs.push(("keep".into(), &keep));
        let names: Vec<String> = (0..buffers).map(output_name).collect();
        let outputs: Vec<(&str, Placement)> = names
            .iter()
            .map(|n| (n.as_str(), Placement::Device))
            .collect();
        let mut gathers = self.gathers.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = (sources.len(), buffers);
        let runner = match gathers.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(Runner {
                session: self.gather_session(&gather_graph(sources.len(), buffers))?,
                binding: None,
            }),
        };
        let mut out = self.run_bound_on(runner, &inputs, &outputs)?;
        names.iter().map(|n| out.take(n)).collect()
    }

    /// A session for a gather graph on this model's provider.
    fn gather_session(&self, graph: &[u8]) -> Result<Session> {
        let settings: &RuntimeSettings = &self.settings;
        let rt = runtime(settings.library.as_deref())?;
        let err = |e: String| Error::Inference {
            model: format!("{} (KV gather)", self.path().display()),
            message: e,
        };
        let mut builder = Session::builder(&rt.environment).map_err(|e| err(e.to_string()))?;
        if settings.threads.is_some() {
            // A model with a pool of its own: the copies take no pool (no worker
            // spinning beside the model's), they run on the calling thread.
            builder = builder
                .with_independent_thread_pool()
                .map_err(|e| err(e.to_string()))?
                .with_intra_threads(1)
                .map_err(|e| err(e.to_string()))?;
        }
        if self.provider().active != ExecutionProvider::Cpu {
            // CUDA runs the copies for TensorRT sessions too: a gather needs no engine.
            let cuda = crate::session::cuda(settings).map_err(|reason| Error::Provider {
                provider: self.provider().active.to_string(),
                reason,
            })?;
            builder = builder
                .with_execution_providers([cuda.error_on_failure()])
                .map_err(|e| err(e.to_string()))?;
        }
        builder
            .commit_from_memory(graph)
            .map_err(|e| err(e.to_string()))
    }
}
