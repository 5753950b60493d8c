"""Generation throughput of onnxruntime-genai's Python API on a GenAI model folder.

Usage: python bench_ort_genai.py --model DIR --batch B --new-tokens T --prompt-ids FILE
       [--temperature X --top-k K --top-p P --seed S] [--threads N] [--repeats R]

The peer users pick for ONNX Runtime GenAI folders (genai_config.json, model.onnx with
GroupQueryAttention, one KV buffer per layer bound as past and present): its own loop,
as its examples run it. FILE is a JSON list of B token-id lists of one length (what
`cargo xtask bench generate` passes every side). Search options: max_length = prompt +
T, min_length = max_length (EOS is masked, so every row gets T tokens), batch_size = B;
greedy at temperature 0, otherwise do_sample with the given temperature, top_k (0:
all), top_p (1: all) and random_seed, which onnxruntime-genai applies as softmax(logits
/ T), then top-k, then top-p, as ttc does. The decoder's session gets N intra-op
threads through a config overlay (the folder is not changed). Times generator creation
(its KV buffer included), prompt and decoding, not model loading; best of R. Prints one
JSON line:
{"impl":"onnxruntime-genai","batch":B,"generated_tokens":N,"seconds":S,"tokens_per_s":X,...}
or, when onnxruntime-genai refuses the batch size (above 32 since 0.15),
{"impl":"onnxruntime-genai","batch":B,"refused":"MESSAGE"}.

`cargo xtask bench generate` runs it in the small venv .ttc/bench-env built from
requirements-bench.txt: the standard library, numpy and onnxruntime-genai only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime_genai as og

from bench_common import BenchError, load_prompt_ids

RUNS = 3
# The start of onnxruntime-genai's error for a batch size it does not take
# (generators.cpp: "batch_size (64) must be in [1, 32]").
REFUSED_BATCH = "batch_size ("


def load(model_dir: Path, threads: int) -> tuple[og.Model, int]:
    config_path = model_dir / "genai_config.json"
    if not config_path.is_file():
        raise BenchError(
            f"{model_dir} has no genai_config.json, so it is not an ONNX Runtime GenAI folder; "
            "export one with `cargo xtask export --format genai`"
        )
    vocab_size = json.loads(config_path.read_text())["model"]["vocab_size"]
    config = og.Config(str(model_dir))
    if threads > 0:
        options = {"intra_op_num_threads": threads, "inter_op_num_threads": 1}
        config.overlay(json.dumps({"model": {"decoder": {"session_options": options}}}))
    return og.Model(config), vocab_size


def search_options(args: argparse.Namespace, prompt_len: int) -> dict:
    length = prompt_len + args.new_tokens
    options = {"batch_size": args.batch, "max_length": length, "min_length": length}
    if args.temperature > 0.0:
        options.update(
            do_sample=True,
            temperature=float(args.temperature),
            top_k=int(args.top_k),
            top_p=float(args.top_p),
            random_seed=int(args.seed),
        )
    else:
        options["do_sample"] = False
    return options


def generate(model: og.Model, input_ids: np.ndarray, options: dict) -> int:
    """One generation of every row to max_length; returns the tokens generated."""
    params = og.GeneratorParams(model)
    params.set_search_options(**options)
    generator = og.Generator(model, params)
    generator.append_tokens(input_ids)
    while not generator.is_done():
        generator.generate_next_token()
    prompt_len = input_ids.shape[1]
    return sum(len(generator.get_sequence(row)) - prompt_len for row in range(len(input_ids)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="ONNX Runtime GenAI model folder")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--prompt-ids", type=Path, required=True, help="JSON file: one token-id list per row")
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    parser.add_argument("--top-k", type=int, default=0, help="0: all tokens")
    parser.add_argument("--top-p", type=float, default=1.0, help="1: all tokens")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: the folder's setting)")
    parser.add_argument("--repeats", type=int, default=RUNS, help="runs; the best is reported")
    args = parser.parse_args()
    if args.batch < 1 or args.new_tokens < 1:
        print("error: --batch and --new-tokens must be at least 1", file=sys.stderr)
        return 2
    if not (args.temperature >= 0.0 and args.top_k >= 0 and 0.0 < args.top_p <= 1.0):
        print("error: --temperature must be >= 0, --top-k >= 0 and --top-p in (0, 1]", file=sys.stderr)
        return 2
    result = {"impl": "onnxruntime-genai", "batch": args.batch}
    try:
        model, vocab_size = load(args.model, args.threads)
        input_ids = load_prompt_ids(args.prompt_ids, args.batch, vocab_size, np.int32, "genai_config.json model.vocab_size")
        options = search_options(args, input_ids.shape[1])
        best = float("inf")
        for _ in range(max(1, args.repeats)):
            start = time.perf_counter()
            generated = generate(model, input_ids, options)
            best = min(best, time.perf_counter() - start)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except RuntimeError as error:
        if not str(error).startswith(REFUSED_BATCH):
            raise
        result["refused"] = str(error)
        print(json.dumps(result, separators=(",", ":")))
        return 0
    expected = args.batch * args.new_tokens
    if generated != expected:
        print(f"error: generated {generated} tokens, expected {expected} (batch x new tokens)", file=sys.stderr)
        return 1
    result.update(
        prompt_tokens=int(input_ids.shape[1]),
        generated_tokens=generated,
        seconds=round(best, 6),
        tokens_per_s=round(generated / best, 1),
        runtime=f"onnxruntime-genai {og.__version__}",
    )
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
