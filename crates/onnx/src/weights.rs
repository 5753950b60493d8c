//! What a graph's weights are, read from the `.onnx` file without ONNX Runtime and
//! without reading the weights themselves: the parameter count (for FLOPs), the
//! external-data files the weights live in, and the operators the graph uses.
//!
//! Parameters are counted as the model's logical weights, whatever their storage:
//! - a floating-point initializer counts its elements (fp32, fp16, bf16, ...), except
//!   one-element constants and the rotary tables (`cos_cache` / `sin_cache` inputs of
//!   `GroupQueryAttention` and `RotaryEmbedding`), which are not learned;
//! - a `MatMulNBits` weight (int4 / int8 blocks) counts its logical `K x N`, and a
//!   `GatherBlockQuantized` table its unpacked elements; their scales and zero points
//!   are quantisation data, not parameters;
//! - an integer weight read through `DequantizeLinear` counts its elements, its scale
//!   and zero point do not.
//!
//! Counting bytes / 4 would be wrong for the int4 and fp16 folders that
//! onnxruntime-genai's model builder and Olive publish.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use ttc_core::{Error, Result};

use crate::protobuf::{Reader, fields, walk_graph};

/// What [`graph_weights`] finds in a graph file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphWeights {
    /// Logical parameters (see the module docs).
    pub parameters: u64,
    /// The external-data files the initializers point to, relative to the graph's
    /// folder, each once, in order of first use.
    pub external_files: Vec<String>,
    /// Operators used by the main graph, as `domain.op_type` (`op_type` alone for the
    /// default domain), e.g. `com.microsoft.GroupQueryAttention`.
    pub operators: BTreeSet<String>,
    /// Whether a GroupQueryAttention node applies the rotary embedding itself
    /// (`do_rotary = 1`; onnxruntime then needs a head size that is a multiple of 16).
    pub rotary_attention: bool,
}

/// ONNX `TensorProto.DataType` codes of floating-point element types.
const FLOATING: [u64; 9] = [1, 10, 11, 16, 17, 18, 19, 20, 23];
/// 4-bit element types (`UINT4`, `INT4`): two values a byte when packed.
const FOUR_BIT: [u64; 2] = [21, 22];

/// An initializer's name, element type and element count.
#[derive(Debug, Default)]
struct Init {
    name: String,
    data_type: u64,
    elements: u64,
}

/// A node's operator, inputs and integer attributes.
#[derive(Debug, Default)]
struct Node {
    op: String,
    domain: String,
    inputs: Vec<String>,
    ints: HashMap<String, i64>,
}

fn node(buf: &[u8]) -> std::result::Result<Node, String> {
    let mut n = Node::default();
    for (field, _, _, data) in fields(buf)? {
        let text = || String::from_utf8_lossy(data).into_owned();
        match field {
            1 => n.inputs.push(text()),
            4 => n.op = text(),
            7 => n.domain = text(),
            5 => {
                let (mut name, mut value) = (String::new(), None);
                for (f, wire, v, s) in fields(data)? {
                    match (f, wire) {
                        (1, 2) => name = String::from_utf8_lossy(s).into_owned(),
                        (3, 0) => value = Some(v as i64),
                        _ => {}
                    }
                }
                if let Some(v) = value {
                    n.ints.insert(name, v);
                }
            }
            _ => {}
        }
    }
    Ok(n)
}

/// Reads a `TensorProto` of `len` bytes at the reader's position, skipping its data.
fn initializer<R: std::io::Read + std::io::Seek>(
    r: &mut Reader<R>,
    len: u64,
    external: &mut Vec<String>,
) -> std::io::Result<Init> {
    let end = r.pos + len;
    let mut init = Init::default();
    let mut dims = Vec::new();
    while r.pos < end {
        let key = r.varint()?;
        let (field, wire) = (key >> 3, key & 7);
        match (field, wire) {
            (1, 0) => dims.push(r.varint()?),
            (1, 2) => {
                // Packed dims.
                let n = r.varint()?;
                let data = r.bytes(n)?;
                let mut buf = &data[..];
                while !buf.is_empty() {
                    let mut v = 0u64;
                    let mut shift = 0;
                    loop {
                        let (&b, rest) = buf
                            .split_first()
                            .ok_or_else(|| std::io::Error::other("truncated packed dims"))?;
                        buf = rest;
                        v |= u64::from(b & 0x7f) << shift;
                        shift += 7;
                        if b & 0x80 == 0 {
                            break;
                        }
                    }
                    dims.push(v);
                }
            }
            (2, 0) => init.data_type = r.varint()?,
            (8, 2) => {
                let n = r.varint()?;
                init.name = String::from_utf8_lossy(&r.bytes(n)?).into_owned();
            }
            (13, 2) => {
                // StringStringEntryProto: key (1), value (2).
                let n = r.varint()?;
                let entry = r.bytes(n)?;
                let parsed = fields(&entry).map_err(std::io::Error::other)?;
                let get = |k: u64| {
                    parsed
                        .iter()
                        .find(|f| f.0 == k)
                        .map(|f| String::from_utf8_lossy(f.3).into_owned())
                };
                if get(1).as_deref() == Some("location")
                    && let Some(file) = get(2)
                    && !external.contains(&file)
                {
                    external.push(file);
                }
            }
            _ => r.skip(wire)?,
        }
    }
    init.elements = dims.iter().product();
    Ok(init)
}

