"""Create the tiny process-reward-model fixtures under models/fixtures/ deterministically.

Usage: python make_prm_fixtures.py OUT_DIR

Writes, from fixed seeds and inline data (nothing is downloaded):
  tiny-prm-classifier/  Qwen2ForTokenClassification, num_labels = 2, with a Qwen-style
                        chat template and the `<extra_0>` step tag (Qwen2.5-Math-PRM layout)
  tiny-prm-value/       LlamaForTokenClassification, num_labels = 1 (a value head): the
                        project's `demo` layout and the Skywork layout, sigmoid per step
                        (both classifiers exported with token-classification-with-past:
                        KV-cache inputs and outputs, so a step can be scored after its
                        prefix's cache)
  tiny-prm-causal/      LlamaForCausalLM with a ` ки` step tag and `+`/`-` label tokens
                        (Math-Shepherd layout) and a Llama-3-style multi-turn chat
                        template (RLHFlow layout)
Each folder has golden.json: for every adapter the folder serves, (question, steps)
cases with the token ids, the positions read and the step probabilities computed in
torch (fp32) the way the original model's reference code does it. The ONNX graph is
checked to reproduce them (a mismatch is an error).

The text layouts here are the reference for the Rust verifier (crates/prm-verifier);
`demo_ids` is the exact rule a demo PRM must be trained with.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForTokenClassification,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForTokenClassification,
)

from export import export_checkpoint
from make_fixtures import (
    BOS,
    BOS_ID,
    EOS,
    EOS_ID,
    PAD,
    PAD_ID,
    FixtureError,
    corpus,
    write_json,
)

VOCAB_SIZE = 512
MAX_POSITIONS = 4096
MODEL_SEED = 7
CORPUS_SEED = 20240807
MAX_FOLDER_BYTES = 2 * 1024 * 1024
# Torch batched (right padding) vs one-at-a-time, and onnxruntime vs torch.
BATCH_TOLERANCE = 1e-5
ONNX_TOLERANCE = 1e-4
LONG_MIN_TOKENS = 2000

IM_START, IM_END, EXTRA_0 = "<|im_start|>", "<|im_end|>", "<extra_0>"
HEADER_START, HEADER_END, EOT = "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"

# Qwen2.5-Math-PRM: system + user = question, assistant = steps each ended by <extra_0>.
QWEN_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
# Llama 3 style (RLHFlow): BOS, then header + trimmed content + end-of-turn per message.
LLAMA3_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# The demo layout (crates/prm-verifier docs): prompt, then each step and the "\n" token.
DEMO_PROMPT = "Question: {question}\nSolution:\n"
SHEPHERD_TAG, SHEPHERD_GOOD, SHEPHERD_BAD = " ки", " +", " -"
RLHFLOW_GOOD, RLHFLOW_BAD = "+", "-"

CASES = [
    {"question": "What is 12 + 7?", "steps": ["12 + 7 = 19", "The answer is 19"]},
    {
        "question": "Tom has 3 apples and buys 4 more. How many apples does he have?",
        "steps": [
            "He starts with 3 apples.",
            "He buys 4 more, so 3 + 4 = 7.",
            "Check: 7 - 4 = 3, which is where he started.",
            "The answer is 7",
        ],
    },
    {"question": "What is 6 * 8?", "steps": ["6*8=48"]},
    {
        "question": "What is 25 - 9 + 2?",
        "steps": ["25 - 9 = 16", "16+2=18", "The total is the sum of the parts, so the answer is 18"],
    },
]


def with_tag_lines(lines: list[str], rng: random.Random) -> list[str]:
    """Math-Shepherd-style solutions, so ` ки`, ` +` and ` -` become tokens."""
    out = list(lines)
    for _ in range(1500):
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        out.append(f"Step 1: {a} + {b} = {a + b} ки\nStep 2: the answer is {a + b} ки")
        out.append(f"{a} - {b} {rng.choice('+-')}")
    return out


def train_tokenizer(
    lines: list[str], extra_special: list[str], bos_post_processor: bool, chat_template: str | None
) -> PreTrainedTokenizerFast:
    """A byte-level BPE like make_fixtures.py's, with extra special tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = [PAD, BOS, EOS, *extra_special]
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(lines, trainer=trainer)
    if bos_post_processor:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, BOS_ID)]
        )
    ids = [tokenizer.token_to_id(token) for token in (PAD, BOS, EOS)]
    if ids != [PAD_ID, BOS_ID, EOS_ID]:
        raise FixtureError(f"special token ids are {ids}, expected {[PAD_ID, BOS_ID, EOS_ID]}")
    if tokenizer.get_vocab_size() != VOCAB_SIZE:
        raise FixtureError(f"tokenizer vocab is {tokenizer.get_vocab_size()}, expected {VOCAB_SIZE}")
    kwargs = {"chat_template": chat_template} if chat_template else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=extra_special,
        model_input_names=["input_ids", "attention_mask"],
        **kwargs,
    )


