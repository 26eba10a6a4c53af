"""Torch Dataset view of a synthetic world collection, generated on the fly.

Holds only the (small, picklable) config and rebuilds the world lazily in each DataLoader
worker, so nothing large crosses process boundaries.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from torch.utils.data import Dataset

from imagebind_lite.data.world.config import COLLECTIONS, WorldConfig
from imagebind_lite.errors import InputError


class WorldDataset(Dataset):
    """``size`` samples of one collection: item ``i`` is ``world.sample(collection, start + i)``."""

    def __init__(self, config: WorldConfig, collection: str, size: int, start: int = 0,
                 transform: Optional[Callable[[Dict[str, Any]], Any]] = None):
        if collection not in COLLECTIONS:
            raise InputError(f"unknown collection {collection!r}; expected one of {COLLECTIONS}",
                             modality="world", source=collection)
        if size < 0 or start < 0:
            raise InputError(f"size and start must be >= 0, got {size}, {start}", modality="world")
        self.config, self.collection, self.size, self.start = config, collection, int(size), int(start)
        self.transform = transform
        self._world = None

    @property
    def world(self):
        if self._world is None:
            from imagebind_lite.data.world.world import SyntheticWorld

            self._world = SyntheticWorld(self.config)
        return self._world

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int):
        if not -self.size <= i < self.size:
            raise IndexError(f"index {i} out of range for {self.size} samples")
        sample = self.world.sample(self.collection, self.start + (i % self.size))
        return self.transform(sample) if self.transform is not None else sample

    def __getstate__(self):  # the world is rebuilt in the worker: cheaper than pickling it
        state = dict(self.__dict__)
        state["_world"] = None
        return state
