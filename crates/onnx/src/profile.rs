//! TensorRT optimisation profiles: the min / opt / max shape of every graph input
//! with dynamic dimensions, from the run's batch and length ranges, so that
//! TensorRT builds one engine per profile (and caches it) instead of rebuilding when
//! a shape leaves what it has seen.
//!
//! The input names and dimensions come from the `.onnx` file itself (read here
//! without ONNX Runtime: a TensorRT session needs its profile before it exists):
//! the first dimension of an input is the batch, every other dynamic one a length;
//! the KV cache's inputs (`past*`) may be empty.

use std::path::Path;

use ttc_core::{Error, Result, ShapeProfile};

use crate::protobuf::{fields, walk_graph};

/// One dimension of a graph input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    Fixed(i64),
    /// Dynamic, with its symbolic name (empty when the graph gives none).
    Named(String),
}

/// A graph input's name and dimensions, as the file declares them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphInput {
    pub name: String,
    pub dims: Vec<Dim>,
}

/// A `ValueInfoProto`: its name and tensor dimensions.
fn value_info(buf: &[u8]) -> std::result::Result<GraphInput, String> {
    let mut input = GraphInput {
        name: String::new(),
        dims: Vec::new(),
    };
    for (field, _, _, data) in fields(buf)? {
        match field {
            1 => input.name = String::from_utf8_lossy(data).into_owned(),
            2 => {
                // TypeProto.tensor_type(1) -> shape(2) -> dim(1)
                for (f, _, _, tensor) in fields(data)? {
                    if f != 1 {
                        continue;
                    }
                    for (f, _, _, shape) in fields(tensor)? {
                        if f != 2 {
                            continue;
                        }
                        for (f, _, _, dim) in fields(shape)? {
                            if f != 1 {
                                continue;
                            }
                            let mut d = Dim::Named(String::new());
                            for (f, _, v, s) in fields(dim)? {
                                match f {
                                    1 => d = Dim::Fixed(v as i64),
                                    2 => d = Dim::Named(String::from_utf8_lossy(s).into_owned()),
                                    _ => {}
                                }
                            }
                            input.dims.push(d);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(input)
}

/// The graph inputs `path` declares, without its initializers (weights are
/// skipped, not read).
pub fn graph_inputs(path: &Path) -> Result<Vec<GraphInput>> {
    let mut inputs = Vec::new();
    let mut initializers = Vec::new();
    let io = |e: std::io::Error| e.to_string();
    // ModelProto.graph: read its inputs, skip nodes and weights.
    walk_graph(path, "the inputs", |r, field, wire| {
        match (field, wire) {
            (11, 2) => {
                let n = r.varint().map_err(io)?;
                let data = r.bytes(n).map_err(io)?;
                inputs.push(value_info(&data)?);
            }
            (5, 2) => {
                // TensorProto: only its name (field 8) matters, but the name
                // may follow the data; read small ones, skip big ones whole.
                let n = r.varint().map_err(io)?;
                if n <= 4096 {
                    let data = r.bytes(n).map_err(io)?;
                    for (f, _, _, s) in fields(&data)? {
                        if f == 8 {
                            initializers.push(String::from_utf8_lossy(s).into_owned());
                        }
                    }
                } else {
                    r.skip_bytes(n).map_err(io)?;
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    // Old exports list initializers among the inputs; they are not fed.
    inputs.retain(|i| !initializers.contains(&i.name));
    if inputs.is_empty() {
        return Err(Error::model(
            path.parent().unwrap_or(Path::new(".")),
            format!(
                "reading the inputs of {}: the file declares no graph input",
                path.display()
            ),
        ));
    }
    Ok(inputs)
}

/// The `(min, opt, max)` shape strings of TensorRT's `trt_profile_*_shapes`
/// (`name:1x1,name2:1x2x0x16`) for the inputs with a dynamic dimension; `None` when
/// no input has one.
pub fn profile_shapes(
    inputs: &[GraphInput],
    profile: &ShapeProfile,
) -> Option<(String, String, String)> {
    let mut parts: [Vec<String>; 3] = Default::default();
    for input in inputs {
        if input
            .dims
            .iter()
            .all(|d| matches!(d, Dim::Fixed(v) if *v > 0))
        {
            continue;
        }
        // The KV cache's inputs: empty on the first run.
        let past = input.name.starts_with("past");
        for (k, part) in parts.iter_mut().enumerate() {
            let dims: Vec<String> = input
                .dims
                .iter()
                .enumerate()
                .map(|(i, d)| match d {
                    Dim::Fixed(v) if *v > 0 => v.to_string(),
                    _ if i == 0 => profile.batch[k].to_string(),
                    _ if past && k == 0 => "0".into(),
                    _ => profile.length[k].to_string(),
                })
                .collect();
            part.push(format!("{}:{}", input.name, dims.join("x")));
        }
    }
    if parts[0].is_empty() {
        return None;
    }
    let [min, opt, max] = parts.map(|p| p.join(","));
    Some((min, opt, max))
}
