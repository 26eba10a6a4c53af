"""Approximate search through faiss, one sub-index per modality, built from a factory string.

One sub-index per modality makes the modality filter exact for the approximate backend too
(searching more and filtering afterwards can return fewer than k hits when a modality is rare).
Two lives: an index built with ``AnnConfig.factory`` (``index build --ann IVF1024,Flat``) is
trained once on a seeded sample, calibrated (``ann_tune.py``), saved with the index and loaded
by every later process, never retrained; without a factory string the sub-indexes are built
lazily in memory on the first approximate search (IVF with sqrt(N) lists, or HNSW). Either way
rows added later extend the sub-indexes incrementally, under a writer lock.
References: faiss wiki "Guidelines to choose an index"; Malkov & Yashunin 2018 (HNSW).
"""
from __future__ import annotations

import logging
import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from imagebind_lite.errors import InputError

from .ann_config import DEFAULT_RERANK, AnnConfig
from .ann_factory import (FLAT_SPEC, centroids_to_train, hnsw_of, is_lossy, ivf_of, make_index, min_rows,
                          require_faiss, training_sample, with_ids)
from .ann_sub import SubIndex, search_subs
from .ann_tune import calibrate, sample_queries
from .rwlock import ReadWriteLock

log = logging.getLogger(__name__)

__all__ = ["AnnConfig", "FaissBackend", "require_faiss"]

