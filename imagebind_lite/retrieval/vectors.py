"""Query terms and embedding arithmetic on vectors, in numpy only.

ImageBind's "image + sound" queries (Girdhar et al. 2023, sec. 5.2) add the normalised
embeddings of several inputs; weights let one term dominate. ``query.query_vector`` and
``terms.load_vector`` are the torch faces of these functions; the search of a saved index by
precomputed vectors (``saved_search.py``) uses them directly and never imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np

from imagebind_lite.errors import InputError


@dataclass
class QueryTerm:
    kind: str            # "text", "file" or "vector"
    value: str           # the text itself, or a path
    weight: float = 1.0  # coefficient in the weighted sum of the query


def weighted_sum(weighted: Sequence[Tuple[np.ndarray, float]]) -> np.ndarray:
    """``normalise(sum_i w_i * normalise(e_i))`` for ``[(embedding [D], weight), ...]``, float32."""
    if not weighted:
        raise InputError("a query needs at least one (embedding, weight) term")
    total = None
    for i, (emb, weight) in enumerate(weighted):
        e = np.asarray(emb, dtype=np.float32).reshape(-1)
        norm = np.linalg.norm(e)
        if not np.isfinite(e).all() or norm == 0:
            raise InputError(f"query term {i} is zero or not finite")
        if total is not None and e.shape != total.shape:
            raise InputError(f"query term {i} has dimension {e.size}, expected {total.size}")
        term = np.float32(weight) * e / norm
        total = term if total is None else total + term
    norm = np.linalg.norm(total)
    if norm == 0:
        raise InputError("the weighted query terms cancel out to a zero vector")
    return (total / norm).astype(np.float32)


def read_vector(path) -> np.ndarray:
    """A query embedding ``[D]`` float32 from ``.npy`` (no pickle) or ``.safetensors`` (its single tensor)."""
    from safetensors.numpy import load_file  # only vector terms stored as safetensors need it

    path = Path(path)
    try:
        if path.suffix == ".npy":
            vec = np.load(path, allow_pickle=False)
        else:
            arrays = load_file(str(path))
            vec = arrays.get("embeddings", next(iter(arrays.values())))
    except Exception as exc:  # numpy/safetensors raise assorted types; one clear message
        raise InputError(f"cannot read query vector ({exc})", source=str(path)) from exc
    if vec.ndim == 2 and vec.shape[0] == 1:
        vec = vec[0]
    if vec.ndim != 1:
        raise InputError(f"a query vector must be [D], got {list(vec.shape)}", source=str(path))
    return vec.astype(np.float32)


def vector_terms_query(terms: Sequence[QueryTerm]) -> np.ndarray:
    """The combined query of terms that are all precomputed vectors."""
    if not terms:
        raise InputError("query needs at least one --text, --file or --vector term")
    vectors: List[Tuple[np.ndarray, float]] = [(read_vector(t.value), t.weight) for t in terms]
    return weighted_sum(vectors)
