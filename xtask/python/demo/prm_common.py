"""Shared pieces of the reward-model and reviser stages (prm-data, prm, reviser-data,
reviser, orm): sampling through `ttc generate`, the demo PRM / ORM / reviser text
layouts as token ids, metrics (AUROC, answer selection) and small I/O helpers.

Layouts (the contract with crates/prm-verifier preset `demo` and crates/reviser
`RevisionLayout::demo()`):

- PRM: ids = encode("Question: {q}\\nSolution:\\n") with <s>, then per step
  encode(step, no special tokens) + [id("\\n")]; one score per appended "\\n".
- ORM: the PRM layout with q replaced by the verifier question
  `q + "\\nAttempt:\\n" + a1 + "\\nAttempt:\\n" + a2 ...` (earlier attempts without
  trailing newlines; just q when there are none); read at the last "\\n" only.
- Reviser: per earlier attempt "Attempt:\\n{a}\\n", then the generator's prompt
  "Question: {q}\\nSolution:\\n", encoded with <s>; the target is the attempt's lines
  then </s>. With no earlier attempt the prompt is exactly the generator's.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import log, parse_answer, prompt_text  # noqa: E402

# Earlier attempts a revision prompt shows (the demo run files' `context-attempts`).
CONTEXT_ATTEMPTS = 1
# The reviser's positions (`max_position_embeddings`): a prompt with one earlier attempt
# of up to MAX_ATTEMPT_TOKENS tokens, the question, and a new attempt of as many tokens
# all fit, so the fitting rule below never drops the attempt of a demo question.
REVISER_POSITIONS = 640
# `[revision] max-attempt-tokens` of the demo run files.
MAX_ATTEMPT_TOKENS = 256


# ---------------------------------------------------------------- text layouts

def steps_of(text: str) -> list[str]:
    """A completion's steps: its lines without "\\n", empty trailing lines dropped."""
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def trim_breaks(text: str) -> str:
    return text.rstrip("\n\r")


def reviser_prompt(question: str, earlier: list[str]) -> str:
    """ttc's `RevisionLayout::demo()` rendered with `earlier` (pass the fitted window)."""
    out = "".join(f"Attempt:\n{trim_breaks(a)}\n" for a in earlier)
    return out + prompt_text(question)


def fitted_context(tok, question: str, attempts: list[str], max_positions: int,
                   max_attempt_tokens: int = MAX_ATTEMPT_TOKENS, keep: int = CONTEXT_ATTEMPTS) -> list[str]:
    """The earlier attempts ttc's reviser shows: the latest `keep`, fewer while the prompt
    (tokenized with `<s>`) would not leave `max_attempt_tokens` within `max_positions`
    (ttc-reviser's rule, `chains.rs`). `tok` is a `tokenizers.Tokenizer`."""
    window = attempts[max(0, len(attempts) - keep):] if keep else []
    while window and len(tok.encode(reviser_prompt(question, window)).ids) > max_positions - max_attempt_tokens:
        window = window[1:]
    return window


def verifier_question(question: str, earlier: list[str]) -> str:
    if not earlier:
        return question
    blocks = "".join(f"Attempt:\n{trim_breaks(a)}\n" for a in earlier)
    return f"{question}\n{trim_breaks(blocks)}"


def newline_id(tok) -> int:
    ids = tok.encode("\n", add_special_tokens=False)
    if len(ids) != 1:
        sys.exit(f"error: the tokenizer encodes '\\n' as {ids}, not one token")
    return ids[0]


def prm_ids(tok, question: str, steps: list[str], nl: int) -> tuple[list[int], list[int]]:
    """Token ids of the demo PRM layout and the positions of each step's "\\n"."""
    ids = tok.encode(prompt_text(question), add_special_tokens=True)
    pos = []
    for s in steps:
        ids = ids + tok.encode(s, add_special_tokens=False) + [nl]
        pos.append(len(ids) - 1)
    return ids, pos


# ---------------------------------------------------------------- sampling via ttc

def ttc_generate(ttc, model, prompts, *, n, temperature, seed, max_new_tokens, max_batch=128, threads=2):
    """`ttc generate --prompts FILE --json`; returns ([[sample dict] * n] per prompt, stats).

    ttc seeds prompt i of a call with seed + i."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for p in prompts:
            f.write(json.dumps({"prompt": p}) + "\n")
        path = f.name
    cmd = [
        str(ttc), "generate", "--model", str(model), "--prompts", path, "-n", str(n),
        "--temperature", str(temperature), "--seed", str(seed),
        "--max-new-tokens", str(max_new_tokens), "--max-batch", str(max_batch),
        "--threads", str(threads), "--json",
    ]
    t0 = time.time()
    res = subprocess.run(cmd, capture_output=True, text=True)
    Path(path).unlink(missing_ok=True)
    if res.returncode != 0:
        sys.exit(f"error: `{' '.join(cmd)}` failed ({res.returncode}):\n{res.stderr[-3000:]}")
    out = [[None] * n for _ in prompts]
    gen_tokens = 0
    count = 0
    for line in res.stdout.splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        out[r["prompt_index"]][r["sample"]] = dict(text=r["text"], tokens=len(r["token_ids"]), finish=r["finish_reason"])
        gen_tokens += len(r["token_ids"])
        count += 1
    if count != len(prompts) * n:
        sys.exit(f"error: ttc returned {count} samples, expected {len(prompts) * n}")
    return out, dict(generated_tokens=gen_tokens, wall_s=time.time() - t0, samples=count)


def model_fingerprint(model_dir) -> str:
    """sha256 of the folder's model.onnx: a cached chunk is reused only for the same model."""
    import hashlib

    return hashlib.sha256((Path(model_dir) / "model.onnx").read_bytes()).hexdigest()


