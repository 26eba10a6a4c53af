"""Tokenisers for the text modality, chosen by the data config's ``"tokenizer"`` field.

- ``"clip"``: open_clip's byte-level BPE (the vocabulary ImageBind uses; shipped with
  open_clip, no network). ``[SOT] tokens [EOT]`` zero-padded to ``context_length``; a longer
  text is cut so that EOT stays the last token. open_clip (``tokens[:n]; tokens[-1] = EOT``)
  and ImageBind (``tokens[:n - 1] + [EOT]``) give the same ids, so EOT pooling always finds it.
- ``"hf"``: a Hugging Face tokenizer from the encoder's files directory (``data["files"]``;
  saved models written before those existed name it ``data["hf_path"]``), padded with its pad
  token to ``context_length``: ids only, the trunk rebuilds the mask from the pads.
- ``"open_clip"``: an open_clip text tower's own tokenizer, ``open_clip.get_tokenizer``.
- ``"hf_tower"``: a Hugging Face CLIP-family text tower's tokenizer, called as its documentation
  does (``padding="max_length"``, ``truncation=True``); all of its outputs (ids, attention mask)
  are packed into one tensor per sample (``imagebind_lite.towers.packing``).

Tokenisers are loaded once per process (cached) and never stored on picklable transforms, so
DataLoader workers load their own copy.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imagebind_lite.towers import hf_tower, open_clip_tower
from imagebind_lite.towers.files import files_of
from imagebind_lite.towers.packing import pack

CLIP_VOCAB_SIZE = 49408  # 49152 BPE merges/bytes + SOT (49406) + EOT (49407)


class TokenValueError(ValueError):
    """Token ids the text modality cannot use; the caller adds modality and source."""


@lru_cache(maxsize=1)
def clip_tokenizer():
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer()


def hf_directory(data: dict) -> Path:
    """The directory a Hugging Face tokenizer is read from."""
    directory = files_of(data) or (Path(data["hf_path"]) if data.get("hf_path") else None)
    if directory is None:
        raise TokenValueError("the data config names no tokenizer directory ('files')")
    return directory


def tokenize(text: str, data: dict) -> torch.Tensor:
    """One string -> one sample tensor (``[context_length]`` ids, or packed tokenizer outputs)."""
    length = int(data["context_length"])
    kind = data.get("tokenizer", "clip")
    if kind == "hf":
        encoded = hf_tower.tokenizer(hf_directory(data))(
            text, padding="max_length", truncation=True, max_length=length, return_tensors="pt")
        return encoded["input_ids"][0].long()
    if kind == "hf_tower":
        encoded = hf_tower.tokenizer(hf_directory(data))(
            text, padding="max_length", truncation=True, max_length=length, return_tensors="pt")
        return pack({name: value[0] for name, value in encoded.items()})[0]
    if kind == "open_clip":
        return open_clip_tower.tokenizer(hf_directory(data))([text])[0].long()
    return clip_tokenizer()(text, context_length=length)[0]


def pad_id(data: dict) -> int:
    kind = data.get("tokenizer", "clip")
    if kind in ("hf", "hf_tower"):
        return int(hf_tower.tokenizer(hf_directory(data)).pad_token_id or 0)
    if kind == "open_clip":  # open_clip's BPE pads with zeros; its Hugging Face tokenizers with their pad id
        inner = getattr(open_clip_tower.tokenizer(hf_directory(data)), "tokenizer", None)
        return int(getattr(inner, "pad_token_id", None) or 0)
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
    if data.get("tokenizer") == "hf_tower":
        return _packed_ids(padded, ids.numel(), data)
    return padded


def _packed_ids(padded: torch.Tensor, count: int, data: dict) -> torch.Tensor:
    """Pre-tokenised ids in the packed form the tokenizer's own outputs take."""
    fields = {"input_ids": padded}
    names = [name for name, _, _ in data["layout"]]
    if "attention_mask" in names:
        fields["attention_mask"] = (torch.arange(padded.numel()) < count).long()
    unknown = sorted(set(names) - set(fields))
    if unknown:
        raise TokenValueError(f"this tokenizer also gives {unknown}: pass text, not token ids")
    return pack(fields)[0]
