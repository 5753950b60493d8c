"""Exact step labels for the demo PRM, from the generator's own training corpus: a
diagnostic of whether the PRM can learn to check a step, without Monte Carlo noise.

usage: prm_check_data.py --data-dir .ttc/demo/data --out CHECK.jsonl
                         [--offset 100000] [--records 40000] [--token-labels]

`train-generator.jsonl` holds the training solutions with controlled slips and
`train.jsonl` the same questions' reference solutions, line for line. Each output
record (the `prm_train.py` format) has the slipped solution's `steps`, `labels` (1
while every line so far equals the reference's, then 0: `exact_step_labels`) and,
with `--token-labels`, `reference_steps`, with which `prm_train.py` labels every
solution token instead of each step's end (1 while the tokens so far equal the
reference's). Records
`--offset` .. `--offset + --records` of the two files; the Monte Carlo data and the
reviser's use lower offsets.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import log  # noqa: E402
from prm_common import exact_step_labels  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--offset", type=int, default=100_000)
    ap.add_argument("--records", type=int, default=40_000)
    ap.add_argument("--token-labels", action="store_true", help="add reference_steps: labels at every token")
    args = ap.parse_args()
    data = Path(args.data_dir)
    written = positives = labels = 0
    with open(data / "train-generator.jsonl", encoding="utf-8") as gen, \
            open(data / "train.jsonl", encoding="utf-8") as ref, \
            open(args.out, "w", encoding="utf-8") as out:
        for i, (g_line, r_line) in enumerate(zip(gen, ref)):
            if i < args.offset:
                continue
            if written >= args.records:
                break
            g, r = json.loads(g_line), json.loads(r_line)
            if g["problem"] != r["problem"]:
                sys.exit(f"error: line {i + 1} of train-generator.jsonl and train.jsonl hold different questions")
            steps = g["solution"].strip().split("\n")
            ok = [float(x) for x in exact_step_labels(r["solution"], steps)]
            rec = dict(question=i, problem=g["problem"], steps=steps, labels=ok)
            if args.token_labels:
                rec["reference_steps"] = r["solution"].strip().split("\n")
            out.write(json.dumps(rec) + "\n")
            written += 1
            positives += sum(ok)
            labels += len(ok)
    if written < args.records:
        sys.exit(f"error: only {written} records from offset {args.offset}; the files are shorter")
    log(f"{written} solutions, {labels} step labels, {positives / max(1, labels):.3f} of them 1; wrote {args.out}")


if __name__ == "__main__":
    main()
