"""Shared pieces of the demo training scripts: prompt format, answer parsing, I/O.

The prompt format is the contract between the demo models and the search code:

    <s>Question: {problem}\nSolution:\n{step 1}\n{step 2}\n...Answer: {N}\n</s>

`<s>` is added by the tokenizer's post-processor (encode with special tokens),
every solution line -- the answer line included -- ends in "\n", and the model
ends the solution with `</s>` right after the answer line's "\n".
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
from pathlib import Path

BOS = "<s>"
EOS = "</s>"
PAD = "<pad>"
SPECIAL_TOKENS = [BOS, EOS, PAD]

PROMPT_TEMPLATE = "Question: {problem}\nSolution:\n"
ANSWER_PREFIX = "Answer:"
_ANSWER_RE = re.compile(r"^Answer:\s*(-?\d+)\s*$")


def prompt_text(problem: str) -> str:
    """The prompt for one question (the tokenizer prepends `<s>`)."""
    return PROMPT_TEMPLATE.format(problem=problem.strip())


def completion_text(solution: str) -> str:
    """The target completion: the solution lines, each ending in a newline."""
    lines = [line.rstrip() for line in solution.strip().split("\n")]
    return "".join(line + "\n" for line in lines)


def parse_answer(completion: str) -> int | None:
    """The integer on the first `Answer: N` line of a completion, else None."""
    for line in completion.split("\n"):
        m = _ANSWER_RE.match(line.strip())
        if m:
            return int(m.group(1))
    return None


def reference_answer(record: dict) -> int:
    return int(str(record["answer"]).strip())


def read_jsonl(path: str | os.PathLike, fields=("problem", "solution", "answer")) -> list[dict]:
    """The records of a JSONL file, each with `fields`; a bad line exits with its file:line."""
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"error: {path}:{lineno}: not JSON ({e})")
            for key in fields:
                if key not in rec:
                    sys.exit(f"error: {path}:{lineno}: missing field {key!r}")
            out.append(rec)
    if not out:
        sys.exit(f"error: {path} holds no records")
    return out


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def setup_offline(threads: int) -> None:
    """Offline Hugging Face, a fixed number of CPU threads."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    random.seed(0)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
