"""Evaluate the demo PRM on test-set samples of the demo generator.

usage: prm_eval.py --samples TEST_SAMPLES.json --prm PRM_DIR --out EVAL.json

1. TEST_SAMPLES.json: solutions per test question sampled from the generator through
   `ttc generate` at T = 0.8 (`prm_common.py test-samples`; default 100 questions x 64).
2. Scores every sample with the exported PRM (model.onnx run by the onnxruntime
   package, the graph ttc's verifier runs, same demo layout): per-step sigmoid at each
   "\\n"; the answer score is the last step's.
3. AUROC of the last-step score for final-answer correctness (an unparsable sample
   counts as incorrect), plus min/mean aggregations; answer selection at N = 1, 4, 16
   and 64 (the samples cut into disjoint groups of N, accuracy averaged): majority,
   best-of-N weighted (sum of last-step scores per answer) and naive; pass@N as a
   ceiling. The `*_64` keys hold selection over all of a question's samples.
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
    reference_answer,
    setup_offline,
    write_json_atomic,
)
from prm_common import (  # noqa: E402
    OnnxRewardModel,
    auroc,
    exact_step_labels,
    read_json,
    select_majority,
    select_naive,
    select_weighted,
    steps_of,
)


def corrupt_steps(steps: list[str], bad: int) -> list[str] | None:
    """`steps` with step `bad`'s result raised by one and every later step recomputed
    from it (so only step `bad` is wrong), the `Answer:` line changed to match; None
    when a line does not parse or a value leaves 0..999."""
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "x": lambda a, b: a * b}
    out, value = [], None
    for i, line in enumerate(steps):
        parts = line.split()
        if line.startswith("Answer:"):
            if value is None:
                return None
            out.append(f"Answer: {value}")
            continue
        if len(parts) != 5 or parts[1] not in ops or parts[3] != "=":
            return None
        try:
            a, b, c = int(parts[0]), int(parts[2]), int(parts[4])
        except ValueError:
            return None
        if i < bad:
            out.append(line)
            continue
        if i > bad:
            a, c = value, ops[parts[1]](value, b)
        else:
            c += 1
        if not 0 <= c <= 999:
            return None
        value = c
        out.append(f"{a} {parts[1]} {b} = {c}")
    return out if value is not None and out != steps else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", required=True, help="test_samples.json (prm_common.py test-samples)")
    ap.add_argument("--prm", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    setup_offline(args.threads)

    t0 = time.time()
    data = read_json(args.samples)
    recs = data["questions"]
    n_samples = data["samples_per_question"]
    samples = [[dict(text=t) for t in q["samples"]] for q in recs]
    prm = OnnxRewardModel(args.prm, threads=args.threads)
    items, where = [], []
    for qi, outs in enumerate(samples):
        for si, o in enumerate(outs):
            steps = steps_of(o["text"])
            if steps:
                items.append((recs[qi]["problem"], steps))
                where.append((qi, si))
    t1 = time.time()
    scored = prm.score(items)
    score_wall = time.time() - t1
    last = [[0.0] * n_samples for _ in recs]
    mins = [[0.0] * n_samples for _ in recs]
    means = [[0.0] * n_samples for _ in recs]
    for (qi, si), s in zip(where, scored):
        last[qi][si], mins[qi][si], means[qi][si] = s[-1], min(s), sum(s) / len(s)
    answers = [[parse_answer(o["text"]) for o in outs] for outs in samples]
    refs = [reference_answer(r) for r in recs]
    correct = [[a == ref for a in ans] for ans, ref in zip(answers, refs)]
    flat = lambda m: [x for row in m for x in row]  # noqa: E731
    # Step level: every step's score against the oracle prefix labels (when the
    # samples file carries the reference solutions).
    step_scores, step_truth = [], []
    if all("solution" in q for q in recs):
        for (qi, _si), s, (_, steps) in zip(where, scored, items):
            step_scores += s
            step_truth += exact_step_labels(recs[qi]["solution"], steps)
    res = dict(
        questions=len(recs), samples_per_question=n_samples, temperature=data["temperature"],
        sample_accuracy=sum(flat(correct)) / len(flat(correct)),
        parsable=sum(a is not None for a in flat(answers)) / len(flat(answers)),
        auroc_last=auroc(flat(last), flat(correct)), auroc_min=auroc(flat(mins), flat(correct)),
        auroc_mean=auroc(flat(means), flat(correct)),
        mean_score_correct=sum(s for s, c in zip(flat(last), flat(correct)) if c) / max(1, sum(flat(correct))),
        mean_score_incorrect=sum(s for s, c in zip(flat(last), flat(correct)) if not c)
        / max(1, len(flat(correct)) - sum(flat(correct))),
        step_auroc_exact=auroc(step_scores, step_truth) if step_scores else None,
        steps_scored=len(step_scores), steps_correct_exact=sum(step_truth),
        prm_scored_tokens=prm.scored_tokens, prm_wall_s=score_wall, generated_tokens=data["generated_tokens"],
        selection={},
    )
    # Within a question: does the PRM rank its correct samples above its wrong ones?
    # (A pooled AUROC also rewards telling easy questions from hard ones.)
    mixed = [qi for qi in range(len(recs)) if 0 < sum(correct[qi]) < n_samples]
    within = [auroc(last[qi], correct[qi]) for qi in mixed]
    res["mixed_questions"] = len(mixed)
    res["auroc_within_question"] = sum(within) / len(within) if within else None
    # Pairs on mixed-outcome questions: a correct sample against the same sample with one
    # step's result off by one (later steps recomputed from it), scored at that step; the
    # middle calculation step is the headline, every one in turn the harder test. Each
    # correct sample is scored once for all its corrupted copies.
    good = {qi: steps_of(samples[qi][correct[qi].index(True)]["text"]) for qi in mixed}
    copies = [(qi, k, bad) for qi in mixed for k in range(len(good[qi]) - 1)
              for bad in [corrupt_steps(good[qi], k)] if bad is not None]
    scored_pairs = prm.score([(recs[qi]["problem"], good[qi]) for qi in mixed]
                             + [(recs[qi]["problem"], bad) for qi, _, bad in copies]) if copies else []
    good_scores = dict(zip(mixed, scored_pairs))
    won = {(qi, k): good_scores[qi][k] > s[k] for (qi, k, _), s in zip(copies, scored_pairs[len(mixed):])}
    middle = [(qi, won[qi, k]) for qi in mixed for k in [(len(good[qi]) - 1) // 2] if (qi, k) in won]
    wins = [w for _, w in middle]
    res["pairs_mixed"] = len(middle)
    res["pair_preference_mixed"] = sum(wins) / len(wins) if wins else None
    res["pair_preference_by_level"] = {
        str(lv): dict(pairs=len(w), preference=sum(w) / len(w))
        for lv in sorted({recs[qi].get("level") for qi, _ in middle if recs[qi].get("level") is not None})
        for w in [[x for qi, x in middle if recs[qi].get("level") == lv]]
    }
    res["pairs_every_step"] = len(won)
    res["pair_preference_every_step"] = sum(won.values()) / len(won) if won else None
    for n in (1, 4, 16, 64):
        if n > n_samples:
            continue
        acc = dict(majority=0.0, weighted=0.0, naive=0.0, pass_at_n=0.0)
        groups = n_samples // n
        for qi in range(len(recs)):
            for g in range(groups):
                sl = slice(g * n, (g + 1) * n)
                a, s = answers[qi][sl], last[qi][sl]
                acc["majority"] += (select_majority(a) == refs[qi]) / groups
                acc["weighted"] += (select_weighted(a, s) == refs[qi]) / groups
                acc["naive"] += (select_naive(a, s) == refs[qi]) / groups
                acc["pass_at_n"] += any(correct[qi][sl]) / groups
        res["selection"][str(n)] = {k: v / len(recs) for k, v in acc.items()}
    by_level = {}
    for lv in sorted({r.get("level") for r in recs if r.get("level") is not None}):
        qs = [i for i, r in enumerate(recs) if r.get("level") == lv]
        by_level[str(lv)] = dict(
            questions=len(qs), pass_at_1=sum(sum(correct[i]) for i in qs) / (len(qs) * n_samples),
            weighted_64=sum(select_weighted(answers[i], last[i]) == refs[i] for i in qs) / len(qs),
            majority_64=sum(select_majority(answers[i]) == refs[i] for i in qs) / len(qs),
        )
    res["by_level"] = by_level
    res["wall_s"] = time.time() - t0
    write_json_atomic(args.out, res)
    f3 = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    log(f"PRM eval: AUROC last {f3(res['auroc_last'])} (min {f3(res['auroc_min'])}, mean {f3(res['auroc_mean'])}); "
        f"within-question AUROC {f3(res['auroc_within_question'])} over {res['mixed_questions']} mixed questions; "
        f"pair preference {f3(res['pair_preference_mixed'])} over {res['pairs_mixed']} pairs; "
        + "; ".join(f"N={n}: weighted {v['weighted']:.3f} majority {v['majority']:.3f} naive {v['naive']:.3f} "
                    f"pass@N {v['pass_at_n']:.3f}" for n, v in res["selection"].items()))


if __name__ == "__main__":
    main()
