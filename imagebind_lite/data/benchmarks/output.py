"""What an adapter writes: ``manifest.csv``, ``prompts.json`` (classification tasks) and
``benchmark.json``, the small machine-readable description an evaluation step reads.

``benchmark.json`` (``format`` 1) holds the catalogue entry (task, metric keys, the paper's
figures and their source, preprocessing variants), the files and the columns that matter:
- classification: ``label`` holds one class name per row (a key of prompts.json);
- multilabel: ``labels`` holds class names joined by ``separator``; the metric is mAP over classes;
- retrieval: one row per caption; ``text`` holds the caption, the modality column the clip, and
  rows sharing ``id`` share a clip (R@k in both directions, relevance by equal ids);
plus ``class_groups`` where one class is scored as the best of several names (NYU-D's "others"),
and ``data``: the release directory, counts, options and what was left out and why.
Paths in the manifest are relative to it, so the output directory can move as a whole.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from imagebind_lite.atomic import atomic_write_text
from imagebind_lite.data.manifest import write_manifest_csv
from imagebind_lite.errors import InputError

from .catalogue import CLASSIFICATION, MULTILABEL, RETRIEVAL, BenchmarkSpec
from .common import class_prompts

FORMAT = 1
LABEL_SEPARATOR = ";"
MANIFEST, PROMPTS, BENCHMARK = "manifest.csv", "prompts.json", "benchmark.json"


@dataclass
class Written:
    """Paths and counts of one adapter run."""

    out_dir: Path
    manifest: Path
    prompts: Optional[Path]
    benchmark: Path
    n_samples: int
    classes: List[str] = field(default_factory=list)


@dataclass
class Collected:
    """What an adapter gathered: rows (column -> value; ``Path`` values are files), classes in
    label order, the prompt templates, and facts for ``benchmark.json``'s ``data``."""

    rows: List[Dict[str, Any]]
    classes: List[str] = field(default_factory=list)
    templates: Sequence[str] = ()
    facts: Dict[str, Any] = field(default_factory=dict)
    class_groups: Dict[str, Any] = field(default_factory=dict)
    prompts: Optional[Dict[str, List[str]]] = None  # when a class has prompts of several names


def columns_for(spec: BenchmarkSpec, modality: str) -> Dict[str, str]:
    if spec.task == CLASSIFICATION:
        return {"id": "id", "label": "label", "input": modality}
    if spec.task == MULTILABEL:
        return {"id": "id", "labels": "labels", "separator": LABEL_SEPARATOR, "input": modality}
    return {"group": "id", "query": "text", "gallery": modality}


def write_benchmark(out_dir, spec: BenchmarkSpec, modality: str, collected: Collected, root,
                    options: Optional[Mapping[str, Any]] = None) -> Written:
    """Write the three files (atomically each) and return their paths."""
    if not collected.rows:
        raise InputError(f"no {spec.name} samples to write (every row was left out)", modality=modality)
    prompts = None
    if spec.task != RETRIEVAL:  # a bad template fails before anything is written
        prompts = dict(class_prompts(collected.classes, collected.templates))
        prompts.update(collected.prompts or {})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = columns_for(spec, modality)
    header = [c for c in ("id", "label", "labels", modality, "text") if c in columns.values()]
    header += [c for c in collected.rows[0] if c not in header]
    base = out_dir.resolve()
    records = ({k: _relative(v, base) for k, v in row.items()} for row in collected.rows)
    write_manifest_csv(out_dir / MANIFEST, header, records)
    if prompts is not None:
        atomic_write_text(out_dir / PROMPTS, json.dumps(prompts, indent=1, ensure_ascii=False) + "\n")
    description = spec.to_json()
    if spec.modality == "any":
        description["modality"] = modality
    description.update({
        "format": FORMAT, "files": {"manifest": MANIFEST, "prompts": PROMPTS if prompts is not None else None},
        "columns": columns, "prompts_source": spec.templates_source if prompts is not None else None,
        "class_groups": collected.class_groups,
        "data": {"root": str(Path(root).resolve()), "n_samples": len(collected.rows),
                 "n_classes": len(collected.classes), "options": _jsonable(options or {}),
                 **_jsonable(collected.facts)},
    })
    atomic_write_text(out_dir / BENCHMARK, json.dumps(description, indent=1, ensure_ascii=False) + "\n")
    return Written(out_dir, out_dir / MANIFEST, out_dir / PROMPTS if prompts is not None else None,
                   out_dir / BENCHMARK, len(collected.rows), list(collected.classes))


def load_benchmark(path) -> Dict[str, Any]:
    """Read a ``benchmark.json`` (or the directory holding one); file entries become absolute paths."""
    path = Path(path)
    path = path / BENCHMARK if path.is_dir() else path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read benchmark description ({exc})", source=str(path)) from exc
    missing = [k for k in ("format", "benchmark", "task", "metrics", "files", "columns", "paper") if k not in data]
    if missing or data.get("format") != FORMAT:
        raise InputError(f"not a format-{FORMAT} benchmark description (missing {missing or 'a known format'})",
                         source=str(path))
    data["files"] = {k: (None if v is None else str(path.parent / v)) for k, v in data["files"].items()}
    return data


def _relative(value: Any, base: Path) -> Any:
    if isinstance(value, Path):
        return Path(os.path.relpath(value.resolve(), base)).as_posix()
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
