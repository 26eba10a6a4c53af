"""Manifests: one row per sample, one column per modality.

A manifest is a CSV file (header row) or a JSONL file (one JSON object per line). Each
modality column holds a file path relative to the manifest's directory, except the ``text``
column (and any modality whose strings are data), which holds the text itself. Optional
columns: ``id`` (defaults to the row number) and ``label`` (an int, or a class name mapped to
an index in first-seen order). Other columns are kept as metadata and ignored by training.

Reference: the manifest conventions of open_clip's CsvDataset and WebDataset-free loaders.
Manifests are UTF-8: a file that is not names the first line that fails to decode.
"""
from __future__ import annotations

import csv
import json
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

    def item(self, index: int, modality: str, strings_are_data: bool = False) -> Any:
        """What the modality's transform takes: the text itself, or an absolute path."""
        value = self.rows[index].get(modality)
        if value in (None, ""):
            raise InputError(f"row {index} has no {modality!r} value", modality=modality, source=str(self.path))
        if strings_are_data:
            return str(value)
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else self.root / path


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
