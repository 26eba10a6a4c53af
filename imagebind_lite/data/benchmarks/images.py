"""Image classification sets: any class-folder tree, and ImageNet-1k validation.

``folders``: ROOT/<class>/**/<file> for any modality (torchvision ``ImageFolder`` style), classes
in sorted order.

``imagenet``: the ILSVRC-2012 validation set in either of its usual layouts:
- synset folders ROOT/<wnid>/*.JPEG (the layout torchvision's and timm's scripts make), with the
  class list from ``LOC_synset_mapping.txt`` (Kaggle's release: "n01440764 tench, Tinca tinca"
  per line, sorted by WordNet id) or ``imagenet_class_index.json`` (Keras/torchvision:
  {"0": ["n01440764", "tench"], ...}) in ROOT or its parent (or ``mapping``);
- the flat ``ILSVRC2012_val_00000001.JPEG`` ... files with the devkit (``devkit``, or
  ILSVRC2012_devkit_t12 in ROOT or its parent): ``data/ILSVRC2012_validation_ground_truth.txt``
  gives, line i, the ILSVRC2012_ID of image i, and ``data/meta.mat`` maps IDs to WordNet ids.
Classes are the 1000 leaf synsets in sorted-WordNet-id order (the index torchvision and CLIP
use). Names are CLIP's cleaned class names when all 1000 are present, else WordNet's first lemma.
"""
from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from imagebind_lite.errors import InputError

from .catalogue import get_benchmark
from .common import Listed, check_listed, class_prompts, first_existing, require_dir, unknown_class
from .output import Collected, Written, write_benchmark
from .templates import clip_imagenet_class_names

logger = logging.getLogger(__name__)
WNID = re.compile(r"^n\d{8}$")
IMAGENET_CLASSES = 1000
DEVKIT = "ILSVRC2012_devkit_t12"


def folder_manifest(root, out_dir, modality: str, templates: Optional[Sequence[str]] = None) -> Written:
    """``root/<class>/**/<file>`` -> manifest + prompts; classes in sorted order (as ImageFolder)."""
    from imagebind_lite.registry import get_modality

    root = require_dir(Path(root), "dataset directory", "pass ROOT/<class>/<files>", modality)
    extensions = tuple(e.lower() for e in get_modality(modality).extensions)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    rows = []
    for name in classes:
        files = sorted(p for p in (root / name).rglob("*") if p.is_file() and p.suffix.lower() in extensions)
        rows += [{"id": f"{name}/{p.relative_to(root / name).as_posix()}", "label": name, modality: p} for p in files]
    if not rows:
        raise InputError(f"no {'/'.join(extensions)} files under class folders of {root}", modality=modality)
    labelled = {row["label"] for row in rows}
    if len(labelled) < len(classes):
        logger.warning("class folders without %s files are left out: %s", modality,
                       ", ".join(name for name in classes if name not in labelled))
    spec = get_benchmark("folders")
    collected = Collected(rows, [c for c in classes if c in labelled], templates or spec.templates)
    return write_benchmark(out_dir, spec, modality, collected, root, {"modality": modality})


def imagenet_manifest(root, out_dir, devkit=None, mapping=None, class_names: str = "auto",
                      templates: Optional[Sequence[str]] = None, allow_missing: bool = False) -> Written:
    """ImageNet validation (synset folders + class list, or flat files + devkit) -> benchmark files."""
    root = require_dir(Path(root), "ImageNet validation directory", "pass the folder of validation images", "vision")
    if any(WNID.match(d.name) for d in root.iterdir() if d.is_dir()):
        synsets, words, listed, labels, layout = _synset_folders(root, mapping)
    else:
        synsets, words, listed, labels, layout = _devkit_layout(root, devkit)
    absent = set(check_listed(listed, "vision", allow_missing))
    names = _class_names(synsets, words, class_names)
    keys = _unique_keys(names)
    rows = [{"id": item.path.stem, "label": keys[label], "vision": item.path}
            for i, (item, label) in enumerate(zip(listed, labels)) if i not in absent]
    spec = get_benchmark("imagenet")
    templates = templates or spec.templates
    facts = {"layout": layout, "missing_left_out": len(absent), "wnids": list(synsets)}
    # a name two synsets share (CLIP's "missile", "sunglasses") keys its class with the WordNet id,
    # while its prompts still say the name
    shared = {keys[w]: class_prompts([names[w]], templates)[names[w]] for w in synsets if keys[w] != names[w]}
    collected = Collected(rows, [keys[w] for w in synsets], templates, facts, prompts=shared)
    return write_benchmark(out_dir, spec, "vision", collected, root, {"class_names": class_names})


def _unique_keys(names: Dict[str, str]) -> Dict[str, str]:
    counts = Counter(names.values())
    return {w: name if counts[name] == 1 else f"{name} ({w})" for w, name in names.items()}