def chunked_generate(ttc, model, prompts, *, n, temperature, seed, max_new_tokens, cache_dir, chunk, label,
                     max_batch=128, threads=2):
    """Like ttc_generate over many prompts, in chunks cached under cache_dir (resumable).

    Chunk k starts at prompt index s and is called with seed + s, so the result equals
    one call over all prompts."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    model_id = model_fingerprint(model)
    results = []
    stats = dict(generated_tokens=0, wall_s=0.0, samples=0, chunks_cached=0)
    t0 = time.time()
    for s in range(0, len(prompts), chunk):
        path = cache_dir / f"{label}-{s:07d}.json"
        part = prompts[s : s + chunk]
        if path.is_file():
            saved = json.loads(path.read_text())
            if (saved["prompts"] == part and saved["n"] == n and saved["seed"] == seed + s
                    and saved.get("model") == model_id and saved.get("temperature") == temperature
                    and saved.get("max_new_tokens") == max_new_tokens):
                results += saved["out"]
                for k in ("generated_tokens", "wall_s", "samples"):
                    stats[k] += saved["stats"][k]
                stats["chunks_cached"] += 1
                continue
        out, st = ttc_generate(ttc, model, part, n=n, temperature=temperature, seed=seed + s,
                               max_new_tokens=max_new_tokens, max_batch=max_batch, threads=threads)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(prompts=part, n=n, seed=seed + s, model=model_id, temperature=temperature,
                                       max_new_tokens=max_new_tokens, out=out, stats=st)))
        os.replace(tmp, path)
        results += out
        for k in ("generated_tokens", "wall_s", "samples"):
            stats[k] += st[k]
        done = min(s + chunk, len(prompts))
        log(f"  {label}: {done}/{len(prompts)} prompts x {n}; {stats['generated_tokens']} tokens; "
            f"{time.time() - t0:.0f}s this run ({st['generated_tokens'] / max(st['wall_s'], 1e-9):.0f} tok/s last chunk)")
    return results, stats


# ---------------------------------------------------------------- metrics

def auroc(scores: list[float], labels: list[bool]) -> float | None:
    """Area under the ROC curve (ties count half); None if one class is empty."""
    pos = [s for s, good in zip(scores, labels) if good]
    neg = [s for s, good in zip(scores, labels) if not good]
    if not pos or not neg:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    r_pos = sum(r for r, good in zip(ranks, labels) if good)
    return (r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def select_majority(answers):
    counts = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
    if not counts:
        return None
    return max(counts.items(), key=lambda kv: (kv[1], -answers.index(kv[0])))[0]


def select_weighted(answers, scores):
    sums = {}
    for a, s in zip(answers, scores):
        if a is not None:
            sums[a] = sums.get(a, 0.0) + s
    if not sums:
        return None
    return max(sums.items(), key=lambda kv: (kv[1], -answers.index(kv[0])))[0]


def select_naive(answers, scores):
    best = None
    for a, s in zip(answers, scores):
        if a is not None and (best is None or s > best[1]):
            best = (a, s)
    return None if best is None else best[0]


def edit_distance(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


# ---------------------------------------------------------------- scoring with ONNX Runtime

class OnnxRewardModel:
    """The exported token-classification model run with the onnxruntime package (the
    same graph ttc's verifier runs); sigmoid of the single logit at each step's "\\n"."""

    def __init__(self, model_dir, threads=2):
        import onnxruntime as ort
        from transformers import AutoTokenizer

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(str(Path(model_dir) / "model.onnx"), so, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.sess.get_inputs()}
        # A token-classification-with-past export: (name, kv heads, head dim) of each past
        # input, fed empty, since whole sequences are scored.
        self.past = [(i.name, i.shape[1], i.shape[3]) for i in self.sess.get_inputs()
                     if i.name.startswith("past_key_values.")]
        self.tok = AutoTokenizer.from_pretrained(str(model_dir))
        self.nl = newline_id(self.tok)
        self.pad = self.tok.pad_token_id if self.tok.pad_token_id is not None else 0
        self.scored_tokens = 0

    def score(self, items, batch=64):
        """items: [(question, steps)] -> [[p per step]] (right padding, length-sorted batches)."""
        import numpy as np

        enc = [prm_ids(self.tok, q, st, self.nl) for q, st in items]
        order = sorted(range(len(enc)), key=lambda i: len(enc[i][0]))
        out = [None] * len(enc)
        for b in range(0, len(order), batch):
            idx = order[b : b + batch]
            width = max(len(enc[i][0]) for i in idx)
            ids = np.full((len(idx), width), self.pad, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for r, i in enumerate(idx):
                n = len(enc[i][0])
                ids[r, :n] = enc[i][0]
                mask[r, :n] = 1
                self.scored_tokens += n
            feed = {"input_ids": ids, "attention_mask": mask}
            if "position_ids" in self.inputs:
                feed["position_ids"] = np.broadcast_to(np.arange(width, dtype=np.int64), (len(idx), width)).copy()
            for name, heads, head_dim in self.past:
                feed[name] = np.zeros((len(idx), heads, 0, head_dim), dtype=np.float32)
            logits = self.sess.run(["logits"], feed)[0][..., 0]
            for r, i in enumerate(idx):
                out[i] = [1 / (1 + math.exp(-float(logits[r, p]))) for p in enc[i][1]]
        return out


def padded_batch(seqs: list[list[int]], pad: int):
    """Right-padded torch `input_ids` and `attention_mask` [len(seqs), longest] for token-id lists."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(s)
        mask[r, : len(s)] = 1
    return ids, mask


def token_logprobs(lm, seqs: list[list[int]], starts: list[int], pad: int, chunk: int = 64) -> list[list[float]]:
    """Per sequence, log p(token | prefix) under the causal LM `lm` of its tokens from
    index `starts[i]` (>= 1) on, in batches of `chunk`."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(seqs), chunk):
            part = seqs[i : i + chunk]
            ids, mask = padded_batch(part, pad)
            lp = torch.log_softmax(lm(input_ids=ids, attention_mask=mask).logits.float(), -1)
            for r, s in enumerate(part):
                start = starts[i + r]
                out.append(lp[r, torch.arange(start - 1, len(s) - 1), torch.tensor(s[start:])].tolist())
    return out


def exact_step_labels(reference_solution: str, steps: list[str]) -> list[bool]:
    """Oracle prefix labels of the demo world (as `ttc_dataset::demo::step_labels`): step i is
    correct while every line up to it equals the reference solution's line (the demo
    reference is the unique right chain of steps; spaces normalised)."""
    ref = [" ".join(line.split()) for line in reference_solution.strip().split("\n") if line.strip()]
    out, ok = [], True
    for i, s in enumerate(steps):
        ok = ok and i < len(ref) and " ".join(s.split()) == ref[i]
        out.append(ok)
    return out


def cut_at_answer(text: str) -> list[str] | None:
    """The steps of a sample up to its `Answer:` line, None when it has none."""
    steps = steps_of(text)
    for i, s in enumerate(steps):
        if parse_answer(s) is not None:
            return steps[: i + 1]
    return None


def read_json(path):
    return json.loads(Path(path).read_text())


# ---------------------------------------------------------------- test-set samples

def write_test_samples(ttc, generator, data, work, *, questions, samples, temperature=0.8, seed=101, threads=2):
    """`samples` generator solutions per test question (the first `questions`) through
    ttc, cached under WORK/cache; writes WORK/test_samples.json."""
    from common import read_jsonl, write_json_atomic

    recs = read_jsonl(data)[:questions]
    outs, st = chunked_generate(
        ttc, generator, [prompt_text(r["problem"]) for r in recs], n=samples, temperature=temperature, seed=seed,
        max_new_tokens=256, cache_dir=Path(work) / "cache", chunk=25, label="test-samples", max_batch=256,
        threads=threads,
    )
    path = Path(work) / "test_samples.json"
    write_json_atomic(path, dict(
        generator=str(generator), data=str(data), temperature=temperature, seed=seed, samples_per_question=samples,
        generated_tokens=st["generated_tokens"], ttc_wall_s=st["wall_s"],
        questions=[dict(unique_id=r.get("unique_id"), problem=r["problem"], answer=r["answer"], level=r.get("level"),
                        solution=r["solution"], samples=[o["text"] for o in o_]) for r, o_ in zip(recs, outs)]))
    log(f"wrote {path}: {len(recs)} questions x {samples} samples, {st['generated_tokens']} tokens")
    return path


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="helpers of the reward-model stages")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("test-samples", help="the generator's test-set samples through ttc")
    t.add_argument("--ttc", required=True)
    t.add_argument("--generator", required=True)
    t.add_argument("--data", required=True)
    t.add_argument("--work", required=True)
    t.add_argument("--questions", type=int, default=100)
    t.add_argument("--samples", type=int, default=64)
    t.add_argument("--temperature", type=float, default=0.8)
    t.add_argument("--seed", type=int, default=101)
    t.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    write_test_samples(a.ttc, a.generator, a.data, a.work, questions=a.questions, samples=a.samples,
                       temperature=a.temperature, seed=a.seed, threads=a.threads)
