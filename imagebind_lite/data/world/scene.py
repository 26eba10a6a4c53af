"""One scene, three cameras: image (RGB), depth (metres) and thermal from the same geometry.

A scene is a wall and a floor meeting at a horizon, a few clutter blobs, and the concept's
object in front. The object's mask, relief and heat come from ``shapes.py`` evaluated in the
object's own coordinates, so its outline is identical in all three renders, a larger instance
is both larger in the image and nearer in depth, and lighting changes the image but not the
depth or the heat. References: SUN RGB-D / NYU-D (depth in metres, 16-bit mm png) and LLVIP
(8-bit thermal), whose formats the outputs mimic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from imagebind_lite.data.world import shapes
from imagebind_lite.data.world.concepts import Concept
from imagebind_lite.data.world.config import WorldConfig
from imagebind_lite.data.world.noise import NoiseBank

THERMAL_RANGE_C = (0.0, 80.0)  # an 8-bit thermal image spans this many degrees, fixed gain
FLOOR_NEAR_M = 0.6  # the floor's depth at the bottom edge of the frame


def object_radius(size: float) -> float:
    """Object radius in normalised image units (half the frame is 1.0)."""
    return 0.22 + 0.33 * size


@dataclass
class Blob:
    """A clutter object: a plain disc or square somewhere behind the concept's object."""

    cx: float  # centre, normalised image coordinates (-1..1)
    cy: float
    radius: float  # normalised
    square: bool  # square or disc
    rgb: np.ndarray  # colour 0..1
    depth: float  # metres
    temp: float  # degrees above ambient


@dataclass
class Scene:
    """Everything random about one scene except the object's own attributes."""

    horizon: float  # v coordinate where wall meets floor (v grows downward); may be off-frame
    wall_rgb: np.ndarray  # 0..1
    floor_rgb: np.ndarray  # 0..1
    wall_depth: float  # metres
    ambient: float  # degrees Celsius
    angle: float  # object rotation, radians
    gain: float  # global light level (image only)
    light: Tuple[float, float]  # light gradient direction (image only)
    clutter: List[Blob]


