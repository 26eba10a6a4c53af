"""Which samples of the shards each rank and DataLoader worker reads in one pass.

Every process computes the same plan from (seed, epoch, cycle) and the shard counts, without
talking to the others:

1. the shards are put in a fresh order (seeded by seed, epoch, cycle) and seen as one
   sequence of N samples;
2. each rank gets a contiguous run of ``N // world_size`` of them, cut to whole batches
   (``drop_last``): every rank makes the same number of steps, which the exact contrastive
   gather needs. At most ``world_size * batch_size`` samples per pass are left out, and since
   the shard order changes every pass they are different ones each time;
3. inside a rank, batch ``k`` is made by logical worker ``k % W`` (DataLoader asks its
   workers in turn), so worker ``w`` gets a contiguous run of its own batches' worth.

A shard on a boundary is read by two slots, each its own part (the reader passes over the
first part by member headers). No sample is read twice in a pass, by any rank or worker.

Resuming after batch ``s - 1``: logical worker ``v`` passes over its first
``ceil((s - v) / W)`` batches, and DataLoader worker ``d`` plays logical worker
``(d + s) % W``, so the next batch comes from the worker whose turn it was.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np
import torch

Piece = Tuple[int, int, int]  # (shard index, first sample, stop sample) within that shard


@dataclass(frozen=True)
class PassShape:
    """How many samples and batches one rank's pass has."""

    total: int         # samples in all shards
    world_size: int
    batch_size: int
    drop_last: bool

    @property
    def rank_samples(self) -> int:
        return self.total // self.world_size

    @property
    def batches(self) -> int:
        n, b = self.rank_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def worker_batches(self, worker: int, workers: int) -> int:
        return self.batches // workers + (worker < self.batches % workers)

    def worker_samples(self, worker: int, workers: int) -> int:
        count = self.worker_batches(worker, workers) * self.batch_size
        if not self.drop_last and self.batches and worker == (self.batches - 1) % workers:
            count -= self.batches * self.batch_size - self.rank_samples  # the short batch is the pass's last
        return count

    def worker_range(self, rank: int, worker: int, workers: int) -> Tuple[int, int]:
        """[start, stop) of this slot in the pass's sample sequence."""
        start = rank * self.rank_samples + sum(self.worker_samples(v, workers) for v in range(worker))
        return start, start + self.worker_samples(worker, workers)


def shard_order(n_shards: int, seed: int, epoch: int, cycle: int, shuffle: bool) -> List[int]:
    if not shuffle:
        return list(range(n_shards))
    mixed = np.random.SeedSequence([seed, epoch, cycle]).generate_state(1)[0]
    return torch.randperm(n_shards, generator=torch.Generator().manual_seed(int(mixed))).tolist()


def pieces(counts: Sequence[int], order: Sequence[int], start: int, stop: int) -> List[Piece]:
    """The parts of shards (taken in ``order``) that positions [start, stop) cover."""
    found: List[Piece] = []
    position = 0
    for shard in order:
        n = counts[shard]
        lo, hi = max(start, position), min(stop, position + n)
        if lo < hi:
            found.append((shard, lo - position, hi - position))
        position += n
        if position >= stop:
            break
    return found


def skipped_batches(start_batch: int, worker: int, workers: int) -> int:
    """Batches logical ``worker`` made before batch ``start_batch`` of the pass."""
    return max(0, -(-(start_batch - worker) // workers))


def logical_worker(loader_worker: int, start_batch: int, workers: int) -> int:
    return (loader_worker + start_batch) % workers
