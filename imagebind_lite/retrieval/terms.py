"""A query made of terms (text, files of any modality, precomputed vectors) and its search.

Terms are combined by embedding arithmetic (``query_vector``): ImageBind's "image + sound"
queries, with a weight per term so that one term can dominate. Precomputed vectors need
nothing; text and file terms are embedded by an ``embed_fn(terms) -> [Tensor[D]]`` that the
caller supplies (``TermEmbedder`` does it with a saved model), so searching an index by
vectors alone never loads a model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

import torch

from imagebind_lite.errors import InputError

from .index import EmbeddingIndex
from .query import query_vector
from .results import SearchResult
from .vectors import QueryTerm, read_vector

__all__ = ["EmbedFn", "QueryTerm", "load_vector", "query_from_terms", "search_terms"]

EmbedFn = Callable[[Sequence[QueryTerm]], List[torch.Tensor]]


def load_vector(path) -> torch.Tensor:
    """A query embedding from ``.npy`` (no pickle) or ``.safetensors`` (its single tensor)."""
    return torch.from_numpy(read_vector(path))


def query_from_terms(terms: Sequence[QueryTerm], embed_fn: Optional[EmbedFn] = None) -> torch.Tensor:
    """Embed the terms (vectors directly, the rest via ``embed_fn``) and combine them."""
    if not terms:
        raise InputError("query needs at least one --text, --file or --vector term")
    need_model = [t for t in terms if t.kind != "vector"]
    if need_model and embed_fn is None:
        raise InputError("text and file query terms need a model (pass --model)")
    embedded = iter(embed_fn(need_model) if need_model else [])
    vectors = [load_vector(t.value) if t.kind == "vector" else next(embedded) for t in terms]
    return query_vector([(v, t.weight) for v, t in zip(vectors, terms)])


def search_terms(index: Union[EmbeddingIndex, str, Path], terms: Sequence[QueryTerm],
                 embed_fn: Optional[EmbedFn] = None, k: int = 10, modality=None,
                 backend: str = "auto", **options) -> List[SearchResult]:
    """The ``k`` nearest rows of ``index`` (an index or its directory) to the combined terms.

    ``options``: ``nprobe`` / ``ef_search`` / ``rerank`` for the ANN backend. A directory is
    loaded read-only (memory-mapped), and the filter is checked before any model runs.
    """
    source = None if isinstance(index, EmbeddingIndex) else str(index)
    if source is not None:
        index = EmbeddingIndex.load(index, read_only=True)
    index.check_filter(modality)  # a misspelt filter fails before any model runs
    vec = query_from_terms(terms, embed_fn)
    if vec.numel() != index.dim:
        raise InputError(f"query has dimension {vec.numel()} but the index has {index.dim}", source=source)
    return index.search(vec, k=k, modality=modality, backend=backend, **options)[0]
