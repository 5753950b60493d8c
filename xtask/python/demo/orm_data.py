"""ORM data: chains of revisions from the demo reviser, sampled through `ttc generate`.

usage: orm_data.py --ttc TTC --reviser REVISER_DIR --data QUESTIONS.jsonl --out RECORDS.jsonl
                   --work DIR [--offset 0] [--questions 128] [--chains 4] [--length 4]
                   [--temperature 0.8] [--seed 31]

For each question, `--chains` chains of `--length` attempts: attempt r is sampled from
the reviser's prompt with the chain's latest 4 earlier attempts, fewer when the prompt
would not leave 256 tokens within the reviser's positions, as ttc's reviser truncates
(`Question: q\\nAttempt:\\n{a}\\n...Attempt:\\n`), one `ttc generate` call per round.
Each attempt with a parsable answer becomes one record, laid out as ttc's reviser
scores it with `verifier-context = "earlier-attempts"`: `vquestion` =
q + "\\nAttempt:\\n" + a1 + ... (the earlier attempts in its prompt), `steps` = its
lines, `label` = 1 if its answer is right else 0.
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
    read_jsonl,
    reference_answer,
    write_json_atomic,
)
from prm_common import (  # noqa: E402
    chunked_generate,
    fitted_context,
    reviser_prompt,
    steps_of,
    verifier_question,
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ttc", required=True)
    ap.add_argument("--reviser", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--questions", type=int, default=128)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--length", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    t0 = time.time()
    recs = read_jsonl(args.data)[args.offset : args.offset + args.questions]
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(args.reviser) / "tokenizer.json"))
    max_positions = json.loads((Path(args.reviser) / "config.json").read_text())["max_position_embeddings"]
    chains = [[] for _ in range(len(recs) * args.chains)]  # attempt texts
    # The earlier attempts each attempt was sampled with (and its ORM question shows).
    shown = [[] for _ in chains]
    tokens = 0
    label = Path(args.out).stem
    for r in range(args.length):
        windows = [fitted_context(tok, recs[c // args.chains]["problem"], chains[c], max_positions)
                   for c in range(len(chains))]
        prompts = [reviser_prompt(recs[c // args.chains]["problem"], windows[c]) for c in range(len(chains))]
        outs, st = chunked_generate(
            args.ttc, args.reviser, prompts, n=1, temperature=args.temperature, seed=args.seed + r * 1_000_000,
            max_new_tokens=256, cache_dir=Path(args.work) / "cache", chunk=256, label=f"{label}-round{r}",
            max_batch=256, threads=args.threads)
        tokens += st["generated_tokens"]
        for c, o in enumerate(outs):
            chains[c].append(o[0]["text"])
            shown[c].append(windows[c])
    out = Path(args.out)
    n_rec = n_pos = unparsable = 0
    by_round = [[0, 0] for _ in range(args.length)]
    with open(out.with_suffix(".tmp"), "w", encoding="utf-8") as f:
        for c, attempts in enumerate(chains):
            rec = recs[c // args.chains]
            ref = reference_answer(rec)
            for r, text in enumerate(attempts):
                ans = parse_answer(text)
                steps = steps_of(text)
                if ans is None or not steps:
                    unparsable += 1
                    continue
                earlier = shown[c][r]
                ok = ans == ref
                f.write(json.dumps(dict(
                    question=args.offset + c // args.chains, chain=c % args.chains, round=r,
                    problem=rec["problem"], vquestion=verifier_question(rec["problem"], earlier), steps=steps,
                    label=1.0 if ok else 0.0, answer=rec["answer"])) + "\n")
                n_rec += 1
                n_pos += ok
                by_round[r][0] += ok
                by_round[r][1] += 1
    out.with_suffix(".tmp").replace(out)
    summary = dict(
        reviser=str(args.reviser), data=str(args.data), offset=args.offset, questions=len(recs),
        chains_per_question=args.chains, chain_length=args.length, temperature=args.temperature, seed=args.seed,
        attempts=len(chains) * args.length, records=n_rec, correct=n_pos, unparsable=unparsable,
        accuracy_by_round=[a / max(1, b) for a, b in by_round], generated_tokens=tokens,
        wall_s_this_run=time.time() - t0,
    )
    write_json_atomic(out.with_name(out.stem + "_summary.json"), summary)
    log(f"wrote {out}: {json.dumps(summary)}")


if __name__ == "__main__":
    main()
