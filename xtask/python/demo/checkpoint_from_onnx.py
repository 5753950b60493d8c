"""Rebuild a Hugging Face Llama checkpoint from the weights inside an exported ONNX graph.

The shipped demo models are ONNX graphs; the torch checkpoints they were exported from
live under .ttc/ and are not in the repository. Later stages that start from a shipped
model's weights (the reviser from the generator) and the PRM-trunk baseline (a causal
LM hidden inside the PRM's graph) get them back from the graph here, so a fresh clone
need not retrain the generator first.

Weights are found by the exporter's node names: a MatMul named
`/<prefix>/layers.<L>/<self_attn|mlp>/<proj>/MatMul` reads `<proj>`'s weight (stored
transposed), `<prefix>.embed_tokens.weight` (or `<prefix>.embed.weight`) is the
embedding, and the LM head is the one MatMul to the vocabulary size outside the layers.
Only layers below `--layers` are taken, so the PRM's trunk (its first layers and its
`trunk_norm`) comes out as a plain causal LM. The result is checked: its logits on a
few test prompts must equal onnxruntime's on the source graph (generator) or the greedy
tokens must match (trunk, whose graph has no logits output).

usage: checkpoint_from_onnx.py SRC_FOLDER OUT_DIR [--layers N] [--norm NAME]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

PROJ = re.compile(r"^/(?P<prefix>\w+)/layers\.(?P<layer>\d+)/(?P<block>self_attn|mlp)/(?P<proj>\w+_proj)/MatMul$")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json")
# Max |torch - onnxruntime| of the logits accepted for a rebuilt generator.
TOLERANCE = 1e-3


def weights(graph_path: Path, layers: int | None, norm: str | None) -> tuple[dict, int]:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(graph_path))
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    state: dict[str, np.ndarray] = {}
    vocab = None
    for name, arr in init.items():
        if name.endswith("embed_tokens.weight") or name.endswith(".embed.weight"):
            state["model.embed_tokens.weight"] = arr
            vocab = arr.shape[0]
    if vocab is None:
        raise SystemExit(f"{graph_path}: no embedding initializer (*.embed_tokens.weight)")
    n_layers = 0
    head = []
    for node in model.graph.node:
        if node.op_type != "MatMul" or len(node.input) != 2 or node.input[1] not in init:
            continue
        w = init[node.input[1]]
        m = PROJ.match(node.name)
        if m:
            layer = int(m["layer"])
            if layers is not None and layer >= layers:
                continue
            n_layers = max(n_layers, layer + 1)
            state[f"model.layers.{layer}.{m['block']}.{m['proj']}.weight"] = w.T.copy()
        elif w.ndim == 2 and w.shape[1] == vocab and "/layers." not in node.name:
            head.append(w)
    if len(head) != 1:
        raise SystemExit(f"{graph_path}: expected one LM-head MatMul to the vocabulary ({vocab}), found {len(head)}")
    state["lm_head.weight"] = head[0].T.copy()
    for name, arr in init.items():
        m = re.match(r"^\w+\.layers\.(\d+)\.(input_layernorm|post_attention_layernorm)\.weight$", name)
        if m and int(m[1]) < n_layers:
            state[f"model.layers.{m[1]}.{m[2]}.weight"] = arr
    norm_names = [norm] if norm else [n for n in init if re.match(r"^\w+\.norm\.weight$", n)]
    if len(norm_names) != 1 or norm_names[0] not in init:
        raise SystemExit(f"{graph_path}: final norm not found (give --norm); candidates {norm_names}")
    state["model.norm.weight"] = init[norm_names[0]]
    return state, n_layers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, help="model folder with model.onnx, config.json and tokenizer files")
    ap.add_argument("out", type=Path)
    ap.add_argument("--layers", type=int, default=None, help="take only the first N decoder layers")
    ap.add_argument("--norm", default=None, help="initializer name of the final norm (default: <prefix>.norm.weight)")
    args = ap.parse_args()

    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    state, n_layers = weights(args.src / "model.onnx", args.layers, args.norm)
    cfg_json = json.loads((args.src / "config.json").read_text())
    cfg_json["num_hidden_layers"] = n_layers
    cfg_json["architectures"] = ["LlamaForCausalLM"]
    for key in ("num_labels", "id2label", "label2id", "problem_type", "surprise_prm"):
        cfg_json.pop(key, None)
    tied = np.array_equal(state["lm_head.weight"], state["model.embed_tokens.weight"])
    cfg_json["tie_word_embeddings"] = bool(tied)
    config = LlamaConfig(**{k: v for k, v in cfg_json.items() if k not in ("transformers_version",)})
    model = LlamaForCausalLM(config).eval()
    missing, unexpected = model.load_state_dict({k: torch.tensor(v) for k, v in state.items()}, strict=False)
    missing = [k for k in missing if not (tied and k == "lm_head.weight")]
    if missing or unexpected:
        raise SystemExit(f"weights do not fit the config: missing {missing}, unexpected {unexpected}")

    # Check against the source graph where it has the LM's logits.
    sess = ort.InferenceSession(str(args.src / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    ids = np.array([[0, 40, 41, 42, 43, 44, 45, 46, 47]], dtype=np.int64) % config.vocab_size
    with torch.no_grad():
        logits = model(torch.from_numpy(ids)).logits.numpy()
    if sess.get_outputs()[0].shape[-1] == config.vocab_size or sess.get_outputs()[0].shape[-1] == "vocab_size":
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "position_ids": np.arange(ids.shape[1])[None]}
        for i in sess.get_inputs():
            if i.name.startswith("past_key_values"):
                feeds[i.name] = np.zeros((1, config.num_key_value_heads, 0, config.head_dim), dtype=np.float32)
        ref = sess.run(["logits"], {k: v for k, v in feeds.items() if k in names})[0]
        diff = float(np.abs(ref - logits).max())
        print(f"max |torch - onnxruntime| logits: {diff:.2e}")
        if diff > TOLERANCE:
            raise SystemExit(f"rebuilt checkpoint disagrees with {args.src}/model.onnx (max diff {diff:.2e})")
    else:
        print("source graph has no LM logits output; checked by the caller's evaluation")

    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (args.src / name).exists():
            shutil.copy(args.src / name, args.out / name)
    print(f"wrote {args.out} ({n_layers} layers, {sum(p.numel() for p in model.parameters()):,} parameters, tied={tied})")


if __name__ == "__main__":
    main()
