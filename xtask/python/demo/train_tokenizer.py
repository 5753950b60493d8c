"""Train the demo tokenizer: byte-level BPE, each digit its own token.

usage: train_tokenizer.py --train TRAIN.jsonl --out DIR [--vocab-size 384] [--limit N]

Writes a Hugging Face fast tokenizer (tokenizer.json, tokenizer_config.json,
special_tokens_map.json) to DIR and checks it: digits encode one token each,
the "\n" step delimiter round-trips, `<s>` is prepended by the post-processor.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    BOS,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    completion_text,
    log,
    prompt_text,
    read_jsonl,
)


def build(texts: list[str], vocab_size: int):
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
    )
    return tok


def check(fast, sample_texts: list[str]) -> None:
    for d in "0123456789":
        ids = fast(d, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, f"digit {d!r} encodes to {ids}"
    for text in ["1234567890", "Answer: -4321\n", "12 x 345 = 4140\n"]:
        ids = fast(text, add_special_tokens=False)["input_ids"]
        digits = sum(c.isdigit() for c in text)
        pieces = fast.convert_ids_to_tokens(ids)
        assert sum(p.isdigit() for p in pieces) == digits, f"digits merged in {pieces}"
    for text in sample_texts:
        enc = fast(text)["input_ids"]
        assert enc[0] == fast.bos_token_id, "post-processor must prepend <s>"
        assert fast.decode(enc, skip_special_tokens=True) == text, f"round trip failed for {text!r}"
    nl = fast("\n", add_special_tokens=False)["input_ids"]
    assert fast.decode(nl) == "\n", "newline must decode to itself"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab-size", type=int, default=384)
    ap.add_argument("--limit", type=int, default=50000, help="training records used")
    args = ap.parse_args()

    from transformers import PreTrainedTokenizerFast

    recs = read_jsonl(args.train)[: args.limit]
    texts = [prompt_text(r["problem"]) + completion_text(r["solution"]) for r in recs]
    tok = build(texts, args.vocab_size)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=None,
        model_input_names=["input_ids", "attention_mask"],
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    check(fast, texts[:200])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out)
    lens = [len(fast(t)["input_ids"]) for t in texts[:2000]]
    log(
        f"tokenizer: vocab {len(fast)} (asked {args.vocab_size}), trained on {len(texts)} records; "
        f"tokens per example mean {sum(lens) / len(lens):.1f} max {max(lens)}; saved to {out}"
    )


if __name__ == "__main__":
    main()
