"""What a causal LM knows about the generator's slips: its log-probability of a
solution as a verifier, on the same test samples and pairs as `prm_eval.py`. With
`--generator` the generator itself; any checkpoint with its tokenizer works (the
PRM's trunk, `.ttc/demo/prm-trunk/final`, is the other one docs/results.md reports).

usage: prm_surprise.py --samples TEST_SAMPLES.json --generator HF_DIR --out OUT.json
                       [--questions 500] [--threads 2]

A diagnostic of the demo world, not a verifier ttc ships: it reads the generator's
next-token distribution at every token, which a PRM (a token classifier reading one
position per step) has to learn to compute. Reports:

- within-question AUROC of the sample's summed token log-probability (correct against
  wrong samples of one question, averaged over questions with mixed outcomes);
- pair preference: a correct sample against the same sample with one step's result off
  by one (`prm_eval.corrupt_steps`, middle step), compared on the summed and on the
  smallest token log-probability of that step.
"""

from __future__ import annotations

import argparse
import sys
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
    auroc,
    newline_id,
    prm_ids,
    read_json,
    steps_of,
    token_logprobs,
)
from prm_eval import corrupt_steps  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", required=True)
    ap.add_argument("--generator", required=True, help="the generator's HF checkpoint folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--questions", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    setup_offline(args.threads)
    from transformers import AutoTokenizer, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(args.generator)
    nl = newline_id(tok)
    model = LlamaForCausalLM.from_pretrained(args.generator).eval()
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    recs = read_json(args.samples)["questions"][: args.questions]

    def step_logprobs(items):
        """Per item, (log p of each solution token, the index of each step's "\\n" among them)."""
        encoded = [prm_ids(tok, q, st, nl) for q, st in items]
        starts = [pos[0] - len(tok.encode(st[0], add_special_tokens=False)) for (_, pos), (_, st) in zip(encoded, items)]
        got = token_logprobs(model, [ids for ids, _ in encoded], starts, pad)
        return [(lp, [p - start for p in pos]) for lp, (_, pos), start in zip(got, encoded, starts)]

    items, where = [], []
    for qi, q in enumerate(recs):
        for text in q["samples"]:
            steps = steps_of(text)
            if steps:
                items.append((q["problem"], steps))
                where.append((qi, parse_answer(text) == reference_answer(q)))
    scored = step_logprobs(items)
    by_q = {}
    for (qi, ok), (lp, _), it in zip(where, scored, items):
        by_q.setdefault(qi, []).append((sum(lp), ok, it[1]))
    mixed = {qi: v for qi, v in by_q.items() if any(ok for _, ok, _ in v) and not all(ok for _, ok, _ in v)}
    within = [auroc([s for s, _, _ in v], [ok for _, ok, _ in v]) for v in mixed.values()]
    pairs = []
    for qi, v in mixed.items():
        steps = next(st for _, ok, st in v if ok)
        k = (len(steps) - 1) // 2
        bad = corrupt_steps(steps, k)
        if bad is not None:
            pairs.append((recs[qi]["problem"], steps, bad, k))
    good = step_logprobs([(q, a) for q, a, _, _ in pairs])
    worse = step_logprobs([(q, b) for q, _, b, _ in pairs])

    def step_slice(lp, ends, k):
        return lp[(ends[k - 1] + 1 if k else 0) : ends[k] + 1]

    wins_sum = wins_min = 0
    for (_, _, _, k), (la, ea), (lb, eb) in zip(pairs, good, worse):
        a, b = step_slice(la, ea, k), step_slice(lb, eb, k)
        wins_sum += sum(a) > sum(b)
        wins_min += min(a) > min(b)
    res = dict(
        questions=len(recs), samples=len(items), mixed_questions=len(within),
        auroc_within_question=sum(within) / max(1, len(within)), pairs=len(pairs),
        pair_preference_sum=wins_sum / max(1, len(pairs)), pair_preference_min=wins_min / max(1, len(pairs)),
    )
    write_json_atomic(args.out, res)
    log(f"{args.generator} log-probability: within-question AUROC {res['auroc_within_question']:.3f} over "
        f"{len(within)} mixed questions; pair preference {res['pair_preference_sum']:.3f} (step sum), "
        f"{res['pair_preference_min']:.3f} (step min) over {len(pairs)} pairs")


if __name__ == "__main__":
    main()
