"""Text: strings (or ``.txt`` files, or pre-tokenised ids) -> a causal transformer, EOT pooled.

Presets:
- ``tiny``: 32-token context, 64 wide, 2 deep, for CPU demos;
- ``imagebind_huge``: ImageBind's text encoder (OpenCLIP ViT-H text tower: 77 tokens,
  1024 wide, 24 deep, 16 heads, causal, EOT pooling, learnable post scale 1/0.07, max 100);
- ``hf``: a Hugging Face model + tokenizer from a LOCAL directory,
  ``create_encoder("text/hf", trunk={"hf_path": "/models/bert-mini", "hf_pool": "mean"})``
  (see ``hf_text_trunk.py``; the directory must stay in place to rebuild a saved model).

Strings are data here (``strings_are_data``): a ``str`` is the text itself; pass a
``pathlib.Path`` to read a UTF-8 ``.txt`` file. Tokenisation is driven by the data config
(``text_tokenizer.py``). References: ImageBind ``imagebind_model.py``, open_clip ``tokenizer.py``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from torch import nn

from imagebind_lite import EncoderConfig, InputError, ModalitySpec, register_modality
from imagebind_lite.layers import TokenStem
from imagebind_lite.modalities import text_tokenizer
from imagebind_lite.modalities.hf_text_trunk import TokenIdsInput, create_hf_trunk

RawText = Union[str, torch.Tensor]


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
    }


@register_modality("text")
class TextModality(ModalitySpec):
    extensions = (".txt",)
    strings_are_data = True

    def presets(self) -> dict[str, EncoderConfig]:
        return text_presets()

    def read_file(self, path: Path) -> str:
        return path.read_text(encoding="utf-8-sig")  # utf-8-sig: drop a BOM left by Windows editors

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

    def build_stem(self, config: EncoderConfig) -> nn.Module:
        return TokenStem(config.data["vocab_size"], config.width, config.data["context_length"])

    def build_encoder(self, config: EncoderConfig) -> nn.Module:
        if self.trunk_kind(config, "transformer", "hf", "hf_path") == "transformer":
            return super().build_encoder(config)
        from imagebind_lite.encoder import Encoder, build_head, build_post

        trunk = create_hf_trunk(config.trunk)
        # Tokenisation must follow the trunk's directory: derive the data config from it.
        config = config.replace(
            pool="none",
            trunk={"kind": "hf", "output_width": trunk.num_features},
            data={"tokenizer": "hf", "hf_path": str(config.trunk["hf_path"]),
                  "vocab_size": int(trunk.model.config.vocab_size)},
        )
        # Longer contexts than the model's position table would fail inside transformers.
        limit = getattr(trunk.model.config, "max_position_embeddings", None) or 10**9
        config.data["context_length"] = min(int(config.data.get("context_length", 64)), int(limit))
        return Encoder(config, TokenIdsInput(), trunk, build_head(config), build_post(config))
