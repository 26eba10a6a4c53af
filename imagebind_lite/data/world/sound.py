"""The sound of an instance: a pitched tone in the concept's band, with the concept's timbre
(harmonics) and envelope, repeated at the instance's tempo.

Pitch band, timbre and envelope belong to the concept; pitch within the band, tempo and
loudness (from size) belong to the instance; start phase and noise are nuisances. Synthesis is
table lookup with fixed-point phase accumulators (as in classic wavetable synthesisers): one
period of the harmonic series and one event envelope, each tabulated once per concept, are
read at the instance's pitch and tempo, so a 2 s clip costs a few integer passes. Output is
mono float32 in [-1, 1], as ESC-50/AudioSet clips are after decoding.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from imagebind_lite.data.world.concepts import Concept
from imagebind_lite.data.world.config import WorldConfig
from imagebind_lite.data.world.noise import NoiseBank

TABLE_BITS = 12  # tables hold 4096 points: lookup error far below the noise floor
FRACTION_BITS = 20  # fixed-point fraction bits of the phase accumulators
BUZZ_HZ = 35.0  # flutter rate of the "buzz" envelope


BRIGHTNESS = (0.6, 0.8, 1.0, 1.25)
# overtones stay below this share of the fundamental: even when the fundamental falls between
# FFT bins (up to 36% scalloping loss without a window) it remains the loudest partial
OVERTONE_CAP = 0.6  # per-instance timbre variants: harmonic k scaled by b^(k-1)


def wavetable(harmonics: Sequence[float], brightness: float = 1.0) -> np.ndarray:
    """One period of the harmonic series, peak-normalised to 1; overtones capped (see above)."""
    x = np.arange(1 << TABLE_BITS) / (1 << TABLE_BITS)
    weights = [1.0] + [min(OVERTONE_CAP, h * brightness ** (k + 1)) for k, h in enumerate(harmonics[1:])]
    wave = sum(h * np.sin(2 * np.pi * (k + 1) * x) for k, h in enumerate(weights) if h)
    return (wave / np.abs(wave).max()).astype(np.float32)


def concept_tables(harmonics: Sequence[float], envelope_kind: str):
    """(wavetables, one per brightness variant; envelope table) of one concept."""
    return [wavetable(harmonics, b) for b in BRIGHTNESS], envelope_table(envelope_kind)


def envelope(kind: str, beat: np.ndarray) -> np.ndarray:
    """Loudness over one event; ``beat`` is the position within the event, 0..1."""
    if kind == "pluck":
        return np.exp(-8.0 * beat)
    if kind == "swell":
        return np.sin(np.pi * beat) ** 2
    if kind == "pulse":  # gated tone with 1/30-event ramps so it does not click
        return np.clip(30.0 * beat, 0, 1) * np.clip(30.0 * (0.4 - beat), 0, 1)
    if kind == "buzz":  # loud half, soft half; the flutter is added per sample in render_audio
        return 0.6 + 0.4 * (beat < 0.5)
    raise KeyError(f"unknown envelope {kind!r}")


def envelope_table(kind: str) -> np.ndarray:
    return envelope(kind, np.arange(1 << TABLE_BITS) / (1 << TABLE_BITS)).astype(np.float32)


def flutter(t: np.ndarray) -> np.ndarray:
    """Amplitude flutter of buzzing sounds, one value per sample time."""
    return (0.75 + 0.25 * np.sin(2 * np.pi * BUZZ_HZ * t)).astype(np.float32)


def _lookup(table: np.ndarray, steps: np.ndarray, freq: float, rate: float, phase: float) -> np.ndarray:
    """``table`` read at ``freq`` cycles/s from start ``phase``; in-place integer ops because
    fresh 256 KiB temporaries (page faults) would dominate the cost."""
    scale = 1 << (TABLE_BITS + FRACTION_BITS)
    acc = steps * int(round(freq / rate * scale))
    acc += int(phase * scale)
    acc >>= FRACTION_BITS
    acc &= (1 << TABLE_BITS) - 1
    return table[acc]


def render_audio(concept: Concept, attrs: Dict[str, float], tables, steps: np.ndarray,
                 buzz: np.ndarray, cfg: WorldConfig, rng: np.random.Generator,
                 noise: NoiseBank) -> np.ndarray:
    """Mono waveform of one instance. ``tables`` is ``concept_tables`` of the concept,
    ``steps`` the int64 sample indices and ``buzz`` the flutter per sample."""
    phase, beat_phase = rng.uniform(0.0, 1.0, 2)
    variant = tables[0][int(rng.integers(len(tables[0])))]
    audio = _lookup(variant, steps, attrs["pitch"], cfg.sample_rate, phase)
    audio *= _lookup(tables[1], steps, attrs["tempo"], cfg.sample_rate, beat_phase)
    if concept.envelope == "buzz":
        audio *= buzz
    audio *= np.float32(attrs["loudness"])
    audio += noise.draw(int(rng.integers(noise.KEY_RANGE)), len(steps), cfg.audio_noise)
    np.clip(audio, -1.0, 1.0, out=audio)
    return audio
