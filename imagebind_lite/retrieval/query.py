"""Embedding arithmetic for queries: a weighted sum of embeddings, renormalised.

ImageBind's "image + sound" queries (Girdhar et al. 2023, sec. 5.2) add the normalised
embeddings of several inputs; weights let one term dominate.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch

from imagebind_lite.errors import InputError


def query_vector(weighted: Sequence[Tuple[torch.Tensor, float]]) -> torch.Tensor:
    """``normalise(sum_i w_i * normalise(e_i))`` for ``[(embedding [D], weight), ...]``."""
    if not weighted:
        raise InputError("a query needs at least one (embedding, weight) term")
    total = None
    for i, (emb, weight) in enumerate(weighted):
        e = torch.as_tensor(emb, dtype=torch.float32).flatten()
        norm = e.norm()
        if not torch.isfinite(e).all() or norm == 0:
            raise InputError(f"query term {i} is zero or not finite")
        if total is not None and e.shape != total.shape:
            raise InputError(f"query term {i} has dimension {e.numel()}, expected {total.numel()}")
        term = float(weight) * e / norm
        total = term if total is None else total + term
    norm = total.norm()
    if norm == 0:
        raise InputError("the weighted query terms cancel out to a zero vector")
    return total / norm
