"""Evaluate the demo reviser on test questions, sampling through `ttc generate`.

usage: reviser_eval.py --ttc TTC --reviser REVISER_DIR --samples TEST_SAMPLES.json
                       --test TEST.jsonl --work DIR --out EVAL.json [--revisions 8]
                       [--temperature 0.8]

TEST_SAMPLES.json is the generator's test-set samples written by `prm_common.py
test-samples` (T = 0.8). Prompts are ttc's demo revision layout with one earlier
attempt (prm_common.reviser_prompt). For every question, `--revisions` revisions:

- after one incorrect attempt: the first parsable incorrect generator sample of the
  question (questions that have one);
- with no earlier attempt (the generator's prompt): the reviser as a fresh solver;
- after *another* question's incorrect attempt (the next such question's): a control
  that shows whether the attempt is read or only present;
- after one correct attempt: the first correct generator sample (questions that have
  one); a revision that is incorrect is a flip correct -> incorrect.

Also: the generator's pass@1 on the same questions (its samples), the share of
revisions that repeat the earlier wrong answer, and the share of slips fixed: a
revision fixes the slip when its lines up to and including the attempt's first line
that differs from the reference solution equal the reference's.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    completion_text,
    log,
    parse_answer,
    read_jsonl,
    write_json_atomic,
)
from prm_common import (  # noqa: E402
    MAX_ATTEMPT_TOKENS,
    chunked_generate,
    cut_at_answer,
    read_json,
    reviser_prompt,
)


def lines(text: str) -> list[str]:
    return [x.strip() for x in text.strip().split("\n") if x.strip()]


def slip_fixed(attempt: str, revision: str, reference: list[str]) -> bool | None:
    """None when the attempt has no line that differs from the reference."""
    a = lines(attempt)
    j = next((i for i, x in enumerate(a) if i >= len(reference) or x != reference[i]), None)
    if j is None or j >= len(reference):
        return None
    return lines(revision)[: j + 1] == reference[: j + 1]


def paired_interval(a: list[float], b: list[float], resamples: int = 10_000, seed: int = 0) -> list[float]:
    """The mean of a - b and its 95% percentile bootstrap interval over questions."""
    d = [x - y for x, y in zip(a, b)]
    rng = random.Random(seed)
    means = sorted(sum(d[rng.randrange(len(d))] for _ in d) / len(d) for _ in range(resamples))
    return [sum(d) / len(d), means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ttc", required=True)
    ap.add_argument("--reviser", required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--test", required=True, help="the test questions with reference solutions (JSONL)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--revisions", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=201)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    t0 = time.time()
    data = read_json(args.samples)
    solutions = {r["problem"]: lines(completion_text(r["solution"])) for r in read_jsonl(args.test)}
    rows = []
    for q in data["questions"]:
        ref = int(q["answer"])
        wrong = correct = None
        for s in q["samples"]:
            steps = cut_at_answer(s)
            if steps is None:
                continue
            text = "".join(x + "\n" for x in steps)
            if parse_answer(steps[-1]) == ref:
                correct = correct or text
            else:
                wrong = wrong or text
        answers = [parse_answer(s) for s in q["samples"]]
        if q["problem"] not in solutions:
            sys.exit(f"error: {args.test} has no question {q['problem']!r} of {args.samples}")
        rows.append(dict(q=q, ref=ref, wrong=wrong, correct=correct, reference=solutions[q["problem"]],
                         base_pass1=sum(a == ref for a in answers) / len(answers)))
    with_wrong = [r for r in rows if r["wrong"] is not None]
    with_correct = [r for r in rows if r["correct"] is not None]
    if not with_wrong:
        sys.exit(f"error: {args.samples}: no question has a parsable incorrect generator sample to revise")
    log(f"{len(with_wrong)} of {len(rows)} questions have an incorrect generator sample, "
        f"{len(with_correct)} a correct one")

    def revise(label, prompts, seed):
        out, st = chunked_generate(
            args.ttc, args.reviser, prompts, n=args.revisions, temperature=args.temperature, seed=seed,
            max_new_tokens=MAX_ATTEMPT_TOKENS, cache_dir=Path(args.work) / "cache", chunk=50, label=label,
            threads=args.threads)
        return [[o["text"] for o in outs] for outs in out], st["generated_tokens"]

    def per_question(rs, outs):
        return [sum(parse_answer(t) == r["ref"] for t in ts) / len(ts) for r, ts in zip(rs, outs)]

    def pass1(rs, outs):
        return sum(per_question(rs, outs)) / len(rs)

    after, t1 = revise("after-wrong", [reviser_prompt(r["q"]["problem"], [r["wrong"]]) for r in with_wrong],
                       args.seed)
    fresh, t2 = revise("no-attempt", [reviser_prompt(r["q"]["problem"], []) for r in with_wrong], args.seed + 500_000)
    # Control: the next question's wrong attempt (a cyclic shift; different questions).
    other = [with_wrong[(i + 1) % len(with_wrong)]["wrong"] for i in range(len(with_wrong))]
    control, t3 = revise("after-other-wrong", [reviser_prompt(r["q"]["problem"], [o]) for r, o in zip(with_wrong, other)],
                         args.seed + 1_000_000)
    keep, t4 = revise("after-correct", [reviser_prompt(r["q"]["problem"], [r["correct"]]) for r in with_correct],
                      args.seed + 1_500_000)

    repeat = sum(sum(parse_answer(t) == parse_answer(r["wrong"]) for t in ts) / len(ts)
                 for r, ts in zip(with_wrong, after)) / len(with_wrong)
    unparsable = sum(sum(parse_answer(t) is None for t in ts) / len(ts) for ts in after) / len(with_wrong)
    fixed = [slip_fixed(r["wrong"], t, r["reference"]) for r, ts in zip(with_wrong, after) for t in ts]
    fixed = [f for f in fixed if f is not None]
    res = dict(
        questions=len(rows), questions_with_incorrect=len(with_wrong), questions_with_correct=len(with_correct),
        revisions_per_question=args.revisions, temperature=args.temperature,
        generator_samples=data["samples_per_question"],
        reviser_pass1_after_incorrect=pass1(with_wrong, after),
        base_pass1_same_questions=sum(r["base_pass1"] for r in with_wrong) / len(with_wrong),
        reviser_pass1_no_earlier_attempt=pass1(with_wrong, fresh),
        reviser_pass1_after_other_question_incorrect=pass1(with_wrong, control),
        reviser_pass1_after_correct=pass1(with_correct, keep),
        flips_after_correct=1 - pass1(with_correct, keep),
        base_pass1_questions_with_correct=sum(r["base_pass1"] for r in with_correct) / len(with_correct),
        repeats_earlier_wrong_answer=repeat, unparsable_after_incorrect=unparsable,
        slips_fixed=sum(fixed) / max(1, len(fixed)), slips_checked=len(fixed),
        generated_tokens=t1 + t2 + t3 + t4, wall_s=time.time() - t0,
    )
    # Paired over the same questions: is the attempt worth reading, beyond the noise?
    after_q = per_question(with_wrong, after)
    base_q = [r["base_pass1"] for r in with_wrong]
    res["paired_intervals_95"] = {
        "after_incorrect_minus_no_attempt": paired_interval(after_q, per_question(with_wrong, fresh)),
        "after_incorrect_minus_generator": paired_interval(after_q, base_q),
        "after_incorrect_minus_after_other_question": paired_interval(after_q, per_question(with_wrong, control)),
    }
    write_json_atomic(args.out, res)
    log(f"reviser: pass@1 after one incorrect attempt {res['reviser_pass1_after_incorrect']:.3f} vs generator "
        f"{res['base_pass1_same_questions']:.3f} on the same {len(with_wrong)} questions; no attempt "
        f"{res['reviser_pass1_no_earlier_attempt']:.3f}; after another question's attempt "
        f"{res['reviser_pass1_after_other_question_incorrect']:.3f}; flips after a correct attempt "
        f"{res['flips_after_correct']:.3f}; slips fixed {res['slips_fixed']:.3f}")


if __name__ == "__main__":
    main()
