"""Zero-shot classification against text prompts, and multi-label mAP.

Class prototypes follow CLIP's prompt ensembling (Radford et al. 2021, sec. 3.1.4; used by
ImageBind for its emergent zero-shot numbers): embed every template of a class, average the
normalised template embeddings, renormalise. A query is classified by cosine similarity to
the prototypes. A class may own several prototypes (several names: NYU-D's "others" stands
for 18 scene types); it then scores as its best one. mAP is macro over classes, with the
step-wise AP of torchmetrics / sklearn (tied scores form one threshold), so the numbers are
comparable to theirs.
"""
from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn.functional as F

from imagebind_lite.errors import InputError

from .results import MultiLabelResult, ZeroShotResult

ClassTexts = Union[torch.Tensor, Sequence[torch.Tensor]]


def class_prototypes(class_text_emb: ClassTexts) -> torch.Tensor:
    """``[C, D]`` prototypes from ``[C, D]``, ``[C, T, D]`` or a list of ``[T_c, D]``."""
    if isinstance(class_text_emb, torch.Tensor):
        emb = class_text_emb.float()
        if emb.dim() == 2:
            return F.normalize(emb, dim=-1)
        if emb.dim() != 3:
            raise InputError(f"class text embeddings must be [C, D] or [C, T, D], got {list(emb.shape)}",
                             modality="text")
        return F.normalize(F.normalize(emb, dim=-1).mean(dim=1), dim=-1)
    protos = []
    for c, templates in enumerate(class_text_emb):
        t = torch.as_tensor(templates).float()
        t = t.unsqueeze(0) if t.dim() == 1 else t
        if t.dim() != 2 or t.shape[0] == 0:
            raise InputError(f"class {c}: template embeddings must be [T, D] with T >= 1", modality="text")
        protos.append(F.normalize(F.normalize(t, dim=-1).mean(dim=0), dim=-1))
    return torch.stack(protos)


def zero_shot_logits(query_emb: torch.Tensor, class_text_emb: ClassTexts) -> torch.Tensor:
    """Cosine similarity ``[N, C]`` between queries and class prototypes."""
    return F.normalize(query_emb.float(), dim=-1) @ class_prototypes(class_text_emb).T


def grouped_logits(query_emb: torch.Tensor, prototype_text_emb: ClassTexts, prototype_class: Sequence[int],
                   num_classes: int) -> torch.Tensor:
    """``[N, C]`` scores when class ``prototype_class[p]`` owns prototype ``p``: each class scores
    as its best prototype (one prototype per class gives ``zero_shot_logits``)."""
    owner = torch.as_tensor(prototype_class, dtype=torch.long)
    logits = zero_shot_logits(query_emb, prototype_text_emb)
    if owner.shape != (logits.shape[1],):
        raise InputError(f"{logits.shape[1]} prototypes but {owner.numel()} class indices", modality="text")
    if owner.numel() and (owner.min() < 0 or owner.max() >= num_classes):
        raise InputError(f"prototype class indices must lie in [0, {num_classes})", modality="text")
    orphans = sorted(set(range(num_classes)) - set(owner.tolist()))
    if orphans:
        raise InputError(f"classes {orphans} have no prototype", modality="text")
    out = logits.new_full((logits.shape[0], num_classes), float("-inf"))
    return out.scatter_reduce(1, owner.to(logits.device).expand_as(logits), logits, reduce="amax")


def zero_shot_classify(query_emb: torch.Tensor, class_text_emb: ClassTexts, labels,
                       topk: Sequence[int] = (1, 5)) -> ZeroShotResult:
    """Top-k accuracy for each k of ``topk`` (top-1 always) and mean per-class recall."""
    return classify_logits(zero_shot_logits(query_emb, class_text_emb), labels, topk)


def classify_logits(logits: torch.Tensor, labels, topk: Sequence[int] = (1, 5)) -> ZeroShotResult:
    """``zero_shot_classify`` on scores already computed (``[N, C]``, higher is better)."""
    labels = torch.as_tensor(labels, dtype=torch.long, device=logits.device)
    n, c = logits.shape
    if labels.shape != (n,):
        raise InputError(f"{n} queries but labels of shape {list(labels.shape)}")
    if n == 0:
        raise InputError("zero-shot classification needs at least one query")
    if labels.min() < 0 or labels.max() >= c:
        raise InputError(f"labels must lie in [0, {c}) for {c} classes")
    ranked = logits.topk(min(max([1, *topk]), c), dim=1).indices
    hit = ranked == labels.unsqueeze(1)
    accuracy = {k: hit[:, :k].any(dim=1).float().mean().item() for k in topk}
    correct = hit[:, 0].float()
    present = labels.unique()
    # mean per-class recall: each class weighs the same, whatever its number of samples
    recall = torch.stack([correct[labels == k].mean() for k in present]).mean().item()
    return ZeroShotResult(top1=correct.mean().item(), mean_per_class_recall=recall, n=n, topk=accuracy)


def _average_precision(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Step-wise AP of one class: sum over thresholds of (R_i - R_{i-1}) * P_i."""
    order = torch.argsort(scores, descending=True)
    s, t = scores[order], target[order].float()
    tp = torch.cumsum(t, 0)
    fp = torch.cumsum(1 - t, 0)
    # only the last position of each run of tied scores is a threshold
    last = torch.ones_like(s, dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / t.sum()
    prev = torch.cat([recall.new_zeros(1), recall[:-1]])
    return ((recall - prev) * precision).sum()


def multilabel_map(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Macro mean average precision over classes that have at least one positive."""
    scores = torch.as_tensor(scores).float()
    targets = torch.as_tensor(targets).bool()
    if scores.shape != targets.shape or scores.dim() != 2:
        raise InputError(f"scores {list(scores.shape)} and targets {list(targets.shape)} must both be [N, C]")
    aps = [_average_precision(scores[:, c], targets[:, c]) for c in range(scores.shape[1]) if targets[:, c].any()]
    if not aps:
        raise InputError("multilabel_map: no class has a positive sample")
    return torch.stack(aps).mean().item()


def zero_shot_multilabel(query_emb: torch.Tensor, class_text_emb: ClassTexts, targets) -> MultiLabelResult:
    """mAP of zero-shot scores on a multi-label set (``targets`` boolean ``[N, C]``)."""
    scores = zero_shot_logits(query_emb, class_text_emb)
    return MultiLabelResult(multilabel_map(scores, targets), n=int(scores.shape[0]))
