"""The demo PRM's architecture: a reward head that reads a language model's surprise.

A step of the demo task is wrong when a digit it writes is not the one arithmetic
gives. A token classifier fine-tuned from a causal LM has to learn to compare the
digit written at one position with the LM's prediction at the position before, and
none of the demo's trainings taught it that (docs/results.md, runs A-G). This model
computes the comparison in the graph instead, then learns what to make of it:

    tokens -> LM trunk (a causal LM's layers, frozen) -> next-token log-probabilities
           -> per token t: log p(x_t | x_<t) and its gap to the most likely token
           -> added to the trunk's last hidden state
           -> head layers (Llama decoder layers, trained) -> norm -> score (1 logit)

Nothing about the task is written into it: the features are the LM's own
probabilities of the tokens read, and the head learns from Monte Carlo step labels
which of them matter. The trunk is a causal LM trained on correct solutions
(`train_lm.py` on the training split's references), so it knows arithmetic
without the slips the generator was trained to make.

A token's features need the trunk's prediction at the real token before it, which
may lie in a scored prefix's KV cache or behind padding. So the cache carries, after
the trunk's and the head's layers, `hidden_stores` extra entries that hold each
position's last trunk hidden state (cut into key and value blocks of the cache's
shape); the graph finds a token's predecessor by its position among the real tokens
(the attention mask's running count) and reads the prediction from there. The
logits are then the same however a solution is split into calls (checked at export
against torch, with splits anywhere and padding on the left and in the middle).

Exported (`export`) with the token-classification-with-past contract of
xtask/python/export.py: inputs `input_ids`, `attention_mask`, `position_ids`,
`past_key_values.{i}.key/value` (trunk layers, head layers, hidden stores), outputs
`logits` [batch, seq, 1] and `present.{i}.key/value`.

usage: surprise_prm.py export FINAL_DIR OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ARCHITECTURE = "SurprisePrm"
FEATURES = 3


def hidden_stores(cfg) -> int:
    """Extra cache entries (a key and a value each) that hold one position's hidden state."""
    block = 2 * cfg.num_key_value_heads * cfg.head_dim
    return -(-cfg.hidden_size // block)


def build(lm_config, head_layers: int, dropout: float = 0.0):
    """A SurprisePrm module for a Llama-family LM config (weights uninitialised);
    `dropout` applies to the score's input in training."""
    import torch
    from transformers.models.llama.modeling_llama import (
        LlamaDecoderLayer,
        LlamaRMSNorm,
        LlamaRotaryEmbedding,
    )

    from export import additive_mask

    cfg = lm_config
    cfg._attn_implementation = "sdpa"
    kv_heads, head_dim = cfg.num_key_value_heads, cfg.head_dim
    stores = hidden_stores(cfg)

    class Output:
        def __init__(self, logits):
            self.logits = logits

    class SurprisePrm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = cfg
            self.trunk_layers = cfg.num_hidden_layers
            self.embed = torch.nn.Embedding(cfg.vocab_size, cfg.hidden_size)
            layers = [LlamaDecoderLayer(cfg, i) for i in range(self.trunk_layers + head_layers)]
            self.layers = torch.nn.ModuleList(layers)
            self.trunk_norm = LlamaRMSNorm(cfg.hidden_size, eps=cfg.rms_norm_eps)
            self.rotary = LlamaRotaryEmbedding(cfg)
            self.features = torch.nn.Linear(FEATURES, cfg.hidden_size)
            self.norm = LlamaRMSNorm(cfg.hidden_size, eps=cfg.rms_norm_eps)
            self.score = torch.nn.Linear(cfg.hidden_size, 1)

        def trunk_parameters(self):
            yield from self.embed.parameters()
            for layer in self.layers[: self.trunk_layers]:
                yield from layer.parameters()
            yield from self.trunk_norm.parameters()

        def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None):
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            seq = input_ids.shape[1]
            past = cache.keys[0].shape[2] if cache is not None else 0
            cache_position = torch.arange(seq, device=input_ids.device) + past
            mask = additive_mask(attention_mask, cache_position, self.score.weight.dtype)
            # Positions count the real tokens before each one, padding anywhere.
            positions = attention_mask.cumsum(-1) - 1
            if position_ids is None:
                position_ids = positions[:, -seq:].clamp(min=0)
            frozen = not any(p.requires_grad for p in self.trunk_parameters())
            with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
                h = self.embed(input_ids)
                rope = self.rotary(h, position_ids)
                for layer in self.layers[: self.trunk_layers]:
                    h = layer(h, attention_mask=mask, position_ids=position_ids, past_key_values=cache,
                              cache_position=cache_position, position_embeddings=rope)
                h = self.trunk_norm(h)
                every = self.remember(h, cache)
                # Each new token's predecessor: the real token one position before it,
                # which may sit in the cache or behind padding.
                real = attention_mask > 0
                before = (positions[:, None, :] == positions[:, -seq:, None] - 1) & real[:, None, :]
                previous = before.to(h.dtype) @ every
                logp = torch.log_softmax(previous @ self.embed.weight.T, dim=-1)
                read = logp.gather(-1, input_ids[..., None])[..., 0]
                known = (before.any(-1) & real[:, -seq:]).to(h.dtype)
                gap = read - logp.max(dim=-1).values
                feats = torch.stack([gap * known, read * known, known], dim=-1)
            x = h + self.features(feats)
            for layer in self.layers[self.trunk_layers :]:
                x = layer(x, attention_mask=mask, position_ids=position_ids, past_key_values=cache,
                          cache_position=cache_position, position_embeddings=rope)
            x = torch.nn.functional.dropout(self.norm(x), dropout, self.training)
            return Output(self.score(x))

        def remember(self, h, cache):
            """The trunk's last hidden state of every position read so far, [batch, past +
            seq, hidden]: the new positions' are stored in the cache's extra entries (the
            hidden state cut into key and value blocks of the cache's shape)."""
            if cache is None:
                return h
            batch, seq, width = h.shape
            block = kv_heads * head_dim
            padded = torch.nn.functional.pad(h, (0, 2 * block * stores - width))
            parts = padded.reshape(batch, seq, 2 * stores, kv_heads, head_dim).transpose(2, 3)
            every = []
            for k in range(stores):
                key = parts[:, :, :, 2 * k].transpose(1, 2)
                value = parts[:, :, :, 2 * k + 1].transpose(1, 2)
                key, value = cache.update(key, value, len(self.layers) + k)
                every += [key.transpose(1, 2), value.transpose(1, 2)]
            total = every[0].shape[1]
            joined = torch.stack(every, dim=3).transpose(2, 3).reshape(batch, total, 2 * block * stores)
            return joined[..., :width]

    return SurprisePrm()


