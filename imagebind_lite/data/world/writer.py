"""Write a synthetic world to files and manifests, laid out as real pair data would be.

    out_dir/world.json                       config, class names, concepts, prompts
    out_dir/pairs/<modality>/manifest.csv    id,label,vision,<modality>,concept,<attributes>
    out_dir/pairs/<modality>/vision/*.png    the images of that pair collection only
    out_dir/pairs/<modality>/<modality>/*    the paired files (text lives in the manifest)
    out_dir/eval/manifest.csv                id,label,vision,text,audio,depth,thermal,imu,...
    out_dir/eval/<modality>/*                one instance carries all six

Paths in manifests are relative to the manifest, so a written world can be moved or copied whole.
A collection's manifest is removed before its files are written and written last, atomically,
so a manifest only ever lists files that were fully written.
"""
from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from imagebind_lite.data.manifest import write_manifest_csv
from imagebind_lite.data.world import fileio
from imagebind_lite.data.world.config import COLLECTIONS, EVAL_COLLECTION, MODALITIES, PAIR_COLLECTIONS
from imagebind_lite.errors import InputError

log = logging.getLogger(__name__)

IMU_FORMATS = ("csv", "npy", "mixed")
CHUNK = 128  # samples per task when several processes write  # mixed: csv for even indices, npy for odd ones


def _imu_suffix(imu_format: str, index: int) -> str:
    if imu_format == "mixed":
        return ".csv" if index % 2 == 0 else ".npy"
    return "." + imu_format


def _write_sample(sample: Dict[str, Any], root: Path, modalities, world, imu_format: str,
                  index: int) -> Dict[str, Any]:
    """Write one sample's files under ``root``; return its manifest row."""
    sid = sample["id"]
    row: Dict[str, Any] = {"id": sid, "label": sample["label"]}
    for m in modalities:
        if m == "text":
            row[m] = sample[m]
            continue
        suffix = {"audio": ".wav", "imu": _imu_suffix(imu_format, index)}.get(m, ".png")
        rel = f"{m}/{sid}{suffix}"
        target = root / rel
        if m == "vision" or m == "thermal":
            fileio.write_png(target, sample[m])
        elif m == "depth":
            fileio.write_depth_png(target, sample[m])
        elif m == "audio":
            fileio.write_wav(target, sample[m], world.config.sample_rate)
        else:
            fileio.write_imu(target, sample[m])
        row[m] = rel
    row["concept"] = sample["concept"]
    row.update({k: (round(v, 5) if isinstance(v, float) else v) for k, v in sample["attributes"].items()})
    return row


def _write_range(world, collection: str, start: int, stop: int, root: Path, imu_format: str) -> List[Dict[str, Any]]:
    modalities = world.modalities(collection)
    return [_write_sample(world.sample(collection, i), root, modalities, world, imu_format, i) for i in range(start, stop)]


def _parallel_rows(world, collection: str, size: int, root: Path, imu_format: str, workers: int, bar) -> List[Dict[str, Any]]:
    """Samples depend on their index alone, so chunks can be rendered and written by separate
    processes (forked: the world is numpy only) and their rows concatenated in index order."""
    starts = list(range(0, size, CHUNK))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(_write_range, world, collection, a, min(a + CHUNK, size), root, imu_format)
                   for a in starts]
        rows: List[Dict[str, Any]] = []
        for future in futures:
            rows += future.result()
            bar.update(len(rows) - bar.n)
    return rows


def write_collection(world, collection: str, size: int, root: Path, imu_format: str = "mixed",
                     progress: bool = True, workers: int = 1) -> Path:
    """Write ``size`` samples of ``collection`` under ``root``; return the manifest path.
    ``workers`` > 1 renders and writes in that many processes (where the OS can fork)."""
    from tqdm.auto import tqdm

    modalities = world.modalities(collection)
    manifest = root / "manifest.csv"
    # the files are written in place (fileio.py): an earlier run's manifest goes first, so no
    # loader trusts a collection while its files are being rewritten
    manifest.unlink(missing_ok=True)
    for m in modalities:
        if m != "text":
            (root / m).mkdir(parents=True, exist_ok=True)
    with tqdm(total=size, desc=f"world {collection}", disable=not progress, unit="sample") as bar:
        if workers > 1 and size >= 2 * CHUNK and "fork" in multiprocessing.get_all_start_methods():
            rows = _parallel_rows(world, collection, size, root, imu_format, workers, bar)
        else:
            rows = []
            for a in range(0, size, CHUNK):
                rows += _write_range(world, collection, a, min(a + CHUNK, size), root, imu_format)
                bar.update(len(rows) - bar.n)
    columns = ["id", "label", *modalities, "concept", *world.attribute_names()]
    write_manifest_csv(manifest, columns, rows)
    log.info("wrote %d %s samples to %s", size, collection, manifest)
    return manifest


def write_world(world, out_dir, sizes: Optional[Mapping[str, int]] = None, progress: bool = True,
                imu_format: str = "mixed", workers: int = 1) -> Dict[str, Path]:
    """Write the collections named in ``sizes`` (default 256 of each pair collection and 128
    eval samples) plus ``world.json``; return ``{collection: manifest path, "world": json}``.
    ``workers``: processes rendering and writing samples (the files are the same for any number)."""
    if sizes is None:  # direct (non-image) collections are only written on request
        sizes = {c: (128 if c == EVAL_COLLECTION else 256) for c in PAIR_COLLECTIONS + (EVAL_COLLECTION,)}
    sizes = dict(sizes)
    unknown = set(sizes) - set(COLLECTIONS)
    if unknown:
        raise InputError(f"unknown collections {sorted(unknown)}; expected some of {COLLECTIONS}",
                         modality="world")
    if imu_format not in IMU_FORMATS:
        raise InputError(f"imu_format must be one of {IMU_FORMATS}, got {imu_format!r}", modality="imu")
    if any(int(n) < 0 for n in sizes.values()):
        raise InputError(f"sizes must be >= 0, got {sizes}", modality="world")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: Dict[str, Path] = {}
    for collection in COLLECTIONS:  # fixed order, whatever the dict order
        if int(sizes.get(collection, 0)) > 0:
            root = out / (EVAL_COLLECTION if collection == EVAL_COLLECTION else f"pairs/{collection}")
            paths[collection] = write_collection(world, collection, int(sizes[collection]), root,
                                                 imu_format, progress, workers)
    description = world.describe()
    description.update({"modalities": list(MODALITIES), "sizes": {c: int(n) for c, n in sizes.items()},
                        "manifests": {c: str(p.relative_to(out)) for c, p in paths.items()},
                        "imu_format": imu_format, "depth_units": "millimetres (16-bit png)"})
    paths["world"] = out / "world.json"
    fileio.write_json(paths["world"], description)
    return paths
