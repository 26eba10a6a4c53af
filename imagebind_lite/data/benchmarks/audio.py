"""Audio classification: ESC-50, AudioSet (multi-label), VGGSound.

``esc50``: the ESC-50 release (Piczak 2015): ``meta/esc50.csv`` (filename, fold, target,
category, ...) and ``audio/*.wav``; classes in ``target`` order; optionally some folds.

``audioset``: the release's segment list (default ``eval_segments.csv``: three ``#`` preamble
lines, then ``YTID, start_seconds, end_seconds, "mid,mid,..."``) and ``class_labels_indices.csv``
(index, mid, display_name). The clips are not part of the release: the user fetches them, so they
are found under the audio directory (default: the release directory, searched recursively) by
any of the names downloaders use: ``<YTID>``, ``Y<YTID>``, ``<YTID>_<start>``,
``Y<YTID>_<start>_<end>`` (start/end as written in the list, or whole seconds).

``vggsound``: ``vggsound.csv`` (no header: YouTube id, start second, label, train|test), the
``test`` split by default; classes are every label of the file, sorted. Clips are found by
``<YTID>_<start:06d>`` (the release's own naming), ``<YTID>_<start>``, ``<YTID>_<start in ms>``
or ``<YTID>``; extract the audio track of the .mp4 files first (wav/flac/... as the audio
modality reads).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, List, Optional, Sequence

from imagebind_lite.errors import InputError

from .catalogue import get_benchmark
from .common import Listed, StemIndex, check_listed, read_csv_rows, require_file, unknown_class
from .output import LABEL_SEPARATOR, Collected, Written, write_benchmark

ESC50_COLUMNS = ("filename", "fold", "target", "category")
AUDIOSET_FIELDS = ("YTID", "start_seconds", "end_seconds", "positive_labels")
VGGSOUND_FIELDS = ("ytid", "start", "label", "split")


def esc50_manifest(root, out_dir, folds: Optional[Iterable[int]] = None, templates: Optional[Sequence[str]] = None,
                   allow_missing: bool = False) -> Written:
    """The ESC-50 release directory -> benchmark files (50 classes in ``target`` order)."""
    root = Path(root)
    meta = require_file(root / "meta" / "esc50.csv", "ESC-50 metadata meta/esc50.csv",
                        "pass the ESC-50 release directory (meta/esc50.csv, audio/)", "audio")
    records = read_csv_rows(meta, ESC50_COLUMNS, "audio")
    by_target = {}
    for number, row in records:
        known = by_target.setdefault(int(row["target"]), row["category"])
        if known != row["category"]:  # one target, two names: the metadata is not ESC-50's
            raise unknown_class(row["category"], by_target.values(), f"{meta} line {number} (target "
                                f"{row['target']} is {known!r} elsewhere)", "audio")
    classes = [by_target[t] for t in sorted(by_target)]
    wanted = None if folds is None else {int(f) for f in folds}
    chosen = [(n, r) for n, r in records if wanted is None or int(r["fold"]) in wanted]
    if not chosen:
        raise InputError(f"no ESC-50 clips in folds {sorted(wanted or [])}", modality="audio", source=str(meta))
    listed = [Listed(root / "audio" / r["filename"], f"{meta.name} line {n}") for n, r in chosen]
    absent = set(check_listed(listed, "audio", allow_missing))
    rows = [{"id": Path(r["filename"]).stem, "label": r["category"], "audio": item.path}
            for i, ((_, r), item) in enumerate(zip(chosen, listed)) if i not in absent]
    spec = get_benchmark("esc50")
    facts = {"folds": sorted(wanted) if wanted else [1, 2, 3, 4, 5], "missing_left_out": len(absent)}
    return write_benchmark(out_dir, spec, "audio", Collected(rows, classes, templates or spec.templates, facts),
                           root, {"folds": folds})


def audioset_manifest(root, out_dir, segments: str = "eval_segments.csv", audio_dir=None,
                      templates: Optional[Sequence[str]] = None, allow_missing: bool = False) -> Written:
    """AudioSet segment list + class_labels_indices.csv -> multi-label benchmark files."""
    root = Path(root)
    hint = "pass the directory holding the AudioSet csv files (or --segments PATH)"
    segment_file = require_file(root / segments, "AudioSet segment list", hint, "audio")
    index_file = require_file(root / "class_labels_indices.csv", "AudioSet class_labels_indices.csv", hint, "audio")
    by_mid = {row["mid"]: row["display_name"] for _, row in read_csv_rows(index_file, ("index", "mid", "display_name"), "audio")}
    classes = list(by_mid.values())
    clashing = [c for c in classes if LABEL_SEPARATOR in c]
    if len(set(classes)) != len(classes) or clashing:
        raise InputError(f"class display names must be unique and free of {LABEL_SEPARATOR!r}", source=str(index_file))
    clips = StemIndex(audio_folder(root, audio_dir), audio_extensions())
    records = read_csv_rows(segment_file, AUDIOSET_FIELDS, "audio", fieldnames=AUDIOSET_FIELDS, comment="#",
                            skip_initial_space=True)
    listed, labels = [], []
    for number, row in records:
        where = f"{segment_file.name} line {number}"
        mids = [m.strip() for m in row["positive_labels"].split(",") if m.strip()]
        for mid in mids:
            if mid not in by_mid:
                raise unknown_class(mid, by_mid, where, "audio")
        listed.append(Listed(find_clip(clips, row["YTID"], _audioset_stems(row)), where))
        labels.append(LABEL_SEPARATOR.join(by_mid[m] for m in mids))
    absent = set(check_listed(listed, "audio", allow_missing))
    rows = [{"id": row["YTID"], "labels": label, "audio": item.path}
            for i, ((_, row), item, label) in enumerate(zip(records, listed, labels)) if i not in absent]
    spec = get_benchmark("audioset")
    facts = {"segments": segment_file.name, "missing_left_out": len(absent)}
    return write_benchmark(out_dir, spec, "audio", Collected(rows, classes, templates or spec.templates, facts),
                           root, {"segments": segments, "audio_dir": audio_dir})


def vggsound_manifest(root, out_dir, split: str = "test", audio_dir=None, templates: Optional[Sequence[str]] = None,
                      allow_missing: bool = False) -> Written:
    """vggsound.csv + the user's clips -> benchmark files for one split."""
    root = Path(root)
    meta = require_file(root / "vggsound.csv", "VGGSound metadata vggsound.csv",
                        "pass the directory holding vggsound.csv", "audio")
    records = read_csv_rows(meta, VGGSOUND_FIELDS, "audio", fieldnames=VGGSOUND_FIELDS)
    splits = sorted({row["split"] for _, row in records})
    if split not in splits:
        raise InputError(f"no {split!r} rows; the file's splits are {splits}", modality="audio", source=str(meta))
    classes = sorted({row["label"] for _, row in records})
    chosen = [(n, r) for n, r in records if r["split"] == split]
    clips = StemIndex(audio_folder(root, audio_dir), audio_extensions())
    listed = [Listed(find_clip(clips, r["ytid"], _vggsound_stems(r, f"{meta.name} line {n}")), f"{meta.name} line {n}")
              for n, r in chosen]
    absent = set(check_listed(listed, "audio", allow_missing))
    rows = [{"id": f"{r['ytid']}_{int(r['start']):06d}", "label": r["label"], "audio": item.path}
            for i, ((_, r), item) in enumerate(zip(chosen, listed)) if i not in absent]
    spec = get_benchmark("vggsound")
    facts = {"split": split, "missing_left_out": len(absent)}
    return write_benchmark(out_dir, spec, "audio", Collected(rows, classes, templates or spec.templates, facts),
                           root, {"split": split, "audio_dir": audio_dir})


