"""Write the model card README.md of a demo generator from its training summary
and its test-set evaluation(s).

usage: write_card.py --name NAME --summary train_summary.json --eval eval_test.json
                     --out README.md --command "cargo xtask train-demo --stage NAME"
                     [--ttc-eval ttc_eval.json] [--compare OTHER_SUMMARY.json]
                     [--bins RUN/bins.json --bins-source TEXT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROMPT_TEMPLATE  # noqa: E402
from eval_lm import text_histogram  # noqa: E402


def fmt_flops(x: float) -> str:
    return f"{x:.3g}"


def quality_section(title: str, ev: dict, how: str) -> list[str]:
    s = ev["summary"]
    n_q = s.get("greedy_questions", s["questions"])
    greedy_line = f"- greedy accuracy: **{s['greedy_accuracy']:.3f}** ({round(s['greedy_accuracy'] * n_q)}/{n_q})"
    if not s["samples_per_question"]:
        return [f"### {title}", "", how, "", greedy_line, ""]
    out = [
        f"### {title}",
        "",
        how,
        "",
        greedy_line,
        f"- pass@1 at T = {s['temperature']} from {s['samples_per_question']} samples per question: "
        f"mean **{s['mean_pass_at_1']:.3f}**; fraction of questions in [0.1, 0.9]: "
        f"**{s.get('frac_medium', float('nan')):.3f}**, below 0.2: **{s['frac_below_0_2']:.3f}**, "
        f"above 0.8: **{s['frac_above_0_8']:.3f}**",
        "",
        "Histogram of per-question pass@1 (10 bins):",
        "",
        "```text",
        text_histogram(s["histogram_10_bins"]),
        "```",
        "",
        "| level | questions | greedy acc | mean pass@1 | in [0.1, 0.9] | < 0.2 | > 0.8 |",
        "|---|---|---|---|---|---|---|",
    ]
    for lv, b in sorted(s["by_level"].items(), key=lambda kv: int(kv[0])):
        out.append(
            f"| {lv} | {b['questions']} | {b['greedy_accuracy']:.3f} | {b['mean_pass_at_1']:.3f} | "
            f"{b.get('frac_medium', float('nan')):.3f} | {b['frac_below_0_2']:.3f} | {b['frac_above_0_8']:.3f} |"
        )
    out.append("")
    return out


def bins_section(tev: dict, bins_path: str, source: str) -> list[str]:
    """Greedy accuracy and pass@1 per oracle difficulty bin: the bins of a `ttc eval` run
    on the same test questions (`bins.json`: question id -> oracle bin, 1 = easiest)."""
    bins = {b["question"]: b["oracle_bin"] for b in json.loads(Path(bins_path).read_text())}
    per_bin: dict[int, list[dict]] = {}
    for q in tev["questions"]:
        b = bins.get(q.get("unique_id"))
        if b is not None:
            per_bin.setdefault(b, []).append(q)
    if not per_bin:
        sys.exit(f"error: no question of the evaluation is in {bins_path}; give the bins of a run on the test set")
    out = [
        f"Per oracle difficulty bin ({source}; bin 1 easiest; {sum(map(len, per_bin.values()))} "
        "questions in both):",
        "",
        "| oracle bin | questions | greedy acc | mean pass@1 |",
        "|---|---|---|---|",
    ]
    for b, qs in sorted(per_bin.items()):
        greedy = sum(q["greedy_correct"] for q in qs) / len(qs)
        p1 = sum(q["correct"] / q["samples"] for q in qs if q["samples"]) / len(qs)
        out.append(f"| {b} | {len(qs)} | {greedy:.3f} | {p1:.3f} |")
    out.append("")
    return out


def mix_text(path: str | None, slips_path: str | None) -> str:
    """The training difficulty mix and the slipped solutions as sentences plus a table
    (empty without a mix file)."""
    if not path or not Path(path).is_file():
        return ""
    mix = json.loads(Path(path).read_text())
    rows = [
        f"  | {c['name']} | {c['weight']} | {c['min-steps']}-{c['max-steps']} | "
        f"{c['min-digits']}-{c['max-digits']} | {' '.join({'add': '+', 'sub': '-', 'mul': 'x'}[o] for o in c['operators'])} | "
        f"{c.get('carry', 0)} |"
        for c in mix["components"]
    ]
    text = (
        " The questions are the training split of the evaluation mix (the default mix; `carry` is "
        "the share of `+`/`-` steps drawn to need a carry or borrow):\n\n"
        "  | component | weight | steps | digits | operators | carry |\n  |---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )
    if slips_path and Path(slips_path).is_file():
        s = json.loads(Path(slips_path).read_text())
        r = s["rates"]
        text += (
            f"\n  The solutions carry controlled slips, so that the model slips as real models do "
            f"(`.ttc/demo/data/train-generator.jsonl`): each step slips with probability {r['plain']} "
            f"(plain `+`/`-`, units digit off by one), {r['carry']} (a step with a carry or borrow, "
            f"which is forgotten) or {r['mul']} (`x`, off by one multiple), and later steps follow "
            f"the wrong value; {s['slipped_solutions']:,} of {s['solutions']:,} solutions "
            f"({s['slipped_solutions'] / max(s['solutions'], 1):.0%}) have at least one slip "
            f"({s['slips']:,} slips in all). The question and its gold answer are unchanged, so the "
            "other stages, which sample the trained model, grade against the right answer.\n"
        )
    return text


def level_limitation(tev: dict | None) -> list[str]:
    """The limitations bullet on difficulty, from the measured accuracy per level."""
    if not tev:
        return []
    s = tev["summary"]
    levels = sorted(s["by_level"].items(), key=lambda kv: int(kv[0]))
    acc = ", ".join(f"{b['greedy_accuracy']:.2f} at level {lv}" for lv, b in levels)
    text = (
        f"- Accuracy falls with the level (more steps and more carries, borrows and multiplications): "
        f"greedy {acc} (tables below)."
    )
    if s["samples_per_question"]:
        medium = f"{s['frac_medium']:.0%} in [0.1, 0.9], " if "frac_medium" in s else ""
        text += (
            f" pass@1 over the test questions ({s['samples_per_question']} samples each): {medium}"
            f"{s['frac_below_0_2']:.0%} below 0.2 and {s['frac_above_0_8']:.0%} above 0.8."
        )
    return [text]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--ttc-eval")
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--train-mix", help="train_mix.json written by the data stage")
    ap.add_argument("--slips", help="slips.json written by the data stage")
    ap.add_argument("--bins", help="bins.json of a `ttc eval` run on the test set, for a per-bin table")
    ap.add_argument("--bins-source", default="oracle bins of a ttc eval run", help="where the bins come from")
    ap.add_argument("--compare", help="the base generator's training.json (its parameters), for the parameter ratio")
    args = ap.parse_args()

    sm = json.loads(Path(args.summary).read_text())
    ev = json.loads(Path(args.eval).read_text())
    arch = sm["arch"]
    hd = arch["hidden_size"] // arch["num_attention_heads"]
    phases = sm.get("phases") or [sm]
    total_tokens = sm.get("total_tokens", sum(p["tokens"] for p in phases))
    total_wall = sm.get("total_wall_s", sum(p["wall_s"] for p in phases))
    tev = json.loads(Path(args.ttc_eval).read_text()) if args.ttc_eval and Path(args.ttc_eval).is_file() else None
    precisions = {seg["precision"] for p in phases for seg in p.get("segments") or []} or {"fp32"}
    tokens_per_epoch = sm["tokens"] / sm["epochs"]
    prompt_shown = PROMPT_TEMPLATE.replace("\n", "\\n")
    lines = [
        f"# ttc demo model: `{args.name}`",
        "",
        "A small Llama-architecture causal LM trained from scratch on the ttc demo world "
        "(multi-step integer arithmetic, one step per line) to serve as a policy for the "
        "test-time compute experiments (best-of-N, beam search, revisions). Not a general "
        "language model. Exported with Optimum (`text-generation-with-past`): `model.onnx` "
        "with KV-cache inputs/outputs, fp32.",
        "",
        "## Architecture",
        "",
        f"- `LlamaForCausalLM`, {arch['num_hidden_layers']} layers, hidden size {arch['hidden_size']}, "
        f"{arch['num_attention_heads']} attention heads (head dim {hd}), {arch['num_key_value_heads']} KV heads, "
        f"MLP size {arch['intermediate_size']}, RoPE (theta 10000), RMSNorm, max 512 positions, "
        f"tied input/output embeddings, vocabulary {sm['vocab_size']}.",
        f"- **Parameters: {sm['parameters']:,}** ({sm['parameters'] / 1e6:.2f}M, embeddings included).",
    ]
    if args.compare and Path(args.compare).is_file():
        base = json.loads(Path(args.compare).read_text())
        lines.append(
            f"- {sm['parameters'] / base['parameters']:.2f}x the parameters of the base generator "
            f"({base['parameters']:,}); same training data and the same number of training tokens."
        )
    lines += [
        "",
        "## Tokenizer",
        "",
        "Byte-level BPE trained on the demo training data with the `tokenizers` library "
        "(`cargo xtask train-demo --stage tokenizer`): the pre-tokenizer splits every digit "
        "into its own token (`Digits(individual_digits=True)`, then `ByteLevel`), so numbers "
        "are spelled digit by digit. Special tokens `<s>` (BOS), `</s>` (EOS), `<pad>`. "
        "The post-processor prepends `<s>`: encode prompts **with** special tokens. "
        "`\"\\n\"` is a single token and decodes to itself.",
        "",
        "## Prompt format",
        "",
        "```text",
        "<s>Question: {problem}",
        "Solution:",
        "{step 1}",
        "...",
        "Answer: {integer}",
        "</s>",
        "```",
        "",
        f"The prompt is `{prompt_shown}` (with `<s>` from the tokenizer). The model continues "
        "with one step per line (`a op b = c`, op one of `+ - x`), each line ending in `\\n`, "
        "the last line `Answer: N` followed by `\\n` and then `</s>`. Split steps on `\\n`; the "
        "final answer is the integer on the `Answer:` line.",
        "",
        "## Training",
        "",
        f"- Data: `ttc-dataset` demo world, training stream seed 1, {sm['train_records']:,} problems "
        "written by `cargo xtask train-demo --stage data`; the fixed validation and test sets (500 "
        "each, default difficulty mix) are disjoint from it by construction."
        + mix_text(args.train_mix, args.slips),
        f"- Tokens: **D = {total_tokens:,}** training tokens (prompt + solution, padding excluded; "
        f"{total_tokens / tokens_per_epoch:.2f} epochs of the training file); loss on the "
        f"{sum(p['loss_tokens'] for p in phases):,} solution tokens (solution lines and `</s>`), no "
        "packing (batches of similar-length problems).",
        f"- Optimizer: AdamW (betas 0.9/0.95, weight decay {sm['weight_decay']}), linear warm-up then "
        f"cosine decay to 10% of the peak, ~{sm['batch_tokens']} tokens per step, gradient clipping 1.0, "
        "no dropout. "
        + (
            "One phase from a random initialisation."
            if len(phases) == 1
            else f"{len(phases)} phases: the first from a random initialisation, each later one from the "
            "previous phase's final weights with a fresh optimizer and schedule."
        ),
        "",
        "  | phase | tokens | steps | peak lr | warm-up steps | seed | precision | wall time |",
        "  |---|---|---|---|---|---|---|---|",
    ]
    for i, p in enumerate(phases, 1):
        prec = ", ".join(
            f"{seg['precision']} from step {seg['start_step']}" for seg in (p.get("segments") or [])
        ) or "fp32"
        lines.append(
            f"  | {i} | {p['tokens']:,} | {p['steps']} | {p['lr']} | {p['warmup_steps']} | {p['seed']} | "
            f"{prec} | {p['wall_s'] / 60:.1f} min |"
        )
    lines += [
        "",
        f"- **Training FLOPs (6 N D): {fmt_flops(6 * sm['parameters'] * total_tokens)}** "
        f"(N = {sm['parameters']:,}, D = {total_tokens:,}).",
        f"- **Wall time: {total_wall / 60:.1f} min** on this project's CPU machine "
        f"({sm['threads']} torch threads; the 2 cores were at times shared with other jobs, so "
        "throughput varied several-fold; bf16 autocast is about 1.5x faster than fp32 here).",
        "",
        "Validation during training (loss per solution token; greedy accuracy on the first 100 "
        "validation questions; tokens counted from the start of phase 1):",
        "",
        "| phase | step | tokens | valid loss | greedy acc (100) |",
        "|---|---|---|---|---|",
    ]
    offset = 0
    for i, p in enumerate(phases, 1):
        for h in p.get("history") or []:
            lines.append(
                f"| {i} | {h['step']} | {offset + h['tokens']:,} | {h['valid_loss']:.4f} | "
                f"{h['valid_greedy_acc_100']:.2f} |"
            )
        offset += p["tokens"]
    lines += [
        "",
        "## Limitations",
        "",
        "- It has only seen the demo world's problems: operands of 1-2 digits, `x` only by 2-9 on "
        "values below 100, values in 0..999, at most 16 steps. Anything else is out of distribution.",
        "- It was trained to slip (see Training), so even a perfect fit makes mistakes on long, "
        "carry-heavy chains: that is what the test-time methods are there to fix.",
        *level_limitation(tev),
        "",
        "## Reproduce",
        "",
        "```sh",
        "cargo xtask pyenv            # the pinned Python environment, once",
        "cargo xtask train-demo --stage data",
        "cargo xtask train-demo --stage tokenizer",
        args.command,
        "```",
        "",
        "`cargo xtask train-demo` alone runs every stage in order and skips finished ones. "
        "Each training phase checkpoints (model, optimizer, schedule, data position, RNG states) to "
        "`.ttc/demo/<stage>/phase<k>/last.pt` every 5 minutes and resumes exactly from there when "
        "re-run; logs go to `.ttc/demo/logs/<stage>.log`. "
        + (
            "The run recorded here switched from fp32 to bf16 autocast mid-way (see the precision "
            "column); a reproduction from scratch uses bf16 autocast throughout, so its numbers will "
            "differ slightly."
            if len(precisions) > 1
            else f"The run recorded here used {precisions.pop()} throughout."
        ),
        "",
        "## Measured quality (test set, 500 questions)",
        "",
    ]
    if tev:
        lines += quality_section(
            "Through ttc (ONNX Runtime)",
            tev,
            f"Greedy decoding and sampling with `ttc generate --json` on the exported `model.onnx` "
            f"(T = {tev['summary']['temperature']}, top-k off, top-p 1, prompt i seeded with "
            f"{tev['summary']['seed']} + i, at most 256 new tokens, `xtask/python/demo/eval_ttc.py`); a "
            "sample without an `Answer:` line counts as wrong.",
        )
        if args.bins and Path(args.bins).is_file():
            lines += bins_section(tev, args.bins, args.bins_source)
    how = (
        "Greedy decoding of the trained checkpoint with `transformers` `generate` (at most 256 new tokens)."
        if not ev["summary"]["samples_per_question"]
        else f"Sampled from the trained checkpoint with `transformers` `generate` (T = "
        f"{ev['summary']['temperature']}, top-k 0, top-p 1, seed {ev['summary']['seed']}, at most 200 new "
        "tokens); a sample without an `Answer:` line counts as wrong."
    )
    if tev and "greedy" in ev and "greedy" in tev:
        same = sum(a["correct"] == b["correct"] for a, b in zip(ev["greedy"], tev["greedy"]))
        how += f" Its greedy outcome (right/wrong) equals ttc's on {same} of {len(ev['greedy'])} questions."
    lines += quality_section("Cross-check with torch (`xtask/python/demo/eval_lm.py`)", ev, how)
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
