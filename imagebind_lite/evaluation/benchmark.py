"""Benchmark scores beside the paper's: one typed result per benchmark and variant, and the
summary table that lines them up.

A ``BenchmarkResult`` holds what one benchmark measured under one preprocessing variant, as the
typed result of its metric (``ZeroShotResult`` for top-k, ``MultiLabelResult`` for mAP, a
``RetrievalResult`` per direction for R@k), with the paper's figures that ``benchmark.json``
carries. ``summary_rows`` turns any number of them into one table: a row per metric, measured
and paper figures in percent, the difference in percentage points (measured minus paper).
Rendering is ``report.benchmark_markdown`` / ``report.write_benchmark_summary``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from .results import MultiLabelResult, RetrievalResult, ZeroShotResult

PERCENT = 100.0
TEXT = "text"
Scores = Union[ZeroShotResult, MultiLabelResult, Mapping[str, RetrievalResult]]


@dataclass
class BenchmarkResult:
    """One benchmark measured under one preprocessing variant."""

    benchmark: str                 # the adapter's name ("esc50", "clotho", ...)
    title: str                     # what is measured, in words
    task: str                      # "classification", "multilabel" or "retrieval"
    modality: str                  # the modality scored against text
    variant: str                   # the preprocessing variant's name
    scores: Scores                 # the metric's typed result (retrieval: one per direction)
    metrics: List[str] = field(default_factory=list)  # metric keys benchmark.json names
    paper: Dict[str, float] = field(default_factory=dict)  # metric key -> the paper's figure, percent
    paper_source: str = ""         # where the paper's figures come from
    data_overrides: Dict[str, Any] = field(default_factory=dict)  # what the variant changed in the data config
    directory: str = ""            # the adapter's output directory

    def measured(self) -> Dict[str, float]:
        """Metric key -> measured value, as a fraction in [0, 1]."""
        if isinstance(self.scores, ZeroShotResult):
            return {"top1": self.scores.top1, **{f"top{k}": v for k, v in self.scores.topk.items()}}
        if isinstance(self.scores, MultiLabelResult):
            return {"mAP": self.scores.mean_average_precision}
        return {f"{direction} R@{k}": v for direction, r in self.scores.items() for k, v in r.recall.items()}

    def count(self, key: str) -> int:
        """How many queries a metric averages over."""
        if isinstance(self.scores, (ZeroShotResult, MultiLabelResult)):
            return self.scores.n
        return self.scores[key.split(" ")[0]].n_queries

    def to_dict(self) -> Dict[str, Any]:
        scores = (self.scores.to_dict() if isinstance(self.scores, (ZeroShotResult, MultiLabelResult))
                  else {direction: r.to_dict() for direction, r in self.scores.items()})
        return {"benchmark": self.benchmark, "title": self.title, "task": self.task, "modality": self.modality,
                "variant": self.variant, "data_overrides": dict(self.data_overrides), "directory": self.directory,
                "scores": scores, "paper": dict(self.paper), "paper_source": self.paper_source}


@dataclass
class SummaryRow:
    """One line of the summary table; figures in percent, the difference in percentage points."""

    benchmark: str
    variant: str
    pair: str                      # query modality -> gallery modality ("audio->text")
    metric: str                    # "top1", "mAP", "R@1", ...
    measured: Optional[float]      # None where the metric could not be measured (top-5 of 5 classes)
    paper: Optional[float]         # None where the paper gives no figure
    n: int                         # queries behind the measured figure

    @property
    def difference(self) -> Optional[float]:
        return None if self.measured is None or self.paper is None else self.measured - self.paper

    def to_dict(self) -> Dict[str, Any]:
        return {"benchmark": self.benchmark, "variant": self.variant, "pair": self.pair, "metric": self.metric,
                "measured": self.measured, "paper": self.paper, "difference": self.difference, "n": self.n}


def _pair_and_metric(result: BenchmarkResult, key: str):
    if result.task == "retrieval":  # keys read "text->audio R@1"
        pair, _, metric = key.partition(" ")
        return pair, metric
    return f"{result.modality}->{TEXT}", key


def summary_rows(results: Sequence[BenchmarkResult]) -> List[SummaryRow]:
    """A row for every metric benchmark.json names and every metric the paper reports."""
    rows = []
    for result in results:
        measured = result.measured()
        for key in dict.fromkeys([*result.metrics, *result.paper]):
            pair, metric = _pair_and_metric(result, key)
            value = measured.get(key)
            rows.append(SummaryRow(result.benchmark, result.variant, pair, metric,
                                   None if value is None else value * PERCENT, result.paper.get(key),
                                   result.count(key) if value is not None else 0))
    return rows


def summary_dict(results: Sequence[BenchmarkResult], model: Optional[str] = None) -> Dict[str, Any]:
    """The ``summary.json`` form: the table's rows and every result in full."""
    sources = list(dict.fromkeys(r.paper_source for r in results if r.paper_source))
    return {"format": 1, "model": model, "unit": "percent", "difference": "measured - paper, percentage points",
            "paper_model": "imagebind_huge", "paper_sources": sources,
            "rows": [row.to_dict() for row in summary_rows(results)],
            "results": [r.to_dict() for r in results]}