def grid(size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates u (x, rightward) and v (y, downward), both in -1..1."""
    axis = ((np.arange(size, dtype=np.float32) + 0.5) / size) * 2.0 - 1.0
    return np.meshgrid(axis, axis)


def _horizon(attrs: Dict[str, float], wall_depth: float) -> float:
    """Horizon that puts the floor under the object's base at the object's distance, so the
    object rests on the floor: above the base the floor is farther (occluded by the object),
    below it nearer. Floor depth is ``wall / (1 + k (v - h))`` with ``k`` fixing the depth at
    the frame's bottom edge; solving depth(base) = distance for ``h`` gives this."""
    base = attrs["y"] + object_radius(attrs["size"])
    r = (wall_depth / attrs["distance"] - 1.0) / (wall_depth / FLOOR_NEAR_M - 1.0)
    return (base - r) / (1.0 - r)


def sample_scene(rng: np.random.Generator, attrs: Dict[str, float], cfg: WorldConfig) -> Scene:
    """Draw the nuisances of one scene (background, lighting, clutter)."""
    wall_depth = float(rng.uniform(4.5, 6.5))  # beyond the farthest object (3.9 m)
    clutter = []
    for _ in range(int(rng.integers(0, cfg.clutter_max + 1))):
        clutter.append(Blob(
            cx=float(rng.uniform(-0.9, 0.9)), cy=float(rng.uniform(-0.9, 0.9)),
            radius=float(rng.uniform(0.08, 0.2)), square=bool(rng.integers(0, 2)),
            rgb=rng.uniform(0.1, 0.95, 3).astype(np.float32),
            depth=float(rng.uniform(attrs["distance"] + 0.3, wall_depth - 0.1)),
            temp=float(rng.uniform(-3.0, 6.0))))
    phi = float(rng.uniform(0, 2 * np.pi))
    return Scene(
        horizon=_horizon(attrs, wall_depth),
        wall_rgb=rng.uniform(0.3, 0.75, 3).astype(np.float32),
        floor_rgb=rng.uniform(0.2, 0.6, 3).astype(np.float32),
        wall_depth=wall_depth, ambient=float(rng.uniform(16.0, 26.0)),
        angle=float(rng.uniform(-0.5, 0.5)), gain=float(rng.uniform(0.65, 1.25)),
        light=(float(np.cos(phi)), float(np.sin(phi))), clutter=clutter)


def _background_depth(scene: Scene, v: np.ndarray) -> np.ndarray:
    """Wall and floor depth in metres; the floor recedes from the bottom up to the horizon."""
    h = scene.horizon
    k = (scene.wall_depth / FLOOR_NEAR_M - 1.0) / (1.0 - h)
    floor = scene.wall_depth / (1.0 + k * np.maximum(v - h, 0.0))
    return np.where(v < h, scene.wall_depth, floor).astype(np.float32)


def _object_frame(u, v, attrs, scene: Scene):
    """Object coordinates a, b, rho of every pixel, and the object's normalised radius."""
    radius = object_radius(attrs["size"])
    du, dv = u - attrs["x"], v - attrs["y"]
    c, s = np.cos(scene.angle), np.sin(scene.angle)
    a = (du * c + dv * s) / radius
    b = (dv * c - du * s) / radius
    return a, b, np.sqrt(a * a + b * b), radius


def _blob_masks(u, v, clutter: List[Blob], background: np.ndarray) -> List[np.ndarray]:
    """Visible pixels of each clutter blob: inside its outline and nearer than the wall/floor
    (a blob standing behind a stretch of floor is hidden by it, as in a z-buffer)."""
    masks = []
    for blob in clutter:
        du, dv = np.abs(u - blob.cx), np.abs(v - blob.cy)
        inside = np.maximum(du, dv) <= blob.radius if blob.square else du * du + dv * dv <= blob.radius ** 2
        masks.append(inside & (blob.depth < background))
    return masks


def render_scene(concept: Concept, attrs: Dict[str, float], scene: Scene, uv, cfg: WorldConfig,
                 rng: np.random.Generator, noise: NoiseBank,
                 want=("vision", "depth", "thermal")) -> Dict[str, np.ndarray]:
    """Render the requested cameras of one scene. Each camera's noise offset is drawn from
    ``rng`` whether or not the camera is rendered, so a render never depends on ``want``."""
    u, v = uv
    a, b, rho, radius = _object_frame(u, v, attrs, scene)
    mask = shapes.outline(concept.shape, a, b, rho)
    background = _background_depth(scene, v)
    blobs = _blob_masks(u, v, scene.clutter, background)
    wall = v < scene.horizon
    keys = [int(k) for k in rng.integers(NoiseBank.KEY_RANGE, size=3)]
    out = {}
    if "vision" in want:
        grain = noise.draw(keys[0], u.shape + (3,), cfg.pixel_noise)
        out["vision"] = _vision(concept, attrs, scene, u, v, a, b, rho, mask, blobs, wall, grain)
    if "depth" in want:
        grain = noise.draw(keys[1], u.shape, cfg.depth_noise)
        out["depth"] = _depth(concept, attrs, scene, background, rho, radius, mask, blobs, grain)
    if "thermal" in want:
        grain = noise.draw(keys[2], u.shape, cfg.thermal_noise)
        out["thermal"] = _thermal(concept, scene, v, b, rho, mask, blobs, wall, grain, cfg.thermal_bits)
    return out


def _vision(concept, attrs, scene, u, v, a, b, rho, mask, blobs, wall, grain) -> np.ndarray:
    img = np.where(wall[..., None], scene.wall_rgb, scene.floor_rgb)
    for blob, m in zip(scene.clutter, blobs):
        img[m] = blob.rgb
    paint = 1.0 - 0.45 * shapes.pattern(concept.texture, a[mask], b[mask])
    # nearer parts of the relief catch more light: the image hints at the 3D form, as in photos
    lit = paint * (0.8 + 0.3 * shapes.relief(concept.form, rho[mask]))
    img[mask] = np.asarray(concept.rgb, np.float32) * attrs["shade"] * lit[:, None]
    lx, ly = scene.light
    img *= (scene.gain * (1.0 + 0.25 * (u * lx + v * ly)))[..., None]
    return np.clip(img * 255.0 + grain, 0, 255).astype(np.uint8)


def _depth(concept, attrs, scene, background, rho, radius, mask, blobs, grain) -> np.ndarray:
    depth = background.copy()
    for blob, m in zip(scene.clutter, blobs):
        depth[m] = blob.depth
    dist = attrs["distance"]
    # physical radius ~ normalised radius x distance (a 90-degree field of view)
    depth[mask] = dist - radius * dist * shapes.relief(concept.form, rho[mask])
    return (depth * (1.0 + grain)).astype(np.float32)  # error grows with range, as in ToF/stereo


def _thermal(concept, scene, v, b, rho, mask, blobs, wall, grain, bits: int) -> np.ndarray:
    amb = scene.ambient
    # the floor is a little cooler than the air, warming toward the camera (bounded: h may be far off-frame)
    temp = np.where(wall, amb, amb - 1.5 + 0.5 * np.minimum(v - scene.horizon, 2.0)).astype(np.float32)
    for blob, m in zip(scene.clutter, blobs):
        temp[m] = amb + blob.temp
    temp[mask] = amb + concept.heat_delta * shapes.heat(concept.heat_profile, b[mask], rho[mask])
    temp += grain
    if bits == 16:  # radiometric style: centi-kelvin
        return np.clip((temp + 273.15) * 100.0, 0, 65535).astype(np.uint16)
    lo, hi = THERMAL_RANGE_C
    return np.clip((temp - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
