"""Helpers for the benchmark-adapter tests: the CLI in-process, small real media files, a tiny
saved model, and ``evaluate`` run on what an adapter wrote."""
from __future__ import annotations

import contextlib
import csv
import io
import json

import numpy as np
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
