"""Write the model card README.md of the demo PRM, reviser or ORM from its training
summary, data summary and evaluation JSON.

usage: prm_card.py --kind {prm,reviser,orm} --summary train_summary.json --eval EVAL.json
                   --data-summary DATA_SUMMARY.json [--eval-data-summary ...]
                   [--trunk-summary TRUNK_SUMMARY.json] --out README.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load(p, required=False):
    """A JSON file's content; {} for a missing optional one, an error for a required one."""
    if p and Path(p).is_file():
        return json.loads(Path(p).read_text())
    if required:
        sys.exit(f"error: {p} is missing; run the stage that writes it (`cargo xtask train-demo --list`)")
    return {}


def f3(x):
    return "n/a" if x is None else f"{x:.3f}"


def paired_lines(ev: dict) -> list[str]:
    """The reviser's paired differences (same questions, 95% bootstrap), where measured."""
    pi = ev.get("paired_intervals_95")
    if not pi:
        return []

    def pts(v):
        return f"{100 * v[0]:+.1f} [{100 * v[1]:+.1f}, {100 * v[2]:+.1f}] points"

    out = [
        "Paired over the same questions (95% bootstrap over questions), after one incorrect attempt minus:",
        f"- no earlier attempt: {pts(pi['after_incorrect_minus_no_attempt'])};",
        f"- the generator: {pts(pi['after_incorrect_minus_generator'])};",
        f"- after another question's incorrect attempt: {pts(pi['after_incorrect_minus_after_other_question'])}.",
        "",
    ]
    if ev["reviser_pass1_no_earlier_attempt"] > ev["base_pass1_same_questions"]:
        out += [
            f"With no earlier attempt the reviser ({f3(ev['reviser_pass1_no_earlier_attempt'])}) is a better solver "
            f"than the generator ({f3(ev['base_pass1_same_questions'])}): most of its training targets are "
            "reference solutions, data the generator never saw. What reading the attempt adds is the difference "
            "with no attempt, not the difference with the generator.",
            "",
        ]
    return out


def mins(s):
    return f"{s / 60:.1f} min"


def arch_line(cfg: dict, head: str) -> str:
    return (f"`{head}`, {cfg['num_hidden_layers']} layers, hidden size {cfg['hidden_size']}, "
            f"{cfg['num_attention_heads']} attention heads, {cfg['num_key_value_heads']} KV heads, MLP size "
            f"{cfg['intermediate_size']}, RoPE, RMSNorm, max {cfg['max_position_embeddings']} positions, "
            f"vocabulary {cfg['vocab_size']}")


def classifier_export(cfg: dict) -> str:
    """The export sentence of the PRM and ORM cards: the task and the graph's names."""
    layers = f"i = 0..{cfg['num_hidden_layers'] - 1}" if cfg else "every layer i"
    return ("Exported with `cargo xtask export --task token-classification-with-past`, so the verifier "
            "can continue from a scored prefix's KV cache and run only a new step's tokens: `model.onnx`, inputs "
            "`input_ids`, `attention_mask`, `position_ids`, `past_key_values.{i}.key`, `past_key_values.{i}.value`, "
            "outputs `logits [batch, seq, 1]`, `present.{i}.key`, `present.{i}.value` "
            f"({layers}), fp32.")


def surprise_export(cfg: dict) -> str:
    """The export sentence of a surprise PRM (surprise_prm.py)."""
    layers = (f"i = 0..{cfg['num_hidden_layers'] - 1}: the trunk's layers, the head's, then the hidden-state store"
              if cfg else "every cache entry i")
    return ("Exported by `xtask/python/demo/surprise_prm.py export` with the graph contract of "
            "`--task token-classification-with-past`, so the verifier can continue from a scored prefix's KV cache "
            "and run only a new step's tokens: `model.onnx`, inputs `input_ids`, `attention_mask`, `position_ids`, "
            "`past_key_values.{i}.key`, `past_key_values.{i}.value`, outputs `logits [batch, seq, 1]`, "
            f"`present.{{i}}.key`, `present.{{i}}.value` ({layers}), fp32.")


