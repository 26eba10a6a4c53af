"""Embedding arbitrary inputs: preprocess item by item, batch, encode, concatenate.

Items are file paths, raw arrays/tensors, or strings for modalities whose strings are data
(text; a string that ends in the modality's file extension is a path, see ``names_a_file``).
Preprocessing goes through the modality's transform built from the encoder's data config, so
embedding a file here and training on it through a manifest see identical tensors.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from imagebind_lite.encoder import Encoder
from imagebind_lite.registry import get_modality


def as_item_list(items: Any) -> Sequence[Any]:
    """One item or a collection of items -> a list of items."""
    if isinstance(items, (str, os.PathLike)):
        return [items]
    if isinstance(items, tuple) and len(items) == 2 and isinstance(items[1], (int, float)):
        return [items]  # one (samples, rate) recording, not two items
    if isinstance(items, (np.ndarray, torch.Tensor)):
        return list(items)  # a stacked batch: one item per row
    return list(items)


def names_a_file(item: Any, spec) -> bool:
    """Whether a ``str`` given to a modality whose strings are data (text) is a file path after
    all: it ends in one of the modality's file extensions (``.txt``) and has no line break.
    ``"notes/caption.txt"`` is read (or fails, naming it, if there is no such file) instead of
    being embedded as the text "notes/caption.txt"; every other string is the text itself."""
    return (isinstance(item, str) and spec.strings_are_data and "\n" not in item
            and item.strip().lower().endswith(tuple(spec.extensions)) and bool(spec.extensions))


@torch.no_grad()
def embed_items(encoder: Encoder, items: Any, batch_size: int = 32, progress: bool = False) -> torch.Tensor:
    """Items of ``encoder``'s modality -> embeddings ``[N, D]`` (float32, on the CPU)."""
    modality = encoder.modality
    spec = get_modality(modality)
    transform = spec.transform(encoder.data_config)
    items = [Path(item.strip()) if names_a_file(item, spec) else item for item in as_item_list(items)]
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    chunks = []
    try:
        starts = range(0, len(items), batch_size)
        for start in tqdm(starts, desc=f"embed {modality}", disable=not progress, unit="batch"):
            batch = spec.collate([transform(item) for item in items[start:start + batch_size]])
            chunks.append(encoder(batch.to(device)).float().cpu())
    finally:
        encoder.train(was_training)
    if not chunks:
        return torch.empty(0, encoder.config.embed_dim)
    return torch.cat(chunks)
