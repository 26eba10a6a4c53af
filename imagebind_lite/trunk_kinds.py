"""Trunk kinds: the named ways a modality can build its encoder's trunk.

An ``EncoderConfig`` picks one with ``trunk["kind"]``; a modality declares the kinds it offers in
``ModalitySpec.trunk_kinds`` (name -> ``TrunkKind``), so adding a kind (a timm CNN, a Hugging Face
model, an open_clip tower) is one builder function and one mapping entry, never a copied
``build_encoder``. Every modality offers the built-in ``"transformer"``.

A builder gets the config as asked for and returns the trunk with the config the encoder will
record (``BuiltTrunk``): a kind adds what it learnt while building (the trunk's output width, a
data config its tokenizer dictates) and drops what must not be needed again (a weights path, once
the weights live in the encoder's state dict), so a saved model rebuilds from ``config.json``
alone. A kind whose trunk reads the raw sample itself also names the stem that passes it through,
and one whose trunk ends in its own projection to the shared space names the head (none) after it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from torch import nn

from imagebind_lite.config import EncoderConfig
from imagebind_lite.layers import Stem, Transformer

TRANSFORMER = "transformer"
# Names configs were written with before the built-in trunk had one name in every modality.
KIND_ALIASES = {"vit": TRANSFORMER}


@dataclass
class BuiltTrunk:
    module: nn.Module       # stem output [B, N, width] (or the raw batch) -> tokens or pooled features
    config: EncoderConfig   # the config the encoder records and a saved model is rebuilt from


@dataclass(frozen=True)
class TrunkKind:
    build: Callable[[EncoderConfig], BuiltTrunk]
    # config.trunk keys that only this kind reads: one of them set without a "kind" selects this
    # kind, and one set under another kind is a mistake worth an error (it would be ignored).
    keys: tuple[str, ...] = ()
    # For trunks with their own input layers: the stem used instead of the modality's own.
    stem: Optional[Callable[[EncoderConfig], Stem]] = None
    # For trunks whose output already is the shared embedding (CLIP-family towers): the head
    # used instead of the modality's own (built from the recorded config).
    head: Optional[Callable[[EncoderConfig], nn.Module]] = None


def build_transformer(config: EncoderConfig) -> BuiltTrunk:
    trunk = Transformer(
        config.width, config.depth, config.num_heads, config.mlp_ratio, config.drop_path,
        causal=config.causal, extra_kv=config.extra_kv, pre_norm=config.pre_norm,
        layer_scale=config.trunk.get("layer_scale"),
    )
    return BuiltTrunk(trunk, config)


TRANSFORMER_KIND = TrunkKind(build_transformer)
