"""Export a local Hugging Face checkpoint to the ONNX layout the ttc runtime loads.

Usage: python export.py SRC OUT [--task TASK]

Tasks:
  text-generation-with-past       a causal LM with KV-cache inputs and outputs (Optimum)
  token-classification            per-token logits [batch, seq, num_labels], no KV cache
                                  (Optimum)
  token-classification-with-past  per-token logits with KV-cache inputs and outputs, so a
                                  verifier scores a step appended to an already-scored
                                  prefix by running only the new tokens (Llama and Qwen2
                                  *ForTokenClassification; exported here with the TorchScript
                                  exporter and checked against torch, see
                                  export_token_classifier_with_past)

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

TASKS = ("text-generation-with-past", "token-classification", "token-classification-with-past")
# The task export.py exports itself rather than through Optimum's main_export.
CLASSIFIER_WITH_PAST = "token-classification-with-past"
# model_type values whose *ForTokenClassification models the with-past export supports.
CLASSIFIER_WITH_PAST_TYPES = ("llama", "qwen2")
# What Optimum exports these architectures with.
OPSET = 18
# Max |onnxruntime - torch| of the logits that the with-past parity check accepts.
PARITY_TOLERANCE = 1e-4
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


# ---- token-classification-with-past --------------------------------------------------------
#
# The graph contract the Rust verifier relies on (the names are those of Optimum's
# text-generation-with-past export of a causal LM):
#   inputs   input_ids                      int64    [batch, seq]
#            attention_mask                 int64    [batch, past_seq + seq], 0 marks padding
#                                                    (left or in the middle)
#            position_ids                   int64    [batch, seq]
#            past_key_values.{i}.key/value  float32  [batch, kv_heads, past_seq, head_dim]
#   outputs  logits                         float32  [batch, seq, num_labels]
#            present.{i}.key/value          float32  [batch, kv_heads, past_seq + seq, head_dim]
# batch, seq and past_seq are dynamic; past_seq may be 0.

# Dynamic axis names, Optimum's.
BATCH, SEQ, PAST = "batch_size", "sequence_length", "past_sequence_length"
TOTAL = f"{PAST} + {SEQ}"


def check_token_classifier(src: Path) -> None:
    """Refuse, before anything is written, a checkpoint the with-past export cannot handle."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(src, local_files_only=True)
    architectures = list(getattr(config, "architectures", None) or [])
    classifier = any(name.endswith("ForTokenClassification") for name in architectures)
    if config.model_type not in CLASSIFIER_WITH_PAST_TYPES or not classifier:
        found = ", ".join(architectures) or "no architectures entry"
        raise ExportError(
            f"--task {CLASSIFIER_WITH_PAST} exports LlamaForTokenClassification and "
            f"Qwen2ForTokenClassification checkpoints; {src} has model_type "
            f"{config.model_type!r} ({found}). Export it with --task token-classification "
            "(no KV cache) or, for a causal LM, --task text-generation-with-past"
        )
    layer_types = getattr(config, "layer_types", None) or []
    sliding = any(kind != "full_attention" for kind in layer_types)
    if getattr(config, "use_sliding_window", False) or sliding:
        raise ExportError(
            f"{src} uses sliding-window attention, which --task {CLASSIFIER_WITH_PAST} does not "
            "export; use --task token-classification"
        )


def load_token_classifier(src: Path):
    """The checkpoint as a float32 *ForTokenClassification model in eval mode (dropout off)."""
    import torch
    from transformers import AutoModelForTokenClassification

    check_token_classifier(src)
    model = AutoModelForTokenClassification.from_pretrained(
        src, dtype=torch.float32, attn_implementation="sdpa", local_files_only=True
    )
    return model.eval()


def additive_mask(attention_mask, cache_position, dtype):
    """[batch, 1, seq, past_seq + seq]: 0 where a new token may attend (itself or an earlier
    position that is not padding), the dtype's minimum elsewhere. A finite minimum rather
    than -inf: a query with nothing to attend to (a padding position) gets a uniform softmax
    instead of NaN, and a NaN in its keys or values would leak into the real rows."""
    import torch

    key_position = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    causal = key_position[None, :] <= cache_position[:, None]
    allowed = causal[None, None, :, :] & attention_mask[:, None, None, :].bool()
    return (~allowed).to(dtype) * torch.finfo(dtype).min