def _synset_folders(root: Path, mapping) -> Tuple[List[str], Dict[str, str], List[Listed], List[str], str]:
    mapping = Path(mapping) if mapping else first_existing(
        d / n for d in (root, root.parent) for n in ("LOC_synset_mapping.txt", "imagenet_class_index.json"))
    if mapping is None or not mapping.is_file():
        raise InputError(f"synset folders in {root} need the class list: LOC_synset_mapping.txt or "
                         "imagenet_class_index.json in the folder or its parent (or --mapping)", modality="vision")
    words = _read_mapping(mapping)
    listed, labels = [], []
    for folder in sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")):
        if folder.name not in words:
            raise unknown_class(folder.name, words, f"folder {folder}", "vision")
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".jpeg", ".jpg", ".png"))
        listed += [Listed(p, f"folder {folder.name}") for p in files]
        labels += [folder.name] * len(files)
    return sorted(words), words, listed, labels, f"synset folders + {mapping.name}"


def _read_mapping(path: Path) -> Dict[str, str]:
    """WordNet id -> words, from LOC_synset_mapping.txt or imagenet_class_index.json."""
    if path.suffix.lower() == ".json":
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
            pairs = [entries[k] for k in sorted(entries, key=int)]
            return {str(w): str(n) for w, n in pairs}
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"expected {{\"0\": [\"n01440764\", \"tench\"], ...}} ({exc})", source=str(path)) from exc
    words = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        wnid, _, names = line.strip().partition(" ")
        if not line.strip():
            continue
        if not WNID.match(wnid):
            raise InputError(f"line {number}: expected '<wnid> <names>', got {line!r}", source=str(path))
        words[wnid] = names.strip()
    return words


def _devkit_layout(root: Path, devkit) -> Tuple[List[str], Dict[str, str], List[Listed], List[str], str]:
    devkit = Path(devkit) if devkit else first_existing([root / DEVKIT, root.parent / DEVKIT])
    hint = (f"pass a folder of synset sub-folders, or the flat validation images with the devkit "
            f"({DEVKIT}/ in the folder or its parent, or --devkit)")
    if devkit is None:
        raise InputError(f"no synset folders and no ILSVRC-2012 devkit for {root}: {hint}", modality="vision")
    truth, meta = devkit / "data" / "ILSVRC2012_validation_ground_truth.txt", devkit / "data" / "meta.mat"
    for path in (truth, meta):
        if not path.is_file():
            raise InputError(f"devkit file {path} not found: {hint}", modality="vision")
    by_id, words = _read_meta(meta)
    synsets = sorted(by_id.values())
    listed, labels = [], []
    for number, line in enumerate(truth.read_text(encoding="utf-8").split(), start=1):
        if not line.isdigit() or int(line) not in by_id:
            raise unknown_class(line, [str(i) for i in by_id], f"{truth.name} line {number}", "vision")
        listed.append(Listed(root / f"ILSVRC2012_val_{number:08d}.JPEG", f"{truth.name} line {number}"))
        labels.append(by_id[int(line)])
    return synsets, words, listed, labels, "flat files + devkit"


def _read_meta(path: Path) -> Tuple[Dict[int, str], Dict[str, str]]:
    """devkit meta.mat (MATLAB v5 struct array ``synsets``) -> (ILSVRC2012_ID -> WordNet id,
    WordNet id -> words) of the leaf synsets, the 1000 classes (inner nodes have children)."""
    from scipy.io import loadmat

    try:
        synsets = loadmat(str(path), squeeze_me=True)["synsets"]
        leaves = [s for s in synsets if int(s["num_children"]) == 0]
        return ({int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in leaves},
                {str(s["WNID"]): str(s["words"]) for s in leaves})
    except Exception as exc:  # not a devkit meta.mat: scipy and numpy raise many types
        raise InputError(f"cannot read the devkit's synsets ({type(exc).__name__}: {exc})", modality="vision",
                         source=str(path)) from exc


def _class_names(synsets: Sequence[str], words: Dict[str, str], choice: str) -> Dict[str, str]:
    if choice not in ("auto", "clip", "wordnet"):
        raise InputError(f"--class-names must be auto, clip or wordnet, got {choice!r}", modality="vision")
    if choice == "clip" or (choice == "auto" and len(synsets) == IMAGENET_CLASSES):
        if len(synsets) != IMAGENET_CLASSES:
            raise InputError(f"CLIP's class names cover the {IMAGENET_CLASSES} ILSVRC-2012 classes; "
                             f"this list has {len(synsets)}", modality="vision")
        return dict(zip(synsets, clip_imagenet_class_names()))
    return {w: words[w].split(",")[0].strip() or w for w in synsets}
