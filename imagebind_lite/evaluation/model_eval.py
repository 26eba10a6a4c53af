"""Evaluating a model: embed a held-out manifest and class prompts, then run every metric.

The metric modules of this package work on fixed embeddings; this one feeds them from a
``MultiModalModel`` and a manifest in which row i of every modality column is one instance
(the synthetic world's ``eval/manifest.csv``, or any real multimodal test set). It measures
what ImageBind reports (Girdhar et al. 2023): instance retrieval between every pair of
modalities (the emergent matrix), zero-shot classification of every non-text modality against
ensembled text prompts (CLIP's recipe, Radford et al. 2021), and the modality gap (Liang et al.
2022) with per-modality centring. Attribute prompts (the world's tempo bins, which no image
shows) probe how far binding through the image pivot reaches.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch

from imagebind_lite.data.manifest import Manifest, read_manifest
from imagebind_lite.errors import InputError
from imagebind_lite.registry import get_modality
from imagebind_lite.atomic import atomic_write_text

from .gap import gap_correction, modality_gap
from .report import EvaluationResults, write_report
from .zero_shot import ClassTexts, zero_shot_classify

log = logging.getLogger(__name__)

TEXT = "text"
RETRIEVAL_KS = (1, 5, 10)
ZERO_SHOT_KS = (1, 5)  # top-5 only where there are more than 5 classes (else it is trivially 1)
ClassPrompts = Mapping[str, Sequence[str]]
AttributePrompts = Mapping[str, Tuple[str, ClassPrompts]]  # name -> (manifest column, {class: prompts})


# ----- embedding ------------------------------------------------------------------------
def _select_modalities(model, manifest: Manifest, modalities: Optional[Iterable[str]]) -> List[str]:
    if modalities is not None:
        wanted = list(modalities)
        missing = [m for m in wanted if m not in model.modalities]
        if missing:
            raise InputError(f"the model has no encoder for {missing}; it has {model.modalities}",
                             modality=missing[0])
        manifest.require(wanted)
        return wanted
    chosen = [m for m in model.modalities if m in manifest.columns]
    if not chosen:
        raise InputError(f"no manifest column matches a model modality; columns {manifest.columns}, "
                         f"model {model.modalities}", source=str(manifest.path))
    return chosen


def _embed_rows(model, manifest: Manifest, modalities: Sequence[str], batch_size: int,
                progress: bool) -> Dict[str, torch.Tensor]:
    items = {m: [manifest.item(i, m, get_modality(m).strings_are_data) for i in range(len(manifest))]
             for m in modalities}
    return model.embed(items, batch_size=batch_size, progress=progress)


def embed_manifest(model, manifest_path, modalities: Optional[Iterable[str]] = None, batch_size: int = 64,
                   progress: bool = True) -> Tuple[Dict[str, torch.Tensor], torch.Tensor, List[str]]:
    """``({modality: [N, D]}, labels [N], ids)``; row i of every modality is sample i.

    Modalities: every manifest column the model has an encoder for, or exactly ``modalities``.
    Labels are -1 where the manifest has none.
    """
    manifest = read_manifest(manifest_path)
    mods = _select_modalities(model, manifest, modalities)
    embeddings = _embed_rows(model, manifest, mods, batch_size, progress)
    labels = torch.tensor([manifest.label(i) for i in range(len(manifest))], dtype=torch.long)
    return embeddings, labels, [manifest.sample_id(i) for i in range(len(manifest))]


def embed_class_prompts(model, class_prompts: ClassPrompts, batch_size: int = 64) -> ClassTexts:
    """Text embeddings of every prompt: ``[C, T, D]``, or a list of ``[T_c, D]`` when counts differ."""
    if TEXT not in model.modalities:
        raise InputError(f"zero-shot prompts need a text encoder; the model has {model.modalities}", modality=TEXT)
    counts = [len(p) for p in class_prompts.values()]
    if not counts or min(counts) == 0:
        raise InputError("every class needs at least one prompt", modality=TEXT)
    flat = [str(p) for prompts in class_prompts.values() for p in prompts]
    emb = model.embed({TEXT: flat}, batch_size=batch_size)[TEXT]
    if len(set(counts)) == 1:
        return emb.reshape(len(counts), counts[0], emb.shape[-1])
    return list(torch.split(emb, counts))


# ----- prompt and baseline files --------------------------------------------------------
def _read_json(path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read JSON ({exc})", source=str(path)) from exc


def _check_prompts(prompts: Any, source: str) -> Dict[str, List[str]]:
    if not isinstance(prompts, Mapping) or not prompts:
        raise InputError("prompts must be a non-empty JSON object {class_name: [prompt, ...]}", source=source)
    out = {}
    for name, values in prompts.items():
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise InputError(f"class {name!r}: prompts must be a non-empty list of strings", source=source)
        out[str(name)] = values
    return out


def load_class_prompts(path) -> Dict[str, List[str]]:
    """Class name -> prompts, in label order, from a world.json or a plain ``{class: [prompts]}`` JSON."""
    data = _read_json(path)
    if isinstance(data, Mapping) and "class_names" in data and "prompts" in data:
        missing = [c for c in data["class_names"] if c not in data["prompts"]]
        if missing:
            raise InputError(f"world file has no prompts for classes {missing}", source=str(path))
        data = {c: data["prompts"][c] for c in data["class_names"]}  # label order = class_names order
    return _check_prompts(data, str(path))


def load_attribute_prompts(path) -> Dict[str, Tuple[str, Dict[str, List[str]]]]:
    """``{attribute: (manifest column, {bin word: prompts})}`` from a world.json; ``{}`` otherwise."""
    data = _read_json(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("attribute_prompts"), Mapping):
        return {}
    return {name: (name, _check_prompts(prompts, f"{path}:{name}"))
            for name, prompts in data["attribute_prompts"].items()}


def load_direct_scores(path) -> Dict[Tuple[str, str], Dict[str, float]]:
    """Direct-baseline scores from its ``metrics.json`` (an emergent matrix) or a plain
    ``{"query|gallery": {metric: score} or R@1}`` JSON."""
    data = _read_json(path)
    if isinstance(data, Mapping) and isinstance(data.get("emergent_matrix"), Mapping):
        out: Dict[Tuple[str, str], Dict[str, float]] = {}
        for cell in data["emergent_matrix"].get("cells", []):
            out.setdefault((cell["query"], cell["gallery"]), {})[cell["metric"]] = float(cell["score"])
        return out
    if not isinstance(data, Mapping) or not all(isinstance(k, str) and k.count("|") == 1 for k in data):
        raise InputError("direct scores must be a metrics.json or {\"query|gallery\": scores}", source=str(path))
    return {tuple(k.split("|")): (v if isinstance(v, Mapping) else {"R@1": float(v)}) for k, v in data.items()}


# ----- labels ---------------------------------------------------------------------------
def _class_labels(manifest: Manifest, class_names: Sequence[str]) -> Optional[torch.Tensor]:
    """Manifest labels in the prompts' class order; None when the manifest has no labels."""
    labels = torch.tensor([manifest.label(i) for i in range(len(manifest))], dtype=torch.long)
    if manifest.class_names:  # string labels: map by name, not by first-seen order
        index = {name: i for i, name in enumerate(class_names)}
        unknown = sorted(set(manifest.class_names) - set(index))
        if unknown:
            raise InputError(f"manifest labels {unknown} have no prompts", source=str(manifest.path))
        lookup = torch.tensor([index[n] for n in manifest.class_names], dtype=torch.long)
        labels = torch.where(labels >= 0, lookup[labels.clamp(min=0)], labels)
    if (labels < 0).all():
        return None
    if (labels < 0).any() or int(labels.max()) >= len(class_names):
        raise InputError(f"labels must lie in [0, {len(class_names)}) for every row (one per class prompt)",
                         source=str(manifest.path))
    return labels


