"""Search arguments and results shared by every search path, in numpy only.

``EmbeddingIndex.search`` and the torch-free search of a saved index (``saved_search.py``) check
their arguments, normalise queries and turn ``(scores, rows)`` into ``SearchResult`` lists with
these same functions, so both give the same errors and bit-identical results.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Union

import numpy as np

from imagebind_lite.errors import InputError

ModalityFilter = Union[None, str, Sequence[str]]
BACKENDS = ("auto", "exact", "faiss")


@dataclass(frozen=True)
class SearchResult:
    id: str          # the row's id, unique in the index
    modality: str    # modality of the indexed item
    source: str      # file it was embedded from ("" when unknown)
    score: float     # cosine similarity to the query
    rank: int        # 1-based position in the result list


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise InputError(f"unknown search backend {backend!r}; choose one of {BACKENDS}")


def check_search_args(k, nprobe=None, ef_search=None, rerank=None) -> None:
    if not isinstance(k, int) or k <= 0:
        raise InputError(f"k must be a positive integer, got {k!r}")
    for name, value in (("nprobe", nprobe), ("ef_search", ef_search), ("rerank", rerank)):
        if value is not None and (not isinstance(value, int) or value < (0 if name == "rerank" else 1)):
            raise InputError(f"{name} must be a positive integer, got {value!r}")


def wanted_codes(names: Sequence[str], modality: ModalityFilter) -> Optional[List[int]]:
    """Codes (positions in ``names``) of the filtered modalities; None without a filter."""
    if modality is None:
        return None
    wanted = [modality] if isinstance(modality, str) else list(modality)
    unknown = [name for name in wanted if name not in names]
    if unknown:
        held = ", ".join(names) or "no rows"
        raise InputError(f"unknown modality filter {unknown[0]!r}: this index holds {held}", modality=unknown[0])
    return [list(names).index(name) for name in wanted]


def unit_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    """``[Q, dim]`` float32 C-contiguous rows of unit length; ``InputError`` for a bad shape or a zero row."""
    q = np.asarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != dim:
        raise InputError(f"queries must have shape [N, {dim}], got {list(q.shape)}")
    if not np.isfinite(q).all():
        raise InputError("queries contain NaN or infinite values")
    norms = np.linalg.norm(q, axis=1, keepdims=True)
    zero = np.flatnonzero(norms[:, 0] == 0)
    if len(zero):
        raise InputError(f"queries row {int(zero[0])} has zero norm and cannot be normalised")
    return np.ascontiguousarray(q / norms, dtype=np.float32)


def to_results(scores: np.ndarray, rows: np.ndarray, row_info: Callable[[int], tuple]) -> List[List[SearchResult]]:
    """Ranked results per query row; ``row_info(row) -> (id, modality, source)``; rows < 0 are padding."""
    out: List[List[SearchResult]] = []
    for s_row, r_row in zip(np.asarray(scores).tolist(), np.asarray(rows).tolist()):
        hits = [(s, r) for s, r in zip(s_row, r_row) if r >= 0]
        out.append([SearchResult(*row_info(r), s, rank + 1) for rank, (s, r) in enumerate(hits)])
    return out
