"""Embedding index and cross-modal queries (exact torch search, faiss ANN, persistence).

Public surface: ``EmbeddingIndex`` (``build_ann("IVF1024,Flat")`` for a saved, calibrated faiss
index), ``SearchResult``, ``AnnConfig``, ``query_vector``,
``write_shard`` / ``read_shards`` (embedding shard format), ``build_index_from_shards``,
``QueryTerm`` / ``search_terms`` (a query of text, file and vector terms) with ``TermEmbedder``
(embeds those terms with a saved model), ``IndexFileError``.
"""
from .ann import AnnConfig
from .build import build_index_from_shards, modality_counts
from .errors import IndexFileError
from .index import EmbeddingIndex, SearchResult
from .query import query_vector
from .shards import Shard, read_shard, read_shards, write_shard
from .term_embedder import TermEmbedder
from .terms import QueryTerm, load_vector, query_from_terms, search_terms

__all__ = ["AnnConfig", "EmbeddingIndex", "IndexFileError", "QueryTerm", "SearchResult", "Shard", "TermEmbedder",
           "build_index_from_shards", "load_vector", "modality_counts", "query_from_terms", "query_vector",
           "read_shard", "read_shards", "search_terms", "write_shard"]
