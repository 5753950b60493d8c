//! Parameter counts, for FLOPs = 2 x parameters x tokens.

use std::path::Path;

use serde_json::Value;

/// Exact parameter count of a Llama-family model (Llama, Mistral, Qwen2), whose
/// layer layout is fixed, with its head: a causal-LM head (none when tied to the
/// embeddings) or a token-classification head (`labels x hidden` weights and
/// `labels` biases). `None` for other architectures and heads.
pub(crate) fn from_config(cfg: &Value) -> Option<u64> {
    let model_type = cfg.get("model_type").and_then(Value::as_str).unwrap_or("");
    if !matches!(model_type, "llama" | "mistral" | "qwen2") {
        return None;
    }
    let g = |k: &str| cfg.get(k).and_then(Value::as_u64);
    let (h, l, nh, v, inter) = (
        g("hidden_size")?,
        g("num_hidden_layers")?,
        g("num_attention_heads")?,
        g("vocab_size")?,
        g("intermediate_size")?,
    );
    let kvh = g("num_key_value_heads").unwrap_or(nh);
    let hd = g("head_dim").unwrap_or(h / nh.max(1));
    let flag = |k: &str| cfg.get(k).and_then(Value::as_bool).unwrap_or(false);
    let attn = h * nh * hd + 2 * h * kvh * hd + nh * hd * h;
    // Qwen2 has biases on q, k and v; Llama may (attention_bias).
    let bias = model_type == "qwen2" || flag("attention_bias");
    let attn_bias = if bias { nh * hd + 2 * kvh * hd } else { 0 };
    let layer = attn + attn_bias + 3 * h * inter + 2 * h;
    let body = v * h + l * layer + h;
    let architecture = cfg
        .get("architectures")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .unwrap_or("ForCausalLM");
    let head = if architecture.ends_with("ForCausalLM") {
        if flag("tie_word_embeddings") {
            0
        } else {
            v * h
        }
    } else if architecture.ends_with("ForTokenClassification") {
        // transformers' default is two labels.
        let labels = cfg
            .get("id2label")
            .and_then(Value::as_object)
            .map(|m| m.len() as u64)
            .filter(|&n| n > 0)
            .or_else(|| g("num_labels"))
            .unwrap_or(2);
        labels * h + labels
    } else {
        return None;
    };
    Some(body + head)
}

/// Bytes of the graph and its external weights.
pub(crate) fn weight_bytes(graph: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    size(graph)
        + size(&graph.with_extension("onnx_data"))
        + size(&graph.with_extension("onnx.data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_counted_by_architecture() {
        let cfg = |arch: &str, tied: bool| {
            serde_json::json!({
                "model_type": "llama", "architectures": [arch], "hidden_size": 8,
                "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 10,
                "intermediate_size": 16, "tie_word_embeddings": tied, "id2label": {"0": "x"},
            })
        };
        let untied = from_config(&cfg("LlamaForCausalLM", false)).unwrap();
        let tied = from_config(&cfg("LlamaForCausalLM", true)).unwrap();
        let scorer = from_config(&cfg("LlamaForTokenClassification", true)).unwrap();
        assert_eq!(untied - tied, 10 * 8);
        assert_eq!(scorer - tied, 8 + 1);
        assert_eq!(
            from_config(&cfg("LlamaForSequenceClassification", true)),
            None
        );
    }
}
