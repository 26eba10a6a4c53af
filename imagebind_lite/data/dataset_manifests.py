"""Manifests + class prompts for labelled datasets already on disk, ready for ``evaluate``.

Two layouts:
- ``folders``: one sub-directory per class (ImageNet / torchvision ``ImageFolder`` style), files
  of one modality inside (searched recursively, by the modality's registered extensions);
- ``esc50``: the ESC-50 release (Piczak 2015; ``meta/esc50.csv`` + ``audio/*.wav``), the audio
  zero-shot benchmark ImageBind reports (66.9 top-1 for ImageBind-huge), optionally some folds.

Each writes ``manifest.csv`` (``id,label,<modality>``, paths relative to the manifest) and
``prompts.json`` (``{class: [prompt, ...]}`` in label order) into the output directory, so
``imagebind-lite evaluate --model M --manifest OUT/manifest.csv --prompts OUT/prompts.json``
follows. Class names become prompts with underscores as spaces ("church_bells" -> "church bells").
"""
from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from imagebind_lite.atomic import atomic_write_text
from imagebind_lite.data.manifest import write_manifest_csv
from imagebind_lite.errors import InputError

logger = logging.getLogger(__name__)
DEFAULT_TEMPLATES = ("a {}.",)
ESC50_COLUMNS = ("filename", "fold", "target", "category")


def class_prompts(class_names: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES) -> Dict[str, List[str]]:
    """``{class: [template.format(readable name)]}``; every template needs exactly one ``{}``."""
    bad = [t for t in templates if t.count("{}") != 1]
    if bad or not templates:
        raise InputError(f"each prompt template needs exactly one '{{}}' for the class name, got {list(bad or templates)}")
    return {name: [t.format(name.replace("_", " ").strip()) for t in templates] for name in class_names}


def folder_manifest(root, out_dir, modality: str, templates: Sequence[str] = DEFAULT_TEMPLATES) -> Tuple[Path, Path]:
    """``root/<class>/**/<file>`` -> manifest + prompts; classes in sorted order (as ImageFolder)."""
    from imagebind_lite.registry import get_modality

    root, out_dir = Path(root), Path(out_dir)
    extensions = tuple(e.lower() for e in get_modality(modality).extensions)
    if not root.is_dir():
        raise InputError(f"dataset directory {root} does not exist", modality=modality)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    rows = []
    for name in classes:
        files = sorted(p for p in (root / name).rglob("*") if p.is_file() and p.suffix.lower() in extensions)
        rows += [(f"{name}/{p.relative_to(root / name).as_posix()}", name, p) for p in files]
    if not rows:
        raise InputError(f"no {'/'.join(extensions)} files under class folders of {root}", modality=modality)
    labelled = {row[1] for row in rows}
    if len(labelled) < len(classes):
        logger.warning("class folders without %s files are left out: %s", modality,
                       ", ".join(name for name in classes if name not in labelled))
    classes = [name for name in classes if name in labelled]
    return _write(out_dir, modality, rows, classes, templates)


def esc50_manifest(root, out_dir, folds: Optional[Iterable[int]] = None,
                   templates: Sequence[str] = ("this is a sound of {}.",)) -> Tuple[Path, Path]:
    """The ESC-50 release directory -> manifest + prompts (50 classes in ``target`` order)."""
    root, out_dir = Path(root), Path(out_dir)
    meta = root / "meta" / "esc50.csv"
    if not meta.is_file():
        raise InputError(f"{meta} not found: pass the ESC-50 release directory (meta/esc50.csv, audio/)",
                         modality="audio")
    with open(meta, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ESC50_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"ESC-50 metadata lacks columns {missing}", modality="audio", source=str(meta))
        records = list(reader)
    by_target = {int(r["target"]): r["category"] for r in records}
    classes = [by_target[t] for t in sorted(by_target)]
    wanted = None if folds is None else {int(f) for f in folds}
    rows = [(Path(r["filename"]).stem, r["category"], root / "audio" / r["filename"])
            for r in records if wanted is None or int(r["fold"]) in wanted]
    if not rows:
        raise InputError(f"no ESC-50 clips in folds {sorted(wanted or [])}", modality="audio", source=str(meta))
    absent = [str(path) for _, _, path in rows if not path.is_file()]
    if absent:
        raise InputError(f"{len(absent)} ESC-50 clips listed in the metadata are missing, e.g. {absent[0]}",
                         modality="audio", source=str(meta))
    return _write(out_dir, "audio", rows, classes, templates)


def _write(out_dir: Path, modality: str, rows, classes: Sequence[str], templates) -> Tuple[Path, Path]:
    """rows: (id, class name, file path). Paths are stored relative to the manifest's directory."""
    prompts = class_prompts(classes, templates)  # a bad template fails before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path, prompts_path = out_dir / "manifest.csv", out_dir / "prompts.json"
    base = out_dir.resolve()
    records = ({"id": sample_id, "label": label, modality: Path(os.path.relpath(Path(path).resolve(), base)).as_posix()}
               for sample_id, label, path in rows)
    write_manifest_csv(manifest_path, ["id", "label", modality], records)
    atomic_write_text(prompts_path, json.dumps(prompts, indent=1, ensure_ascii=False) + "\n")
    return manifest_path, prompts_path
