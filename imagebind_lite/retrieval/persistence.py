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

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from .columns import StringColumn, encode_strings
from .errors import IndexFileError
from .integrity import verify_file
from .tensor_files import StreamingTensorWriter, map_tensors, write_tensors

log = logging.getLogger(__name__)

FORMAT_NAME = "imagebind-lite-index"
FORMAT_VERSION = 2
EMB_FILE = "embeddings.safetensors"
ROWS_FILE = "rows.safetensors"
META_FILE = "meta.json"
TENSOR_KEY = "embeddings"
ROW_TENSORS = ("modality_codes", "id_offsets", "id_bytes", "source_offsets", "source_bytes")


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


def meta_checksum(meta: Dict[str, Any]) -> str:
    body = {k: v for k, v in meta.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


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


def read_meta(directory: Path) -> Dict[str, Any]:
    path = directory / META_FILE
    if not path.is_file():
        raise IndexFileError(f"not an index directory: {META_FILE} is missing", source=str(path))
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexFileError(f"index metadata is truncated or not JSON ({exc})", source=str(path)) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise IndexFileError("not an imagebind-lite index metadata file", source=str(path))
    version = meta.get("format_version")
    if version not in (1, FORMAT_VERSION):
        raise IndexFileError(f"index format version {version!r} is not supported (this build reads versions "
                             f"1 and {FORMAT_VERSION})", source=str(path))
    if version == FORMAT_VERSION and meta.get("checksum") != meta_checksum(meta):
        raise IndexFileError("index metadata does not match its checksum: it was edited after saving",
                             source=str(path))
    for key, kind in (("dim", int), ("count", int)):
        if not isinstance(meta.get(key), kind) or meta[key] < 0:
            raise IndexFileError(f"index metadata field {key!r} is missing or malformed", source=str(path))
    if meta.get("dtype") != "float32":
        raise IndexFileError(f"unsupported index dtype {meta.get('dtype')!r}", source=str(path))
    return meta


def _check_rows(directory: Path, meta: Dict[str, Any], tensors: Dict[str, torch.Tensor]) -> None:
    n, path = meta["count"], directory / ROWS_FILE
    codes = tensors["modality_codes"]
    if codes.shape != (n,) or tensors["id_offsets"].shape != (n + 1,) or tensors["source_offsets"].shape != (n + 1,):
        raise IndexFileError(f"row metadata does not hold {n} rows", source=str(path))
    if n and (int(codes.min()) < 0 or int(codes.max()) >= len(meta["modality_names"])):
        raise IndexFileError("row metadata names a modality the index does not list", source=str(path))


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
    files = meta.get("files") or {}
    for name in (EMB_FILE, ROWS_FILE):
        if not isinstance(files.get(name), str):
            raise IndexFileError(f"index metadata lists no checksum for {name}", source=str(directory / META_FILE))
        verify_file(directory / name, files[name], f"index file {name}", verify)
    emb = map_tensors(directory / EMB_FILE, [TENSOR_KEY])[TENSOR_KEY]
    if tuple(emb.shape) != (meta["count"], meta["dim"]) or emb.dtype != torch.float32:
        raise IndexFileError(f"index embeddings have shape {tuple(emb.shape)} {emb.dtype}, metadata says "
                             f"({meta['count']}, {meta['dim']}) float32", source=str(directory / EMB_FILE))
    rows = map_tensors(directory / ROWS_FILE, ROW_TENSORS)
    _check_rows(directory, meta, rows)
    ids = StringColumn(rows["id_bytes"], rows["id_offsets"])
    sources = StringColumn(rows["source_bytes"], rows["source_offsets"])
    for column in (ids, sources):
        problem = column.check()
        if problem:
            raise IndexFileError(problem, source=str(directory / ROWS_FILE))
    return StoredIndex(directory, meta, emb, rows["modality_codes"], list(meta["modality_names"]), ids, sources)
