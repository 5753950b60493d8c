"""Generation throughput of a plain Python loop over the onnxruntime package.

Usage: python bench_ort_loop.py --model DIR --batch B --new-tokens T [--prompt TEXT |
       --prompt-ids FILE] [--temperature X --top-k K --top-p P --seed S] [--threads N]

The baseline any user has on an Optimum export: one prefill run, then T - 1 decode
steps feeding present.* back as past_key_values.*, EOS ignored, default session
options. The prompt is either TEXT through tokenizer.json (`tokenizers`), repeated B
times, or FILE: a JSON list of B token-id lists of one length (what `cargo xtask
bench generate` passes every side). Greedy is numpy's argmax; at a temperature above
0 each row draws from softmax(logits / T) restricted to the top-k tokens (0: all),
then to the smallest set reaching probability top-p (1: all), by inverse CDF on one
uniform number per row and step from numpy's default_rng(SEED) (the same settings
as ttc's sampler; the random streams differ). Times the whole generation (not
session creation), best of --repeats, and prints one JSON line:
{"impl":"python-onnxruntime","batch":B,"generated_tokens":N,"seconds":S,"tokens_per_s":X,...}

`cargo xtask bench generate` runs it in the small venv .ttc/bench-env built from
requirements-bench.txt, so it may import only the standard library, numpy,
onnxruntime and tokenizers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from bench_common import BenchError, load_prompt_ids

MODEL_FILES = ("model.onnx", "decoder_model_merged.onnx")
RUNS = 3
NUMPY_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0


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


def pick(logits: np.ndarray, sampling: Sampling, rng: np.random.Generator) -> np.ndarray:
    """The next token of every row of [batch, vocab] logits."""
    if sampling.temperature == 0.0:
        return logits.argmax(axis=-1)
    vocab = logits.shape[-1]
    weights = np.exp((logits - logits.max(axis=-1, keepdims=True)) / sampling.temperature)
    if 0 < sampling.top_k < vocab:
        kth = np.partition(weights, vocab - sampling.top_k, axis=-1)[:, vocab - sampling.top_k, None]
        weights = np.where(weights >= kth, weights, 0.0)
    if sampling.top_p < 1.0:
        ranked = -np.sort(-weights, axis=-1)
        reached = np.cumsum(ranked, axis=-1) >= sampling.top_p * ranked.sum(axis=-1, keepdims=True)
        smallest_kept = np.take_along_axis(ranked, reached.argmax(axis=-1)[:, None], axis=-1)
        weights = np.where(weights >= smallest_kept, weights, 0.0)
    cdf = np.cumsum(weights, axis=-1, dtype=np.float64)
    target = rng.random(len(cdf)) * cdf[:, -1]
    return np.minimum((cdf <= target[:, None]).sum(axis=-1), vocab - 1)


def generate(
    session: ort.InferenceSession,
    config: dict,
    input_ids: np.ndarray,
    new_tokens: int,
    sampling: Sampling,
    rng: np.random.Generator,
) -> int:
    """Decodes exactly NEW_TOKENS tokens per row of [batch, length] INPUT_IDS; returns
    the number generated."""
    batch = len(input_ids)
    input_names = {value.name for value in session.get_inputs()}
    output_names = [value.name for value in session.get_outputs()]
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
        tokens = pick(outputs[output_names.index("logits")][:, -1, :], sampling, rng)
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
    parser.add_argument("--prompt", default="12 + 7 =", help="prompt text, repeated per row")
    parser.add_argument("--prompt-ids", type=Path, help="JSON file: one token-id list per row")
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    parser.add_argument("--top-k", type=int, default=0, help="0: all tokens")
    parser.add_argument("--top-p", type=float, default=1.0, help="1: all tokens")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: all cores)")
    parser.add_argument("--repeats", type=int, default=RUNS, help="runs; the best is reported")
    args = parser.parse_args()
    if args.batch < 1 or args.new_tokens < 1:
        print("error: --batch and --new-tokens must be at least 1", file=sys.stderr)
        return 2
    if not (args.temperature >= 0.0 and args.top_k >= 0 and 0.0 < args.top_p <= 1.0):
        print("error: --temperature must be >= 0, --top-k >= 0 and --top-p in (0, 1]", file=sys.stderr)
        return 2
    sampling = Sampling(args.temperature, args.top_k, args.top_p)
    try:
        session, config, tokenizer = load(args.model, args.threads)
        if args.prompt_ids is not None:
            input_ids = load_prompt_ids(args.prompt_ids, args.batch, config["vocab_size"], np.int64, "config.json vocab_size")
        else:
            prompt_ids = tokenizer.encode(args.prompt).ids
            if not prompt_ids:
                raise BenchError(f"the prompt {args.prompt!r} encodes to no tokens")
            input_ids = np.tile(np.array(prompt_ids, dtype=np.int64), (args.batch, 1))
        best = float("inf")
        for _ in range(max(1, args.repeats)):
            rng = np.random.default_rng(args.seed)
            start = time.perf_counter()
            generated = generate(session, config, input_ids, args.new_tokens, sampling, rng)
            best = min(best, time.perf_counter() - start)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    result = {
        "impl": "python-onnxruntime",
        "batch": args.batch,
        "prompt_tokens": int(input_ids.shape[1]),
        "generated_tokens": generated,
        "seconds": round(best, 6),
        "tokens_per_s": round(generated / best, 1),
        "runtime": f"onnxruntime {ort.__version__}",
    }
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
