"""IMU: 6-axis recordings (accelerometer xyz, gyroscope xyz) from csv or npy, any sample rate.

Files: csv with an optional header; a header column named ``t``/``time``/``timestamp`` (seconds,
or ``*_ms``/``*_us``/``*_ns``) gives the sample times, from which the rate is inferred (and
jittered times are first interpolated onto a uniform grid); the other 6 columns are the
channels in order acc xyz, gyro xyz. npy holds [T, 6] or [6, T]. Without times, the rate is
``data["source_rate"]``; in-memory callers pass an array (at ``source_rate``) or an
``(array, rate)`` tuple. Preprocessing: resample to ``data["sample_rate"]`` (polyphase FIR with
anti-aliasing, scipy ``resample_poly``, linear edge padding so gravity does not ring), take the
centre ``data["num_samples"]`` window, or zero-pad the end with an ``ImuPaddingWarning``.
Optional ``data["mean"]``/``data["std"]`` (scalar or 6 values) normalise the channels; ImageBind's
released code applies none, so the presets leave them out.

Stem: ImageBind's ``IMUPreprocessor`` (read, not copied) unfolds [B, 6, T] into windows of
``kernel`` samples and flattens each as ``unfold(-1, k, k).permute(0, 2, 1, 3).reshape(B, N, 6k)``:
CHANNEL-MAJOR within a token (value index = channel * k + time offset), then
Linear(6k, width, bias=False) -> LayerNorm (eps 1e-5) -> cls token -> position embedding.
``WindowLinear`` does exactly that, so ImageBind's ``modality_preprocessors.imu.imu_stem.proj.weight``
[512, 48] maps onto ``stem.proj.weight`` unchanged (``imu_stem.norm_layer.*`` -> ``stem.norm.*``,
``cls_token`` -> ``stem.cls_token``, ``pos_embed`` -> ``stem.pos_embed``).
ImageBind-size preset (ImageBind-huge's IMU branch): 200 Hz x 2000 samples, kernel 8, 512 wide, 6 deep,
8 heads, drop path 0.7, head dropout 0.5, extra key/value token, fixed post-scale 5, 1024 out.
"""
from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
import torch
import torch.nn.functional as F
from scipy.signal import resample_poly
from torch import nn

from imagebind_lite import EncoderConfig, InputError, ModalitySpec, register_modality
from imagebind_lite.cnn_kind import cnn_kind
from imagebind_lite.layers import PatchStem, Stem

CHANNELS = 6  # acc xyz + gyro xyz
TIME_COLUMNS = {"t": 1.0, "time": 1.0, "timestamp": 1.0, "time_s": 1.0, "timestamp_s": 1.0,
                "time_ms": 1e-3, "timestamp_ms": 1e-3, "time_us": 1e-6, "timestamp_us": 1e-6,
                "time_ns": 1e-9, "timestamp_ns": 1e-9}  # header name -> seconds per unit


class ImuPaddingWarning(UserWarning):
    """A recording was shorter than the encoder's window and was zero-padded."""


class ImuRecording(NamedTuple):
    values: np.ndarray     # [6, T] float32
    rate: Optional[float]  # Hz; None means data["source_rate"]


class WindowLinear(nn.Linear):
    """[B, C, T] -> [B, T // k, C * k] windows (channel-major, as ImageBind) -> Linear."""

    def __init__(self, channels: int, kernel: int, width: int):
        super().__init__(channels * kernel, width, bias=False)
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        windows = x.unfold(-1, self.kernel, self.kernel).permute(0, 2, 1, 3)
        return super().forward(windows.reshape(x.shape[0], windows.shape[1], -1))


