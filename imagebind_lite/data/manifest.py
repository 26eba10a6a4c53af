"""Manifests: one row per sample, one column per modality.

A manifest is a CSV file (header row) or a JSONL file (one JSON object per line). Each
modality column holds a file path relative to the manifest's directory, except the ``text``
column (and any modality whose strings are data), which holds the text itself. Optional
columns: ``id`` (defaults to the row number) and ``label`` (an int, or a class name mapped to
an index in first-seen order). Other columns are kept as metadata and ignored by training.

Several positives for one anchor (several captions or clips of one image), in either form:

- rows that name the same anchor *file* (the COCO / Flickr30k layout: one row per caption,
  the image path repeated), CSV or JSONL;
- in JSONL, a list in the X cell: ``{"vision": "img/1.jpg", "text": ["a dog", "a puppy"]}``.

``positive_groups`` turns either into one group per anchor; the id and label of a group are
its first row's. Text anchors (strings that are the data) are never grouped by equal text:
two short identical captions of different clips are different samples, not one anchor.

Reference: the manifest conventions of open_clip's CsvDataset and WebDataset-free loaders.
Manifests are UTF-8: a file that is not names the first line that fails to decode.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

from imagebind_lite.atomic import atomic_path
from imagebind_lite.errors import InputError

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".json")


@dataclass
class Manifest:
    """Rows of one manifest file, with paths resolvable against its directory."""

    path: Path                      # the manifest file itself
    rows: List[Dict[str, Any]]      # one dict per sample, as read (strings for CSV)
    columns: List[str]              # column names in file order
    class_names: List[str] = field(default_factory=list)  # label names when labels were strings

    @property
    def root(self) -> Path:
        """Directory that relative paths in the manifest are relative to."""
        return self.path.parent

    def __len__(self) -> int:
        return len(self.rows)

    def require(self, modalities: Sequence[str]) -> None:
        """Raise ``InputError`` naming the manifest if a modality column is missing."""
        missing = [m for m in modalities if m not in self.columns]
        if missing:
            raise InputError(f"manifest has no column(s) {missing}; columns: {self.columns}",
                             modality=missing[0], source=str(self.path))

    def sample_id(self, index: int) -> str:
        row = self.rows[index]
        value = row.get("id")
        return str(value) if value not in (None, "") else f"{self.path.stem}-{index:08d}"

    def label(self, index: int) -> int:
        """The row's integer label, or -1 when the manifest has none."""
        value = self.rows[index].get("label")
        return -1 if value in (None, "") else int(value)

    def item(self, index: int, modality: str, strings_are_data: bool = False, element: Optional[int] = None) -> Any:
        """What the modality's transform takes: the text itself, or an absolute path.
        ``element`` picks one value of a list cell (several positives in one JSONL row)."""
        value = self.rows[index].get(modality)
        if isinstance(value, list):
            if element is None or not 0 <= element < len(value):
                raise InputError(f"row {index} holds {len(value)} {modality!r} values; name one (element={element})",
                                 modality=modality, source=str(self.path))
            value = value[element]
        if value in (None, ""):
            raise InputError(f"row {index} has no {modality!r} value", modality=modality, source=str(self.path))
        if strings_are_data:
            return str(value)
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else self.root / path


@dataclass(frozen=True)
class Positive:
    """One positive of an anchor: a row, and the position in its list cell (None: a plain cell)."""

    row: int
    element: Optional[int] = None


def positive_groups(manifest: Manifest, anchor: str, column: str, anchor_is_file: bool = True) -> List[List[Positive]]:
    """The ``column`` positives of each distinct anchor, groups in first-seen order.

    Rows whose ``anchor`` cell names the same file (paths compared after joining to the
    manifest's directory and normalising) form one group; a list in a ``column`` cell adds
    one positive per element. Anchors that are not files (text) group only by list cells.
    """
    groups: List[List[Positive]] = []
    by_anchor: Dict[str, int] = {}
    for row_index, row in enumerate(manifest.rows):
        cell = row.get(column)
        positives = ([Positive(row_index, k) for k in range(len(cell))] if isinstance(cell, list)
                     else [Positive(row_index)])
        if not positives:
            raise InputError(f"row {row_index} has an empty list of {column!r} values", modality=column,
                             source=str(manifest.path))
        key = _anchor_key(manifest, row.get(anchor)) if anchor_is_file else None
        if key is not None and key in by_anchor:
            groups[by_anchor[key]].extend(positives)
            continue
        if key is not None:
            by_anchor[key] = len(groups)
        groups.append(positives)
    return groups


def _anchor_key(manifest: Manifest, value: Any) -> Optional[str]:
    if value in (None, "") or isinstance(value, list):
        return None  # reported when the row is read, with the file name
    path = os.path.expanduser(str(value))
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(str(manifest.root), path))


def read_manifest(path, modalities: Optional[Sequence[str]] = None) -> Manifest:
    """Read a CSV or JSONL manifest; ``modalities`` are required columns."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError("manifest not found", source=str(path))
    suffix = path.suffix.lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise InputError(f"unsupported manifest type {suffix!r}; expected one of {MANIFEST_SUFFIXES}",
                         source=str(path))
    try:
        rows, columns = _read_csv(path) if suffix == ".csv" else _read_jsonl(path)
    except UnicodeDecodeError as exc:
        raise InputError(f"{_undecodable_line(path)} is not UTF-8 ({exc.reason}); save the manifest as UTF-8",
                         source=str(path)) from None
    if not rows:
        raise InputError("manifest has no rows", source=str(path))
    manifest = Manifest(path=path.resolve(), rows=rows, columns=columns)
    manifest.class_names = _normalise_labels(manifest)
    if modalities:
        manifest.require(modalities)
    return manifest


def _undecodable_line(path: Path) -> str:
    """``"line N"``: the first line of ``path`` that is not valid UTF-8."""
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return f"line {number}"
    return "the file"


def _read_csv(path: Path):
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise InputError("manifest has no header row", source=str(path))
        rows = [dict(row) for row in reader]
        return rows, list(reader.fieldnames)


def _read_jsonl(path: Path):
    rows, columns = [], {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"line {number} is not valid JSON: {exc}", source=str(path)) from exc
            if not isinstance(row, dict):
                raise InputError(f"line {number} is not a JSON object", source=str(path))
            rows.append(row)
            columns.update(dict.fromkeys(row))
    return rows, list(columns)


def _normalise_labels(manifest: Manifest) -> List[str]:
    """Integer labels stay; string labels become indices in first-seen order (names kept)."""
    if "label" not in manifest.columns:
        return []
    values = [row.get("label") for row in manifest.rows]
    try:
        for row, value in zip(manifest.rows, values):
            row["label"] = -1 if value in (None, "") else int(value)
        return []
    except (TypeError, ValueError):
        names = list(dict.fromkeys(str(v) for v in values if v not in (None, "")))
        index = {name: i for i, name in enumerate(names)}
        for row, value in zip(manifest.rows, values):
            row["label"] = -1 if value in (None, "") else index[str(value)]
        return names


def write_manifest_csv(path, columns: Sequence[str], rows: Iterable[Dict[str, Any]]) -> None:
    """Rows -> a CSV manifest, written atomically (a half manifest is never left for a loader)."""
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns))
            writer.writeheader()
            writer.writerows(rows)
