"""Evaluate the demo reviser: pass@1 of one revision after one incorrect attempt, against
the base generator's pass@1 on the same test questions. Sampling through `ttc generate`.

usage: reviser_eval.py --ttc TTC --reviser REVISER_DIR --samples TEST_SAMPLES.json
                       --work DIR --out EVAL.json [--revisions 8] [--temperature 0.8]

TEST_SAMPLES.json is the generator's test-set samples written by `prm_common.py test-samples` (T = 0.8).
For every question with at least one parsable incorrect sample, the first such sample
is the earlier attempt; the reviser writes `--revisions` attempts after it
(`Question: q\\nAttempt:\\n{a}\\nAttempt:\\n`) and, for reference, as many with no
earlier attempt (`Question: q\\nAttempt:\\n`). Base pass@1 = the fraction of the
generator's samples of the same questions that are correct.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import log, parse_answer, write_json_atomic  # noqa: E402
from prm_common import (  # noqa: E402
    chunked_generate,
    cut_at_answer,
    read_json,
    reviser_prompt,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ttc", required=True)
    ap.add_argument("--reviser", required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--revisions", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=201)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    t0 = time.time()
    data = read_json(args.samples)
    rows = []
    for q in data["questions"]:
        ref = int(q["answer"])
        answers = [parse_answer(s) for s in q["samples"]]
        wrong = None
        for s in q["samples"]:
            steps = cut_at_answer(s)
            if steps is not None and parse_answer(steps[-1]) != ref:
                wrong = "".join(x + "\n" for x in steps)
                break
        if wrong is None:
            continue
        rows.append(dict(q=q, ref=ref, wrong=wrong, wrong_answer=parse_answer(wrong),
                         base_pass1=sum(a == ref for a in answers) / len(answers)))
    log(f"{len(rows)} of {len(data['questions'])} questions have an incorrect generator sample")
    after, st1 = chunked_generate(
        args.ttc, args.reviser, [reviser_prompt(r["q"]["problem"], [r["wrong"]]) for r in rows], n=args.revisions,
        temperature=args.temperature, seed=args.seed, max_new_tokens=256, cache_dir=Path(args.work) / "cache",
        chunk=50, label="revise-after-wrong", threads=args.threads)
    fresh, st2 = chunked_generate(
        args.ttc, args.reviser, [reviser_prompt(r["q"]["problem"], []) for r in rows], n=args.revisions,
        temperature=args.temperature, seed=args.seed + 500_000, max_new_tokens=256,
        cache_dir=Path(args.work) / "cache", chunk=50, label="revise-no-context", threads=args.threads)
    n = len(rows)
    if n == 0:
        sys.exit(f"error: {args.samples}: no question has a parsable incorrect generator sample to revise")
    acc_after = acc_fresh = repeat = unparsable = 0.0
    for r, a, f in zip(rows, after, fresh):
        aa = [parse_answer(o["text"]) for o in a]
        fa = [parse_answer(o["text"]) for o in f]
        acc_after += sum(x == r["ref"] for x in aa) / len(aa) / n
        acc_fresh += sum(x == r["ref"] for x in fa) / len(fa) / n
        repeat += sum(x == r["wrong_answer"] for x in aa) / len(aa) / n
        unparsable += sum(x is None for x in aa) / len(aa) / n
    base = sum(r["base_pass1"] for r in rows) / n
    res = dict(
        questions=n, questions_total=len(data["questions"]), revisions_per_question=args.revisions,
        temperature=args.temperature, generator_samples=data["samples_per_question"],
        reviser_pass1_after_incorrect=acc_after, base_pass1_same_questions=base,
        reviser_pass1_no_earlier_attempt=acc_fresh, repeats_earlier_wrong_answer=repeat,
        unparsable_after_incorrect=unparsable,
        generated_tokens=st1["generated_tokens"] + st2["generated_tokens"], wall_s=time.time() - t0,
    )
    write_json_atomic(args.out, res)
    log(f"reviser: pass@1 after one incorrect attempt {acc_after:.3f} vs base generator {base:.3f} on the same "
        f"{n} questions (reviser with no earlier attempt {acc_fresh:.3f}; repeats the wrong answer {repeat:.3f})")


if __name__ == "__main__":
    main()
