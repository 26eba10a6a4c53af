"""One pass over a dataset that fills an in-memory cache, in worker processes or not.

A tensor that a DataLoader worker returns arrives in shared memory, and under PyTorch's default
sharing strategy on Linux every one of them holds a file descriptor for as long as it lives. A
cache keeps every item, so tens of thousands of items would exhaust the process's descriptors
(``RuntimeError: received 0 items of ancdata``). Each item is therefore copied into ordinary
memory as it arrives, which lets its shared block, and its descriptor, go.
"""
from __future__ import annotations

from typing import Any, List, Optional

import torch
from torch.utils.data import DataLoader, Dataset


def cache_worker_count(cache_workers: Optional[int], num_workers: int) -> int:
    """Workers for a cache-filling pass: ``cache_workers``, or the loaders' ``num_workers`` when None."""
    return num_workers if cache_workers is None else cache_workers


def load_all(dataset: Dataset, num_workers: int = 0, batch_size: int = 64) -> List[Any]:
    """Every item of ``dataset`` in order, read by ``num_workers`` processes (0: this one)."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=list)
    if num_workers == 0:
        return [item for chunk in loader for item in chunk]
    return [owned(item) for chunk in loader for item in chunk]


def owned(obj: Any) -> Any:
    """``obj`` with every tensor in shared memory (in tuples, lists and dicts) replaced by a copy."""
    if isinstance(obj, torch.Tensor):
        return obj.clone() if obj.is_shared() else obj
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a named tuple
        return type(obj)(*(owned(part) for part in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(owned(part) for part in obj)
    if isinstance(obj, dict):
        return {key: owned(value) for key, value in obj.items()}
    return obj