def from_lm(lm_dir: Path, head_layers: int, dropout: float = 0.0):
    """A SurprisePrm whose trunk is the causal LM at LM_DIR, head layers freshly initialised
    (output projections at zero, so the head starts as the trunk's state plus features)."""
    import torch
    from transformers import LlamaForCausalLM

    lm = LlamaForCausalLM.from_pretrained(lm_dir)
    if not lm.config.tie_word_embeddings:
        sys.exit(f"error: {lm_dir} has untied output embeddings; the surprise PRM reads the trunk's "
                 "predictions through its input embedding")
    model = build(lm.config, head_layers, dropout)
    with torch.no_grad():
        model.embed.load_state_dict(lm.model.embed_tokens.state_dict())
        for mine, theirs in zip(model.layers, lm.model.layers):
            mine.load_state_dict(theirs.state_dict())
        model.trunk_norm.load_state_dict(lm.model.norm.state_dict())
        for layer in model.layers[model.trunk_layers :]:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.features.weight.normal_(0.0, 0.1)
        model.features.bias.zero_()
        model.score.weight.zero_()
        model.score.bias.zero_()
    for p in model.trunk_parameters():
        p.requires_grad_(False)
    return model


def save(model, out: Path) -> None:
    """config.json (the trunk LM's, with every cache entry counted as a layer,
    num_labels 1 and this head's settings) and model.safetensors."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    cfg = model.config.to_dict()
    head_layers = len(model.layers) - model.trunk_layers
    stores = hidden_stores(model.config)
    cfg.update(architectures=[ARCHITECTURE], num_hidden_layers=model.trunk_layers + head_layers + stores,
               num_labels=1, id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0},
               surprise_prm=dict(trunk_layers=model.trunk_layers, head_layers=head_layers, hidden_stores=stores,
                                 features=FEATURES))
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"))


def load(final: Path):
    """The model `save` wrote, in eval mode."""
    from safetensors.torch import load_file
    from transformers import LlamaConfig

    raw = json.loads((final / "config.json").read_text())
    spec = raw.get("surprise_prm")
    if raw.get("architectures") != [ARCHITECTURE] or not spec:
        sys.exit(f"error: {final}/config.json is not a {ARCHITECTURE} checkpoint")
    cfg = LlamaConfig(**{**raw, "num_hidden_layers": spec["trunk_layers"]})
    model = build(cfg, spec["head_layers"])
    model.load_state_dict(load_file(str(final / "model.safetensors")))
    return model.eval(), cfg, spec


def export(final: Path, out: Path) -> None:
    """OUT/model.onnx (the token-classification-with-past contract), config.json and the
    tokenizer files, then a parity check against torch."""
    import tempfile
    import warnings

    import torch
    from transformers import AutoTokenizer

    from export import (
        BATCH,
        OPSET,
        PAST,
        SEQ,
        TOTAL,
        PastCache,
        check_with_past_parity,
        past_names,
        save_graph,
    )

    tok = AutoTokenizer.from_pretrained(final)
    model, cfg, spec = load(final)
    layers = spec["trunk_layers"] + spec["head_layers"] + spec["hidden_stores"]
    kv_heads, head_dim = cfg.num_key_value_heads, cfg.head_dim
    inputs = ["input_ids", "attention_mask", "position_ids", *past_names(layers, "past_key_values")]
    outputs = ["logits", *past_names(layers, "present")]
    axes = {"input_ids": {0: BATCH, 1: SEQ}, "attention_mask": {0: BATCH, 1: TOTAL},
            "position_ids": {0: BATCH, 1: SEQ}, "logits": {0: BATCH, 1: SEQ}}
    axes.update({name: {0: BATCH, 2: PAST} for name in inputs[3:]})
    axes.update({name: {0: BATCH, 2: TOTAL} for name in outputs[1:]})

    class WithPast(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.prm = model

        def forward(self, input_ids, attention_mask, position_ids, *past):
            cache = PastCache(past)
            logits = self.prm(input_ids, attention_mask, position_ids, cache).logits
            return (logits, *cache.presents())

    batch, seq, past = 3, 5, 4
    gen = torch.Generator().manual_seed(0)
    example = (
        torch.randint(0, cfg.vocab_size, (batch, seq), generator=gen),
        torch.ones(batch, past + seq, dtype=torch.long),
        torch.arange(past, past + seq).expand(batch, seq).contiguous(),
        *(torch.randn(batch, kv_heads, past, head_dim, generator=gen) for _ in inputs[3:]),
    )
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        traced = Path(tmp) / "model.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", "You are using the legacy TorchScript", DeprecationWarning)
            torch.onnx.export(WithPast().eval(), example, str(traced), input_names=inputs, output_names=outputs,
                              dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True, dynamo=False)
        save_graph(traced, out / "model.onnx")
    (out / "config.json").write_text((final / "config.json").read_text())
    tok.save_pretrained(out)
    check_with_past_parity(model, out / "model.onnx")


def main() -> None:
    import argparse

    from common import setup_offline

    ap = argparse.ArgumentParser(description="export a surprise PRM checkpoint to ONNX")
    ap.add_argument("command", choices=["export"])
    ap.add_argument("final", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    setup_offline(2)
    export(args.final, args.out)


if __name__ == "__main__":
    main()
