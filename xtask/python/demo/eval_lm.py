"""Fast evaluation of a demo generator with torch: greedy accuracy and the
per-question pass@1 spread at a sampling temperature.

usage: eval_lm.py --model DIR --data TEST.jsonl --out RESULT.json
                  [--samples 64] [--temperature 0.8] [--questions N] [--seed 1]

pass@1 of a question = fraction of its samples whose `Answer: N` line matches
the reference (unparsable samples count as wrong). The result JSON holds the
per-question numbers and a summary: greedy accuracy, mean pass@1, a 10-bin
histogram of pass@1, the fractions below 0.2 and above 0.8, and the same per level.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    log,
    parse_answer,
    prompt_text,
    read_jsonl,
    reference_answer,
    setup_offline,
    write_json_atomic,
)


def generate(model, tok, prompts, *, sample, temperature, n, max_new_tokens):
    import torch

    enc = tok(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(
            **enc,
            do_sample=sample,
            temperature=temperature if sample else None,
            top_k=0 if sample else None,
            top_p=1.0 if sample else None,
            num_return_sequences=n,
            max_new_tokens=max_new_tokens,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
    new = out[:, enc["input_ids"].shape[1] :]
    gen_tokens = int((new != tok.pad_token_id).sum())
    return tok.batch_decode(new, skip_special_tokens=True), gen_tokens


def histogram(values, bins=10):
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int(v * bins))] += 1
    return counts


def spread(values):
    n = max(1, len(values))
    return dict(
        questions=len(values),
        mean_pass_at_1=sum(values) / n,
        histogram_10_bins=histogram(values),
        frac_below_0_2=sum(v < 0.2 for v in values) / n,
        frac_above_0_8=sum(v > 0.8 for v in values) / n,
        # The questions where sampling more and choosing well can pay.
        frac_medium=sum(0.1 <= v <= 0.9 for v in values) / n,
    )


def text_histogram(counts) -> str:
    total = max(1, sum(counts))
    top = max(1, max(counts))
    lines = []
    for i, c in enumerate(counts):
        lo, hi = i / 10, (i + 1) / 10
        bracket = "]" if i == len(counts) - 1 else ")"
        bar = "#" * round(40 * c / top)
        lines.append(f"[{lo:.1f}, {hi:.1f}{bracket} {c:4d} ({100 * c / total:5.1f}%) {bar}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--questions", type=int, default=0, help="first N questions only (0 = all)")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--batch-seqs", type=int, default=512, help="sequences per sampling batch")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    setup_offline(args.threads)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.model)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    recs = read_jsonl(args.data)
    if args.questions:
        recs = recs[: args.questions]
    t0 = time.time()
    torch.manual_seed(args.seed)

    greedy = []
    gen_tokens = 0
    for s in range(0, len(recs), 100):
        batch = recs[s : s + 100]
        texts, n_tok = generate(
            model, tok, [prompt_text(r["problem"]) for r in batch], sample=False, temperature=1.0, n=1,
            max_new_tokens=args.max_new_tokens,
        )
        gen_tokens += n_tok
        greedy += [parse_answer(t) == reference_answer(r) for t, r in zip(texts, batch)]
    t_greedy = time.time() - t0
    log(f"greedy: {sum(greedy)}/{len(recs)} correct ({t_greedy:.0f}s)")

    per_q = []
    if args.samples > 0:
        q_per_batch = max(1, args.batch_seqs // args.samples)
        for s in range(0, len(recs), q_per_batch):
            batch = recs[s : s + q_per_batch]
            texts, n_tok = generate(
                model, tok, [prompt_text(r["problem"]) for r in batch], sample=True,
                temperature=args.temperature, n=args.samples, max_new_tokens=args.max_new_tokens,
            )
            gen_tokens += n_tok
            for qi, r in enumerate(batch):
                outs = texts[qi * args.samples : (qi + 1) * args.samples]
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
            if (s // q_per_batch) % 10 == 0:
                log(f"sampled {len(per_q)}/{len(recs)} questions ({time.time() - t0:.0f}s)")
    wall = time.time() - t0

    p1 = [q["correct"] / q["samples"] for q in per_q]
    summary = dict(
        model=str(args.model),
        data=str(args.data),
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
    if not per_q:
        summary["by_level"] = {}
    summary["greedy_questions"] = len(recs)
    write_json_atomic(
        args.out,
        dict(summary=summary, questions=per_q, greedy=[dict(unique_id=r.get("unique_id"), correct=bool(g)) for r, g in zip(recs, greedy)]),
    )
    log(
        f"greedy acc {summary['greedy_accuracy']:.3f}; mean pass@1 {summary.get('mean_pass_at_1', 0):.3f}; "
        f"<0.2: {summary.get('frac_below_0_2', 0):.3f}; >0.8: {summary.get('frac_above_0_8', 0):.3f}; "
        f"{gen_tokens} tokens in {wall:.0f}s"
    )
    if per_q:
        log(text_histogram(summary["histogram_10_bins"]))
        for lv, s in summary["by_level"].items():
            log(f"  level {lv}: n={s['questions']} greedy {s['greedy_accuracy']:.2f} mean pass@1 {s['mean_pass_at_1']:.2f}")


if __name__ == "__main__":
    main()
