"""LLVIP thermal, person vs background: crops built from the release's annotated boxes.

Release layout: ``infrared/test/<id>.jpg`` (and ``visible/``, ``infrared/train/``) with one
Pascal-VOC XML per image in ``Annotations/<id>.xml`` (``<object><name>person</name><bndbox>
<xmin/><ymin/><xmax/><ymax/></bndbox></object>``; every annotated object in LLVIP is a person).

ImageBind evaluates LLVIP as a binary zero-shot task on crops: people against background. How
the crops are made here (the paper gives no code, so this is our exact recipe):
- person crops: every annotated box of every test image, clipped to the image, from the
  infrared image; boxes narrower or lower than ``min_size`` pixels are left out;
- background crops: for each person crop, one box of the same width and height at a position
  drawn uniformly from the image (numpy ``default_rng`` seeded by ``seed`` and the image id,
  so the crops are reproducible) that overlaps no person box of that image; after 50 draws
  without such a position that person gets no background partner (counted in benchmark.json);
- crops are written as 8-bit grey PNGs under OUT/crops/{person,background}/<id>_<k>.png.
Both classes therefore come from the same images and share a size distribution, so box shape
gives nothing away.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from imagebind_lite.errors import InputError

from .catalogue import get_benchmark
from .common import Listed, check_listed, require_dir, unknown_class
from .output import Collected, Written, write_benchmark

Box = Tuple[int, int, int, int]  # xmin, ymin, xmax, ymax (pixels, max exclusive)
CLASSES = ("person", "background")
BACKGROUND_TRIES = 50


def llvip_manifest(root, out_dir, seed: int = 0, min_size: int = 8, templates: Optional[Sequence[str]] = None,
                   allow_missing: bool = False) -> Written:
    """LLVIP release -> thermal person / background crops + benchmark files."""
    root = Path(root)
    images_dir = require_dir(root / "infrared" / "test", "LLVIP infrared/test folder",
                             "pass the LLVIP release folder (infrared/, visible/, Annotations/)", "thermal")
    notes = require_dir(root / "Annotations", "LLVIP Annotations folder",
                        "pass the LLVIP release folder (infrared/, visible/, Annotations/)", "thermal")
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not images:
        raise InputError(f"no infrared test images in {images_dir}", modality="thermal")
    listed = [Listed(notes / f"{p.stem}.xml", f"infrared/test/{p.name}") for p in images]
    absent = set(check_listed(listed, "thermal", allow_missing))
    out_dir = Path(out_dir)
    rows, unpaired, small = [], 0, 0
    for i, (image_path, note) in enumerate(zip(images, listed)):
        if i in absent:
            continue
        with Image.open(image_path) as image:
            grey = image.convert("L")
        boxes, tiny = _person_boxes(note.path, grey.size, min_size)
        small += tiny
        rng = np.random.default_rng([seed, zlib.crc32(image_path.stem.encode())])
        for k, box in enumerate(boxes):
            rows.append(_crop_row(grey, box, out_dir, "person", f"{image_path.stem}_{k}"))
            background = _background_box(box, boxes, grey.size, rng)
            if background is None:
                unpaired += 1
                continue
            rows.append(_crop_row(grey, background, out_dir, "background", f"{image_path.stem}_{k}"))
    spec = get_benchmark("llvip")
    facts = {"test_images": len(images) - len(absent), "person_crops": sum(r["label"] == "person" for r in rows),
             "background_crops": sum(r["label"] == "background" for r in rows), "persons_without_background": unpaired,
             "boxes_below_min_size": small, "missing_left_out": len(absent)}
    collected = Collected(rows, list(CLASSES), templates or spec.templates, facts)
    return write_benchmark(out_dir, spec, "thermal", collected, root, {"seed": seed, "min_size": min_size})


def _person_boxes(xml_path: Path, size: Tuple[int, int], min_size: int) -> Tuple[List[Box], int]:
    """The person boxes of one VOC annotation, clipped to the image; (boxes, boxes too small)."""
    try:
        tree = ET.parse(xml_path)
    except ET.ParseError as exc:
        raise InputError(f"not valid XML ({exc})", modality="thermal", source=str(xml_path)) from exc
    width, height = size
    boxes, small = [], 0
    for number, obj in enumerate(tree.getroot().iter("object")):
        name = (obj.findtext("name") or "").strip()
        if name.lower() != "person":
            raise unknown_class(name, ["person"], f"{xml_path} object {number}", "thermal")
        try:
            xmin, ymin, xmax, ymax = (int(round(float(obj.findtext(f"bndbox/{k}"))))
                                      for k in ("xmin", "ymin", "xmax", "ymax"))
        except (TypeError, ValueError):
            raise InputError(f"object {number} has no numeric bndbox", modality="thermal", source=str(xml_path)) from None
        box = (max(0, xmin), max(0, ymin), min(width, xmax), min(height, ymax))
        if box[2] - box[0] < min_size or box[3] - box[1] < min_size:
            small += 1
            continue
        boxes.append(box)
    return boxes, small


def _background_box(box: Box, people: Sequence[Box], size: Tuple[int, int], rng) -> Optional[Box]:
    width, height = box[2] - box[0], box[3] - box[1]
    if width >= size[0] or height >= size[1]:
        return None
    for _ in range(BACKGROUND_TRIES):
        x, y = int(rng.integers(0, size[0] - width + 1)), int(rng.integers(0, size[1] - height + 1))
        candidate = (x, y, x + width, y + height)
        if not any(_overlap(candidate, p) for p in people):
            return candidate
    return None


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _crop_row(image: Image.Image, box: Box, out_dir: Path, label: str, name: str) -> dict:
    path = out_dir / "crops" / label / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    image.crop(box).save(path)
    return {"id": f"{label}/{name}", "label": label, "thermal": path, "box": " ".join(map(str, box))}
