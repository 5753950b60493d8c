"""Export a local Hugging Face checkpoint to the ONNX layout the ttc runtime loads.

Usage: python export.py SRC OUT [--task text-generation-with-past|token-classification]

OUT ends up with model.onnx, config.json, generation_config.json, tokenizer.json and
tokenizer_config.json. The exported graph is loaded in onnxruntime and its inputs and
outputs are printed. Runs offline: the caller sets HF_HUB_OFFLINE=1.

Also imported by make_fixtures.py so fixtures and user exports go through one path.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

TASKS = ("text-generation-with-past", "token-classification")
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
# Keys of generation_config.json derived from config.json when SRC has none.
SPECIAL_ID_KEYS = ("bos_token_id", "eos_token_id", "pad_token_id")


class ExportError(Exception):
    """A problem the user can fix; printed without a traceback."""


def check_checkpoint(src: Path) -> None:
    if not src.is_dir():
        raise ExportError(
            f"{src} is not a directory: pass a Hugging Face checkpoint folder "
            "(config.json plus model.safetensors or pytorch_model.bin)"
        )
    if not (src / "config.json").is_file():
        raise ExportError(
            f"{src} has no config.json, so it is not a Hugging Face checkpoint folder; "
            "save the model with model.save_pretrained(DIR) first"
        )
    if not any((src / name).is_file() for name in WEIGHT_FILES):
        raise ExportError(
            f"{src} has no weights (looked for {', '.join(WEIGHT_FILES)}); "
            "save the model with model.save_pretrained(DIR) first"
        )


def register_extra_tasks() -> None:
    """Optimum knows token-classification for Qwen2 but not for Llama; add it."""
    from optimum.exporters.onnx.model_configs import LlamaOnnxConfig
    from optimum.exporters.tasks import TasksManager

    TasksManager.create_register("onnx")("llama", "token-classification")(LlamaOnnxConfig)


def ensure_generation_config(src: Path, out: Path) -> None:
    target = out / "generation_config.json"
    if target.is_file():
        return
    if (src / "generation_config.json").is_file():
        shutil.copyfile(src / "generation_config.json", target)
        return
    config = json.loads((src / "config.json").read_text())
    generation = {key: config[key] for key in SPECIAL_ID_KEYS if config.get(key) is not None}
    target.write_text(json.dumps(generation, indent=2) + "\n")
    print(f"wrote {target} from the special token ids in config.json")


def ensure_tokenizer(src: Path, out: Path) -> None:
    missing = [name for name in TOKENIZER_FILES if not (out / name).is_file()]
    if not missing:
        return
    if all((src / name).is_file() for name in missing):
        for name in missing:
            shutil.copyfile(src / name, out / name)
        return
    # Checkpoints with only a slow tokenizer: let transformers convert it to tokenizer.json.
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(src, use_fast=True)
    except Exception as error:  # transformers raises many exception types here
        raise ExportError(
            f"{src} has no {' or '.join(missing)} and transformers could not load its tokenizer "
            f"({error}); add a fast tokenizer (tokenizer.json) to the checkpoint"
        ) from error
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        for name in missing:
            produced = Path(tmp) / name
            if not produced.is_file():
                raise ExportError(
                    f"the tokenizer of {src} cannot be saved as {name}; the runtime needs a "
                    "fast (Rust) tokenizer: add tokenizer.json to the checkpoint"
                )
            shutil.copyfile(produced, out / name)


def fold_chat_template(out: Path) -> None:
    """Move chat_template.jinja into tokenizer_config.json, where the runtime reads it.

    transformers >= 4.56 saves a single chat template as a separate file.
    """
    template_path = out / "chat_template.jinja"
    config_path = out / "tokenizer_config.json"
    if not template_path.is_file():
        return
    config = json.loads(config_path.read_text())
    config.setdefault("chat_template", template_path.read_text())
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    template_path.unlink()


def describe_session(model_path: Path) -> None:
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        raise ExportError(f"onnxruntime cannot load {model_path}: {error}") from error
    print(f"{model_path} loads in onnxruntime {ort.__version__}")
    for kind, values in (("input", session.get_inputs()), ("output", session.get_outputs())):
        for value in values:
            print(f"  {kind:6} {value.name:32} {value.type:18} {value.shape}")


def export_checkpoint(src: Path, out: Path, task: str = TASKS[0]) -> Path:
    """Export SRC to OUT and return the path of the ONNX model."""
    if task not in TASKS:
        raise ExportError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    src = src.resolve()
    out = out.resolve()
    check_checkpoint(src)
    register_extra_tasks()

    from optimum.exporters.onnx import main_export

    out.mkdir(parents=True, exist_ok=True)
    # Optimum's own validation tolerances are meant for trained models; export_checkpoint's
    # callers check parity themselves, so a tolerance warning here is not fatal.
    main_export(str(src), out, task=task, framework="pt", local_files_only=True)

    model_path = out / "model.onnx"
    if not model_path.is_file():
        produced = sorted(path.name for path in out.glob("*.onnx"))
        raise ExportError(
            f"optimum did not write {model_path} (found: {', '.join(produced) or 'no .onnx file'})"
        )
    if not (out / "config.json").is_file():
        shutil.copyfile(src / "config.json", out / "config.json")
    ensure_generation_config(src, out)
    ensure_tokenizer(src, out)
    fold_chat_template(out)
    describe_session(model_path)
    return model_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="local Hugging Face checkpoint folder")
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("--task", default=TASKS[0], choices=TASKS)
    args = parser.parse_args()
    try:
        export_checkpoint(args.src, args.out, args.task)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
