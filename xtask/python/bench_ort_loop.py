"""Greedy-decoding throughput of a plain Python loop over the onnxruntime package.

Usage: python bench_ort_loop.py --model DIR --batch B --new-tokens T --prompt TEXT

The baseline any user has: tokenizer.json through `tokenizers`, the prompt repeated B
times, one prefill run, then T decode steps feeding present.* back as
past_key_values.*, numpy argmax, EOS ignored, default session options. Times the
whole generation (not session creation), best of 3, and prints one JSON line:
{"impl":"python-onnxruntime","batch":B,"generated_tokens":N,"seconds":S,"tokens_per_s":X}

`cargo xtask bench generate` runs it in the small venv .ttc/bench-env built from
requirements-bench.txt, so it may import only the standard library, numpy,
onnxruntime and tokenizers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

MODEL_FILES = ("model.onnx", "decoder_model_merged.onnx")
RUNS = 3
NUMPY_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class BenchError(Exception):
    """A problem with the model folder or arguments; printed without a traceback."""


def load(model_dir: Path, threads: int = 0) -> tuple[ort.InferenceSession, dict, Tokenizer]:
    model_path = next((model_dir / name for name in MODEL_FILES if (model_dir / name).is_file()), None)
    if model_path is None:
        raise BenchError(f"{model_dir} has neither {' nor '.join(MODEL_FILES)}; export a model with `cargo xtask export`")
    for name in ("config.json", "tokenizer.json"):
        if not (model_dir / name).is_file():
            raise BenchError(f"{model_dir} has no {name}; export the model with `cargo xtask export`")
    config = json.loads((model_dir / "config.json").read_text())
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # 0: ONNX Runtime's default (all physical cores)
    session = ort.InferenceSession(str(model_path), options)
    return session, config, Tokenizer.from_file(str(model_dir / "tokenizer.json"))


def empty_past(session: ort.InferenceSession, config: dict, batch: int) -> dict[str, np.ndarray]:
    heads = config.get("num_key_value_heads") or config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    past = {}
    for value in session.get_inputs():
        if value.name.startswith("past_key_values."):
            dtype = NUMPY_DTYPES.get(value.type)
            if dtype is None:
                raise BenchError(f"unsupported KV cache type {value.type} for {value.name}")
            past[value.name] = np.zeros((batch, heads, 0, head_dim), dtype=dtype)
    if not past:
        raise BenchError("the model has no past_key_values.* inputs; export it with --task text-generation-with-past")
    return past


def generate(session: ort.InferenceSession, config: dict, prompt_ids: list[int], batch: int, new_tokens: int) -> int:
    """Greedy decoding of exactly NEW_TOKENS tokens per row; returns the number generated."""
    input_names = {value.name for value in session.get_inputs()}
    output_names = [value.name for value in session.get_outputs()]
    input_ids = np.tile(np.array(prompt_ids, dtype=np.int64), (batch, 1))
    mask = np.ones_like(input_ids)
    positions = np.cumsum(mask, axis=1) - 1
    feed = empty_past(session, config, batch)
    for step in range(new_tokens):
        feed["input_ids"] = input_ids
        feed["attention_mask"] = mask
        if "position_ids" in input_names:
            feed["position_ids"] = positions
        if "use_cache_branch" in input_names:
            feed["use_cache_branch"] = np.array([step > 0])
        outputs = session.run(None, feed)
        tokens = outputs[output_names.index("logits")][:, -1, :].argmax(axis=-1)
        for name, value in zip(output_names, outputs):
            if name.startswith("present."):
                feed["past_key_values." + name[len("present.") :]] = value
        input_ids = tokens[:, None].astype(np.int64)
        mask = np.concatenate([mask, np.ones((batch, 1), dtype=np.int64)], axis=1)
        positions = positions[:, -1:] + 1
    return batch * new_tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="exported model folder")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--prompt", default="12 + 7 =")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: all cores)")
    parser.add_argument("--repeats", type=int, default=RUNS, help="runs; the best is reported")
    args = parser.parse_args()
    if args.batch < 1 or args.new_tokens < 1:
        print("error: --batch and --new-tokens must be at least 1", file=sys.stderr)
        return 2
    try:
        session, config, tokenizer = load(args.model, args.threads)
        prompt_ids = tokenizer.encode(args.prompt).ids
        if not prompt_ids:
            raise BenchError(f"the prompt {args.prompt!r} encodes to no tokens")
        best = float("inf")
        for _ in range(max(1, args.repeats)):
            start = time.perf_counter()
            generated = generate(session, config, prompt_ids, args.batch, args.new_tokens)
            best = min(best, time.perf_counter() - start)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    result = {
        "impl": "python-onnxruntime",
        "batch": args.batch,
        "generated_tokens": generated,
        "seconds": round(best, 6),
        "tokens_per_s": round(generated / best, 1),
    }
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
