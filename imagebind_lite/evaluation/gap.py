"""The modality gap: how far apart the modalities' embedding clouds sit, and its correction.

Measures (Liang et al. 2022, "Mind the Gap"): the distance between modality centroids and the
held-out accuracy of a linear probe separating modalities (pairwise and all at once). The
query-time correction subtracts each modality's centroid and renormalises (per-modality
centring); ``gap_correction`` reports the emergent matrix before and after it. Centroids
should come from a reference set; by default they are taken from the evaluated set itself
(transductive, which the report says).
"""
from __future__ import annotations

import itertools
from typing import Dict, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F

from .emergent import emergent_matrix
from .probe import linear_probe_accuracy
from .results import GapChange, GapCorrection, ModalityGap
from .zero_shot import ClassTexts


def modality_centroids(emb_by_modality: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {m: F.normalize(e.float(), dim=-1).mean(dim=0) for m, e in emb_by_modality.items()}


def center_embeddings(emb: torch.Tensor, centroid: torch.Tensor) -> torch.Tensor:
    """Subtract a modality's centroid, then renormalise (query-time gap correction)."""
    return F.normalize(F.normalize(emb.float(), dim=-1) - centroid, dim=-1)


def _pair_probe(a: torch.Tensor, b: torch.Tensor, seed: int) -> float:
    x = torch.cat([a, b])
    y = torch.cat([torch.zeros(len(a), dtype=torch.long), torch.ones(len(b), dtype=torch.long)])
    return linear_probe_accuracy(x, y, seed=seed)


def modality_gap(emb_by_modality: Mapping[str, torch.Tensor], max_per_modality: int = 1000,
                 seed: int = 0) -> ModalityGap:
    """Centroid norms and distances, and linear-probe separability (pairwise and joint)."""
    gen = torch.Generator().manual_seed(seed)
    # subsample: the probe only needs a few thousand points to tell two clouds apart
    emb = {m: F.normalize(e.float(), dim=-1)[torch.randperm(len(e), generator=gen)[:max_per_modality]]
           for m, e in emb_by_modality.items()}
    cents = modality_centroids(emb)
    pairs = list(itertools.combinations(emb, 2))
    gap = ModalityGap(centroid_norm={m: c.norm().item() for m, c in cents.items()},
                      centroid_distance={(a, b): (cents[a] - cents[b]).norm().item() for a, b in pairs},
                      probe_accuracy={(a, b): _pair_probe(emb[a], emb[b], seed) for a, b in pairs})
    if len(emb) > 2:
        mods = list(emb)
        labels = torch.cat([torch.full((len(emb[m]),), i, dtype=torch.long) for i, m in enumerate(mods)])
        gap.probe_accuracy_all = linear_probe_accuracy(torch.cat([emb[m] for m in mods]), labels, seed=seed)
    return gap


def _center_class_texts(class_text_emb: ClassTexts, centroid: torch.Tensor) -> ClassTexts:
    if isinstance(class_text_emb, torch.Tensor):
        return center_embeddings(class_text_emb, centroid)
    return [center_embeddings(torch.as_tensor(t), centroid) for t in class_text_emb]


def gap_correction(embeddings: Mapping[str, torch.Tensor], labels: Optional[Sequence[int]] = None,
                   class_text_emb: Optional[ClassTexts] = None,
                   centroids: Optional[Mapping[str, torch.Tensor]] = None, text: str = "text",
                   **matrix_kwargs) -> GapCorrection:
    """Emergent matrix before and after per-modality centring, with the per-cell change."""
    transductive = centroids is None
    cents = dict(centroids) if centroids is not None else modality_centroids(embeddings)
    if class_text_emb is not None and text not in cents:
        cents[text] = modality_centroids({text: class_prototypes_flat(class_text_emb)})[text]
    before = emergent_matrix(embeddings, labels, class_text_emb=class_text_emb, text=text, **matrix_kwargs)
    centred = {m: center_embeddings(e, cents[m]) for m, e in embeddings.items()}
    texts = None if class_text_emb is None else _center_class_texts(class_text_emb, cents[text])
    after = emergent_matrix(centred, labels, class_text_emb=texts, text=text, **matrix_kwargs)
    changes = [GapChange(b.query, b.gallery, b.metric, b.status, b.score, after.get(b.query, b.gallery, b.metric).score)
               for b in before.cells]
    return GapCorrection(before, after, changes, transductive_centroids=transductive)


def class_prototypes_flat(class_text_emb: ClassTexts) -> torch.Tensor:
    """All template embeddings as one ``[M, D]`` matrix (to estimate the text centroid)."""
    if isinstance(class_text_emb, torch.Tensor):
        return class_text_emb.reshape(-1, class_text_emb.shape[-1])
    return torch.cat([torch.as_tensor(t).reshape(-1, torch.as_tensor(t).shape[-1]) for t in class_text_emb])
