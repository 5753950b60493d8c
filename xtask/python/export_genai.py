"""Export a local Hugging Face causal LM to an ONNX Runtime GenAI folder, then check it.

usage: export_genai.py SRC OUT --cache DIR [--golden GOLDEN_JSON]

Runs onnxruntime-genai's model builder offline on the checkpoint SRC (fp32 on CPU:
GroupQueryAttention with float32 KV caches, past and present sharing one buffer),
writing OUT: genai_config.json, model.onnx, model.onnx.data and the tokenizer files.
SRC's own tokenizer files are copied over the builder's, so the folder tokenizes as
an Optimum export of the same checkpoint does.

The check runs onnxruntime-genai's greedy search on OUT and compares its tokens:
- with --golden (the fixtures), with the golden file's transformers tokens for each
  single prompt, which must match exactly;
- otherwise with transformers' greedy tokens on SRC for a few prompts, up to the
  first step whose top-2 logit margin is under MIN_GAP (a tie either side may break).
A mismatch is an error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")
CHECK_PROMPTS = ("The", "1 + 1 =", "Question: what is 3 * 4? Answer:")
NEW_TOKENS = 16
MIN_GAP = 1e-3


class ExportError(Exception):
    """The export or its check failed; printed without a traceback."""


def build(src: Path, out: Path, cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "onnxruntime_genai.models.builder",
        "-i", str(src), "-o", str(out), "-p", "fp32", "-e", "cpu", "-c", str(cache),
    ]
    print("running", " ".join(command), flush=True)
    # The builder asks git for the commit of the folder its package sits in and
    # writes it into the graph's producer_version; inside this repository (the venv
    # lives under .ttc/) that would be ttc's commit, and every export would differ
    # by commit. Stop git's search at the venv: the package's own commit is used.
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=sys.prefix)
    if subprocess.run(command, check=False, env=env).returncode != 0:
        raise ExportError(f"onnxruntime-genai's model builder failed on {src} (see its output above)")
    config = out / "genai_config.json"
    if not config.is_file():
        raise ExportError(f"the model builder wrote no {config}")
    search = json.loads(config.read_text()).get("search", {})
    if not search.get("past_present_share_buffer", False):
        raise ExportError(f"{config}: search.past_present_share_buffer is not true; ttc needs the shared KV buffer")
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copyfile(src / name, out / name)


def genai_greedy(model, ids: list[int], new_tokens: int) -> list[int]:
    import numpy as np
    import onnxruntime_genai as og

    params = og.GeneratorParams(model)
    params.set_search_options(do_sample=False, max_length=len(ids) + new_tokens, batch_size=1)
    generator = og.Generator(model, params)
    generator.append_tokens(np.array([ids], dtype=np.int32))
    out = []
    while not generator.is_done():
        generator.generate_next_token()
        out.append(int(generator.get_next_tokens()[0]))
    return out


def transformers_greedy(model, ids: list[int], eos: list[int]) -> tuple[list[int], list[float]]:
    """Greedy tokens of the checkpoint and the top-2 logit margin at each step."""
    import torch

    with torch.no_grad():
        result = model.generate(
            torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            do_sample=False,
            max_new_tokens=NEW_TOKENS,
            eos_token_id=eos,
            pad_token_id=eos[0],
            output_logits=True,
            return_dict_in_generate=True,
        )
    tokens = result.sequences[0, len(ids):].tolist()
    margins = []
    for logits in result.logits:
        top2 = torch.topk(logits[0].float(), 2).values
        margins.append(float(top2[0] - top2[1]))
    return tokens[: len(margins)], margins


def check(src: Path, out: Path, golden_path: Path | None) -> None:
    import onnxruntime_genai as og

    model = og.Model(str(out))
    if golden_path is not None:
        golden = json.loads(golden_path.read_text())
        for case in golden["single"]:
            got = genai_greedy(model, case["input_ids"], golden["max_new_tokens"])
            if got != case["output_ids"]:
                raise ExportError(
                    f"{out}: onnxruntime-genai generated {got} for {case['prompt']!r}, "
                    f"transformers {case['output_ids']} ({golden_path})"
                )
        print(f"{out}: onnxruntime-genai reproduces every golden sequence of {golden_path}")
        return
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    reference = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()
    config = json.loads((out / "genai_config.json").read_text())["model"]
    eos = config["eos_token_id"] if isinstance(config["eos_token_id"], list) else [config["eos_token_id"]]
    tokenizer = AutoTokenizer.from_pretrained(src)
    for prompt in CHECK_PROMPTS:
        ids = tokenizer(prompt)["input_ids"]
        want, margins = transformers_greedy(reference, ids, eos)
        got = genai_greedy(model, ids, NEW_TOKENS)
        # Compare up to the first near tie: past it either token is right.
        steps = next((i for i, m in enumerate(margins) if m < MIN_GAP), len(margins))
        if got[:steps] != want[:steps]:
            raise ExportError(
                f"{out}: onnxruntime-genai generated {got[:steps]} for {prompt!r}, transformers {want[:steps]}"
            )
        print(f"{prompt!r}: the first {steps} greedy tokens agree with transformers")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="Hugging Face checkpoint folder")
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("--cache", type=Path, required=True, help="the builder's cache folder")
    parser.add_argument("--golden", type=Path, help="golden.json to check against (fixtures)")
    args = parser.parse_args()
    try:
        build(args.src.resolve(), args.out.resolve(), args.cache.resolve())
        try:
            check(args.src, args.out, args.golden)
        except RuntimeError as error:
            # onnxruntime refusing the graph (e.g. GroupQueryAttention's rotary
            # embedding needs head_size to be a multiple of 16).
            raise ExportError(f"onnxruntime-genai cannot run {args.out}: {error}") from None
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
