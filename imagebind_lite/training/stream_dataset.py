"""(image, X) pairs streamed from tar shards: a shuffling, rank- and worker-split, resumable reader.

``StreamPairDataset`` is an ``IterableDataset``: each DataLoader worker reads its own run of
the shards (stream_plan.py), mixes raw samples in a shuffle buffer, and only then decodes them
through the modalities' transforms (``EncodedFile``: bytes + member name), so the buffer holds
compressed bytes, not tensors. ``StreamPairLoader`` mirrors ``PairLoader`` (data_order.py):
same batch cursor, same ``resume_from``, same bad-sample policy applied in the main process,
so the training module checkpoints and resumes a stream exactly as it does a manifest.

Resuming re-reads (without decoding) what this pass had already consumed, because a shuffle
buffer's order can only be reproduced by replaying its input. Workers are started afresh for
every pass: each must see the pass's epoch and starting batch.

The pivot cache does not apply to streams (its embeddings are keyed by sample and would need
one full pass over the shards first): with shards, the frozen pivot embeds each batch's
images at every step, exactly as with ``use_pivot_cache=False``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any, Callable, Dict, Iterator, List, Optional

import numpy as np
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from imagebind_lite.data.bad_samples import BadSample, check_policy, fail_on_bad, read_or_bad
from imagebind_lite.data.shards import (
    META_FIELD, Shard, ShardSample, ShardSpec, find_member, read_range, resolve_shards, sample_meta,
)
from imagebind_lite.modality import EncodedFile
from imagebind_lite.registry import get_modality
from imagebind_lite.training.data_order import Cursor, _dist_info, resume_position
from imagebind_lite.training.datasets import PIVOT, PIVOT_INPUT
from imagebind_lite.training.stream_plan import PassShape, logical_worker, pieces, shard_order, skipped_batches

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassSpec:
    """What one pass reads: set by the loader before each pass, pickled into the workers."""

    seed: int = 0
    epoch: int = 0
    cycle: int = 0
    rank: int = 0
    world_size: int = 1
    workers: int = 1
    batch_size: int = 1
    drop_last: bool = True
    shuffle: bool = True
    start_batch: int = 0


def shuffled(records: Iterator[Any], size: int, rng: np.random.Generator) -> Iterator[Any]:
    """A shuffle buffer: keep ``size`` records, emit a random one as each new one arrives."""
    if size <= 1:
        yield from records
        return
    buffer: List[Any] = []
    for record in records:
        if len(buffer) < size:
            buffer.append(record)
            continue
        slot = int(rng.integers(len(buffer)))
        buffer[slot], record = record, buffer[slot]
        yield record
    rng.shuffle(buffer)
    yield from buffer


class StreamPairDataset(IterableDataset):
    """Items like ``PairDataset``'s: ``{"id", "label", "pivot", X}``, or a ``BadSample``."""

    def __init__(self, shards: List[Shard], modality: str, transforms: Dict[str, Callable],
                 on_bad_sample: str = "fail", pivot_modality: str = PIVOT, shuffle_buffer: int = 1000):
        self.shards = list(shards)
        self.modality, self.pivot_modality = modality, pivot_modality
        self.transforms = dict(transforms)
        self.on_bad_sample = check_policy(on_bad_sample)
        self.shuffle_buffer = int(shuffle_buffer)
        self.spec = PassSpec()
        self.total = sum(s.samples for s in self.shards)
        self._extensions = {m: tuple(get_modality(m).extensions) for m in (pivot_modality, modality)}

    def shape(self, spec: Optional[PassSpec] = None) -> PassShape:
        spec = spec or self.spec
        return PassShape(self.total, spec.world_size, spec.batch_size, spec.drop_last)

    def slot_records(self, spec: PassSpec, worker: int) -> Iterator[Any]:
        """Raw records (``ShardSample`` | ``BadSample``) of logical ``worker``, shuffled, with
        the batches it made before ``spec.start_batch`` passed over."""
        start, stop = self.shape(spec).worker_range(spec.rank, worker, spec.workers)
        order = shard_order(len(self.shards), spec.seed, spec.epoch, spec.cycle, spec.shuffle)
        parts = pieces([s.samples for s in self.shards], order, start, stop)
        records = chain.from_iterable(read_range(self.shards[i], lo, hi) for i, lo, hi in parts)
        if spec.shuffle:
            seq = np.random.SeedSequence([spec.seed, spec.epoch, spec.cycle, spec.rank, worker, 1])
            records = shuffled(records, self.shuffle_buffer, np.random.default_rng(seq))
        passed = skipped_batches(spec.start_batch, worker, spec.workers) * spec.batch_size
        for index, record in enumerate(records):
            if index >= passed:
                yield record

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        spec = self.spec
        if info is not None and info.num_workers != spec.workers:
            raise RuntimeError(f"planned for {spec.workers} worker(s), DataLoader has {info.num_workers}")
        worker = logical_worker(0 if info is None else info.id, spec.start_batch, spec.workers)
        for record in self.slot_records(spec, worker):
            yield self.decode(record)

    def decode(self, record: Any) -> Any:
        """A raw record -> a pair item, or a ``BadSample`` naming shard, member and modality."""
        if isinstance(record, BadSample):  # a broken shard: reported against this pair
            return replace(record, modality=self.modality)
        meta = read_or_bad(lambda: sample_meta(record), record.key, self.modality, record.member(META_FIELD))
        if isinstance(meta, BadSample):
            return meta
        sample_id, label = meta
        item: Dict[str, Any] = {"id": sample_id, "label": label}
        for modality, key in ((self.pivot_modality, PIVOT_INPUT), (self.modality, self.modality)):
            value = self._load(record, sample_id, modality)
            if isinstance(value, BadSample):
                return value
            item[key] = value
        return item

    def _load(self, record: ShardSample, sample_id: str, modality: str) -> Any:
        others = list(self._extensions.items())
        name = find_member(record, modality, self._extensions[modality], others)
        if name is None:
            fields = ", ".join(sorted(record.files)) or "none"
            return BadSample(sample_id, modality, record.member("*"), f"sample has no {modality!r} member (has: {fields})")
        member = record.member(name)
        encoded = EncodedFile(record.files[name], member)
        return read_or_bad(lambda: self.transforms[modality](encoded, member), sample_id, modality, member)


