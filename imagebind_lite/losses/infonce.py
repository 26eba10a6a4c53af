"""Symmetric InfoNCE with an exact distributed gather.

References:
- Oord et al. 2018, "Representation Learning with Contrastive Predictive Coding" (InfoNCE).
- Radford et al. 2021, CLIP: symmetric cross entropy over ``scale * a @ b.T``, learnable
  log-scale initialised at log(1/0.07), capped at 100.
- Girdhar et al. 2023, ImageBind: the same loss per (image, X) pair, with fixed scales for
  some modalities (audio 20, depth 5, thermal 10, imu 5).
- open_clip ``ClipLoss`` (``local_loss=True, gather_with_grad=True``): the local-loss form
  used under data parallelism. Read for semantics only; nothing is copied.

Why the distributed form is exact. With N = world * b samples in the global batch, the
single-process loss is ``L = (1/2N) * sum_i [CE_ab(i) + CE_ba(i)]`` over all N rows. Rank r
computes ``L_r``, the same mean over its own b rows only (its rows against all N columns,
labels offset by ``r * b``), so ``L = (1/world) * sum_r L_r``. The gather carries gradients
back to the rank that owns each embedding (its backward sums the gradients every rank
computed for that slice), so rank r's parameters receive ``d(sum_r' L_r')/d(theta)`` through
its own embeddings. DDP then averages over ranks, which applies the 1/world factor: the
averaged gradient is exactly ``dL/d(theta)``. The temperature is shared, so each rank holds
``dL_r/ds`` and the DDP average is again ``dL/ds``. Hence: return the per-rank mean, do not
multiply by world size.

Why logits once. On one process the b->a logits are the transpose of the a->b logits, so we
do one matmul and a fused symmetric cross entropy whose backward writes one gradient matrix
(row softmax + column softmax - 2I), instead of open_clip's two matmuls and two CEs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from imagebind_lite.errors import InputError
from imagebind_lite.losses.distributed import GatherFn, all_gather_with_grad, gathered, world_size
from imagebind_lite.losses.distributed import rank as rank_of
from imagebind_lite.losses.temperature import Temperature


def at_least_float32(x: Tensor) -> Tensor:
    """Half-precision logits (or embeddings) in float32, others as they are: bf16 logsumexp over
    thousands of columns loses the small differences a contrastive loss is made of."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class _SymmetricCrossEntropy(torch.autograd.Function):
    """mean(CE over rows) and mean(CE over columns) of a square logit matrix, halved, with the
    diagonal as targets. The backward builds the whole gradient in one buffer,
    ``(softmax_rows + softmax_cols - 2I) / 2n``, where autograd through two
    ``F.cross_entropy`` calls (one on a transposed copy) would allocate several."""

    @staticmethod
    def forward(ctx, logits: Tensor) -> Tensor:
        x = at_least_float32(logits)
        n = x.shape[0]
        lse_rows = torch.logsumexp(x, dim=1)
        lse_cols = torch.logsumexp(x, dim=0)
        loss = (lse_rows.sum() + lse_cols.sum() - 2 * x.diagonal().sum()) / (2 * n)
        ctx.save_for_backward(x, lse_rows, lse_cols)
        ctx.in_dtype = logits.dtype
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> Tensor:
        x, lse_rows, lse_cols = ctx.saved_tensors
        n = x.shape[0]
        g = (x - lse_rows[:, None]).exp_()
        g += (x - lse_cols[None, :]).exp_()
        g.diagonal().sub_(2.0)
        g.mul_(grad / (2 * n))
        return g.to(ctx.in_dtype)


def symmetric_cross_entropy(logits: Tensor) -> Tensor:
    """``(CE(logits, arange) + CE(logits.T, arange)) / 2`` for a square [n, n] matrix."""
    if logits.dim() != 2 or logits.shape[0] != logits.shape[1]:
        raise InputError(f"symmetric cross entropy needs square logits, got {tuple(logits.shape)}")
    return _SymmetricCrossEntropy.apply(logits)


@dataclass
class InfoNCEOutput:
    """The loss and what a training loop logs about it (accuracies are in-batch top-1)."""

    loss: Tensor  # scalar, the mean of the a->b and b->a cross entropies
    logits_ab: Tensor  # [b, N]: this rank's a rows against all N b columns, scale included
    logits_ba: Tensor  # [b, N]: this rank's b rows against all a columns (a view on one process)
    acc_ab: Tensor  # scalar in [0, 1]: fraction of a rows whose top logit is their own b
    acc_ba: Tensor  # scalar in [0, 1]: the same for b rows
    scale: Tensor  # scalar, detached: the logit scale used
    anchor_cos: Optional[Tensor] = None  # mean cosine of each row with its own anchor, set by the caller


