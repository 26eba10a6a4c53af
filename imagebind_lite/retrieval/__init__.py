"""Embedding index and cross-modal queries (exact torch search, faiss ANN, persistence).

Public surface: ``EmbeddingIndex``, ``SearchResult``, ``AnnConfig``, ``query_vector``,
``write_shard`` / ``read_shards`` (embedding shard format), ``IndexFileError``.
"""
from .ann import AnnConfig
from .errors import IndexFileError
from .index import EmbeddingIndex, SearchResult
from .query import query_vector
from .shards import Shard, read_shard, read_shards, write_shard

__all__ = ["AnnConfig", "EmbeddingIndex", "IndexFileError", "SearchResult", "Shard", "query_vector",
           "read_shard", "read_shards", "write_shard"]