class StreamPairLoader:
    """Batches of a ``StreamPairDataset`` with ``PairLoader``'s interface (cursor, resume,
    per-pass epoch, policy); ``len()`` is batches per pass on this rank."""

    batch_sampler = None  # Lightning reads it when it inspects a loader that has a ``sampler``

    def __init__(self, dataset: StreamPairDataset, batch_size: int, collate_fn: Callable, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = True, num_workers: int = 0, on_bad_sample: str = "fail",
                 rank: Optional[int] = None, world_size: Optional[int] = None):
        default_rank, default_world = _dist_info()
        # not called ``dataset``: Lightning would take this for a DataLoader over an iterable
        # dataset and warn that its length may be wrong, which the pass plan makes exact
        self.stream, self.on_bad_sample = dataset, on_bad_sample
        self.spec = PassSpec(seed=int(seed), rank=default_rank if rank is None else rank,
                             world_size=default_world if world_size is None else world_size,
                             workers=max(1, num_workers), batch_size=int(batch_size), drop_last=drop_last,
                             shuffle=shuffle)
        self._resume: Optional[tuple] = None
        self._restart_epoch = False  # set when a checkpoint's split no longer matches this run
        # not persistent: workers must be re-created to see each pass's epoch and start batch
        self.loader = DataLoader(dataset, batch_size=self.spec.batch_size, collate_fn=collate_fn,
                                 num_workers=num_workers, drop_last=drop_last)

    @property
    def sampler(self) -> "StreamPairLoader":
        return self  # Lightning calls ``dataloader.sampler.set_epoch(epoch)`` at each epoch start

    def set_epoch(self, epoch: int) -> None:
        self.spec = replace(self.spec, epoch=int(epoch), cycle=0)

    def state_dict(self) -> dict:
        return {"seed": self.spec.seed, "epoch": self.spec.epoch, "world_size": self.spec.world_size,
                "workers": self.spec.workers, "samples": self.stream.total}

    def load_state_dict(self, state: dict) -> None:
        if state.get("seed", self.spec.seed) != self.spec.seed:
            raise ValueError(f"checkpoint was written with data seed {state['seed']}, this run uses {self.spec.seed}")
        saved = (state.get("world_size"), state.get("workers"), state.get("samples"))
        if saved != (self.spec.world_size, self.spec.workers, self.stream.total):
            log.warning("%s: the checkpoint split the shards over (ranks, workers, samples) = %s, this run %s; "
                        "the interrupted pass restarts from its beginning", self.stream.modality, saved,
                        (self.spec.world_size, self.spec.workers, self.stream.total))
            self._restart_epoch = True

    def resume_from(self, cursor: Cursor, epoch_end: bool = False) -> None:
        """Start the next pass right after the batch ``cursor`` (the last one consumed)."""
        self._resume = (tuple(int(v) for v in cursor), bool(epoch_end))

    def __len__(self) -> int:
        return self.stream.shape(self.spec).batches

    def _start(self) -> int:
        if self._resume is None:
            return 0
        (epoch, cycle, index), epoch_end = self._resume
        self._resume = None
        if self._restart_epoch:  # another split: the interrupted pass starts over
            index, self._restart_epoch = -1, False
        epoch, cycle, start = resume_position((epoch, cycle, index), epoch_end, len(self))
        self.spec = replace(self.spec, epoch=epoch, cycle=cycle)
        return start

    def __iter__(self):
        start = self._start()
        spec = replace(self.spec, start_batch=start)
        self.stream.spec = spec
        for index, batch in enumerate(self.loader, start=start):
            fail_on_bad(batch.get("skipped", []), self.on_bad_sample)
            batch["cursor"] = (spec.epoch, spec.cycle, index)
            yield batch
        self.spec = replace(self.spec, cycle=spec.cycle + 1)  # a restart within this epoch is a new cycle


def stream_dataset(spec: ShardSpec, modality: str, transforms: Dict[str, Callable], on_bad_sample: str = "fail",
                   pivot_modality: str = PIVOT, shuffle_buffer: int = 1000) -> StreamPairDataset:
    """A pair stream over the shards ``spec`` names (index JSON, folder, globs or paths)."""
    shards = resolve_shards(spec)
    dataset = StreamPairDataset(shards, modality, transforms, on_bad_sample, pivot_modality, shuffle_buffer)
    log.info("%s: streaming %d sample(s) from %d shard(s); no pivot cache for streams (the pivot embeds "
             "every batch)", modality, dataset.total, len(shards))
    return dataset
