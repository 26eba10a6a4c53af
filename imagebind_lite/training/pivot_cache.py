"""Pivot-embedding cache: the frozen pivot's embeddings of un-augmented images, computed once.

Because the pivot never changes during alignment, embedding every image again each epoch is
pure waste (open_clip issue #99 asks for this since 2022; ImageBind recomputes). We compute the
embeddings once (batched, eval mode, no grad), key them by sample id, and reuse them every
epoch. The cache key hashes (a) the pivot's state dict, bytes included, (b) the image data
config the transform is built from (with the contents of the processor files it may name), and
(c) the data set's fingerprint (manifest bytes or world config), so changing any of them
invalidates it. On disk it is one safetensors file per
pair data set, ``pivot-<name>-<key[:16]>.safetensors``, with the full key, the ids and the
skipped images in its metadata; writes are atomic (``imagebind_lite.atomic``).
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from imagebind_lite.atomic import atomic_path
from imagebind_lite.towers.files import with_files_digest
from imagebind_lite.training.cache_many import embed_many
from imagebind_lite.training.datasets import PairDataset

log = logging.getLogger(__name__)

CACHE_FORMAT_VERSION = 1


class PivotEmbeddings:
    """Sample id -> pivot embedding [D]; ``skipped`` lists images that could not be read."""

    def __init__(self, ids: List[str], embeddings: torch.Tensor, skipped: Optional[List[Tuple[str, str]]] = None):
        if len(ids) != embeddings.shape[0]:
            raise ValueError(f"{len(ids)} ids for {embeddings.shape[0]} embeddings")
        self.ids = list(ids)
        self.embeddings = embeddings
        self.skipped = list(skipped or [])
        self._row = {sid: row for row, sid in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, sample_id: str) -> Optional[torch.Tensor]:
        row = self._row.get(sample_id)
        return None if row is None else self.embeddings[row]


def state_dict_hash(module: nn.Module) -> str:
    """sha256 over names, dtypes, shapes and bytes of every tensor in the state dict, and of the
    buffers left out of it (computed ones, e.g. attention masks): any pivot, whatever its
    tensors are (0-dim counters like BatchNorm's, bf16/fp16, non-contiguous views, bools)."""
    digest = hashlib.sha256()
    tensors = {**dict(module.named_buffers()), **module.state_dict()}
    for name, tensor in sorted(tensors.items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        if tensor.numel():  # bytes through a 1-d uint8 view: no dtype numpy lacks (bf16), no 0-dim view
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def cache_key(pivot: Union[nn.Module, str], data_config: dict, dataset_fingerprint: str) -> str:
    """What the cached embeddings depend on: pivot weights (the module, or its
    ``state_dict_hash`` computed once for many data sets), image transform (the data config, and
    the contents of any processor files it names), the data."""
    weights = pivot if isinstance(pivot, str) else state_dict_hash(pivot)
    parts = {"version": CACHE_FORMAT_VERSION, "pivot": weights,
             "data_config": with_files_digest(data_config), "dataset": dataset_fingerprint}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@torch.no_grad()
def compute_pivot_embeddings(pivot: nn.Module, dataset: PairDataset, batch_size: int = 256,
                             num_workers: int = 0, device: Optional[torch.device] = None) -> PivotEmbeddings:
    """Embed every image of ``dataset`` once with the pivot in eval mode, without gradients."""
    return PivotEmbeddings(*embed_many(pivot, [dataset], batch_size, num_workers, device)[0])


class PivotCache:
    """Finds or computes the pivot embeddings of pair data sets (memory, then disk)."""

    def __init__(self, cache_dir: Optional[str] = None, batch_size: int = 256, num_workers: int = 0):
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None  # None: memory only
        self.batch_size = batch_size
        self.num_workers = num_workers
        self._memory: Dict[str, PivotEmbeddings] = {}
        self.hits = 0     # loads from memory or disk, for tests and logs
        self.misses = 0   # computations

    def path_for(self, name: str, key: str) -> Optional[Path]:
        return None if self.cache_dir is None else self.cache_dir / f"pivot-{name}-{key[:16]}.safetensors"

    def get(self, pivot: nn.Module, dataset: PairDataset, name: str, data_config: dict,
            device: Optional[torch.device] = None, compute: bool = True,
            pivot_hash: Optional[str] = None) -> Optional[PivotEmbeddings]:
        """Cached embeddings for ``dataset``; computed (and saved) on a miss when ``compute``.
        ``pivot_hash``: ``state_dict_hash(pivot)`` if already known (hashing a ViT-H takes s)."""
        return self.get_many(pivot, [(name, dataset)], data_config, device, compute, pivot_hash)[0]

    def get_many(self, pivot: nn.Module, named: Sequence[Tuple[str, PairDataset]], data_config: dict,
                 device: Optional[torch.device] = None, compute: bool = True,
                 pivot_hash: Optional[str] = None) -> List[Optional[PivotEmbeddings]]:
        """``get`` for each ``(name, dataset)``, with every miss computed in one pass over all
        their images (one set of worker processes, not one per data set). Data sets with one
        key (one data, e.g. the held-out sets of several pairs) are computed once: the first
        counts the miss and is saved under its name, the others count hits, as one by one."""
        if not named:  # nothing to hash the pivot for (seconds for a ViT-H)
            return []
        pivot_hash = pivot_hash or state_dict_hash(pivot)  # once for all data sets
        keys = [cache_key(pivot_hash, data_config, dataset.fingerprint()) for _, dataset in named]
        missing: Dict[str, Tuple[str, PairDataset]] = {}  # key -> the first (name, dataset) with it
        for (name, dataset), key in zip(named, keys):
            if key in self._memory or key in missing:
                self.hits += 1
                continue
            path = self.path_for(name, key)
            loaded = _load(path, key) if path is not None else None
            if loaded is not None:
                self.hits += 1
                log.info("pivot cache hit for %s: %s", name, path)
                self._memory[key] = loaded
            elif compute:
                missing[key] = (name, dataset)
        if missing:
            self._compute(pivot, missing, device)
        return [self._memory.get(key) for key in keys]

    def _compute(self, pivot: nn.Module, missing: Dict[str, Tuple[str, PairDataset]],
                 device: Optional[torch.device]) -> None:
        """Embed the missing data sets in one pass; each is saved as soon as it is complete, so
        one whose images all passed is kept even if a later one fails."""
        keys = list(missing)
        for name, dataset in missing.values():
            log.info("pivot cache miss for %s: embedding %d images once", name, len(dataset))

        def done(index: int, embedded) -> None:
            key = keys[index]
            result = PivotEmbeddings(*embedded)
            self.misses += 1
            path = self.path_for(missing[key][0], key)
            if path is not None:
                _save(path, key, result)
            self._memory[key] = result

        datasets = [dataset for _, dataset in missing.values()]
        embed_many(pivot, datasets, self.batch_size, self.num_workers, device, done)


def _save(path: Path, key: str, cached: PivotEmbeddings) -> None:
    metadata = {"key": key, "ids": json.dumps(cached.ids), "skipped": json.dumps(cached.skipped),
                "version": str(CACHE_FORMAT_VERSION)}
    # write then rename: a crash never leaves a truncated cache under the real name
    with atomic_path(path) as temp:
        save_file({"embeddings": cached.embeddings.contiguous()}, str(temp), metadata=metadata)


def _load(path: Path, key: str) -> Optional[PivotEmbeddings]:
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("key") != key:  # a 16-hex prefix collision or a foreign file
                return None
            embeddings = handle.get_tensor("embeddings")
        skipped = [tuple(item) for item in json.loads(metadata.get("skipped", "[]"))]
        return PivotEmbeddings(json.loads(metadata["ids"]), embeddings, skipped)
    except Exception as exc:  # a corrupt cache is recomputed, never trusted
        log.warning("ignoring unreadable pivot cache %s: %s", path, exc)
        return None
