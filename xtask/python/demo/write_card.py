"""Write the model card README.md of a demo generator from its training summary
and its test-set evaluation(s).

usage: write_card.py --name NAME --summary train_summary.json --eval eval_test.json
                     --out README.md --command "cargo xtask train-demo --stage NAME"
                     [--ttc-eval ttc_eval.json] [--compare OTHER_SUMMARY.json]
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
    out = [
        f"### {title}",
        "",
        how,
        "",
        f"- greedy accuracy: **{s['greedy_accuracy']:.3f}** ({round(s['greedy_accuracy'] * s['questions'])}/{s['questions']})",
        f"- pass@1 at T = {s['temperature']} from {s['samples_per_question']} samples per question: "
        f"mean **{s['mean_pass_at_1']:.3f}**; fraction of questions below 0.2: **{s['frac_below_0_2']:.3f}**, "
        f"above 0.8: **{s['frac_above_0_8']:.3f}**",
        "",
        "Histogram of per-question pass@1 (10 bins):",
        "",
        "```text",
        text_histogram(s["histogram_10_bins"]),
        "```",
        "",
        "| level | questions | greedy acc | mean pass@1 | < 0.2 | > 0.8 |",
        "|---|---|---|---|---|---|",
    ]
    for lv, b in sorted(s["by_level"].items(), key=lambda kv: int(kv[0])):
        out.append(
            f"| {lv} | {b['questions']} | {b['greedy_accuracy']:.3f} | {b['mean_pass_at_1']:.3f} | "
            f"{b['frac_below_0_2']:.3f} | {b['frac_above_0_8']:.3f} |"
        )
    out.append("")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--ttc-eval")
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--compare", help="train_summary.json of the base generator, for the parameter ratio")
    args = ap.parse_args()

    sm = json.loads(Path(args.summary).read_text())
    ev = json.loads(Path(args.eval).read_text())
    arch = sm["arch"]
    hd = arch["hidden_size"] // arch["num_attention_heads"]
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
        f"- Data: `ttc-dataset` demo world (default difficulty mix), training stream seed 1, "
        f"{sm['train_records']:,} problems written by `cargo xtask train-demo --stage data`; the "
        "fixed validation and test sets (500 each) are disjoint from it by construction.",
        f"- Tokens: **D = {sm['tokens']:,}** training tokens (prompt + solution, padding excluded; "
        f"{sm['epochs']:.2f} epochs of the training file); loss on the {sm['loss_tokens']:,} solution "
        "tokens (solution lines and `</s>`), no packing (batches of similar-length problems).",
        f"- Optimizer: AdamW (betas 0.9/0.95, weight decay {sm['weight_decay']}), peak lr {sm['lr']}, "
        f"{sm['warmup_steps']} warm-up steps then cosine decay to 10%, ~{sm['batch_tokens']} tokens per "
        f"step, {sm['steps']} steps, gradient clipping 1.0, no dropout, seed {sm['seed']}.",
        f"- **Training FLOPs (6 N D): {fmt_flops(6 * sm['parameters'] * sm['tokens'])}**.",
        f"- **Wall time: {sm['wall_s'] / 60:.1f} min** on this project's CPU machine "
        f"({sm['threads']} torch threads; 2 cores shared with other builds, so timings vary).",
        "",
        "Validation during training (loss per solution token; greedy accuracy on the first 100 "
        "validation questions):",
        "",
        "| step | tokens | valid loss | greedy acc (100) |",
        "|---|---|---|---|",
    ]
    for h in sm.get("history", []):
        lines.append(f"| {h['step']} | {h['tokens']:,} | {h['valid_loss']:.4f} | {h['valid_greedy_acc_100']:.2f} |")
    lines += [
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
        "Training checkpoints to `.ttc/demo/<stage>/last.pt` and resumes from there when re-run; "
        "logs go to `.ttc/demo/logs/<stage>.log`.",
        "",
        "## Measured quality (test set, 500 questions)",
        "",
    ]
    if args.ttc_eval and Path(args.ttc_eval).is_file():
        tev = json.loads(Path(args.ttc_eval).read_text())
        lines += quality_section(
            "Through ttc (ONNX Runtime)",
            tev,
            "Sampled with `ttc generate` on the exported `model.onnx` (T = 0.8, no top-k/top-p).",
        )
    lines += quality_section(
        "With torch (`xtask/python/demo/eval_lm.py`)",
        ev,
        f"Sampled from the trained checkpoint with `transformers` `generate` (T = "
        f"{ev['summary']['temperature']}, top-k 0, top-p 1, seed {ev['summary']['seed']}, at most 200 new "
        "tokens); a sample without an `Answer:` line counts as wrong.",
    )
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
