"""Linear probes on raw features: is the world neither trivial nor impossible?

For each modality a ridge-regression classifier (closed form, numpy only) is fit on simple,
unlearned features of generated samples and scored on held-out ones: block-averaged pixels for
the three cameras, a log band spectrum and loudness envelope for audio, the downsampled signal
and its per-axis spectrum for IMU, a bag of words for text. Accuracy should sit well above
chance (1/K) and below saturation for every modality; the numbers are reported by
``benchmarks/probe_world.py``.
"""
from __future__ import annotations

import re
from typing import Callable, Dict, List, Sequence

import numpy as np

FEATURE_BLOCK = 8  # image side after block averaging


QUANTILES = 32  # sorted-value samples per channel: a position-invariant view of the same pixels


def camera_features(image: np.ndarray, side: int = FEATURE_BLOCK) -> np.ndarray:
    """Block-averaged pixels plus each channel's sorted values (its quantiles): the object's
    position varies, so a linear probe on pixels alone sees mostly where, not what."""
    h, w = image.shape[:2]
    image = image.reshape(h, w, -1).astype(np.float32)
    crop = image[: h - h % side, : w - w % side]
    pooled = crop.reshape(side, crop.shape[0] // side, side, crop.shape[1] // side, -1).mean(axis=(1, 3))
    ranks = np.linspace(0, h * w - 1, QUANTILES).astype(int)
    quantiles = np.sort(image.reshape(h * w, -1), axis=0)[ranks]
    return np.concatenate([pooled.ravel(), quantiles.ravel()])


def _modulation(envelope: np.ndarray, bins: int = 24) -> np.ndarray:
    """Magnitude spectrum of a loudness envelope: rhythm regardless of its phase."""
    return np.abs(np.fft.rfft(envelope - envelope.mean()))[1:bins + 1]


def audio_features(audio: np.ndarray, bands: int = 96, frames: int = 100) -> np.ndarray:
    """Log power in log-spaced frequency bands, the frame loudness envelope and its spectrum."""
    power = np.abs(np.fft.rfft(audio)) ** 2
    edges = np.unique(np.geomspace(1, len(power) - 1, bands + 1).astype(int))
    spectrum = np.log(np.add.reduceat(power, edges[:-1]) + 1e-6)
    usable = len(audio) - len(audio) % frames
    envelope = np.sqrt((audio[:usable].reshape(frames, -1) ** 2).mean(axis=1))
    return np.concatenate([spectrum, envelope, _modulation(envelope)])


def imu_features(imu: np.ndarray, steps: int = 25) -> np.ndarray:
    """The IMU clip averaged down to ``steps`` steps, plus the per-axis magnitude spectrum."""
    usable = len(imu) - len(imu) % steps
    coarse = imu[:usable].reshape(steps, -1, imu.shape[1]).mean(axis=1).ravel()
    spectrum = np.abs(np.fft.rfft(imu - imu.mean(axis=0), axis=0))[:30].ravel()
    return np.concatenate([coarse, spectrum])


def text_features(texts: Sequence[str]) -> np.ndarray:
    """Bag of words over the vocabulary of ``texts``."""
    tokens = [re.findall(r"[a-z-]+", t.lower()) for t in texts]
    vocab = {w: i for i, w in enumerate(sorted({w for ts in tokens for w in ts}))}
    out = np.zeros((len(texts), len(vocab)), np.float32)
    for row, ts in enumerate(tokens):
        for w in ts:
            out[row, vocab[w]] += 1.0
    return out


FEATURES: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "vision": camera_features, "depth": camera_features, "thermal": camera_features,
    "audio": audio_features, "imu": imu_features,
}


def ridge_accuracy(x: np.ndarray, y: np.ndarray, train: int, classes: int, lam: float = 1.0) -> float:
    """Fit a ridge classifier on the first ``train`` rows, return accuracy on the rest."""
    mu, sd = x[:train].mean(axis=0), x[:train].std(axis=0) + 1e-6
    x = np.hstack([(x - mu) / sd, np.ones((len(x), 1), np.float32)])
    targets = np.eye(classes, dtype=np.float64)[y[:train]]
    xt = x[:train].astype(np.float64)
    weights = np.linalg.solve(xt.T @ xt + lam * np.eye(x.shape[1]), xt.T @ targets)
    return float(((x[train:] @ weights).argmax(axis=1) == y[train:]).mean())


def probe_world(world, train: int = 1500, test: int = 500, target: str = "label",
                modalities: Sequence[str] = ("vision", "text", "audio", "depth", "thermal", "imu"),
                lam: float = 10.0) -> Dict[str, float]:
    """Held-out accuracy of a linear probe per modality on eval samples; ``target`` is
    ``"label"`` or a binned attribute such as ``"tempo_bin"``."""
    samples: List[dict] = [world.sample("eval", i) for i in range(train + test)]
    if target == "label":
        y, classes = np.array([s["label"] for s in samples]), len(world.concepts)
    else:
        y = np.array([s["attributes"][target] for s in samples])
        classes = len(world.attribute_classes()[target])
    results = {}
    for m in modalities:
        x = text_features([s["text"] for s in samples]) if m == "text" else \
            np.stack([FEATURES[m](s[m]) for s in samples]).astype(np.float32)
        results[m] = ridge_accuracy(x, y, train, classes, lam)
    results["chance"] = float(np.bincount(y[train:]).max() / test)
    return results
