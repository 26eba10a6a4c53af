"""A regression term that pulls each X embedding onto its frozen anchor's embedding.

``L_reg = mean_i (1 - cos(a_i, b_owner(i)))`` over the rows of the global batch (with unit
vectors, half the squared distance). Added to a contrastive loss with a weight, it closes
the modality gap that the contrastive loss leaves: InfoNCE scores only how X embeddings rank
the anchors, so a large offset shared by all X embeddings costs it almost nothing (Liang et
al. 2022, "Mind the Gap"), yet that offset decides emergent zero-shot, where X is compared
with a third modality that was aligned to the same anchors. Its minimiser for one X is the
direction of the mean anchor embedding of what X shows (the mean of its class's images when
images are noisy targets), which is where a third modality aligned to the same anchors can
find it. The frozen-teacher regression of multilingual CLIP (Carlsson et al. 2022) uses the
same idea to put a new encoder into an existing embedding space.

Distributed: each rank sums over its own rows and scales by ``world / M`` (M the global row
count), so the ranks' mean is the full-batch mean even when ranks hold different row counts
(several captions per image); no embedding is gathered, the gradient stays local.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from imagebind_lite.errors import InputError
from imagebind_lite.losses.distributed import BatchGather, GatherFn


def anchor_regression(a: Tensor, b: Tensor, owner: Optional[Tensor] = None, *, gather_fn: Optional[GatherFn] = None,
                      rank: Optional[int] = None, gather: bool = True) -> Tensor:
    """``mean(1 - a_i . b_owner(i))`` for L2-normalised rows ``a`` [m, D] and anchors ``b`` [n, D]
    (``owner`` default: row i with anchor i); under torch.distributed this rank's share."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise InputError(f"anchor regression needs [m, D] rows and [n, D] anchors, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if owner is None:
        if a.shape[0] != b.shape[0]:
            raise InputError(f"anchor regression without owner needs as many rows as anchors, got {a.shape[0]} "
                             f"and {b.shape[0]}")
        targets = b
    else:
        targets = b[torch.as_tensor(owner, device=b.device).long()]
    ranks = BatchGather(gather_fn, gather, rank)
    if ranks.active and owner is not None:  # ranks may hold different numbers of rows
        counts = ranks.counts(a.shape[0], a.device)
        scale = len(counts) / max(float(counts.sum()), 1.0)
    else:
        scale = 1.0 / max(a.shape[0], 1)
    return (1.0 - (a * targets).sum(dim=1)).sum() * scale
