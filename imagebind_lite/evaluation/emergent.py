"""The emergent matrix: every pair of modalities in one table, trained vs emergent.

ImageBind (Girdhar et al. 2023, Tables 2-4) reports "emergent" zero-shot results for pairs never
trained together (audio-text, depth-text...), which reach that space only through the frozen
image pivot. Here every ordered pair (query modality -> gallery modality) of one held-out set,
where row i of every modality is the same instance, gets retrieval scores, and every non-text
modality gets zero-shot top-1 against class prompts. Each cell is marked ``trained`` (the pair
was trained together: by default, pairs containing the pivot) or ``emergent``, with the score of
a direct baseline (the same encoders trained on that very pair) and the emergent/direct ratio.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from imagebind_lite.errors import InputError

from .retrieval_metrics import relevance_from_ids, retrieval_metrics
from .zero_shot import ClassTexts, zero_shot_classify

PairKey = Union[FrozenSet[str], Tuple[str, str]]
DirectScores = Mapping[PairKey, Union[float, Mapping[str, float]]]
ZERO_SHOT = "zero_shot_top1"


@dataclass
class EmergentCell:
    query: str                     # query modality
    gallery: str                   # gallery modality ("text" for zero-shot cells: class prompts)
    metric: str                    # "R@1", "R@5", ... or "zero_shot_top1"
    score: float                   # the measured value, in [0, 1]
    status: str                    # "trained" or "emergent"
    direct: Optional[float] = None  # the direct baseline's score, where one is given
    ratio: Optional[float] = None   # score / direct


@dataclass
class EmergentMatrix:
    modalities: List[str]          # query/gallery modalities, in table order
    cells: List[EmergentCell] = field(default_factory=list)

    @property
    def metrics(self) -> List[str]:
        return list(dict.fromkeys(c.metric for c in self.cells))

    def get(self, query: str, gallery: str, metric: str) -> Optional[EmergentCell]:
        return next((c for c in self.cells if (c.query, c.gallery, c.metric) == (query, gallery, metric)), None)

    def grid(self, metric: str) -> Tuple[List[str], List[str], torch.Tensor]:
        """``(row modalities, column modalities, [R, C] scores)``, NaN where no cell exists."""
        cells = [c for c in self.cells if c.metric == metric]
        rows = [m for m in self.modalities if any(c.query == m for c in cells)]
        cols = list(dict.fromkeys([m for m in self.modalities if any(c.gallery == m for c in cells)]
                                  + [c.gallery for c in cells]))
        out = torch.full((len(rows), len(cols)), float("nan"))
        for c in cells:
            out[rows.index(c.query), cols.index(c.gallery)] = c.score
        return rows, cols, out

    def scores(self) -> Dict[Tuple[str, str], Dict[str, float]]:
        """``{(query, gallery): {metric: score}}``: pass a direct model's matrix as ``direct_scores``."""
        out: Dict[Tuple[str, str], Dict[str, float]] = {}
        for c in self.cells:
            out.setdefault((c.query, c.gallery), {})[c.metric] = c.score
        return out

    def to_dict(self) -> dict:
        return {"modalities": self.modalities, "cells": [asdict(c) for c in self.cells]}


def _direct_for(direct: Optional[DirectScores], a: str, b: str, metric: str) -> Optional[float]:
    if not direct:
        return None
    value = direct.get((a, b), direct.get(frozenset((a, b))))
    if isinstance(value, Mapping):
        return value.get(metric)
    # a bare number is the pair's retrieval R@1 (the headline metric of a direct baseline)
    return float(value) if value is not None and metric == "R@1" else None


def _cell(a, b, metric, score, trained, direct) -> EmergentCell:
    status = "trained" if frozenset((a, b)) in trained else "emergent"
    base = _direct_for(direct, a, b, metric)
    ratio = score / base if base else None
    return EmergentCell(a, b, metric, float(score), status, base, ratio)


def _check_rows(embeddings: Mapping[str, torch.Tensor]) -> int:
    sizes = {m: int(e.shape[0]) for m, e in embeddings.items()}
    if len(set(sizes.values())) != 1:
        raise InputError(f"every modality needs the same held-out rows (row i = instance i); got {sizes}")
    return next(iter(sizes.values()))


def default_trained_pairs(modalities: Iterable[str], pivot: str = "vision") -> set:
    """ImageBind's recipe: every modality trained against the image pivot, nothing else."""
    return {frozenset((pivot, m)) for m in modalities if m != pivot}


def emergent_matrix(embeddings: Mapping[str, torch.Tensor], labels: Optional[Sequence[int]] = None,
                    trained_pairs: Optional[Iterable[FrozenSet[str]]] = None,
                    direct_scores: Optional[DirectScores] = None, class_text_emb: Optional[ClassTexts] = None,
                    pivot: str = "vision", text: str = "text", ks: Sequence[int] = (1,),
                    match: str = "instance") -> EmergentMatrix:
    """Scores of every ordered pair of modalities and zero-shot top-1 via text prompts.

    ``match="instance"``: row i of the gallery is the only positive of query i; ``"label"``:
    every gallery row with the query's label is a positive (needs ``labels``).
    """
    if match not in ("instance", "label") or (match == "label" and labels is None):
        raise InputError("match must be 'instance', or 'label' together with labels")
    n = _check_rows(embeddings)
    mods = list(embeddings)
    trained = set(trained_pairs) if trained_pairs is not None else default_trained_pairs(mods + [text], pivot)
    rel = torch.eye(n, dtype=torch.bool) if match == "instance" else relevance_from_ids(labels, labels)
    matrix = EmergentMatrix(mods)
    for a, b in itertools.permutations(mods, 2):
        result = retrieval_metrics(embeddings[a], embeddings[b], rel, ks=ks, with_map=False)
        matrix.cells.extend(_cell(a, b, f"R@{k}", result.recall[k], trained, direct_scores) for k in ks)
    if class_text_emb is not None and labels is not None:
        for m in mods:
            if m != text:
                top1 = zero_shot_classify(embeddings[m], class_text_emb, labels, topk=(1,)).top1
                matrix.cells.append(_cell(m, text, ZERO_SHOT, top1, trained, direct_scores))
    return matrix