SURPRISE_ARCH = """A reward head over a frozen language model's surprise
(`xtask/python/demo/surprise_prm.py`):

```text
tokens -> trunk (the LM's layers, frozen) -> next-token log-probabilities
       -> per token t: log p(x_t | x_<t) and its gap to the most likely token
       -> a linear map of the two, added to the trunk's last hidden state
       -> head (Llama decoder layers, trained) -> RMSNorm -> score (1 logit)
```

A step is wrong when a digit it writes is not the one arithmetic gives; the trunk, a
causal LM that knows the arithmetic, finds such a digit unlikely. A token classifier
fine-tuned from the generator has to learn that comparison across two positions, and
none of the demo's trainings taught it (docs/results.md); here the graph computes it
and the head learns from the Monte Carlo labels what to make of it. The KV cache
carries each position's last trunk hidden state in extra entries, so a token whose
predecessor was read in an earlier call still gets its features, and continuing a
scored prefix gives the same logits as reading the whole solution (the export checks
that against torch)."""


def history_table(hist) -> list[str]:
    if hist and "step" in hist[0]:
        # Checked every few steps, with the validation loss per example kind.
        kinds = sorted(hist[0].get("valid_loss_by_kind", {}))
        out = ["| step | epoch | train loss | valid loss | " + " | ".join(f"valid {k}" for k in kinds) + " | tokens |",
               "|---" * (5 + len(kinds)) + "|"]
        for h in hist:
            tl = h.get("train_loss")
            by = h.get("valid_loss_by_kind", {})
            out.append(f"| {h['step']} | {h['epoch']:.2f} | {'-' if tl is None else f'{tl:.4f}'} | "
                       f"{h['valid_loss']:.4f} | " + " | ".join(f"{by[k]:.4f}" if k in by else "-" for k in kinds)
                       + f" | {h.get('tokens', 0):,} |")
        return out
    out = ["| epoch | train loss | valid loss | tokens |", "|---|---|---|---|"]
    for h in hist:
        tl = h.get("train_loss")
        out.append(f"| {h['epoch']} | {'-' if tl is None else f'{tl:.4f}'} | {h['valid_loss']:.4f} | "
                   f"{h.get('tokens', 0):,} |")
    return out


PRM_LAYOUT = """```text
<s>Question: {problem}
Solution:
{step 1}
{step 2}
...
```

Ids: `encode("Question: {q}\\nSolution:\\n")` with the tokenizer's `<s>`, then for each
step `encode(step, add_special_tokens=False)` followed by the `"\\n"` token. The model
has one logit per position; the step score is `sigmoid(logit)` at the step's appended
`"\\n"`. ttc reads it with `adapter = { preset = "demo" }` (crates/prm-verifier)."""

ORM_LAYOUT = """The demo PRM layout (`<s>Question: {q'}\\nSolution:\\n` then each step and its `"\\n"`) with
the *verifier question* `q'` = the question followed by the earlier attempts that were
in the reviser's prompt for this attempt (ttc's `RevisionLayout::verifier_question`):

```text
<s>Question: {problem}
Attempt:
{earlier attempt 1}
Attempt:
{earlier attempt 2}
Solution:
{step 1}
...
Answer: {N}
```

(just `{problem}` when there are no earlier attempts). One score: `sigmoid(logit)` at
the last step's `"\\n"`. ttc reads it with `[reviser.verifier] adapter = { preset =
"demo", mode = "orm" }` and `[revision] verifier-context = "earlier-attempts"`."""

