"""Build (or extend) a saved index from the embedding shards that ``embed`` writes.

Shards are streamed: each is read, verified, normalised and written straight into the new
index's embedding file, so the build holds one shard in memory, never the collection (nor two
copies of it). With ``ann`` (a faiss factory string) the ANN index is then trained on a seeded
sample of the written file (memory-mapped), filled, calibrated and saved beside it.
``append`` adds shards to an index already on disk: its rows are copied first, and its saved
ANN index is extended with the new rows rather than retrained.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional, Set

import torch

from imagebind_lite.atomic import atomic_directory
from imagebind_lite.errors import InputError

from .ann import AnnConfig, FaissBackend
from .ann_files import save_ann
from .errors import IndexFileError
from .index import EmbeddingIndex
from .index_io import check_replaceable, write_rows
from .persistence import IndexWriter, map_tensors
from .shards import read_shard, read_sidecar, shard_paths

log = logging.getLogger(__name__)


def _progress(enabled: bool):
    def make(total: int, desc: str):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="row", unit_scale=True, disable=not enabled, leave=False)
    return make


def _scan(paths: List[Path], dim: Optional[int]) -> tuple:
    """``(total rows, dim)`` from the sidecars alone (no tensor is read)."""
    total = 0
    for path in paths:
        meta = read_sidecar(path)
        if dim is None:
            dim = meta["dim"]
        if meta["dim"] != dim:
            raise IndexFileError(f"shard has dimension {meta['dim']}, the others (or the index) {dim}",
                                 source=str(path))
        total += meta["count"]
    return total, dim


def _stream_shards(writer: IndexWriter, paths: List[Path], seen: Set[str], bar) -> None:
    for path in paths:
        shard = read_shard(path)
        for id_ in shard.ids:
            if id_ in seen:
                raise InputError(f"duplicate id {id_!r}: ids must be unique in an index", source=str(path))
            seen.add(id_)
        norms = torch.linalg.vector_norm(shard.embeddings, dim=1, keepdim=True)
        bad = torch.nonzero(norms.flatten() == 0).flatten()
        if len(bad) or not torch.isfinite(shard.embeddings).all():
            where = shard.ids[int(bad[0])] if len(bad) else "a row with NaN/inf"
            raise IndexFileError(f"shard row {where!r} has zero norm or non-finite values", source=str(path))
        writer.add(shard.embeddings / norms, shard.ids, shard.modalities, shard.sources)
        bar.update(len(shard.ids))


def _ann_backend(old: Optional[EmbeddingIndex], ann, dim: int) -> Optional[FaissBackend]:
    """The ANN backend to fill: the old index's (extended), a new one from ``ann``, or none."""
    config = AnnConfig(factory=ann) if isinstance(ann, str) else ann
    if old is not None and old.has_saved_ann:
        if config is not None and config.factory != old.ann_config.factory:
            raise InputError(f"the index already has a {old.ann_config.factory!r} ANN index; appending cannot "
                             f"change it to {config.factory!r} (build a new index without --append)")
        return old._faiss_backend()
    if config is None or config.factory is None:
        return None
    return FaissBackend(dim, config)


def build_index_from_shards(shard_dir, out_dir, append: bool = False, ann=None, progress: bool = False,
                            ) -> EmbeddingIndex:
    """Stream every shard of ``shard_dir`` into an index at ``out_dir`` (after its rows with ``append``).

    ``ann``: a faiss factory string or ``AnnConfig`` (with ``factory``) for a saved ANN index.
    """
    out_dir = Path(out_dir)
    check_replaceable(out_dir)
    old = EmbeddingIndex.load(out_dir) if append and (out_dir / "meta.json").exists() else None
    paths = shard_paths(shard_dir)
    new_rows, dim = _scan(paths, old.dim if old is not None else None)
    backend = _ann_backend(old, ann, dim)
    old_rows = len(old) if old is not None else 0
    make_bar = _progress(progress)
    with atomic_directory(out_dir) as tmp:
        writer = IndexWriter(tmp, dim, old_rows + new_rows, old.modality_names if old is not None else ())
        seen: Set[str] = set()
        if old is not None:
            write_rows(writer, old._store)
            seen.update(old.ids)
        bar = make_bar(new_rows, "reading shards")
        _stream_shards(writer, paths, seen, bar)
        bar.close()
        emb_path = writer.close_rows()
        ann_meta = None
        if backend is not None:
            emb = map_tensors(emb_path, ["embeddings"])["embeddings"]
            backend.progress = make_bar
            backend.build(emb, torch.from_numpy(writer.codes()), old_rows + new_rows)
            ann_meta = save_ann(tmp, backend, writer.modality_names)
        writer.finish(ann_meta)
    log.info("index %s: %d rows (%d new from %d shard(s))", out_dir, old_rows + new_rows, new_rows, len(paths))
    return EmbeddingIndex.load(out_dir, verify="none")


def modality_counts(index: EmbeddingIndex) -> Dict[str, int]:
    """Rows per modality, in order of first appearance."""
    return index.modality_counts()
