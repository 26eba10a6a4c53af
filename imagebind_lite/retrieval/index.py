"""The embedding index: embeddings of any modality with ids, modality and source path.

Exact search is a chunked matrix product + ``torch.topk`` (``exact.py``); approximate search
goes through per-modality faiss indexes (``ann.py``): built from a faiss factory string and
saved with the index (``build_ann("IVF1024,Flat")``, ``index build --ann``), or built lazily in
memory for ``backend="faiss"``. ``backend="auto"`` uses a saved (or factory-configured) ANN
index when there is one and exact search otherwise. Adds are incremental; searches may run
from several threads at once; ``save``/``load`` persist to a verified directory
(``persistence.py``). Embeddings are L2-normalised on the way in, so inner product is cosine
similarity.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from imagebind_lite.errors import InputError

from .ann import FaissBackend
from .ann_config import AnnConfig
from .exact import exact_topk
from .results import (BACKENDS, ModalityFilter, SearchResult, check_backend, check_search_args, to_results,
                      unit_queries, wanted_codes)
from .storage import RowStore

log = logging.getLogger(__name__)

__all__ = ["BACKENDS", "EmbeddingIndex", "ModalityFilter", "SearchResult"]

def _as_matrix(x, dim: int, what: str, modality: Optional[str] = None) -> torch.Tensor:
    x = torch.as_tensor(x).detach().to("cpu", torch.float32)
    if x.dim() == 1:
        x = x.unsqueeze(0)
    if x.dim() != 2 or x.shape[1] != dim:
        raise InputError(f"{what} must have shape [N, {dim}], got {list(x.shape)}", modality=modality)
    if not torch.isfinite(x).all():
        raise InputError(f"{what} contain NaN or infinite values", modality=modality)
    return x


def _row_norms(x: torch.Tensor, what: str, ids: Optional[Sequence[str]] = None, modality=None) -> torch.Tensor:
    """``[N, 1]`` L2 norms; a zero row cannot be normalised and is reported by its id."""
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    bad = torch.nonzero(norms.flatten() == 0).flatten()
    if len(bad):
        first = int(bad[0])
        raise InputError(f"{what} row {first} has zero norm and cannot be normalised", modality=modality,
                         source=ids[first] if ids else None)
    return norms


class EmbeddingIndex:
    """Cosine-similarity index over L2-normalised float32 embeddings ``[N, D]``.

    ``exact_below``: when set, ``backend="auto"`` also switches to an in-memory ANN index at
    that many rows (by default it uses a saved ANN index when present, exact search otherwise).
    """

    def __init__(self, dim: int, ann: Optional[AnnConfig] = None, exact_below: Optional[int] = None):
        self._store = RowStore(dim)
        self.ann_config = ann or AnnConfig()
        self.exact_below = exact_below
        self._write_lock = threading.Lock()  # serialises adds and the lazy faiss construction
        self._faiss: Optional[FaissBackend] = None
        self.read_only = False               # set by load(read_only=True): memory-mapped ANN lists

    # ----- contents ---------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self._store.dim

    def __len__(self) -> int:
        return len(self._store)

    @property
    def ids(self) -> List[str]:
        return self._store.ids[: len(self)]

    @property
    def sources(self) -> List[str]:
        return self._store.sources[: len(self)]

    @property
    def modalities(self) -> List[str]:
        """Modality of every row, in row order."""
        _, codes, _ = self._store.snapshot()
        names = self._store.modality_names
        return [names[c] for c in codes.tolist()]

    @property
    def modality_names(self) -> List[str]:
        """The modalities this index holds, in order of first appearance."""
        return list(self._store.modality_names)

    def modality_counts(self) -> Dict[str, int]:
        """Rows per modality, in order of first appearance."""
        _, codes, _ = self._store.snapshot()
        counts = torch.bincount(codes.long(), minlength=len(self._store.modality_names)).tolist() if len(codes) else []
        return {name: int(c) for name, c in zip(self._store.modality_names, counts) if c}

    @property
    def embeddings(self) -> torch.Tensor:
        return self._store.snapshot()[0]

    def row(self, row: int) -> SearchResult:
        """Id, modality and source of one row (score 0, rank 0)."""
        if not 0 <= row < len(self):
            raise InputError(f"row {row} is out of range for an index of {len(self)} rows")
        return SearchResult(self._store.ids[row], self._store.modality_at(row), self._store.sources[row], 0.0, 0)

    def row_of(self, id_: str) -> int:
        """The row holding ``id_`` (``InputError`` when absent)."""
        try:
            return self._store.row_of(id_)
        except KeyError:
            raise InputError(f"no row with id {id_!r} in this index") from None

    def add(self, embeddings, ids: Sequence[str], modality: Union[str, Sequence[str]],
            sources: Optional[Sequence[str]] = None) -> None:
        """Append rows; ``modality`` is one name for all rows or one per row."""
        if self.read_only:
            raise InputError("this index was loaded read-only (its ANN lists are memory-mapped); load it with "
                             "EmbeddingIndex.load(directory) to add rows")
        ids = list(ids)
        label = modality if isinstance(modality, str) else None
        emb = _as_matrix(embeddings, self.dim, "embeddings", label)
        n = emb.shape[0]
        mods = [modality] * n if isinstance(modality, str) else list(modality)
        srcs = [""] * n if sources is None else [str(s) for s in sources]
        for name, values in (("ids", ids), ("modality", mods), ("sources", srcs)):
            if len(values) != n:
                raise InputError(f"{n} embeddings but {len(values)} {name}", modality=label)
        norms = _row_norms(emb, "embeddings", ids, label)
        with self._write_lock:
            self._store.check_new_ids(ids, label or "")
            # normalised inside the store's buffer: no second full-size copy for a 1M-row add
            self._store.append(emb, ids, mods, srcs, divide_by=norms)

    # ----- approximate index ------------------------------------------------------------
    @property
    def has_saved_ann(self) -> bool:
        """True when the ANN index is built from a factory string (and saved with the index)."""
        return self.ann_config.factory is not None

    def _faiss_backend(self) -> FaissBackend:
        with self._write_lock:  # one lazy construction even when many threads search at once
            if self._faiss is None:
                self._faiss = FaissBackend(self.dim, self.ann_config)
            return self._faiss

    def build_ann(self, factory: Optional[str] = None, progress=None, **options) -> None:
        """Build the faiss sub-indexes now instead of lazily at the first approximate search.

        ``factory``: a faiss index-factory string ("IVF1024,Flat", "HNSW32", "IVF4096,PQ64"...):
        the index is trained, calibrated and then saved with ``save``. ``options``: other
        ``AnnConfig`` fields (``nprobe``, ``target_recall``, ``seed``...).
        """
        if factory is not None:
            options["factory"] = factory
        if options:
            if self._faiss is not None and self._faiss.subs:
                raise InputError("this index already has an ANN index; build a new index to change it")
            self.ann_config = replace(self.ann_config, **options)
            self._faiss = None
        backend = self._faiss_backend()
        backend.progress = progress
        emb, codes, n = self._store.snapshot()
        backend.build(emb, codes, n)
        backend.progress = None

    def ann_description(self) -> Optional[dict]:
        """Spec and per-modality settings of the ANN index (None without one)."""
        if self._faiss is None or not self._faiss.subs:
            return {"factory": self.ann_config.factory, "built": False} if self.has_saved_ann else None
        return {"factory": self.ann_config.factory,
                "modalities": self._faiss.describe(self._store.modality_names)}

    # ----- search -----------------------------------------------------------------------
    def _wanted_codes(self, modality: ModalityFilter) -> Optional[List[int]]:
        return wanted_codes(self._store.modality_names, modality)

    def check_filter(self, modality: ModalityFilter) -> None:
        """Raise ``InputError`` (listing the modalities held) for a filter naming one the index lacks."""
        self._wanted_codes(modality)

    def _pick_backend(self, backend: str, n: int) -> str:
        check_backend(backend)
        if backend == "auto":
            if self.has_saved_ann or (self.exact_below is not None and n >= self.exact_below):
                return "faiss"
            return "exact"
        return backend

    def backend_for(self, backend: str = "auto") -> str:
        """The backend a search with ``backend`` uses now: "exact" or "faiss"."""
        return self._pick_backend(backend, len(self))

    def search_rows(self, queries, k: int = 10, modality: ModalityFilter = None, backend: str = "auto",
                    nprobe: Optional[int] = None, ef_search: Optional[int] = None,
                    rerank: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Top-k as tensors ``(scores [Q, k], rows [Q, k])``; padding is ``-inf`` / ``-1``.

        ``nprobe`` / ``ef_search`` / ``rerank`` override the ANN index's defaults for this call.
        """
        check_search_args(k, nprobe, ef_search, rerank)
        # normalised by the numpy code the torch-free search of a saved index uses: the same bits
        q = torch.from_numpy(unit_queries(_as_matrix(queries, self.dim, "queries").numpy(), self.dim))
        emb, codes, n = self._store.snapshot()
        wanted = self._wanted_codes(modality)
        if self._pick_backend(backend, n) == "faiss":
            options = {"nprobe": nprobe, "ef_search": ef_search, "rerank": rerank}
            return self._faiss_backend().search(emb, codes, n, q, k, wanted, options)
        mask = None if wanted is None else torch.isin(codes, torch.tensor(wanted, dtype=codes.dtype))
        scores, rows = exact_topk(q, emb, k, mask)
        rows = rows.masked_fill(torch.isinf(scores), -1)
        return scores, rows

    def search(self, queries, k: int = 10, modality: ModalityFilter = None, backend: str = "auto",
               **options) -> List[List[SearchResult]]:
        """Ranked results for each query row (a 1-D query counts as one row)."""
        scores, rows = self.search_rows(queries, k, modality, backend, **options)
        store = self._store
        info = lambda r: (store.ids[r], store.modality_at(r), store.sources[r])  # noqa: E731
        return to_results(scores.numpy(), rows.numpy(), info)

    # ----- persistence ------------------------------------------------------------------
    def save(self, directory) -> Path:
        """Write the index directory atomically (with its ANN index when built from a factory string)."""
        from .index_io import save_index

        if self.read_only:
            raise InputError("this index was loaded read-only; load it with EmbeddingIndex.load(directory) to save it")
        backend = None
        if self.has_saved_ann:
            backend = self._faiss_backend()
            emb, codes, n = self._store.snapshot()
            backend.build(emb, codes, n)
        return save_index(directory, self._store, backend)

    @classmethod
    def load(cls, directory, dim: Optional[int] = None, ann: Optional[AnnConfig] = None,
             exact_below: Optional[int] = None, verify: str = "cached", read_only: bool = False) -> "EmbeddingIndex":
        """Load and verify a saved index; ``dim`` (optional) must match the stored one.

        ``verify="full"`` re-hashes every file (by default files unchanged since they were
        last verified are trusted, see ``integrity.py``); ``read_only=True`` memory-maps the
        ANN lists and re-scores candidates with positioned reads of the embeddings file (the
        page cache holds those rows, not the process), for processes that only search.
        """
        from .index_io import load_into

        index = cls(dim or 1, ann=ann, exact_below=exact_below)
        return load_into(index, directory, dim, verify, read_only)
