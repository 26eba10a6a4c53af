"""What one (anchor, X) pair is trained to minimise, beyond the choice of loss kind.

- the contrastive loss (``LossSpec``: InfoNCE or sigmoid), with several positives per anchor
  when the batch gives each X row its anchor (``owner``);
- ``label_positives``: samples of one class are positives of each other (InfoNCE only;
  ``losses.multi_positive``), so an encoder trained on a few hundred labelled pairs learns
  the class an image shows, not which of its class's images it was paired with;
- ``anchor_regression``: a weight on ``mean(1 - cos(x, anchor))`` (``losses.anchor_regression``),
  which puts X embeddings where the anchors are instead of anywhere that ranks them right,
  so that modalities aligned to the same anchor meet (emergent zero-shot).

Which terms apply is decided by the settings alone, never by a batch's content: under DDP
every rank must run the same gathers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Union

import torch
from torch import Tensor

from imagebind_lite.errors import InputError
from imagebind_lite.losses import anchor_regression, multi_positive_infonce, sigmoid_loss, symmetric_infonce
from imagebind_lite.training.build import LossSpec
from imagebind_lite.training.datasets import OWNER

PerPair = Union[bool, float, Mapping[str, Any], None]


@dataclass(frozen=True)
class PairObjective:
    """One pair's settings: loss kind, same-label positives, weight of the anchor regression."""

    loss: LossSpec
    label_positives: bool = False
    anchor_regression: float = 0.0

    def __call__(self, other: Tensor, anchor: Tensor, pair: Dict[str, Any], scale: Tensor,
                 bias: Optional[Tensor] = None):
        """The pair's loss with details (a = X, b = anchor), L2-normalised embeddings."""
        owner = pair.get(OWNER)  # several positives (captions, clips) per anchor in this batch
        if self.loss.kind == "sigmoid":
            out = sigmoid_loss(other, anchor, scale, bias, owner=owner, return_details=True)
        elif owner is not None or self.label_positives:
            labels = pair.get("labels") if self.label_positives else None
            if self.label_positives and labels is None:
                raise InputError("label_positives needs labels in the batch (a `label` column in the manifest)")
            rows_owner = torch.arange(len(other), device=other.device) if owner is None else owner
            out = multi_positive_infonce(other, anchor, rows_owner, scale, labels=labels, return_details=True)
        else:
            out = symmetric_infonce(other, anchor, scale, return_details=True)
        if self.anchor_regression:
            out.loss = out.loss + self.anchor_regression * anchor_regression(other, anchor, owner)
        with torch.no_grad():  # logged: how far X sits from its images (the gap the regression closes)
            targets = anchor if owner is None else anchor[owner]
            out.anchor_cos = (other * targets).sum(dim=1).mean() if len(other) else None
        return out


def _per_pair(name: str, value: PerPair, pairs, default) -> Dict[str, Any]:
    """{modality: value} from one value for every pair or a mapping naming some of them."""
    if not isinstance(value, Mapping):
        return {m: (default if value is None else value) for m in pairs}
    unknown = sorted(set(value) - set(pairs))
    if unknown:
        raise InputError(f"{name} names pairs that are not aligned: {unknown}", modality=unknown[0])
    return {m: value.get(m, default) for m in pairs}


def pair_objectives(loss_specs: Mapping[str, LossSpec], label_positives: PerPair = False,
                    anchor_regression_weight: PerPair = 0.0) -> Dict[str, PairObjective]:
    """Every aligned pair's objective; refuses settings that cannot be honoured."""
    labels = _per_pair("label_positives", label_positives, loss_specs, False)
    weights = _per_pair("anchor_regression", anchor_regression_weight, loss_specs, 0.0)
    objectives = {}
    for modality, spec in loss_specs.items():
        if not isinstance(labels[modality], bool):
            raise InputError(f"label_positives must be true, false or {{modality: bool}}, got {labels[modality]!r}",
                             modality=modality)
        if labels[modality] and spec.kind != "infonce":
            raise InputError("label_positives works with the InfoNCE loss; this pair uses the sigmoid loss",
                             modality=modality)
        weight = weights[modality]
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise InputError(f"anchor_regression must be a weight >= 0, got {weight!r}", modality=modality)
        objectives[modality] = PairObjective(spec, labels[modality], float(weight))
    return objectives