REVISER_LAYOUT = """```text
<s>Attempt:
{the earlier attempt, if any (one at most)}
Question: {problem}
Solution:
{new attempt: one step per line}
Answer: {N}
</s>
```

Prompt = `Attempt:\\n{attempt without trailing newlines}\\n` for the earlier attempt,
then the generator's own prompt `Question: {q}\\nSolution:\\n`, encoded with `<s>`; with
no earlier attempt the prompt is exactly the generator's, so the reviser starts out as
the generator. ttc's `RevisionLayout::demo()` (crates/reviser) with `[revision]
context-attempts = 1` uses exactly this layout. The attempt is shown when the prompt
leaves `max-attempt-tokens` (256) within the reviser's 640 positions (ttc's fitting
rule, the same in training), which every demo attempt of up to 256 tokens does."""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", choices=["prm", "reviser", "orm"], required=True)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--data-summary")
    ap.add_argument("--eval-data-summary")
    ap.add_argument("--trunk-summary", help="the surprise PRM's trunk: its train_lm.py train_summary.json")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    s = load(args.summary, required=True)
    ev = load(args.eval, required=True)
    ds = load(args.data_summary, required=True)
    eds = load(args.eval_data_summary)
    trunk = load(args.trunk_summary)
    surprise = s.get("arch") == "surprise"
    out_dir = Path(args.out).parent
    cfg = load(out_dir / "config.json")
    kind = args.kind
    L: list[str] = []
    n = s["parameters"]
    if kind == "prm":
        L += [
            "# ttc demo model: `prm`",
            "",
            "The process reward model (PRM) of the ttc demo world (multi-step integer arithmetic, one step per "
            "line): for each step of a solution written by the demo generator (`models/demo/generator`), the "
            "probability that the generator, continuing from there, reaches the right answer (docs/method.md §1). "
            "Trained on Monte Carlo rollout labels sampled through ttc, as in Snell et al. 2024. "
            + (surprise_export(cfg) if surprise else classifier_export(cfg)),
            "",
        ]
    elif kind == "reviser":
        L += [
            "# ttc demo model: `reviser`",
            "",
            "The revision model of the ttc demo world (docs/method.md §3): given a question and up to 4 earlier "
            "(incorrect) attempts, it writes a new attempt. Fine-tuned from the demo generator "
            "(`models/demo/generator`) on revision trajectories built from the generator's own samples, "
            "sampled through ttc. Exported with Optimum (`text-generation-with-past`): `model.onnx` with "
            "KV-cache inputs/outputs, fp32.",
            "",
        ]
    else:
        L += [
            "# ttc demo model: `orm`",
            "",
            "The outcome reward model (ORM) for revision outputs of the ttc demo world (docs/method.md §3): the "
            "probability that an attempt of the demo reviser (`models/demo/reviser`) is correct, given the "
            "question and the earlier attempts the reviser saw. Trained on the reviser's own chains sampled "
            "through ttc. " + classifier_export(cfg),
            "",
        ]
    head = "LlamaForCausalLM" if kind == "reviser" else "LlamaForTokenClassification"
    L += ["## Architecture", ""]
    if surprise:
        spec = cfg.get("surprise_prm", {})
        L += [SURPRISE_ARCH, ""]
        if cfg:
            L.append(f"- Trunk: {arch_line({**cfg, 'num_hidden_layers': spec.get('trunk_layers')}, 'LlamaModel')}; "
                     "tied input and output embeddings.")
            L.append(f"- Head: {spec.get('head_layers')} Llama decoder layers of the trunk's width, RMSNorm, a "
                     "linear `score` with 1 output.")
            L.append(f"- KV cache: {cfg['num_hidden_layers']} entries per token ({spec.get('trunk_layers')} trunk "
                     f"layers, {spec.get('head_layers')} head layers, {spec.get('hidden_stores')} holding the trunk's "
                     "hidden state).")
        if trunk:
            phases = trunk.get("phases", [])
            L.append(
                f"- The trunk is the demo generator trained on for {trunk['tokens']:,} more tokens of the training "
                f"split's reference solutions (no slips; `train_lm.py`, peak lr {trunk['lr']:g}, {trunk['steps']:,} "
                f"steps, {mins(trunk['wall_s'])}; stage `prm-trunk`), {trunk.get('total_tokens', trunk['tokens']):,} "
                f"tokens in all over {len(phases) or 1} phases. Its greedy accuracy on 100 validation questions: "
                + ", ".join(f"{h['valid_greedy_acc_100']:.2f} at step {h['step']}" for h in trunk["history"][-2:])
                + " (the generator's: see its card).")
        L += [f"- **Parameters: {n:,}** ({n / 1e6:.2f}M, embeddings included), of which "
              f"{s.get('trained_parameters', n):,} trained (the head and the feature map).",
              "- Tokenizer: the demo generator's (byte-level BPE, one token per digit, `<s>` `</s>` `<pad>`).", ""]
    elif cfg:
        L.append(f"- {arch_line(cfg, head)}" + ("" if kind == "reviser" else "; a linear `score` head with 1 output "
                                                "(num_labels = 1)") + ".")
    init = {"prm": "the demo generator's weights (transformer copied; the `score` head is new)",
            "reviser": "the demo generator's weights (all of them)",
            "orm": "the demo reviser's weights (transformer copied; the `score` head is new)"}[kind]
    if not surprise:
        L += [f"- Initialised from {init}.", f"- **Parameters: {n:,}** ({n / 1e6:.2f}M, embeddings included).",
              "- Tokenizer: the demo generator's (byte-level BPE, one token per digit, `<s>` `</s>` `<pad>`).", ""]
    L += ["## Text format", "", {"prm": PRM_LAYOUT, "reviser": REVISER_LAYOUT, "orm": ORM_LAYOUT}[kind], ""]

    L += ["## Training data", ""]
    if kind == "prm":
        L += [
            f"- {ds['questions']} training questions (records {ds['offset']}..{ds['offset'] + ds['questions'] - 1} of "
            "`.ttc/demo/data/train.jsonl`, disjoint from the validation and test sets by construction).",
            f"- {ds['samples_per_question']} solutions per question from the generator through `ttc generate` at "
            f"T = {ds['temperature']}: {ds['samples_drawn']:,} drawn, {ds['unparsable']:,} without an `Answer:` line "
            f"dropped, **{ds['samples_kept']:,} kept** ({ds['samples_correct']:,} correct).",
            f"- Monte Carlo labels: for each step prefix, **{ds['rollouts_per_prefix']} rollouts** through "
            f"`ttc generate` (T = {ds['temperature']}) from the prompt + prefix; the soft label is the fraction that "
            f"reach the right answer. A prefix shared by several solutions of a question is rolled out once "
            f"({ds['distinct_prefixes']:,} distinct prefixes, **{ds['rollouts']:,} rollouts**). The last step (the "
            "`Answer:` line) is labelled with the solution's own correctness.",
            *([f"- Questions none of whose {ds['samples_per_question']} solutions is right get no rollouts (every "
               f"label would be 0): {ds['questions_skipped']} of {ds['questions']} questions skipped, "
               f"{ds['samples_kept']:,} solutions of the others kept."] if ds.get("min_correct") else []),
            *([f"- **{ds['intermediate_soft_share']:.1%} of the {ds['intermediate_labels']:,} intermediate labels** "
               "(every step but the `Answer:` line) are strictly between 0 and 1."]
              if "intermediate_soft_share" in ds else []),
            f"- **{ds['step_labels']:,} step labels** (mean {ds['mean_label']:.3f}); sampled tokens: "
            f"{ds['sample_tokens']:,} (solutions) + {ds['rollout_tokens']:,} (rollouts); ttc sampling wall time "
            f"{mins(ds['ttc_wall_s'])}.",
        ]
    elif kind == "reviser":
        kinds = ds["examples_by_kind"]
        L += [
            f"- `own-wrong`, `own-correct`: {ds['questions']} training questions (records {ds['offset']}.."
            f"{ds['offset'] + ds['questions'] - 1} of `.ttc/demo/data/train.jsonl`), {ds['samples_per_question']} "
            f"answers each from the generator through `ttc generate` at T = {ds['temperature']}: "
            f"{ds['samples_drawn']:,} drawn, {ds['unparsable']:,} unparsable dropped, {ds['samples_correct']:,} "
            f"correct; {ds['sample_tokens']:,} sampled tokens, ttc wall time {mins(ds['ttc_wall_s'])}. Up to "
            f"{ds['max_wrong']} distinct incorrect answers per question, each followed by the reference solution "
            f"(**{kinds.get('own-wrong', 0):,}** examples); one correct answer per question followed by the "
            f"reference solution (**{kinds.get('own-correct', 0):,}**), so that a right attempt is kept rather "
            "than changed.",
            f"- `slipped`: **{kinds.get('slipped', 0):,}** training problems (records {ds['slipped_problems'][0]}.."
            f"{ds['slipped_problems'][1] - 1} of train-generator.jsonl whose copy has a slip): the slipped copy "
            "the data stage writes (the reference up to the slipped line, later lines following the wrong value) "
            "as the earlier attempt, the reference solution as the target.",
            f"- `clean`: **{kinds.get('clean', 0):,}** training problems (records {ds['clean_problems'][0]}.."
            f"{ds['clean_problems'][1] - 1} of train-generator.jsonl whose copy has no slip): that right solution as "
            "the earlier attempt and the reference (the same text) as the target, so that a right attempt is kept.",
            f"- `replay`: **{kinds.get('replay', 0):,}** generator training examples (records "
            f"{ds['replay_problems'][0]}..{ds['replay_problems'][1] - 1} of train-generator.jsonl, slips included "
            "as the generator saw them) with no earlier attempt, so that a fresh attempt keeps the generator's "
            "quality.",
            f"- **{ds['examples']:,} examples** in all; earlier attempts that did not fit (dropped by the fitting "
            f"rule): {ds['attempt_dropped']:,}; examples over {ds['reviser_positions']} positions dropped: "
            f"{ds['too_long_dropped']:,}.",
        ]
    else:
        L += [
            f"- Reviser chains on {ds['questions']} training questions (records {ds['offset']}.."
            f"{ds['offset'] + ds['questions'] - 1} of `.ttc/demo/data/train.jsonl`): {ds['chains_per_question']} "
            f"chains x {ds['chain_length']} attempts each, every attempt sampled through `ttc generate` from the "
            f"reviser's prompt with the chain's earlier attempts (T = {ds['temperature']}).",
            f"- {ds['attempts']:,} attempts, {ds['unparsable']:,} without an answer skipped (ttc's reviser does not "
            f"score them), **{ds['records']:,} labelled attempts** ({ds['correct']:,} correct); accuracy by "
            "position in the chain: " + ", ".join(f3(a) for a in ds["accuracy_by_round"]) + ".",
            "- One label per attempt (1 = its answer is right), read at its last step's `\"\\n\"`.",
        ]
    L += [""]

    L += ["## Training", ""]
    loss = {"prm": "binary cross-entropy on the soft labels at every step's `\"\\n\"`",
            "reviser": "cross-entropy on the target's tokens and `</s>` only",
            "orm": "binary cross-entropy on the 0/1 label at the last step's `\"\\n\"`"}[kind]
    L += [
        f"- Loss: {loss}.",
        f"- AdamW (betas 0.9/0.95, weight decay {s['weight_decay']}), "
        + (f"lr {s['lr']:g} peak ({s['lr_schedule']}, {s['warmup_steps']} warm-up steps)" if "lr_schedule" in s
           else f"constant lr {s['lr']:g}") + ", batch "
        f"{s['batch']} sequences, gradient clipping 1.0"
        + (f", dropout {s['dropout']} ({'the score input' if surprise else 'attention and classifier'})"
           if "dropout" in s else "") + f", seed {s['seed']}. "
        + ("The paper's lr (3e-5, batch 128) is for billion-parameter models; this small model is "
           "fine-tuned with a larger lr and smaller batch to get enough steps from a small data set."
           if kind != "reviser" else
           "The paper's lr (1e-5, batch 128) is for billion-parameter models; this small model is "
           "fine-tuned with a larger lr and smaller batch to get enough steps from a small data set."),
        (f"- Validation = the examples of {s.get('valid_frac', 0.1):.0%} of the training questions; its loss "
         f"checked every {s['eval_every']} steps ({s['steps_per_epoch']} steps an epoch), the weights with the "
         f"lowest kept: best step **{s['best_step']}** of {s['steps_run']} run (validation loss "
         f"{s['best_valid_loss']:.4f}); " + ("stopped once it had not improved for "
         f"{s['patience']} checks." if s["early_stopped"] else "the step cap was reached, the loss still falling "
         "or flat.") if "best_step" in s else
         f"- Validation = the examples of {s.get('valid_frac', 0.1):.0%} of the training questions; early stopping on "
         f"the lowest validation loss (checked every epoch"
         + (f", patience {s['patience']} epochs" if "patience" in s else "") + f"): best epoch **{s['best_epoch']}** of "
         f"{s['epochs_run']} run (validation loss {s['best_valid_loss']:.4f})."),
        f"- {s.get('train_records', s.get('train_examples')):,} training / "
        f"{s.get('valid_records', s.get('valid_examples')):,} validation sequences"
        + (f"; {s['too_long_dropped']:,} over {s['max_positions']} positions dropped." if "too_long_dropped" in s
           else "."),
        f"- Tokens processed: **D = {s['tokens']:,}** (all epochs run, padding excluded). "
        + (f"**Training FLOPs ((2 N + 4 N_trained) D, the frozen trunk runs forward only): "
           f"{s['train_flops']:.3g}**." if surprise else f"**Training FLOPs (6 N D): {6 * n * s['tokens']:.3g}**."),
        f"- **Wall time: training {mins(s['wall_s'])}**"
        + (f"; data sampling through ttc {mins(ds['ttc_wall_s'])}" if "ttc_wall_s" in ds else "")
        + " on this project's CPU machine (2 threads; 2 cores shared with other training jobs, so timings vary).",
        "",
        *history_table(s["history"]),
        "",
    ]

    stages = {"prm": ["prm-data", "prm-trunk", "prm"], "reviser": ["reviser-data", "reviser"], "orm": ["orm"]}[kind]
    L += ["## Reproduce", "", "```sh", "cargo xtask pyenv            # the pinned Python environment, once",
          "cargo xtask train-demo --stage data", "cargo xtask train-demo --stage tokenizer",
          "cargo xtask train-demo --stage generator"]
    if kind == "orm":
        L += ["cargo xtask train-demo --stage prm-data", "cargo xtask train-demo --stage prm",
              "cargo xtask train-demo --stage reviser-data", "cargo xtask train-demo --stage reviser"]
    L += [f"cargo xtask train-demo --stage {st}" for st in stages] + ["```", ""]
    L += ["Every sample is drawn by `target/release/ttc generate` (built by the stage); ttc calls are cached per "
          "chunk under `.ttc/demo/<stage>/cache/`, so an interrupted stage resumes. Scripts: "
          "`xtask/python/demo/{prm,reviser,orm}_*.py`; stage logic: `xtask/src/demo_rewards.rs`; logs in "
          "`.ttc/demo/logs/<stage>.log`.", ""]

    L += ["## Measured quality", ""]
    if kind == "prm":
        sel = ev["selection"]
        L += [
            f"On the first {ev['questions']} questions of the test set, {ev['samples_per_question']} generator "
            f"samples each through `ttc generate` (T = {ev['temperature']}; sample accuracy "
            f"{f3(ev['sample_accuracy'])}). Every sample scored with this `model.onnx` by the onnxruntime package "
            "(`prm_eval.py`: the demo layout above, sigmoid at each step's `\"\\n\"`; the graph and layout ttc's "
            "verifier runs). An unparsable sample counts as incorrect.",
            "",
            f"- **AUROC of the last-step score for final-answer correctness: {f3(ev['auroc_last'])}** over "
            f"{ev['questions'] * ev['samples_per_question']:,} samples (min over steps {f3(ev['auroc_min'])}, mean "
            f"{f3(ev['auroc_mean'])}); mean last-step score {f3(ev['mean_score_correct'])} on correct samples vs "
            f"{f3(ev['mean_score_incorrect'])} on incorrect ones.",
            *([f"- **Within a question: AUROC {f3(ev['auroc_within_question'])}** of the last-step score for "
               f"correctness, averaged over the {ev['mixed_questions']} questions with both correct and incorrect "
               "samples (a pooled AUROC also rewards telling easy questions from hard ones)."]
              if ev.get("auroc_within_question") is not None else []),
            *([f"- **Pairs: {f3(ev['pair_preference_mixed'])}** of {ev['pairs_mixed']} pairs on those questions score "
               "a correct sample above the same sample with one step's result raised by one (later steps "
               "recomputed from it), at the corrupted step; by level: "
               + ", ".join(f"{lv}: {f3(b['preference'])} ({b['pairs']})"
                           for lv, b in ev.get("pair_preference_by_level", {}).items()) + "."
               + (f" With every calculation step corrupted in turn: {f3(ev['pair_preference_every_step'])} of "
                  f"{ev['pairs_every_step']:,} pairs." if ev.get("pair_preference_every_step") is not None else "")]
              if ev.get("pair_preference_mixed") is not None else []),
            *([f"- Step level: AUROC of every step's score against the demo world's exact prefix labels (a step "
               f"is right while every line so far equals the reference solution's; `ttc_dataset::demo::step_labels`): "
               f"**{f3(ev['step_auroc_exact'])}** over {ev['steps_scored']:,} steps ({ev['steps_correct_exact']:,} "
               "right)."] if ev.get("step_auroc_exact") is not None else []),
            "",
            f"Answer selection (accuracy over the questions; N < {ev['samples_per_question']} cuts each question's "
            f"{ev['samples_per_question']} samples into disjoint groups of N and averages; weighted = sum of last-step scores per distinct answer, naive = answer of the "
            "top-scored sample; pass@N = some sample correct):",
            "",
            "| N | majority | best-of-N weighted | best-of-N naive | pass@N |",
            "|---|---|---|---|---|",
        ]
        for k, v in sorted(sel.items(), key=lambda kv: int(kv[0])):
            L.append(f"| {k} | {f3(v['majority'])} | {f3(v['weighted'])} | {f3(v['naive'])} | {f3(v['pass_at_n'])} |")
        m = ev["samples_per_question"]
        L += ["", f"| level | questions | pass@1 | majority@{m} | weighted@{m} |", "|---|---|---|---|---|"]
        for lv, b in ev.get("by_level", {}).items():
            L.append(f"| {lv} | {b['questions']} | {f3(b['pass_at_1'])} | {f3(b['majority_64'])} | "
                     f"{f3(b['weighted_64'])} |")
        L.append("")
    elif kind == "reviser":
        L += [
            f"On the first {ev['questions']} test questions, with the generator's {ev['generator_samples']} samples "
            "per question (T = 0.8, through ttc) as earlier attempts; every revision sampled through `ttc "
            f"generate` (T = {ev['temperature']}, {ev['revisions_per_question']} per question and condition; "
            "`reviser_eval.py`):",
            "",
            "| condition | questions | pass@1 |",
            "|---|---|---|",
            f"| generator (its own samples) | {ev['questions_with_incorrect']} | "
            f"{f3(ev['base_pass1_same_questions'])} |",
            f"| reviser, no earlier attempt (the generator's prompt) | {ev['questions_with_incorrect']} | "
            f"{f3(ev['reviser_pass1_no_earlier_attempt'])} |",
            f"| **reviser after one incorrect attempt** (the question's first) | {ev['questions_with_incorrect']} | "
            f"**{f3(ev['reviser_pass1_after_incorrect'])}** |",
            f"| control: after *another* question's incorrect attempt | {ev['questions_with_incorrect']} | "
            f"{f3(ev['reviser_pass1_after_other_question_incorrect'])} |",
            f"| after one correct attempt | {ev['questions_with_correct']} | {f3(ev['reviser_pass1_after_correct'])} "
            f"(generator on these questions: {f3(ev['base_pass1_questions_with_correct'])}) |",
            "",
            *paired_lines(ev),
            f"- Flips after a correct attempt (the revision is incorrect): {f3(ev['flips_after_correct'])}.",
            f"- Slips fixed: {f3(ev['slips_fixed'])} of {ev['slips_checked']:,} revisions after an incorrect attempt "
            "reproduce the reference solution up to and including the attempt's first wrong line.",
            f"- Revisions that repeat the earlier wrong answer: {f3(ev['repeats_earlier_wrong_answer'])}; "
            f"unparsable revisions: {f3(ev['unparsable_after_incorrect'])}.",
            "",
        ]
    else:
        L += [
            f"Held out: reviser chains on the first {eds.get('questions', '?')} test questions "
            f"({eds.get('chains_per_question', '?')} chains x {eds.get('chain_length', '?')} attempts, through "
            f"`ttc generate`, T = {eds.get('temperature', '?')}): {ev['records']:,} attempts with an answer "
            f"({ev['correct']:,} correct), scored with this `model.onnx` by the onnxruntime package (`orm_eval.py`, "
            "the layout above).",
            "",
            f"- **AUROC for attempt correctness: {f3(ev['auroc_orm'])}** pooled; **within a question: "
            + (f"{f3(ev['auroc_orm_within_question'])}** (mean over the {ev['questions_mixed']} questions with both "
               "right and wrong attempts; the pooled figure also rewards telling easy questions from hard ones)."
               if ev.get("auroc_orm_within_question") is not None else "not measured** (no question has both "
               "right and wrong attempts)."),
        ]
        if "auroc_base_prm_question_only" in ev:
            L.append(f"- For comparison, the base PRM (`models/demo/prm`, question only, last step): AUROC "
                     f"{f3(ev['auroc_base_prm_question_only'])} on the same attempts.")
        L += ["", "| attempt in chain | attempts | accuracy | ORM AUROC |", "|---|---|---|---|"]
        for rd, b in ev.get("by_round", {}).items():
            L.append(f"| {int(rd) + 1} | {b['records']} | {f3(b['accuracy'])} | {f3(b['auroc_orm'])} |")
        L.append("")
    Path(args.out).write_text("\n".join(L))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
