"""Train a demo reward model (PRM or ORM): LlamaForTokenClassification, num_labels = 1,
initialised from a causal-LM checkpoint (transformer copied, new `score` head),
binary cross-entropy on soft labels at each labelled step's "\\n".

usage: prm_train.py --data DATA.jsonl --init HF_DIR --work DIR [--mode prm|orm]
                    [--lr 3e-4] [--batch 32] [--max-epochs 20] [--patience 3]
                    [--dropout 0.05] [--valid-frac 0.1] [--seed 1] [--threads 2]
                    [--extra-layers 0]

Records (JSONL): `question` (an id used for the train/validation split), `vquestion`
(the text after "Question: "; defaults to `problem`), `steps` and, for `--mode prm`,
`labels` (one in [0, 1] per step); for `--mode orm`, `label` (read at the last step).
Validation = the records of `--valid-frac` of the question ids (seeded); early
stopping keeps the weights with the lowest validation loss, evaluated every epoch.
Writes WORK/final (HF model + tokenizer) and WORK/final/train_summary.json.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import log, read_jsonl, setup_offline, write_json_atomic  # noqa: E402
from prm_common import newline_id, prm_ids  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--init", required=True, help="HF causal-LM checkpoint folder to initialise from")
    ap.add_argument("--work", required=True)
    ap.add_argument("--mode", choices=["prm", "orm"], default="prm")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-epochs", type=int, default=20)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--dropout", type=float, default=0.05)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--valid-frac", type=float, default=0.1)
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--extra-layers", type=int, default=0,
                    help="transformer layers added on top of the copied ones (output projections start at "
                         "zero, so the model starts as the checkpoint)")
    args = ap.parse_args()
    setup_offline(args.threads)
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForTokenClassification

    torch.manual_seed(args.seed)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(args.init)
    nl = newline_id(tok)
    recs = read_jsonl(args.data, fields=("question", "labels" if args.mode == "prm" else "label"))
    qids = sorted({r["question"] for r in recs})
    rng = random.Random(args.seed)
    valid_q = set(rng.sample(qids, max(1, round(len(qids) * args.valid_frac))))
    train, valid, too_long = [], [], 0
    for r in recs:
        ids, pos = prm_ids(tok, r.get("vquestion", r.get("problem")), r["steps"], nl)
        if len(ids) > args.max_len:
            too_long += 1
            continue
        if args.mode == "prm":
            targets = list(zip(pos, r["labels"]))
        else:
            targets = [(pos[-1], float(r["label"]))]
        (valid if r["question"] in valid_q else train).append((ids, targets))
    log(f"data: {len(recs)} records ({too_long} longer than {args.max_len} tokens dropped); "
        f"{len(qids)} questions, {len(valid_q)} for validation; {len(train)} train / {len(valid)} validation records")

    cfg = AutoConfig.from_pretrained(args.init)
    cfg.num_labels = 1
    cfg.classifier_dropout = args.dropout
    cfg.attention_dropout = args.dropout
    if args.extra_layers:
        # A step is right when each digit it writes is the one the generator's layers
        # predict at the position before; the added layers can compare the two there.
        copied = cfg.num_hidden_layers
        cfg.num_hidden_layers = copied + args.extra_layers
        model = LlamaForTokenClassification.from_pretrained(args.init, config=cfg)
        with torch.no_grad():
            for layer in model.model.layers[copied:]:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
        log(f"{copied} layers copied from {args.init}, {args.extra_layers} added")
    else:
        model = LlamaForTokenClassification.from_pretrained(args.init, config=cfg)
    n_params = sum(p.numel() for p in model.parameters())
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0

    def batches(data, shuffle):
        idx = list(range(len(data)))
        if shuffle:
            rng.shuffle(idx)
            # bucket by length inside windows for less padding
            w = args.batch * 16
            idx = sum((sorted(idx[i : i + w], key=lambda k: len(data[k][0])) for i in range(0, len(idx), w)), [])
            bs = [idx[i : i + args.batch] for i in range(0, len(idx), args.batch)]
            rng.shuffle(bs)
            return bs
        idx.sort(key=lambda k: len(data[k][0]))
        return [idx[i : i + args.batch] for i in range(0, len(idx), args.batch)]

    def collate(data, b):
        width = max(len(data[i][0]) for i in b)
        ids = torch.full((len(b), width), pad, dtype=torch.long)
        mask = torch.zeros((len(b), width), dtype=torch.long)
        rows, cols, ys = [], [], []
        for r, i in enumerate(b):
            seq, tg = data[i]
            ids[r, : len(seq)] = torch.tensor(seq)
            mask[r, : len(seq)] = 1
            for p, y in tg:
                rows.append(r)
                cols.append(p)
                ys.append(y)
        return ids, mask, torch.tensor(rows), torch.tensor(cols), torch.tensor(ys, dtype=torch.float32)

    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def valid_loss():
        model.eval()
        tot, n = 0.0, 0
        with torch.no_grad():
            for b in batches(valid, False):
                ids, mask, rows, cols, ys = collate(valid, b)
                logits = model(input_ids=ids, attention_mask=mask).logits[..., 0]
                tot += bce(logits[rows, cols], ys, reduction="sum").item()
                n += len(ys)
        model.train()
        return tot / max(1, n)

    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=args.weight_decay)
    t0 = time.time()
    best = (valid_loss(), 0, {k: v.clone() for k, v in model.state_dict().items()})
    log(f"epoch 0: valid loss {best[0]:.4f} (new head)")
    history = [dict(epoch=0, valid_loss=best[0])]
    tokens = 0
    bad = 0
    model.train()
    for epoch in range(1, args.max_epochs + 1):
        tot, n = 0.0, 0
        for b in batches(train, True):
            ids, mask, rows, cols, ys = collate(train, b)
            logits = model(input_ids=ids, attention_mask=mask).logits[..., 0]
            loss = bce(logits[rows, cols], ys)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            tokens += int(mask.sum())
            tot += loss.item() * len(ys)
            n += len(ys)
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
                log(f"early stop: no improvement for {bad} epochs; best epoch {best[1]}")
                break
    wall = time.time() - t0
    model.load_state_dict(best[2])
    final = work / "final"
    final.mkdir(parents=True, exist_ok=True)
    model.config.architectures = ["LlamaForTokenClassification"]
    model.save_pretrained(final, safe_serialization=True)
    tok.save_pretrained(final)
    summary = dict(
        mode=args.mode, init=str(args.init), valid_frac=args.valid_frac, patience=args.patience, parameters=n_params, train_records=len(train),
        valid_records=len(valid), questions=len(qids), valid_questions=len(valid_q),
        labels_train=sum(len(t) for _, t in train), labels_valid=sum(len(t) for _, t in valid),
        tokens=tokens, train_flops=6 * n_params * tokens, best_epoch=best[1], best_valid_loss=best[0],
        epochs_run=len(history) - 1, lr=args.lr, batch=args.batch, dropout=args.dropout,
        weight_decay=args.weight_decay, betas=[0.9, 0.95], seed=args.seed, threads=args.threads, wall_s=wall,
        history=history,
    )
    write_json_atomic(final / "train_summary.json", summary)
    log(f"done: best epoch {best[1]} (valid loss {best[0]:.4f}); {tokens} tokens; {wall:.0f}s; saved {final}")


if __name__ == "__main__":
    main()
