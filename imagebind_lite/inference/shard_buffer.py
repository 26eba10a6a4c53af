"""The rows of one shard while it fills, and the float32 block it is written from.

The predict loop only hands each batch over (``ShardBuffer.add`` keeps references to the
batch's embeddings, ids and sources, and their row numbers); ``finish``, called on the
shard-writing thread, copies them into one block at their rows' places. On two cores the
embedding loop is the bottleneck, so every copy, and the page faults of the first write to a
fresh block (a few milliseconds per 2 MiB huge page in a virtual machine), happens on the
writer's thread, which runs at a lower priority, instead of between two batches. Unreadable
rows leave holes that ``finish`` closes up. Blocks are recycled through a ``BlockPool``, so a
run of many shards allocates a few blocks instead of one per shard.
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


class ShardBuffer:
    """Rows ``[lo, hi)`` of the input list: the batches received so far, and the unreadable
    rows (skipped)."""

    def __init__(self, lo: int, hi: int):
        self.lo, self.size = lo, hi - lo
        self._batches: list[tuple[np.ndarray, Any, Sequence[str], Sequence[str]]] = []
        self.skipped: list[dict[str, str]] = []
        self.seen = 0  # rows accounted for, embedded or skipped

    @property
    def complete(self) -> bool:
        return self.seen == self.size

    def add(self, rows: np.ndarray, emb, ids: Sequence[str], sources: Sequence[str]) -> None:
        """Embedded rows (input row numbers ``rows`` of this shard, embeddings ``emb[i]``, an
        array or a CPU tensor that nobody writes to afterwards: it is read only at ``finish``)."""
        self._batches.append((rows, emb, ids, sources))
        self.seen += len(rows)

    def skip(self, bad: dict[str, str]) -> None:
        self.skipped.append(bad)
        self.seen += 1

    def finish(self, block: np.ndarray) -> tuple[np.ndarray, list[str], list[str]]:
        """Embeddings in row order (a view of ``block`` when no row was skipped), ids, sources."""
        ids: list[Any] = [None] * self.size
        sources: list[Any] = [None] * self.size
        present = np.zeros(self.size, dtype=bool)
        for rows, emb, batch_ids, batch_sources in self._batches:
            local = rows - self.lo
            where = _as_slice(local)
            block[where] = np.asarray(emb)
            present[where] = True
            if isinstance(where, slice):  # no Python loop over the rows
                ids[where], sources[where] = batch_ids, batch_sources
            else:
                for slot, sample_id, source in zip(local.tolist(), batch_ids, batch_sources):
                    ids[slot], sources[slot] = sample_id, source
        self._batches.clear()  # the batches' memory goes as soon as the block holds them
        if present.all():
            return block[: self.size], ids, sources
        keep = np.flatnonzero(present)
        return block[keep], [ids[i] for i in keep], [sources[i] for i in keep]


def _as_slice(positions: np.ndarray):
    """``positions`` as a slice when they are consecutive and ascending (the usual case: the
    sampler reads each shard in order), else unchanged: a slice copies without an index array."""
    first, n = int(positions[0]), len(positions)
    if positions[-1] - first + 1 == n and (n == 1 or bool((np.diff(positions) == 1).all())):
        return slice(first, first + n)
    return positions