def audio_extensions() -> Sequence[str]:
    from imagebind_lite.registry import get_modality

    return get_modality("audio").extensions


def audio_folder(root: Path, audio_dir) -> Path:
    folder = Path(audio_dir) if audio_dir else root
    if not folder.is_dir():
        raise InputError(f"audio directory {folder} does not exist", modality="audio")
    return folder


def find_clip(clips: StemIndex, ytid: str, stems: List[str]) -> Path:
    """The clip's file, or a nominal path (absent) that the missing-file report names."""
    return clips.find(stems) or clips.root / f"{ytid}.wav"


def _audioset_stems(row) -> List[str]:
    ytid, start, end = row["YTID"], row["start_seconds"], row["end_seconds"]
    whole = [str(int(float(start))), str(int(float(end)))]
    return [ytid, f"Y{ytid}", f"{ytid}_{start}", f"{ytid}_{whole[0]}", f"Y{ytid}_{start}_{end}",
            f"Y{ytid}_{whole[0]}_{whole[1]}", f"{ytid}_{start}_{end}"]


def _vggsound_stems(row, where: str) -> List[str]:
    ytid, start = row["ytid"], row["start"]
    try:
        second = int(float(start))
    except ValueError:
        raise InputError(f"{where}: start second {start!r} is not a number", modality="audio") from None
    return [f"{ytid}_{second:06d}", f"{ytid}_{second}", f"{ytid}_{second * 1000}", ytid]
