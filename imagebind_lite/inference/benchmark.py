"""Running benchmarks with a model: embed what an adapter's output lists, under a preprocessing
variant, and score it with the benchmark's own metric.

The pair is the paper's: the benchmark's modality against text, through the text encoder
(emergent for every modality but images). Classification: zero-shot top-1 (and top-5 with more
than 5 classes), a class group scoring as its best member; multi-label: mAP over classes;
retrieval: R@1/5/10 text->X (a caption's hit is its clip) and X->text (a clip's hit is any of
its captions). A variant's data-config overrides apply to the benchmark modality's transform
for that run only; the model is not changed. Prompts and captions are embedded once per
benchmark, whatever the number of variants. Reading the task is ``data.benchmarks.tasks``; the
metrics and the table are pure functions in ``evaluation``.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from imagebind_lite.data.benchmarks.tasks import (
    TEXT, BenchmarkTask, MultiLabelData, RetrievalData,
)
from imagebind_lite.errors import InputError
from imagebind_lite.evaluation.benchmark import BenchmarkResult
from imagebind_lite.evaluation.results import MultiLabelResult
from imagebind_lite.evaluation.retrieval_metrics import bidirectional_retrieval
from imagebind_lite.evaluation.zero_shot import classify_logits, grouped_logits, multilabel_map
from imagebind_lite.registry import get_modality

from .manifest import embed_class_prompts

log = logging.getLogger(__name__)


def check_encoders(model, tasks: Sequence[BenchmarkTask]) -> None:
    """Every benchmark's modality and text have an encoder in ``model``."""
    for task in tasks:
        missing = [m for m in task.modalities if m not in model.modalities]
        if missing:
            raise InputError(f"benchmark {task.name} ({task.directory}) scores {task.modality} against {TEXT} and "
                             f"needs a {' and a '.join(missing)} encoder; the model has {model.modalities}",
                             modality=missing[0])


class _Files(Dataset):
    def __init__(self, items: Sequence[Any], transform):
        self.items, self.transform = list(items), transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(self.items[index])


@torch.no_grad()
def embed_files(model, modality: str, items: Sequence[Any], data_overrides: Optional[Mapping[str, Any]] = None,
                batch_size: int = 64, num_workers: int = 0, progress: bool = True) -> torch.Tensor:
    """``[N, D]`` embeddings of ``items`` with the modality's transform built from the encoder's
    data config updated by ``data_overrides``; DataLoader workers decode files in parallel."""
    encoder = model.encoder(modality)
    spec = get_modality(modality)
    transform = spec.transform({**encoder.data_config, **dict(data_overrides or {})})
    loader = DataLoader(_Files(items, transform), batch_size=batch_size, num_workers=num_workers,
                        collate_fn=spec.collate)
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    try:
        chunks = [encoder(batch.to(device)).float().cpu()
                  for batch in tqdm(loader, desc=f"embed {modality}", disable=not progress, unit="batch")]
    finally:
        encoder.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0, encoder.config.embed_dim)


def _text(model, task: BenchmarkTask, batch_size: int, progress: bool):
    """Prompt prototypes (classification, multi-label) or caption embeddings (retrieval)."""
    data = task.data
    if isinstance(data, RetrievalData):
        return model.embed({TEXT: data.queries}, batch_size=batch_size, progress=progress)[TEXT]
    return embed_class_prompts(model, dict(enumerate(data.classes.prompts)), batch_size, progress=progress)


def _score(task: BenchmarkTask, embeddings: torch.Tensor, text):
    data = task.data
    if isinstance(data, RetrievalData):
        return bidirectional_retrieval(text, embeddings, data.query_groups, data.gallery_groups,
                                       names=(TEXT, task.modality))
    classes = data.classes
    logits = grouped_logits(embeddings, text, classes.owner, len(classes.class_names))
    if isinstance(data, MultiLabelData):
        return MultiLabelResult(multilabel_map(logits, data.targets), n=int(logits.shape[0]))
    # top-5 only where there are more than 5 classes (else it is trivially 1)
    topk = (1, 5) if len(classes.class_names) > 5 else (1,)
    return classify_logits(logits, data.labels, topk)


def _inputs(task: BenchmarkTask) -> List[Any]:
    data = task.data
    return data.gallery if isinstance(data, RetrievalData) else data.items


def run_benchmark(model, task: BenchmarkTask, variants: Sequence[Mapping[str, Any]], batch_size: int = 64,
                  num_workers: int = 0, progress: bool = True) -> List[BenchmarkResult]:
    """One ``BenchmarkResult`` per variant of ``task`` (variants as in benchmark.json)."""
    check_encoders(model, [task])
    inputs = _inputs(task)
    kind = "captions" if isinstance(task.data, RetrievalData) else "prompts"
    log.info("%s: %d %s inputs, %s variant(s) %s; embedding the %s", task.name, len(inputs), task.modality,
             len(variants), ", ".join(v["name"] for v in variants), kind)
    text = _text(model, task, batch_size, progress)
    results = []
    for variant in variants:
        overrides = dict(variant.get("data") or {})
        if overrides:
            log.info("%s, variant %s: %s data config with %s", task.name, variant["name"], task.modality, overrides)
        embeddings = embed_files(model, task.modality, inputs, overrides, batch_size, num_workers, progress)
        results.append(_result(task, variant["name"], overrides, _score(task, embeddings, text)))
    return results


def _result(task: BenchmarkTask, variant: str, overrides: Dict[str, Any], scores) -> BenchmarkResult:
    description = task.description
    paper = description.get("paper") or {}
    return BenchmarkResult(benchmark=task.name, title=str(description.get("title", task.name)), task=task.task,
                           modality=task.modality, variant=variant, scores=scores,
                           metrics=list(description.get("metrics") or []),
                           paper={k: float(v) for k, v in (paper.get("figures") or {}).items()},
                           paper_source=str(paper.get("source") or ""), data_overrides=overrides,
                           directory=str(task.directory))


def run_benchmarks(model, tasks: Sequence[BenchmarkTask], plans: Sequence[Sequence[Mapping[str, Any]]],
                   batch_size: int = 64, num_workers: int = 0, progress: bool = True) -> List[BenchmarkResult]:
    """Every task under its planned variants (``data.benchmarks.tasks.plan_variants``), checking
    the model's encoders for all of them before embedding anything."""
    check_encoders(model, tasks)
    results: List[BenchmarkResult] = []
    for task, variants in zip(tasks, plans):
        results += run_benchmark(model, task, variants, batch_size, num_workers, progress)
    return results
