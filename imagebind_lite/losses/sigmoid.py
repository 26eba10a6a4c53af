"""The pairwise sigmoid loss (SigLIP), exact under data parallelism.

Reference: Zhai et al. 2023, "Sigmoid Loss for Language Image Pre-Training". Every (row i,
column j) pair is an independent binary problem with logit ``z_ij = t * a_i . b_j + beta``
and label ``y_ij = +1`` for a positive pair, ``-1`` otherwise; ``t`` is the learnable scale
(init 10, stored as log t like CLIP's) and ``beta`` a learnable bias (init -10). With P the
number of positive pairs in the global batch (P = N for N one-to-one pairs)::

    L = (1/P) * sum_ij softplus(-y_ij * z_ij)        (softplus(-x) = -log sigmoid(x))

which is SigLIP's ``-1/|B| sum log sigmoid(y z)`` (open_clip's ``SigLipLoss`` on one process).

Why the distributed form is exact. Split the rows over the W ranks: rank r holds rows R_r
(its X embeddings ``a``) and gathers every rank's columns ``b`` with gradients. It computes

    L_r = (W / P) * sum_{i in R_r} sum_j softplus(-y_ij * z_ij)

so ``(1/W) sum_r L_r = L``: the ranks' terms partition the full sum. ``a_i`` appears only in
its own rank's rows, so its gradient is computed where it lives. ``b_j`` appears in every
rank's loss; the gather's backward sums those gradients into the rank that owns ``b_j``,
which then holds ``d(sum_r L_r)/d b_j``. DDP averages parameter gradients over ranks (the
1/W), giving exactly ``dL/d(theta)``; ``t`` and ``beta`` are shared, each rank holds
``dL_r/dt`` and the average is ``dL/dt``. With one positive per row P = W * b, so
``W / P = 1/b``: each rank normalises by its own batch, as open_clip does. Unlike InfoNCE
there is no softmax over rows, so one direction (rows against all columns) covers every
pair and only the column side is gathered (open_clip exchanges it around a ring instead; an
all-gather holds N x D floats more and needs no W-step schedule).

Why a fused function. ``dL/dz = (sigmoid(z) - [y = +1]) / P``; the backward overwrites the
saved logits with that in place and derives every gradient from it (``dL/dt`` as
``sum(a * (G @ b))``, a [b, D] reduction, no second [b, N] matrix; scale and 1/P applied to
[b, D] operands), where autograd through ``labels * logits`` and ``logsigmoid`` builds a
label matrix and keeps several [b, N] buffers. The three matmuls are the same as open_clip's
(one forward, two backward), so the gain is in memory traffic and memory, not FLOPs.
Reductions run in float32 whatever the input dtype.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from imagebind_lite.errors import InputError
from imagebind_lite.losses.distributed import BatchGather, GatherFn
from imagebind_lite.losses.temperature import LogitBias, Temperature


class _SigmoidPairs(torch.autograd.Function):
    """``sum_ij softplus(-y_ij z_ij) / norm`` with ``z = (scale * a) @ b.T + bias`` and
    ``y_ij = +1`` iff ``j == positive[i]``. With ``best``, also returns (without gradient)
    each row's best column and each column's best row, for top-1 accuracies.

    Passes over the [m, N] matrix: forward writes z (bias added by the matmul), softplus and
    its sum; backward turns z into sigmoid(z) in place and sums it. The scale and the
    upstream gradient are applied to [m, D] / [N, D] operands, never to the big matrix."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, scale: Tensor, bias: Tensor, positive: Tensor, norm: float, best: bool):
        scaled = a * scale  # a 0-d scale keeps a's dtype and multiplies at full precision
        if a.dtype in (torch.float16, torch.bfloat16):  # reductions over N columns in float32
            z = (scaled @ b.T).float().add_(bias.float())
        else:
            z = torch.addmm(bias.to(a.dtype), scaled, b.T)
        rows = torch.arange(a.shape[0], device=a.device)
        loss = (F.softplus(z).sum() - z[rows, positive].sum()) / norm
        empty = torch.empty(0, dtype=torch.long, device=a.device)
        best_col, best_row = (z.argmax(dim=1), z.argmax(dim=0)) if best else (empty, empty)
        ctx.save_for_backward(a, b, scale, z, positive)
        ctx.norm, ctx.consumed, ctx.bias_dtype = norm, False, bias.dtype
        ctx.mark_non_differentiable(best_col, best_row)
        return loss, best_col, best_row

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor, _best_col, _best_row):
        if ctx.consumed:  # the saved logits were turned into the gradient in place
            raise RuntimeError("the sigmoid loss backward cannot run twice (retain_graph is not supported)")
        ctx.consumed = True
        a, b, scale, z, positive = ctx.saved_tensors
        g = z.sigmoid_()  # dL/dz * norm = sigmoid(z) - [y = +1]
        g[torch.arange(a.shape[0], device=a.device), positive] -= 1.0
        factor = grad.to(g.dtype) / ctx.norm
        gd = g.to(a.dtype)
        ga = gd @ b  # [m, D]: shared by dL/da and dL/dscale
        step = factor * scale  # 0-d: applied to [m, D] / [N, D] results at full precision
        grad_a = ga * step if ctx.needs_input_grad[0] else None
        grad_b = (gd.T @ a) * step if ctx.needs_input_grad[1] else None
        grad_scale = ((a.to(g.dtype) * ga.to(g.dtype)).sum() * factor).to(scale.dtype) if ctx.needs_input_grad[2] \
            else None
        grad_bias = (g.sum() * factor).to(ctx.bias_dtype) if ctx.needs_input_grad[3] else None
        return grad_a, grad_b, grad_scale, grad_bias, None, None, None