class PastCache:
    """Stands in for a transformers Cache in the exported forward: the past keys and values
    come from the graph's inputs, each decoder layer's update() appends its new keys and
    values, and the results become the graph's present outputs. Plain concatenation, so
    nothing in it depends on the lengths seen while tracing."""

    def __init__(self, past):
        self.keys = list(past[0::2])
        self.values = list(past[1::2])
        self.updated = [False] * len(self.keys)

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        import torch

        if self.updated[layer_idx]:
            raise ExportError(f"decoder layer {layer_idx} updated the KV cache twice")
        self.updated[layer_idx] = True
        self.keys[layer_idx] = torch.cat([self.keys[layer_idx], key_states], dim=-2)
        self.values[layer_idx] = torch.cat([self.values[layer_idx], value_states], dim=-2)
        return self.keys[layer_idx], self.values[layer_idx]

    def presents(self) -> list:
        if not all(self.updated):
            missing = [i for i, done in enumerate(self.updated) if not done]
            raise ExportError(f"decoder layers {missing} never used the KV cache")
        return [tensor for pair in zip(self.keys, self.values) for tensor in pair]


def classifier_with_past(model):
    """A module whose forward is the graph contract: the decoder run on the new tokens over
    the past keys and values, then the classifier head on every new position."""
    import torch

    class ClassifierWithPast(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.decoder = getattr(model, model.base_model_prefix)
            # model.dropout sits between the two; it is the identity in eval mode.
            self.score = model.score

        def forward(self, input_ids, attention_mask, position_ids, *past):
            cache = PastCache(past)
            new = torch.arange(input_ids.shape[1], device=input_ids.device)
            cache_position = new + past[0].shape[2]
            mask = additive_mask(attention_mask, cache_position, self.score.weight.dtype)
            hidden = self.decoder(
                input_ids=input_ids,
                attention_mask=mask,
                position_ids=position_ids,
                past_key_values=cache,
                use_cache=True,
                cache_position=cache_position,
            ).last_hidden_state
            return (self.score(hidden), *cache.presents())

    return ClassifierWithPast().eval()


def cache_shape(config) -> tuple[int, int, int]:
    """(layers, key/value heads, head dim) of a decoder config."""
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return config.num_hidden_layers, kv_heads, head_dim


def past_names(layers: int, prefix: str) -> list[str]:
    return [f"{prefix}.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]


def save_graph(traced: Path, target: Path) -> None:
    """Move the traced graph to TARGET; a graph over 2 GB keeps its weights beside it in one
    file, TARGET + "_data" (what Optimum writes and crates/model-folder counts)."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    data = target.with_name(target.name + "_data")
    if data.exists():
        data.unlink()
    graph = onnx.load(str(traced), load_external_data=False)
    if not any(uses_external_data(tensor) for tensor in graph.graph.initializer):
        shutil.move(traced, target)
        return
    graph = onnx.load(str(traced), load_external_data=True)
    onnx.save(
        graph,
        str(target),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data.name,
    )


def export_token_classifier_with_past(src: Path, out: Path) -> None:
    """Write OUT/model.onnx (the graph contract above), config.json and the tokenizer files
    the way Optimum's main_export does, then check the graph against torch."""
    import warnings

    import torch
    from optimum.utils.save_utils import maybe_save_preprocessors

    model = load_token_classifier(src)
    layers, kv_heads, head_dim = cache_shape(model.config)
    inputs = ["input_ids", "attention_mask", "position_ids", *past_names(layers, "past_key_values")]
    outputs = ["logits", *past_names(layers, "present")]
    axes = {
        "input_ids": {0: BATCH, 1: SEQ},
        "attention_mask": {0: BATCH, 1: TOTAL},
        "position_ids": {0: BATCH, 1: SEQ},
        "logits": {0: BATCH, 1: SEQ},
    }
    axes.update({name: {0: BATCH, 2: PAST} for name in inputs[3:]})
    axes.update({name: {0: BATCH, 2: TOTAL} for name in outputs[1:]})
    # Distinct, non-zero sizes while tracing, so no size is mistaken for another or for 0.
    batch, seq, past = 3, 5, 4
    generator = torch.Generator().manual_seed(0)
    example = (
        torch.randint(0, model.config.vocab_size, (batch, seq), generator=generator),
        torch.ones(batch, past + seq, dtype=torch.long),
        torch.arange(past, past + seq).expand(batch, seq).contiguous(),
        *(torch.randn(batch, kv_heads, past, head_dim, generator=generator) for _ in inputs[3:]),
    )
    wrapper = classifier_with_past(model)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        traced = Path(tmp) / "model.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer's notes on Python values taken from tensors; the parity check below
            # runs other batch sizes and lengths than the ones traced.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings(
                "ignore", "You are using the legacy TorchScript", DeprecationWarning
            )
            torch.onnx.export(
                wrapper,
                example,
                str(traced),
                input_names=inputs,
                output_names=outputs,
                dynamic_axes=axes,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
        save_graph(traced, out / "model.onnx")
    model.config.save_pretrained(out)
    maybe_save_preprocessors(src, out)
    check_with_past_parity(model, out / "model.onnx")


def run_with_past(session, chunks, past=None, past_mask=None):
    """One onnxruntime call: the new tokens of each row (lists, left-padded to one width)
    after PAST (the presents of an earlier call, None for an empty cache) whose mask is
    PAST_MASK. Position ids count the real tokens before each one. Returns each
    row's logits at its real new tokens, the presents (named as past inputs) and the mask."""
    import numpy as np

    batch, width = len(chunks), max(len(chunk) for chunk in chunks)
    ids = np.zeros((batch, width), dtype=np.int64)
    new_mask = np.zeros((batch, width), dtype=np.int64)
    for row, chunk in enumerate(chunks):
        ids[row, width - len(chunk) :] = chunk
        new_mask[row, width - len(chunk) :] = 1
    if past_mask is None:
        past_mask = np.zeros((batch, 0), dtype=np.int64)
    mask = np.concatenate([past_mask, new_mask], axis=1)
    feed = {
        "input_ids": ids,
        "attention_mask": mask,
        "position_ids": np.maximum(np.cumsum(mask, axis=1) - 1, 0)[:, -width:],
    }
    for value in session.get_inputs():
        if value.name.startswith("past_key_values."):
            if past is None:
                _, heads, _, head_dim = value.shape
                feed[value.name] = np.zeros((batch, heads, 0, head_dim), dtype=np.float32)
            else:
                feed[value.name] = past[value.name]
    names = [value.name for value in session.get_outputs()]
    result = dict(zip(names, session.run(names, feed)))
    logits = [result["logits"][row, width - len(chunk) :] for row, chunk in enumerate(chunks)]
    presents = {
        "past_key_values." + name.removeprefix("present."): value
        for name, value in result.items()
        if name.startswith("present.")
    }
    return logits, presents, mask


def check_with_past_parity(model, model_path: Path) -> None:
    """Random token rows through the exported graph four ways (whole rows with an empty
    cache; a prefix, one token and the rest, each over the presents of the calls before; a
    left-padded batch of two rows of different lengths; that batch in the same three
    calls, which puts padding in the middle of the mask) against torch's forward of each
    whole row. Raises ExportError if any logit differs by more than PARITY_TOLERANCE."""
    import numpy as np
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    rows = [rng.integers(0, model.config.vocab_size, length).tolist() for length in (13, 8)]
    splits = [(7, 8), (3, 4)]
    with torch.no_grad():
        expected = [model(input_ids=torch.tensor([row])).logits[0].numpy() for row in rows]

    def in_calls(batch_rows, batch_splits):
        logits, past, mask = [], None, None
        bounds = [(0, a, b, len(row)) for row, (a, b) in zip(batch_rows, batch_splits)]
        for part in range(3):
            chunks = [row[ends[part] : ends[part + 1]] for row, ends in zip(batch_rows, bounds)]
            got, past, mask = run_with_past(session, chunks, past, mask)
            logits.append(got)
        return [np.concatenate(parts) for parts in zip(*logits)]

    results = {
        "whole rows, empty past": [run_with_past(session, [row])[0][0] for row in rows],
        "prefix, 1 token, rest over the presents": [
            in_calls([row], [split])[0] for row, split in zip(rows, splits)
        ],
        "left-padded batch of 2": run_with_past(session, rows)[0],
        "left-padded batch of 2 in 3 calls": in_calls(rows, splits),
    }
    print(f"parity with torch, max |logits difference| (tolerance {PARITY_TOLERANCE:g}):")
    failed = []
    for name, got in results.items():
        diff = max(float(np.abs(g - e).max()) for g, e in zip(got, expected))
        print(f"  {name:42} {diff:.2e}")
        if not diff <= PARITY_TOLERANCE:  # NaN fails too
            failed.append(f"{name}: {diff:.3g}")
    if failed:
        model_path.unlink()
        raise ExportError(
            f"the exported graph's logits differ from torch's by more than {PARITY_TOLERANCE:g} "
            f"({'; '.join(failed)}); {model_path} was removed"
        )


def export_checkpoint(src: Path, out: Path, task: str = TASKS[0]) -> Path:
    """Export SRC to OUT and return the path of the ONNX model."""
    if task not in TASKS:
        raise ExportError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    src = src.resolve()
    out = out.resolve()
    check_checkpoint(src)
    if task == CLASSIFIER_WITH_PAST:
        check_token_classifier(src)
    out.mkdir(parents=True, exist_ok=True)
    if task == CLASSIFIER_WITH_PAST:
        export_token_classifier_with_past(src, out)
    else:
        register_extra_tasks()

        from optimum.exporters.onnx import main_export

        # Optimum's own validation tolerances are meant for trained models; export_checkpoint's
        # callers check parity themselves, so a tolerance warning here is not fatal.
        main_export(str(src), out, task=task, framework="pt", local_files_only=True)

    model_path = out / "model.onnx"
    if not model_path.is_file():
        produced = sorted(path.name for path in out.glob("*.onnx"))
        found = ", ".join(produced) or "no .onnx file"
        raise ExportError(f"the export did not write {model_path} (found: {found})")
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
