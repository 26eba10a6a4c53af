"""Symmetric InfoNCE when an anchor has several positives (several captions of one image).

Rows ``a`` [m, D] (the X side: captions, clips) each belong to one anchor ``b`` [n, D]
(``owner[i]``); an anchor has k_j >= 1 rows. Both directions of InfoNCE (Oord et al. 2018;
CLIP's symmetric form) generalise as follows, with ``z = scale * a . b`` over the global
batch of N anchors and M rows:

- X -> anchor: each row has exactly one positive column, its anchor; the other anchors are
  true negatives (an image is one column however many captions it has)::

      L_xa = (1/M) * sum_i [logsumexp_j z_ij - z_i,owner(i)]

- anchor -> X: an anchor's target distribution is spread uniformly over its k_j rows (soft
  targets: ``-sum_i q_ji log p_ji`` with ``q_ji = 1/k_j``); other anchors' rows are negatives::

      L_ax = (1/N) * sum_j [logsumexp_i z_ji - (1/k_j) * sum_{i: owner(i)=j} z_ji]

  and ``L = (L_xa + L_ax) / 2``. With one row per anchor (owner = identity) this is exactly
  ``symmetric_infonce``.

Distributed form (W ranks, n anchors each, m_r rows on rank r, M = sum_r m_r): rank r
gathers all anchors and all rows with gradients (rows padded to the largest m_r, padding
masked out of every softmax) and returns::

    L_r = (1/2) * [(W/M) * sum_{i in rows_r} CE_xa(i) + (1/n) * sum_{j in anchors_r} CE_ax(j)]

so ``(1/W) sum_r L_r = L`` (rows partition the first sum, anchors the second). The gathers'
backward returns to each rank the gradients every rank computed for its rows and anchors,
and DDP's average over ranks applies the 1/W: the gradients are those of the full batch (the
argument is the one in ``infonce``'s docstring).

Same-label positives (``labels``: one integer per anchor, -1 for none). Anchors of one class
in a batch are not negatives of each other's rows: a row's positives are its own anchor and
every anchor with its label, an anchor's positives its own rows and every row of an anchor
with its label, and each soft target is uniform over its positives (the label-aware
contrastive target of UniCL, Yang et al. 2022). With few pairs per class and noisy anchors
(images show more than the spoken word says) this stops the X encoder from spending its
capacity telling apart the images of one class, which it cannot generalise. A row's own
anchor stays a positive, so without labels (all -1) this is the plain form above.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor

from imagebind_lite.errors import InputError
from imagebind_lite.losses.distributed import BatchGather, GatherFn
from imagebind_lite.losses.infonce import InfoNCEOutput, at_least_float32


def _check(a: Tensor, b: Tensor, owner: Tensor) -> Tensor:
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1] or b.shape[0] == 0:
        raise InputError(f"multi-positive InfoNCE needs [m, D] rows and non-empty [n, D] anchors, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    owner = torch.as_tensor(owner, device=a.device).long()
    if owner.shape != (a.shape[0],) or (owner.numel() and (owner.min() < 0 or owner.max() >= b.shape[0])):
        raise InputError(f"owner must give each of the {a.shape[0]} rows an anchor index in [0, {b.shape[0]})")
    return owner


def _check_labels(labels: Optional[Tensor], b: Tensor) -> Optional[Tensor]:
    if labels is None:
        return None
    labels = torch.as_tensor(labels, device=b.device).long()
    if labels.shape != (b.shape[0],):
        raise InputError(f"labels must give each of the {b.shape[0]} anchors one integer (-1: none), "
                         f"got shape {tuple(labels.shape)}")
    return labels


def _same_label(x: Tensor, y: Tensor) -> Tensor:
    """[len(x), len(y)]: both labelled (>= 0) and equal."""
    return (x[:, None] == y[None, :]) & (x[:, None] >= 0)


def _soft_target_mean(logits: Tensor, positive: Tensor) -> Tensor:
    """Per row, the mean logit over its positives (what a uniform soft target scores)."""
    return torch.where(positive, logits, torch.zeros_like(logits)).sum(dim=1) / positive.sum(dim=1)


def multi_positive_infonce(
    a: Tensor,
    b: Tensor,
    owner: Tensor,
    scale: Union[Tensor, float],
    *,
    labels: Optional[Tensor] = None,
    gather_fn: Optional[GatherFn] = None,
    rank: Optional[int] = None,
    gather: bool = True,
    return_details: bool = False,
) -> Union[Tensor, InfoNCEOutput]:
    """InfoNCE of rows ``a`` [m, D] against anchors ``b`` [n, D] (L2-normalised), row i a
    positive of anchor ``owner[i]``; every anchor needs at least one row. ``labels`` [n]
    (optional, -1 for none) makes anchors of one label and their rows positives of each other
    (module docstring). Under torch.distributed (or with ``gather_fn``) this is rank's share
    of the full-batch loss; ranks must hold the same n, m may differ."""
    owner, labels = _check(a, b, owner), _check_labels(labels, b)
    scale = torch.as_tensor(scale, device=a.device)
    ranks = BatchGather(gather_fn, gather, rank)
    anchors = ranks.rows(b)
    world = anchors.shape[0] // b.shape[0]
    offset = ranks.rank * b.shape[0] if world > 1 else 0
    owner_global = owner + offset
    if world > 1:
        rows, valid, counts = ranks.padded(a)
        rows_owner = ranks.padded(owner_global.double()[:, None])[0][:, 0].round().long()
        total_rows = float(counts.sum())
    else:
        rows, valid, rows_owner, total_rows = a, None, owner_global, float(a.shape[0])
    if total_rows == 0:
        raise InputError("multi-positive InfoNCE got no rows on any rank")
    anchor_labels = None if labels is None else ranks.int_rows(labels)
    logits_xa = at_least_float32((a * scale) @ anchors.T)
    positive_xa = (torch.arange(anchors.shape[0], device=a.device)[None, :] == owner_global[:, None])
    if labels is not None:
        positive_xa |= _same_label(labels[owner], anchor_labels)
    # Sum over local rows, normalised by the global row count: rows may differ across ranks.
    loss_xa = (torch.logsumexp(logits_xa, dim=1) - _soft_target_mean(logits_xa, positive_xa)).sum()
    loss_xa = loss_xa * (world / total_rows)
    # One process: the anchor -> X logits are the transpose of the X -> anchor ones (one matmul).
    logits_ax = logits_xa.T if world == 1 else at_least_float32((b * scale) @ rows.T)
    mine = torch.arange(offset, offset + b.shape[0], device=a.device)
    positive = rows_owner[None, :] == mine[:, None]
    if labels is not None:
        positive |= _same_label(labels, anchor_labels[rows_owner])
    if valid is not None:
        positive &= valid[None, :]
        logits_ax = logits_ax.masked_fill(~valid[None, :], float("-inf"))
    if bool((positive.sum(dim=1) == 0).any()):
        raise InputError("every anchor needs at least one positive row (an image without any caption left)")
    loss_ax = (torch.logsumexp(logits_ax, dim=1) - _soft_target_mean(logits_ax, positive)).mean()
    loss = (loss_xa + loss_ax) / 2
    if not return_details:
        return loss
    return _details(loss, logits_xa, logits_ax, positive_xa, positive, scale)


@torch.no_grad()
def _details(loss, logits_xa, logits_ax, positive_xa, positive_ax, scale) -> InfoNCEOutput:
    """In-batch top-1: a hit is any positive (another anchor of the row's label counts)."""
    def hit_rate(logits: Tensor, positive: Tensor) -> Tensor:
        if not len(logits):
            return logits.new_zeros(())
        return positive.gather(1, logits.argmax(dim=1, keepdim=True)).float().mean()

    return InfoNCEOutput(loss=loss, logits_ab=logits_xa, logits_ba=logits_ax, acc_ab=hit_rate(logits_xa, positive_xa),
                         acc_ba=hit_rate(logits_ax, positive_ax), scale=scale.detach())
