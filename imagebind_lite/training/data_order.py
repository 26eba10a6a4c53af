"""A deterministic, rank-sharded, resumable batch order for one pair data set.

Why not a plain DataLoader: resuming mid-epoch must continue with the very batch after the
checkpoint, or a resumed run diverges from an uninterrupted one. The order of each pass is a
pure function of (seed, epoch, cycle) -- ``cycle`` counts restarts of a shorter loader inside
one epoch under ``CombinedLoader(mode="max_size_cycle")`` -- and every batch carries its
cursor ``(epoch, cycle, index)``. The training module records the cursor of each batch it
consumes and checkpoints it (Lightning pre-fetches one batch, so counting what a loader has
yielded would be off by one); ``resume_from`` restarts right after it.

Sharding for DDP happens here (rank r takes every world-th index of the permutation), so
Lightning does not need to inject a DistributedSampler into this iterable.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np
import torch
import torch.distributed as dist
from lightning.fabric.utilities.seed import pl_worker_init_function
from torch.utils.data import DataLoader, Dataset, Sampler

from imagebind_lite.training.datasets import Draw, fail_on_bad

Cursor = Tuple[int, int, int]  # (epoch, cycle, batch index within the pass)



def resume_position(cursor: Cursor, epoch_end: bool, batches: int) -> Tuple[int, int, int]:
    """(epoch, cycle, first batch) of the pass that follows the batch ``cursor`` (the last one
    consumed) in a loader of ``batches`` batches per cycle; ``epoch_end``: that epoch is over."""
    epoch, cycle, index = cursor
    if epoch_end:
        return epoch + 1, 0, 0
    if index + 1 >= batches:  # this (shorter) loader had just finished a cycle
        return epoch, cycle + 1, 0
    return epoch, cycle, index + 1

class _IndexSampler(Sampler):
    """Yields whatever index list the owning loader set for the current pass."""

    def __init__(self) -> None:
        self.indices: List[int] = []

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def _dist_info() -> Tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class PairLoader:
    """Iterable of collated batches; ``len()`` is batches per pass on this rank."""

    def __init__(self, dataset: Dataset, batch_size: int, collate_fn: Callable, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = True, num_workers: int = 0, on_bad_sample: str = "fail",
                 rank: Optional[int] = None, world_size: Optional[int] = None):
        default_rank, default_world = _dist_info()
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        self.on_bad_sample = on_bad_sample  # applied here, in the main process (datasets.fail_on_bad)
        self.rank = default_rank if rank is None else rank
        self.world_size = default_world if world_size is None else world_size
        self._epoch, self._cycle = 0, 0
        self._resume: Optional[Tuple[Cursor, bool]] = None
        self._index_sampler = _IndexSampler()
        # Lightning seeds workers only in the DataLoaders it sees, and this one sits inside an
        # iterable. Torch alone seeds worker w of every rank alike (same main seed); Lightning's
        # worker seeding mixes in the rank, so code drawing from global generators does not
        # repeat itself across ranks. The built-in augmentations draw from per-sample seeds (Draw).
        init = partial(pl_worker_init_function, rank=self.rank) if num_workers > 0 else None
        self.loader = DataLoader(dataset, batch_size=self.batch_size, sampler=self._index_sampler,
                                 collate_fn=collate_fn, num_workers=num_workers, drop_last=drop_last,
                                 persistent_workers=num_workers > 0, worker_init_fn=init)

    # Lightning calls ``dataloader.sampler.set_epoch(epoch)`` at every epoch start, and reads
    # ``batch_sampler`` when it inspects a loader that has a ``sampler``.
    batch_sampler = None

    @property
    def sampler(self) -> "PairLoader":
        return self

    # The Stateful protocol tells Lightning this loader resumes mid-epoch. The position itself
    # travels in the module's checkpoint (cursors of consumed batches; see the module
    # docstring), because what a loader has *yielded* includes Lightning's pre-fetched batch.
    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self._epoch}

    def load_state_dict(self, state: dict) -> None:
        if state.get("seed", self.seed) != self.seed:
            raise ValueError(f"checkpoint was written with data seed {state['seed']}, this run uses {self.seed}")

    def set_epoch(self, epoch: int) -> None:
        self._epoch, self._cycle = int(epoch), 0

    def resume_from(self, cursor: Cursor, epoch_end: bool = False) -> None:
        """Start the next pass right after the batch ``cursor`` (the last one consumed)."""
        self._resume = (tuple(int(v) for v in cursor), bool(epoch_end))

    def _shard(self) -> List[int]:
        n = len(self.dataset)
        if self.shuffle:
            mixed = np.random.SeedSequence([self.seed, self._epoch, self._cycle]).generate_state(1)[0]
            generator = torch.Generator().manual_seed(int(mixed))
            order = torch.randperm(n, generator=generator).tolist()
        else:
            order = list(range(n))
        usable = n - n % self.world_size  # equal shards: the contrastive gather needs equal batches
        return order[:usable][self.rank::self.world_size]

    def __len__(self) -> int:
        shard = len(self.dataset) // self.world_size
        return shard // self.batch_size if self.drop_last else -(-shard // self.batch_size)

    def _start(self) -> int:
        """Apply a pending resume: set epoch/cycle and return the first batch index."""
        if self._resume is None:
            return 0
        cursor, epoch_end = self._resume
        self._resume = None
        self._epoch, self._cycle, start = resume_position(cursor, epoch_end, len(self))
        return start

    def __iter__(self):
        start = self._start()
        epoch, cycle = self._epoch, self._cycle
        indices = self._shard()[start * self.batch_size:]
        if getattr(self.dataset, "augment", None) is not None:  # the pass seeds each sample's augmentation
            indices = [Draw(index, epoch, cycle) for index in indices]
        self._index_sampler.indices = indices
        for index, batch in enumerate(self.loader, start=start):
            fail_on_bad(batch.get("skipped", []), self.on_bad_sample)
            batch["cursor"] = (epoch, cycle, index)
            yield batch
        self._cycle = cycle + 1  # a restart within this epoch (max_size_cycle) is a new cycle
