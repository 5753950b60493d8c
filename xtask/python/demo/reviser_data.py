"""Revision training data (docs/method.md §3): one earlier attempt, then the new one.

usage: reviser_data.py --ttc TTC --model GENERATOR_DIR --train TRAIN.jsonl
                       --train-generator TRAIN_GENERATOR.jsonl --work DIR [options]

Every example is laid out as ttc's `RevisionLayout::demo()` with `context-attempts = 1`
(prm_common.reviser_prompt): `Attempt:\\n{earlier}\\n` then the generator's own prompt,
or the generator's prompt alone. Four kinds, each tagged `kind`:

- `slipped`: a training problem's slipped copy (the data stage writes it beside the
  reference: the same solution up to a slipped line, later lines following the wrong
  value) as the earlier attempt, its reference solution as the target. Free and
  unlimited: `--slipped` problems from `--slipped-offset` of TRAIN_GENERATOR.jsonl whose
  copy has at least one slip.
- `own-wrong`: the generator's own incorrect samples (through `ttc generate`,
  `--samples` per question at `--temperature` on `--questions` problems from
  `--offset`), at most `--max-wrong` distinct ones per question, each followed by the
  reference solution.
- `own-correct`: one correct sample per question (where there is one) followed by
  the reference solution, so that the reviser learns to keep a right answer: every
  context ending in a wrong attempt would teach it to change the last attempt.
- `clean`: `--clean` training problems whose copy in TRAIN_GENERATOR.jsonl has no slip
  (from `--clean-offset`): that correct solution as the earlier attempt, the
  reference (the same text) as the target. With `own-correct` it teaches keeping a
  right attempt; the generator's own correct samples alone are few.
- `replay`: `--replay` generator training examples (TRAIN_GENERATOR.jsonl from
  `--replay-offset`, slips included, as the generator was trained) with no earlier
  attempt, so that a fresh attempt keeps the generator's quality.

The fitting rule is ttc's (`prm_common.fitted_context`, crates/reviser chains.rs): the
earlier attempt is shown only if the prompt leaves `MAX_ATTEMPT_TOKENS` within the
reviser's `REVISER_POSITIONS`; an example whose attempt does not fit keeps no attempt
(as inference would run it), and one whose target then exceeds the positions is
dropped. Both counts are in the summary.

Writes WORK/reviser_data.jsonl (`question`, `problem`, `answer`, `earlier` [0 or 1
texts], `target`, `kind`) and WORK/reviser_data_summary.json.
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
    completion_text,
    log,
    parse_answer,
    prompt_text,
    read_jsonl,
    reference_answer,
    write_json_atomic,
)
from prm_common import (  # noqa: E402
    MAX_ATTEMPT_TOKENS,
    REVISER_POSITIONS,
    chunked_generate,
    cut_at_answer,
    fitted_context,
    reviser_prompt,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ttc", required=True)
    ap.add_argument("--model", required=True, help="the generator's model folder (ONNX, tokenizer)")
    ap.add_argument("--train", required=True, help="training problems with reference solutions")
    ap.add_argument("--train-generator", required=True, help="the same problems as the generator saw them (slips)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--offset", type=int, default=10_000)
    ap.add_argument("--questions", type=int, default=512)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--max-wrong", type=int, default=4)
    ap.add_argument("--slipped", type=int, default=4000)
    ap.add_argument("--slipped-offset", type=int, default=20_000)
    ap.add_argument("--clean", type=int, default=1500)
    ap.add_argument("--clean-offset", type=int, default=60_000)
    ap.add_argument("--replay", type=int, default=2000)
    ap.add_argument("--replay-offset", type=int, default=40_000)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--max-batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from tokenizers import Tokenizer

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer.from_file(str(Path(args.model) / "tokenizer.json"))
    t0 = time.time()
    refs = read_jsonl(args.train)
    slipped_recs = read_jsonl(args.train_generator)
    if len(refs) != len(slipped_recs):
        sys.exit(f"error: {args.train} has {len(refs)} records, {args.train_generator} {len(slipped_recs)}; "
                 "rerun `cargo xtask train-demo --stage data`")
    # `slipped` and `clean` read up to about twice their count of problems: not every
    # copy has (or lacks) a slip.
    ranges = dict(own=(args.offset, args.questions), slipped=(args.slipped_offset, 2 * args.slipped),
                  clean=(args.clean_offset, 3 * args.clean), replay=(args.replay_offset, args.replay))
    spans = sorted((start, start + n, name) for name, (start, n) in ranges.items())
    for (a0, a1, an), (b0, _, bn) in zip(spans, spans[1:]):
        if b0 < a1:
            sys.exit(f"error: the {an} and {bn} problem ranges overlap ({a0}..{a1} and {b0}..)")
    if max(s[1] for s in spans) > len(refs):
        sys.exit(f"error: {args.train} has {len(refs)} problems, fewer than the ranges ask for")

    rng = random.Random(args.seed)
    examples: list[dict] = []
    counts = dict(attempt_dropped=0, too_long=0)

    def add(qi: int, earlier: list[str], target: str, kind: str) -> None:
        r = refs[qi]
        window = fitted_context(tok, r["problem"], earlier, REVISER_POSITIONS, MAX_ATTEMPT_TOKENS)
        if len(window) < len(earlier):
            counts["attempt_dropped"] += 1
        n = len(tok.encode(reviser_prompt(r["problem"], window) + target).ids) + 1
        if n > REVISER_POSITIONS:
            counts["too_long"] += 1
            return
        examples.append(dict(question=qi, unique_id=r.get("unique_id"), problem=r["problem"], answer=r["answer"],
                             earlier=window, target=target, kind=kind))

    # 1. The generator's own samples.
    own = refs[args.offset : args.offset + args.questions]
    samples, st = chunked_generate(
        args.ttc, args.model, [prompt_text(r["problem"]) for r in own], n=args.samples,
        temperature=args.temperature, seed=args.seed, max_new_tokens=MAX_ATTEMPT_TOKENS, cache_dir=work / "cache",
        chunk=32, label="samples", max_batch=args.max_batch, threads=args.threads,
    )
    n_kept = n_unparsable = n_correct = 0
    for i, (r, outs) in enumerate(zip(own, samples)):
        qi = args.offset + i
        ref = reference_answer(r)
        target = completion_text(r["solution"])
        correct, wrong = [], []
        for o in outs:
            steps = cut_at_answer(o["text"])
            if steps is None:
                n_unparsable += 1
                continue
            n_kept += 1
            text = "".join(s + "\n" for s in steps)
            (correct if parse_answer(steps[-1]) == ref else wrong).append(text)
        n_correct += len(correct)
        distinct = sorted(set(wrong))
        for w in rng.sample(distinct, min(args.max_wrong, len(distinct))):
            add(qi, [w], target, "own-wrong")
        if correct:
            add(qi, [rng.choice(correct)], target, "own-correct")

    # 2. Slipped copies of further training problems, paired with their references.
    qi, n_slipped = args.slipped_offset, 0
    while n_slipped < args.slipped:
        g = slipped_recs[qi]
        if g.get("slips", 0) > 0:
            if g["problem"] != refs[qi]["problem"]:
                sys.exit(f"error: {args.train_generator}:{qi + 1} is another problem than {args.train}:{qi + 1}")
            add(qi, [completion_text(g["solution"])], completion_text(refs[qi]["solution"]), "slipped")
            n_slipped += 1
        qi += 1
    slipped_span = (args.slipped_offset, qi)

    # 3. Clean copies: a right earlier attempt, kept.
    qi, n_clean = args.clean_offset, 0
    while n_clean < args.clean:
        g = slipped_recs[qi]
        if g.get("slips", 0) == 0:
            add(qi, [completion_text(g["solution"])], completion_text(refs[qi]["solution"]), "clean")
            n_clean += 1
        qi += 1
    clean_span = (args.clean_offset, qi)

    # 4. Replay of the generator's own training examples, no earlier attempt.
    for qi in range(args.replay_offset, args.replay_offset + args.replay):
        add(qi, [], completion_text(slipped_recs[qi]["solution"]), "replay")

    rng.shuffle(examples)
    out = work / "reviser_data.jsonl"
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(e) + "\n")
    tmp.replace(out)
    by_kind: dict[str, int] = {}
    for e in examples:
        by_kind[e["kind"]] = by_kind.get(e["kind"], 0) + 1
    summary = dict(
        generator=str(args.model), offset=args.offset, questions=len(own), samples_per_question=args.samples,
        temperature=args.temperature, seed=args.seed, samples_drawn=len(own) * args.samples,
        samples_kept=n_kept, unparsable=n_unparsable, samples_correct=n_correct, max_wrong=args.max_wrong,
        slipped_problems=list(slipped_span), clean_problems=list(clean_span), replay_problems=[args.replay_offset, args.replay_offset + args.replay],
        examples=len(examples), examples_by_kind=by_kind, attempt_dropped=counts["attempt_dropped"],
        too_long_dropped=counts["too_long"], reviser_positions=REVISER_POSITIONS,
        max_attempt_tokens=MAX_ATTEMPT_TOKENS, sample_tokens=st["generated_tokens"], ttc_wall_s=st["wall_s"],
        wall_s_this_run=time.time() - t0,
    )
    write_json_atomic(work / "reviser_data_summary.json", summary)
    log(f"wrote {out}: {json.dumps(summary)}")


if __name__ == "__main__":
    main()
