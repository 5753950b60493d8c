"""Evaluate the demo ORM on held-out reviser attempts (records from orm_data.py).

usage: orm_eval.py --orm ORM_DIR --records HELD_OUT.jsonl --out EVAL.json [--prm PRM_DIR]

Scores each attempt with the exported ORM (model.onnx through the onnxruntime
package: the demo PRM layout with the verifier question that includes the earlier
attempts, read at the last step's "\\n") and reports the AUROC for correctness, pooled and within a question (the mean over
questions with both right and wrong attempts: pooled AUROC also rewards telling easy
questions from hard ones). With
`--prm`, also the base PRM's last-step AUROC on the same attempts given the question
only (the paper's observation that the base PRM transfers poorly to revisions).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import log, read_jsonl, setup_offline, write_json_atomic  # noqa: E402
from prm_common import OnnxRewardModel, auroc  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orm", required=True)
    ap.add_argument("--records", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--prm")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    setup_offline(args.threads)
    t0 = time.time()
    recs = read_jsonl(args.records, fields=("question", "vquestion", "steps", "label"))
    labels = [r["label"] > 0.5 for r in recs]
    orm = OnnxRewardModel(args.orm, threads=args.threads)
    s_orm = [s[-1] for s in orm.score([(r["vquestion"], r["steps"]) for r in recs])]
    res = dict(records=len(recs), correct=sum(labels), questions=len({r["question"] for r in recs}),
               auroc_orm=auroc(s_orm, labels), orm_scored_tokens=orm.scored_tokens)
    within = []
    for q in sorted({r["question"] for r in recs}):
        idx = [i for i, r in enumerate(recs) if r["question"] == q]
        ls = [labels[i] for i in idx]
        if any(ls) and not all(ls):
            within.append(auroc([s_orm[i] for i in idx], ls))
    res["auroc_orm_within_question"] = sum(within) / len(within) if within else None
    res["questions_mixed"] = len(within)
    by_round = {}
    for rd in sorted({r["round"] for r in recs}):
        idx = [i for i, r in enumerate(recs) if r["round"] == rd]
        by_round[str(rd)] = dict(records=len(idx), accuracy=sum(labels[i] for i in idx) / len(idx),
                                 auroc_orm=auroc([s_orm[i] for i in idx], [labels[i] for i in idx]))
    res["by_round"] = by_round
    if args.prm:
        prm = OnnxRewardModel(args.prm, threads=args.threads)
        s_prm = [s[-1] for s in prm.score([(r["problem"], r["steps"]) for r in recs])]
        res["auroc_base_prm_question_only"] = auroc(s_prm, labels)
    res["wall_s"] = time.time() - t0
    write_json_atomic(args.out, res)
    log(f"ORM eval: {json.dumps(res)}")


if __name__ == "__main__":
    main()
