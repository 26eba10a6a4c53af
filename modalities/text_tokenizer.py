"""Tokenisers for the text modality, chosen by the data config's ``"tokenizer"`` field.

- ``"clip"``: open_clip's byte-level BPE (the vocabulary ImageBind uses; shipped with
  open_clip, no network). ``[SOT] tokens [EOT]`` zero-padded to ``context_length``; a longer
  text is cut so that EOT stays the last token. open_clip (``tokens[:n]; tokens[-1] = EOT``)
  and ImageBind (``tokens[:n - 1] + [EOT]``) give the same ids, so EOT pooling always finds it.
- ``"hf"``: a Hugging Face tokenizer from a local directory (``data["hf_path"]``), padded with
  its pad token to ``context_length``.

Tokenisers are loaded once per process (``lru_cache``) and never stored on picklable
transforms, so DataLoader workers load their own copy.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch

CLIP_VOCAB_SIZE = 49408  # 49152 BPE merges/bytes + SOT (49406) + EOT (49407)


class TokenValueError(ValueError):
    """Token ids the text modality cannot use; the caller adds modality and source."""


@lru_cache(maxsize=1)
def clip_tokenizer():
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer()


@lru_cache(maxsize=8)
def hf_tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def tokenize(text: str, data: dict) -> torch.Tensor:
    """One string -> ``[context_length]`` int64 ids, following the data config."""
    length = int(data["context_length"])
    if data.get("tokenizer", "clip") == "hf":
        encoded = hf_tokenizer(data["hf_path"])(
            text, padding="max_length", truncation=True, max_length=length, return_tensors="pt"
        )
        return encoded["input_ids"][0].long()
    return clip_tokenizer()(text, context_length=length)[0]


def pad_id(data: dict) -> int:
    if data.get("tokenizer", "clip") == "hf":
        return int(hf_tokenizer(data["hf_path"]).pad_token_id or 0)
    return 0  # open_clip pads with zeros


def as_token_ids(raw: Any) -> torch.Tensor:
    """Pre-tokenised input (tensor, array or list of ints) -> 1-d int64 tensor."""
    tensor = raw if isinstance(raw, torch.Tensor) else torch.as_tensor(np.asarray(raw))
    if tensor.dtype.is_floating_point or tensor.dtype == torch.bool or tensor.is_complex():
        raise TokenValueError(f"token ids must be integers, got dtype {tensor.dtype}")
    if tensor.dim() != 1:
        raise TokenValueError(f"expected one 1-d sequence of token ids, got shape {tuple(tensor.shape)}")
    return tensor.long()


def fit_token_ids(ids: torch.Tensor, data: dict) -> torch.Tensor:
    """Pad pre-tokenised ids to ``context_length``; check their range."""
    length, vocab = int(data["context_length"]), data.get("vocab_size")
    if ids.numel() and (ids.min() < 0 or (vocab is not None and ids.max() >= vocab)):
        raise TokenValueError(f"token ids must lie in [0, {vocab}), got [{int(ids.min())}, {int(ids.max())}]")
    if ids.numel() > length:
        raise TokenValueError(f"{ids.numel()} token ids exceed the context length {length}")
    padded = torch.full((length,), pad_id(data), dtype=torch.long)
    padded[: ids.numel()] = ids
    return padded
