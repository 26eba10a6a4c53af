"""Contrastive losses of one (anchor, X) pair, exact under data parallelism.

- ``infonce``: symmetric InfoNCE (CLIP, ImageBind) with a fused symmetric cross entropy.
- ``sigmoid``: the pairwise sigmoid loss (SigLIP) with its learnable scale and bias.
- ``multi_positive``: InfoNCE when an anchor has several positives (several captions of one
  image) or when samples of one label are positives of each other; the sigmoid loss takes
  the same ``owner`` argument.
- ``anchor_regression``: ``mean(1 - cos)`` between X and its frozen anchor, the term that
  closes the modality gap a contrastive loss leaves.
- ``distributed``: the gathers with gradients that make each rank's local loss sum to the
  full-batch loss; ``temperature``: the learnable/fixed logit scale and the logit bias.
"""
from imagebind_lite.losses.anchor_regression import anchor_regression
from imagebind_lite.losses.distributed import BatchGather, GatherFn, all_gather_with_grad
from imagebind_lite.losses.infonce import InfoNCEOutput, SymmetricInfoNCE, symmetric_cross_entropy, symmetric_infonce
from imagebind_lite.losses.multi_positive import multi_positive_infonce
from imagebind_lite.losses.sigmoid import SigmoidLoss, SigmoidOutput, sigmoid_loss
from imagebind_lite.losses.temperature import LogitBias, Temperature

__all__ = [
    "BatchGather",
    "GatherFn",
    "InfoNCEOutput",
    "LogitBias",
    "SigmoidLoss",
    "SigmoidOutput",
    "SymmetricInfoNCE",
    "Temperature",
    "all_gather_with_grad",
    "anchor_regression",
    "multi_positive_infonce",
    "sigmoid_loss",
    "symmetric_cross_entropy",
    "symmetric_infonce",
]
