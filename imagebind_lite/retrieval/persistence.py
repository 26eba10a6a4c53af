"""The index directory: ``meta.json`` + ``embeddings.safetensors`` + ``rows.safetensors`` (+ ANN files).

- ``embeddings.safetensors``: the L2-normalised float32 rows ``[N, D]``, memory-mapped on load;
- ``rows.safetensors``: per row its modality code, id and source (UTF-8 blobs + offsets);
- ``ann-<code>.faiss``: optional approximate-search index of one modality (``ann_files.py``);
- ``meta.json``: format, dimension, row count, modality names, the SHA-256 of every other file,
  the ANN description, and a checksum of its own content, so editing any file (an id, a
  dimension, an ANN parameter) or swapping one in from another index is refused at load.

Directories are written whole and atomically (a temporary directory renamed into place) and
read without pickle. Version 1 directories (ids inline in meta.json, only the embeddings
checksummed) still load, with a warning that their metadata is unverified.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from .columns import StringColumn, encode_strings
from .errors import IndexFileError
from .index_files import (EMB_FILE, FORMAT_NAME, FORMAT_VERSION, META_FILE, ROW_TENSORS, ROWS_FILE, TENSOR_KEY,
                          embeddings_layout, meta_checksum, read_meta, read_rows, verify_listed)
from .tensor_files import StreamingTensorWriter, map_arrays, write_tensors

log = logging.getLogger(__name__)

__all__ = ["EMB_FILE", "FORMAT_NAME", "FORMAT_VERSION", "META_FILE", "ROWS_FILE", "ROW_TENSORS", "TENSOR_KEY",
           "IndexWriter", "StoredIndex", "load_index", "map_tensors", "meta_checksum", "read_meta"]


@dataclass
class StoredIndex:
    """A loaded (verified) index directory; tensors are memory-mapped."""

    directory: Path
    meta: Dict[str, Any]
    embeddings: torch.Tensor      # [N, D] float32
    codes: torch.Tensor           # [N] int16 index into modality_names
    modality_names: List[str]
    ids: StringColumn
    sources: StringColumn


class IndexWriter:
    """Writes one index directory's files into ``directory`` (a fresh, temporary one), rows streamed."""

    def __init__(self, directory, dim: int, count: int, modality_names: Sequence[str] = ()):
        self.directory, self.dim, self.count = Path(directory), int(dim), int(count)
        self._emb = StreamingTensorWriter(self.directory / EMB_FILE, [(TENSOR_KEY, np.float32, (count, dim))])
        self._codes = np.empty(count, dtype=np.int16)
        self._ids: List[str] = []
        self._sources: List[str] = []
        self.modality_names: List[str] = []
        self._code_of: Dict[str, int] = {}
        for name in modality_names:
            self.code(name)
        self.files: Dict[str, str] = {}

    @property
    def written(self) -> int:
        return len(self._ids)

    def code(self, modality: str) -> int:
        if modality not in self._code_of:
            self._code_of[modality] = len(self.modality_names)
            self.modality_names.append(modality)
        return self._code_of[modality]

    def add(self, emb: torch.Tensor, ids: Sequence[str], modalities: Sequence[str], sources: Sequence[str]) -> None:
        """Append normalised float32 rows with their metadata (one modality name per row)."""
        self.add_coded(emb, np.array([self.code(m) for m in modalities], dtype=np.int16), ids, sources)

    def add_coded(self, emb: torch.Tensor, codes: np.ndarray, ids: Sequence[str], sources: Sequence[str]) -> None:
        """Append rows whose modalities are given as codes into ``modality_names``."""
        n = emb.shape[0]
        if self.written + n > self.count:
            raise RuntimeError(f"more rows than the {self.count} declared")
        if not (len(codes) == len(ids) == len(sources) == n):
            raise RuntimeError(f"{n} rows but {len(codes)} codes, {len(ids)} ids, {len(sources)} sources")
        self._emb.write(TENSOR_KEY, emb.detach().to("cpu", torch.float32))
        self._codes[self.written:self.written + n] = codes
        self._ids.extend(ids)
        self._sources.extend(sources)

    def codes(self) -> np.ndarray:
        """Modality code of every row written so far."""
        return self._codes[: self.written]

    def close_rows(self) -> Path:
        """Finish the embedding and row files; returns the embeddings' path (for ANN training)."""
        if self.written != self.count:
            raise RuntimeError(f"{self.written} rows written, {self.count} declared")
        self.files[EMB_FILE] = self._emb.close()
        id_bytes, id_offsets = encode_strings(self._ids)
        source_bytes, source_offsets = encode_strings(self._sources)
        self.files[ROWS_FILE] = write_tensors(self.directory / ROWS_FILE, {
            "modality_codes": self._codes, "id_offsets": id_offsets, "id_bytes": id_bytes,
            "source_offsets": source_offsets, "source_bytes": source_bytes})
        return self.directory / EMB_FILE

    def finish(self, ann: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Write ``meta.json`` (after every other file); returns it."""
        meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "dim": self.dim, "count": self.count,
                "dtype": "float32", "modality_names": self.modality_names, "files": dict(self.files), "ann": ann}
        if ann:
            meta["files"].update({sub["file"]: sub["sha256"] for sub in ann["modalities"].values()})
        meta["checksum"] = meta_checksum(meta)
        (self.directory / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        return meta


def map_tensors(path, names: Sequence[str]) -> Dict[str, torch.Tensor]:
    """``tensor_files.map_arrays`` as tensors (the same memory maps, not copies)."""
    return {name: torch.from_numpy(array) for name, array in map_arrays(path, names).items()}


def load_index(directory, expected_dim: Optional[int] = None, verify: str = "cached") -> StoredIndex:
    """Read and verify an index directory (embeddings memory-mapped)."""
    directory = Path(directory)
    meta = read_meta(directory)
    if expected_dim is not None and meta["dim"] != expected_dim:
        raise IndexFileError(f"index has dimension {meta['dim']}, expected {expected_dim}",
                             source=str(directory / META_FILE))
    if meta["format_version"] == 1:
        from .persistence_v1 import load_v1

        return load_v1(directory, meta)
    verify_listed(directory, meta, EMB_FILE, verify)
    codes, ids, sources = read_rows(directory, meta, verify)
    offset = embeddings_layout(directory, meta)
    shape = (meta["count"], meta["dim"])
    emb = torch.from_numpy(np.memmap(directory / EMB_FILE, dtype=np.float32, mode="c", offset=offset, shape=shape)
                           if meta["count"] else np.empty(shape, np.float32))
    return StoredIndex(directory, meta, emb, torch.from_numpy(codes), list(meta["modality_names"]), ids, sources)
