"""Retrieval metrics used while training (the full evaluation suite lives in evaluation/).

Top-1 retrieval over a whole held-out set, both ways: row i of ``a`` should retrieve row i of
``b`` among all rows (chance 1/N), unlike the in-batch top-1 the loss reports; or, with
labels, class-level: the retrieved row shares the query's label.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch


@torch.no_grad()
def retrieval_top1(a: torch.Tensor, b: torch.Tensor, labels: Optional[torch.Tensor] = None) -> Tuple[float, float]:
    """(a->b, b->a) top-1 accuracy for L2-normalised [N, D] embeddings paired by row.

    With ``labels``, a hit is a retrieved row of the same class (chance: class frequency)
    instead of the paired row itself (chance 1/N).
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"need two [N, D] tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    sims = a.float() @ b.float().T
    targets = torch.arange(a.shape[0], device=a.device)
    if labels is None:
        a_to_b = (sims.argmax(dim=1) == targets).float().mean().item()
        b_to_a = (sims.argmax(dim=0) == targets).float().mean().item()
    else:
        a_to_b = (labels[sims.argmax(dim=1)] == labels).float().mean().item()
        b_to_a = (labels[sims.argmax(dim=0)] == labels).float().mean().item()
    return a_to_b, b_to_a
