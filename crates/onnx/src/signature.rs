//! The inputs and outputs of a transformer graph in the Hugging Face Optimum
//! export layout, read and checked once. The generator's contract
//! (`crates/generator/src/model_dir.rs`) and the reward model's
//! (`crates/prm-verifier/src/graph.rs`) add their own rules on top of it.

use crate::{DType, TensorSpec};

/// A graph's past key and value inputs, `past_key_values.{i}.key` and `.value`, all
/// float32.
#[derive(Clone, Debug)]
pub struct PastInputs {
    /// In graph order.
    pub specs: Vec<TensorSpec>,
    /// The matching `present.{i}.key` and `.value` outputs, in the same order, when
    /// the graph has every one of them.
    pub presents: Option<Vec<String>>,
}

impl PastInputs {
    /// The input names in graph order.
    pub fn names(&self) -> Vec<String> {
        self.specs.iter().map(|s| s.name.clone()).collect()
    }

    /// Layers: the number of `.key` inputs.
    pub fn layers(&self) -> usize {
        self.specs
            .iter()
            .filter(|s| s.name.ends_with(".key"))
            .count()
    }

    /// KV heads, when the first input fixes them (`[batch, kv_heads, past, head_dim]`).
    pub fn kv_heads(&self) -> Option<usize> {
        self.specs.first().and_then(|s| s.fixed_dim(1))
    }

    /// Head size, when the first input fixes it.
    pub fn head_dim(&self) -> Option<usize> {
        self.specs.first().and_then(|s| s.fixed_dim(3))
    }
}

/// What a graph takes and returns, as ttc feeds and reads it.
#[derive(Clone, Debug)]
pub struct GraphSignature {
    pub position_ids: bool,
    pub token_type_ids: bool,
    pub use_cache_branch: bool,
    pub past: Option<PastInputs>,
    /// The output `logits`, float32, `[batch, sequence, columns]`.
    pub logits: TensorSpec,
    /// Inputs other than the ones above, `input_ids` and `attention_mask`.
    pub other_inputs: Vec<String>,
}

impl GraphSignature {
    /// Reads and checks `inputs` and `outputs`: int64 `input_ids` and
    /// `attention_mask`, int64 `position_ids` and `token_type_ids`, a boolean
    /// `use_cache_branch`, float32 past key values, and float32 per-token `logits`.
    /// An error is a message for the caller to prefix with the file; `export_hint`
    /// ends the messages on a missing token input or logits of the wrong rank and
    /// says how to export the graph the caller needs.
    pub fn read(
        inputs: &[TensorSpec],
        outputs: &[TensorSpec],
        export_hint: &str,
    ) -> Result<GraphSignature, String> {
        let find =
            |specs: &[TensorSpec], name: &str| specs.iter().find(|s| s.name == name).cloned();
        for name in ["input_ids", "attention_mask"] {
            match find(inputs, name) {
                Some(s) if s.dtype == DType::I64 => {}
                Some(s) => return Err(format!("input `{name}` is {:?}, expected int64", s.dtype)),
                None => return Err(format!("has no input `{name}`; {export_hint}")),
            }
        }
        let mut position_ids = false;
        let mut token_type_ids = false;
        let mut use_cache_branch = false;
        let mut past = Vec::new();
        let mut other_inputs = Vec::new();
        for input in inputs {
            let expect = |dtype: DType| {
                if input.dtype == dtype {
                    Ok(true)
                } else {
                    Err(format!(
                        "input `{}` is {:?}, expected {dtype:?}",
                        input.name, input.dtype
                    ))
                }
            };
            match input.name.as_str() {
                "input_ids" | "attention_mask" => {}
                "position_ids" => position_ids = expect(DType::I64)?,
                "token_type_ids" => token_type_ids = expect(DType::I64)?,
                "use_cache_branch" => use_cache_branch = expect(DType::Bool)?,
                name if name.starts_with("past_key_values.") => {
                    if input.dtype == DType::F16 {
                        return Err(format!(
                            "`{name}` is float16; only float32 KV caches are supported (export in fp32)"
                        ));
                    }
                    expect(DType::F32)?;
                    past.push(input.clone());
                }
                name => other_inputs.push(name.to_string()),
            }
        }
        let past = (!past.is_empty()).then(|| {
            let presents: Vec<String> = past
                .iter()
                .map(|s| s.name.replacen("past_key_values.", "present.", 1))
                .collect();
            let has_all = presents.iter().all(|p| find(outputs, p).is_some());
            PastInputs {
                specs: past,
                presents: has_all.then_some(presents),
            }
        });
        let logits = find(outputs, "logits").ok_or_else(|| {
            let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
            format!("has no output `logits` (outputs: {})", names.join(", "))
        })?;
        if logits.dtype != DType::F32 {
            return Err(format!(
                "output `logits` is {:?}, expected float32 (export in fp32)",
                logits.dtype
            ));
        }
        if logits.shape.len() != 3 {
            return Err(format!(
                "output `logits` has rank {} (shape {:?}); per-token logits [batch, sequence, \
                 columns] are needed: {export_hint}",
                logits.shape.len(),
                logits.shape
            ));
        }
        Ok(GraphSignature {
            position_ids,
            token_type_ids,
            use_cache_branch,
            past,
            logits,
            other_inputs,
        })
    }

