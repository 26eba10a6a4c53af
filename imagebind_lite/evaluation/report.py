"""Writing an evaluation to a directory: metrics.json, report.md and plots, all atomically.

``results`` is an ``EvaluationResults`` (or a dict with the same keys). Tensors are kept out
of the JSON; the embeddings only feed the projection plot.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

import torch

from imagebind_lite.atomic import atomic_write_text

from .emergent import EmergentMatrix
from .plots import plot_emergent_heatmap, plot_modality_pca


@dataclass
class EvaluationResults:
    matrix: Optional[EmergentMatrix] = None            # the emergent matrix of the evaluated model
    gap: Optional[Dict[str, Any]] = None               # modality_gap(...) output
    gap_correction: Optional[Dict[str, Any]] = None    # gap_correction(...) output
    embeddings: Optional[Mapping[str, torch.Tensor]] = None  # for the PCA plot only (not in JSON)
    extra: Dict[str, Any] = field(default_factory=dict)  # any further JSON-able metrics


def _fmt(x: Optional[float]) -> str:
    return "" if x is None else f"{x:.3f}"


def matrix_markdown(matrix: EmergentMatrix) -> str:
    lines = ["| query | gallery | metric | status | score | direct | emergent/direct |",
             "|---|---|---|---|---:|---:|---:|"]
    for c in matrix.cells:
        lines.append(f"| {c.query} | {c.gallery} | {c.metric} | {c.status} | {_fmt(c.score)} | "
                     f"{_fmt(c.direct)} | {_fmt(c.ratio)} |")
    return "\n".join(lines)


def _gap_markdown(gap: Mapping[str, Any]) -> str:
    lines = ["| pair | centroid distance | probe accuracy |", "|---|---:|---:|"]
    for pair, dist in gap["centroid_distance"].items():
        lines.append(f"| {pair.replace('|', ' / ')} | {dist:.3f} | {gap['probe_accuracy'][pair]:.3f} |")
    if "probe_accuracy_all" in gap:
        lines.append(f"\nAll modalities at once: linear probe accuracy {gap['probe_accuracy_all']:.3f}.")
    return "\n".join(lines)


def _correction_markdown(corr: Mapping[str, Any]) -> str:
    lines = ["| query | gallery | metric | status | before | after |", "|---|---|---|---|---:|---:|"]
    lines += [f"| {c['query']} | {c['gallery']} | {c['metric']} | {c['status']} | {c['before']:.3f} | "
              f"{c['after']:.3f} |" for c in corr["changes"]]
    if corr.get("transductive_centroids"):
        lines.append("\nCentroids estimated on the evaluated set itself (transductive).")
    return "\n".join(lines)


def _to_json(results: EvaluationResults) -> Dict[str, Any]:
    out: Dict[str, Any] = dict(results.extra)
    if results.matrix is not None:
        out["emergent_matrix"] = results.matrix.to_dict()
    if results.gap is not None:
        out["modality_gap"] = results.gap
    if results.gap_correction is not None:
        corr = results.gap_correction
        out["gap_correction"] = {"changes": corr["changes"],
                                 "transductive_centroids": corr.get("transductive_centroids")}
    return out


def write_report(out_dir, results: Union[EvaluationResults, Mapping[str, Any]]) -> Dict[str, Path]:
    """Write metrics.json, report.md and the plots that the results allow; returns their paths."""
    if not isinstance(results, EvaluationResults):
        results = EvaluationResults(**results)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": atomic_write_text(out_dir / "metrics.json", json.dumps(_to_json(results), indent=2))}
    sections: List[str] = ["# Evaluation report"]
    if results.matrix is not None:
        sections += ["## Emergent matrix", matrix_markdown(results.matrix)]
        if "R@1" in results.matrix.metrics:
            paths["heatmap"] = plot_emergent_heatmap(results.matrix, out_dir / "emergent_matrix.png")
            sections.append("![emergent matrix](emergent_matrix.png)")
    if results.gap is not None:
        sections += ["## Modality gap", _gap_markdown(results.gap)]
    if results.gap_correction is not None:
        sections += ["## Gap correction (per-modality centring)", _correction_markdown(results.gap_correction)]
    if results.embeddings:
        paths["projection"] = plot_modality_pca(results.embeddings, out_dir / "modality_gap_pca.png")
        sections.append("![embedding clouds](modality_gap_pca.png)")
    paths["report"] = atomic_write_text(out_dir / "report.md", "\n\n".join(sections) + "\n")
    return paths
