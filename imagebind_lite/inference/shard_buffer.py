"""The rows of one shard while it fills: a preallocated float32 block plus one id and source per row.

A batch's embeddings are copied into the block with one numpy assignment at their rows'
places, so nothing is done per row in Python but storing the id and source, and a shard that
received every row is written straight from the block (no stacking of row tensors, no
sorting: each row already sits at its place in input order). Unreadable rows leave holes that
``finish`` closes up. Blocks are recycled through a ``BlockPool``, so a run of many shards
allocates (and page-faults in) a few blocks instead of one per shard.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np


class BlockPool:
    """Float32 ``[rows, dim]`` blocks handed out and given back, keeping at most ``keep`` spares.

    Thread-safe: the shard-writing thread gives a block back once its shard is on disk.
    """

    def __init__(self, rows: int, dim: int, keep: int = 2):
        self.shape, self.keep = (rows, dim), keep
        self._spare: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self) -> np.ndarray:
        with self._lock:
            if self._spare:
                return self._spare.pop()
        return np.empty(self.shape, dtype=np.float32)

    def give_back(self, block: np.ndarray) -> None:
        with self._lock:
            if len(self._spare) < self.keep:
                self._spare.append(block)

    def prepare_spare(self) -> None:
        """Allocate a spare block and touch every page of it, unless one is already spare.

        Meant for a background thread: the first write to each page of fresh memory costs a page
        fault (about 0.15 s per 64 MiB here), which would otherwise land on the embedding loop as
        it copies rows in.
        """
        with self._lock:
            if self._spare:
                return
        block = np.empty(self.shape, dtype=np.float32)
        block.fill(0)
        self.give_back(block)


class ShardBuffer:
    """Rows ``[lo, hi)`` of the input list: embeddings, ids and sources gathered so far, and the
    unreadable ones (skipped)."""

    def __init__(self, lo: int, hi: int, block: np.ndarray):
        self.lo, self.size, self.block = lo, hi - lo, block
        self.ids: list[Any] = [None] * self.size
        self.sources: list[Any] = [None] * self.size
        self.present = np.zeros(self.size, dtype=bool)
        self.skipped: list[dict[str, str]] = []
        self.seen = 0  # rows accounted for, embedded or skipped

    @property
    def complete(self) -> bool:
        return self.seen == self.size

    def add(self, rows: np.ndarray, emb: np.ndarray, ids: Sequence[str], sources: Sequence[str]) -> None:
        """Embedded rows (input row numbers ``rows`` of this shard, embeddings ``emb[i]``)."""
        local = rows - self.lo
        where = _as_slice(local)
        self.block[where] = emb
        self.present[where] = True
        if isinstance(where, slice):  # no Python loop over the rows
            self.ids[where] = ids
            self.sources[where] = sources
        else:
            for slot, sample_id, source in zip(local.tolist(), ids, sources):
                self.ids[slot] = sample_id
                self.sources[slot] = source
        self.seen += len(local)

    def skip(self, bad: dict[str, str]) -> None:
        self.skipped.append(bad)
        self.seen += 1

    def finish(self) -> tuple[np.ndarray, list[str], list[str]]:
        """Embeddings (a view of the block when no row was skipped), ids and sources in row order."""
        if self.present.all():
            return self.block[: self.size], self.ids, self.sources
        keep = np.flatnonzero(self.present)
        return self.block[keep], [self.ids[i] for i in keep], [self.sources[i] for i in keep]


def _as_slice(positions: np.ndarray):
    """``positions`` as a slice when they are consecutive and ascending (the usual case: the
    sampler reads each shard in order), else unchanged: a slice copies without an index array."""
    first, n = int(positions[0]), len(positions)
    if positions[-1] - first + 1 == n and (n == 1 or bool((np.diff(positions) == 1).all())):
        return slice(first, first + n)
    return positions
