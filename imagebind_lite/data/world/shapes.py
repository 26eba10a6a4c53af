"""Per-pixel fields of one object in its own coordinates: outline mask, 3D relief, surface
pattern and heat profile.

All functions take object coordinates ``a, b`` (the pixel grid shifted to the object centre,
rotated and divided by its radius, so the object spans about [-1, 1]) and return float32 or bool
arrays of the grid's shape. Working in object coordinates is what makes one scene render
consistently to image, depth and thermal: the same mask and relief feed all three.
"""
from __future__ import annotations

import numpy as np


def outline(shape: str, a: np.ndarray, b: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Boolean mask of the object's silhouette."""
    aa, ab = np.abs(a), np.abs(b)
    if shape == "round":
        return rho <= 1.0
    if shape == "square":
        return np.maximum(aa, ab) <= 0.85
    if shape == "triangular":  # apex up, flat base
        return (b <= 0.7) & (b >= -1.0 + 1.9 * aa)
    if shape == "diamond":
        return aa + ab <= 1.0
    if shape == "star":  # five lobes; angle only computed here because atan2 is the slow part
        return rho <= 0.6 + 0.4 * np.cos(5.0 * np.arctan2(b, a))
    if shape == "ring":
        return (rho <= 1.0) & (rho >= 0.5)
    if shape == "cross":
        return (np.minimum(aa, ab) <= 0.33) & (np.maximum(aa, ab) <= 1.0)
    if shape == "hexagonal":
        return np.maximum(aa * 0.866 + ab * 0.5, ab) <= 0.9
    raise KeyError(f"unknown shape {shape!r}")


def relief(form: str, rho: np.ndarray) -> np.ndarray:
    """How far each surface point stands out toward the camera, 0..1 (times object radius)."""
    if form == "dome":
        return np.sqrt(np.clip(1.0 - rho * rho, 0.0, 1.0))
    if form == "slab":
        return np.full_like(rho, 0.5)
    if form == "cone":
        return np.clip(1.0 - rho, 0.0, 1.0)
    if form == "bowl":  # rim toward the camera, centre recessed
        return np.clip(rho * rho, 0.0, 1.0)
    raise KeyError(f"unknown form {form!r}")


def pattern(texture: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Surface pattern in 0..1; 1 marks the darker paint. Drawn in object coordinates so it
    scales and rotates with the object."""
    if texture == "plain":
        return np.zeros_like(a)
    if texture == "striped":
        return (np.sin(a * 3.0 * np.pi) > 0).astype(np.float32)
    if texture == "checkered":
        return ((np.floor(a * 2.5) + np.floor(b * 2.5)) % 2).astype(np.float32)
    if texture == "spotted":
        fa, fb = a * 2.5 - np.round(a * 2.5), b * 2.5 - np.round(b * 2.5)
        return (fa * fa + fb * fb < 0.09).astype(np.float32)
    raise KeyError(f"unknown texture {texture!r}")


def heat(profile: str, b: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Share of the concept's heat reached at each point, 0..1."""
    if profile == "uniform":
        return np.ones_like(rho)
    if profile == "hot core":
        return np.exp(-2.5 * rho * rho)
    if profile == "hot rim":
        return np.clip(0.25 + 0.75 * rho * rho, 0.0, 1.0)
    if profile == "hot top":  # b grows downward in image coordinates
        return np.clip(0.5 - 0.5 * b, 0.0, 1.0)
    raise KeyError(f"unknown heat profile {profile!r}")
