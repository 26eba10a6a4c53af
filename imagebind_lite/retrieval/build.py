"""Build (or extend) a saved index from the embedding shards that ``embed`` writes.

Each rank of a distributed embedding run writes its own shards, so no process ever holds
the whole collection until this one merge; ``append`` adds a new batch of shards to an index
already on disk instead of re-embedding what it holds.
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Dict

from .index import EmbeddingIndex
from .shards import read_shards

log = logging.getLogger(__name__)


def build_index_from_shards(shard_dir, out_dir, append: bool = False) -> EmbeddingIndex:
    """Read every shard of ``shard_dir`` into an index (optionally the one at ``out_dir``) and save it."""
    out_dir = Path(out_dir)
    index = EmbeddingIndex.load(out_dir) if append and out_dir.exists() else None
    for shard in read_shards(shard_dir):
        if index is None:
            index = EmbeddingIndex(shard.embeddings.shape[1])
        index.add(shard.embeddings, shard.ids, shard.modalities, shard.sources)
        log.info("added %d rows from %s", len(shard.ids), shard.path)
    index.save(out_dir)
    return index


def modality_counts(index: EmbeddingIndex) -> Dict[str, int]:
    """Rows per modality, in order of first appearance."""
    return dict(Counter(index.modalities))
