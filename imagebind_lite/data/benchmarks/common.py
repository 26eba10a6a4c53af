"""Helpers every benchmark adapter shares: reading release metadata with row numbers, finding
the files a row names, and saying clearly which of them are missing."""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from imagebind_lite.errors import InputError

logger = logging.getLogger(__name__)
SHOWN_MISSING = 5  # missing files named in an error; the count says how many more


@dataclass(frozen=True)
class Listed:
    """A file a metadata row names, and that row (``where``: "meta/esc50.csv line 7")."""

    path: Path
    where: str


def require_file(path: Path, what: str, hint: str, modality: Optional[str] = None) -> Path:
    """``path`` if it is a file; otherwise an error saying what it is and how to get it."""
    if not Path(path).is_file():
        raise InputError(f"{what} not found: {path}; {hint}", modality=modality)
    return Path(path)


def require_dir(path: Path, what: str, hint: str, modality: Optional[str] = None) -> Path:
    if not Path(path).is_dir():
        raise InputError(f"{what} {path} does not exist; {hint}", modality=modality)
    return Path(path)


def first_existing(candidates: Iterable[Path]) -> Optional[Path]:
    return next((Path(c) for c in candidates if Path(c).exists()), None)


def check_listed(listed: Sequence[Listed], modality: str, allow_missing: bool) -> List[int]:
    """Indices of ``listed`` whose file is absent. An error naming them (file and metadata row)
    unless ``allow_missing``, where they are logged and the caller leaves them out (web-crawled
    sets such as AudioSet and VGGSound always lose some clips)."""
    absent = [i for i, item in enumerate(listed) if not item.path.is_file()]
    if not absent:
        return []
    shown = "; ".join(f"{listed[i].path} (listed in {listed[i].where})" for i in absent[:SHOWN_MISSING])
    more = f"; and {len(absent) - SHOWN_MISSING} more" if len(absent) > SHOWN_MISSING else ""
    message = f"{len(absent)} of {len(listed)} files listed in the metadata are missing: {shown}{more}"
    if not allow_missing:
        raise InputError(message + " (pass --allow-missing to leave them out)", modality=modality)
    logger.warning("%s; left out (--allow-missing)", message)
    return absent


def read_csv_rows(path: Path, required: Sequence[str], modality: str,
                  fieldnames: Optional[Sequence[str]] = None, comment: Optional[str] = None,
                  skip_initial_space: bool = False) -> List[Tuple[int, Dict[str, str]]]:
    """``[(line number, row)]`` of a release's CSV; ``fieldnames`` for header-less files,
    ``comment`` for files with commented preamble lines (AudioSet's segment lists)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        lines = ((n, line) for n, line in enumerate(handle, start=1) if not (comment and line.startswith(comment)))
        numbered = list(lines)
    reader = csv.DictReader((line for _, line in numbered), fieldnames=fieldnames,
                            skipinitialspace=skip_initial_space)
    names = [n.strip() for n in (reader.fieldnames or [])]
    missing = [c for c in required if c not in names]
    if missing:
        raise InputError(f"metadata lacks columns {missing}; it has {names}", modality=modality, source=str(path))
    rows = []
    for row in reader:
        number = numbered[reader.line_num - 1][0]
        clean = {str(k).strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k is not None}
        if any(clean.get(c) in (None, "") for c in required):
            raise InputError(f"line {number} has an empty value in {list(required)}: {row}", modality=modality,
                             source=str(path))
        rows.append((number, clean))
    return rows


class StemIndex:
    """Files under a directory by file-name stem (recursive), for releases whose clips the user
    fetched and named after their ids (``Y<ytid>.wav``, ``<ytid>_<start>.flac``, ...)."""

    def __init__(self, root: Path, extensions: Sequence[str]):
        wanted = {e.lower() for e in extensions}
        self.root = root
        self.by_stem: Dict[str, Path] = {}
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in wanted and path.is_file():
                self.by_stem.setdefault(path.stem, path)

    def find(self, stems: Iterable[str]) -> Optional[Path]:
        return next((self.by_stem[s] for s in stems if s in self.by_stem), None)

    def __len__(self) -> int:
        return len(self.by_stem)


def readable(name: str) -> str:
    """Class name as words: "church_bells" -> "church bells"."""
    return " ".join(name.replace("_", " ").split())


def class_prompts(class_names: Sequence[str], templates: Sequence[str]) -> Dict[str, List[str]]:
    """``{class: [template.format(readable name)]}``; every template needs exactly one ``{}``."""
    bad = [t for t in templates if t.count("{}") != 1]
    if bad or not templates:
        raise InputError(f"each prompt template needs exactly one '{{}}' for the class name, got {list(bad or templates)}")
    return {name: [t.format(readable(name)) for t in templates] for name in class_names}


def unknown_class(value: str, known: Iterable[str], where: str, modality: str) -> InputError:
    known = sorted(known)
    shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
    return InputError(f"unknown class {value!r} in {where}; known classes: {shown}", modality=modality)
