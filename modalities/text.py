"""Text: strings (or ``.txt`` files, or pre-tokenised ids) -> a causal transformer, EOT pooled.

Presets:
- ``tiny``: 32-token context, 64 wide, 2 deep, for CPU demos;
- ``imagebind_huge``: ImageBind's text encoder (OpenCLIP ViT-H text tower: 77 tokens,
  1024 wide, 24 deep, 16 heads, causal, EOT pooling, learnable post scale 1/0.07, max 100);
- ``hf``: a Hugging Face model + tokenizer from a LOCAL directory, trained as a text encoder
  with the shared head,
  ``create_encoder("text/hf", trunk={"hf_path": "/models/bert-mini", "hf_pool": "mean"})``
  (see ``hf_text_trunk.py``; its config and tokenizer files travel with a saved model);
- ``open_clip`` / ``hf_clip``: the text tower of a CLIP-family model, its own projection and
  tokenizer (see ``text_towers.py``), e.g. kept frozen beside its image tower as the pivot.

Causal, EOT-pooled encoders cut each batch after its last EOT before the stem
(``DropTokensAfterLastEot``): the output is the same and short prompts cost far less.

Strings are data here (``strings_are_data``): a ``str`` is the text itself, except that
``model.embed`` reads a ``str`` ending in ``.txt`` (one line) as a path, so a file name is never
embedded as if it were a caption; a ``pathlib.Path`` is always a UTF-8 text file to read, and a
manifest's ``text`` column always holds the text. Tokenisation is driven by the data config
(``text_tokenizer.py``). References: ImageBind ``imagebind_model.py``, open_clip ``tokenizer.py``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import nn

from imagebind_lite import EncoderConfig, InputError, ModalitySpec, register_modality
from imagebind_lite.augment import Augmenter
from imagebind_lite.layers import Stem, TokenStem
from imagebind_lite.modalities import text_tokenizer
from imagebind_lite.modalities.hf_text_trunk import HF_KIND
from imagebind_lite.modalities.text_towers import TEXT_TOWER_KINDS

RawText = Union[str, torch.Tensor]
EXAMPLE_WORDS = ("a", "photo", "of", "the", "red", "blue", "dog", "kettle", "drum", "barking", "loud")


def text_presets() -> dict[str, EncoderConfig]:
    clip_data = {"tokenizer": "clip", "vocab_size": text_tokenizer.CLIP_VOCAB_SIZE}
    return {
        "tiny": EncoderConfig("text", embed_dim=128, width=64, depth=2, num_heads=4, causal=True, pool="eot",
                              trunk={"kind": "transformer"}, data={**clip_data, "context_length": 32}),
        "imagebind_huge": EncoderConfig(
            "text", embed_dim=1024, width=1024, depth=24, num_heads=16, causal=True, pool="eot",
            output_scale=1 / 0.07, learnable_output_scale=True,
            trunk={"kind": "transformer"}, data={**clip_data, "context_length": 77},
        ),
        "hf": EncoderConfig("text", embed_dim=128, pool="none", trunk={"kind": "hf", "hf_path": None, "hf_pool": "cls"},
                            data={"tokenizer": "hf", "context_length": 64}),
        # The text tower of a CLIP-family model; embed_dim 0: the tower's own projection size.
        "open_clip": EncoderConfig("text", embed_dim=0, pool="none",
                                   trunk={"kind": "open_clip", "open_clip_model": None, "pretrained_path": None}),
        "hf_clip": EncoderConfig("text", embed_dim=0, pool="none", trunk={"kind": "hf_clip", "hf_clip_path": None}),
    }


@register_modality("text")
class TextModality(ModalitySpec):
    extensions = (".txt",)
    strings_are_data = True
    trunk_kinds = {**ModalitySpec.trunk_kinds, "hf": HF_KIND, **TEXT_TOWER_KINDS}

    def presets(self) -> dict[str, EncoderConfig]:
        return text_presets()

    def read_file(self, path: Path) -> str:
        return path.read_text(encoding="utf-8-sig")  # utf-8-sig: drop a BOM left by Windows editors

    def read_bytes(self, data: bytes, suffix: str) -> str:
        return data.decode("utf-8-sig")

    def validate(self, raw: Any, source: str) -> RawText:
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        if isinstance(raw, str):
            return raw
        if isinstance(raw, (torch.Tensor, np.ndarray, list, tuple)):
            try:
                return text_tokenizer.as_token_ids(raw)
            except (text_tokenizer.TokenValueError, TypeError, ValueError) as exc:
                raise InputError(str(exc), modality=self.name, source=source) from None
        raise InputError(f"expected a string, a .txt path or token ids, got {type(raw).__name__}",
                         modality=self.name, source=source)

    def to_tensor(self, raw: RawText, data: dict, source: str) -> torch.Tensor:
        if isinstance(raw, str):
            return text_tokenizer.tokenize(raw, data)
        try:
            return text_tokenizer.fit_token_ids(raw, data)
        except text_tokenizer.TokenValueError as exc:
            raise InputError(str(exc), modality=self.name, source=source) from None

    def augmenter(self, options: dict) -> Augmenter:
        if options:  # the one text augmentation is drawing among a manifest's captions
            raise InputError(f"text offers no augmentation option (got {', '.join(map(repr, options))}); when a "
                             "manifest gives several captions per image, each pass already draws one at random "
                             "(the data module's positives: sample)", modality=self.name)
        return Augmenter(self.name)

    def example_input(self, data: dict, rng: np.random.Generator) -> str:
        return " ".join(rng.choice(EXAMPLE_WORDS, size=int(rng.integers(1, 8))))

    def build_stem(self, config: EncoderConfig) -> Stem:
        return TokenStem(config.data["vocab_size"], config.width, config.data["context_length"])

    def build_prepare(self, config: EncoderConfig, stem: Stem) -> Optional[nn.Module]:
        if config.causal and config.pool == "eot" and stem.accepts_shorter_inputs:
            return DropTokensAfterLastEot()
        return None


class DropTokensAfterLastEot(nn.Module):
    """Cut a causal, end-of-text-pooled batch to its last EOT: the result is unchanged.

    Causal attention lets no position see later ones, so positions after every row's EOT
    token never reach the pooled output (nor its gradient). Short prompts padded to 77
    tokens then cost ~10 positions, not 77: zero-shot class prompts get several times faster.
    Only stems that take shorter sequences (``accepts_shorter_inputs``) get this step.
    """

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        if token_ids.is_floating_point() or token_ids.dim() != 2 or token_ids.shape[1] == 0:
            return token_ids
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            return token_ids  # a data-dependent length would be baked into a trace / recompile per length
        # The head pools at argmax (the EOT id is the largest); keep through the furthest one.
        keep = int(token_ids.argmax(dim=-1).max()) + 1
        return token_ids[:, :keep] if keep < token_ids.shape[1] else token_ids
