"""Evaluation on embeddings: zero-shot classification, retrieval, emergent matrix, modality gap.

Pure functions on L2-normalised torch tensors, independent of any model, so they test on fixed
embeddings and run on embeddings computed anywhere; each returns a typed result (``results``),
and ``report.write_report`` renders a whole ``EvaluationResult`` to metrics.json, report.md and
plots. ``benchmark`` lines benchmark results up beside the paper's figures. Evaluating a model
on a manifest: ``imagebind_lite.inference.evaluate_model``; on benchmarks: ``inference.run_benchmarks``.
References: CLIP prompt ensembling (Radford et al. 2021), ImageBind emergent zero-shot
(Girdhar et al. 2023), "Mind the Gap" (Liang et al. 2022).
"""
from .benchmark import BenchmarkResult, SummaryRow, summary_dict, summary_rows
from .emergent import EmergentCell, EmergentMatrix, default_trained_pairs, emergent_matrix
from .gap import center_embeddings, gap_correction, modality_centroids, modality_gap
from .probe import linear_probe_accuracy
from .report import (
    benchmark_markdown, load_direct_scores, matrix_markdown, report_markdown, write_benchmark_summary, write_report,
)
from .results import (
    AttributeResult, EvaluationResult, GapChange, GapCorrection, ModalityGap, MultiLabelResult, RetrievalResult,
    ZeroShotResult,
)
from .retrieval_metrics import bidirectional_retrieval, recall_at_k, relevance_from_ids, retrieval_metrics
from .suite import AttributeTargets, evaluate_embeddings
from .zero_shot import (
    class_prototypes, classify_logits, grouped_logits, multilabel_map, zero_shot_classify, zero_shot_logits,
    zero_shot_multilabel,
)

__all__ = [
    "AttributeResult", "AttributeTargets", "BenchmarkResult", "EmergentCell", "EmergentMatrix", "EvaluationResult",
    "GapChange", "GapCorrection", "ModalityGap", "MultiLabelResult", "RetrievalResult", "SummaryRow",
    "ZeroShotResult", "benchmark_markdown", "bidirectional_retrieval", "center_embeddings", "class_prototypes",
    "classify_logits", "default_trained_pairs", "emergent_matrix", "evaluate_embeddings", "gap_correction",
    "grouped_logits", "linear_probe_accuracy", "load_direct_scores", "matrix_markdown", "modality_centroids",
    "modality_gap", "multilabel_map", "recall_at_k", "relevance_from_ids", "report_markdown", "retrieval_metrics",
    "summary_dict", "summary_rows", "write_benchmark_summary", "write_report", "zero_shot_classify",
    "zero_shot_logits", "zero_shot_multilabel",
]
