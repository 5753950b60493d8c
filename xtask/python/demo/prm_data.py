"""PRM training data from Monte Carlo rollouts, all sampled through `ttc generate`.

usage: prm_data.py --ttc TTC --model GENERATOR_DIR --train TRAIN.jsonl --work DIR
                   [--offset 0] [--questions 128] [--samples 16] [--rollouts 16]
                   [--temperature 0.8] [--seed 11]

1. `--samples` solutions per training question (records offset .. offset+questions of
   train.jsonl) at `--temperature`; solutions without a parsable `Answer: N` line are
   dropped, and lines after the first answer line are cut. With `--min-correct K`,
   questions with fewer than K correct samples are dropped.
2. For every step prefix s_1..s_j (j < number of steps) of a kept solution,
   `--rollouts` continuations from prompt + prefix; the step's soft label is the
   fraction of them whose answer is right. A prefix that several solutions of a
   question share is rolled out once and its label shared. The last step (the answer
   line) is labelled with the solution's own correctness: nothing follows it.

Writes WORK/prm_data.jsonl (one kept solution per line: problem, answer, steps,
labels, correct) and WORK/prm_data_summary.json (counts, tokens, wall time).
Resumable: ttc calls are cached per chunk under WORK/cache/.
"""

from __future__ import annotations

import argparse
import json
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
    write_json_atomic,
)
from prm_common import chunked_generate, cut_at_answer  # noqa: E402

# Rollouts per prefix drawn in one round (one ttc call per chunk of prefixes).
ROUND = 4


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ttc", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--questions", type=int, default=128)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--rollouts", type=int, default=16)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-correct", type=int, default=0,
                    help="keep only questions with at least this many correct samples")
    args = ap.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    recs = read_jsonl(args.train)[args.offset : args.offset + args.questions]
    prompts = [prompt_text(r["problem"]) for r in recs]
    samples, s_stats = chunked_generate(
        args.ttc, args.model, prompts, n=args.samples, temperature=args.temperature, seed=args.seed,
        max_new_tokens=args.max_new_tokens, cache_dir=work / "cache", chunk=64, label="samples",
        max_batch=args.max_batch, threads=args.threads,
    )
    kept = []  # (question index, steps, correct)
    unparsable = 0
    for qi, (r, outs) in enumerate(zip(recs, samples)):
        ref = reference_answer(r)
        for o in outs:
            steps = cut_at_answer(o["text"])
            if steps is None:
                unparsable += 1
                continue
            kept.append((qi, steps, parse_answer(steps[-1]) == ref))
    log(f"samples: {len(recs) * args.samples} drawn, {len(kept)} parsable ({unparsable} dropped), "
        f"{sum(k[2] for k in kept)} correct")
    # A question none of whose samples is right gives every rollout the label 0: its
    # steps say nothing about which step went wrong, at a large rollout cost.
    n_correct = [0] * len(recs)
    for qi, _, ok in kept:
        n_correct[qi] += ok
    skipped = sum(c < args.min_correct for c in n_correct)
    kept = [k for k in kept if n_correct[k[0]] >= args.min_correct]
    log(f"questions with at least {args.min_correct} correct samples: {len(recs) - skipped} of {len(recs)}; "
        f"{len(kept)} solutions kept")

    # Distinct (question, prefix) pairs that need rollouts.
    prefixes: dict[tuple[int, str], int] = {}
    for qi, steps, _ in kept:
        for j in range(1, len(steps)):
            key = (qi, "".join(s + "\n" for s in steps[:j]))
            prefixes.setdefault(key, len(prefixes))
    keys = sorted(prefixes, key=prefixes.get)
    log(f"rollouts: {len(keys)} distinct step prefixes x {args.rollouts}")
    r_prompts = [prompts[qi] + pre for qi, pre in keys]
    # Rollouts come in rounds of ROUND per prefix, each with its own seed and cache, so
    # raising --rollouts keeps the rounds already drawn.
    if args.rollouts % ROUND:
        sys.exit(f"prm_data.py: --rollouts {args.rollouts} is not a multiple of {ROUND}; give 4, 8, 12, 16, ...")
    rolls = [[] for _ in keys]
    r_stats = dict(generated_tokens=0, wall_s=0.0)
    for k in range(args.rollouts // ROUND):
        part, st = chunked_generate(
            args.ttc, args.model, r_prompts, n=ROUND, temperature=args.temperature,
            seed=args.seed + 1_000_000 * (k + 1), max_new_tokens=args.max_new_tokens, cache_dir=work / "cache",
            chunk=256, label="rollouts" if k == 0 else f"rollouts-r{k}", max_batch=args.max_batch,
            threads=args.threads,
        )
        for acc, outs in zip(rolls, part):
            acc += outs
        for key in r_stats:
            r_stats[key] += st[key]
    frac = {}
    for (qi, pre), outs in zip(keys, rolls):
        ref = reference_answer(recs[qi])
        frac[(qi, pre)] = sum(parse_answer(pre + o["text"].split("</s>")[0]) == ref for o in outs) / len(outs)

    out_path = work / "prm_data.jsonl"
    n_labels = 0
    with open(out_path.with_suffix(".tmp"), "w", encoding="utf-8") as f:
        for qi, steps, correct in kept:
            labels = [frac[(qi, "".join(s + "\n" for s in steps[:j]))] for j in range(1, len(steps))]
            labels.append(1.0 if correct else 0.0)
            n_labels += len(labels)
            r = recs[qi]
            f.write(json.dumps(dict(question=args.offset + qi, unique_id=r.get("unique_id"), problem=r["problem"],
                                    answer=r["answer"], level=r.get("level"), steps=steps, labels=labels,
                                    correct=correct)) + "\n")
    out_path.with_suffix(".tmp").replace(out_path)
    summary = dict(
        generator=str(args.model), train=str(args.train), offset=args.offset, questions=len(recs),
        samples_per_question=args.samples, rollouts_per_prefix=args.rollouts, temperature=args.temperature,
        seed=args.seed, samples_drawn=len(recs) * args.samples, samples_kept=len(kept), unparsable=unparsable,
        min_correct=args.min_correct, questions_skipped=skipped,
        samples_correct=sum(k[2] for k in kept), distinct_prefixes=len(keys), rollouts=len(keys) * args.rollouts,
        step_labels=n_labels,
        sample_tokens=s_stats["generated_tokens"], rollout_tokens=r_stats["generated_tokens"],
        ttc_wall_s=s_stats["wall_s"] + r_stats["wall_s"], wall_s_this_run=time.time() - t0,
        mean_label=sum(sum(json.loads(line)["labels"]) for line in open(out_path)) / max(1, n_labels),
    )
    # Intermediate labels (every step but the `Answer:` line) strictly between 0 and 1:
    # the ones that say more about a step than whether its question is solvable.
    inter = [x for line in open(out_path) for x in json.loads(line)["labels"][:-1]]
    summary["intermediate_labels"] = len(inter)
    summary["intermediate_soft_share"] = sum(0.0 < x < 1.0 for x in inter) / max(1, len(inter))
    write_json_atomic(work / "prm_data_summary.json", summary)
    log(f"wrote {out_path}: {len(kept)} solutions, {n_labels} step labels; {json.dumps(summary)}")


if __name__ == "__main__":
    main()
