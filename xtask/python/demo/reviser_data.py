"""Revision training data (docs/method.md §3), sampled through `ttc generate`.

usage: reviser_data.py --ttc TTC --model GENERATOR_DIR --train TRAIN.jsonl --work DIR
                       [--offset 0] [--questions 256] [--samples 64] [--temperature 1.0]
                       [--max-per-question 0] [--seed 21]

`--samples` answers per training question at `--temperature`; unparsable ones are
dropped (lines after the first `Answer:` line are cut). For each correct answer of a
question with incorrect ones: k is drawn uniformly from 1..4, capped by the number of
distinct incorrect answers; k incorrect answers go before it as earlier attempts, the
last of them the incorrect answer closest to the correct one by character edit
distance (the paper's construction), the others drawn at random. Correct answers of
questions without an incorrect one become examples without an earlier attempt, at
most `--max-no-earlier` of all revision examples (drawn at random). `--max-per-question`
> 0 keeps that many correct answers per question (drawn at random) to bound the
training set. `--plain` adds that many generator-format examples per revision example
(the generator's prompt and one correct answer of a question, `plain: true`), so the
reviser keeps solving from scratch.

Writes WORK/reviser_data.jsonl (`question`, `problem`, `answer`, `earlier` [texts],
`target` text) and WORK/reviser_data_summary.json.
"""

from __future__ import annotations

import argparse
import json
import random
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
from prm_common import chunked_generate, cut_at_answer, edit_distance  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ttc", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--questions", type=int, default=256)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--max-per-question", type=int, default=0)
    ap.add_argument("--max-earlier", type=int, default=4)
    ap.add_argument("--max-no-earlier", type=float, default=0.3)
    ap.add_argument("--plain", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--max-batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    recs = read_jsonl(args.train)[args.offset : args.offset + args.questions]
    samples, st = chunked_generate(
        args.ttc, args.model, [prompt_text(r["problem"]) for r in recs], n=args.samples,
        temperature=args.temperature, seed=args.seed, max_new_tokens=256, cache_dir=work / "cache", chunk=32,
        label="samples", max_batch=args.max_batch, threads=args.threads,
    )
    rng = random.Random(args.seed)
    n_kept = n_unparsable = n_correct = 0
    ks = [0] * (args.max_earlier + 1)
    revisions, fresh, plain_pool = [], [], []
    for qi, (r, outs) in enumerate(zip(recs, samples)):
        ref = reference_answer(r)
        correct, incorrect = [], []
        for o in outs:
            steps = cut_at_answer(o["text"])
            if steps is None:
                n_unparsable += 1
                continue
            n_kept += 1
            text = "".join(s + "\n" for s in steps)
            (correct if parse_answer(steps[-1]) == ref else incorrect).append(text)
        n_correct += len(correct)
        if args.max_per_question and len(correct) > args.max_per_question:
            correct = rng.sample(correct, args.max_per_question)
        distinct_wrong = sorted(set(incorrect))
        closest_to: dict[str, str] = {}  # correct answers of a question are often identical
        for c in correct:
            k = rng.randint(1, min(args.max_earlier, len(distinct_wrong))) if distinct_wrong else 0
            earlier = []
            if k:
                if c not in closest_to:
                    closest_to[c] = min(distinct_wrong, key=lambda w: (edit_distance(c, w), w))
                closest = closest_to[c]
                others = [w for w in distinct_wrong if w != closest]
                earlier = rng.sample(others, k - 1) + [closest]
            example = dict(question=args.offset + qi, unique_id=r.get("unique_id"), problem=r["problem"],
                           answer=r["answer"], earlier=earlier, target=c)
            (revisions if k else fresh).append(example)
        if correct:
            plain_pool.append(dict(question=args.offset + qi, unique_id=r.get("unique_id"), problem=r["problem"],
                                   answer=r["answer"], earlier=[], target=rng.choice(correct), plain=True))
    # At most max_no_earlier of the revision examples have no earlier attempt.
    room = int(args.max_no_earlier * len(revisions) / (1 - args.max_no_earlier)) if args.max_no_earlier < 1 else len(fresh)
    fresh = rng.sample(fresh, min(room, len(fresh)))
    examples = revisions + fresh
    for e in examples:
        ks[len(e["earlier"])] += 1
    plain = rng.sample(plain_pool, min(len(plain_pool), round(args.plain * len(examples))))
    examples += plain
    rng.shuffle(examples)
    out = work / "reviser_data.jsonl"
    with open(out.with_suffix(".tmp"), "w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(e) + "\n")
    out.with_suffix(".tmp").replace(out)
    summary = dict(
        generator=str(args.model), offset=args.offset, questions=len(recs), samples_per_question=args.samples,
        temperature=args.temperature, seed=args.seed, samples_drawn=len(recs) * args.samples,
        samples_kept=n_kept, unparsable=n_unparsable, samples_correct=n_correct,
        max_per_question=args.max_per_question, examples=len(examples), examples_by_k=ks,
        max_no_earlier=args.max_no_earlier, plain_examples=len(plain),
        no_earlier_share=ks[0] / max(1, sum(ks)),
        questions_with_examples=len({e["question"] for e in examples}),
        sample_tokens=st["generated_tokens"], ttc_wall_s=st["wall_s"], wall_s_this_run=time.time() - t0,
    )
    write_json_atomic(work / "reviser_data_summary.json", summary)
    log(f"wrote {out}: {json.dumps(summary)}")


if __name__ == "__main__":
    main()
