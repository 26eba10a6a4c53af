"""Instance attributes: what varies between instances of one concept, with labels.

Visible attributes (size, position, shade) show in the image and, where the modality can carry
them, elsewhere (size: image area, nearer depth, larger thermal blob, louder sound). Tempo and
pitch have NO visual correlate: they are heard (rhythm, pitch) and felt (IMU frequency) only,
so they measure how far binding through an image pivot can reach.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from imagebind_lite.data.world.catalogue import SIZE_WORDS, TEMPO_WORDS
from imagebind_lite.data.world.concepts import Concept
from imagebind_lite.data.world.config import WorldConfig

#: attributes every sample carries, in order; value types are float unless named *_bin
ATTRIBUTE_NAMES = ("size", "size_bin", "x", "y", "shade", "distance", "loudness",
                   "tempo", "tempo_bin", "pitch")
#: attributes with no visual correlate (heard and felt, never seen)
NONVISUAL_ATTRIBUTES = ("tempo", "tempo_bin", "pitch")


def _bin(value: float, lo: float, hi: float, bins: int) -> int:
    return int(min(bins - 1, max(0, (value - lo) / (hi - lo) * bins)))


def distance_for_size(size: float, scale: float = 1.0) -> float:
    """Object distance in metres: larger instances stand nearer (and look larger); ``scale``
    is the concept's ``distance_scale`` (bulky things fill the same view from farther)."""
    return (3.0 - 1.8 * size) * scale


def sample_attributes(rng: np.random.Generator, concept: Concept, cfg: WorldConfig) -> Dict[str, float]:
    """Draw one instance's attributes; all derived quantities are computed here, once."""
    size = float(rng.uniform(0.0, 1.0))
    lo_t, hi_t = cfg.tempo_range
    tempo = float(rng.uniform(lo_t, hi_t))
    lo_p, hi_p = np.log(concept.pitch_range)
    margin = 0.1 * (hi_p - lo_p)  # keep pitch inside its band even after the FFT's resolution
    pitch = float(np.exp(rng.uniform(lo_p + margin, hi_p - margin)))
    return {
        "size": size,
        "size_bin": _bin(size, 0.0, 1.0, cfg.size_bins),
        "x": float(rng.uniform(-0.35, 0.35)),
        "y": float(rng.uniform(-0.35, 0.35)),
        "shade": float(rng.uniform(0.6, 1.1)),
        "distance": distance_for_size(size, concept.distance_scale),
        "loudness": 0.3 + 0.5 * size,
        "tempo": tempo,
        "tempo_bin": _bin(tempo, lo_t, hi_t, cfg.tempo_bins),
        "pitch": pitch,
    }


def bin_words(kind: str, bins: int) -> List[str]:
    """Human words for the bins of ``size_bin`` or ``tempo_bin`` (generic when bins != 3)."""
    words = {"size_bin": SIZE_WORDS, "tempo_bin": TEMPO_WORDS}[kind]
    if bins == len(words):
        return list(words)
    stem = kind.split("_")[0]
    return [f"{stem} level {i + 1}" for i in range(bins)]
