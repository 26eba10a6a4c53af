"""Pictures of indexed files for the web page: thumbnails, colour-mapped maps, sensor plots.

A browser shows png and jpg files itself, and plays wav, flac, ogg and mp3; a 16-bit depth
png in millimetres, a thermal array or an IMU csv it cannot show. So each file is read through
its modality's own loader (``ModalitySpec.load``, the same decoding the model sees) and the
raw data is rendered server-side: an image as a thumbnail, a 2-D map as a colour-mapped PNG,
a multichannel series as an SVG line plot. Renderers are registered by modality name
(``register_preview``); a modality without one gets a renderer chosen from the shape of its
raw data, so a user's modality gets a preview without touching this file or the core.
"""
from __future__ import annotations

import io
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

Preview = Tuple[str, bytes]                  # (media type, body)
Renderer = Callable[[Any], Optional[Preview]]
THUMBNAIL = 256                              # longest side of a picture, in pixels
PLOT_POINTS = 160                            # points per line of a plot (time slices)
_RENDERERS: Dict[str, Renderer] = {}


def register_preview(modality: str) -> Callable[[Renderer], Renderer]:
    """Decorator: ``fn(raw) -> (media type, bytes)`` renders files of ``modality`` (raw from its loader)."""
    def decorate(fn: Renderer) -> Renderer:
        _RENDERERS[modality] = fn
        return fn
    return decorate


def _png(image) -> Preview:
    image.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "image/png", buffer.getvalue()


def _unwrap(raw):
    """The array inside a loader's record (e.g. an IMU recording's ``values``), else ``raw``."""
    inner = getattr(raw, "values", None)
    return inner if isinstance(inner, np.ndarray) else raw


def _array(raw) -> np.ndarray:
    if hasattr(raw, "detach"):
        raw = raw.detach().cpu().float().numpy()
    return np.asarray(raw, dtype=np.float32)


def colour_map(values, cmap: str = "viridis") -> Preview:
    """A 2-D array as a colour-mapped PNG, scaled between its 1st and 99th percentiles."""
    from matplotlib import colormaps
    from PIL import Image

    array = _array(values)
    finite = np.isfinite(array)
    lo, hi = np.percentile(array[finite], [1, 99]) if finite.any() else (0.0, 1.0)
    scaled = np.clip((array - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    rgba = colormaps[cmap](np.where(finite, scaled, 0.0))
    rgba[~finite] = (0.0, 0.0, 0.0, 1.0)  # invalid pixels (no depth reading) in black
    return _png(Image.fromarray((rgba[..., :3] * 255).astype(np.uint8)))


def picture(raw) -> Preview:
    """A PIL image, or a [3, H, W] / [H, W, 3] array in [0, 1] or 0-255, as a thumbnail."""
    from PIL import Image

    if isinstance(raw, Image.Image):
        return _png(raw.convert("RGB"))
    array = _array(raw)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 0, -1)
    if array.max(initial=0.0) <= 1.0:
        array = array * 255.0
    return _png(Image.fromarray(np.clip(array, 0, 255).astype(np.uint8).squeeze()))


def line_plot(series, width: int = 320, height: int = 120) -> Preview:
    """A [channels, time] series as a small SVG: one lane per channel, each scaled to its lane,
    drawn from the mean of each of ``PLOT_POINTS`` time slices (raw sensor noise hides the shape)."""
    values = _array(_unwrap(series))
    if values.ndim == 1:
        values = values[None]
    slices = np.array_split(np.arange(values.shape[1]), min(PLOT_POINTS, max(1, values.shape[1])))
    values = np.stack([values[:, idx].mean(axis=1) for idx in slices], axis=1)
    colours = ("#e4572e", "#29335c", "#f3a712", "#669bbc", "#a8c686", "#8f2d56")
    lane = height / len(values)
    xs = np.linspace(2, width - 2, values.shape[1])
    lines = []
    for c, channel in enumerate(values):
        lo, hi = float(np.nanmin(channel)), float(np.nanmax(channel))
        norm = (channel - lo) / (hi - lo) if hi > lo else np.full_like(channel, 0.5)
        ys = (c + 1) * lane - 2 - np.nan_to_num(norm, nan=0.5) * (lane - 4)
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
        lines.append(f'<polyline fill="none" stroke="{colours[c % len(colours)]}" stroke-width="1.3" '
                     f'points="{points}"/>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}"><rect width="100%" height="100%" fill="#fbfbfb"/>'
           + "".join(lines) + "</svg>")
    return "image/svg+xml", svg.encode()


def waveform(samples, width: int = 320, height: int = 80) -> Preview:
    """A sound as an SVG envelope (min/max of each of ``PLOT_POINTS`` slices of the mono mix)."""
    mono = _array(samples)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono.reshape(-1)
    slices = np.array_split(mono, min(PLOT_POINTS, max(1, mono.size)))
    top = np.array([s.max(initial=0.0) for s in slices])
    bottom = np.array([s.min(initial=0.0) for s in slices])
    scale = max(float(np.abs(mono).max(initial=0.0)), 1e-9)
    xs = np.linspace(0, width, len(slices))
    upper = [f"{x:.1f},{height / 2 - t / scale * (height / 2 - 2):.1f}" for x, t in zip(xs, top)]
    lower = [f"{x:.1f},{height / 2 - b / scale * (height / 2 - 2):.1f}" for x, b in zip(xs[::-1], bottom[::-1])]
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
           f'<rect width="100%" height="100%" fill="#fbfbfb"/><polygon fill="#d0642c" fill-opacity="0.8" '
           f'points="{" ".join(upper + lower)}"/></svg>')
    return "image/svg+xml", svg.encode()


def by_shape(raw) -> Optional[Preview]:
    """The fallback: pick a rendering from what the loader returned."""
    from PIL import Image

    if isinstance(raw, Image.Image):
        return picture(raw)
    try:
        array = _array(_unwrap(raw))
    except (TypeError, ValueError):
        return None
    if array.ndim == 3 and (array.shape[0] in (1, 3) or array.shape[-1] in (1, 3)):
        return picture(array)
    if array.ndim == 2 and array.shape[0] <= 16 and array.shape[1] >= 8 * array.shape[0]:
        return line_plot(array)           # a few channels over time
    if array.ndim == 2 and array.shape[1] <= 16 and array.shape[0] >= 8 * array.shape[1]:
        return line_plot(array.T)
    if array.ndim == 2:
        return colour_map(array)
    if array.ndim == 1 and array.size >= 8:
        return line_plot(array)
    return None


@register_preview("vision")
def _vision(raw) -> Preview:
    return picture(raw)


@register_preview("depth")
def _depth(raw) -> Preview:
    # the loader gives metres; near surfaces bright, as a disparity map (what the encoder sees)
    metres = _array(raw)
    return colour_map(np.where(metres > 0, 1.0 / np.maximum(metres, 1e-3), np.nan), "viridis")


@register_preview("thermal")
def _thermal(raw) -> Preview:
    return colour_map(_array(raw).squeeze(), "inferno")


@register_preview("audio")
def _audio(raw) -> Preview:
    return waveform(getattr(raw, "samples", raw))


@register_preview("imu")
def _imu(raw) -> Preview:
    return line_plot(raw)


def render(modality: str, raw) -> Optional[Preview]:
    """The preview of ``raw`` (what ``modality``'s loader returned), or None when nothing fits."""
    renderer = _RENDERERS.get(modality, by_shape)
    return renderer(raw)
