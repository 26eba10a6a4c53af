"""One pass over a dataset that fills an in-memory cache, in worker processes or not.

A tensor that a DataLoader worker returns normally travels through shared memory: the worker
hands over a file descriptor, which the main process receives over a socket of its own, one
connection per tensor. For a cache of tens of thousands of small items that hand-over costs
more than decoding them (6-7 s of the main process for the demo's 20k inputs), and every kept
tensor would hold its descriptor for as long as it lives, until the process runs out of them
(``RuntimeError: received 0 items of ancdata``). Workers therefore ship each tensor's bytes
inside the pickled batch (``TensorBytes``), and the main process rebuilds it in ordinary memory.
"""
from __future__ import annotations

from typing import Any, List, Optional

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset


def cache_worker_count(cache_workers: Optional[int], num_workers: int) -> int:
    """Workers for a cache-filling pass: ``cache_workers``, or the loaders' ``num_workers`` when None."""
    return num_workers if cache_workers is None else cache_workers


def load_all(dataset: Dataset, num_workers: int = 0, batch_size: int = 64) -> List[Any]:
    """Every item of ``dataset`` in order, read by ``num_workers`` processes (0: this one)."""
    if num_workers == 0:
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=0, collate_fn=list)
        return [item for chunk in loader for item in chunk]
    prime(dataset, num_workers)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=to_bytes)
    return [from_bytes(item) for chunk in loader for item in chunk]


def prime(dataset: Dataset, num_workers: int) -> None:
    """Read the first item (of each part of a ``ConcatDataset``) here, before ``num_workers``
    worker processes fork, and discard it.

    Transforms build some state lazily on first use and keep it per process (open_clip's
    tokenizer, 0.3 s; a filterbank; an image pipeline). A worker forked from a process that never
    used the transform builds it again, and every cache pass forks fresh workers: the cost is
    paid per worker per pass. Built here once, every forked worker inherits it. Each part of a
    concatenation may have its own transforms, hence one read per part. Under the spawn or
    forkserver start methods workers inherit nothing, and this is merely a few extra reads.
    """
    if num_workers == 0:
        return
    if isinstance(dataset, ConcatDataset):
        starts = [0, *dataset.cumulative_sizes[:-1]]
        firsts = [start for start, part in zip(starts, dataset.datasets) if len(part)]
    else:
        firsts = [0] if len(dataset) else []
    for index in firsts:
        dataset[index]


class TensorBytes:
    """A tensor as a numpy byte array (pickled by value) plus its dtype and shape."""

    __slots__ = ("data", "dtype", "shape")

    def __init__(self, tensor: torch.Tensor):
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        self.data = flat.view(torch.uint8).numpy() if flat.numel() else np.empty(0, np.uint8)
        self.dtype, self.shape = tensor.dtype, tuple(tensor.shape)

    def __getstate__(self):
        return self.data, self.dtype, self.shape

    def __setstate__(self, state):
        self.data, self.dtype, self.shape = state

    def tensor(self) -> torch.Tensor:
        if not self.data.size:
            return torch.empty(self.shape, dtype=self.dtype)
        return torch.from_numpy(self.data).view(self.dtype).reshape(self.shape)


def to_bytes(obj: Any) -> Any:
    """``obj`` with every tensor (in tuples, named tuples, lists and dicts) as ``TensorBytes``;
    a worker's collate function."""
    return _map_leaves(obj, torch.Tensor, TensorBytes)


def from_bytes(obj: Any) -> Any:
    """The inverse of ``to_bytes``: each ``TensorBytes`` back to a tensor."""
    return _map_leaves(obj, TensorBytes, TensorBytes.tensor)


def _map_leaves(obj: Any, leaf_type: type, fn) -> Any:
    """``obj`` with ``fn`` applied to every ``leaf_type`` inside tuples, named tuples, lists, dicts."""
    if isinstance(obj, leaf_type):
        return fn(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a named tuple
        return type(obj)(*(_map_leaves(part, leaf_type, fn) for part in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map_leaves(part, leaf_type, fn) for part in obj)
    if isinstance(obj, dict):
        return {key: _map_leaves(value, leaf_type, fn) for key, value in obj.items()}
    return obj