@dataclass
class SigmoidOutput:
    """The loss and what a training loop logs about it (accuracies are in-batch top-1)."""

    loss: Tensor    # scalar: this rank's share of the full-batch loss (module docstring)
    acc_ab: Tensor  # fraction of a rows whose highest logit is their positive b
    acc_ba: Tensor  # the same for b columns among this rank's a rows (all rows on one process)
    scale: Tensor   # scalar, detached
    bias: Tensor    # scalar, detached
    anchor_cos: Optional[Tensor] = None  # mean cosine of each row with its anchor, set by the caller


def _owners(a: Tensor, b: Tensor, owner: Optional[Tensor]) -> Tensor:
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1] or a.shape[0] == 0 or b.shape[0] == 0:
        raise InputError(f"sigmoid loss needs non-empty [m, D] and [n, D] embeddings, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    if owner is None:
        if a.shape != b.shape:
            raise InputError(f"one-to-one pairs need the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
                             " (pass owner= for several positives per anchor)")
        return torch.arange(a.shape[0], device=a.device)
    owner = torch.as_tensor(owner, device=a.device).long()
    if owner.shape != (a.shape[0],) or (owner.numel() and (owner.min() < 0 or owner.max() >= b.shape[0])):
        raise InputError(f"owner must give each of the {a.shape[0]} rows an anchor index in [0, {b.shape[0]})")
    return owner


def sigmoid_loss(
    a: Tensor,
    b: Tensor,
    scale: Union[Tensor, float],
    bias: Union[Tensor, float],
    *,
    owner: Optional[Tensor] = None,
    gather_fn: Optional[GatherFn] = None,
    rank: Optional[int] = None,
    gather: bool = True,
    return_details: bool = False,
) -> Union[Tensor, SigmoidOutput]:
    """SigLIP loss of rows ``a`` [m, D] against anchors ``b`` [n, D] (L2-normalised).

    ``owner`` [m] gives each row's anchor (several rows may share one: several captions of
    one image, each a +1 label of that anchor); default one-to-one (m == n, row i with i).
    Under torch.distributed (or with ``gather_fn``) the anchors of all ranks are gathered
    with gradients and this rank's rows are scored against all of them; the returned loss is
    this rank's share, which DDP's averaging turns into the full-batch gradient (module
    docstring). ``rank``/``gather`` as in ``symmetric_infonce``. Every rank must hold the
    same number of anchors; the number of rows may differ (it enters through P).
    """
    one_to_one = owner is None
    owner = _owners(a, b, owner)
    scale = torch.as_tensor(scale, device=a.device)
    bias = torch.as_tensor(bias, device=a.device)
    ranks = BatchGather(gather_fn, gather, rank)
    columns = ranks.rows(b)
    world = columns.shape[0] // b.shape[0]
    offset = ranks.rank * b.shape[0] if world > 1 else 0
    if world > 1 and not one_to_one:  # ranks may hold different numbers of rows
        positives = float(ranks.counts(a.shape[0], a.device).sum())
    else:
        positives = float(a.shape[0] * world)
    loss, best_col, best_row = _SigmoidPairs.apply(a, columns, scale, bias, owner + offset, positives / world,
                                                   return_details)
    if not return_details:
        return loss
    return _details(loss, best_col, best_row, owner, offset, b.shape[0], scale, bias)


@torch.no_grad()
def _details(loss, best_col, best_row, owner, offset, n_local, scale, bias) -> SigmoidOutput:
    acc_ab = (best_col == owner + offset).float().mean()
    local = best_row[offset:offset + n_local]  # this rank's anchors: their best row among ours
    acc_ba = (owner[local] == torch.arange(n_local, device=owner.device)).float().mean()
    return SigmoidOutput(loss=loss, acc_ab=acc_ab, acc_ba=acc_ba, scale=scale.detach(), bias=bias.detach())


class SigmoidLoss(nn.Module):
    """The sigmoid loss of one (anchor, X) pair, owning its scale and bias (SigLIP: 10, -10).

    ``loss = SigmoidLoss()(x_emb, image_emb)``; ``gather_fn`` as in ``SymmetricInfoNCE``.
    """

    def __init__(self, temperature: Optional[Temperature] = None, bias: Optional[LogitBias] = None,
                 gather_fn: Optional[GatherFn] = None):
        super().__init__()
        self.temperature = temperature if temperature is not None else Temperature(init=10.0)
        self.bias = bias if bias is not None else LogitBias(-10.0)
        self.gather_fn = gather_fn

    def forward(self, a: Tensor, b: Tensor, *, owner: Optional[Tensor] = None, gather_fn: Optional[GatherFn] = None,
                gather: bool = True, return_details: bool = False) -> Union[Tensor, SigmoidOutput]:
        return sigmoid_loss(a, b, self.temperature.scale, self.bias.bias, owner=owner,
                            gather_fn=gather_fn if gather_fn is not None else self.gather_fn, gather=gather,
                            return_details=return_details)
