"""Train a demo reward model (PRM or ORM), binary cross-entropy on soft labels at each
labelled step's "\\n". `--arch token-classifier` (the default): LlamaForTokenClassification,
num_labels = 1, initialised from a causal-LM checkpoint (transformer copied, new `score`
head). `--arch surprise`: surprise_prm.py's head over the checkpoint as a frozen trunk
(the shipped demo PRM; only the head and its feature map train).

usage: prm_train.py --data DATA.jsonl --init HF_DIR --work DIR [--mode prm|orm]
                    [--lr 3e-4] [--batch 32] [--max-epochs 20] [--patience 3]
                    [--dropout 0.05] [--valid-frac 0.1] [--seed 1] [--threads 2]
                    [--arch token-classifier|surprise] [--head-layers 2]
                    [--extra-layers 0] [--extra-init random|copy] [--freeze-copied]
                    [--lm-data TRAIN.jsonl --lm-weight 1.0 --lm-records 20000]
                    [--surprise-data TRAIN.jsonl --surprise-weight 1.0 --surprise-records 20000]
                    [--probe TEST_SAMPLES.json --probe-questions 150] [--log-every 200]

Records (JSONL): `question` (an id used for the train/validation split), `vquestion`
(the text after "Question: "; defaults to `problem`), `steps` and, for `--mode prm`,
`labels` (one in [0, 1] per step); for `--mode orm`, `label` (read at the last step).
A PRM record with `reference_steps` (`prm_check_data.py`) is labelled at every
solution token instead: 1 while its tokens so far equal the reference's, then 0.
Validation = the records of `--valid-frac` of the question ids (seeded); early
stopping keeps the weights with the lowest validation loss, evaluated every epoch.
Writes WORK/final (HF model + tokenizer) and WORK/final/train_summary.json.

`--lm-data` keeps the checkpoint's next-token objective beside the reward loss: each
optimizer step adds `--lm-weight` x the causal-LM loss on a batch of reference
solutions (`problem`/`solution` records, the generator's layout), read at the copied
layers' output through the tied embedding. A step is right when each digit it writes
is the one those layers predict; the term is meant to keep that prediction while the
head learns to read it. `--surprise-data` instead regresses, at every solution token
of such records, the checkpoint's own -log p(token | prefix) from the last layer. Both
read-outs are training only: the saved model is a plain token classifier.
docs/results.md (runs A-G) has what these options measured: none taught the PRM to
check a step.

`--probe` logs, per epoch, the within-question AUROC of the last-step score and the
preference for a correct solution over the same solution with one step's result off by
one, on the first `--probe-questions` questions of a test-samples file. It is a
diagnostic only: early stopping reads the validation loss.
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
    prompt_text,
    read_jsonl,
    reference_answer,
    setup_offline,
    write_json_atomic,
)
from prm_common import (  # noqa: E402
    auroc,
    newline_id,
    padded_batch,
    prm_ids,
    read_json,
    steps_of,
    token_logprobs,
)
from prm_eval import corrupt_steps  # noqa: E402


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
    ap.add_argument("--dropout", type=float, default=0.05,
                    help="attention and classifier dropout (--arch surprise: the score's input only)")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--valid-frac", type=float, default=0.1)
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lm-data", help="JSONL of problem/solution records for the auxiliary next-token loss")
    ap.add_argument("--lm-weight", type=float, default=1.0)
    ap.add_argument("--lm-records", type=int, default=20000, help="records read from --lm-data (from its end)")
    ap.add_argument("--surprise-data", help="JSONL of problem/solution records for the auxiliary surprise loss")
    ap.add_argument("--surprise-weight", type=float, default=1.0)
    ap.add_argument("--surprise-records", type=int, default=20000, help="records read from --surprise-data (its end)")
    ap.add_argument("--probe", help="test_samples.json: log within-question AUROC and pair preference per epoch")
    ap.add_argument("--probe-questions", type=int, default=150)
    ap.add_argument("--log-every", type=int, default=200, help="optimizer steps between progress lines")
    ap.add_argument("--extra-init", choices=["random", "copy"], default="random",
                    help="added layer k starts random or as a copy of copied layer k (output projections zero)")
    ap.add_argument("--freeze-copied", action="store_true",
                    help="train only the added layers, the final norm and the head")
    ap.add_argument("--extra-layers", type=int, default=0,
                    help="transformer layers added on top of the copied ones (output projections start at "
                         "zero, so the model starts as the checkpoint)")
    ap.add_argument("--arch", choices=["token-classifier", "surprise"], default="token-classifier",
                    help="token-classifier: LlamaForTokenClassification from --init; surprise: "
                         "surprise_prm.py's head over --init as a frozen trunk")
    ap.add_argument("--head-layers", type=int, default=2, help="--arch surprise: decoder layers in the head")
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
        if args.mode == "prm" and "reference_steps" in r:
            # Exact labels at every solution token: 1 while the tokens so far equal the
            # reference solution's, then 0.
            ref, _ = prm_ids(tok, r.get("vquestion", r.get("problem")), r["reference_steps"], nl)
            start = len(tok.encode(prompt_text(r.get("vquestion", r.get("problem"))), add_special_tokens=True))
            first_bad = next((i for i in range(start, len(ids)) if i >= len(ref) or ids[i] != ref[i]), len(ids))
            targets = [(i, 1.0 if i < first_bad else 0.0) for i in range(start, len(ids))]
        elif args.mode == "prm":
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
    if args.arch == "surprise":
        import surprise_prm

        model = surprise_prm.from_lm(Path(args.init), args.head_layers, args.dropout)
        log(f"surprise PRM: {model.trunk_layers} trunk layers from {args.init} (frozen), "
            f"{args.head_layers} head layers")
    elif args.extra_layers:
        # A step is right when each digit it writes is the one the generator's layers
        # predict at the position before; the added layers can compare the two there.
        copied = cfg.num_hidden_layers
        cfg.num_hidden_layers = copied + args.extra_layers
        model = LlamaForTokenClassification.from_pretrained(args.init, config=cfg)
        with torch.no_grad():
            for k, layer in enumerate(model.model.layers[copied:]):
                if args.extra_init == "copy":
                    # Start from the checkpoint's own attention patterns (its lower
                    # layers hold a previous-token head), outputs still off.
                    layer.load_state_dict(model.model.layers[k % copied].state_dict())
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
        log(f"{copied} layers copied from {args.init}, {args.extra_layers} added")
    else:
        model = LlamaForTokenClassification.from_pretrained(args.init, config=cfg)
    copied_layers = AutoConfig.from_pretrained(args.init).num_hidden_layers
    if args.freeze_copied:
        # Only the added layers, the final norm and the head learn: the copied layers keep
        # computing the generator's next-token prediction for the added layers to compare.
        for p in model.model.embed_tokens.parameters():
            p.requires_grad_(False)
        for layer in model.model.layers[:copied_layers]:
            for p in layer.parameters():
                p.requires_grad_(False)
    n_params = sum(p.numel() for p in model.parameters())
    n_trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0

    # The auxiliary next-token loss reads the last copied layer's output.
    tapped = {}
    lm_train = []
    if args.lm_data:
        model.model.layers[copied_layers - 1].register_forward_hook(
            lambda _m, _i, out: tapped.__setitem__("h", out[0] if isinstance(out, tuple) else out))
        lm_recs = read_jsonl(args.lm_data)[-args.lm_records:]
        p_ids = tok([prompt_text(r["problem"]) for r in lm_recs], add_special_tokens=True)["input_ids"]
        c_ids = tok([completion_text(r["solution"]) for r in lm_recs], add_special_tokens=False)["input_ids"]
        lm_train = [(p, c + [tok.eos_token_id]) for p, c in zip(p_ids, c_ids) if len(p) + len(c) < args.max_len]
        log(f"auxiliary next-token loss: {len(lm_train)} reference solutions from {args.lm_data}, "
            f"weight {args.lm_weight}, read after layer {copied_layers}")

    def lm_loss(idx):
        seqs = [lm_train[i] for i in idx]
        ids, mask = padded_batch([p + c for p, c in seqs], pad)
        labels = torch.full(ids.shape, -100, dtype=torch.long)
        for r, (p, c) in enumerate(seqs):
            labels[r, len(p) : len(p) + len(c)] = torch.tensor(c)
        model(input_ids=ids, attention_mask=mask)
        logits = model.model.norm(tapped["h"]) @ model.model.embed_tokens.weight.T
        return torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1), ignore_index=-100)

    # The auxiliary surprise loss: at every solution token of a batch of generator-format
    # solutions, regress the checkpoint's own -log p(token | prefix) (clipped at 8 nats,
    # scaled to [0, 1]) from the last layer, through a training-only linear head.
    surprise_pool = []
    surprise_head = None
    if args.surprise_data:
        from transformers import LlamaForCausalLM
        recs_s = read_jsonl(args.surprise_data)[-args.surprise_records:]
        p_ids = tok([prompt_text(r["problem"]) for r in recs_s], add_special_tokens=True)["input_ids"]
        c_ids = tok([completion_text(r["solution"]) for r in recs_s], add_special_tokens=False)["input_ids"]
        lm = LlamaForCausalLM.from_pretrained(args.init).eval()
        kept = [(p, p + c) for p, c in zip(p_ids, c_ids) if len(p) + len(c) < args.max_len]
        fulls, starts = [f for _, f in kept], [len(p) for p, _ in kept]
        for full, start, got in zip(fulls, starts, token_logprobs(lm, fulls, starts, pad)):
            target = (-torch.tensor(got)).clamp(max=8.0) / 8.0
            surprise_pool.append((full, list(range(start, len(full))), target.tolist()))
        del lm
        surprise_head = torch.nn.Linear(model.config.hidden_size, 1)
        model.model.norm.register_forward_hook(lambda _m, _i, out: tapped.__setitem__("last", out))
        log(f"auxiliary surprise loss: {len(surprise_pool)} solutions from {args.surprise_data}, "
            f"weight {args.surprise_weight}")

    def surprise_loss(idx):
        chunk = [surprise_pool[i] for i in idx]
        ids, mask = padded_batch([full for full, _, _ in chunk], pad)
        rows, cols, ys = [], [], []
        for r, (_, pos, target) in enumerate(chunk):
            rows += [r] * len(pos)
            cols += pos
            ys += target
        model(input_ids=ids, attention_mask=mask)
        pred = surprise_head(tapped["last"])[..., 0]
        return torch.nn.functional.mse_loss(pred[rows, cols], torch.tensor(ys))

    probe = None
    if args.probe:
        probe = read_json(args.probe)["questions"][: args.probe_questions]

    def run_probe():
        """Within-question AUROC and pair preference on the probe questions (torch, eval mode)."""
        model.eval()
        items, where = [], []
        for qi, q in enumerate(probe):
            for si, text in enumerate(q["samples"]):
                steps = steps_of(text)
                if steps:
                    items.append((q["problem"], steps))
                    where.append((qi, si, parse_answer(text) == reference_answer(q)))
        pairs = []
        by_q = {}
        for (qi, _, ok), it in zip(where, items):
            by_q.setdefault(qi, []).append((ok, it))
        for qi, rows in by_q.items():
            oks = [ok for ok, _ in rows]
            if any(oks) and not all(oks):
                steps = next(it[1] for ok, it in rows if ok)
                k = (len(steps) - 1) // 2
                bad = corrupt_steps(steps, k)
                if bad is not None:
                    pairs.append((probe[qi]["problem"], steps, bad, k))
        every = items + [(q, a) for q, a, _, _ in pairs] + [(q, b) for q, _, b, _ in pairs]
        scores = []
        with torch.no_grad():
            for i in range(0, len(every), 64):
                chunk = [prm_ids(tok, q, st, nl) for q, st in every[i : i + 64]]
                ids, mask = padded_batch([seq for seq, _ in chunk], pad)
                logits = model(input_ids=ids, attention_mask=mask).logits[..., 0]
                scores += [[float(logits[r, p]) for p in pos] for r, (_, pos) in enumerate(chunk)]
        model.train()
        last = {}
        for (qi, _, ok), s in zip(where, scores):
            last.setdefault(qi, []).append((s[-1], ok))
        within = [auroc([s for s, _ in v], [ok for _, ok in v]) for v in last.values()
                  if any(ok for _, ok in v) and not all(ok for _, ok in v)]
        n = len(items)
        wins = [scores[n + i][k] > scores[n + len(pairs) + i][k] for i, (_, _, _, k) in enumerate(pairs)]
        return dict(within_auroc=sum(within) / max(1, len(within)), mixed=len(within),
                    pair_preference=sum(wins) / max(1, len(wins)), pairs=len(wins))

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
        ids, mask = padded_batch([data[i][0] for i in b], pad)
        rows, cols, ys = [], [], []
        for r, i in enumerate(b):
            for p, y in data[i][1]:
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

    trained = [p for p in model.parameters() if p.requires_grad]
    if surprise_head is not None:
        trained += list(surprise_head.parameters())
    opt = torch.optim.AdamW(trained, lr=args.lr, betas=(0.9, 0.95), weight_decay=args.weight_decay)
    t0 = time.time()
    best = (valid_loss(), 0, {k: v.clone() for k, v in model.state_dict().items()})
    log(f"epoch 0: valid loss {best[0]:.4f} (before training)")
    history = [dict(epoch=0, valid_loss=best[0])]
    if probe:
        history[0]["probe"] = run_probe()
        log(f"epoch 0 probe: {history[0]['probe']}")
    tokens = 0
    steps_done = 0
    bad = 0
    model.train()
    for epoch in range(1, args.max_epochs + 1):
        tot, n = 0.0, 0
        for b in batches(train, True):
            ids, mask, rows, cols, ys = collate(train, b)
            logits = model(input_ids=ids, attention_mask=mask).logits[..., 0]
            loss = bce(logits[rows, cols], ys)
            total = loss
            if lm_train:
                total = total + args.lm_weight * lm_loss(rng.sample(range(len(lm_train)), args.batch))
            if surprise_pool:
                total = total + args.surprise_weight * surprise_loss(rng.sample(range(len(surprise_pool)), args.batch))
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            tokens += int(mask.sum())
            tot += loss.item() * len(ys)
            n += len(ys)
            steps_done += 1
            if steps_done % args.log_every == 0:
                log(f"  step {steps_done}: train loss {tot / max(1, n):.4f} this epoch, {time.time() - t0:.0f}s")
        vl = valid_loss()
        history.append(dict(epoch=epoch, train_loss=tot / max(1, n), valid_loss=vl, tokens=tokens))
        if probe:
            history[-1]["probe"] = run_probe()
        log(f"epoch {epoch}: train loss {tot / max(1, n):.4f}, valid loss {vl:.4f}, {tokens} tokens, "
            f"{time.time() - t0:.0f}s" + (f"; probe {history[-1]['probe']}" if probe else ""))
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
    if args.arch == "surprise":
        surprise_prm.save(model, final)
    else:
        model.config.architectures = ["LlamaForTokenClassification"]
        model.save_pretrained(final, safe_serialization=True)
    tok.save_pretrained(final)
    summary = dict(
        mode=args.mode, init=str(args.init), valid_frac=args.valid_frac, patience=args.patience, parameters=n_params, trained_parameters=n_trained, arch=args.arch, train_records=len(train),
        valid_records=len(valid), questions=len(qids), valid_questions=len(valid_q),
        labels_train=sum(len(t) for _, t in train), labels_valid=sum(len(t) for _, t in valid),
        tokens=tokens, train_flops=(2 * n_params + 4 * n_trained) * tokens, best_epoch=best[1], best_valid_loss=best[0],
        epochs_run=len(history) - 1, lr=args.lr, batch=args.batch, dropout=args.dropout,
        weight_decay=args.weight_decay, betas=[0.9, 0.95], seed=args.seed, threads=args.threads, wall_s=wall,
        history=history,
    )
    write_json_atomic(final / "train_summary.json", summary)
    log(f"done: best epoch {best[1]} (valid loss {best[0]:.4f}); {tokens} tokens; {wall:.0f}s; saved {final}")


if __name__ == "__main__":
    main()
