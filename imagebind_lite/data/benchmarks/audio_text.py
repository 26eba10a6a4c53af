"""Audio-text retrieval: Clotho and AudioCaps -> one manifest row per (clip, caption).

Rows sharing ``id`` share a clip, so an evaluation embeds each clip once and scores text->audio
(every caption is a query with one relevant clip) and audio->text (every clip is a query whose
captions are all relevant) at R@1/5/10, as the audio-retrieval literature does.

``clotho``: ``clotho_captions_evaluation.csv`` (file_name, caption_1 ... caption_5) and the
``evaluation/`` folder of wav files the release's archive unpacks to (or ``audio_dir``).

``audiocaps``: ``test.csv`` (audiocap_id, youtube_id, start_time, caption; several captions per
clip). The clips are fetched by the user and found by ``<youtube_id>``, ``Y<youtube_id>``,
``<youtube_id>_<start_time>`` or ``<audiocap_id>`` under the audio directory (default: the
release directory, searched recursively).
"""
from __future__ import annotations

from pathlib import Path
from typing import List

from imagebind_lite.errors import InputError

from .audio import audio_folder, audio_extensions, find_clip
from .catalogue import get_benchmark
from .common import Listed, StemIndex, check_listed, first_existing, read_csv_rows, require_file
from .output import Collected, Written, write_benchmark

CLOTHO_CAPTIONS = tuple(f"caption_{i}" for i in range(1, 6))
AUDIOCAPS_FIELDS = ("audiocap_id", "youtube_id", "start_time", "caption")


def clotho_manifest(root, out_dir, captions: str = "clotho_captions_evaluation.csv", audio_dir=None,
                    allow_missing: bool = False) -> Written:
    """Clotho evaluation split -> retrieval pairs (5 per clip)."""
    root = Path(root)
    table = require_file(root / captions, "Clotho captions file",
                         "pass the Clotho directory (clotho_captions_evaluation.csv, evaluation/) or --captions",
                         "audio")
    folder = Path(audio_dir) if audio_dir else first_existing([root / "evaluation", root / "clotho_audio_evaluation"])
    if folder is None or not folder.is_dir():
        raise InputError(f"Clotho audio folder not found ({audio_dir or root / 'evaluation'}): unpack "
                         "clotho_audio_evaluation.7z there or pass --audio-dir", modality="audio")
    records = read_csv_rows(table, ("file_name",) + CLOTHO_CAPTIONS, "audio")
    listed = [Listed(folder / row["file_name"], f"{table.name} line {n}") for n, row in records]
    absent = set(check_listed(listed, "audio", allow_missing))
    rows = [{"id": Path(row["file_name"]).stem, "audio": item.path, "text": row[c], "caption": c[-1]}
            for i, ((_, row), item) in enumerate(zip(records, listed)) if i not in absent for c in CLOTHO_CAPTIONS]
    facts = {"clips": len(records) - len(absent), "captions_per_clip": len(CLOTHO_CAPTIONS),
             "missing_left_out": len(absent)}
    return write_benchmark(out_dir, get_benchmark("clotho"), "audio", Collected(rows, facts=facts), root,
                           {"captions": captions, "audio_dir": audio_dir})


def audiocaps_manifest(root, out_dir, captions: str = "test.csv", audio_dir=None,
                       allow_missing: bool = False) -> Written:
    """AudioCaps test.csv + the user's clips -> retrieval pairs."""
    root = Path(root)
    table = require_file(root / captions, "AudioCaps captions file",
                         "pass the directory holding AudioCaps' test.csv (or --captions)", "audio")
    records = read_csv_rows(table, AUDIOCAPS_FIELDS, "audio")
    clips = StemIndex(audio_folder(root, audio_dir), audio_extensions())
    by_clip: dict = {}
    for number, row in records:  # several caption rows name one clip: check each clip once
        key = row["youtube_id"]
        if key not in by_clip:
            path = find_clip(clips, key, _audiocaps_stems(row))
            by_clip[key] = Listed(path, f"{table.name} line {number}")
    clip_ids = list(by_clip)
    absent = {clip_ids[i] for i in check_listed([by_clip[k] for k in clip_ids], "audio", allow_missing)}
    rows = [{"id": row["youtube_id"], "audio": by_clip[row["youtube_id"]].path, "text": row["caption"],
             "caption": row["audiocap_id"]} for _, row in records if row["youtube_id"] not in absent]
    facts = {"clips": len(clip_ids) - len(absent), "missing_left_out": len(absent)}
    return write_benchmark(out_dir, get_benchmark("audiocaps"), "audio", Collected(rows, facts=facts), root,
                           {"captions": captions, "audio_dir": audio_dir})


def _audiocaps_stems(row) -> List[str]:
    ytid, start = row["youtube_id"], row["start_time"]
    return [ytid, f"Y{ytid}", f"{ytid}_{start}", f"Y{ytid}_{start}", row["audiocap_id"]]
