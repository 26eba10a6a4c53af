"""A bank of Gaussian noise that samples slice at random offsets.

Drawing fresh normals costs more than all the rest of a 2 s audio clip (about 8 ns a value);
a 4 MiB bank made once per world and read at a seeded random offset gives noise that is, for
any model trained here, just as independent, at the cost of a memory copy.
"""
from __future__ import annotations

from typing import Tuple, Union

import numpy as np

BANK_SIZE = 1 << 20  # values in the bank (4 MiB float32)


class NoiseBank:
    """Unit Gaussian float32 noise, reproducible from ``seed``."""

    KEY_RANGE = 1 << 62  # callers draw keys with ``rng.integers(NoiseBank.KEY_RANGE)``

    def __init__(self, seed: int, size: int = BANK_SIZE):
        self.values = np.random.default_rng([seed, 0x5EED]).standard_normal(size, dtype=np.float32)

    def draw(self, key: int, shape: Union[int, Tuple[int, ...]], scale: float) -> np.ndarray:
        """A fresh array of ``shape`` noise times ``scale``; ``key`` (a random integer drawn
        by the caller) picks the offset."""
        n = int(np.prod(shape))
        if n > len(self.values):  # huge renders: draw directly rather than repeat the bank
            rng = np.random.default_rng(key)
            return rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)
        start = int(key) % (len(self.values) - n + 1)
        return (self.values[start:start + n] * np.float32(scale)).reshape(shape)