def _attribute_labels(manifest: Manifest, column: str, classes: Sequence[str]) -> torch.Tensor:
    """A binned attribute column: integer bins, or the bin words themselves."""
    manifest.require([column])
    out = []
    for i, row in enumerate(manifest.rows):
        value = str(row.get(column, "")).strip()
        if value in classes:
            bin_ = classes.index(value)
        else:
            bin_ = int(value) if value.lstrip("-").isdigit() else -1
        if not 0 <= bin_ < len(classes):
            raise InputError(f"row {i}: {column}={value!r} is not one of {len(classes)} bins {list(classes)}",
                             modality=column, source=str(manifest.path))
        out.append(bin_)
    return torch.tensor(out, dtype=torch.long)


# ----- evaluation -----------------------------------------------------------------------
def _zero_shot(embeddings: Mapping[str, torch.Tensor], class_text: ClassTexts,
               labels: torch.Tensor) -> Dict[str, Dict[str, float]]:
    num_classes = len(class_text)
    topk = tuple(k for k in ZERO_SHOT_KS if k == 1 or k < num_classes)
    return {m: zero_shot_classify(e, class_text, labels, topk=topk) for m, e in embeddings.items() if m != TEXT}


def _attributes(model, manifest: Manifest, embeddings, attribute_prompts: AttributePrompts) -> Dict[str, Any]:
    out = {}
    for name, (column, prompts) in attribute_prompts.items():
        classes = list(prompts)
        labels = _attribute_labels(manifest, column, classes)
        texts = embed_class_prompts(model, prompts)
        out[name] = {"column": column, "classes": classes, "chance": 1.0 / len(classes),
                     "zero_shot": _zero_shot(embeddings, texts, labels)}
    return out


