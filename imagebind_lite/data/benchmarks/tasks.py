"""An adapter's output read back as a task to score: what to embed, what counts as right, and
with which prompts, without any model.

``read_task(DIR)`` reads ``benchmark.json`` and the files beside it:
- classification: the input files, one class index per row, the class prompts;
- multilabel: the input files, a boolean ``[N, C]`` target matrix, the class prompts;
- retrieval: the captions (queries) with their clip ids, and each clip once (the gallery).
Prompts become prototypes: one per class, or one per member name of a class group (NYU-D's
"others", scored as its best member), each owned by its class. Everything that does not fit
(a label without prompts, a class count that disagrees with benchmark.json, a clip id naming
two files, a listed file that is gone) is an ``InputError`` naming the file, before any model
is loaded.

``plan_variants`` picks the preprocessing variants of several benchmarks from the names a user
asked for.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import torch

from imagebind_lite.data.manifest import Manifest, read_manifest
from imagebind_lite.data.prompts import class_labels, load_class_prompts
from imagebind_lite.errors import InputError

from .catalogue import CLASSIFICATION, MULTILABEL, RETRIEVAL
from .common import SHOWN_MISSING, readable
from .output import BENCHMARK, load_benchmark

ALL_VARIANTS = "all"
TEXT = "text"


@dataclass
class ClassPrototypes:
    """Class names in label order and the prompts of each prototype, with its owning class."""

    class_names: List[str]
    prompts: List[List[str]]        # one list of prompts per prototype
    owner: List[int]                # class index of each prototype


@dataclass
class ClassificationData:
    items: List[Path]               # one input file per row
    labels: torch.Tensor            # class index per row
    classes: ClassPrototypes


@dataclass
class MultiLabelData:
    items: List[Path]
    targets: torch.Tensor           # bool [N, C]
    classes: ClassPrototypes


@dataclass
class RetrievalData:
    queries: List[str]              # captions
    query_groups: List[str]         # the clip id of each caption
    gallery: List[Path]             # each clip once
    gallery_groups: List[str]       # the clip id of each gallery item


TaskData = Union[ClassificationData, MultiLabelData, RetrievalData]


@dataclass
class BenchmarkTask:
    """One adapter output directory, read and checked."""

    directory: Path
    description: Dict[str, Any]     # benchmark.json as read (file entries made absolute)
    data: TaskData

    @property
    def name(self) -> str:
        return str(self.description["benchmark"])

    @property
    def task(self) -> str:
        return str(self.description["task"])

    @property
    def modality(self) -> str:
        """The modality scored against text (retrieval: the gallery's)."""
        columns = self.description["columns"]
        return str(columns.get("input") or columns["gallery"])

    @property
    def modalities(self) -> List[str]:
        """The encoders a model needs for this benchmark."""
        return [self.modality, TEXT]

    @property
    def variants(self) -> List[Dict[str, Any]]:
        """Preprocessing variants (``name``, ``data``, ``source``); the first is the default."""
        return list(self.description.get("preprocessing") or [{"name": "preset", "data": {}, "source": ""}])


def read_task(directory) -> BenchmarkTask:
    """Read ``DIR/benchmark.json`` and the manifest (and prompts) it names."""
    directory = Path(directory)
    if not directory.exists():
        raise InputError("benchmark directory not found", source=str(directory))
    if not (directory / BENCHMARK).is_file() and not (directory.is_file() and directory.name == BENCHMARK):
        raise InputError(f"no {BENCHMARK} here: pass a directory written by `imagebind-lite manifest NAME ROOT OUT`",
                         source=str(directory))
    description = load_benchmark(directory)
    manifest = read_manifest(description["files"]["manifest"])
    task = description["task"]
    if task == CLASSIFICATION:
        classes = _prototypes(description, manifest)
        labels = class_labels(manifest, classes.class_names)
        if labels is None:
            raise InputError("a classification benchmark's manifest needs a label on every row",
                             source=str(manifest.path))
        data: TaskData = ClassificationData(_items(manifest, description["columns"]["input"]), labels, classes)
    elif task == MULTILABEL:
        classes = _prototypes(description, manifest)
        data = MultiLabelData(_items(manifest, description["columns"]["input"]),
                              _targets(manifest, description["columns"], classes.class_names), classes)
    elif task == RETRIEVAL:
        data = _retrieval(manifest, description["columns"])
    else:
        raise InputError(f"unknown task {task!r} (expected {CLASSIFICATION}, {MULTILABEL} or {RETRIEVAL})",
                         source=str(directory))
    return BenchmarkTask(directory.parent if directory.is_file() else directory, description, data)


def _items(manifest: Manifest, column: str) -> List[Path]:
    manifest.require([column])
    return _existing([manifest.item(i, column) for i in range(len(manifest))], column, manifest)


def _existing(paths: List[Path], modality: str, manifest: Manifest) -> List[Path]:
    """``paths``, once each is a file: an hour of embedding should not end at a missing one."""
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        shown = "; ".join(missing[:SHOWN_MISSING]) + (f"; and {len(missing) - SHOWN_MISSING} more"
                                                     if len(missing) > SHOWN_MISSING else "")
        raise InputError(f"{len(missing)} of {len(paths)} files the manifest lists are missing: {shown}",
                         modality=modality, source=str(manifest.path))
    return paths


def _prototypes(description: Mapping[str, Any], manifest: Manifest) -> ClassPrototypes:
    """Class prompts (one prototype per class, one per member name in a class group), checked
    against the class count benchmark.json records."""
    path = description["files"].get("prompts")
    if not path:
        raise InputError("benchmark.json names no prompts file", source=str(manifest.root / BENCHMARK))
    prompts = load_class_prompts(path)
    expected = description.get("data", {}).get("n_classes")
    if expected is not None and expected != len(prompts):
        raise InputError(f"benchmark.json records {expected} classes but prompts.json has {len(prompts)}: the "
                         "prompts do not belong to this benchmark (rerun `imagebind-lite manifest`)", source=str(path))
    groups = description.get("class_groups") or {}
    unknown = sorted(set(groups) - set(prompts))
    if unknown:
        raise InputError(f"class groups {unknown} are not classes of prompts.json", source=str(path))
    out = ClassPrototypes(list(prompts), [], [])
    for index, (name, texts) in enumerate(prompts.items()):
        chunks = _group_chunks(name, texts, groups[name], path) if name in groups else [texts]
        out.prompts += chunks
        out.owner += [index] * len(chunks)
    return out


def _group_chunks(name: str, texts: List[str], group: Mapping[str, Any], path) -> List[List[str]]:
    """A class group's prompts, written member after member with the same templates, split back
    into one prompt list per member name."""
    members = [str(m) for m in group.get("names", [])]
    if group.get("reduce", "max") != "max" or not members:
        raise InputError(f"class group {name!r}: expected member names and reduce 'max', got {dict(group)}",
                         source=str(path))
    if len(texts) % len(members):
        raise InputError(f"class group {name!r}: {len(texts)} prompts do not split evenly over its "
                         f"{len(members)} member names", source=str(path))
    size = len(texts) // len(members)
    chunks = [texts[i * size:(i + 1) * size] for i in range(len(members))]
    for member, chunk in zip(members, chunks):
        if not all(readable(member).lower() in text.lower() for text in chunk):
            raise InputError(f"class group {name!r}: the prompts of member {member!r} do not name it "
                             f"({chunk[0]!r}...): prompts.json is not in member order", source=str(path))
    return chunks


def _targets(manifest: Manifest, columns: Mapping[str, str], class_names: Sequence[str]) -> torch.Tensor:
    column, separator = columns["labels"], columns.get("separator", ";")
    manifest.require([column])
    index = {name: i for i, name in enumerate(class_names)}
    targets = torch.zeros(len(manifest), len(class_names), dtype=torch.bool)
    for row, values in enumerate(manifest.rows):
        names = [n.strip() for n in str(values.get(column) or "").split(separator) if n.strip()]
        if not names:
            raise InputError(f"row {row} ({manifest.sample_id(row)}) has no labels", source=str(manifest.path))
        unknown = [n for n in names if n not in index]
        if unknown:
            raise InputError(f"row {row} ({manifest.sample_id(row)}): labels {unknown} have no prompts",
                             source=str(manifest.path))
        targets[row, [index[n] for n in names]] = True
    return targets


def _retrieval(manifest: Manifest, columns: Mapping[str, str]) -> RetrievalData:
    group, query, gallery = columns["group"], columns["query"], columns["gallery"]
    manifest.require([group, query, gallery])
    clips: Dict[str, Path] = {}
    for row in range(len(manifest)):
        clip_id, path = str(manifest.rows[row][group]), manifest.item(row, gallery)
        if clips.setdefault(clip_id, path) != path:
            raise InputError(f"row {row}: {group} {clip_id!r} names two files ({clips[clip_id]} and {path})",
                             source=str(manifest.path))
    queries = [manifest.item(row, query, strings_are_data=True) for row in range(len(manifest))]
    gallery_items = _existing(list(clips.values()), gallery, manifest)
    return RetrievalData(queries, [str(r[group]) for r in manifest.rows], gallery_items, list(clips))


def plan_variants(tasks: Sequence[BenchmarkTask], requested: Optional[Sequence[str]]) -> List[List[Dict[str, Any]]]:
    """The variants to run for each task: its default when none is asked for; every one for
    ``all``; otherwise the asked-for names it has (its default when it has none of them). A
    name no task has is an error listing what each offers."""
    requested = list(requested or [])
    offered = {t.name: [v["name"] for v in t.variants] for t in tasks}
    known = {name for names in offered.values() for name in names} | {ALL_VARIANTS}
    unknown = [r for r in requested if r not in known]
    if unknown:
        listing = "; ".join(f"{name}: {', '.join(names)}" for name, names in offered.items())
        raise InputError(f"unknown preprocessing variant(s) {unknown}; available ({listing}) or '{ALL_VARIANTS}'")
    plans = []
    for t in tasks:
        if ALL_VARIANTS in requested:
            plans.append(t.variants)
            continue
        chosen = [v for v in t.variants if v["name"] in requested]
        plans.append(chosen or t.variants[:1])
    return plans
