"""Typed results of the evaluation functions, and their JSON form.

Each metric function returns one of these dataclasses, so callers read fields (``r.top1``,
``result.zero_shot["audio"]``) that a type checker and a reader can follow, instead of string
keys into nested dicts. ``to_dict()`` gives the JSON form written to ``metrics.json``; its keys
are a file format that users' scripts and ``evaluate --direct`` read, so they stay as they are.
The emergent matrix (``EmergentMatrix``, ``EmergentCell``) lives in ``emergent.py``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

if TYPE_CHECKING:  # only for annotations: emergent.py itself returns the results defined here
    import torch

    from .emergent import EmergentMatrix

ModalityPair = Tuple[str, str]


def _pair_key(pair: ModalityPair) -> str:
    return "|".join(pair)  # the JSON form of a modality pair


@dataclass
class ZeroShotResult:
    """Zero-shot classification of one modality against class prompts."""

    top1: float                    # fraction of queries whose best class is the true one
    mean_per_class_recall: float   # top-1 recall averaged over classes (each class weighs the same)
    n: int                         # number of queries
    topk: Dict[int, float] = field(default_factory=dict)  # top-k accuracy for each k asked for

    @property
    def top5(self) -> Optional[float]:
        """Top-5 accuracy, or None where it was not measured (5 or fewer classes)."""
        return self.topk.get(5)

    def to_dict(self) -> Dict[str, Any]:
        return {**{f"top{k}": v for k, v in self.topk.items()},
                "mean_per_class_recall": self.mean_per_class_recall, "n": self.n}


@dataclass
class MultiLabelResult:
    """Zero-shot scores on a multi-label set."""

    mean_average_precision: float  # macro mAP over classes with at least one positive
    n: int                         # number of queries

    def to_dict(self) -> Dict[str, Any]:
        return {"mAP": self.mean_average_precision, "n": self.n}


@dataclass
class RetrievalResult:
    """Queries against a gallery: R@k, median rank, MRR and mAP."""

    recall: Dict[int, float]       # R@k for each k asked for
    median_rank: float             # median rank of the best-scored relevant item
    mrr: float                     # mean reciprocal rank
    mean_average_precision: Optional[float]  # None when skipped (``with_map=False``)
    n_queries: int                 # queries that have at least one relevant item
    n_skipped: int                 # queries without any, left out of every metric

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {f"R@{k}": v for k, v in self.recall.items()}
        out.update({"median_rank": self.median_rank, "MRR": self.mrr})
        if self.mean_average_precision is not None:
            out["mAP"] = self.mean_average_precision
        out.update({"n_queries": self.n_queries, "n_skipped": self.n_skipped})
        return out


@dataclass
class ModalityGap:
    """How far apart the modalities' embedding clouds sit ("Mind the Gap", Liang et al. 2022)."""

    centroid_norm: Dict[str, float]                 # |mean embedding| per modality
    centroid_distance: Dict[ModalityPair, float]    # between the centroids of each pair
    probe_accuracy: Dict[ModalityPair, float]       # a linear probe telling the pair apart
    probe_accuracy_all: Optional[float] = None      # one probe over all modalities (3 or more)

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "centroid_norm": dict(self.centroid_norm),
            "centroid_distance": {_pair_key(p): v for p, v in self.centroid_distance.items()},
            "probe_accuracy": {_pair_key(p): v for p, v in self.probe_accuracy.items()},
        }
        if self.probe_accuracy_all is not None:
            out["probe_accuracy_all"] = self.probe_accuracy_all
        return out


@dataclass
class GapChange:
    """One matrix cell before and after per-modality centring."""

    query: str
    gallery: str
    metric: str
    status: str                    # "trained" or "emergent"
    before: float
    after: float


@dataclass
class GapCorrection:
    """The emergent matrix before and after subtracting each modality's centroid."""

    before: EmergentMatrix
    after: EmergentMatrix
    changes: List[GapChange]
    transductive_centroids: bool   # centroids estimated on the evaluated set itself

    def to_dict(self) -> Dict[str, Any]:
        return {"changes": [asdict(c) for c in self.changes], "transductive_centroids": self.transductive_centroids}


@dataclass
class AttributeResult:
    """Zero-shot classification of a binned attribute (e.g. tempo: slow / steady / fast)."""

    column: str                    # the manifest column holding the bins
    classes: List[str]             # bin words, in label order
    chance: float                  # 1 / number of bins
    zero_shot: Dict[str, ZeroShotResult]  # per non-text modality

    def to_dict(self) -> Dict[str, Any]:
        return {"column": self.column, "classes": list(self.classes), "chance": self.chance,
                "zero_shot": {m: r.to_dict() for m, r in self.zero_shot.items()}}


@dataclass
class EvaluationResult:
    """Everything one evaluation measured. Fields left None were not measured (no labels, one
    modality...) and are left out of the JSON form."""

    modalities: List[str]                                 # evaluated modalities, in table order
    n_samples: int                                        # held-out rows (row i = instance i)
    classes: List[str] = field(default_factory=list)      # class names, in label order
    manifest: Optional[str] = None                        # where the rows came from
    zero_shot: Optional[Dict[str, ZeroShotResult]] = None  # per non-text modality
    attributes: Optional[Dict[str, AttributeResult]] = None  # per binned attribute
    matrix: Optional[EmergentMatrix] = None               # every ordered pair of modalities
    gap: Optional[ModalityGap] = None
    gap_correction: Optional[GapCorrection] = None
    embeddings: Optional[Mapping[str, torch.Tensor]] = field(default=None, repr=False)  # plots only

    def to_dict(self) -> Dict[str, Any]:
        """The ``metrics.json`` form (embeddings stay out)."""
        out: Dict[str, Any] = {}
        if self.manifest is not None:
            out["manifest"] = self.manifest
        out.update({"n_samples": self.n_samples, "modalities": list(self.modalities), "classes": list(self.classes)})
        if self.zero_shot is not None:
            out["zero_shot"] = {m: r.to_dict() for m, r in self.zero_shot.items()}
        if self.attributes is not None:
            out["attributes"] = {name: a.to_dict() for name, a in self.attributes.items()}
        if self.matrix is not None:
            out["emergent_matrix"] = self.matrix.to_dict()
        if self.gap is not None:
            out["modality_gap"] = self.gap.to_dict()
        if self.gap_correction is not None:
            out["gap_correction"] = self.gap_correction.to_dict()
        return out
