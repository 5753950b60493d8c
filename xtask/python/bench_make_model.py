"""Create a randomly initialised Hugging Face checkpoint from a benchmark recipe.

Usage: python bench_make_model.py RECIPE_JSON OUT_DIR

RECIPE_JSON (written by `cargo xtask bench generate`, which keys its cache on it):
  {"name": ..., "architecture": "LlamaForCausalLM", "seed": INT,
   "config": {LlamaConfig fields}, "tokenizer": {"pad": TOKEN, "bos": TOKEN, "eos": TOKEN}}

Writes OUT_DIR/config.json, generation_config.json, model.safetensors (weights drawn
by transformers' initialiser after torch.manual_seed(seed): the same recipe gives the
same weights on the same torch), and a word-level tokenizer (tokenizer.json,
tokenizer_config.json) whose vocabulary is the three special tokens at ids 0, 1, 2 and
"t<id>" for every other id, so that it covers the model's whole vocabulary. Nothing is
downloaded: the model only has the shape of a published one, for throughput and memory
measurements.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

ARCHITECTURES = {"LlamaForCausalLM": (LlamaConfig, LlamaForCausalLM)}
SPECIAL = ("pad", "bos", "eos")


class RecipeError(Exception):
    """A malformed recipe; printed without a traceback."""


def load_recipe(path: Path) -> dict:
    try:
        recipe = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RecipeError(f"cannot read the recipe {path}: {error}") from error
    for field, kind in (("architecture", str), ("seed", int), ("config", dict), ("tokenizer", dict)):
        if not isinstance(recipe.get(field), kind):
            raise RecipeError(f"{path}: field {field!r} must be a {kind.__name__}")
    if recipe["architecture"] not in ARCHITECTURES:
        raise RecipeError(f"{path}: architecture {recipe['architecture']!r} is not one of {sorted(ARCHITECTURES)}")
    for role in SPECIAL:
        if not isinstance(recipe["tokenizer"].get(role), str):
            raise RecipeError(f"{path}: tokenizer.{role} must be a token string")
    return recipe


def word_level_tokenizer(vocab_size: int, special: dict[str, str]) -> PreTrainedTokenizerFast:
    """Specials at ids 0 (pad), 1 (bos), 2 (eos), then one word per remaining id."""
    vocab = {special[role]: index for index, role in enumerate(SPECIAL)}
    vocab.update({f"t{index}": index for index in range(len(SPECIAL), vocab_size)})
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=special["eos"]))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    bos = special["bos"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=special["pad"],
        bos_token=bos,
        eos_token=special["eos"],
        model_input_names=["input_ids", "attention_mask"],
    )


def make(recipe: dict, out: Path) -> None:
    config_class, model_class = ARCHITECTURES[recipe["architecture"]]
    config = config_class(**recipe["config"])
    ids = {role: getattr(config, f"{role}_token_id") for role in SPECIAL}
    if ids != {role: index for index, role in enumerate(SPECIAL)}:
        raise RecipeError(f"config pad/bos/eos token ids must be 0, 1, 2 (the tokenizer's); they are {ids}")
    torch.manual_seed(recipe["seed"])
    model = model_class(config).eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=0).save_pretrained(out)
    word_level_tokenizer(config.vocab_size, recipe["tokenizer"]).save_pretrained(out)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{recipe.get('name', 'model')}: {parameters:,} parameters written to {out}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", type=Path, help="recipe JSON file")
    parser.add_argument("out", type=Path, help="output checkpoint folder")
    args = parser.parse_args()
    try:
        make(load_recipe(args.recipe), args.out)
    except RecipeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