def single_token(tokenizer, text: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        pieces = tokenizer.convert_ids_to_tokens(ids)
        raise FixtureError(f"{text!r} is not one token of the fixture tokenizer: {pieces}")
    return ids[0]


def long_case(tokenizer) -> dict:
    """A Math-Shepherd case just over LONG_MIN_TOKENS tokens."""
    rng = random.Random(CORPUS_SEED + 1)
    case = {"question": "Add up the sums of all these pairs of numbers.", "steps": []}
    total = 0
    while len(shepherd_ids(tokenizer, case["question"], case["steps"])[0]) < LONG_MIN_TOKENS:
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        total += a + b
        case["steps"].append(f"Step {len(case['steps']) + 1}: {a} + {b} = {a + b}, running total {total}")
    return case


# ---- the reference layouts, one per adapter ------------------------------------------------


def demo_ids(tokenizer, question: str, steps: list[str]) -> tuple[list[int], list[int]]:
    """The demo layout: prompt with the tokenizer's special tokens, then per step its own
    tokens followed by the "\\n" token. Reads at each appended "\\n"."""
    newline = single_token(tokenizer, "\n")
    ids = tokenizer.encode(DEMO_PROMPT.format(question=question))
    positions = []
    for step in steps:
        ids += tokenizer.encode(step, add_special_tokens=False) + [newline]
        positions.append(len(ids) - 1)
    return ids, positions


def skywork_ids(tokenizer, question: str, steps: list[str]) -> tuple[list[int], list[int]]:
    """Skywork-o1-PRM: bos + problem + "\\n", then each step's tokens and the "\\n" token."""
    newline = single_token(tokenizer, "\n")
    ids = tokenizer.encode(tokenizer.bos_token + question + "\n", add_special_tokens=False)
    positions = []
    for step in steps:
        ids += tokenizer.encode(step, add_special_tokens=False) + [newline]
        positions.append(len(ids) - 1)
    return ids, positions


def qwen_ids(tokenizer, question: str, steps: list[str]) -> tuple[list[int], list[int]]:
    """Qwen2.5-Math-PRM's model card: render the chat, encode, read every <extra_0>."""
    messages = [
        {"role": "system", "content": QWEN_SYSTEM},
        {"role": "user", "content": question},
        {"role": "assistant", "content": EXTRA_0.join(steps) + EXTRA_0},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    ids = tokenizer.encode(text)
    tag = tokenizer.convert_tokens_to_ids(EXTRA_0)
    return ids, [i for i, token in enumerate(ids) if token == tag]


def shepherd_ids(tokenizer, question: str, steps: list[str]) -> tuple[list[int], list[int]]:
    """Math-Shepherd's model card: question + " " + steps each ended by " ки", one per line."""
    text = f"{question} " + "\n".join(step + SHEPHERD_TAG for step in steps)
    ids = tokenizer.encode(text)
    tag = single_token(tokenizer, SHEPHERD_TAG)
    return ids, [i for i, token in enumerate(ids) if token == tag]


def rlhflow_conversation(question: str, steps: list[str]) -> list[dict]:
    conversation = []
    for k, step in enumerate(steps):
        conversation.append({"role": "user", "content": f"{question} {step}" if k == 0 else step})
        conversation.append({"role": "assistant", "content": RLHFLOW_GOOD})
    return conversation


def rlhflow_ids(tokenizer, question: str, steps: list[str]) -> tuple[list[int], list[int]]:
    """RLHFlow's reference: for each k, the conversation up to the k-th assistant "+";
    its logits at -3 (the token before "+", then "<|eot_id|>") give step k's score."""
    conversation = rlhflow_conversation(question, steps)
    plus = single_token(tokenizer, RLHFLOW_GOOD)
    positions = []
    for k in range(len(steps)):
        ids = tokenizer.apply_chat_template(conversation[: 2 * k + 2], tokenize=True)
        if ids[-2] != plus:
            raise FixtureError(f"rlhflow: the assistant '+' is not the second-last token of {ids}")
        positions.append(len(ids) - 3)
    full = tokenizer.apply_chat_template(conversation, tokenize=True)
    if full[: len(ids)] != ids:
        raise FixtureError("rlhflow: a shorter conversation does not tokenize to a prefix of the full one")
    return full, positions


# ---- probabilities -------------------------------------------------------------------------


def step_probabilities(kind: str, logits: torch.Tensor, labels: tuple[int, int] | None) -> torch.Tensor:
    """logits [positions, columns] -> one probability per position."""
    if kind == "softmax":
        return torch.softmax(logits, dim=-1)[:, 1]
    if kind == "sigmoid":
        return torch.sigmoid(logits[:, 0])
    if kind == "label-tokens":
        return torch.softmax(logits[:, list(labels)], dim=-1)[:, 0]
    raise ValueError(kind)


def run_torch(model, rows: list[list[int]]) -> list[np.ndarray]:
    """Logits [seq, columns] of each row, from one right-padded batch."""
    width = max(len(ids) for ids in rows)
    input_ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, ids in enumerate(rows):
        input_ids[r, : len(ids)] = torch.tensor(ids)
        mask[r, : len(ids)] = 1
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=mask).logits
    return [logits[r, : len(ids)].numpy() for r, ids in enumerate(rows)]


def run_onnx(session: ort.InferenceSession, config: dict, ids: list[int]) -> np.ndarray:
    """Logits [seq, columns] of one row, with empty past key values if the graph has them."""
    names = {value.name for value in session.get_inputs()}
    feed = {
        "input_ids": np.array([ids], dtype=np.int64),
        "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
    }
    if "position_ids" in names:
        feed["position_ids"] = np.arange(len(ids), dtype=np.int64)[None, :]
    heads = config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    for name in names:
        if name.startswith("past_key_values."):
            feed[name] = np.zeros((1, heads, 0, head_dim), dtype=np.float32)
    return session.run(["logits"], feed)[0][0]


def adapter_golden(model, session, config, tokenizer, name, layout, kind, labels, cases) -> dict:
    encoded = [layout(tokenizer, case["question"], case["steps"]) for case in cases]
    out_cases = []
    for case, (ids, positions) in zip(cases, encoded):
        if len(positions) != len(case["steps"]):
            raise FixtureError(f"{name}: {len(positions)} positions for {len(case['steps'])} steps in {case}")
        (logits,) = run_torch(model, [ids])
        scores = step_probabilities(kind, torch.from_numpy(logits[positions]), labels)
        onnx_logits = run_onnx(session, config, ids)
        onnx_scores = step_probabilities(kind, torch.from_numpy(onnx_logits[positions]), labels)
        diff = float((scores - onnx_scores).abs().max())
        if diff > ONNX_TOLERANCE:
            raise FixtureError(f"{name}: onnxruntime step scores differ from torch by {diff}")
        out_cases.append(
            {
                "question": case["question"],
                "steps": case["steps"],
                "input_ids": ids,
                "positions": positions,
                "scores": scores.tolist(),
            }
        )
    batched = run_torch(model, [ids for ids, _ in encoded])
    batch_scores = []
    for logits, (_, positions), single in zip(batched, encoded, out_cases):
        scores = step_probabilities(kind, torch.from_numpy(logits[positions]), labels)
        diff = float((scores - torch.tensor(single["scores"])).abs().max())
        if diff > BATCH_TOLERANCE:
            raise FixtureError(f"{name}: a right-padded torch batch differs from single rows by {diff}")
        batch_scores.append(scores.tolist())
    lengths = sorted({len(ids) for ids, _ in encoded})
    if len(lengths) < 2:
        raise FixtureError(f"{name}: the batch cases all have {lengths} tokens; padding is not exercised")
    spread = [s for case in out_cases for s in case["scores"]]
    print(f"{name}: {len(cases)} cases, lengths {lengths}, scores in [{min(spread):.3f}, {max(spread):.3f}]")
    return {"cases": out_cases, "batch_scores": batch_scores}


# ---- the three model folders ---------------------------------------------------------------

COMMON = dict(
    vocab_size=VOCAB_SIZE,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=MAX_POSITIONS,
    # Wide weights spread the step probabilities over (0, 1).
    initializer_range=0.2,
    rms_norm_eps=1e-6,
    tie_word_embeddings=False,
    bos_token_id=BOS_ID,
    eos_token_id=EOS_ID,
    pad_token_id=PAD_ID,
    dtype="float32",
)


def build(out: Path, model, tokenizer, task: str, adapters: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out.exists():
            shutil.rmtree(out)
        model_path = export_checkpoint(Path(tmp), out, task)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    golden = {}
    for name, layout, kind, labels, cases in adapters:
        golden[name] = adapter_golden(model, session, model.config, tokenizer, name, layout, kind, labels, cases)
    write_json(out / "golden.json", golden)


def seeded(model_class, config):
    torch.manual_seed(MODEL_SEED)
    return model_class(config).eval()


def make_classifier(out: Path) -> None:
    tokenizer = train_tokenizer(corpus(), [IM_START, IM_END, EXTRA_0], False, QWEN_TEMPLATE)
    config = Qwen2Config(**COMMON, num_labels=2, use_sliding_window=False)
    model = seeded(Qwen2ForTokenClassification, config)
    build(
        out,
        model,
        tokenizer,
        "token-classification-with-past",
        [("qwen2.5-math-prm", qwen_ids, "softmax", None, CASES)],
    )


def make_value(out: Path) -> None:
    tokenizer = train_tokenizer(corpus(), [], True, None)
    config = LlamaConfig(**COMMON, num_labels=1)
    model = seeded(LlamaForTokenClassification, config)
    build(
        out,
        model,
        tokenizer,
        "token-classification-with-past",
        [
            ("demo", demo_ids, "sigmoid", None, CASES),
            ("skywork", skywork_ids, "sigmoid", None, CASES),
        ],
    )


def make_causal(out: Path) -> None:
    lines = with_tag_lines(corpus(), random.Random(CORPUS_SEED))
    tokenizer = train_tokenizer(lines, [HEADER_START, HEADER_END, EOT], True, LLAMA3_TEMPLATE)
    shepherd = (single_token(tokenizer, SHEPHERD_GOOD), single_token(tokenizer, SHEPHERD_BAD))
    rlhflow = (single_token(tokenizer, RLHFLOW_GOOD), single_token(tokenizer, RLHFLOW_BAD))
    single_token(tokenizer, SHEPHERD_TAG)
    config = LlamaConfig(**COMMON)
    model = seeded(LlamaForCausalLM, config)
    long = long_case(tokenizer)
    build(
        out,
        model,
        tokenizer,
        "text-generation-with-past",
        [
            ("math-shepherd", shepherd_ids, "label-tokens", shepherd, CASES),
            ("math-shepherd-long", shepherd_ids, "label-tokens", shepherd, [long, CASES[0]]),
            ("rlhflow", rlhflow_ids, "label-tokens", rlhflow, CASES),
        ],
    )


def make_bad_graphs(value_dir: Path, out: Path) -> None:
    """Two tiny hand-built graphs that a PRM must refuse, beside tiny-prm-value's
    config and tokenizer: `rank2/` outputs one logit per sequence (a sequence
    classifier), `no-mask/` has no attention_mask input."""
    import onnx
    from onnx import TensorProto, helper

    def save(folder: Path, inputs, nodes, output) -> None:
        graph = helper.make_graph(nodes, folder.name, inputs, [output])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        onnx.checker.check_model(model)
        folder.mkdir(parents=True)
        onnx.save(model, str(folder / "model.onnx"))
        for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
            shutil.copyfile(value_dir / name, folder / name)
        ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])

    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", "sequence_length"])
    cast = helper.make_node("Cast", ["input_ids"], ["ids_float"], to=TensorProto.FLOAT)
    if out.exists():
        shutil.rmtree(out)
    save(
        out / "rank2",
        [ids, mask],
        [cast, helper.make_node("ReduceMean", ["ids_float"], ["logits"], axes=[1], keepdims=1)],
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", 1]),
    )
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [2])
    save(
        out / "no-mask",
        [ids],
        [cast, helper.make_node("Constant", [], ["axes"], value=axes), helper.make_node("Unsqueeze", ["ids_float", "axes"], ["logits"])],
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", "sequence_length", 1]),
    )


def check_size(folder: Path) -> None:
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    if size > MAX_FOLDER_BYTES:
        raise FixtureError(f"{folder} is {size} bytes, over the {MAX_FOLDER_BYTES} byte budget")
    print(f"{folder}: {size / 1024:.0f} KiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="fixtures folder (models/fixtures)")
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    makers = {
        "tiny-prm-classifier": make_classifier,
        "tiny-prm-value": make_value,
        "tiny-prm-causal": make_causal,
    }
    try:
        for name, make in makers.items():
            make(args.out / name)
            check_size(args.out / name)
        make_bad_graphs(args.out / "tiny-prm-value", args.out / "tiny-prm-bad")
        check_size(args.out / "tiny-prm-bad")
    except FixtureError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
