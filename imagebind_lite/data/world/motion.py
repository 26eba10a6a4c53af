"""The motion of an instance as a 6-axis IMU recording (accelerometer xyz in m/s^2, gyroscope
xyz in rad/s), as Ego4D's head-mounted IMU data comes.

The concept fixes the waveform (sway, bounce, jerk, spin) and which axes move (its axis
weights); the instance fixes the frequency (its tempo: the same tempo that sets the audio
rhythm, and that the image never shows) and, through tempo, the vigour. Device tilt (where
gravity falls), phase, gyro bias and sensor noise are nuisances.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

from imagebind_lite.data.world.concepts import Concept
from imagebind_lite.data.world.config import WorldConfig

GRAVITY = 9.81  # m/s^2


def waveform(kind: str, x: np.ndarray) -> np.ndarray:
    """A zero-ish-mean periodic signal of period 1 in ``x``; all have their strongest
    harmonic at the fundamental, so the IMU frequency is the tempo."""
    if kind == "sway":
        return np.sin(2 * np.pi * x)
    if kind == "bounce":
        return 2.0 * np.abs(np.sin(np.pi * x)) - 1.27
    if kind == "jerk":
        return np.tanh(4.0 * np.sin(2 * np.pi * x))
    if kind == "spin":
        return 2.0 * (x % 1.0) - 1.0
    raise KeyError(f"unknown motion {kind!r}")


def render_imu(concept: Concept, attrs: Dict[str, float], t: np.ndarray, cfg: WorldConfig,
               rng: np.random.Generator) -> np.ndarray:
    """[T, 6] float32 IMU clip of one instance; ``t`` holds the sample times in seconds."""
    phase = rng.uniform(0.0, 1.0)
    offsets = rng.uniform(-0.1, 0.1, 6)  # small per-axis lags, as on a real body
    vigour = 0.6 + 0.4 * attrs["tempo"] / cfg.tempo_range[1]
    x = attrs["tempo"] * t[:, None] + phase + offsets[None, :]
    imu = waveform(concept.motion, x) * (np.asarray(concept.motion_axes) * vigour)[None, :]
    tilt = rng.normal(0.0, 0.25, 3) + np.array([0.0, 0.0, 1.0])
    imu[:, :3] += GRAVITY * tilt / np.linalg.norm(tilt)
    imu[:, 3:] += rng.normal(0.0, 0.05, 3)  # gyro bias
    imu += rng.standard_normal(imu.shape) * cfg.imu_noise  # 1200 values: a bank would not pay
    return imu.astype(np.float32)