def evaluate_model(model, manifest_path, class_prompts: Optional[ClassPrompts], out_dir=None,
                   trained_pairs: Optional[Iterable[Iterable[str]]] = None,
                   direct_scores: Optional[Mapping] = None,
                   attribute_prompts: Optional[AttributePrompts] = None,
                   progress: bool = True) -> EvaluationResults:
    """Embed ``manifest_path`` (and the prompts) with ``model`` and compute every metric.

    ``results.matrix``: R@1/5/10 for every ordered pair of modalities plus zero-shot top-1 of
    every non-text modality; ``results.gap`` / ``results.gap_correction``: the modality gap and
    the matrix after per-modality centring; ``results.extra["zero_shot"][modality]``: top1,
    top5, mean per-class recall; ``results.extra["attributes"][name]``: the same per binned
    attribute. With ``out_dir``: metrics.json, report.md and plots are written there.
    """
    manifest = read_manifest(manifest_path)
    mods = _select_modalities(model, manifest, None)
    embeddings = _embed_rows(model, manifest, mods, 64, progress)
    labels = class_text = None
    if class_prompts:
        labels = _class_labels(manifest, list(class_prompts))
        class_text = embed_class_prompts(model, class_prompts)
        if labels is None:
            log.warning("%s has no labels: zero-shot classification is skipped", manifest.path)
    trained = None if trained_pairs is None else {frozenset(p) for p in trained_pairs}
    corr = gap_correction(embeddings, labels, class_text, trained_pairs=trained, direct_scores=direct_scores,
                          ks=RETRIEVAL_KS)
    extra: Dict[str, Any] = {"manifest": str(manifest.path), "n_samples": len(manifest), "modalities": mods,
                             "classes": list(class_prompts or [])}
    if labels is not None:
        extra["zero_shot"] = _zero_shot(embeddings, class_text, labels)
    if attribute_prompts:
        extra["attributes"] = _attributes(model, manifest, embeddings, attribute_prompts)
    results = EvaluationResults(matrix=corr["before"], gap=modality_gap(embeddings) if len(mods) > 1 else None,
                                gap_correction=corr, embeddings=embeddings, extra=extra)
    if out_dir is not None:
        write_evaluation(out_dir, results)
    return results


# ----- summaries ------------------------------------------------------------------------
def zero_shot_markdown(results: EvaluationResults) -> str:
    """Zero-shot classification (classes and attributes) as Markdown tables; "" when there is none."""
    sections = []
    if results.extra.get("zero_shot"):
        sections.append(_zero_shot_table("Zero-shot classification (text prompts)", results.extra["zero_shot"]))
    for name, attr in results.extra.get("attributes", {}).items():
        title = f"Attribute zero-shot: {name} ({', '.join(attr['classes'])}; chance {attr['chance']:.3f})"
        sections.append(_zero_shot_table(title, attr["zero_shot"]))
    return "\n\n".join(sections)


def _opt(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.3f}"


def _zero_shot_table(title: str, by_modality: Mapping[str, Mapping[str, float]]) -> str:
    lines = [f"## {title}", "", "| modality | top-1 | top-5 | mean per-class recall | n |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {m} | {r['top1']:.3f} | {_opt(r.get('top5'))} | {r['mean_per_class_recall']:.3f} | {r['n']} |"
              for m, r in by_modality.items()]
    return "\n".join(lines)


def write_evaluation(out_dir, results: EvaluationResults) -> Dict[str, Path]:
    """``write_report`` plus the zero-shot tables appended to report.md; returns the file paths."""
    paths = write_report(out_dir, results)
    extra = zero_shot_markdown(results)
    if extra:
        report = Path(paths["report"])
        atomic_write_text(report, report.read_text(encoding="utf-8") + "\n" + extra + "\n")
    return paths


def summary_lines(results: EvaluationResults) -> List[str]:
    """A few lines for a terminal: zero-shot top-1 per modality and mean R@1 by cell status."""
    lines = []
    for m, r in results.extra.get("zero_shot", {}).items():
        lines.append(f"zero-shot {m:<8} top1 {r['top1']:.3f}  top5 {_opt(r.get('top5'))}  "
                     f"mean-per-class {r['mean_per_class_recall']:.3f}")
    for name, attr in results.extra.get("attributes", {}).items():
        tops = ", ".join(f"{m} {r['top1']:.3f}" for m, r in attr["zero_shot"].items())
        lines.append(f"attribute {name} top1 (chance {attr['chance']:.3f}): {tops}")
    if results.matrix is not None:
        for status in ("trained", "emergent"):
            cells = [c for c in results.matrix.cells if c.metric == "R@1" and c.status == status]
            ratios = [c.ratio for c in cells if c.ratio is not None]
            if cells:
                line = f"R@1 {status:<8} mean {sum(c.score for c in cells) / len(cells):.3f} over {len(cells)} pairs"
                if ratios:
                    line += f"; vs direct baseline x{sum(ratios) / len(ratios):.3f}"
                lines.append(line)
    return lines
