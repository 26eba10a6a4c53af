"""Ego4D IMU scenario classification: clips cut from the IMU streams, labelled by scenario.

Assumed layout (what the ``ego4d`` download CLI writes into its output directory):
- ``ego4d.json`` (``--datasets metadata``): ``{"videos": [{"video_uid", "scenarios": [...],
  "has_imu": bool, ...}, ...]}`` (or ``metadata``);
- ``v2/imu/<video_uid>.csv`` (``--datasets imu``; ``v1/imu/`` or ``imu/`` also found, or
  ``imu_dir``): one row per sample with ``canonical_timestamp_ms`` and ``gyro_x``, ``gyro_y``,
  ``gyro_z`` (rad/s), ``accl_x``, ``accl_y``, ``accl_z`` (m/s^2); other columns are ignored.
Videos whose metadata says ``has_imu`` must have their csv (an error names the missing ones);
without that field, the videos with a csv are used. Ego4D has no scenario-classification split,
so ``split_file`` (one video_uid per line) chooses the videos; default: all of them.
Only videos with exactly one scenario are kept (the label must be unambiguous for top-1); the
others are counted in benchmark.json.

Clips: ``clips_per_video`` windows of ``clip_seconds`` spread evenly over each stream (one
window: the centre), written as csv (``time_s`` then acc xyz, gyro xyz: the IMU modality's
channel order) under OUT/clips/. The default 10 s at Ego4D's ~200 Hz fills the ImageBind-size
encoder's 2000-sample window; the IMU modality resamples and centre-crops to its data config.
"""
from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from imagebind_lite.errors import InputError

from .catalogue import get_benchmark
from .common import Listed, check_listed, first_existing, require_file
from .output import Collected, Written, write_benchmark

TIME = "canonical_timestamp_ms"
CHANNELS = ("accl_x", "accl_y", "accl_z", "gyro_x", "gyro_y", "gyro_z")
CLIP_HEADER = ("time_s", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


def ego4d_manifest(root, out_dir, metadata: str = "ego4d.json", imu_dir=None, split_file=None,
                   clip_seconds: float = 10.0, clips_per_video: int = 1, templates: Optional[Sequence[str]] = None,
                   allow_missing: bool = False) -> Written:
    """Ego4D metadata + IMU csv files -> IMU clips labelled by scenario + benchmark files."""
    root = Path(root)
    if clip_seconds <= 0 or clips_per_video < 1:
        raise InputError("--clip-seconds must be > 0 and --clips-per-video >= 1", modality="imu")
    meta = require_file(root / metadata, "Ego4D metadata", "pass the ego4d CLI output folder (ego4d.json, "
                        "v2/imu/) or --metadata", "imu")
    folder = Path(imu_dir) if imu_dir else first_existing([root / "v2" / "imu", root / "v1" / "imu", root / "imu"])
    if folder is None or not folder.is_dir():
        raise InputError(f"Ego4D IMU folder not found ({imu_dir or root / 'v2' / 'imu'}): download it with "
                         "'ego4d --datasets imu' or pass --imu-dir", modality="imu")
    videos = _videos(meta, folder, split_file)
    listed = [Listed(folder / f"{uid}.csv", f"{meta.name} video {uid}") for uid in videos]
    absent = set(check_listed(listed, "imu", allow_missing))
    rows, several = [], Counter()
    for i, (uid, item) in enumerate(zip(videos, listed)):
        scenarios = videos[uid]
        if i in absent or len(scenarios) != 1:
            several[len(scenarios)] += i not in absent
            continue
        for k, path in enumerate(_write_clips(item.path, Path(out_dir) / "clips", uid, clip_seconds, clips_per_video)):
            rows.append({"id": f"{uid}_{k}", "label": scenarios[0], "imu": path, "video_uid": uid})
    spec = get_benchmark("ego4d")
    classes = sorted({row["label"] for row in rows})
    facts = {"videos": len(videos), "missing_left_out": len(absent),
             "left_out_by_scenario_count": {str(n): c for n, c in sorted(several.items())},
             "clip_seconds": clip_seconds, "clips_per_video": clips_per_video, "imu_dir": folder}
    collected = Collected(rows, classes, templates or spec.templates, facts)
    return write_benchmark(out_dir, spec, "imu", collected, root,
                           {"split_file": split_file, "clip_seconds": clip_seconds, "clips_per_video": clips_per_video})


def _videos(meta: Path, folder: Path, split_file) -> Dict[str, List[str]]:
    """video_uid -> scenarios, for the videos that carry IMU (and are in the split file)."""
    try:
        entries = json.loads(meta.read_text(encoding="utf-8"))["videos"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"expected {{\"videos\": [...]}} ({type(exc).__name__}: {exc})", modality="imu",
                         source=str(meta)) from exc
    wanted = None
    if split_file is not None:
        split = require_file(Path(split_file), "Ego4D split file", "pass a text file of video_uids", "imu")
        wanted = {line.strip() for line in split.read_text(encoding="utf-8").splitlines() if line.strip()}
    videos = {}
    for entry in entries:
        uid = str(entry.get("video_uid", ""))
        has_imu = entry.get("has_imu", (folder / f"{uid}.csv").is_file())
        if uid and has_imu and (wanted is None or uid in wanted):
            videos[uid] = [str(s) for s in entry.get("scenarios") or []]
    if wanted is not None and (unknown := sorted(wanted - set(videos))):
        raise InputError(f"{len(unknown)} video_uids of the split file have no IMU video in the metadata, e.g. "
                         f"{unknown[0]}", modality="imu", source=str(split_file))
    if not videos:
        raise InputError("no video with IMU data in the metadata", modality="imu", source=str(meta))
    return videos


def _read_stream(path: Path):
    """(times in seconds, [T, 6] acc xyz + gyro xyz) of one Ego4D IMU csv, sorted by time."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (TIME,) + CHANNELS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"IMU csv lacks columns {missing}", modality="imu", source=str(path))
        try:
            table = np.array([[float(row[c]) for c in (TIME,) + CHANNELS] for row in reader], dtype=np.float64)
        except ValueError as exc:
            raise InputError(f"non-numeric IMU value ({exc})", modality="imu", source=str(path)) from None
    if len(table) < 2:
        raise InputError("IMU csv has fewer than 2 samples", modality="imu", source=str(path))
    table = table[np.argsort(table[:, 0], kind="stable")]
    table = table[np.concatenate([[True], np.diff(table[:, 0]) > 0])]  # a repeated time stamp: keep the first
    return table[:, 0] / 1000.0, table[:, 1:]


def _write_clips(path: Path, out: Path, uid: str, seconds: float, count: int) -> List[Path]:
    times, values = _read_stream(path)
    span = times[-1] - times[0]
    length = min(seconds, span)
    starts = times[0] + (span - length) * (np.arange(count) + 0.5) / count  # evenly spread, centre if one
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, start in enumerate(starts):
        keep = (times >= start) & (times <= start + length)
        if keep.sum() < 2:
            raise InputError(f"clip {k} ({start:.2f} s + {length:.2f} s) holds fewer than 2 samples", modality="imu",
                             source=str(path))
        clip = out / f"{uid}_{k}.csv"
        with open(clip, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CLIP_HEADER)
            writer.writerows([f"{t - start:.6f}", *map(repr, map(float, v))] for t, v in zip(times[keep], values[keep]))
        paths.append(clip)
    return paths
