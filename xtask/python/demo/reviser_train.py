"""Fine-tune the demo reviser from the demo generator (docs/method.md §3).

usage: reviser_train.py --data reviser_data.jsonl --init GENERATOR_HF_DIR --work DIR
                        [--lr 5e-4] [--batch 32] [--max-epochs 3] [--eval-every 50] [--patience 4]

Each example is laid out as the reviser reads it in ttc (RevisionLayout::demo(),
prm_common.reviser_prompt): `<s>` + `Attempt:\\n{a}\\n` for the earlier attempt, if
any, + `Question: {q}\\nSolution:\\n`, then the target's lines and `</s>`. The loss is
on the target's tokens and `</s>` only. The model gets `REVISER_POSITIONS` positions
(RoPE has no position weights). AdamW with a linear warm-up and a cosine decay to 10%
of the peak over `--max-epochs`; validation = the examples of 10% of the question ids
(seeded), its loss checked every `--eval-every` steps (also per example kind); the
weights with the lowest validation loss are kept, and training stops once it has not
improved for `--patience` checks. Writes WORK/final (HF model, tokenizer, generation
config) and its train_summary.json.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    log,
    read_jsonl,
    setup_offline,
    write_json_atomic,
)
from prm_common import REVISER_POSITIONS, reviser_prompt  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--init", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-epochs", type=int, default=3)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--patience", type=int, default=4)
    ap.add_argument("--warmup-steps", type=int, default=30)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--valid-frac", type=float, default=0.1)
    ap.add_argument("--max-len", type=int, default=REVISER_POSITIONS)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    setup_offline(args.threads)
    import torch
    from transformers import AutoTokenizer, GenerationConfig, LlamaForCausalLM

    torch.manual_seed(args.seed)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(args.init)
    recs = read_jsonl(args.data, fields=("question",))
    qids = sorted({r["question"] for r in recs})
    rng = random.Random(args.seed)
    valid_q = set(rng.sample(qids, max(1, round(len(qids) * args.valid_frac))))
    train, valid, too_long = [], [], 0
    kinds = sorted({r.get("kind", "revision") for r in recs})
    for r in recs:
        p = tok.encode(reviser_prompt(r["problem"], r["earlier"]), add_special_tokens=True)
        c = tok.encode(r["target"], add_special_tokens=False) + [tok.eos_token_id]
        if len(p) + len(c) > args.max_len:
            too_long += 1
            continue
        (valid if r["question"] in valid_q else train).append((p, c, r.get("kind", "revision")))
    log(f"data: {len(recs)} examples ({too_long} over {args.max_len} tokens dropped); {len(train)} train, "
        f"{len(valid)} validation ({len(valid_q)} of {len(qids)} questions)")
    model = LlamaForCausalLM.from_pretrained(args.init, max_position_embeddings=args.max_len)
    n_params = sum(p.numel() for p in model.parameters())
    pad = tok.pad_token_id

    def batches(data, shuffle):
        idx = list(range(len(data)))
        if shuffle:
            rng.shuffle(idx)
            w = args.batch * 16
            idx = sum((sorted(idx[i : i + w], key=lambda k: len(data[k][0]) + len(data[k][1]))
                       for i in range(0, len(idx), w)), [])
            bs = [idx[i : i + args.batch] for i in range(0, len(idx), args.batch)]
            rng.shuffle(bs)
            return bs
        idx.sort(key=lambda k: len(data[k][0]) + len(data[k][1]))
        return [idx[i : i + args.batch] for i in range(0, len(idx), args.batch)]

    def collate(data, b):
        width = max(len(data[i][0]) + len(data[i][1]) for i in b)
        ids = torch.full((len(b), width), pad, dtype=torch.long)
        mask = torch.zeros((len(b), width), dtype=torch.long)
        labels = torch.full((len(b), width), -100, dtype=torch.long)
        for r, i in enumerate(b):
            p, c, _ = data[i]
            ids[r, : len(p) + len(c)] = torch.tensor(p + c)
            mask[r, : len(p) + len(c)] = 1
            labels[r, len(p) : len(p) + len(c)] = torch.tensor(c)
        return ids, mask, labels

    def valid_loss():
        """Validation loss per target token, overall and per example kind."""
        model.eval()
        tot = {k: 0.0 for k in kinds}
        n = {k: 0 for k in kinds}
        with torch.no_grad():
            for b in batches(valid, False):
                ids, mask, labels = collate(valid, b)
                logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
                tgt = labels[:, 1:]
                per = torch.nn.functional.cross_entropy(
                    logits.transpose(1, 2), tgt, ignore_index=-100, reduction="none").sum(dim=1)
                for row, i in enumerate(b):
                    kind = valid[i][2]
                    tot[kind] += float(per[row])
                    n[kind] += int((tgt[row] != -100).sum())
        model.train()
        by_kind = {k: tot[k] / n[k] for k in kinds if n[k]}
        return sum(tot.values()) / max(1, sum(n.values())), by_kind

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=args.weight_decay)
    steps_per_epoch = len(batches(train, True))
    total_steps = steps_per_epoch * args.max_epochs

    def lr_at(step: int) -> float:
        if step < args.warmup_steps:
            return args.lr * (step + 1) / args.warmup_steps
        frac = min(1.0, (step - args.warmup_steps) / max(1, total_steps - args.warmup_steps))
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

    t0 = time.time()
    vl0, by_kind0 = valid_loss()
    best = (vl0, 0, {k: v.clone() for k, v in model.state_dict().items()})
    log(f"step 0 (the generator): valid loss {vl0:.4f} by kind {json.dumps(by_kind0)}")
    history = [dict(step=0, epoch=0.0, valid_loss=vl0, valid_loss_by_kind=by_kind0, tokens=0)]
    tokens = loss_tokens = step = bad = 0
    tot, n = 0.0, 0
    stopped = False
    model.train()
    for _epoch in range(args.max_epochs):
        for b in batches(train, True):
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            ids, mask, labels = collate(train, b)
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            k = int((labels[:, 1:] != -100).sum())
            tokens += int(mask.sum())
            loss_tokens += k
            tot += out.loss.item() * k
            n += k
            if step % args.eval_every == 0 or step == total_steps:
                vl, by_kind = valid_loss()
                history.append(dict(step=step, epoch=round(step / steps_per_epoch, 3), train_loss=tot / max(1, n),
                                    valid_loss=vl, valid_loss_by_kind=by_kind, tokens=tokens))
                log(f"step {step}/{total_steps}: train loss {tot / max(1, n):.4f}, valid loss {vl:.4f} "
                    f"{json.dumps({k: round(v, 4) for k, v in by_kind.items()})}, {tokens} tokens, "
                    f"{time.time() - t0:.0f}s")
                tot, n = 0.0, 0
                if vl < best[0]:
                    best = (vl, step, {k: v.clone() for k, v in model.state_dict().items()})
                    bad = 0
                else:
                    bad += 1
                    if bad >= args.patience:
                        log(f"early stop: no improvement in {bad} checks; best step {best[1]}")
                        stopped = True
                        break
        if stopped:
            break
    wall = time.time() - t0
    model.load_state_dict(best[2])
    final = work / "final"
    final.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(final, safe_serialization=True)
    tok.save_pretrained(final)
    GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                     do_sample=True, temperature=0.8, max_new_tokens=256).save_pretrained(final)
    summary = dict(
        init=str(args.init), parameters=n_params, train_examples=len(train), valid_examples=len(valid),
        valid_frac=args.valid_frac,
        too_long_dropped=too_long, questions=len(qids), tokens=tokens, loss_tokens=loss_tokens,
        train_flops=6 * n_params * tokens, best_step=best[1], best_valid_loss=best[0], steps_run=step,
        steps_per_epoch=steps_per_epoch, early_stopped=stopped, lr=args.lr, warmup_steps=args.warmup_steps,
        lr_schedule="linear warm-up, cosine decay to 0.1 x peak", eval_every=args.eval_every,
        patience=args.patience, max_positions=args.max_len, batch=args.batch,
        weight_decay=args.weight_decay, betas=[0.9, 0.95], seed=args.seed, threads=args.threads, wall_s=wall,
        history=history,
    )
    write_json_atomic(final / "train_summary.json", summary)
    log(f"done: best step {best[1]} (valid loss {best[0]:.4f}); {tokens} tokens; {wall:.0f}s; saved {final}")


if __name__ == "__main__":
    main()
