"""One modality's faiss index: its entries (global rows as ids), search defaults, and search.

Lossy indexes (PQ, SQ codes) return approximate scores and miss true neighbours whose codes
rank them low; such an index fetches ``k x rerank`` candidates and re-scores them exactly from
the stored embeddings (a ``RowReader``'s positioned reads in a read-only process, the rows in
memory otherwise), so the scores shown are the true cosine similarities and recall recovers
at the cost of a few row reads per query. numpy and faiss only: the torch-free search of a
saved index (``saved_search.py``) and ``FaissBackend`` share this code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .ann_factory import gather_rows, search_parameters

ADD_CHUNK = 65536          # rows gathered (copied) per add call: bounds the temporary copy
# Defaults of an index built in memory without calibration: at 1M x 512 with sqrt(N) lists,
# nprobe 16 / 20 / 32 gave recall@10 0.95 / 0.98 / 0.999 (benchmarks/RESULTS.md, retrieval index).
LEGACY_NPROBE = 32
LEGACY_EF_SEARCH = 128


@dataclass
class SubIndex:
    index: Any                    # faiss index whose ids are global rows
    spec: str                     # factory string it was built from ("Flat" when kept exact)
    count: int = 0                # entries
    trained_rows: int = 0         # rows of the modality when it was built (IVF lists sized for it)
    nprobe: Optional[int] = None  # calibrated defaults (None: not calibrated)
    ef_search: Optional[int] = None
    rerank: int = 0               # re-score k * rerank candidates exactly; 0 = trust the index's scores
    recall: Optional[float] = None  # recall@10 measured against exact search when built
    extra: Dict[str, Any] = field(default_factory=dict)

    def add(self, emb, rows: np.ndarray, progress=None) -> None:
        """Add ``rows`` (global, into ``emb``) in bounded chunks."""
        for start in range(0, len(rows), ADD_CHUNK):
            chunk = np.ascontiguousarray(rows[start:start + ADD_CHUNK], dtype=np.int64)
            self.index.add_with_ids(gather_rows(emb, chunk), chunk)
            self.count += len(chunk)
            if progress is not None:
                progress.update(len(chunk))

    def search(self, faiss, queries: np.ndarray, k: int, emb,
               options: Dict[str, Optional[int]]) -> Tuple[np.ndarray, np.ndarray]:
        """``(scores [Q, k'], rows [Q, k'])`` with ``-inf`` / ``-1`` where fewer entries exist.

        ``emb``: where re-scoring reads candidate rows (a tensor, an array or a ``RowReader``).
        """
        rerank = options.get("rerank")
        rerank = self.rerank if rerank is None else rerank
        fetch = min(self.count, k * rerank if rerank > 1 else k)
        if fetch <= 0:
            return np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
        nprobe = options.get("nprobe") or self.nprobe or LEGACY_NPROBE
        ef = options.get("ef_search") or self.ef_search or LEGACY_EF_SEARCH
        scores, rows = self.index.search(queries, fetch, params=search_parameters(faiss, self.index, nprobe, ef, fetch))
        if rerank > 1:
            scores, rows = _rescore(queries, rows, emb, min(k, fetch))
        scores = np.where(rows >= 0, scores, -np.inf)
        return scores, rows

    def describe(self) -> Dict[str, Any]:
        out = {"spec": self.spec, "rows": self.count, "trained_rows": self.trained_rows, "rerank": self.rerank}
        for key in ("nprobe", "ef_search", "recall"):
            if getattr(self, key) is not None:
                out[key if key != "recall" else "recall@10"] = getattr(self, key)
        return out


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest scores per row, best first (ties keep their order)."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def _rescore(queries: np.ndarray, rows: np.ndarray, emb, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Exact inner products of the candidate rows, top ``k`` of them."""
    valid = rows >= 0
    cand = gather_rows(emb, np.where(valid, rows, 0).reshape(-1)).reshape(rows.shape[0], rows.shape[1], -1)
    exact = np.matmul(cand, queries[:, :, None])[:, :, 0]                       # [Q, C]
    exact[~valid] = -np.inf
    pos = _top(exact, k)
    return np.take_along_axis(exact, pos, axis=1), np.take_along_axis(rows, pos, axis=1)


def search_subs(faiss, subs: Dict[int, SubIndex], queries: np.ndarray, k: int, wanted: Optional[Sequence[int]],
                emb, options: Dict[str, Optional[int]]) -> Tuple[np.ndarray, np.ndarray]:
    """Top-k ``(scores, global rows)`` over the sub-indexes of the ``wanted`` codes (all when None)."""
    all_s: List[np.ndarray] = []
    all_i: List[np.ndarray] = []
    for code, sub in subs.items():
        if wanted is not None and code not in wanted:
            continue
        scores, rows = sub.search(faiss, queries, k, emb, options)
        all_s.append(scores)
        all_i.append(rows)
    if not all_s:
        return np.full((len(queries), 0), -np.inf, np.float32), np.full((len(queries), 0), -1, np.int64)
    s = np.concatenate(all_s, axis=1).astype(np.float32)
    i = np.concatenate(all_i, axis=1).astype(np.int64)
    pos = _top(s, min(k, s.shape[1]))
    return np.take_along_axis(s, pos, axis=1), np.take_along_axis(i, pos, axis=1)
