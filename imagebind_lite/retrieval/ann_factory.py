"""faiss indexes from index-factory strings: validation, training sample, ids, search parameters.

A spec is faiss's own index-factory string (``IVF1024,Flat``, ``IVF4096,PQ64``, ``HNSW32``,
``OPQ64,IVF4096,PQ64``...), always built for inner product: the index stores L2-normalised
rows, so inner product is cosine similarity. Every index carries the global row of each entry
as its faiss id (IVF stores ids natively; other kinds are wrapped in ``IndexIDMap``), so a
search answers rows directly and a saved index needs no separate row map.
A modality with too few rows to train the spec's quantisers (faiss wants about 39 training
points per centroid) is kept exact in a flat index instead: at that size exact search is as
fast and has no recall loss.
References: faiss wiki "The index factory" and "Guidelines to choose an index".
"""
from __future__ import annotations

import re
from typing import Optional

import numpy as np

from imagebind_lite.errors import InputError

from .row_reader import RowReader

FLAT_SPEC = "Flat"
POINTS_PER_CENTROID = 39      # below this faiss warns that k-means is under-trained
PQ_CENTROIDS = 256            # 8-bit product/scalar quantiser codes


def require_faiss():
    """Import faiss or explain how to get it (it is optional: exact search needs only torch)."""
    try:
        import faiss  # noqa: WPS433 (optional dependency, imported where needed)
    except ImportError as exc:
        raise ImportError(
            "approximate search needs faiss: `pip install faiss-cpu` "
            "(or search with backend='exact', which needs only torch)") from exc
    return faiss


def make_index(faiss, dim: int, spec: str):
    """An untrained faiss index for ``spec`` over inner product; ``InputError`` for a bad spec."""
    if not isinstance(spec, str) or not spec.strip():
        raise InputError("an ANN spec is a faiss index-factory string such as 'IVF1024,Flat' or 'HNSW32'")
    try:
        index = faiss.index_factory(int(dim), spec.strip(), faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:  # faiss reports bad strings and dimension clashes this way
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise InputError(f"faiss cannot build index {spec!r} for dimension {dim}: {reason} (examples: "
                         "'IVF1024,Flat', 'IVF4096,PQ64', 'HNSW32', 'OPQ64,IVF4096,PQ64'; PQ<m> needs m to "
                         "divide the dimension)") from exc
    # Polysemous training (a third of PQ training time) only serves Hamming-filtered search,
    # which nothing here turns on.
    for part in (ivf_of(faiss, index), faiss.downcast_index(index)):
        if part is not None and hasattr(part, "do_polysemous_training"):
            part.do_polysemous_training = False
    return index


def ivf_of(faiss, index):
    """The IVF index inside ``index`` (through pre-transforms and id maps), as its own class."""
    ivf = faiss.try_extract_index_ivf(index)
    return None if ivf is None else faiss.downcast_index(ivf)


def hnsw_of(faiss, index):
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index
    return inner if isinstance(inner, faiss.IndexHNSW) else None


def centroids_to_train(faiss, index, spec: str) -> int:
    """The largest k-means the spec runs (IVF lists, PQ/SQ codebooks), 0 when nothing is trained."""
    if index.is_trained:
        return 0
    ivf = ivf_of(faiss, index)
    lists = ivf.nlist if ivf is not None else 0
    quantised = bool(re.search(r"PQ|SQ|RQ|LSQ", spec.upper()))
    return max(lists, PQ_CENTROIDS if quantised else 1)


def min_rows(faiss, index, spec: str, flat_below: int) -> int:
    """Rows a modality needs before the spec is worth (and able to be) trained."""
    return max(flat_below, POINTS_PER_CENTROID * centroids_to_train(faiss, index, spec))


def with_ids(faiss, index):
    """``index`` able to ``add_with_ids`` (global rows as faiss ids)."""
    if ivf_of(faiss, index) is not None or isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        return index
    return faiss.IndexIDMap(index)


def is_lossy(faiss, index) -> bool:
    """True when stored vectors are compressed (PQ, SQ, ...): its scores are approximate."""
    ivf = ivf_of(faiss, index)
    if ivf is not None:
        return not isinstance(ivf, faiss.IndexIVFFlat)
    hnsw = hnsw_of(faiss, index)
    if hnsw is not None:
        return not isinstance(faiss.downcast_index(hnsw.storage), faiss.IndexFlat)
    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index
    return not isinstance(inner, faiss.IndexFlat)


def training_sample(emb, rows: np.ndarray, size: int, seed: int) -> np.ndarray:
    """A seeded sample of ``size`` of ``rows`` (global rows into ``emb``), in row order."""
    if len(rows) > size:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size, replace=False))
    return gather_rows(emb, rows)


def gather_rows(emb, rows: np.ndarray) -> np.ndarray:
    """float32 copy of ``rows`` of ``emb``: a ``RowReader`` (positioned reads), an array, or a tensor."""
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(emb, RowReader):
        return emb.take(rows)
    if isinstance(emb, np.ndarray):
        return np.ascontiguousarray(emb[rows], dtype=np.float32)
    import torch  # only an index held in memory (which has imported torch already) gets here

    return np.ascontiguousarray(emb[torch.from_numpy(rows)].numpy(), dtype=np.float32)


def search_parameters(faiss, index, nprobe: Optional[int], ef_search: Optional[int], k: int):
    """Per-call parameters: setting ``nprobe`` on a shared index would race between threads."""
    ivf = ivf_of(faiss, index)
    if ivf is not None and nprobe:
        return faiss.SearchParametersIVF(nprobe=int(min(nprobe, ivf.nlist)))
    if hnsw_of(faiss, index) is not None and ef_search:
        return faiss.SearchParametersHNSW(efSearch=int(max(ef_search, k)))
    return None
