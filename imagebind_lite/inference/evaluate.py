"""Evaluating a model on a held-out manifest: embed it and the prompts, score, render.

The glue between the layers that each do one job: the manifest is embedded here
(``inference.manifest``), labels and prompts are parsed by ``data.prompts``, every metric is a
pure function of the embeddings (``evaluation.suite``), and ``evaluation.report`` writes
metrics.json, report.md and the plots.
"""
from __future__ import annotations

import logging
from typing import Dict, Iterable, Mapping, Optional

from imagebind_lite.data.manifest import read_manifest
from imagebind_lite.data.prompts import AttributePrompts, ClassPrompts, attribute_labels, class_labels
from imagebind_lite.evaluation.report import write_report
from imagebind_lite.evaluation.results import EvaluationResult
from imagebind_lite.evaluation.suite import AttributeTargets, evaluate_embeddings

from .manifest import embed_class_prompts, embed_manifest_rows, select_modalities

log = logging.getLogger(__name__)


def _attribute_targets(model, manifest, attribute_prompts: AttributePrompts) -> Dict[str, AttributeTargets]:
    out = {}
    for name, (column, prompts) in attribute_prompts.items():
        classes = list(prompts)
        labels = attribute_labels(manifest, column, classes)  # before embedding: a bad row fails fast
        out[name] = AttributeTargets(column, classes, labels, embed_class_prompts(model, prompts))
    return out


def evaluate_model(model, manifest_path, class_prompts: Optional[ClassPrompts], out_dir=None,
                   trained_pairs: Optional[Iterable[Iterable[str]]] = None,
                   direct_scores: Optional[Mapping] = None,
                   attribute_prompts: Optional[AttributePrompts] = None,
                   progress: bool = True) -> EvaluationResult:
    """Embed ``manifest_path`` (and the prompts) with ``model`` and compute every metric.

    Every manifest column the model has an encoder for is evaluated. Without labels in the
    manifest, zero-shot classification is skipped. With ``out_dir``: metrics.json, report.md
    and plots are written there (``evaluation.report.write_report``).
    """
    manifest = read_manifest(manifest_path)
    modalities = select_modalities(model, manifest)
    embeddings = embed_manifest_rows(model, manifest, modalities, progress=progress)
    labels = class_text = None
    if class_prompts:
        labels = class_labels(manifest, list(class_prompts))
        class_text = embed_class_prompts(model, class_prompts)
        if labels is None:
            log.warning("%s has no labels: zero-shot classification is skipped", manifest.path)
    attributes = _attribute_targets(model, manifest, attribute_prompts) if attribute_prompts else None
    result = evaluate_embeddings(embeddings, labels, class_text, class_names=list(class_prompts or []),
                                 attributes=attributes, trained_pairs=trained_pairs, direct_scores=direct_scores)
    result.manifest = str(manifest.path)
    if out_dir is not None:
        write_report(out_dir, result)
    return result
