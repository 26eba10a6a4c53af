"""Embedding index and cross-modal queries (exact torch search, faiss ANN, persistence).

Public surface: ``EmbeddingIndex`` (``build_ann("IVF1024,Flat")`` for a saved, calibrated faiss
index), ``SearchResult``, ``AnnConfig``, ``query_vector``,
``write_shard`` / ``read_shards`` (embedding shard format), ``build_index_from_shards``,
``QueryTerm`` / ``search_terms`` (a query of text, file and vector terms) with ``TermEmbedder``
(embeds those terms with a saved model), ``SavedSearch`` / ``search_saved`` (vector queries
against a saved ANN index without torch), ``IndexFileError``.
"""
from imagebind_lite.lazy import lazy_attributes

# Names are imported on first use: a process that searches a saved ANN index by vector imports
# only numpy and faiss (``saved_search.py``), and importing this package must not pull torch in.
_HOMES = {
    "AnnConfig": "ann_config", "build_index_from_shards": "build", "modality_counts": "build",
    "IndexFileError": "errors", "EmbeddingIndex": "index", "SearchResult": "results", "query_vector": "query",
    "Shard": "shards", "read_shard": "shards", "read_shards": "shards", "write_shard": "shards",
    "TermEmbedder": "term_embedder", "QueryTerm": "vectors", "load_vector": "terms", "query_from_terms": "terms",
    "search_terms": "terms", "SavedSearch": "saved_search", "search_saved": "saved_search",
}

__all__ = ["AnnConfig", "EmbeddingIndex", "IndexFileError", "QueryTerm", "SavedSearch", "SearchResult", "Shard",
           "TermEmbedder", "build_index_from_shards", "load_vector", "modality_counts", "query_from_terms",
           "query_vector", "read_shard", "read_shards", "search_saved", "search_terms", "write_shard"]


__getattr__, __dir__ = lazy_attributes(__name__, _HOMES, globals())
