"""What the Python sides of `cargo xtask bench generate` share: the error they print
without a traceback and the --prompt-ids file reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class BenchError(Exception):
    """A problem with the model folder or arguments; printed without a traceback."""


def load_prompt_ids(path: Path, batch: int, vocab_size: int, dtype, vocab_source: str) -> np.ndarray:
    """The [batch, length] prompt of a --prompt-ids file as `dtype`, checked; token ids
    must lie below `vocab_size` (named in errors by `vocab_source`)."""
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BenchError(f"cannot read the prompt ids {path}: {error}") from error
    if not isinstance(rows, list) or not rows or not all(isinstance(row, list) and row for row in rows):
        raise BenchError(f"{path} must hold a JSON list of non-empty token-id lists")
    if len(rows) != batch:
        raise BenchError(f"{path} has {len(rows)} prompts, but --batch is {batch}")
    if len({len(row) for row in rows}) != 1:
        raise BenchError(f"{path}: the prompts differ in length; give every row the same number of tokens")
    ids = np.array(rows, dtype=dtype)
    if ids.min() < 0 or ids.max() >= vocab_size:
        raise BenchError(f"{path}: token ids must lie in [0, {vocab_size}) ({vocab_source})")
    return ids
