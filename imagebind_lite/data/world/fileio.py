"""Writers for the real-world file formats the world is written in.

The sample files are written in place, into directories that exist: a collection's manifest is
removed before its files are written and written last, atomically (writer.py), so a loader only
ever reaches fully written files, and the thousands of small files skip a temporary name and a
rename each (a third of the cost of creating a file on some file systems). ``world.json`` is
written atomically. Formats follow the data sets they stand in for: png images, 16-bit png depth
in millimetres (SUN RGB-D, NYU-D), 8/16-bit single-channel thermal png (LLVIP), 16-bit PCM wav
(ESC-50), IMU as csv with a header or npy (Ego4D exports).
"""
from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import Any, Dict

import numpy as np
from PIL import Image

from imagebind_lite.atomic import atomic_path

IMU_COLUMNS = ("ax", "ay", "az", "gx", "gy", "gz")
DEPTH_SCALE = 1000.0  # 16-bit depth png units per metre (millimetres)


def write_png(path: Path, array: np.ndarray) -> None:
    """uint8 HxWx3 (RGB), uint8 HxW (L) or uint16 HxW (I;16) png, stored without compression:
    the world's noise-textured images shrink by a quarter at zlib's fastest level, which took
    three times as long to encode (a png reader decodes either)."""
    Image.fromarray(np.ascontiguousarray(array)).save(path, format="PNG", compress_level=0)


def write_depth_png(path: Path, metres: np.ndarray) -> None:
    """Depth in metres as a 16-bit png in millimetres (0 would mean 'no reading': never written)."""
    mm = np.clip(np.round(metres * DEPTH_SCALE), 1, 65535).astype(np.uint16)
    write_png(path, mm)


def read_depth_png(path: Path) -> np.ndarray:
    """Inverse of ``write_depth_png`` (metres, float32); used by tests and the preview."""
    return np.asarray(Image.open(path), dtype=np.float32) / DEPTH_SCALE


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """Mono float audio in [-1, 1] as 16-bit PCM wav. The standard library's writer, not
    libsndfile's: closing a libsndfile file fsyncs it, which made audio most of the world's
    write time."""
    pcm = np.clip(np.rint(np.asarray(audio, dtype=np.float64) * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.tobytes())


def write_imu(path: Path, imu: np.ndarray) -> None:
    """[T, 6] IMU as csv (header ax..gz) or npy, chosen by the suffix of ``path``."""
    if path.suffix == ".npy":
        with open(path, "wb") as f:
            np.save(f, imu.astype(np.float32))
    else:
        np.savetxt(path, imu, fmt="%.5f", delimiter=",", header=",".join(IMU_COLUMNS), comments="")


def write_json(path: Path, data: Dict[str, Any]) -> None:
    with atomic_path(path, fix_modes=False) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
