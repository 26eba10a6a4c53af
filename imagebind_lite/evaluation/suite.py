"""The whole evaluation on fixed embeddings: what ImageBind reports (Girdhar et al. 2023).

Instance retrieval between every pair of modalities (the emergent matrix), zero-shot
classification of every non-text modality against ensembled text prompts (CLIP's recipe,
Radford et al. 2021), the modality gap (Liang et al. 2022) and the matrix after per-modality
centring. Binned attributes (the synthetic world's tempo, which no image shows) get the same
zero-shot treatment, to probe how far binding through the image pivot reaches.

Pure: embeddings, labels and class-text embeddings in, an ``EvaluationResult`` out. Embedding
a manifest with a model is ``imagebind_lite.inference.evaluate``'s job.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import torch

from .emergent import DirectScores
from .gap import gap_correction, modality_gap
from .results import AttributeResult, EvaluationResult, ZeroShotResult
from .zero_shot import ClassTexts, zero_shot_classify

TEXT = "text"
RETRIEVAL_KS = (1, 5, 10)
ZERO_SHOT_KS = (1, 5)  # top-5 only where there are more than 5 classes (else it is trivially 1)


@dataclass
class AttributeTargets:
    """What one binned attribute is evaluated against."""

    column: str                    # where the bins came from (a manifest column)
    classes: List[str]             # bin words, in label order
    labels: torch.Tensor           # bin index per held-out row
    class_text: ClassTexts         # text embeddings of each bin's prompts


def zero_shot_by_modality(embeddings: Mapping[str, torch.Tensor], class_text: ClassTexts,
                          labels: torch.Tensor) -> Dict[str, ZeroShotResult]:
    """Zero-shot classification of every non-text modality against the class prompts."""
    num_classes = len(class_text)
    topk = tuple(k for k in ZERO_SHOT_KS if k == 1 or k < num_classes)
    return {m: zero_shot_classify(e, class_text, labels, topk=topk) for m, e in embeddings.items() if m != TEXT}


def evaluate_embeddings(embeddings: Mapping[str, torch.Tensor], labels: Optional[torch.Tensor] = None,
                        class_text: Optional[ClassTexts] = None, class_names: Sequence[str] = (),
                        attributes: Optional[Mapping[str, AttributeTargets]] = None,
                        trained_pairs: Optional[Iterable[Iterable[str]]] = None,
                        direct_scores: Optional[DirectScores] = None) -> EvaluationResult:
    """Every metric of one held-out set, where row i of every modality is instance i.

    ``labels`` + ``class_text``: zero-shot classification (skipped without labels).
    ``trained_pairs``: pairs trained together (default: every modality with vision); the others
    are emergent. ``direct_scores``: a direct baseline's scores, for emergent/direct ratios.
    """
    trained = None if trained_pairs is None else {frozenset(p) for p in trained_pairs}
    corr = gap_correction(embeddings, labels, class_text, trained_pairs=trained, direct_scores=direct_scores,
                          ks=RETRIEVAL_KS)
    modalities = list(embeddings)
    result = EvaluationResult(modalities=modalities, n_samples=int(next(iter(embeddings.values())).shape[0]),
                              classes=list(class_names), matrix=corr.before, gap_correction=corr,
                              gap=modality_gap(embeddings) if len(modalities) > 1 else None,
                              embeddings=embeddings)
    if labels is not None and class_text is not None:
        result.zero_shot = zero_shot_by_modality(embeddings, class_text, labels)
    if attributes:
        result.attributes = {
            name: AttributeResult(column=a.column, classes=list(a.classes), chance=1.0 / len(a.classes),
                                  zero_shot=zero_shot_by_modality(embeddings, a.class_text, a.labels))
            for name, a in attributes.items()}
    return result
