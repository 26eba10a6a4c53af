"""The one renderer of an evaluation: metrics.json, report.md and the plots, from an
``EvaluationResult``, in one go, each file written atomically; and the benchmark summary
(summary.md + summary.json) from ``BenchmarkResult``s.

``metrics.json`` is ``EvaluationResult.to_dict()`` (its keys are a file format: see
``results.py``); ``load_direct_scores`` reads the part of it that a later evaluation takes back
as its direct baseline (``imagebind-lite evaluate --direct metrics.json``). Tensors stay out of
the JSON; the embeddings only feed the projection plot.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Collection, Dict, List, Mapping, Optional, Sequence, Tuple

from imagebind_lite.atomic import atomic_write_text
from imagebind_lite.data.prompts import read_json
from imagebind_lite.errors import InputError

from .benchmark import BenchmarkResult, summary_dict, summary_rows
from .emergent import EmergentMatrix
from .results import EvaluationResult, GapCorrection, ModalityGap, ZeroShotResult

HEATMAP, PROJECTION = "emergent_matrix.png", "modality_gap_pca.png"
SUMMARY_MD, SUMMARY_JSON = "summary.md", "summary.json"


def write_report(out_dir, result: EvaluationResult) -> Dict[str, Path]:
    """Write metrics.json, the plots the result allows and report.md; returns their paths
    (keys ``metrics``, ``heatmap``, ``projection``, ``report``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": atomic_write_text(out_dir / "metrics.json", json.dumps(result.to_dict(), indent=2))}
    heatmap = result.matrix is not None and "R@1" in result.matrix.metrics
    projection = bool(result.embeddings)
    if heatmap or projection:
        # matplotlib only when a plot is drawn: importing the metrics must not cost its import
        from .plots import plot_emergent_heatmap, plot_modality_pca

        if heatmap:
            paths["heatmap"] = plot_emergent_heatmap(result.matrix, out_dir / HEATMAP)
        if projection:
            paths["projection"] = plot_modality_pca(result.embeddings, out_dir / PROJECTION)
    paths["report"] = atomic_write_text(out_dir / "report.md", report_markdown(result, images=paths))
    return paths


def report_markdown(result: EvaluationResult, images: Collection[str] = ()) -> str:
    """The Markdown report; ``images``: which plots were written beside it (``"heatmap"``,
    ``"projection"``: the keys of ``write_report``'s answer)."""
    sections: List[str] = ["# Evaluation report"]
    if result.matrix is not None:
        sections += ["## Emergent matrix", matrix_markdown(result.matrix)]
        if "heatmap" in images:
            sections.append(f"![emergent matrix]({HEATMAP})")
    if result.gap is not None:
        sections += ["## Modality gap", _gap_markdown(result.gap)]
    if result.gap_correction is not None:
        sections += ["## Gap correction (per-modality centring)", _correction_markdown(result.gap_correction)]
    if "projection" in images:
        sections.append(f"![embedding clouds]({PROJECTION})")
    if result.zero_shot:
        sections.append(_zero_shot_table("Zero-shot classification (text prompts)", result.zero_shot))
    for name, attr in (result.attributes or {}).items():
        title = f"Attribute zero-shot: {name} ({', '.join(attr.classes)}; chance {attr.chance:.3f})"
        sections.append(_zero_shot_table(title, attr.zero_shot))
    return "\n\n".join(sections) + "\n"


def _fmt(x: Optional[float]) -> str:
    return "" if x is None else f"{x:.3f}"


def _dash(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.3f}"


def matrix_markdown(matrix: EmergentMatrix) -> str:
    lines = ["| query | gallery | metric | status | score | direct | emergent/direct |",
             "|---|---|---|---|---:|---:|---:|"]
    for c in matrix.cells:
        lines.append(f"| {c.query} | {c.gallery} | {c.metric} | {c.status} | {_fmt(c.score)} | "
                     f"{_fmt(c.direct)} | {_fmt(c.ratio)} |")
    return "\n".join(lines)


def _gap_markdown(gap: ModalityGap) -> str:
    lines = ["| pair | centroid distance | probe accuracy |", "|---|---:|---:|"]
    for pair, dist in gap.centroid_distance.items():
        lines.append(f"| {' / '.join(pair)} | {dist:.3f} | {gap.probe_accuracy[pair]:.3f} |")
    if gap.probe_accuracy_all is not None:
        lines.append(f"\nAll modalities at once: linear probe accuracy {gap.probe_accuracy_all:.3f}.")
    return "\n".join(lines)


def _correction_markdown(corr: GapCorrection) -> str:
    lines = ["| query | gallery | metric | status | before | after |", "|---|---|---|---|---:|---:|"]
    lines += [f"| {c.query} | {c.gallery} | {c.metric} | {c.status} | {c.before:.3f} | {c.after:.3f} |"
              for c in corr.changes]
    if corr.transductive_centroids:
        lines.append("\nCentroids estimated on the evaluated set itself (transductive).")
    return "\n".join(lines)


def _zero_shot_table(title: str, by_modality: Mapping[str, ZeroShotResult]) -> str:
    lines = [f"## {title}", "", "| modality | top-1 | top-5 | mean per-class recall | n |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {m} | {r.top1:.3f} | {_dash(r.top5)} | {r.mean_per_class_recall:.3f} | {r.n} |"
              for m, r in by_modality.items()]
    return "\n".join(lines)


def load_direct_scores(path) -> Dict[Tuple[str, str], Dict[str, float]]:
    """Direct-baseline scores from its ``metrics.json`` (the emergent matrix cells) or a plain
    ``{"query|gallery": {metric: score} or R@1}`` JSON."""
    data = read_json(path)
    if isinstance(data, Mapping) and isinstance(data.get("emergent_matrix"), Mapping):
        out: Dict[Tuple[str, str], Dict[str, float]] = {}
        for cell in data["emergent_matrix"].get("cells", []):
            out.setdefault((cell["query"], cell["gallery"]), {})[cell["metric"]] = float(cell["score"])
        return out
    if not isinstance(data, Mapping) or not all(isinstance(k, str) and k.count("|") == 1 for k in data):
        raise InputError("direct scores must be a metrics.json or {\"query|gallery\": scores}", source=str(path))
    return {tuple(k.split("|")): (v if isinstance(v, Mapping) else {"R@1": float(v)}) for k, v in data.items()}


def _figure(x: Optional[float], signed: bool = False) -> str:
    return "-" if x is None else (f"{x:+.1f}" if signed else f"{x:.1f}")


def benchmark_markdown(results: Sequence[BenchmarkResult]) -> str:
    """The summary table: every benchmark and variant, the paper's figure beside the measured one."""
    lines = ["| benchmark | variant | pair | metric | ImageBind-huge (paper) | measured | difference | n |",
             "|---|---|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r.benchmark} | {r.variant} | {r.pair} | {r.metric} | {_figure(r.paper)} | {_figure(r.measured)} | "
              f"{_figure(r.difference, signed=True)} | {r.n} |" for r in summary_rows(results)]
    lines += ["", "Percent; difference = measured - paper, in percentage points; '-' where the paper gives "
                  "no figure (or a metric cannot be measured)."]
    sources = dict.fromkeys(r.paper_source for r in results if r.paper_source)
    lines += [f"Paper figures: {source}." for source in sources]
    for r in results:
        if r.data_overrides:
            changes = ", ".join(f"{k}={v}" for k, v in r.data_overrides.items())
            lines.append(f"Variant {r.variant} of {r.benchmark}: {r.modality} data config with {changes}.")
    return "\n".join(lines) + "\n"


def write_benchmark_summary(out_dir, results: Sequence[BenchmarkResult], model: Optional[str] = None
                            ) -> Dict[str, Path]:
    """Write summary.md and summary.json (each atomically); returns their paths."""
    out_dir = Path(out_dir)
    summary = json.dumps(summary_dict(results, model), indent=2) + "\n"
    return {"json": atomic_write_text(out_dir / SUMMARY_JSON, summary),
            "markdown": atomic_write_text(out_dir / SUMMARY_MD, "# Benchmarks\n\n" + benchmark_markdown(results))}