/// Reads the graph at `path` (nodes, initializers' shapes and external-data
/// locations; weight bytes are skipped) and counts its parameters.
pub fn graph_weights(path: &Path) -> Result<GraphWeights> {
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut external = Vec::new();
    let io = |e: std::io::Error| e.to_string();
    let graphs = walk_graph(path, "the weights", |r, field, wire| {
        match (field, wire) {
            (1, 2) => {
                let n = r.varint().map_err(io)?;
                let data = r.bytes(n).map_err(io)?;
                nodes.push(node(&data)?);
            }
            (5, 2) => {
                let n = r.varint().map_err(io)?;
                inits.push(initializer(r, n, &mut external).map_err(io)?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if graphs == 0 {
        return Err(Error::model(
            path.parent().unwrap_or(Path::new(".")),
            format!(
                "reading the weights of {}: the file holds no graph; is it an ONNX model?",
                path.display()
            ),
        ));
    }
    Ok(count(&nodes, &inits, external))
}

/// Input `i` of `n`, unless absent or empty (an omitted optional input).
fn input(n: &Node, i: usize) -> Option<&str> {
    n.inputs
        .get(i)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

/// The counting rules of the module docs over parsed nodes and initializers.
fn count(nodes: &[Node], inits: &[Init], external_files: Vec<String>) -> GraphWeights {
    let by_name: HashMap<&str, &Init> = inits.iter().map(|i| (i.name.as_str(), i)).collect();
    // Initializers whose count a node decides, and those that are not parameters.
    let mut decided: HashSet<&str> = HashSet::new();
    let mut parameters = 0u64;
    for n in nodes {
        let ms = n.domain == "com.microsoft";
        match n.op.as_str() {
            "MatMulNBits" if ms => {
                if let Some(b) = input(n, 1)
                    && by_name.contains_key(b)
                    && decided.insert(b)
                {
                    let k = n.ints.get("K").copied().unwrap_or(0).max(0) as u64;
                    let nn = n.ints.get("N").copied().unwrap_or(0).max(0) as u64;
                    parameters += k * nn;
                }
                decided.extend((2..5).filter_map(|i| input(n, i)));
            }
            "GatherBlockQuantized" if ms => {
                if let Some(data) = input(n, 0)
                    && let Some(init) = by_name.get(data)
                    && decided.insert(data)
                {
                    let bits = n.ints.get("bits").copied().unwrap_or(4).clamp(1, 8) as u64;
                    // uint8 storage packs 8 / bits values a byte; 4-bit types hold one.
                    let per = if init.data_type == 2 || init.data_type == 3 {
                        8 / bits
                    } else {
                        1
                    };
                    parameters += init.elements * per;
                }
                decided.extend((2..4).filter_map(|i| input(n, i)));
            }
            "GroupQueryAttention" if ms => decided.extend((7..9).filter_map(|i| input(n, i))),
            "RotaryEmbedding" => decided.extend((2..4).filter_map(|i| input(n, i))),
            "DequantizeLinear" => {
                if let Some(x) = input(n, 0)
                    && let Some(init) = by_name.get(x)
                    && decided.insert(x)
                {
                    parameters += init.elements;
                }
                decided.extend((1..3).filter_map(|i| input(n, i)));
            }
            _ => {}
        }
    }
    for init in inits {
        let weight = FLOATING.contains(&init.data_type) || FOUR_BIT.contains(&init.data_type);
        if weight && init.elements > 1 && !decided.contains(init.name.as_str()) {
            parameters += init.elements;
        }
    }
    let operators = nodes
        .iter()
        .map(|n| {
            if n.domain.is_empty() || n.domain == "ai.onnx" {
                n.op.clone()
            } else {
                format!("{}.{}", n.domain, n.op)
            }
        })
        .collect();
    let rotary_attention = nodes.iter().any(|n| {
        n.domain == "com.microsoft"
            && n.op == "GroupQueryAttention"
            && n.ints.get("do_rotary") == Some(&1)
    });
    GraphWeights {
        parameters,
        external_files,
        operators,
        rotary_attention,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gather::proto;

    /// A `TensorProto` with `dims` and `data_type`, its data external (`location`)
    /// or inline raw bytes.
    fn tensor(name: &str, dims: &[i64], data_type: i64, location: Option<&str>) -> Vec<u8> {
        let mut t = Vec::new();
        for &d in dims {
            proto::int(&mut t, 1, d);
        }
        proto::int(&mut t, 2, data_type);
        match location {
            Some(file) => {
                for (k, v) in [("location", file), ("offset", "0")] {
                    let mut e = Vec::new();
                    proto::bytes(&mut e, 1, k.as_bytes());
                    proto::bytes(&mut e, 2, v.as_bytes());
                    proto::bytes(&mut t, 13, &e);
                }
                proto::int(&mut t, 14, 1);
            }
            None => {
                let n: i64 = dims.iter().product();
                proto::bytes(&mut t, 9, &vec![0u8; n as usize * 4]);
            }
        }
        // The name after the data, as some writers put it.
        proto::bytes(&mut t, 8, name.as_bytes());
        t
    }

    fn ms_node(inputs: &[&str], op: &str, attrs: &[(&str, i64)]) -> Vec<u8> {
        let mut n = proto::node(inputs, &["y"], op, attrs);
        proto::bytes(&mut n, 7, b"com.microsoft");
        n
    }

    fn write(graph: &[u8]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), proto::model(graph)).unwrap();
        file
    }

    #[test]
    fn quantised_weights_count_their_logical_shape_and_tables_do_not_count() {
        let mut g = Vec::new();
        for n in [
            ms_node(
                &["x", "w4", "scales", "zp"],
                "MatMulNBits",
                &[("K", 64), ("N", 8), ("bits", 4)],
            ),
            ms_node(
                &["table", "ids", "tscales"],
                "GatherBlockQuantized",
                &[("bits", 4)],
            ),
            ms_node(
                &["qkv", "", "", "pk", "pv", "sk", "tl", "cos", "sin"],
                "GroupQueryAttention",
                &[("num_heads", 2), ("do_rotary", 1)],
            ),
            proto::node(&["a", "dense"], &["b"], "MatMul", &[]),
        ] {
            proto::bytes(&mut g, 1, &n);
        }
        for t in [
            // int4 blocks of a 64 x 8 weight: 8 rows x 2 blocks x 16 bytes.
            tensor("w4", &[8, 2, 16], 2, Some("model.onnx.data")),
            tensor("scales", &[16], 1, Some("model.onnx.data")),
            tensor("zp", &[8], 2, None),
            // A 10 x 6 table stored as uint8, two values a byte.
            tensor("table", &[10, 3], 2, Some("other.bin")),
            tensor("tscales", &[10], 1, None),
            tensor("cos", &[32, 8], 1, None),
            tensor("sin", &[32, 8], 1, None),
            tensor("dense", &[4, 5], 10, Some("model.onnx.data")),
            tensor("eps", &[1], 1, None),
            tensor("shape", &[3], 7, None),
        ] {
            proto::bytes(&mut g, 5, &t);
        }
        let file = write(&g);
        let w = graph_weights(file.path()).unwrap();
        assert_eq!(w.parameters, 64 * 8 + 10 * 6 + 4 * 5);
        assert_eq!(w.external_files, ["model.onnx.data", "other.bin"]);
        assert!(w.operators.contains("com.microsoft.GroupQueryAttention"));
        assert!(w.operators.contains("MatMul"));
        assert!(w.rotary_attention);
    }

    #[test]
    fn a_file_that_is_not_a_model_is_an_error_naming_it() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), b"").unwrap();
        let err = graph_weights(file.path()).unwrap_err().to_string();
        assert!(err.contains("holds no graph"), "{err}");
        std::fs::write(file.path(), [0x3a, 0xff]).unwrap();
        let err = graph_weights(file.path()).unwrap_err().to_string();
        assert!(err.contains("reading the weights of"), "{err}");
    }
}
