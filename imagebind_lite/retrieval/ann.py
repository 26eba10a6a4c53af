"""Approximate search through faiss (HNSW or IVF), one sub-index per modality.

One sub-index per modality makes the modality filter exact for the approximate backend too
(searching more and filtering afterwards can return fewer than k hits when a modality is rare).
Sub-indexes are built lazily on the first approximate search and extended incrementally with
the rows added since (HNSW and trained IVF both support ``add``), under a writer lock.
References: faiss wiki "Guidelines to choose an index"; Malkov & Yashunin 2018 (HNSW).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .rwlock import ReadWriteLock

log = logging.getLogger(__name__)


def require_faiss():
    """Import faiss or explain how to get it (it is optional: exact search needs only torch)."""
    try:
        import faiss  # noqa: WPS433 (optional dependency, imported where needed)
    except ImportError as exc:
        raise ImportError(
            "approximate search needs faiss: `pip install faiss-cpu` "
            "(or search with backend='exact', which needs only torch)") from exc
    return faiss


@dataclass
class AnnConfig:
    kind: str = "ivf"              # "ivf" (k-means lists; builds ~10x faster on CPU) or "hnsw" (graph)
    hnsw_m: int = 32               # HNSW neighbours per node: memory/recall trade-off
    ef_construction: int = 80      # HNSW build beam width: build time vs graph quality
    ef_search: int = 128           # HNSW search beam width (raised to k when k is larger)
    nlist: Optional[int] = None    # IVF lists; None = sqrt(rows) (cheap k-means on a CPU)
    nprobe: int = 32               # IVF lists visited per query: speed vs recall
    train_per_list: int = 64       # IVF k-means sample = this x nlist rows (faiss warns below 39)
    flat_below: int = 2048         # sub-indexes this small stay exact (ANN buys nothing there)
    seed: int = 0                  # k-means sampling seed, for reproducible builds


class _SubIndex:
    """The faiss index of one modality and the global row of each of its entries."""

    def __init__(self, index, rows: np.ndarray, seen: int):
        self.index = index
        self.rows = rows          # int64 global row per faiss id
        self.seen = seen          # store rows [0, seen) have been scanned for this modality
        self.built_rows = len(rows)  # size when built: IVF lists sized for it

    def extend(self, emb: torch.Tensor, rows: np.ndarray, seen: int) -> None:
        if len(rows):
            self.index.add(np.ascontiguousarray(emb[torch.from_numpy(rows)].numpy()))
            self.rows = np.concatenate([self.rows, rows])
        self.seen = seen


class FaissBackend:
    """Lazily built, incrementally extended faiss sub-indexes, one per modality code."""

    def __init__(self, dim: int, config: Optional[AnnConfig] = None):
        self.faiss = require_faiss()
        self.dim = dim
        self.config = config or AnnConfig()
        if self.config.kind not in ("hnsw", "ivf"):
            raise ValueError(f"AnnConfig.kind must be 'hnsw' or 'ivf', got {self.config.kind!r}")
        self._subs: Dict[int, _SubIndex] = {}
        self._synced = 0
        self._lock = ReadWriteLock()

    def _new_index(self, emb: np.ndarray):
        faiss, cfg = self.faiss, self.config
        n = emb.shape[0]
        if n < cfg.flat_below:
            return faiss.IndexFlatIP(self.dim)
        if cfg.kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = cfg.ef_construction
            return index
        nlist = min(n, cfg.nlist or max(1, int(math.sqrt(n))))
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(cfg.seed)
        train = cfg.train_per_list * nlist
        sample = emb if n <= train else emb[np.sort(rng.choice(n, train, replace=False))]
        index.train(np.ascontiguousarray(sample))
        return index

    def _rows_of(self, codes: torch.Tensor, code: int, start: int, n: int) -> np.ndarray:
        return (torch.nonzero(codes[start:n] == code).flatten() + start).numpy().astype(np.int64)

    def _build(self, emb: torch.Tensor, rows: np.ndarray, n: int) -> _SubIndex:
        data = np.ascontiguousarray(emb[torch.from_numpy(rows)].numpy())
        index = self._new_index(data)
        log.info("built %s over %d rows", type(index).__name__, len(rows))
        index.add(data)
        return _SubIndex(index, rows, n)

    def _outgrown(self, sub: _SubIndex, total: int) -> bool:
        if isinstance(sub.index, self.faiss.IndexFlat):
            return total >= self.config.flat_below
        # IVF with nlist fixed at build: 4x more rows means 4x longer lists, so retrain
        return isinstance(sub.index, self.faiss.IndexIVF) and total >= 4 * sub.built_rows

    def _sync(self, emb: torch.Tensor, codes: torch.Tensor, n: int) -> None:
        for code in torch.unique(codes[self._synced:n]).tolist():
            sub = self._subs.get(code)
            new_rows = self._rows_of(codes, code, sub.seen if sub else 0, n)
            if sub is None or self._outgrown(sub, len(sub.rows) + len(new_rows)):
                # (re)build: a flat index past flat_below, or IVF lists sized for far fewer rows
                self._subs[code] = self._build(emb, self._rows_of(codes, code, 0, n), n)
            else:
                sub.extend(emb, new_rows, n)
        for sub in self._subs.values():
            sub.seen = n
        self._synced = n

    def _params(self, index, k: int):
        faiss = self.faiss
        # per-call search parameters: setting index.hnsw.efSearch would race between threads
        if isinstance(index, faiss.IndexHNSW):
            return faiss.SearchParametersHNSW(efSearch=max(self.config.ef_search, k))
        if isinstance(index, faiss.IndexIVF):
            return faiss.SearchParametersIVF(nprobe=min(self.config.nprobe, index.nlist))
        return None

    def build(self, emb: torch.Tensor, codes: torch.Tensor, n: int) -> None:
        """Build or extend the sub-indexes now (otherwise the next search does it)."""
        if self._synced != n:
            with self._lock.write():
                if self._synced < n:
                    self._sync(emb, codes, n)

    def search(self, emb: torch.Tensor, codes: torch.Tensor, n: int, queries: torch.Tensor, k: int,
               wanted: Optional[Sequence[int]]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Top-k ``(scores, global rows)``; -inf / -1 pad when fewer rows match."""
        self.build(emb, codes, n)
        q = np.ascontiguousarray(queries.numpy().astype(np.float32))
        all_s: List[np.ndarray] = []
        all_i: List[np.ndarray] = []
        with self._lock.read():
            for code, sub in self._subs.items():
                if wanted is not None and code not in wanted:
                    continue
                scores, local = sub.index.search(q, min(k, len(sub.rows)), params=self._params(sub.index, k))
                scores = np.where(local >= 0, scores, -np.inf)
                all_s.append(scores)
                all_i.append(np.where(local >= 0, sub.rows[np.maximum(local, 0)], -1))
        return _merge_subresults(all_s, all_i, queries.shape[0], k)


def _merge_subresults(all_s, all_i, nq: int, k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    if not all_s:
        return torch.full((nq, 0), float("-inf")), torch.full((nq, 0), -1, dtype=torch.long)
    s = torch.from_numpy(np.concatenate(all_s, axis=1)).float()
    i = torch.from_numpy(np.concatenate(all_i, axis=1)).long()
    top, pos = torch.topk(s, min(k, s.shape[1]), dim=1)
    return top, torch.gather(i, 1, pos)
