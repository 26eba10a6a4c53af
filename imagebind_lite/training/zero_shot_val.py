"""Zero-shot classification while validating, so that overfitting shows in ``fit``'s logs.

In-batch and whole-set retrieval say how well X finds its own paired image; what a user of an
emergent alignment cares about is X -> text prompts (ImageBind's emergent zero-shot): held-out
X embeddings classified against CLIP-style prompt ensembles (``evaluation.zero_shot``, the code
``imagebind-lite evaluate`` runs). The text side is, in this order: the text encoder trained in
this run, a frozen text companion, a text pivot, or a text encoder given only for validation
(``zero_shot_text``). For the text pair itself the queries are the pivot's images (CLIP's
image -> text zero-shot through the text encoder being trained).

With no text encoder, or no prompts, the honest number left is classification against the
held-out pivot embeddings' class centroids, logged under its own name
(``zero_shot_top1_pivot_centroids``). Each query's own paired pivot embedding is left out of
its class centroid, so the number cannot come from matching the instance itself.
"""
from __future__ import annotations

import json
import logging
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from imagebind_lite.errors import InputError
from imagebind_lite.evaluation.zero_shot import ClassTexts, classify_logits, zero_shot_classify
from imagebind_lite.inference.manifest import embed_class_prompts
from imagebind_lite.model import MultiModalModel
from imagebind_lite.training.build import load_encoder
from imagebind_lite.training.val_classes import ValClasses

log = logging.getLogger(__name__)

TEXT = "text"
ZERO_SHOT = "zero_shot_top1"
PIVOT_CENTROIDS = "zero_shot_top1_pivot_centroids"


def given_text_encoder(spec: Optional[str], embed_dim: int) -> Dict[str, torch.nn.Module]:
    """``{"text": encoder}`` for ``zero_shot_text`` (frozen), or ``{}``. Kept in a plain dict by the
    module, so it stays out of the state dict, checkpoints and the exported model."""
    if not spec:
        return {}
    encoder = load_encoder(spec, TEXT, None, embed_dim).requires_grad_(False).eval()
    if encoder.config.embed_dim != embed_dim:
        raise InputError(f"zero_shot_text embeds in {encoder.config.embed_dim} dimensions, the pivot in {embed_dim}",
                         modality=TEXT, source=str(spec))
    return {TEXT: encoder}


def text_encoder_of(module) -> Optional[Tuple[torch.nn.Module, bool]]:
    """(the text side for prompts, whether it changes during training), or None."""
    if TEXT in module.encoders:
        return module.encoders[TEXT], True
    if TEXT in module.frozen:
        return module.frozen[TEXT], False
    if module.pivot_modality == TEXT:
        return module.pivot, module.train_pivot
    given = module.zero_shot_text_encoder
    return (given.to(module.device), False) if given is not None else None


@torch.no_grad()
def pivot_centroid_logits(queries: torch.Tensor, pivot: torch.Tensor, labels: torch.Tensor,
                          num_classes: int) -> torch.Tensor:
    """``[N, C]`` cosine similarity of each query to each class's centroid of pivot embeddings,
    leaving query i's own pivot row out of its class centroid (-inf where a class has none)."""
    queries, pivot = F.normalize(queries.float(), dim=-1), F.normalize(pivot.float(), dim=-1)
    sums = pivot.new_zeros(num_classes, pivot.shape[1]).index_add_(0, labels, pivot)
    counts = torch.bincount(labels, minlength=num_classes)
    logits = queries @ F.normalize(sums, dim=-1).T
    rows = torch.arange(len(labels), device=labels.device)
    own = (queries * F.normalize(sums[labels] - pivot, dim=-1)).sum(dim=-1)
    logits[rows, labels] = torch.where(counts[labels] > 1, own, torch.full_like(own, float("-inf")))
    logits[:, counts == 0] = float("-inf")
    return logits


class ZeroShotValidation:
    """Scores one held-out pair set per call; caches the prompts' embeddings of a frozen text side."""

    def __init__(self) -> None:
        self._cache: Dict[Tuple[int, str], ClassTexts] = {}
        self._told = False

    def class_text(self, encoder: torch.nn.Module, prompts: Dict[str, list], changes: bool) -> ClassTexts:
        key = (id(encoder), json.dumps(prompts, sort_keys=True))
        if changes or key not in self._cache:
            self._cache.clear()  # one prompt set per run: keep only the latest
            self._cache[key] = embed_class_prompts(MultiModalModel({TEXT: encoder}), prompts)
        return self._cache[key]

    def metrics(self, module, modality: str, pivot: torch.Tensor, other: torch.Tensor, labels: torch.Tensor,
                classes: Optional[ValClasses]) -> Dict[str, float]:
        """``{metric name: top-1}`` for the pair ``modality`` (rows gathered from every process)."""
        labels = classes.to_classes(labels) if classes is not None else labels
        num_classes = len(classes.names) if classes is not None else int(labels.max()) + 1
        text = text_encoder_of(module)
        if text is not None and classes is not None and classes.prompts:
            queries = pivot if modality == TEXT else other
            class_text = self.class_text(text[0], classes.prompts, text[1])
            class_text = class_text.to(queries.device) if isinstance(class_text, torch.Tensor) else \
                [t.to(queries.device) for t in class_text]
            return {ZERO_SHOT: zero_shot_classify(queries, class_text, labels, topk=(1,)).top1}
        if not self._told:
            self._told = True
            log.info("zero-shot validation against %s: no %s; logged as val/<pair>/%s",
                     "pivot class centroids", "class prompts" if text is not None else "text encoder in this run "
                     "(zero_shot_text= gives one)", PIVOT_CENTROIDS)
        logits = pivot_centroid_logits(other, pivot, labels, num_classes)
        return {PIVOT_CENTROIDS: classify_logits(logits, labels, topk=(1,)).top1}