    /// Columns of `logits`, when the graph fixes them.
    pub fn logits_width(&self) -> Option<usize> {
        self.logits.fixed_dim(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, dtype: DType, shape: &[i64]) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
        }
    }

    fn decoder(layers: usize, with_presents: bool) -> (Vec<TensorSpec>, Vec<TensorSpec>) {
        let mut inputs = vec![
            spec("input_ids", DType::I64, &[-1, -1]),
            spec("attention_mask", DType::I64, &[-1, -1]),
            spec("position_ids", DType::I64, &[-1, -1]),
        ];
        let mut outputs = vec![spec("logits", DType::F32, &[-1, -1, 512])];
        for i in 0..layers {
            for kind in ["key", "value"] {
                inputs.push(spec(
                    &format!("past_key_values.{i}.{kind}"),
                    DType::F32,
                    &[-1, 2, -1, 16],
                ));
                if with_presents {
                    outputs.push(spec(
                        &format!("present.{i}.{kind}"),
                        DType::F32,
                        &[-1, 2, -1, 16],
                    ));
                }
            }
        }
        (inputs, outputs)
    }

    #[test]
    fn a_decoder_with_past_reads_whole() {
        let (inputs, outputs) = decoder(3, true);
        let sig = GraphSignature::read(&inputs, &outputs, "hint").unwrap();
        assert!(sig.position_ids && !sig.token_type_ids && !sig.use_cache_branch);
        assert_eq!(sig.logits_width(), Some(512));
        let past = sig.past.unwrap();
        assert_eq!(
            (past.layers(), past.kv_heads(), past.head_dim()),
            (3, Some(2), Some(16))
        );
        assert_eq!(past.names()[1], "past_key_values.0.value");
        assert_eq!(past.presents.unwrap()[5], "present.2.value");
        assert!(sig.other_inputs.is_empty());
    }

    #[test]
    fn missing_presents_and_other_inputs_are_reported_not_refused() {
        let (mut inputs, outputs) = decoder(1, false);
        inputs.push(spec("pixel_values", DType::F32, &[-1]));
        let sig = GraphSignature::read(&inputs, &outputs, "hint").unwrap();
        assert!(sig.past.unwrap().presents.is_none());
        assert_eq!(sig.other_inputs, ["pixel_values"]);
    }

    #[test]
    fn bad_graphs_are_refused_with_the_reason() {
        let read = |inputs: &[TensorSpec], outputs: &[TensorSpec]| {
            GraphSignature::read(inputs, outputs, "export it right").unwrap_err()
        };
        let (inputs, outputs) = decoder(1, true);
        let err = read(&inputs[1..], &outputs);
        assert!(
            err.contains("no input `input_ids`") && err.contains("export it right"),
            "{err}"
        );
        let mut half = inputs.clone();
        half[3].dtype = DType::F16;
        assert!(read(&half, &outputs).contains("float16"));
        let mut positions = inputs.clone();
        positions[2].dtype = DType::I32;
        assert!(read(&positions, &outputs).contains("`position_ids` is I32, expected I64"));
        let err = read(&inputs, &outputs[1..]);
        assert!(
            err.contains("no output `logits`") && err.contains("present.0.key"),
            "{err}"
        );
        let mut pooled = outputs.clone();
        pooled[0].shape = vec![-1, 2];
        let err = read(&inputs, &pooled);
        assert!(
            err.contains("rank 2") && err.contains("export it right"),
            "{err}"
        );
        let mut half_logits = outputs.clone();
        half_logits[0].dtype = DType::F16;
        assert!(read(&inputs, &half_logits).contains("expected float32"));
    }
}
