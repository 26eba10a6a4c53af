"""Gathers for the local-loss form of contrastive losses under data parallelism.

Every loss here is computed by each rank over its own rows against the columns of all ranks,
with the other ranks' embeddings gathered *with gradients*: the gather's backward sums into
each rank's slice the gradients every rank computed for it, so after DDP averages the ranks'
gradients each parameter holds the gradient of the single-process full-batch loss (the
derivation is in each loss's docstring). Reference: open_clip ``ClipLoss`` with
``local_loss=True, gather_with_grad=True`` (semantics only; nothing copied).
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

from imagebind_lite.errors import InputError

# A gather takes this rank's [b, D] tensor and returns every rank's, in rank order, either
# as [world * b, D] or stacked [world, b, D] (Lightning's ``all_gather`` shape), with a
# backward that sums into each rank's slice the gradients all ranks computed for it.
GatherFn = Callable[[Tensor], Tensor]


def world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def rank() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return 0


def all_gather_with_grad(x: Tensor) -> Tensor:
    """Every rank's ``x`` concatenated in rank order, [world * b, ...], differentiable.

    torch's autograd all_gather sums, in its backward, the gradients all ranks computed for
    this rank's slice (reduce-scatter on NCCL, all-to-all + sum on gloo): exactly what the
    local-loss form needs. Requires the same ``x.shape`` on every rank.
    """
    from torch.distributed.nn.functional import all_gather  # import only when distributed

    return torch.cat(all_gather(x), dim=0)


def gathered(gather_fn: GatherFn, x: Tensor) -> Tensor:
    """Normalise a gather's output to [N, D]; Lightning's all_gather stacks to [world, b, D]."""
    out = gather_fn(x)
    if out.dim() == 3:
        out = out.flatten(0, 1)
    if out.dim() != 2 or out.shape[1] != x.shape[1] or out.shape[0] % max(x.shape[0], 1):
        raise InputError(
            f"gather returned {tuple(out.shape)} for a local batch of {tuple(x.shape)}; every "
            "rank must contribute the same [b, D] batch (use drop_last or a padding sampler)"
        )
    return out


class BatchGather:
    """How one rank sees the global batch: which gather to use (none on one process) and
    this rank's index. ``gather=False`` scores the local batch alone even under DDP."""

    def __init__(self, gather_fn: Optional[GatherFn] = None, gather: bool = True, rank_: Optional[int] = None):
        if not gather:
            gather_fn = None
        elif gather_fn is None and world_size() > 1:
            gather_fn = all_gather_with_grad
        self.fn = gather_fn
        self._rank = rank_

    @property
    def active(self) -> bool:
        return self.fn is not None

    @property
    def rank(self) -> int:
        return rank() if self._rank is None else self._rank

    def rows(self, x: Tensor) -> Tensor:
        """Every rank's rows of ``x`` (the same row count on every rank), with gradients."""
        return gathered(self.fn, x) if self.active else x

    @torch.no_grad()
    def int_rows(self, x: Tensor) -> Tensor:
        """Every rank's integer vector ``x`` [k] (the same k on every rank), as long [world * k].
        Sent as float64 (exact for these integers) so any gather, with or without gradients, takes it."""
        return self.rows(x.double()[:, None])[:, 0].round().long()

    def counts(self, n: int, device) -> Tensor:
        """Every rank's ``n`` as a long tensor [world] (one gather of a 1-element tensor)."""
        return self.int_rows(torch.tensor([n], device=device))

    def padded(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Rows of ``x`` from ranks that hold different numbers of them: each rank pads to the
        largest count, so the gather sees one shape. Returns (all rows [world * P, ...], a
        bool mask of the real ones, the per-rank counts [world])."""
        counts = self.counts(x.shape[0], x.device)
        most = int(counts.max())
        if most > x.shape[0]:
            x = torch.cat([x, x.new_zeros(most - x.shape[0], *x.shape[1:])])
        flat = x.reshape(most, -1)
        rows = self.rows(flat).reshape(-1, *x.shape[1:])
        valid = torch.arange(most, device=x.device)[None, :] < counts.to(x.device)[:, None]
        return rows, valid.flatten(), counts
