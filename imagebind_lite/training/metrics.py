"""Retrieval metrics used while training, computed by the evaluation suite's R@k.

Top-1 retrieval over a whole held-out set, both ways: row i of ``a`` should retrieve row i of
``b`` among all rows (chance 1/N), unlike the in-batch top-1 the loss reports; or, with
labels, class-level: the retrieved row shares the query's label. Validation numbers and
``imagebind-lite evaluate`` numbers then agree, ties included (see
``imagebind_lite.evaluation.retrieval_metrics`` for the tie rule).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from imagebind_lite.evaluation.retrieval_metrics import recall_at_k


@torch.no_grad()
def retrieval_top1(a: torch.Tensor, b: torch.Tensor, labels: Optional[torch.Tensor] = None) -> Tuple[float, float]:
    """(a->b, b->a) top-1 accuracy for L2-normalised [N, D] embeddings paired by row.

    With ``labels``, a hit is a retrieved row of the same class (chance: class frequency)
    instead of the paired row itself (chance 1/N).
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"need two [N, D] tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return recall_at_k(a, b, 1, labels, labels), recall_at_k(b, a, 1, labels, labels)