@register_modality("imu")
class ImuModality(ModalitySpec):
    extensions = (".csv", ".npy")
    trunk_kinds = {**ModalitySpec.trunk_kinds, "cnn": cnn_kind(in_chans=CHANNELS, spatial_dims=1)}

    def presets(self) -> dict[str, EncoderConfig]:
        tiny_data = {
            "sample_rate": 50,   # Hz fed to the encoder
            "num_samples": 100,  # window length in samples (2 s at 50 Hz)
            "source_rate": 100,  # Hz assumed for inputs without times (the synthetic world's rate)
        }
        huge_data = {"sample_rate": 200, "num_samples": 2000, "source_rate": 200}  # Ego4D, 10 s
        return {
            "tiny": EncoderConfig("imu", embed_dim=128, width=64, depth=2, num_heads=4,
                                  stem={"kernel_size": 5, "norm_eps": 1e-5}, data=tiny_data),
            # Start here with little data: a 1-D CNN over [6 channels, time] (kernel 5 samples).
            "cnn": EncoderConfig("imu", embed_dim=128, trunk={"kind": "cnn", "channels": [32, 64, 128]},
                                 data=dict(tiny_data)),
            "imagebind_huge": EncoderConfig(
                "imu", embed_dim=1024, width=512, depth=6, num_heads=8, drop_path=0.7, head_dropout=0.5,
                extra_kv=True, output_scale=5.0, stem={"kernel_size": 8, "norm_eps": 1e-5}, data=huge_data,
            ),
        }

    def read_file(self, path: Path) -> ImuRecording:
        if path.suffix.lower() == ".npy":
            return ImuRecording(np.load(path, allow_pickle=False), None)
        return read_imu_csv(path, self.name)

    def validate(self, raw, source: str) -> ImuRecording:
        if isinstance(raw, tuple) and len(raw) == 2 and not isinstance(raw, ImuRecording):
            raw = ImuRecording(*raw)  # (array, rate) from a caller who knows the rate
        values, rate = (raw.values, raw.rate) if isinstance(raw, ImuRecording) else (raw, None)
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        values = np.asarray(values)
        if values.ndim != 2 or CHANNELS not in values.shape or not np.issubdtype(values.dtype, np.number):
            raise InputError(f"expected {CHANNELS} channels (acc xyz, gyro xyz) as [T, 6] or [6, T], got shape "
                             f"{values.shape} dtype {values.dtype}", modality=self.name, source=source)
        values = values if values.shape[0] == CHANNELS else values.T
        if values.shape[1] == 0:
            raise InputError("IMU recording has no samples", modality=self.name, source=source)
        if not np.isfinite(values).all():
            raise InputError("IMU recording has NaN or inf values", modality=self.name, source=source)
        if rate is not None and not (_is_number(rate) and np.isfinite(float(rate)) and float(rate) > 0):
            raise InputError(f"invalid sample rate {rate!r}", modality=self.name, source=source)
        return ImuRecording(np.ascontiguousarray(values, dtype=np.float32), None if rate is None else float(rate))

    def to_tensor(self, raw: ImuRecording, data: dict, source: str) -> torch.Tensor:
        values = resample(raw.values, raw.rate or data["source_rate"], data["sample_rate"])
        window = centre_window(torch.from_numpy(values), data["num_samples"], source)
        if "mean" in data or "std" in data:
            mean = torch.as_tensor(data.get("mean", 0.0), dtype=torch.float32).reshape(-1, 1)
            window = (window - mean) / torch.as_tensor(data.get("std", 1.0), dtype=torch.float32).reshape(-1, 1)
        return window

    def example_input(self, data: dict, rng: np.random.Generator) -> ImuRecording:
        seconds = data["num_samples"] / data["sample_rate"]
        rate = data["source_rate"]
        return ImuRecording(rng.standard_normal((CHANNELS, int(seconds * rate) + 10)).astype(np.float32), rate)

    def build_stem(self, config: EncoderConfig) -> Stem:
        kernel = config.stem["kernel_size"]
        proj = WindowLinear(CHANNELS, kernel, config.width)
        return PatchStem(proj, config.data["num_samples"] // kernel, config.width, input_ndim=2,
                         norm_eps=config.stem.get("norm_eps"))


def read_imu_csv(path: Path, modality: str) -> ImuRecording:
    """csv -> recording; a named time column sets the rate (times made uniform first)."""
    with open(path, encoding="utf-8-sig") as handle:
        first = handle.readline()
    delimiter = next((d for d in (",", ";", "\t") if d in first), None)  # None: whitespace
    tokens = [t.strip().strip('"').lower() for t in (first.split(delimiter) if delimiter else first.split())]
    has_header = not all(_is_number(t) for t in tokens)
    table = np.loadtxt(path, delimiter=delimiter, skiprows=int(has_header), ndmin=2, dtype=np.float64,
                       encoding="utf-8-sig")
    time_index = next((i for i, t in enumerate(tokens) if has_header and t in TIME_COLUMNS), None)
    values = table if time_index is None else np.delete(table, time_index, axis=1)
    if values.shape[1] != CHANNELS:
        hint = "; a time column needs a header naming it t/time/timestamp" if time_index is None else ""
        raise InputError(f"expected {CHANNELS} data columns (acc xyz, gyro xyz), got {values.shape[1]}{hint}",
                         modality=modality, source=str(path))
    if time_index is None:
        return ImuRecording(np.ascontiguousarray(values.T), None)
    times = table[:, time_index] * TIME_COLUMNS[tokens[time_index]]
    return uniform_from_times(values, times, modality, str(path))


def uniform_from_times(values: np.ndarray, times: np.ndarray, modality: str, source: str) -> ImuRecording:
    """[T, C] at (possibly jittered) ``times`` -> [C, T] on a uniform grid, with its rate."""
    steps = np.diff(times)
    if len(times) < 2 or not np.isfinite(times).all() or (steps <= 0).any():
        raise InputError("time column must hold at least 2 strictly increasing finite values",
                         modality=modality, source=source)
    rate = (len(times) - 1) / (times[-1] - times[0])
    grid = times[0] + np.arange(len(times)) / rate
    uniform = np.stack([np.interp(grid, times, column) for column in values.T])
    return ImuRecording(uniform, float(rate))


def resample(values: np.ndarray, rate: float, target_rate: float) -> np.ndarray:
    """[C, T] at ``rate`` -> [C, T'] at ``target_rate`` (polyphase, anti-aliased)."""
    ratio = Fraction(target_rate / rate).limit_denominator(1000)
    if ratio == 1:
        return values
    resampled = resample_poly(values, ratio.numerator, ratio.denominator, axis=1, padtype="line")
    return resampled.astype(np.float32)


def centre_window(values: torch.Tensor, length: int, source: str) -> torch.Tensor:
    """[C, T] -> [C, length]: the centre ``length`` samples, or zero-padded at the end."""
    total = values.shape[1]
    if total >= length:
        start = (total - length) // 2
        return values[:, start:start + length]
    warnings.warn(f"[imu {source}] {total} samples after resampling, fewer than the encoder's {length}; "
                  "zero-padded at the end", ImuPaddingWarning, stacklevel=3)
    return F.pad(values, (0, length - total))


def _is_number(token) -> bool:
    try:
        float(token)
    except (TypeError, ValueError):
        return False
    return True
