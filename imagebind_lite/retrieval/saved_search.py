"""Searching a saved ANN index by vector without torch: for processes that only answer queries.

``imagebind-lite query --vector q.npy`` against an index built with ``index build --ann`` needs
no model and no exact search, yet loading ``EmbeddingIndex`` imports torch, about a second and
a half of a query that faiss answers in milliseconds. ``SavedSearch`` opens the same directory
with numpy and faiss only, through the same code as the full loader: ``meta.json`` and row
metadata (``index_files.py``), the verified, memory-mapped faiss files (``ann_files.py``), the
per-modality search, re-scoring and merge (``ann_sub.py``), argument checks and results
(``results.py``), so its answers are those of ``EmbeddingIndex.search`` bit for bit.
The embeddings file is only read (and verified) when a lossy index re-scores candidates, by
positioned reads (``row_reader.py``), so the process never holds the embeddings in memory.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from imagebind_lite.errors import InputError

from .ann_factory import require_faiss
from .ann_files import load_ann
from .ann_sub import SubIndex, search_subs
from .index_files import EMB_FILE, FORMAT_VERSION, embeddings_layout, read_meta, read_rows, verify_listed
from .results import ModalityFilter, SearchResult, check_search_args, to_results, unit_queries, wanted_codes
from .row_reader import RowReader
from .vectors import QueryTerm, vector_terms_query

__all__ = ["SavedSearch", "search_saved"]


class SavedSearch:
    """The saved ANN index of an index directory, searched with numpy and faiss only (read-only)."""

    def __init__(self, directory: Path, meta: dict, codes: np.ndarray, ids, sources, subs: Dict[int, SubIndex], faiss,
                 verify: str = "cached"):
        self.directory, self.meta, self.faiss = Path(directory), meta, faiss
        self.dim, self.modality_names = int(meta["dim"]), list(meta["modality_names"])
        self._codes, self._ids, self._sources, self._subs = codes, ids, sources, subs

        def check_embeddings() -> int:  # on the first re-scoring only: a flat index never reads the rows
            verify_listed(self.directory, meta, EMB_FILE, verify)
            return embeddings_layout(self.directory, meta)

        self.rows = RowReader(self.directory / EMB_FILE, meta["count"], self.dim, 0, check=check_embeddings)

    @classmethod
    def open(cls, directory, verify: str = "cached") -> Optional["SavedSearch"]:
        """The directory's saved ANN index, verified; None when it has none (or faiss is missing)."""
        directory = Path(directory)
        meta = read_meta(directory)
        if meta["format_version"] != FORMAT_VERSION or not (meta.get("ann") or {}).get("factory"):
            return None
        try:
            faiss = require_faiss()
        except ImportError:
            return None
        codes, ids, sources = read_rows(directory, meta, verify)
        _, subs = load_ann(directory, meta, codes, list(meta["modality_names"]), verify, read_only=True)
        return cls(directory, meta, codes, ids, sources, subs, faiss, verify)

    def __len__(self) -> int:
        return int(self.meta["count"])

    def check_filter(self, modality: ModalityFilter) -> None:
        """Raise ``InputError`` (listing the modalities held) for a filter naming one the index lacks."""
        wanted_codes(self.modality_names, modality)

    def _row_info(self, row: int) -> tuple:
        return self._ids[row], self.modality_names[int(self._codes[row])], self._sources[row]

    def search(self, queries, k: int = 10, modality: ModalityFilter = None, nprobe: Optional[int] = None,
               ef_search: Optional[int] = None, rerank: Optional[int] = None) -> List[List[SearchResult]]:
        """Ranked results per query row, as ``EmbeddingIndex.search(..., backend="faiss")`` gives them."""
        check_search_args(k, nprobe, ef_search, rerank)
        q = unit_queries(queries, self.dim)
        wanted = wanted_codes(self.modality_names, modality)
        options = {key: value for key, value in (("nprobe", nprobe), ("ef_search", ef_search), ("rerank", rerank))
                   if value is not None}
        scores, rows = search_subs(self.faiss, self._subs, q, k, wanted, self.rows, options)
        return to_results(scores, rows, self._row_info)

    def search_terms(self, terms: Sequence[QueryTerm], k: int = 10, modality: ModalityFilter = None,
                     **options) -> List[SearchResult]:
        """``terms.search_terms`` for terms that are all precomputed vectors."""
        self.check_filter(modality)
        vec = vector_terms_query(terms)
        if vec.size != self.dim:
            raise InputError(f"query has dimension {vec.size} but the index has {self.dim}", source=str(self.directory))
        return self.search(vec, k=k, modality=modality, **options)[0]

    def close(self) -> None:
        self.rows.close()


def search_saved(directory, terms: Sequence[QueryTerm], k: int = 10, modality: ModalityFilter = None,
                 backend: str = "auto", **options) -> Optional[List[SearchResult]]:
    """``search_terms(directory, terms, ...)`` without torch, or None where that cannot be done.

    It can when every term is a precomputed vector, the backend is "auto" or "faiss" and the
    directory has a saved ANN index; otherwise the caller searches through ``EmbeddingIndex``.
    """
    if not terms or any(t.kind != "vector" for t in terms) or backend not in ("auto", "faiss"):
        return None
    saved = SavedSearch.open(directory)
    if saved is None:
        return None
    try:
        return saved.search_terms(terms, k=k, modality=modality, **options)
    finally:
        saved.close()
