"""Between an ``EmbeddingIndex`` in memory and its directory: the save and load glue.

``persistence.py`` knows the files, ``ann_files.py`` the faiss indexes, ``storage.py`` the
rows in memory; this module moves an index between them, in blocks, so saving a
million-row index never builds a second full copy of its embeddings.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np

from imagebind_lite.atomic import atomic_directory
from imagebind_lite.errors import InputError

from .ann import FaissBackend
from .ann_files import load_ann, save_ann
from .index_files import EMB_FILE, FORMAT_VERSION, embeddings_layout
from .persistence import IndexWriter, load_index
from .row_reader import RowReader
from .storage import RowStore

log = logging.getLogger(__name__)
SAVE_BLOCK = 65536  # rows per write: bounds the temporary copies of ids and sources


def write_rows(writer: IndexWriter, store: RowStore, start: int = 0, stop: Optional[int] = None) -> None:
    """Stream store rows ``[start, stop)`` into ``writer`` block by block."""
    emb, codes, n = store.snapshot()
    stop = n if stop is None else stop
    remap = np.array([writer.code(name) for name in store.modality_names], dtype=np.int16)
    for lo in range(start, stop, SAVE_BLOCK):
        hi = min(lo + SAVE_BLOCK, stop)
        block_codes = remap[codes[lo:hi].numpy()] if len(remap) else np.empty(0, np.int16)
        writer.add_coded(emb[lo:hi], block_codes, store.ids[lo:hi], store.sources[lo:hi])


def check_replaceable(directory: Path) -> None:
    """Saving replaces ``directory`` whole: refuse when it holds something other than an index."""
    if directory.is_dir() and not (directory / "meta.json").is_file() and any(directory.iterdir()):
        raise InputError("refusing to replace a non-empty directory that is not an index (no meta.json); "
                         "choose a new or empty directory", source=str(directory))


def save_index(directory, store: RowStore, backend: Optional[FaissBackend]) -> Path:
    """Write ``store`` (and ``backend``'s sub-indexes) as one index directory, atomically."""
    directory = Path(directory)
    check_replaceable(directory)
    with atomic_directory(directory) as tmp:
        writer = IndexWriter(tmp, store.dim, len(store), store.modality_names)
        write_rows(writer, store)
        writer.close_rows()
        ann = save_ann(tmp, backend, store.modality_names) if backend is not None and backend.subs else None
        writer.finish(ann)
    return directory


def load_into(index, directory, dim: Optional[int], verify: str, read_only: bool):
    """Fill a fresh ``EmbeddingIndex`` from ``directory``; returns it."""
    stored = load_index(directory, expected_dim=dim, verify=verify)
    index._store = RowStore.from_stored(stored)
    try:
        loaded = load_ann(directory, stored.meta, stored.codes.numpy(), stored.modality_names, verify, read_only)
    except ImportError:
        log.warning("%s has a saved ANN index but faiss is not installed: searching exactly", directory)
        loaded = None
    if loaded is not None:
        config, subs = loaded
        asked = index.ann_config
        index.ann_config = replace(config, nprobe=asked.nprobe, ef_search=asked.ef_search, rerank=asked.rerank)
        backend = FaissBackend(index.dim, index.ann_config)
        backend.adopt(subs, len(index._store))
        if read_only and stored.meta.get("format_version") == FORMAT_VERSION:
            # a searching process: re-scoring reads candidate rows, the memory map stays unread
            backend.row_reader = RowReader(Path(directory) / EMB_FILE, stored.meta["count"], stored.meta["dim"],
                                           embeddings_layout(Path(directory), stored.meta))
        index._faiss = backend
    index.read_only = read_only
    return index
