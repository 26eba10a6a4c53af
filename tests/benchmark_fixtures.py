"""Helpers for the benchmark tests: the CLI in-process, small real media files, a tiny saved
model, ``evaluate`` run on what an adapter wrote, and small copies of releases (AudioSet, Clotho,
NYU-Depth v2) laid out and formatted as the real ones are, shared by the adapter tests and the
``benchmark`` command's tests."""
from __future__ import annotations

import contextlib
import csv
import io
import json

import h5py
import numpy as np
import scipy.io
import soundfile

from imagebind_lite import MultiModalModel
from imagebind_lite.cli import main

TINY_MODALITIES = ("text", "vision", "audio", "depth", "thermal", "imu")


def cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


def write_wav(path, seed=0, seconds=1.0, rate=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    wave = 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * rate))
    soundfile.write(str(path), wave.astype(np.float32), rate)
    return path


def write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def save_tiny_model(directory):
    """Every built-in modality at its tiny preset, random weights: what ``evaluate`` loads."""
    MultiModalModel.from_presets({m: "tiny" for m in TINY_MODALITIES}).save(directory)
    return directory


def evaluate(model_dir, written_dir, out_dir):
    """``imagebind-lite evaluate`` on an adapter's manifest + prompts, as written."""
    rc, out, err = cli("evaluate", "--model", model_dir, "--manifest", written_dir / "manifest.csv",
                       "--prompts", written_dir / "prompts.json", "--out", out_dir, "--no-progress")
    assert rc == 0, err
    return json.loads((out_dir / "metrics.json").read_text())


def benchmark_json(written_dir):
    return json.loads((written_dir / "benchmark.json").read_text())


def label_names(manifest):
    """Class names of a read manifest's rows (the reader turns string labels into indices)."""
    return [manifest.class_names[row["label"]] for row in manifest.rows]


AUDIOSET_CLASSES = [("/m/09x0r", "Speech"), ("/m/068hy", "Domestic animals, pets"), ("/m/07q6cd_", "Squeak"),
                    ("/m/0jbk", "Animal")]


def write_audioset_release(root):
    """AudioSet's eval_segments.csv (commented preamble) + class_labels_indices.csv, and clips
    named the three ways downloaders name them."""
    root.mkdir(parents=True)
    (root / "eval_segments.csv").write_text(
        "# Segments csv created Sun Mar  5 10:54:25 2017\n"
        "# num_ytids=3, num_segs=3, num_unique_labels=4, num_positive_labels=5\n"
        "# YTID, start_seconds, end_seconds, positive_labels\n"
        '--4gqARaEJE, 0.000, 10.000, "/m/068hy,/m/07q6cd_,/m/0jbk"\n'
        '--BfvyPmVMo, 20.000, 30.000, "/m/09x0r"\n'
        '-0xrDOAhfz4, 30.000, 40.000, "/m/0jbk"\n')
    write_csv(root / "class_labels_indices.csv", ["index", "mid", "display_name"],
              [(i, mid, name) for i, (mid, name) in enumerate(AUDIOSET_CLASSES)])
    write_wav(root / "audio" / "Y--4gqARaEJE.wav", 0)
    write_wav(root / "audio" / "--BfvyPmVMo_20.000.wav", 1)
    write_wav(root / "audio" / "nested" / "Y-0xrDOAhfz4_30.000_40.000.flac", 2)
    return root


def write_clotho_release(root, names):
    """Clotho's clotho_captions_evaluation.csv (file_name, caption_1..5) + evaluation/*.wav."""
    write_csv(root / "clotho_captions_evaluation.csv", ["file_name"] + [f"caption_{i}" for i in range(1, 6)],
              [[name] + [f"{name[:-4].lower()} sound number {i}, heard" for i in range(1, 6)] for name in names])
    for i, name in enumerate(names):
        write_wav(root / "evaluation" / name, i)
    return root


NYU_SCENES = ["kitchen", "bedroom", "basement", "office", "study_room", "living_room"]


def write_matlab_73(path, depths, scene_types):
    """A MATLAB v7.3 file as MATLAB writes one: 512-byte header block, then HDF5 with column-major
    arrays (an H x W x N depth array reads back as [N, W, H]) and cells as object references."""
    with h5py.File(path, "w", userblock_size=512) as handle:
        refs = handle.create_group("#refs#")
        for name, strings in (("sceneTypes", scene_types), ("scenes", [f"{s}_{i:04d}" for i, s in enumerate(scene_types)])):
            cells = handle.create_dataset(name, (1, len(strings)), dtype=h5py.ref_dtype)
            for i, text in enumerate(strings):
                chars = refs.create_dataset(f"{name}_{i}", data=np.array([[ord(c)] for c in text], dtype=np.uint16))
                chars.attrs["MATLAB_class"] = np.bytes_("char")
                chars.attrs["MATLAB_int_decode"] = np.int32(2)
                cells[0, i] = chars.ref
            cells.attrs["MATLAB_class"] = np.bytes_("cell")
        stored = handle.create_dataset("depths", data=np.ascontiguousarray(np.transpose(depths, (0, 2, 1))))
        stored.attrs["MATLAB_class"] = np.bytes_("single")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Sep 10 10:00:00 2012 HDF5 schema 1.00 ."
    with open(path, "r+b") as handle:
        handle.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")


def write_nyud_release(root, scenes=NYU_SCENES):
    """nyu_depth_v2_labeled.mat (v7.3) + splits.mat (v5, 1-based indices): images 1, 3, 5, 6 are the test split."""
    root.mkdir(parents=True)
    depths = np.stack([np.full((12, 16), 1.0 + i, dtype=np.float32) for i in range(len(scenes))])
    depths[:, 0, :4] = np.arange(4)  # a row that tells [H, W] from [W, H]
    write_matlab_73(root / "nyu_depth_v2_labeled.mat", depths, list(scenes))
    scipy.io.savemat(root / "splits.mat", {"trainNdxs": np.array([[2.0], [4.0]]),
                                           "testNdxs": np.array([[1.0], [3.0], [5.0], [6.0]])})
    return root
