"""Fine-tune the demo reviser from the demo generator (docs/method.md §3).

usage: reviser_train.py --data reviser_data.jsonl --init GENERATOR_HF_DIR --work DIR
                        [--lr 3e-4] [--batch 32] [--max-epochs 3] [--patience 1]

Each example is laid out as the reviser reads it in ttc (RevisionLayout::demo()):
`<s>Question: {q}\\n` + per earlier attempt `Attempt:\\n{a}\\n` + `Attempt:\\n`, then
the correct attempt's lines and `</s>`; an example marked `plain` uses the
generator's prompt (`Question: {q}\nSolution:\n`) instead. The loss is on the final attempt's tokens and
`</s>` only. Validation = the examples of 10% of the question ids (seeded); the
weights with the lowest validation loss (checked every epoch) are kept.
Writes WORK/final (HF model, tokenizer, generation config) and its train_summary.json.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    log,
    prompt_text,
    read_jsonl,
    setup_offline,
    write_json_atomic,
)
from prm_common import reviser_prompt  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--init", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-epochs", type=int, default=3)
    ap.add_argument("--patience", type=int, default=1)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--valid-frac", type=float, default=0.1)
    ap.add_argument("--max-len", type=int, default=512)
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
    for r in recs:
        # Generator-format examples keep the reviser able to solve from scratch.
        prompt = prompt_text(r["problem"]) if r.get("plain") else reviser_prompt(r["problem"], r["earlier"])
        p = tok.encode(prompt, add_special_tokens=True)
        c = tok.encode(r["target"], add_special_tokens=False) + [tok.eos_token_id]
        if len(p) + len(c) > args.max_len:
            too_long += 1
            continue
        (valid if r["question"] in valid_q else train).append((p, c))
    log(f"data: {len(recs)} examples ({too_long} over {args.max_len} tokens dropped); {len(train)} train, "
        f"{len(valid)} validation ({len(valid_q)} of {len(qids)} questions)")
    model = LlamaForCausalLM.from_pretrained(args.init)
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
            p, c = data[i]
            ids[r, : len(p) + len(c)] = torch.tensor(p + c)
            mask[r, : len(p) + len(c)] = 1
            labels[r, len(p) : len(p) + len(c)] = torch.tensor(c)
        return ids, mask, labels

    def valid_loss():
        model.eval()
        tot, n = 0.0, 0
        with torch.no_grad():
            for b in batches(valid, False):
                ids, mask, labels = collate(valid, b)
                logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
                tgt = labels[:, 1:]
                tot += torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.size(-1)), tgt.reshape(-1), ignore_index=-100, reduction="sum").item()
                n += int((tgt != -100).sum())
        model.train()
        return tot / max(1, n)

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=args.weight_decay)
    t0 = time.time()
    best = (valid_loss(), 0, {k: v.clone() for k, v in model.state_dict().items()})
    log(f"epoch 0 (the generator): valid loss {best[0]:.4f}")
    history = [dict(epoch=0, valid_loss=best[0])]
    tokens = loss_tokens = 0
    bad = 0
    model.train()
    for epoch in range(1, args.max_epochs + 1):
        tot, n, last_log = 0.0, 0, time.time()
        bs = batches(train, True)
        for bi, b in enumerate(bs):
            ids, mask, labels = collate(train, b)
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            k = int((labels[:, 1:] != -100).sum())
            tokens += int(mask.sum())
            loss_tokens += k
            tot += out.loss.item() * k
            n += k
            if time.time() - last_log > 30:
                log(f"  epoch {epoch} batch {bi + 1}/{len(bs)} loss {tot / max(1, n):.4f} ({time.time() - t0:.0f}s)")
                last_log = time.time()
        vl = valid_loss()
        history.append(dict(epoch=epoch, train_loss=tot / max(1, n), valid_loss=vl, tokens=tokens))
        log(f"epoch {epoch}: train loss {tot / max(1, n):.4f}, valid loss {vl:.4f}, {tokens} tokens, "
            f"{time.time() - t0:.0f}s")
        if vl < best[0]:
            best = (vl, epoch, {k: v.clone() for k, v in model.state_dict().items()})
            bad = 0
        else:
            bad += 1
            if bad >= args.patience:
                log(f"early stop; best epoch {best[1]}")
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
        questions=len(qids), tokens=tokens, loss_tokens=loss_tokens, train_flops=6 * n_params * tokens,
        best_epoch=best[1], best_valid_loss=best[0], epochs_run=len(history) - 1, lr=args.lr, batch=args.batch,
        weight_decay=args.weight_decay, betas=[0.9, 0.95], seed=args.seed, threads=args.threads, wall_s=wall,
        history=history,
    )
    write_json_atomic(final / "train_summary.json", summary)
    log(f"done: best epoch {best[1]} (valid loss {best[0]:.4f}); {tokens} tokens; {wall:.0f}s; saved {final}")


if __name__ == "__main__":
    main()
