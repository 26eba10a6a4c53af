"""Atomic writers for the real-world file formats the world is written in.

Every file goes to a temporary name next to its target and is moved into place with
``os.replace``, so an interrupted write never leaves a truncated png or a half manifest that a
loader would later trip on. Every writer here creates its file with a plain ``open`` (mode from
the umask), so the writes skip the mode fix-up. Formats follow the data sets they stand in for: png images,
16-bit png depth in millimetres (SUN RGB-D, NYU-D), 8/16-bit single-channel thermal png (LLVIP),
16-bit PCM wav (ESC-50), IMU as csv with a header or npy (Ego4D exports).
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
    """uint8 HxWx3 (RGB), uint8 HxW (L) or uint16 HxW (I;16) png."""
    with atomic_path(path, fix_modes=False) as tmp:
        Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG", compress_level=1)


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
    write time (the atomic rename already keeps a reader from seeing half a file)."""
    pcm = np.clip(np.rint(np.asarray(audio, dtype=np.float64) * 32767.0), -32768, 32767).astype("<i2")
    with atomic_path(path, fix_modes=False) as tmp:
        with wave.open(str(tmp), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(int(sample_rate))
            out.writeframes(pcm.tobytes())


def write_imu(path: Path, imu: np.ndarray) -> None:
    """[T, 6] IMU as csv (header ax..gz) or npy, chosen by the suffix of ``path``."""
    with atomic_path(path, fix_modes=False) as tmp:
        if path.suffix == ".npy":
            with open(tmp, "wb") as f:
                np.save(f, imu.astype(np.float32))
        else:
            np.savetxt(tmp, imu, fmt="%.5f", delimiter=",", header=",".join(IMU_COLUMNS), comments="")


def write_json(path: Path, data: Dict[str, Any]) -> None:
    with atomic_path(path, fix_modes=False) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
