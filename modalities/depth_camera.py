"""Baseline x focal length of the camera that took a depth map, from the files a release keeps
next to it; used by the depth modality's ``disparity_scale: "camera"``.

SUN RGB-D: a sample folder holds ``intrinsics.txt`` (the 3x3 camera matrix, fx first) next to
its ``depth/`` and ``depth_bfx/`` folders, and sits under a folder named after its sensor.
Stereo baselines per sensor are the ones Omnivore's authors published with their SUN RGB-D
disparity conversion (Omnivore GitHub issue #12): Kinect v1 / v2 0.075 m, RealSense and Xtion 0.095 m
(the Xtion value is their estimate from the device's size).
"""
from __future__ import annotations

from pathlib import Path

from imagebind_lite import InputError

SENSOR_BASELINES_M = {"kv1": 0.075, "kv1_b": 0.075, "kv2": 0.075, "realsense": 0.095, "xtion": 0.095}


def camera_disparity_scale(source: str) -> float:
    """baseline (m) x fx (px) for the SUN RGB-D depth map at ``source``."""
    path = Path(source)
    if not path.is_file():
        raise InputError("disparity_scale 'camera' needs the depth map's file path (its camera is read from "
                         "the files next to it)", modality="depth", source=source)
    sensor = next((part for part in path.parts if part in SENSOR_BASELINES_M), None)
    if sensor is None:
        raise InputError(f"no sensor folder ({', '.join(SENSOR_BASELINES_M)}) in the path: disparity_scale "
                         "'camera' knows SUN RGB-D's layout only", modality="depth", source=source)
    intrinsics = path.parent.parent / "intrinsics.txt"
    try:
        focal = float(intrinsics.read_text(encoding="utf-8").split()[0])
    except (OSError, IndexError, ValueError) as exc:
        raise InputError(f"cannot read fx from {intrinsics} ({type(exc).__name__})", modality="depth",
                         source=source) from exc
    return SENSOR_BASELINES_M[sensor] * focal
