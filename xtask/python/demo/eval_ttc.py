"""Evaluate an exported demo generator through ttc (ONNX Runtime): greedy accuracy
and the per-question pass@1 spread, in the same JSON layout as eval_lm.py.

usage: eval_ttc.py --ttc PATH/TO/ttc --model EXPORTED_DIR --data TEST.jsonl --out RESULT.json
                   [--samples 64] [--temperature 0.8] [--seed 1] [--questions N]

Calls `ttc generate --prompts FILE --json` on chunks of questions. ttc seeds
prompt i of a call with (seed + i), so chunk k is called with seed + (its first
question index): the result equals one call over all questions, whatever the chunk size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    log,
    parse_answer,
    prompt_text,
    read_jsonl,
    reference_answer,
    write_json_atomic,
)
from eval_lm import spread, text_histogram  # noqa: E402


def run_ttc(ttc, model, prompts, *, n, temperature, seed, max_new_tokens, extra):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for p in prompts:
            f.write(json.dumps({"prompt": p}) + "\n")
        path = f.name
    cmd = [
        ttc, "generate", "--model", str(model), "--prompts", path, "-n", str(n),
        "--temperature", str(temperature), "--seed", str(seed),
        "--max-new-tokens", str(max_new_tokens), "--json", *extra,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
    Path(path).unlink(missing_ok=True)
    if res.returncode != 0:
        sys.exit(f"error: `{' '.join(cmd)}` failed ({res.returncode}):\n{res.stderr[-3000:]}")
    recs = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    if len(recs) != len(prompts) * n:
        sys.exit(f"error: ttc returned {len(recs)} samples, expected {len(prompts) * n}")
    out = [[None] * n for _ in prompts]
    tokens = 0
    for r in recs:
        out[r["prompt_index"]][r["sample"]] = r["text"]
        tokens += len(r["token_ids"])
    return out, tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ttc", required=True, help="the ttc binary")
    ap.add_argument("--model", required=True, help="exported model folder")
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--questions", type=int, default=0)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--chunk-questions", type=int, default=16)
    ap.add_argument("--ttc-arg", action="append", default=[], help="extra argument for ttc generate")
    args = ap.parse_args()

    recs = read_jsonl(args.data)
    if args.questions:
        recs = recs[: args.questions]
    prompts = [prompt_text(r["problem"]) for r in recs]
    t0 = time.time()
    gen_tokens = 0
    greedy = []
    for s in range(0, len(recs), 100):
        texts, n_tok = run_ttc(
            args.ttc, args.model, prompts[s : s + 100], n=1, temperature=0.0, seed=args.seed + s,
            max_new_tokens=args.max_new_tokens, extra=args.ttc_arg,
        )
        gen_tokens += n_tok
        greedy += [parse_answer(t[0]) == reference_answer(r) for t, r in zip(texts, recs[s : s + 100])]
    log(f"greedy: {sum(greedy)}/{len(recs)} correct ({time.time() - t0:.0f}s)")

    per_q = []
    step = args.chunk_questions
    for s in range(0, len(recs), step):
        batch = recs[s : s + step]
        texts, n_tok = run_ttc(
            args.ttc, args.model, prompts[s : s + step], n=args.samples, temperature=args.temperature,
            seed=args.seed + s, max_new_tokens=args.max_new_tokens, extra=args.ttc_arg,
        )
        gen_tokens += n_tok
        for qi, (r, outs) in enumerate(zip(batch, texts)):
            answers = [parse_answer(t) for t in outs]
            ref = reference_answer(r)
            per_q.append(
                dict(
                    unique_id=r.get("unique_id"),
                    level=r.get("level"),
                    greedy_correct=bool(greedy[s + qi]),
                    samples=len(outs),
                    correct=sum(a == ref for a in answers),
                    parsable=sum(a is not None for a in answers),
                )
            )
        log(f"sampled {len(per_q)}/{len(recs)} questions ({time.time() - t0:.0f}s)")
    wall = time.time() - t0
    p1 = [q["correct"] / q["samples"] for q in per_q]
    summary = dict(
        model=str(args.model),
        data=str(args.data),
        engine="ttc generate (ONNX Runtime)",
        greedy_accuracy=sum(greedy) / len(recs),
        samples_per_question=args.samples,
        temperature=args.temperature,
        seed=args.seed,
        generated_tokens=gen_tokens,
        wall_s=wall,
        **spread(p1),
    )
    levels = sorted({q["level"] for q in per_q if q["level"] is not None})
    summary["by_level"] = {
        str(lv): dict(
            greedy_accuracy=sum(g for g, r in zip(greedy, recs) if r.get("level") == lv)
            / max(1, sum(r.get("level") == lv for r in recs)),
            **spread([q["correct"] / q["samples"] for q in per_q if q["level"] == lv]),
        )
        for lv in levels
    }
    summary["greedy_questions"] = len(recs)
    write_json_atomic(
        args.out,
        dict(summary=summary, questions=per_q, greedy=[dict(unique_id=r.get("unique_id"), correct=bool(g)) for r, g in zip(recs, greedy)]),
    )
    log(
        f"greedy acc {summary['greedy_accuracy']:.3f}; mean pass@1 {summary['mean_pass_at_1']:.3f}; "
        f"<0.2: {summary['frac_below_0_2']:.3f}; >0.8: {summary['frac_above_0_8']:.3f}; "
        f"{gen_tokens} tokens in {wall:.0f}s"
    )
    log(text_histogram(summary["histogram_10_bins"]))


if __name__ == "__main__":
    main()