class FaissBackend:
    """Per-modality faiss sub-indexes (keyed by modality code), built, extended, searched, saved."""

    def __init__(self, dim: int, config: Optional[AnnConfig] = None):
        self.faiss = require_faiss()
        self.dim = dim
        self.config = config or AnnConfig()
        if self.config.factory is None and self.config.kind not in ("hnsw", "ivf"):
            raise ValueError(f"AnnConfig.kind must be 'hnsw' or 'ivf', got {self.config.kind!r}")
        if self.config.factory is not None:
            make_index(self.faiss, dim, self.config.factory)  # a bad spec fails now, not after the build
        if not 0.0 < self.config.target_recall <= 1.0:
            raise InputError(f"the target recall must be in (0, 1], got {self.config.target_recall}")
        self.subs: Dict[int, SubIndex] = {}
        self.synced = 0          # store rows [0, synced) are in the sub-indexes
        self.progress = None     # callable(total, desc) -> tqdm-like, for long builds
        self.row_reader = None   # RowReader: re-scoring reads rows from disk instead of the memory map
        self._lock = ReadWriteLock()

    @property
    def saved_kind(self) -> bool:
        """True for an index built from a factory string (saved with the index directory)."""
        return self.config.factory is not None

    # ----- building ---------------------------------------------------------------------------
    def _spec_for(self, n: int) -> str:
        cfg = self.config
        if cfg.factory is not None:
            return cfg.factory
        if cfg.kind == "hnsw":
            return f"HNSW{cfg.hnsw_m},Flat"
        return f"IVF{min(n, cfg.nlist or max(1, int(math.sqrt(n))))},Flat"

    def _new_sub(self, emb: torch.Tensor, rows: np.ndarray) -> SubIndex:
        faiss, cfg, n = self.faiss, self.config, len(rows)
        spec = self._spec_for(n)
        index = make_index(faiss, self.dim, spec)
        if n < min_rows(faiss, index, spec, cfg.flat_below):
            if cfg.factory is not None and n >= cfg.flat_below:
                log.info("%d rows are too few to train %s (it needs %d); this modality stays exact", n, spec,
                         min_rows(faiss, index, spec, cfg.flat_below))
            return SubIndex(with_ids(faiss, make_index(faiss, self.dim, FLAT_SPEC)), FLAT_SPEC, trained_rows=n)
        if hnsw_of(faiss, index) is not None:
            hnsw_of(faiss, index).hnsw.efConstruction = cfg.ef_construction
        if not index.is_trained:
            size = cfg.train_size or cfg.train_per_list * centroids_to_train(faiss, index, spec)
            index.train(training_sample(emb, rows, max(size, 1), cfg.seed))
        rerank = cfg.rerank if cfg.rerank is not None else (DEFAULT_RERANK if is_lossy(faiss, index) else 0)
        return SubIndex(with_ids(faiss, index), spec, trained_rows=n, rerank=rerank)

    def _build(self, emb: torch.Tensor, rows: np.ndarray) -> SubIndex:
        sub = self._new_sub(emb, rows)
        bar = self.progress(len(rows), f"adding rows to {sub.spec}") if self.progress and len(rows) > 100_000 else None
        sub.add(emb, rows, bar)
        if bar is not None:
            bar.close()
        log.debug("built %s over %d rows", sub.spec, len(rows))
        return sub

    def _outgrown(self, sub: SubIndex, total: int) -> bool:
        if sub.spec == FLAT_SPEC:
            probe = make_index(self.faiss, self.dim, self._spec_for(total))
            return total >= min_rows(self.faiss, probe, self._spec_for(total), self.config.flat_below)
        # an in-memory IVF with sqrt(N) lists fixed at build: 4x more rows = 4x longer lists, so
        # rebuild; a saved index is extended instead (retraining is what it exists to avoid)
        return not self.saved_kind and ivf_of(self.faiss, sub.index) is not None and total >= 4 * sub.trained_rows

    def _rows_of(self, codes: torch.Tensor, code: int, start: int, n: int) -> np.ndarray:
        return (torch.nonzero(codes[start:n] == code).flatten() + start).numpy().astype(np.int64)

    def _sync(self, emb: torch.Tensor, codes: torch.Tensor, n: int) -> None:
        changed = []
        for code in torch.unique(codes[self.synced:n]).tolist():
            sub = self.subs.get(code)
            new_rows = self._rows_of(codes, code, self.synced if sub else 0, n)
            if sub is None or self._outgrown(sub, sub.count + len(new_rows)):
                self.subs[code] = self._build(emb, self._rows_of(codes, code, 0, n))
                changed.append(code)
            else:
                sub.add(emb, new_rows)
        self.synced = n
        if self.saved_kind and changed:
            self._set_defaults(emb, codes, n, changed)

    def _set_defaults(self, emb: torch.Tensor, codes: torch.Tensor, n: int, changed: Sequence[int]) -> None:
        """Search defaults of new sub-indexes: the configured ones, or calibrated against exact search."""
        cfg = self.config
        if cfg.nprobe is not None or cfg.ef_search is not None or not cfg.calibration_queries:
            for code in changed:  # fixed by the caller: saved as given
                sub = self.subs[code]
                sub.nprobe = cfg.nprobe if ivf_of(self.faiss, sub.index) is not None else None
                sub.ef_search = cfg.ef_search if hnsw_of(self.faiss, sub.index) is not None else None
            return
        queries = sample_queries(emb, n, cfg.calibration_queries, cfg.seed)
        for code in changed:
            calibrate(self.faiss, self.subs[code], emb, codes[:n], code, queries, cfg.target_recall,
                      tune_rerank=cfg.rerank is None)

    def build(self, emb: torch.Tensor, codes: torch.Tensor, n: int) -> None:
        """Build or extend the sub-indexes now (otherwise the next search does it)."""
        if self.synced != n:
            with self._lock.write():
                if self.synced < n:
                    self._sync(emb, codes, n)

    def adopt(self, subs: Dict[int, SubIndex], synced: int) -> None:
        """Take sub-indexes loaded from disk, covering store rows ``[0, synced)``."""
        with self._lock.write():
            self.subs, self.synced = dict(subs), synced

    # ----- searching --------------------------------------------------------------------------
    def search(self, emb: torch.Tensor, codes: torch.Tensor, n: int, queries: torch.Tensor, k: int,
               wanted: Optional[Sequence[int]], options: Optional[Dict[str, Optional[int]]] = None
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Top-k ``(scores, global rows)``; -inf / -1 pad when fewer rows match."""
        self.build(emb, codes, n)
        q = np.ascontiguousarray(queries.numpy().astype(np.float32))
        opts = {"nprobe": self.config.nprobe, "ef_search": self.config.ef_search, "rerank": None}
        opts.update({key: value for key, value in (options or {}).items() if value is not None})
        rows_from = self.row_reader if self.row_reader is not None else emb
        with self._lock.read():
            scores, rows = search_subs(self.faiss, self.subs, q, k, wanted, rows_from, opts)
        return torch.from_numpy(scores), torch.from_numpy(rows)

    def describe(self, names: Sequence[str]) -> Dict[str, dict]:
        return {names[code]: sub.describe() for code, sub in sorted(self.subs.items())}
