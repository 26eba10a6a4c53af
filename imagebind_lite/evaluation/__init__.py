"""Evaluation on embeddings: zero-shot classification, retrieval, emergent matrix, modality gap.

Pure functions on L2-normalised torch tensors, independent of any model, so they test on fixed
embeddings and run on embeddings computed anywhere. References: CLIP prompt ensembling (Radford
et al. 2021), ImageBind emergent zero-shot (Girdhar et al. 2023), "Mind the Gap" (Liang et al. 2022).
"""
from .emergent import EmergentCell, EmergentMatrix, default_trained_pairs, emergent_matrix
from .gap import center_embeddings, gap_correction, modality_centroids, modality_gap
from .probe import linear_probe_accuracy
from .report import EvaluationResults, matrix_markdown, write_report
from .retrieval_metrics import bidirectional_retrieval, recall_at_k, relevance_from_ids, retrieval_metrics
from .zero_shot import class_prototypes, multilabel_map, zero_shot_classify, zero_shot_logits, zero_shot_multilabel

__all__ = [
    "EmergentCell", "EmergentMatrix", "EvaluationResults", "bidirectional_retrieval", "center_embeddings",
    "class_prototypes", "default_trained_pairs", "emergent_matrix", "gap_correction", "linear_probe_accuracy",
    "matrix_markdown", "modality_centroids", "modality_gap", "multilabel_map", "recall_at_k", "relevance_from_ids",
    "retrieval_metrics", "write_report", "zero_shot_classify", "zero_shot_logits", "zero_shot_multilabel",
]