def _check_pair(a: Tensor, b: Tensor) -> None:
    if a.dim() != 2 or a.shape != b.shape or a.shape[0] == 0:
        raise InputError(
            "contrastive loss needs two non-empty [B, D] embedding batches of the same shape, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )


@torch.no_grad()
def _top1(logits: Tensor, offset: int) -> Tensor:
    targets = torch.arange(offset, offset + logits.shape[0], device=logits.device)
    return (logits.argmax(dim=1) == targets).float().mean()


def _details(loss: Tensor, logits_ab: Tensor, logits_ba: Tensor, offset: int, scale: Tensor) -> InfoNCEOutput:
    return InfoNCEOutput(
        loss=loss,
        logits_ab=logits_ab,
        logits_ba=logits_ba,
        acc_ab=_top1(logits_ab, offset),
        acc_ba=_top1(logits_ba, offset),
        scale=scale.detach(),
    )


def symmetric_infonce(
    a: Tensor,
    b: Tensor,
    scale: Union[Tensor, float],
    *,
    gather_fn: Optional[GatherFn] = None,
    rank: Optional[int] = None,
    gather: bool = True,
    return_details: bool = False,
) -> Union[Tensor, InfoNCEOutput]:
    """Symmetric InfoNCE of L2-normalised ``a`` and ``b`` ([b, D] each, row i pairs with i).

    One process: ``logits = scale * a @ b.T`` once, and the fused symmetric cross entropy.
    Under torch.distributed with world size > 1 (or with ``gather_fn`` given), both batches
    are gathered with gradients and this rank's rows are scored against all columns with
    labels offset by ``rank * b``; the returned loss is this rank's mean, which DDP's
    gradient averaging turns into exactly the full-batch gradient (module docstring).

    ``rank`` defaults to ``torch.distributed.get_rank()`` (0 when not initialised); pass it
    only with a custom ``gather_fn`` outside torch.distributed (e.g. a simulation).
    ``gather=False`` scores this rank's batch alone even under DDP (e.g. a validation step
    whose last batch differs in size across ranks, which a gather cannot take).
    """
    _check_pair(a, b)
    scale = torch.as_tensor(scale, device=a.device)
    if not gather:
        gather_fn = None
    elif gather_fn is None and world_size() > 1:
        gather_fn = all_gather_with_grad
    if gather_fn is not None:
        all_a, all_b = gathered(gather_fn, a), gathered(gather_fn, b)
        # A gather that returns only our rows (Lightning on one device) means world size 1.
        if all_a.shape[0] != a.shape[0]:
            offset = (rank_of() if rank is None else rank) * a.shape[0]
            return _local_loss(a, b, all_a, all_b, scale, offset, return_details)
    # Scaling a [b, D] operand instead of the [b, b] product keeps the scale's gradient a
    # cheap [b, D] reduction and avoids saving a second [b, b] matrix for backward.
    logits = (a * scale) @ b.T
    loss = symmetric_cross_entropy(logits)
    return _details(loss, logits, logits.T, 0, scale) if return_details else loss


def _local_loss(
    a: Tensor, b: Tensor, all_a: Tensor, all_b: Tensor, scale: Tensor, offset: int, return_details: bool
) -> Union[Tensor, InfoNCEOutput]:
    """This rank's rows against all columns. Two [b, N] matmuls are the minimum here: the
    b->a rows are not a transpose of anything this rank computes (a full [N, N] matrix
    would cost world/2 times more)."""
    n_total = all_a.shape[0]
    if offset + a.shape[0] > n_total:
        raise InputError(f"rank offset {offset} + local batch {a.shape[0]} exceeds gathered {n_total}")
    labels = torch.arange(offset, offset + a.shape[0], device=a.device)
    logits_ab = (a * scale) @ all_b.T
    logits_ba = (b * scale) @ all_a.T
    loss = (F.cross_entropy(logits_ab, labels) + F.cross_entropy(logits_ba, labels)) / 2
    return _details(loss, logits_ab, logits_ba, offset, scale) if return_details else loss


class SymmetricInfoNCE(nn.Module):
    """The contrastive loss of one (image, X) pair, owning that pair's ``Temperature``.

    ``loss = SymmetricInfoNCE(Temperature.fixed(20.0))(image_emb, audio_emb)``; pass
    ``return_details=True`` for an ``InfoNCEOutput`` with logits and top-1 accuracies.
    ``gather_fn`` replaces the torch.distributed gather, e.g. a Lightning module's
    ``lambda x: self.all_gather(x, sync_grads=True)``; it can also be given per call.
    """

    def __init__(self, temperature: Optional[Temperature] = None, gather_fn: Optional[GatherFn] = None):
        super().__init__()
        self.temperature = temperature if temperature is not None else Temperature()
        self.gather_fn = gather_fn

    def forward(
        self,
        a: Tensor,
        b: Tensor,
        *,
        gather_fn: Optional[GatherFn] = None,
        gather: bool = True,
        return_details: bool = False,
    ) -> Union[Tensor, InfoNCEOutput]:
        return symmetric_infonce(
            a,
            b,
            self.temperature.scale,
            gather_fn=gather_fn if gather_fn is not None else self.gather_fn,
            gather=gather,
            return_details=return_details,
        )
