"""Train a demo generator: a small LlamaForCausalLM on correct arithmetic solutions.

usage: train_lm.py --train TRAIN.jsonl --valid VALID.jsonl --tokenizer DIR --work DIR
                   --size {base,large} --tokens D [--seed S] [--threads 2] ...

Resumable and deterministic: the whole batch plan (which records go in which
step) is a pure function of the data, the tokenizer and the seed, so a
checkpoint needs only the step number besides the model, optimizer, scheduler
and RNG states. Checkpoints go to WORK/last.pt (atomically replaced) every
--ckpt-minutes and at the end; re-running the same command resumes from it.
When done, the Hugging Face model + tokenizer are saved to WORK/final and a
summary (parameters, tokens, FLOPs = 6 N D, wall time) to WORK/final/train_summary.json.

Loss is on the completion tokens (solution lines and `</s>`), not on the prompt.
Batches group records of similar length (no packing across records), so every
record starts at position 0 with `<s>`, exactly as at inference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    completion_text,
    log,
    prompt_text,
    read_jsonl,
    setup_offline,
    write_json_atomic,
)

# Architectures. Parameter counts include the (tied) embedding matrix.
SIZES = {
    # ~0.44M parameters
    "base": dict(hidden_size=96, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, intermediate_size=256),
    # ~4.8M parameters (11x base; the paper compares against a model about 14x larger)
    "large": dict(hidden_size=256, num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=4, intermediate_size=768),
}


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--valid", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--size", choices=sorted(SIZES), required=True)
    ap.add_argument("--tokens", type=float, required=True, help="training tokens D (prompt + completion, no padding)")
    ap.add_argument("--batch-tokens", type=int, default=8192, help="tokens per optimizer step (padding excluded)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--warmup-steps", type=int, default=200)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--eval-every", type=int, default=600, help="steps between validation loss / greedy checks")
    ap.add_argument(
        "--init",
        help="continue from this trained checkpoint folder (a previous phase's final/) instead of "
        "a random initialisation; the optimizer and schedule start afresh",
    )
    ap.add_argument(
        "--bf16",
        action="store_true",
        help="bfloat16 autocast for the forward pass (fp32 master weights and optimizer); "
        "not part of the resume fingerprint, each run segment's precision is recorded",
    )
    ap.add_argument("--max-steps-this-run", type=int, default=0, help="stop (with a checkpoint) after this many steps; 0 = no limit")
    return ap.parse_args()


def fingerprint(args, n_records: int, tok_hash: str) -> dict:
    """What must not change between a run and its resumption."""
    init_hash = sha256_file(Path(args.init) / "model.safetensors") if args.init else None
    return dict(
        init_sha256=init_hash,
        size=args.size,
        arch=SIZES[args.size],
        tokens=args.tokens,
        batch_tokens=args.batch_tokens,
        lr=args.lr,
        min_lr_ratio=args.min_lr_ratio,
        warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay,
        seed=args.seed,
        n_records=n_records,
        tokenizer_sha256=tok_hash,
    )


def encode_records(tok, recs):
    prompts = [prompt_text(r["problem"]) for r in recs]
    comps = [completion_text(r["solution"]) for r in recs]
    p_ids = tok(prompts, add_special_tokens=True)["input_ids"]
    c_ids = tok(comps, add_special_tokens=False)["input_ids"]
    eos = tok.eos_token_id
    return [(p, c + [eos]) for p, c in zip(p_ids, c_ids)]


def batch_plan(lengths: list[int], batch_tokens: int, total_tokens: float, seed: int) -> list[list[int]]:
    """Deterministic list of batches (record indices) covering `total_tokens`.

    Epoch by epoch: shuffle, cut into windows of ~64 batches, sort each window by
    length, cut into batches of about `batch_tokens` real tokens, shuffle batches.
    """
    plan: list[list[int]] = []
    done = 0
    epoch = 0
    mean_len = sum(lengths) / len(lengths)
    per_batch = max(1, int(batch_tokens / mean_len))
    while done < total_tokens:
        rng = random.Random(seed * 1_000_003 + epoch)
        order = list(range(len(lengths)))
        rng.shuffle(order)
        window = per_batch * 64
        for w in range(0, len(order), window):
            chunk = sorted(order[w : w + window], key=lambda i: (lengths[i], i))
            batches, cur, cur_tok = [], [], 0
            for i in chunk:
                cur.append(i)
                cur_tok += lengths[i]
                if cur_tok >= batch_tokens:
                    batches.append(cur)
                    cur, cur_tok = [], 0
            if cur:
                batches.append(cur)
            rng.shuffle(batches)
            for b in batches:
                plan.append(b)
                done += sum(lengths[i] for i in b)
                if done >= total_tokens:
                    return plan
        epoch += 1
    return plan


def collate(encoded, idxs, pad_id):
    import torch

    seqs = [encoded[i][0] + encoded[i][1] for i in idxs]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, i in enumerate(idxs):
        p, c = encoded[i]
        n = len(p) + len(c)
        ids[row, :n] = torch.tensor(p + c)
        mask[row, :n] = 1
        labels[row, len(p) : n] = torch.tensor(c)
    return ids, mask, labels


def lr_at(step: int, total: int, args) -> float:
    if step < args.warmup_steps:
        return (step + 1) / args.warmup_steps
    progress = (step - args.warmup_steps) / max(1, total - args.warmup_steps)
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return args.min_lr_ratio + (1 - args.min_lr_ratio) * cos


def evaluate(model, tok, valid_enc, valid_recs, pad_id):
    """Validation loss on completion tokens and greedy accuracy on up to 100 questions."""
    import torch
    from common import parse_answer, reference_answer

    model.eval()
    tot_loss, tot_tok = 0.0, 0
    with torch.no_grad():
        idx = list(range(len(valid_enc)))
        for s in range(0, len(idx), 64):
            ids, mask, labels = collate(valid_enc, idx[s : s + 64], pad_id)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
            tgt = labels[:, 1:]
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)), tgt.reshape(-1), ignore_index=-100, reduction="sum"
            )
            tot_loss += loss.item()
            tot_tok += int((tgt != -100).sum())
        recs = valid_recs[:100]
        correct = 0
        for s in range(0, len(recs), 50):
            batch = recs[s : s + 50]
            enc = tok([prompt_text(r["problem"]) for r in batch], return_tensors="pt", padding=True)
            out = model.generate(
                **enc, do_sample=False, max_new_tokens=256, pad_token_id=pad_id, eos_token_id=tok.eos_token_id
            )
            texts = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            correct += sum(parse_answer(t) == reference_answer(r) for t, r in zip(texts, batch))
    model.train()
    return tot_loss / max(1, tot_tok), correct / len(recs)


def phase_record(summary: dict) -> dict:
    keys = ("tokens", "loss_tokens", "steps", "wall_s", "lr", "warmup_steps", "batch_tokens", "seed", "segments", "history")
    return {k: summary.get(k) for k in keys}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    args = parse_args()
    setup_offline(args.threads)
    import numpy as np
    import torch
    from transformers import (
        AutoTokenizer,
        GenerationConfig,
        LlamaConfig,
        LlamaForCausalLM,
    )

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    tok_hash = sha256_file(Path(args.tokenizer) / "tokenizer.json")
    t0 = time.time()
    recs = read_jsonl(args.train)
    encoded = encode_records(tok, recs)
    valid_recs = read_jsonl(args.valid)
    valid_enc = encode_records(tok, valid_recs[:500])
    lengths = [len(p) + len(c) for p, c in encoded]
    plan = batch_plan(lengths, args.batch_tokens, args.tokens, args.seed)
    total_steps = len(plan)
    log(
        f"data: {len(recs)} records, {sum(lengths)} tokens per epoch (mean {sum(lengths) / len(lengths):.1f}/record); "
        f"plan: {total_steps} steps, {args.tokens:.3g} tokens ({args.tokens / sum(lengths):.2f} epochs); "
        f"prepared in {time.time() - t0:.1f}s"
    )

    torch.manual_seed(args.seed)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        max_position_embeddings=512,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        attention_dropout=0.0,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **SIZES[args.size],
    )
    model = LlamaForCausalLM(cfg)
    previous = None
    if args.init:
        init = Path(args.init)
        prev_path = init / "train_summary.json"
        if not prev_path.is_file():
            sys.exit(f"error: {prev_path} is missing; --init needs a finished phase's final/ folder")
        previous = json.loads(prev_path.read_text())
        if previous["arch"] != SIZES[args.size]:
            sys.exit(f"error: {init} is a {previous['size']} model, this run trains {args.size}")
        model = LlamaForCausalLM.from_pretrained(init)
        log(f"initialised from {init} ({previous['tokens']} tokens of earlier training)")
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.95),
        eps=1e-8,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_at(s, total_steps, args))

    fp = fingerprint(args, len(recs), tok_hash)
    ckpt_path = work / "last.pt"
    step, tokens_done, loss_tokens_done, wall_before = 0, 0, 0, 0.0
    history = []
    segments = []
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck["fingerprint"] != fp:
            diff = {k: (ck["fingerprint"].get(k), v) for k, v in fp.items() if ck["fingerprint"].get(k) != v}
            sys.exit(
                f"error: {ckpt_path} was written by a run with other settings {diff} (checkpoint, now); "
                f"re-run with the same settings, or delete {work} to start over"
            )
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["torch_rng"])
        random.setstate(ck["python_rng"])
        np.random.set_state(ck["numpy_rng"])
        step, tokens_done, loss_tokens_done = ck["step"], ck["tokens_done"], ck["loss_tokens_done"]
        wall_before, history = ck["wall_s"], ck["history"]
        segments = ck.get("segments", [dict(start_step=0, precision="fp32", threads=args.threads)])
        log(f"resumed from {ckpt_path} at step {step}/{total_steps} ({tokens_done} tokens, {wall_before / 60:.1f} min so far)")
    else:
        log(f"new run: {args.size} model, {n_params} parameters, {total_steps} steps")

    precision = "bf16-autocast" if args.bf16 else "fp32"
    if not segments or segments[-1]["precision"] != precision or segments[-1]["threads"] != args.threads:
        segments.append(dict(start_step=step, precision=precision, threads=args.threads))

    def save_ckpt():
        ck = dict(
            fingerprint=fp,
            model=model.state_dict(),
            optimizer=opt.state_dict(),
            scheduler=sched.state_dict(),
            torch_rng=torch.get_rng_state(),
            python_rng=random.getstate(),
            numpy_rng=np.random.get_state(),
            step=step,
            tokens_done=tokens_done,
            loss_tokens_done=loss_tokens_done,
            wall_s=wall_before + (time.time() - run_start),
            history=history,
            segments=segments,
        )
        tmp = work / "last.pt.tmp"
        torch.save(ck, tmp)
        os.replace(tmp, ckpt_path)

    model.train()
    run_start = time.time()
    last_ckpt = time.time()
    last_log = time.time()
    win_loss, win_tok, win_steps = 0.0, 0, 0
    steps_this_run = 0
    while step < total_steps:
        ids, mask, labels = collate(encoded, plan[step], tok.pad_token_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        n_tok = int(mask.sum())
        n_loss = int((labels[:, 1:] != -100).sum())
        tokens_done += n_tok
        loss_tokens_done += n_loss
        win_loss += out.loss.item() * n_loss
        win_tok += n_loss
        win_steps += 1
        step += 1
        steps_this_run += 1
        now = time.time()
        if now - last_log > 30 or step == total_steps:
            el = wall_before + now - run_start
            log(
                f"step {step}/{total_steps} loss {win_loss / max(1, win_tok):.4f} lr {sched.get_last_lr()[0]:.2e} "
                f"tokens {tokens_done / 1e6:.2f}M wall {el / 60:.1f}min ({tokens_done / el:.0f} tok/s avg)"
            )
            win_loss, win_tok, win_steps = 0.0, 0, 0
            last_log = now
        if step % args.eval_every == 0 or step == total_steps:
            vloss, vacc = evaluate(model, tok, valid_enc, valid_recs, tok.pad_token_id)
            history.append(dict(step=step, tokens=tokens_done, valid_loss=vloss, valid_greedy_acc_100=vacc))
            log(f"eval step {step}: valid loss {vloss:.4f}, greedy acc (100 validation questions) {vacc:.2f}")
        stop_now = args.max_steps_this_run and steps_this_run >= args.max_steps_this_run
        if now - last_ckpt > args.ckpt_minutes * 60 or step == total_steps or stop_now:
            save_ckpt()
            last_ckpt = time.time()
        if stop_now and step < total_steps:
            log(f"stopping after {steps_this_run} steps this run (checkpoint at step {step}); re-run to resume")
            return

    wall = wall_before + time.time() - run_start
    final = work / "final"
    final.mkdir(exist_ok=True)
    model.save_pretrained(final, safe_serialization=True)
    tok.save_pretrained(final)
    GenerationConfig(
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        do_sample=True,
        temperature=0.8,
        max_new_tokens=256,
    ).save_pretrained(final)
    summary = dict(
        size=args.size,
        arch=SIZES[args.size],
        vocab_size=len(tok),
        parameters=n_params,
        steps=total_steps,
        tokens=tokens_done,
        loss_tokens=loss_tokens_done,
        train_flops=6 * n_params * tokens_done,
        train_records=len(recs),
        epochs=tokens_done / sum(lengths),
        wall_s=wall,
        threads=args.threads,
        lr=args.lr,
        batch_tokens=args.batch_tokens,
        warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay,
        seed=args.seed,
        history=history,
        segments=segments,
        init=str(args.init) if args.init else None,
    )
    # Phases: this run continues `previous` (and whatever it continued). Totals count all.
    phases = (previous.get("phases") or [phase_record(previous)]) if previous else []
    phases = phases + [phase_record(summary)]
    summary["phases"] = phases
    summary["total_tokens"] = sum(p["tokens"] for p in phases)
    summary["total_wall_s"] = sum(p["wall_s"] for p in phases)
    summary["total_train_flops"] = 6 * n_params * summary["total_tokens"]
    summary["total_epochs"] = summary["total_tokens"] / sum(lengths)
    write_json_atomic(final / "train_summary.json", summary)
    log(f"done: {total_steps} steps, {tokens_done} tokens, {wall / 60:.1f} min; saved {final}")


if __name__ == "__main__":
    main()
