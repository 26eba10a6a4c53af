"""Embedding arithmetic for queries, on tensors: ``vectors.weighted_sum`` for torch callers.

ImageBind's "image + sound" queries (Girdhar et al. 2023, sec. 5.2) add the normalised
embeddings of several inputs; weights let one term dominate. The arithmetic itself is numpy
(``vectors.py``) so that a search by precomputed vectors gets the same query without torch.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch

from .vectors import weighted_sum


def _as_array(emb):
    if isinstance(emb, torch.Tensor):
        return emb.detach().to("cpu", torch.float32).numpy()
    return emb


def query_vector(weighted: Sequence[Tuple[torch.Tensor, float]]) -> torch.Tensor:
    """``normalise(sum_i w_i * normalise(e_i))`` for ``[(embedding [D], weight), ...]``."""
    return torch.from_numpy(weighted_sum([(_as_array(emb), weight) for emb, weight in weighted]))
