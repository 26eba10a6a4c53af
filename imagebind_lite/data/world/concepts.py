"""Concept design: which look, form, heat, sound and motion each named concept gets.

Factors are dealt out so that every level is shared by several concepts (two red concepts, two
round ones, two in the same pitch band...) and only the combination identifies a concept; that
keeps every single modality from being trivial, while the combinations each camera sees (look,
3D form, heat) stay distinct so that no modality is blind to a concept. The assignment is drawn
from the world seed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from imagebind_lite.data.world import catalogue as cat

PITCH_LOW_HZ = 150.0  # lowest fundamental of any concept
PITCH_HIGH_HZ = 2400.0  # highest fundamental; stays well under Nyquist with harmonics at 16 kHz


@dataclass
class Concept:
    """One named concept and how it shows in each modality."""

    name: str  # class name (also the label text)
    synonyms: List[str]  # other names used in captions
    label: int  # class index
    colour: str  # colour name (vision)
    rgb: Tuple[float, float, float]  # base colour in 0..1 (vision)
    shape: str  # outline (vision, depth, thermal)
    texture: str  # surface pattern (vision)
    form: str  # 3D relief (depth)
    bulk: str  # physical size class: at equal image size, bulky concepts stand farther (depth)
    distance_scale: float  # multiplies the instance distance (depth), from ``bulk``
    heat_profile: str  # where it is hot (thermal)
    heat_level: str  # how hot, as a word (thermal)
    heat_delta: float  # degrees above ambient at the hottest point (thermal)
    pitch_range: Tuple[float, float]  # fundamental frequency band in Hz (audio)
    timbre: str  # harmonic recipe name (audio)
    harmonics: Tuple[float, ...]  # harmonic amplitudes, fundamental first (audio)
    envelope: str  # per-event loudness shape (audio)
    sound_verb: str  # caption verb for the sound
    motion: str  # periodic motion waveform (imu)
    motion_verb: str  # caption verb for the motion
    motion_axes: Tuple[float, ...] = field(default=(1.0,) * 6)  # weights on ax,ay,az,gx,gy,gz (imu)

    @property
    def names(self) -> List[str]:
        """The name followed by its synonyms."""
        return [self.name] + list(self.synonyms)

    def to_dict(self) -> Dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _deal(rng: np.random.Generator, levels: int, count: int) -> np.ndarray:
    """Level indices for ``count`` concepts, each level used equally often, order shuffled."""
    return rng.permutation(np.resize(np.arange(levels), count))


def _duplicates(design: np.ndarray, groups: Sequence[Sequence[int]]) -> List[int]:
    """Rows whose values in some column group repeat an earlier row's."""
    rows = []
    for group in groups:
        seen = set()
        for i, key in enumerate(map(tuple, design[:, list(group)])):
            if key in seen:
                rows.append(i)
            seen.add(key)
    return rows


def _design(rng: np.random.Generator, levels: Sequence[int], groups, k: int) -> np.ndarray:
    """One level per factor (column) per concept, each level dealt equally often, such that
    within every column group no two concepts agree (e.g. no two concepts look the same).
    Collisions are repaired by swapping values inside a column, which keeps the balance."""
    design = np.stack([_deal(rng, n, k) for n in levels], axis=1)
    for _ in range(200 * k):
        bad = _duplicates(design, groups)
        if not bad:
            return design
        i, j = int(rng.choice(bad)), int(rng.integers(k))
        col = int(rng.choice([c for g in groups for c in g]))
        before = len(bad)
        design[[i, j], col] = design[[j, i], col]
        if len(_duplicates(design, groups)) > before:  # undo swaps that make things worse
            design[[i, j], col] = design[[j, i], col]
    raise RuntimeError(f"could not give {k} concepts distinct factor combinations")


BAND_OVERLAP = 0.5  # each pitch range reaches this share of a band into both neighbours


def _pitch_bands(k: int) -> np.ndarray:
    """Log-spaced band edges; about two concepts share each band."""
    bands = max(4, min(k, (k + 1) // 2))
    return np.geomspace(PITCH_LOW_HZ, PITCH_HIGH_HZ, bands + 1)


def _pitch_range(edges: np.ndarray, band: int) -> Tuple[float, float]:
    """Band ``band`` widened into its neighbours, so pitch alone is ambiguous near the edges."""
    widen = (edges[1] / edges[0]) ** BAND_OVERLAP
    return float(edges[band] / widen), float(edges[band + 1] * widen)


# factor columns of the design matrix, and the groups that must identify a concept on their own
FACTORS = {"colour": cat.COLOURS, "shape": cat.SHAPES, "texture": cat.TEXTURES, "form": cat.FORMS,
           "bulk": cat.BULKS, "profile": cat.HEAT_PROFILES, "level": cat.HEAT_LEVELS,
           "timbre": cat.TIMBRES, "envelope": cat.ENVELOPES, "motion": cat.MOTIONS}
DISTINCT = (("colour", "shape", "texture"),  # the look (vision)
            ("shape", "form", "bulk"),  # the 3D form (depth)
            ("shape", "profile", "level"))  # the heat (thermal)


def make_concepts(num_concepts: int, seed: int) -> List[Concept]:
    """The first ``num_concepts`` catalogue names, each given factors drawn from ``seed``."""
    rng = np.random.default_rng([seed, 0xC0C0])
    k, names = num_concepts, list(FACTORS)
    groups = [[names.index(f) for f in group] for group in DISTINCT]
    design = _design(rng, [len(t) for t in FACTORS.values()], groups, k)
    f = {name: design[:, i] for i, name in enumerate(names)}
    edges = _pitch_bands(k)
    band = _deal(rng, len(edges) - 1, k)
    axes = rng.dirichlet(np.full(6, 0.6), size=k) * 3.0  # a few dominant axes per concept
    concepts = []
    for i in range(k):
        name, synonyms = cat.CATALOGUE[i]
        colour, rgb = cat.COLOURS[f["colour"][i]]
        bulk, distance_scale = cat.BULKS[f["bulk"][i]]
        heat_word, heat_delta = cat.HEAT_LEVELS[f["level"][i]]
        timbre_name, harmonics = cat.TIMBRES[f["timbre"][i]]
        envelope_name, sound_verb = cat.ENVELOPES[f["envelope"][i]]
        motion_name, motion_verb = cat.MOTIONS[f["motion"][i]]
        concepts.append(Concept(
            name=name, synonyms=list(synonyms), label=i, colour=colour, rgb=tuple(rgb),
            shape=cat.SHAPES[f["shape"][i]], texture=cat.TEXTURES[f["texture"][i]],
            form=cat.FORMS[f["form"][i]], bulk=bulk, distance_scale=distance_scale,
            heat_profile=cat.HEAT_PROFILES[f["profile"][i]], heat_level=heat_word, heat_delta=heat_delta,
            pitch_range=_pitch_range(edges, band[i]), timbre=timbre_name,
            harmonics=tuple(harmonics), envelope=envelope_name, sound_verb=sound_verb,
            motion=motion_name, motion_verb=motion_verb,
            motion_axes=tuple(float(a) for a in axes[i])))
    return concepts
